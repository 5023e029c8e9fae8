//! The live log: what this process logged (by the house rules ids and outcomes only, never
//! personal data), newest at the bottom, filtered by text and level. The lines were escaped as
//! they were taken (`logsink`); the filter is what the operator typed and is escaped here.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use crate::domain::OutboxState;
use crate::sanitize::for_display;
use crate::tui::app::{LogLevel, LogState};

pub fn draw(frame: &mut Frame, area: Rect, log: &LogState, theme: &Theme) {
    let rows = usize::from(area.height.saturating_sub(2));
    let shown = log.window(rows);
    let matching = log.matching().len();

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
    let mut bottom = format!(" {matching} of {} lines", log.lines.len());
    if log.dropped > 0 {
        bottom.push_str(&format!(" (older {} dropped)", log.dropped));
    }
    bottom.push_str(if log.following() {
        " · following "
    } else {
        " · scrolled back: End follows "
    });
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(title))
        .title_bottom(Line::from(Span::styled(bottom, theme.dim())).right_aligned());

    if shown.is_empty() {
        let text = if log.lines.is_empty() {
            "nothing logged yet"
        } else {
            "no line matches the filter (Esc clears it)"
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim()))
                .centered()
                .block(block),
            area,
        );
        return;
    }
    let lines: Vec<Line> = shown
        .iter()
        .map(|l| {
            Line::from(vec![
                Span::raw(format!("{} ", l.at.format("%H:%M:%SZ"))),
                Span::styled(l.level.abbrev(), level_style(l.level, theme)),
                Span::styled(format!(" {} ", l.target), theme.dim()),
                Span::raw(l.text.as_str()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn level_style(level: LogLevel, theme: &Theme) -> Style {
    match level {
        LogLevel::Error => theme.state(OutboxState::Failed),
        LogLevel::Warn => theme.state(OutboxState::Pending),
        _ => theme.plain(),
    }
}
