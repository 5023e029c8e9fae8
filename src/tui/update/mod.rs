//! `update`: the only place the dashboard's state changes. A key becomes an action through the
//! keymap (`keymap.rs`) and the action is handled in `action.rs`; both may ask for effects
//! (database work done elsewhere, `load.rs` builds the reads), whose answers come back here as
//! messages. The questions asked once a count comes back are in `ask.rs`.
mod action;
mod ask;
mod load;

use ratatui::crossterm::event::KeyEventKind;

use super::app::{App, StatusKind, STATUS_SECS};
use super::keymap;
use super::message::{Anchor, Effect, Msg, PageData, Select, View};
use super::screens::outbox::page_size_for;
pub use action::handle;
use load::{detail_effect, failures_effects, follow_selection, refresh, reload, status_effect};

pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            match keymap::resolve(app.context(), key) {
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
                Ok(groups) => {
                    app.failures.apply(groups);
                    app.db_error = None;
                }
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
            ask::group_retry(app, key, result);
            Vec::new()
        }
        Msg::RetryAllDryRun(result) => {
            ask::retry_all(app, result);
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
            app.search.answer(term, result);
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
