//! What every screen draws with: the theme, fitting cells to columns, and the short texts for
//! times, spans and counts.
pub mod fit;
pub mod theme;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, HighlightSpacing, Paragraph, Table, TableState};
use ratatui::Frame;

pub use crate::stats::span_text;

/// The dashboard's two clocks, for the views that age what they show.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// This process's time, as the tick last said.
    pub now: DateTime<Utc>,
    /// The database's time: heartbeats and due times are in it.
    pub db_now: DateTime<Utc>,
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

/// A screen with nothing to show yet (loading, empty): `text`, dimmed and centred in `block`.
pub fn placeholder(frame: &mut Frame, area: Rect, block: Block, text: &str, theme: &theme::Theme) {
    frame.render_widget(
        Paragraph::new(Span::styled(text, theme.dim()))
            .centered()
            .block(block),
        area,
    );
}

/// Columns the selection marker `▶ ` takes in a [`selectable`] table.
pub const MARKER_COLUMNS: u16 = 2;

/// Draws `table` (its header and block set) with its columns one space apart and the
/// `selected` row in reverse video behind a `▶ ` marker.
pub fn selectable(
    frame: &mut Frame,
    area: Rect,
    table: Table,
    selected: usize,
    theme: &theme::Theme,
) {
    let table = table
        .column_spacing(1)
        .row_highlight_style(theme.selected())
        // A visible marker as well as reverse video: NO_COLOR terminals and snapshots show it.
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
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
