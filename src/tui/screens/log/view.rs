//! The live log: what this process logged (by the house rules ids and outcomes only, never
//! personal data), newest at the bottom, each record whole (wrapped, `line.rs`). Without a text
//! filter it is tui-logger's widget, which pages and filters by level; with one (`f`, which
//! tui-logger lacks) it is the matching records of the product's own copy. The records were
//! escaped as they were taken (`logsink`); the filter is what the operator typed and is escaped
//! here.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::line::{record_lines, LiveFormat};
use super::LogState;
use crate::sanitize::for_display;
use crate::tui::ui::placeholder;
use crate::tui::ui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, log: &LogState, theme: &Theme) {
    let mut title = vec![
        Span::styled(" Log (this process) ", theme.bold()),
        Span::styled(format!("{} ", log.min_level.filter_label()), theme.dim()),
    ];
    if log.editing || !log.filter.is_empty() {
        title.push(Span::raw("filter "));
        let cursor = if log.editing { "▏" } else { "" };
        title.push(Span::styled(
            format!("[{}{cursor}]", for_display(&log.filter)),
            theme.active_tab(),
        ));
        title.push(Span::raw(" "));
    }
    let mut bottom = if log.text_filtered() {
        format!(" {} of {} lines", log.matching().len(), log.lines.len())
    } else {
        format!(" {} lines", log.lines.len())
    };
    if log.dropped > 0 {
        bottom.push_str(&format!(" (older {} dropped)", log.dropped));
    }
    bottom.push_str(if !log.text_filtered() {
        " · PgUp/PgDn page · End follows "
    } else if log.following() {
        " · following "
    } else {
        " · scrolled back: End follows "
    });
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(title))
        .title_bottom(Line::from(Span::styled(bottom, theme.dim())).right_aligned());

    if log.lines.is_empty() || (log.text_filtered() && log.matching().is_empty()) {
        let text = if log.lines.is_empty() {
            "nothing logged yet"
        } else {
            "no line matches the filter (Esc clears it)"
        };
        placeholder(frame, area, block, text, theme);
        return;
    }
    if !log.text_filtered() {
        frame.render_widget(
            tui_logger::TuiLoggerWidget::default()
                .block(block)
                .formatter(Box::new(LiveFormat { theme: *theme }))
                .state(log.live.widget_state()),
            area,
        );
        return;
    }
    // The filtered list: the window's newest record at the bottom, whole; older ones above it
    // as far as they fit.
    let inner = block.inner(area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = log
        .window(rows)
        .iter()
        .flat_map(|l| record_lines(width, l.at, l.level, &l.target, &l.text, theme))
        .collect();
    let cut = lines.len().saturating_sub(rows);
    lines.drain(..cut);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
