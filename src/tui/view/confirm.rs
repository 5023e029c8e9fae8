//! The y/n dialog in front of every destructive action.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use super::theme::{Level, Theme};
use crate::tui::app::Confirm;

pub fn draw(frame: &mut Frame, area: Rect, confirm: &Confirm, theme: &Theme) {
    let popup = centered(area, 60, 7);
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
