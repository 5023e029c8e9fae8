//! `update`: the only place the dashboard's state changes. A key becomes an action through the
//! keymap (`keymap.rs`) and the action is handled in `action.rs`; both may ask for effects
//! (database work done elsewhere), whose results come back here as messages.
use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::handle;
use super::app::{
    page_size_for, Anchor, App, Confirm, DetailPane, SearchResult, Select, StatusKind, View,
    FAILURES_REFRESH_SECS, STATS_REFRESH_SECS, STATUS_SECS,
};
use super::effects::Effect;
use super::keymap::{self, Context};
use crate::domain::OutboxId;
use crate::operator::group_label;
use crate::storage::{
    Control, Counts, FailedMember, FailureGroup, FailureGroupKey, OutboxRow, RelayInfo,
};

#[derive(Debug, Clone)]
pub struct StatusData {
    pub counts: Counts,
    pub control: Control,
    pub relays: Vec<RelayInfo>,
    pub oldest_due_pending: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// The database's clock minus this process's, read with the status.
    pub db_offset_ms: i64,
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
    Failures(Result<Vec<FailureGroup>, String>),
    FailureMembers(FailureGroupKey, Result<Vec<FailedMember>, String>),
    /// How many rows retrying the group would put back: the y/n question's count.
    GroupDryRun(FailureGroupKey, Result<u64, String>),
    /// How many failed rows' last answer was unconfirmed: the retry-all question says so.
    RetryAllDryRun(Result<u64, String>),
    Stats(Result<crate::stats::Stats, String>),
    /// Lines this process logged since the last such message, for the Log view.
    Log(Vec<super::app::LogLine>),
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

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            match keymap::resolve(Context::of(app), key) {
                Some(action) => handle(app, action),
                None => Vec::new(),
            }
        }
        Msg::Resize(width, height) => {
            app.width = width;
            app.height = height;
            // Grown wide with the detail open: it now sits beside the table, so it shows the
            // selected row.
            let mut effects: Vec<Effect> = follow_selection(app).into_iter().collect();
            let size = page_size_for(height);
            if size != app.page_size {
                app.page_size = size;
                effects.push(reload(app));
            }
            effects
        }
        Msg::Tick(now) => {
            app.now = now;
            if app
                .status
                .as_ref()
                .is_some_and(|s| (now - s.since).num_seconds() >= STATUS_SECS)
            {
                app.status = None;
            }
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
                    app.db_offset_ms = s.db_offset_ms;
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
            follow_selection(app).into_iter().collect()
        }
        Msg::Detail(id, result) => {
            app.inflight.detail = false;
            match app.detail.as_mut() {
                Some(pane) if pane.id == id => pane.data = Some(result),
                // The selection moved on while this row was read: read the one shown now.
                Some(_) => return detail_effect(app).into_iter().collect(),
                None => {}
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
            if app.view == View::Failures {
                effects.extend(failures_effects(app));
            }
            effects
        }
        Msg::Failures(result) => {
            app.inflight.failures = false;
            app.failures.loaded_at = Some(app.now);
            match result {
                Ok(groups) => apply_groups(app, groups),
                Err(e) => app.db_error = Some(e),
            }
            Vec::new()
        }
        Msg::FailureMembers(key, result) => {
            app.inflight.members = false;
            if let Some(pane) = app.failures.members.as_mut().filter(|p| *p.key() == key) {
                pane.data = Some(result);
            }
            Vec::new()
        }
        Msg::GroupDryRun(key, result) => {
            ask_group_retry(app, key, result);
            Vec::new()
        }
        Msg::RetryAllDryRun(result) => {
            ask_retry_all(app, result);
            Vec::new()
        }
        Msg::Stats(result) => {
            app.inflight.stats = false;
            app.stats_loaded_at = Some(app.now);
            match result {
                Ok(stats) => {
                    app.stats = Some(stats);
                    app.db_error = None;
                }
                Err(e) => app.db_error = Some(e),
            }
            Vec::new()
        }
        Msg::Log(lines) => {
            app.log.push(lines);
            Vec::new()
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
    let now = app.now;
    let due =
        |at: Option<DateTime<Utc>>, secs: i64| at.is_none_or(|t| (now - t).num_seconds() >= secs);
    if app.view == View::Failures && due(app.failures.loaded_at, FAILURES_REFRESH_SECS) {
        effects.extend(failures_effects(app));
    }
    if app.view == View::Stats && due(app.stats_loaded_at, STATS_REFRESH_SECS) {
        effects.extend(stats_effect(app));
    }
    effects
}

/// The groups again, and the open group's members, each unless already being read.
pub(super) fn failures_effects(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    if !app.inflight.failures {
        app.inflight.failures = true;
        effects.push(Effect::LoadFailures);
    }
    effects.extend(members_effect(app));
    effects
}

pub(super) fn members_effect(app: &mut App) -> Option<Effect> {
    let key = app.failures.members.as_ref()?.key().clone();
    if app.inflight.members {
        return None;
    }
    app.inflight.members = true;
    Some(Effect::LoadFailureMembers(key))
}

pub(super) fn stats_effect(app: &mut App) -> Option<Effect> {
    if app.inflight.stats {
        return None;
    }
    app.inflight.stats = true;
    Some(Effect::LoadStats)
}

/// New groups, one unit after another in the order of their keys (unit, then cause): a group
/// that grows past another does not move, so a refresh never shuffles the list under the
/// reader. The selection stays on its group when it is still there, and an open group whose
/// rows are all gone stays open (its members say so).
fn apply_groups(app: &mut App, mut groups: Vec<FailureGroup>) {
    let kept = app.failures.selected_group().map(|g| g.key.clone());
    groups.sort_by(|a, b| {
        a.key
            .unit_id
            .cmp(&b.key.unit_id)
            .then_with(|| a.key.cause.cmp(&b.key.cause))
    });
    app.failures.selected = kept
        .and_then(|k| groups.iter().position(|g| g.key == k))
        .unwrap_or(app.failures.selected)
        .min(groups.len().saturating_sub(1));
    if let Some(pane) = app.failures.members.as_mut() {
        if let Some(g) = groups.iter().find(|g| g.key == pane.group.key) {
            pane.group = g.clone();
        }
    }
    app.failures.groups = Some(groups);
    app.db_error = None;
}

/// The count of unconfirmed failed rows came back: ask y/n, saying that those may get a second
/// SMS when there are any (and then the yes retries them too).
fn ask_retry_all(app: &mut App, result: Result<u64, String>) {
    let unconfirmed = match result {
        Ok(n) => n,
        Err(e) => {
            app.set_status(
                StatusKind::Error,
                format!("cannot count the failed rows: {e}"),
            );
            return;
        }
    };
    let n = app
        .counts
        .map_or_else(|| "every".to_string(), |c| c.failed.to_string());
    let (question, action) = if unconfirmed == 0 {
        (
            format!("Queue {n} failed row(s) again, due now?"),
            Effect::RetryAllFailed,
        )
    } else {
        (
            format!(
                "Queue {n} failed row(s) again, due now? {unconfirmed} of them got an answer from Digis that confirmed nothing (cause unconfirmed): Digis may have sent their SMS, so this MAY SEND A SECOND SMS."
            ),
            Effect::RetryAllFailedWithUnconfirmed,
        )
    };
    app.status = None;
    app.confirm = Some(Confirm { question, action });
}

/// The dry run came back: ask y/n with its count, or say there is nothing to retry.
fn ask_group_retry(app: &mut App, key: FailureGroupKey, result: Result<u64, String>) {
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            app.set_status(StatusKind::Error, format!("cannot count the group: {e}"));
            return;
        }
    };
    let group = app
        .failures
        .groups
        .iter()
        .flatten()
        .find(|g| g.key == key)
        .cloned();
    let label = group_label(&key, group.as_ref().and_then(|g| g.unit_name.as_deref()));
    if n == 0 {
        app.set_status(
            StatusKind::Error,
            format!("nothing to retry in {label}: each member already has a row waiting"),
        );
        return;
    }
    let rows = group.map_or(n, |g| g.rows);
    let note = if rows > n {
        format!(" ({n} of its {rows} failed rows: the others belong to the same members or have a row waiting)")
    } else {
        String::new()
    };
    // Nothing to fix in the data: Digis may simply have sent these already.
    let advice = if key.cause.is_unconfirmed() {
        "Digis's answer to them confirmed nothing: it may have sent their SMS, so this MAY SEND A SECOND SMS. Check in Digis first."
    } else {
        "Fix the data in the membership system first."
    };
    app.status = None;
    app.confirm = Some(Confirm {
        question: format!("Retry {label}? {n} row(s) go back to pending, due now{note}. {advice}"),
        action: Effect::RetryFailureGroup(key),
    });
}

