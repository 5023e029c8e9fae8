//! The `?` overlay: every key.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use super::theme::Theme;
use crate::tui::update::KEYS;

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let key_w = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_w$}  "), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    let popup = centered(area, 76, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Keys ", theme.bold()))
                .title_bottom(Line::from(" Esc closes ").right_aligned()),
        ),
        popup,
    );
}
