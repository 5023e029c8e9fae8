//! `update`: the only place the dashboard's state changes. Keys become effects (database work
//! done elsewhere); effect results come back here as messages.
use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{
    page_size_for, Anchor, App, Confirm, DetailPane, SearchResult, Select, StatusKind, View,
};
use super::effects::Effect;
use crate::domain::OutboxId;
use crate::storage::{Control, Counts, OutboxRow, RelayInfo};

#[derive(Debug, Clone)]
pub struct StatusData {
    pub counts: Counts,
    pub control: Control,
    pub relays: Vec<RelayInfo>,
    pub oldest_due_pending: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PageData {
    pub rows: Vec<OutboxRow>,
    pub has_newer: bool,
    pub has_older: bool,
}

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// About once a second: refresh what is shown.
    Tick(DateTime<Utc>),
    Status(Result<StatusData, String>),
    Page {
        seq: u64,
        anchor: Anchor,
        select: Select,
        result: Result<PageData, String>,
    },
    Detail(OutboxId, Result<super::app::Detail, String>),
    /// An action finished; `ok` false when it changed nothing or failed.
    Acted {
        ok: bool,
        text: String,
    },
    Searched(String, Result<Vec<String>, String>),
}

impl Msg {
    /// A key press without modifiers, for tests and scripts.
    pub fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }
    pub fn char(c: char) -> Msg {
        Msg::key(KeyCode::Char(c))
    }
}

/// Every key, as the help overlay lists it.
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous view"),
    ("1 2 3 4", "Outbox, Search, Relays, Log"),
    ("↑ ↓ / k j", "move the selection (pages at the edges)"),
    ("PgUp / PgDn", "previous / next page"),
    ("g / G", "newest / oldest rows"),
    (
        "f / ← → h l",
        "filter: all, pending, sending, sent, failed, discarded",
    ),
    ("Enter", "detail: payload preview, attempts, last response"),
    ("r", "retry the selected row"),
    ("R", "retry every failed row (asks first)"),
    ("x", "discard the selected row (asks first)"),
    ("e", "resend the selected member (asks first)"),
    ("s", "sync now: make waiting rows due"),
    ("p", "pause (asks first) / resume delivery"),
    ("/", "search by ExtInfo1 or ExtInfo20"),
    ("?", "this help"),
    ("Esc", "close the detail, a dialog or this help"),
    ("q / Ctrl-C", "quit"),
];

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            on_key(app, key)
        }
        Msg::Resize(_, height) => {
            let size = page_size_for(height);
            if size == app.page_size {
                return Vec::new();
            }
            app.page_size = size;
            vec![reload(app)]
        }
        Msg::Tick(now) => {
            app.now = now;
            refresh(app)
        }
        Msg::Status(result) => {
            app.inflight.status = false;
            match result {
                Ok(s) => {
                    app.throughput.record(s.at, s.counts.sent);
                    app.counts = Some(s.counts);
                    app.control = Some(s.control);
                    app.relay_selected = app.relay_selected.min(s.relays.len().saturating_sub(1));
                    app.relays = Some(s.relays);
                    app.oldest_due_pending = s.oldest_due_pending;
                    app.db_error = None;
                }
                Err(e) => app.db_error = Some(e),
            }
            Vec::new()
        }
        Msg::Page {
            seq,
            anchor,
            select,
            result,
        } => {
            if seq != app.page_seq {
                return Vec::new();
            }
            app.inflight.page = false;
            match result {
                Ok(data) => apply_page(app, anchor, select, data),
                Err(e) => app.db_error = Some(e),
            }
            Vec::new()
        }
        Msg::Detail(id, result) => {
            app.inflight.detail = false;
            if let Some(pane) = app.detail.as_mut().filter(|p| p.id == id) {
                pane.data = Some(result);
            }
            Vec::new()
        }
        Msg::Acted { ok, text } => {
            app.set_status(
                if ok {
                    StatusKind::Ok
                } else {
                    StatusKind::Error
                },
                text,
            );
            let mut effects = vec![status_effect(app), reload(app)];
            effects.extend(detail_effect(app));
            effects
        }
        Msg::Searched(term, result) => {
            if matches!(&app.search.result, SearchResult::Running(t) if *t == term) {
                app.search.scroll = 0;
                app.search.result = match result {
                    Ok(lines) => SearchResult::Done { term, lines },
                    Err(error) => SearchResult::Failed { term, error },
                };
            }
            Vec::new()
        }
    }
}

