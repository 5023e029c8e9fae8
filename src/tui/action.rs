//! Actions: what the operator asked for, whatever key asked (see `keymap.rs`), and what each
//! does to the dashboard's state. Database work is returned as effects, as in `update`.
use super::app::{
    log_rows, Anchor, App, Confirm, DetailPane, MembersPane, SearchResult, Select, StatusKind, View,
};
use super::effects::Effect;
use super::keymap::{Context, Mode};
use super::logbuf::LogScroll;
use super::update::{
    detail_effect, failures_effects, follow_selection, load_page, members_effect, reload,
    stats_effect,
};
use super::view::help_max_scroll;
use crate::domain::{FailureCause, OutboxState};
use crate::operator::Refusal;
use crate::storage::OutboxRow;

/// The longest search input: an e-mail address (`search::member::MAX_EMAIL_CHARS`), the
/// longest key the box takes.
const MAX_INPUT: usize = crate::search::member::MAX_EMAIL_CHARS;
/// Lines one PgUp / PgDn scrolls the detail pane, the search result and the help.
const SCROLL_PAGE: u16 = 10;

/// What the operator asks for. Movement means what the place makes of it: `MoveDown` moves
/// the Outbox selection, scrolls the detail pane, the search result or this help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    CloseHelp,
    NextView,
    PrevView,
    ShowView(View),
    /// Open the search box, from any view.
    Search,
    MoveUp,
    MoveDown,
    PageUp,
    PageDown,
    First,
    Last,
    NextFilter,
    PrevFilter,
    OpenDetail,
    CloseDetail,
    /// Scroll the detail beside the Outbox table (the arrows move the table's selection).
    DetailScrollUp,
    DetailScrollDown,
    /// Type into the Log view's filter box.
    EditLogFilter,
    /// Clear the Log view's text filter.
    ClearLogFilter,
    /// The next level filter of the Log view.
    NextLogLevel,
    ClearStatus,
    Retry,
    RetryAllFailed,
    Discard,
    Resend,
    SyncNow,
    TogglePause,
    /// Retry the selected (or open) failure group: counts first, then asks.
    RetryGroup,
    /// Back into the search box from its result.
    EditSearch,
    SubmitSearch,
    StopTyping,
    DeleteChar,
    ClearInput,
    /// A character typed into the search box or the log filter.
    Type(char),
    /// Answers the open question.
    Yes,
    No,
}

