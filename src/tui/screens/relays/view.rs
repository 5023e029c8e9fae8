//! Who is relaying: one line per heartbeat row.
use crate::domain::RelayState;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use crate::storage::RelayInfo;
use crate::tui::ui::theme::{Level, Theme};
use crate::tui::ui::{fit, span_text, time_text, Clock};

/// `max_clock_offset_ms`: beyond it a relay's clock shows as bad (it claims nothing).
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    relays: Option<&[RelayInfo]>,
    selected: usize,
    clock: Clock,
    max_clock_offset_ms: u64,
    theme: &Theme,
) {
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(" Relays ", theme.bold()));
    let relays = match relays {
        None => {
            frame.render_widget(Paragraph::new("loading…").centered().block(block), area);
            return;
        }
        Some([]) => {
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
    // Heartbeats are in the database's time: aged on it, not on this host's clock.
    let now = clock.db_now;
    // Ids and numbers as wide as their widest value; the host name at most 16 columns and the
    // detail the rest, both cut with `…`.
    let host_w = fit::exact("host", relays.iter().map(|r| r.hostname.as_str())).min(16);
    let mut table_texts: Vec<(Vec<String>, Style, bool, String)> = Vec::new();
    for r in relays {
        let age = (now - r.heartbeat_at).num_milliseconds();
        // Each relay by its own heartbeat interval, as the header and /healthz judge it.
        let stale = !crate::health::is_live(r, now);
        let clock_off = !stale
            && r.clock_offset_ms
                .is_some_and(|ms| crate::clock::beyond(ms, max_clock_offset_ms));
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
        let mut texts = vec![
            crate::sanitize::for_display(&r.relay_id),
            fit::ellipsis(&crate::sanitize::for_display(&r.hostname), host_w.into()),
            r.pid.to_string(),
            state,
            format!("{} ago", span_text(age / 1000)),
            // Its part of the request budget the live relays share (none without a limit).
            match r.request_share {
                Some(share) if !stale => format!("{share:.1}/s"),
                _ => "-".to_string(),
            },
            // The database's clock minus the relay's host's; beyond the limit it claims nothing.
            r.clock_offset_ms
                .map_or_else(|| "-".to_string(), crate::clock::offset_text),
        ];
        if wide {
            texts.push(crate::sanitize::for_display(&r.version));
            texts.push(time_text(r.started_at));
        }
        let detail = crate::sanitize::for_display(r.detail.as_deref().unwrap_or_default());
        table_texts.push((texts, state_style, clock_off, detail));
    }
    // Every value whole: when the detail would get less than it needs (up to 16 columns), the
    // columns least needed give way (share, clock, host, pid), never cut.
    let inner = area.width.saturating_sub(2);
    let detail_need = table_texts
        .iter()
        .map(|t| fit::width(&t.3))
        .max()
        .unwrap_or(0)
        .clamp(1, 16) as u16;
    let width_of = |i: usize| fit::exact(names[i], table_texts.iter().map(|t| t.0[i].as_str()));
    let mut shown: Vec<usize> = (0..names.len()).collect();
    for drop in [5, 6, 1, 2] {
        let widths: Vec<u16> = shown.iter().map(|i| width_of(*i)).collect();
        if fit::rest(inner, 0, &widths, 1) >= detail_need {
            break;
        }
        shown.retain(|i| *i != drop);
    }
    let fixed: Vec<u16> = shown.iter().map(|i| width_of(*i)).collect();
    let detail_w = usize::from(fit::rest(inner, 0, &fixed, 1));
    let header = Row::new(
        shown
            .iter()
            .map(|i| names[*i])
            .chain(["detail"])
            .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    let rows = table_texts
        .into_iter()
        .map(|(texts, state_style, clock_off, detail)| {
            let mut cells: Vec<Cell> = shown
                .iter()
                .map(|i| {
                    let t = texts[*i].clone();
                    match i {
                        3 => Cell::from(Span::styled(t, state_style)),
                        6 if clock_off => Cell::from(Span::styled(t, theme.level(Level::Bad))),
                        _ => Cell::from(t),
                    }
                })
                .collect();
            cells.push(Cell::from(fit::ellipsis(&detail, detail_w)));
            Row::new(cells)
        });
    let widths = fit::constraints(&fixed);
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}
