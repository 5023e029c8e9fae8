//! Who is relaying: one line per heartbeat row.
use crate::domain::RelayState;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::theme::{Level, Theme};
use super::{span_text, time_text};
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(" Relays ", theme.bold()));
    let relays = match &app.relays {
        None => {
            frame.render_widget(Paragraph::new("loading…").centered().block(block), area);
            return;
        }
        Some(r) if r.is_empty() => {
            frame.render_widget(
                Paragraph::new(
                    "no relay has ever run against this database: start `digis-relay run`",
                )
                .centered()
                .block(block),
                area,
            );
            return;
        }
        Some(r) => r,
    };
    let wide = area.width >= 120;
    let mut names = vec![
        "relay",
        "host",
        "pid",
        "state",
        "heartbeat",
        "share",
        "clock",
    ];
    if wide {
        names.extend(["version", "started"]);
    }
    names.push("detail");
    let header = Row::new(
        names
            .into_iter()
            .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    // Heartbeats are in the database's time: aged on it, not on this host's clock.
    let now = app.db_now();
    let rows = relays.iter().map(|r| {
        let age = (now - r.heartbeat_at).num_milliseconds();
        // Each relay by its own heartbeat interval, as the header and /healthz judge it.
        let stale = !crate::health::is_live(r, now);
        let clock_off = !stale
            && r.clock_offset_ms
                .is_some_and(|ms| crate::clock::beyond(ms, app.env.max_clock_offset_ms));
        let state_style = match (stale, &r.state) {
            (true, _) => theme.dim(),
            (false, RelayState::Running) => theme.level(Level::Ok),
            (false, RelayState::Disabled) => theme.level(Level::Warn),
            _ => theme.level(Level::Bad),
        };
        // No heartbeat for three intervals: whatever it last said, it is not working now.
        let state = if stale && r.state != RelayState::Stopped {
            "silent".to_string()
        } else {
            r.state.to_string()
        };
        let mut cells = vec![
            Cell::from(r.relay_id.clone()),
            Cell::from(r.hostname.clone()),
            Cell::from(r.pid.to_string()),
            Cell::from(Span::styled(state, state_style)),
            Cell::from(format!("{} ago", span_text(age / 1000))),
            // Its part of the request budget the live relays share (none without a limit).
            Cell::from(match r.request_share {
                Some(share) if !stale => format!("{share:.1}/s"),
                _ => "-".to_string(),
            }),
            // The database's clock minus the relay's host's; beyond the limit it claims nothing.
            match r.clock_offset_ms {
                Some(ms) if clock_off => Cell::from(Span::styled(
                    crate::clock::offset_text(ms),
                    theme.level(Level::Bad),
                )),
                Some(ms) => Cell::from(crate::clock::offset_text(ms)),
                None => Cell::from("-"),
            },
        ];
        if wide {
            cells.push(Cell::from(r.version.clone()));
            cells.push(Cell::from(time_text(r.started_at)));
        }
        cells.push(Cell::from(crate::sanitize::for_display(
            r.detail.as_deref().unwrap_or_default(),
        )));
        Row::new(cells)
    });
    let longest = |f: fn(&crate::storage::RelayInfo) -> usize, cap: usize| {
        relays.iter().map(f).max().unwrap_or(0).clamp(5, cap) as u16
    };
    let mut widths = vec![
        Constraint::Length(longest(|r| r.relay_id.chars().count(), 24)),
        Constraint::Length(longest(|r| r.hostname.chars().count(), 16)),
        Constraint::Length(7),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    if wide {
        widths.extend([Constraint::Length(8), Constraint::Length(20)]);
    }
    widths.push(Constraint::Fill(1));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(app.relay_selected));
    frame.render_stateful_widget(table, area, &mut state);
}