/// Carries out `action` where the dashboard is now ([`Context::of`]); returns the database
/// work it needs.
pub fn handle(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => app.should_quit = true,
        Action::Help => {
            app.help = true;
            app.help_scroll = 0;
        }
        Action::CloseHelp => app.help = false,
        Action::NextView => return switch_view(app, next_view(app.view, 1)),
        Action::PrevView => return switch_view(app, next_view(app.view, View::ALL.len() - 1)),
        Action::ShowView(view) => return switch_view(app, view),
        Action::Search => {
            app.search.editing = true;
            return switch_view(app, View::Search);
        }
        Action::MoveUp
        | Action::MoveDown
        | Action::PageUp
        | Action::PageDown
        | Action::First
        | Action::Last => return movement(app, action),
        Action::NextFilter => {
            app.filter = app.filter.next();
            return vec![load_page(app, Anchor::Newest, Select::First)];
        }
        Action::PrevFilter => {
            app.filter = app.filter.prev();
            return vec![load_page(app, Anchor::Newest, Select::First)];
        }
        Action::OpenDetail if app.view == View::Failures => return open_members(app),
        Action::OpenDetail => return open_detail(app),
        Action::CloseDetail if app.view == View::Failures => app.failures.members = None,
        Action::CloseDetail => app.detail = None,
        Action::DetailScrollUp | Action::DetailScrollDown => {
            if let Some(pane) = app.detail.as_mut() {
                pane.scroll = if action == Action::DetailScrollUp {
                    pane.scroll.saturating_sub(1)
                } else {
                    pane.scroll.saturating_add(1)
                };
            }
        }
        Action::EditLogFilter => app.log.editing = true,
        Action::ClearLogFilter => app.log.clear_filter(),
        Action::NextLogLevel => app.log.next_level(),
        Action::RetryGroup => return retry_group(app),
        Action::ClearStatus => app.status = None,
        Action::Retry => return retry(app),
        Action::RetryAllFailed => return retry_all_failed(app),
        Action::Discard => return discard(app),
        Action::Resend => return resend(app),
        Action::SyncNow => {
            app.set_status(StatusKind::Info, "requesting a sync…");
            return vec![Effect::SyncNow];
        }
        Action::TogglePause => return toggle_pause(app),
        Action::EditSearch => app.search.editing = true,
        Action::SubmitSearch => return submit_search(app),
        Action::StopTyping if app.view == View::Log => app.log.editing = false,
        Action::StopTyping => app.search.editing = false,
        Action::DeleteChar if app.view == View::Log => app.log.delete_char(),
        Action::DeleteChar => {
            app.search.input.pop();
        }
        Action::ClearInput if app.view == View::Log => {
            while !app.log.filter.is_empty() {
                app.log.delete_char();
            }
        }
        Action::ClearInput => app.search.input.clear(),
        Action::Type(c) if app.view == View::Log => app.log.type_char(c),
        Action::Type(c) => {
            if app.search.input.chars().count() < MAX_INPUT {
                app.search.input.push(c);
            }
        }
        Action::Yes => {
            if let Some(confirm) = app.confirm.take() {
                app.set_status(StatusKind::Info, "working…");
                return vec![confirm.action];
            }
        }
        Action::No => {
            if app.confirm.take().is_some() {
                app.set_status(StatusKind::Info, "cancelled: nothing changed");
            }
        }
    }
    Vec::new()
}

fn next_view(v: View, step: usize) -> View {
    View::ALL[(v.index() + step) % View::ALL.len()]
}

