//! Drawing: a pure function of [`App`]. One module per area of the screen.
mod confirm;
mod detail;
mod failures;
mod fit;
mod header;
mod help;
mod log;
mod logline;
mod outbox;
mod relays;
mod search;
mod stats;
pub mod theme;

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::{App, StatusKind, View};
pub use header::delivery;
pub use help::max_scroll as help_max_scroll;
use theme::{Level, Theme};

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
    match app.view {
        View::Outbox => match &app.detail {
            Some(pane) if app.wide() => {
                // Half each: from 160 columns the table keeps the 80 it was designed for.
                let [table, side] =
                    Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                        .areas(body);
                outbox::draw(frame, table, app, &theme);
                detail::draw(frame, side, pane, true, &theme);
            }
            Some(pane) => detail::draw(frame, body, pane, false, &theme),
            None => outbox::draw(frame, body, app, &theme),
        },
        View::Search => search::draw(frame, body, app, &theme),
        View::Relays => relays::draw(frame, body, app, &theme),
        View::Log => log::draw(frame, body, &app.log, &theme),
        View::Failures => failures::draw(frame, body, app, &theme),
        View::Stats => stats::draw(frame, body, app, &theme),
    }
    draw_status(frame, status, app, &theme);
    if app.help {
        help::draw(frame, frame.area(), app.help_scroll, &theme);
    }
    if let Some(c) = &app.confirm {
        confirm::draw(frame, frame.area(), c, &theme);
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
    use crate::tui::action::Action;
    use crate::tui::keymap::{self, Context, Mode};
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
                Context::of(app),
                &[
                    (Action::OpenDetail, "members"),
                    (Action::CloseDetail, "back"),
                    (Action::RetryGroup, "retry group"),
                    (Action::Search, "search"),
                ],
            ),
            View::Stats => (Context::of(app), &[(Action::Search, "search")]),
            View::Outbox if app.detail_beside() => (
                Context::of(app),
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
                Context::of(app),
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

/// A compact span of time: `42s`, `5m`, `3h`, `2d`.
pub fn span_text(secs: i64) -> String {
    let s = secs.abs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// Times are shown in UTC, like the sync log, so a line on screen can be found in the log.
pub fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Thousands separated by a thin space would confuse copy/paste; a plain comma reads fine.
pub fn count_text(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_spans_read_well() {
        assert_eq!(count_text(1_000_000), "1,000,000");
        assert_eq!(count_text(999), "999");
        assert_eq!(span_text(42), "42s");
        assert_eq!(span_text(-300), "5m");
        assert_eq!(span_text(7200), "2h");
    }
}