fn apply_page(app: &mut App, anchor: Anchor, select: Select, data: PageData) {
    if data.rows.is_empty() && matches!(anchor, Anchor::Before(_) | Anchor::After(_)) {
        // Paged past the end (rows changed meanwhile): keep what is shown.
        if matches!(anchor, Anchor::Before(_)) {
            app.page.has_older = false;
        } else {
            app.page.has_newer = false;
        }
        return;
    }
    let len = data.rows.len();
    app.selected = match select {
        Select::First => 0,
        Select::Last => len.saturating_sub(1),
        Select::Keep(id, index) => id
            .and_then(|id| data.rows.iter().position(|r| r.id == id))
            .unwrap_or(index.min(len.saturating_sub(1))),
    };
    app.page.rows = data.rows;
    app.page.anchor = Some(anchor);
    app.page.has_newer = data.has_newer;
    app.page.has_older = data.has_older;
    app.page.loaded = true;
}

/// What the tick refreshes: counts and relays always, the page and the detail when shown,
/// each only when the previous request has answered.
pub fn refresh(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    if !app.inflight.status {
        effects.push(status_effect(app));
    }
    if app.view == View::Outbox && !app.inflight.page {
        effects.push(reload(app));
    }
    if !app.inflight.detail {
        effects.extend(detail_effect(app));
    }
    effects
}

fn status_effect(app: &mut App) -> Effect {
    app.inflight.status = true;
    Effect::LoadStatus
}

fn detail_effect(app: &mut App) -> Option<Effect> {
    let id = app.detail.as_ref()?.id;
    app.inflight.detail = true;
    Some(Effect::LoadDetail(id))
}

fn load_page(app: &mut App, anchor: Anchor, select: Select) -> Effect {
    app.page_seq += 1;
    app.inflight.page = true;
    Effect::LoadPage {
        seq: app.page_seq,
        state: app.filter.state(),
        anchor,
        limit: app.page_size,
        select,
    }
}

/// The shown page again, keeping the selected row; on the newest page with the top row
/// selected, the selection follows the head as new rows arrive.
fn reload(app: &mut App) -> Effect {
    let anchor = app.page.anchor.unwrap_or(Anchor::Newest);
    let select = if anchor == Anchor::Newest && app.selected == 0 {
        Select::First
    } else {
        Select::Keep(app.selected_row().map(|r| r.id), app.selected)
    };
    load_page(app, anchor, select)
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        app.should_quit = true;
        return Vec::new();
    }
    if let Some(confirm) = app.confirm.take() {
        return match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                app.set_status(StatusKind::Info, "working…");
                vec![confirm.action]
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                app.set_status(StatusKind::Info, "cancelled: nothing changed");
                Vec::new()
            }
            _ => {
                // Any other key leaves the question open: a stray key must not decide.
                app.confirm = Some(confirm);
                Vec::new()
            }
        };
    }
    if app.help {
        if matches!(
            key.code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
        ) {
            app.help = false;
        }
        return Vec::new();
    }
    if app.view == View::Search && app.search.editing {
        return search_input(app, key);
    }
    match key.code {
        KeyCode::Char('q') => {
            app.should_quit = true;
            return Vec::new();
        }
        KeyCode::Char('?') => {
            app.help = true;
            return Vec::new();
        }
        KeyCode::Tab => return switch_view(app, next_view(app.view, 1)),
        KeyCode::BackTab => return switch_view(app, next_view(app.view, 3)),
        KeyCode::Char(c @ '1'..='4') => {
            return switch_view(app, View::ALL[(c as u8 - b'1') as usize]);
        }
        KeyCode::Char('/') => {
            app.search.editing = true;
            return switch_view(app, View::Search);
        }
        _ => {}
    }
    match app.view {
        View::Outbox => outbox_key(app, key),
        View::Search => {
            match key.code {
                KeyCode::Char('i') | KeyCode::Enter => app.search.editing = true,
                KeyCode::Down | KeyCode::Char('j') => {
                    app.search.scroll = app.search.scroll.saturating_add(1)
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    app.search.scroll = app.search.scroll.saturating_sub(1)
                }
                KeyCode::PageDown => app.search.scroll = app.search.scroll.saturating_add(10),
                KeyCode::PageUp => app.search.scroll = app.search.scroll.saturating_sub(10),
                KeyCode::Char('g') => app.search.scroll = 0,
                _ => {}
            }
            Vec::new()
        }
        View::Relays => {
            let n = app.relays.as_ref().map_or(0, |r| r.len());
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    app.relay_selected = (app.relay_selected + 1).min(n.saturating_sub(1))
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    app.relay_selected = app.relay_selected.saturating_sub(1)
                }
                KeyCode::Char('g') | KeyCode::Home => app.relay_selected = 0,
                KeyCode::Char('G') | KeyCode::End => app.relay_selected = n.saturating_sub(1),
                _ => return actions(app, key),
            }
            Vec::new()
        }
        View::Log => actions(app, key),
    }
}