fn switch_view(app: &mut App, view: View) -> Vec<Effect> {
    let was = app.view;
    app.view = view;
    if view != View::Search {
        // The search box takes keys only while it is shown.
        app.search.editing = false;
    }
    if view != View::Log {
        app.log.editing = false;
    }
    if was == view {
        return Vec::new();
    }
    // Hidden views are not refreshed: read what is shown now.
    match view {
        View::Outbox if !app.inflight.page => vec![reload(app)],
        View::Failures => failures_effects(app),
        View::Stats => stats_effect(app).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Up, down, a page, the top or the end, for whatever takes the keys now.
fn movement(app: &mut App, action: Action) -> Vec<Effect> {
    let ctx = Context::of(app);
    match (ctx.mode, ctx.view) {
        (Mode::Help, _) => {
            let max = help_max_scroll(app.height);
            app.help_scroll = scrolled(app.help_scroll, action).min(max);
        }
        (Mode::Detail, View::Failures) => {
            if let Some(pane) = app.failures.members.as_mut() {
                let rows = match &pane.data {
                    Some(Ok(m)) => m.len(),
                    _ => 0,
                };
                let last = u16::try_from(rows.saturating_sub(1)).unwrap_or(u16::MAX);
                pane.scroll = match action {
                    Action::Last => last,
                    _ => scrolled(pane.scroll, action).min(last),
                };
            }
        }
        (Mode::Detail, _) => {
            if let Some(pane) = app.detail.as_mut() {
                pane.scroll = scrolled(pane.scroll, action);
            }
        }
        (Mode::Browse, View::Outbox) => return move_in_outbox(app, action),
        (Mode::Beside, _) => {
            let mut effects = move_in_outbox(app, action);
            effects.extend(follow_selection(app));
            return effects;
        }
        (Mode::Browse, View::Log) => {
            let rows = usize::from(log_rows(app.height));
            let how = match action {
                Action::MoveUp => LogScroll::Up(1),
                Action::MoveDown => LogScroll::Down(1),
                Action::PageUp => LogScroll::Up(rows),
                Action::PageDown => LogScroll::Down(rows),
                Action::First => LogScroll::Top,
                _ => LogScroll::Follow,
            };
            app.log.scroll(how, rows);
        }
        (Mode::Browse, View::Failures) => {
            let last = app
                .failures
                .groups
                .as_ref()
                .map_or(0, Vec::len)
                .saturating_sub(1);
            let f = &mut app.failures;
            f.selected = match action {
                Action::MoveDown => (f.selected + 1).min(last),
                Action::MoveUp => f.selected.saturating_sub(1),
                Action::PageDown => (f.selected + usize::from(SCROLL_PAGE)).min(last),
                Action::PageUp => f.selected.saturating_sub(usize::from(SCROLL_PAGE)),
                Action::First => 0,
                Action::Last => last,
                _ => f.selected,
            };
        }
        (Mode::Browse, View::Search) => app.search.scroll = scrolled(app.search.scroll, action),
        (Mode::Browse, View::Relays) => {
            let last = app.relays.as_ref().map_or(0, |r| r.len()).saturating_sub(1);
            app.relay_selected = match action {
                Action::MoveDown => (app.relay_selected + 1).min(last),
                Action::MoveUp => app.relay_selected.saturating_sub(1),
                Action::First => 0,
                Action::Last => last,
                _ => app.relay_selected,
            };
        }
        _ => {}
    }
    Vec::new()
}

/// A text's scroll offset after `action`; its end is not known here, so `Last` keeps it.
fn scrolled(scroll: u16, action: Action) -> u16 {
    match action {
        Action::MoveDown => scroll.saturating_add(1),
        Action::MoveUp => scroll.saturating_sub(1),
        Action::PageDown => scroll.saturating_add(SCROLL_PAGE),
        Action::PageUp => scroll.saturating_sub(SCROLL_PAGE),
        Action::First => 0,
        _ => scroll,
    }
}

/// Moves the selection; past the page's edge the next page is loaded.
fn move_in_outbox(app: &mut App, action: Action) -> Vec<Effect> {
    let len = app.page.rows.len();
    match action {
        Action::MoveDown => {
            if app.selected + 1 < len {
                app.selected += 1;
            } else if app.page.has_older {
                if let Some(last) = app.page.rows.last() {
                    let anchor = Anchor::Before(last.id);
                    return vec![load_page(app, anchor, Select::First)];
                }
            }
        }
        Action::MoveUp => {
            if app.selected > 0 {
                app.selected -= 1;
            } else if app.page.has_newer {
                if let Some(first) = app.page.rows.first() {
                    let anchor = Anchor::After(first.id);
                    return vec![load_page(app, anchor, Select::Last)];
                }
            }
        }
        Action::PageDown => match app.page.rows.last() {
            Some(last) if app.page.has_older => {
                let anchor = Anchor::Before(last.id);
                let select = Select::Keep(None, app.selected);
                return vec![load_page(app, anchor, select)];
            }
            _ => app.selected = len.saturating_sub(1),
        },
        Action::PageUp => match app.page.rows.first() {
            Some(first) if app.page.has_newer => {
                let anchor = Anchor::After(first.id);
                let select = Select::Keep(None, app.selected);
                return vec![load_page(app, anchor, select)];
            }
            _ => app.selected = 0,
        },
        Action::First => return vec![load_page(app, Anchor::Newest, Select::First)],
        Action::Last => return vec![load_page(app, Anchor::Oldest, Select::Last)],
        _ => {}
    }
    Vec::new()
}

fn open_detail(app: &mut App) -> Vec<Effect> {
    let Some(id) = app.selected_row().map(|row| row.id) else {
        return Vec::new();
    };
    app.detail = Some(DetailPane {
        id,
        data: None,
        scroll: 0,
    });
    detail_effect(app).into_iter().collect()
}

/// Enter on a group: its members (names and cards, on screen only).
fn open_members(app: &mut App) -> Vec<Effect> {
    let Some(group) = app.failures.selected_group().cloned() else {
        return Vec::new();
    };
    app.failures.members = Some(MembersPane {
        group,
        data: None,
        scroll: 0,
    });
    // A read of another group's members may be in flight: this one is asked for regardless, and
    // the answer for the other is dropped when it comes.
    app.inflight.members = false;
    members_effect(app).into_iter().collect()
}

/// `r` in the Failures view: count what a retry of the group would put back, then ask (the
/// question comes with the count, see `update::ask_group_retry`).
fn retry_group(app: &mut App) -> Vec<Effect> {
    let key = match &app.failures.members {
        Some(pane) => Some(pane.key().clone()),
        None => app.failures.selected_group().map(|g| g.key.clone()),
    };
    let Some(key) = key else {
        app.set_status(StatusKind::Error, "no failed rows: nothing to retry");
        return Vec::new();
    };
    app.set_status(
        StatusKind::Info,
        "counting the rows a retry would put back…",
    );
    vec![Effect::DryRunFailureGroup(key)]
}

fn submit_search(app: &mut App) -> Vec<Effect> {
    let term = app.search.input.trim().to_string();
    if term.is_empty() {
        app.set_status(
            StatusKind::Error,
            "type a subscription id, a card number, a phone number, an e-mail address or a name first",
        );
        return Vec::new();
    }
    app.search.editing = false;
    app.search.result = SearchResult::Running(term.clone());
    vec![Effect::Search(term)]
}

/// The row an action applies to: the one in the detail pane, else the selected one.
fn target(app: &App) -> Option<OutboxRow> {
    if let Some(DetailPane {
        id,
        data: Some(Ok(d)),
        ..
    }) = app.detail.as_ref()
    {
        if d.row.id == *id {
            return Some(d.row.clone());
        }
    }
    if app.view == View::Outbox {
        app.selected_row().cloned()
    } else {
        None
    }
}

/// The target row, or None with the status saying to pick one.
fn target_or_say(app: &mut App) -> Option<OutboxRow> {
    let row = target(app);
    if row.is_none() {
        app.set_status(StatusKind::Error, "select a row in the Outbox view first");
    }
    row
}

fn ask(app: &mut App, question: String, action: Effect) -> Vec<Effect> {
    app.confirm = Some(Confirm { question, action });
    Vec::new()
}

fn retry(app: &mut App) -> Vec<Effect> {
    let Some(row) = target_or_say(app) else {
        return Vec::new();
    };
    if let Some(refused) = Refusal::of_retry(row.id, row.state) {
        app.set_status(StatusKind::Error, refused.to_string());
        return Vec::new();
    }
    let unconfirmed = OutboxState::SETTLED_UNSENT.contains(&row.state)
        && FailureCause::from_stored(row.last_error.as_deref(), row.last_http_status)
            .is_unconfirmed();
    if unconfirmed {
        return ask(
            app,
            format!(
                "Retry row {}? Digis's answer to it confirmed nothing (cause unconfirmed): it may have sent the SMS, so this MAY SEND A SECOND SMS.",
                row.id
            ),
            Effect::RetryUnconfirmed(row.id),
        );
    }
    app.set_status(StatusKind::Info, format!("retrying row {}…", row.id));
    vec![Effect::Retry(row.id)]
}

/// `R`: count the failed rows whose answer was unconfirmed, then ask (the question comes with
/// that count, see `update::ask_retry_all`).
fn retry_all_failed(app: &mut App) -> Vec<Effect> {
    app.set_status(StatusKind::Info, "counting the failed rows…");
    vec![Effect::DryRunRetryAllFailed]
}

fn discard(app: &mut App) -> Vec<Effect> {
    let Some(row) = target_or_say(app) else {
        return Vec::new();
    };
    if let Some(refused) = Refusal::of_discard(row.id, row.state) {
        app.set_status(StatusKind::Error, refused.to_string());
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

fn resend(app: &mut App) -> Vec<Effect> {
    let Some(row) = target_or_say(app) else {
        return Vec::new();
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

fn toggle_pause(app: &mut App) -> Vec<Effect> {
    if app.control.as_ref().is_some_and(|c| c.paused) {
        app.set_status(StatusKind::Info, "resuming…");
        vec![Effect::Resume]
    } else {
        ask(
            app,
            "Pause delivery? Every relay on this database stops sending until resumed.".to_string(),
            Effect::Pause,
        )
    }
}