fn status_effect(app: &mut App) -> Effect {
    app.inflight.status = true;
    Effect::LoadStatus
}

/// With the detail beside the table, points it at the selected row and reads that row, unless
/// a read is in flight (its answer then asks for the current row, see `Msg::Detail`): holding
/// ↓ reads one row at a time, not one per key.
pub(super) fn follow_selection(app: &mut App) -> Option<Effect> {
    if !app.detail_beside() {
        return None;
    }
    let id = app.selected_row()?.id;
    let pane = app.detail.as_mut()?;
    if pane.id == id {
        return None;
    }
    *pane = DetailPane {
        id,
        data: None,
        scroll: 0,
    };
    if app.inflight.detail {
        return None;
    }
    detail_effect(app)
}

pub(super) fn detail_effect(app: &mut App) -> Option<Effect> {
    let id = app.detail.as_ref()?.id;
    app.inflight.detail = true;
    Some(Effect::LoadDetail(id))
}

pub(super) fn load_page(app: &mut App, anchor: Anchor, select: Select) -> Effect {
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
pub(super) fn reload(app: &mut App) -> Effect {
    let anchor = app.page.anchor.unwrap_or(Anchor::Newest);
    let select = if anchor == Anchor::Newest && app.selected == 0 {
        Select::First
    } else {
        Select::Keep(app.selected_row().map(|r| r.id), app.selected)
    };
    load_page(app, anchor, select)
}