fn next_view(v: View, step: usize) -> View {
    View::ALL[(v.index() + step) % View::ALL.len()]
}

fn switch_view(app: &mut App, view: View) -> Vec<Effect> {
    let was = app.view;
    app.view = view;
    if view == View::Outbox && was != View::Outbox && !app.inflight.page {
        // The page is not refreshed while hidden.
        return vec![reload(app)];
    }
    Vec::new()
}

fn search_input(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => app.search.editing = false,
        KeyCode::Tab | KeyCode::BackTab => {
            app.search.editing = false;
            let step = if key.code == KeyCode::Tab { 1 } else { 3 };
            return switch_view(app, next_view(app.view, step));
        }
        KeyCode::Enter => {
            let term = app.search.input.trim().to_string();
            if term.is_empty() {
                app.set_status(
                    StatusKind::Error,
                    "type a subscription id (ExtInfo1) or a card number (ExtInfo20) first",
                );
                return Vec::new();
            }
            app.search.editing = false;
            app.search.result = SearchResult::Running(term.clone());
            return vec![Effect::Search(term)];
        }
        KeyCode::Backspace => {
            app.search.input.pop();
        }
        KeyCode::Char('u') if ctrl => app.search.input.clear(),
        KeyCode::Char(c) if !ctrl && app.search.input.chars().count() < 64 => {
            app.search.input.push(c)
        }
        _ => {}
    }
    Vec::new()
}

fn outbox_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if let Some(pane) = app.detail.as_mut() {
        match key.code {
            KeyCode::Esc | KeyCode::Enter => {
                app.detail = None;
                return Vec::new();
            }
            KeyCode::Down | KeyCode::Char('j') => {
                pane.scroll = pane.scroll.saturating_add(1);
                return Vec::new();
            }
            KeyCode::Up | KeyCode::Char('k') => {
                pane.scroll = pane.scroll.saturating_sub(1);
                return Vec::new();
            }
            KeyCode::PageDown => {
                pane.scroll = pane.scroll.saturating_add(10);
                return Vec::new();
            }
            KeyCode::PageUp => {
                pane.scroll = pane.scroll.saturating_sub(10);
                return Vec::new();
            }
            KeyCode::Char('g') | KeyCode::Home => {
                pane.scroll = 0;
                return Vec::new();
            }
            _ => return actions(app, key),
        }
    }
    let len = app.page.rows.len();
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => {
            if app.selected + 1 < len {
                app.selected += 1;
            } else if app.page.has_older {
                if let Some(last) = app.page.rows.last() {
                    let anchor = Anchor::Before(last.id);
                    return vec![load_page(app, anchor, Select::First)];
                }
            }
        }
        KeyCode::Up | KeyCode::Char('k') => {
            if app.selected > 0 {
                app.selected -= 1;
            } else if app.page.has_newer {
                if let Some(first) = app.page.rows.first() {
                    let anchor = Anchor::After(first.id);
                    return vec![load_page(app, anchor, Select::Last)];
                }
            }
        }
        KeyCode::PageDown | KeyCode::Char(' ') => match app.page.rows.last() {
            Some(last) if app.page.has_older => {
                let anchor = Anchor::Before(last.id);
                let select = Select::Keep(None, app.selected);
                return vec![load_page(app, anchor, select)];
            }
            _ => app.selected = len.saturating_sub(1),
        },
        KeyCode::PageUp => match app.page.rows.first() {
            Some(first) if app.page.has_newer => {
                let anchor = Anchor::After(first.id);
                let select = Select::Keep(None, app.selected);
                return vec![load_page(app, anchor, select)];
            }
            _ => app.selected = 0,
        },
        KeyCode::Char('g') | KeyCode::Home => {
            return vec![load_page(app, Anchor::Newest, Select::First)];
        }
        KeyCode::Char('G') | KeyCode::End => {
            return vec![load_page(app, Anchor::Oldest, Select::Last)];
        }
        KeyCode::Char('f') | KeyCode::Char('l') | KeyCode::Right => {
            app.filter = app.filter.next();
            return vec![load_page(app, Anchor::Newest, Select::First)];
        }
        KeyCode::Char('F') | KeyCode::Char('h') | KeyCode::Left => {
            app.filter = app.filter.prev();
            return vec![load_page(app, Anchor::Newest, Select::First)];
        }
        KeyCode::Enter => {
            if let Some(row) = app.selected_row() {
                let id = row.id;
                app.detail = Some(DetailPane {
                    id,
                    data: None,
                    scroll: 0,
                });
                return detail_effect(app).into_iter().collect();
            }
        }
        KeyCode::Esc => app.status = None,
        _ => return actions(app, key),
    }
    Vec::new()
}

