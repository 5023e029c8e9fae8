//! The reads `update` asks for, each marked in flight so the tick does not pile requests up
//! behind a slow database.
use chrono::{DateTime, Utc};

use crate::tui::app::App;
use crate::tui::message::{Anchor, Effect, Select, View};
use crate::tui::screens::detail::DetailPane;
use crate::tui::screens::failures::FAILURES_REFRESH_SECS;
use crate::tui::screens::stats::STATS_REFRESH_SECS;

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

pub(super) fn status_effect(app: &mut App) -> Effect {
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
    *pane = DetailPane::new(id);
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
