//! Drawing: a pure function of [`App`]. The frame (tabs, header, status line) is drawn here;
//! the body is the shown screen's view (`screens/*/view.rs`), given its own state.
mod header;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::{App, StatusKind};
use super::keymap::{self, SECTIONS};
use super::keys::{Context, Mode};
use super::message::{Action, View};
use super::screens::{confirm, detail, failures, help, log, outbox, relays, search, stats};
use super::ui::theme::{Level, Theme};
pub use header::delivery;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.env.no_color);
    let [tabs, head, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, tabs, app, &theme);
    header::draw(frame, head, app, &theme);
    let clock = app.clock();
    let table = |frame: &mut Frame, area: Rect| {
        outbox::view::draw(
            frame,
            area,
            app.filter,
            &app.page,
            app.selected,
            clock,
            &theme,
        );
    };
    match app.view {
        View::Outbox => match &app.detail {
            Some(pane) if app.wide() => {
                // Half each: from 160 columns the table keeps the 80 it was designed for.
                let [left, side] =
                    Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                        .areas(body);
                table(frame, left);
                detail::view::draw(frame, side, pane, true, &theme);
            }
            Some(pane) => detail::view::draw(frame, body, pane, false, &theme),
            None => table(frame, body),
        },
        View::Search => search::view::draw(frame, body, &app.search, &theme),
        View::Relays => relays::view::draw(
            frame,
            body,
            app.relays.as_deref(),
            app.relay_selected,
            clock,
            app.env.max_clock_offset_ms,
            &theme,
        ),
        View::Log => log::view::draw(frame, body, &app.log, &theme),
        View::Failures => failures::view::draw(frame, body, &app.failures, clock, &theme),
        View::Stats => stats::view::draw(frame, body, app.stats.as_ref(), clock, &theme),
    }
    draw_status(frame, status, app, &theme);
    if app.help {
        help::view::draw(frame, frame.area(), SECTIONS, app.help_scroll, &theme);
    }
    if let Some(c) = &app.confirm {
        confirm::view::draw(frame, frame.area(), c, &theme);
    }
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(" digis-relay ", theme.bold()), Span::raw("│")];
    for (i, v) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, v.title());
        spans.push(if *v == app.view {
            Span::styled(label, theme.active_tab())
        } else {
            Span::raw(label)
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let anywhere = Context {
        view: View::Outbox,
        mode: Mode::Browse,
    };
    let hint = format!(
        " {} ",
        keymap::hint(anywhere, &[(Action::Help, "help"), (Action::Quit, "quit")])
            .replace(" · ", " ")
    );
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(hint.len() as u16)]).areas(area);
    let line = if let Some(e) = &app.db_error {
        Line::from(Span::styled(
            format!(" database: {e}"),
            theme.level(Level::Bad),
        ))
    } else if let Some(s) = &app.status {
        let style = match s.kind {
            StatusKind::Info => theme.plain(),
            StatusKind::Ok => theme.level(Level::Ok),
            StatusKind::Error => theme.level(Level::Bad),
        };
        Line::from(Span::styled(format!(" {}", s.text), style))
    } else {
        // The Outbox's keys, except in the views where they do something else or nothing.
        let (ctx, words): (Context, &[(Action, &str)]) = match app.view {
            View::Failures => (
                app.context(),
                &[
                    (Action::OpenDetail, "members"),
                    (Action::CloseDetail, "back"),
                    (Action::RetryGroup, "retry group"),
                    (Action::Search, "search"),
                ],
            ),
            View::Stats => (app.context(), &[(Action::Search, "search")]),
            View::Outbox if app.detail_beside() => (
                app.context(),
                &[
                    (Action::CloseDetail, "close detail"),
                    (Action::DetailScrollDown, "scroll detail"),
                    (Action::Retry, "retry"),
                    (Action::Discard, "discard"),
                    (Action::SyncNow, "sync"),
                    (Action::TogglePause, "pause"),
                    (Action::Search, "search"),
                ],
            ),
            View::Log => (
                app.context(),
                &[
                    (Action::EditLogFilter, "filter"),
                    (Action::NextLogLevel, "levels"),
                    (Action::Last, "follow"),
                    (Action::StopTyping, "keep filter"),
                    (Action::ClearLogFilter, "clear filter"),
                    (Action::Search, "search"),
                ],
            ),
            _ => (
                anywhere,
                &[
                    (Action::OpenDetail, "detail"),
                    (Action::Retry, "retry"),
                    (Action::Discard, "discard"),
                    (Action::SyncNow, "sync"),
                    (Action::TogglePause, "pause"),
                    (Action::Search, "search"),
                ],
            ),
        };
        Line::from(Span::styled(
            format!(" {}", keymap::hint(ctx, words)),
            theme.dim(),
        ))
    };
    frame.render_widget(Paragraph::new(line), left);
    frame.render_widget(Paragraph::new(Span::styled(hint, theme.dim())), right);
}