/// The row an action applies to: the one in the detail pane, else the selected one.
fn target(app: &App) -> Option<OutboxRow> {
    if let Some(Some(Ok(d))) = app.detail.as_ref().map(|p| &p.data) {
        return Some(d.row.clone());
    }
    if app.view == View::Outbox {
        app.selected_row().cloned()
    } else {
        None
    }
}

fn ask(app: &mut App, question: String, action: Effect) -> Vec<Effect> {
    app.confirm = Some(Confirm { question, action });
    Vec::new()
}

fn actions(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let no_row = |app: &mut App| {
        app.set_status(StatusKind::Error, "select a row in the Outbox view first");
        Vec::new()
    };
    match key.code {
        KeyCode::Char('r') => {
            let Some(row) = target(app) else {
                return no_row(app);
            };
            if !row.state.can_retry() {
                app.set_status(
                    StatusKind::Error,
                    format!(
                        "row {} is {}: only failed, discarded or waiting rows can be retried",
                        row.id, row.state
                    ),
                );
                return Vec::new();
            }
            app.set_status(StatusKind::Info, format!("retrying row {}…", row.id));
            vec![Effect::Retry(row.id)]
        }
        KeyCode::Char('R') => {
            let failed = app.counts.map(|c| c.failed);
            let n = failed.map_or_else(|| "every".to_string(), |n| n.to_string());
            ask(
                app,
                format!("Queue {n} failed row(s) again, due now?"),
                Effect::RetryAllFailed,
            )
        }
        KeyCode::Char('x') => {
            let Some(row) = target(app) else {
                return no_row(app);
            };
            if !row.state.can_discard() {
                app.set_status(
                    StatusKind::Error,
                    format!(
                        "row {} is {}: only pending or failed rows can be discarded",
                        row.id, row.state
                    ),
                );
                return Vec::new();
            }
            ask(
                app,
                format!(
                    "Discard row {} (ExtInfo1 {}, person {})? It will not be sent.",
                    row.id, row.subscription_id, row.person_id
                ),
                Effect::Discard(row.id),
            )
        }
        KeyCode::Char('e') => {
            let Some(row) = target(app) else {
                return no_row(app);
            };
            ask(
                app,
                format!(
                    "Send the invitation to person {} of ExtInfo1 {} again? Digis may already have it: the member gets a second SMS.",
                    row.person_id, row.subscription_id
                ),
                Effect::Resend {
                    subscription: row.subscription_id,
                    person: row.person_id,
                },
            )
        }
        KeyCode::Char('s') => {
            app.set_status(StatusKind::Info, "requesting a sync…");
            vec![Effect::SyncNow]
        }
        KeyCode::Char('p') => {
            if app.control.as_ref().is_some_and(|c| c.paused) {
                app.set_status(StatusKind::Info, "resuming…");
                vec![Effect::Resume]
            } else {
                ask(
                    app,
                    "Pause delivery? Every relay on this database stops sending until resumed."
                        .to_string(),
                    Effect::Pause,
                )
            }
        }
        _ => Vec::new(),
    }
}
