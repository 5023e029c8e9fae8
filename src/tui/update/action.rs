//! Actions: what each does to the dashboard's state where it is now ([`App::context`]), whatever
//! key asked for it. Database work is returned as effects, as in `update`.
use super::load::{
    detail_effect, failures_effects, follow_selection, load_page, members_effect, reload,
    stats_effect,
};
use crate::domain::{FailureCause, OutboxState};
use crate::operator::Refusal;
use crate::storage::OutboxRow;
use crate::tui::app::{App, StatusKind};
use crate::tui::keymap::SECTIONS;
use crate::tui::keys::Mode;
use crate::tui::message::{Action, Anchor, Effect, Select, View};
use crate::tui::screens::confirm::Confirm;
use crate::tui::screens::detail::DetailPane;
use crate::tui::screens::failures::MembersPane;
use crate::tui::screens::log::{log_rows, LogScroll};
use crate::tui::screens::{help, relays};

/// Carries out `action` where the dashboard is now ([`App::context`]); returns the database
/// work it needs.
pub fn handle(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => app.should_quit = true,
        Action::Help => {
            app.help = true;
            app.help_scroll = 0;
        }
        Action::CloseHelp => app.help = false,
        Action::NextView => return switch_view(app, app.view.next(1)),
        Action::PrevView => return switch_view(app, app.view.next(View::ALL.len() - 1)),
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
        Action::Type(c) => app.search.type_char(c),
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
    let ctx = app.context();
    match (ctx.mode, ctx.view) {
        (Mode::Help, _) => {
            let max = help::view::max_scroll(SECTIONS, app.height);
            app.help_scroll = action.scrolled(app.help_scroll).min(max);
        }
        (Mode::Detail, View::Failures) => {
            if let Some(pane) = app.failures.members.as_mut() {
                pane.scroll(action);
            }
        }
        (Mode::Detail, _) => {
            if let Some(pane) = app.detail.as_mut() {
                pane.scroll = action.scrolled(pane.scroll);
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
            app.log.scroll(LogScroll::of(action, rows), rows);
        }
        (Mode::Browse, View::Failures) => app.failures.move_selection(action),
        (Mode::Browse, View::Search) => app.search.scroll(action),
        (Mode::Browse, View::Relays) => {
            let len = app.relays.as_ref().map_or(0, Vec::len);
            app.relay_selected = relays::moved(app.relay_selected, len, action);
        }
        _ => {}
    }
    Vec::new()
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
    app.detail = Some(DetailPane::new(id));
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
/// question comes with the count, see `ask::group_retry`).
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
    let Some(term) = app.search.submit() else {
        app.set_status(
            StatusKind::Error,
            "type a subscription id, a card number, a phone number, an e-mail address or a name first",
        );
        return Vec::new();
    };
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
/// that count, see `ask::retry_all`).
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
