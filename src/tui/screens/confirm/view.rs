//! The y/n dialog in front of every destructive action.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::Confirm;
use crate::tui::ui::centered;
use crate::tui::ui::theme::{Level, Theme};

/// The dialog's width; a question longer than two lines makes it taller.
const WIDTH: u16 = 60;

pub fn draw(frame: &mut Frame, area: Rect, confirm: &Confirm, theme: &Theme) {
    let lines = wrapped_lines(&confirm.question, usize::from(WIDTH - 2)).max(2);
    let popup = centered(area, WIDTH, 5 + lines);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(confirm.question.clone()),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" yes    "),
            Span::styled("n", theme.key()),
            Span::raw(" / Esc no"),
        ])
        .centered(),
    ];
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_style(theme.level(Level::Warn))
                .title(Span::styled(" Are you sure? ", theme.level(Level::Warn))),
        ),
        popup,
    );
}

/// How many lines `text` takes when wrapped at word boundaries to `width` columns.
fn wrapped_lines(text: &str, width: usize) -> u16 {
    let mut lines = 1u16;
    let mut used = 0usize;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if used > 0 && used + 1 + w > width {
            lines = lines.saturating_add(1);
            used = 0;
        }
        // A word longer than the line is cut across lines.
        let mut w = w;
        while w > width {
            lines = lines.saturating_add(1);
            w -= width;
        }
        used += if used > 0 { 1 + w } else { w };
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrapped_lines;

    #[test]
    fn questions_wrap_at_words() {
        assert_eq!(wrapped_lines("short", 58), 1);
        assert_eq!(wrapped_lines(&"word ".repeat(12), 58), 2);
        assert_eq!(wrapped_lines(&"x".repeat(120), 58), 3);
    }
}
