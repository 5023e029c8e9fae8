//! The search view: a subscription id (ExtInfo1), card number (ExtInfo20), phone number,
//! e-mail address or name in, the verdict and timeline of each matching member out.
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{SearchResult, SearchState};
use crate::tui::ui::theme::{Level, Theme};

pub fn draw(frame: &mut Frame, area: Rect, s: &SearchState, theme: &Theme) {
    let [input_area, results_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(area);
    let input_block = Block::bordered()
        .border_style(if s.editing {
            theme.key()
        } else {
            theme.border()
        })
        .title(Span::styled(
            " Search: subscription id, card, phone, e-mail or name ",
            theme.bold(),
        ))
        .title_bottom(
            Line::from(Span::styled(
                if s.editing {
                    " Enter search · Esc done · Ctrl-U clear "
                } else {
                    " / or i to type "
                },
                theme.dim(),
            ))
            .right_aligned(),
        );
    frame.render_widget(
        Paragraph::new(s.input.as_str()).block(input_block),
        input_area,
    );
    if s.editing {
        let x = input_area.x + 1 + s.input.chars().count() as u16;
        frame.set_cursor_position(Position::new(
            x.min(input_area.right().saturating_sub(2)),
            input_area.y + 1,
        ));
    }

    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(" Result ", theme.bold()));
    let lines: Vec<Line> = match &s.result {
        SearchResult::None => vec![Line::from(Span::styled(
            "Type a subscription id, a card number, a phone number, an e-mail address or a name and press Enter. Digits are looked up every way they can be read; a prefix picks one: ExtInfo1:863, ExtInfo20:0034 (as in the sync log), phone:, email:, name:.",
            theme.dim(),
        ))],
        SearchResult::Running(term) => vec![Line::from(format!("searching for {term}…"))],
        SearchResult::Failed { term, error } => vec![
            Line::from(format!("search for {term}:")),
            Line::from(Span::styled(error.clone(), theme.level(Level::Warn))),
        ],
        SearchResult::Done { lines, .. } => lines
            .iter()
            .map(|l| Line::from(Span::styled(l.clone(), verdict_style(l, theme))))
            .collect(),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((s.scroll, 0)),
        results_area,
    );
}

/// The verdict lines of the search module's text, coloured by what they mean.
fn verdict_style(line: &str, theme: &Theme) -> ratatui::style::Style {
    let t = line.trim_start();
    if !line.starts_with("  ") || line.starts_with("    ") {
        return theme.plain();
    }
    if t.starts_with("SENT ") {
        theme.level(Level::Ok)
    } else if t.starts_with("FAILED ") || t.starts_with("NEVER QUEUED") {
        theme.level(Level::Bad)
    } else if t.starts_with("WAITING ") || t.starts_with("DISCARDED ") {
        theme.level(Level::Warn)
    } else {
        theme.plain()
    }
}
