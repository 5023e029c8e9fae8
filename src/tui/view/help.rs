//! The `?` overlay: the keymap, one heading per section, drawn from `keymap::SECTIONS` so it
//! lists exactly the keys that work.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use super::theme::Theme;
use crate::tui::keymap::SECTIONS;

/// The popup's width; the longest line (the Outbox filter) just fits in an 80-column terminal.
const WIDTH: u16 = 76;
/// What the key column says for the characters the search box types.
pub const TYPED_KEYS: &str = "other keys";

/// One line of the help: a section heading, or keys and what they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpLine {
    Heading(&'static str),
    Keys { keys: String, what: &'static str },
}

/// The help's lines, in the keymap's order.
pub fn lines() -> Vec<HelpLine> {
    let mut lines = Vec::new();
    for section in SECTIONS {
        lines.push(HelpLine::Heading(section.title));
        for binding in section.bindings {
            lines.push(HelpLine::Keys {
                keys: binding.label(),
                what: binding.help,
            });
        }
        if let Some(what) = section.typing {
            lines.push(HelpLine::Keys {
                keys: TYPED_KEYS.to_string(),
                what,
            });
        }
    }
    lines
}

/// Rows of help text a terminal of `height` rows shows at once.
fn visible(height: u16, total: usize) -> usize {
    (total + 2).min(usize::from(height)).saturating_sub(2)
}

/// How far the help can scroll in a terminal of `height` rows: until its last line shows.
pub fn max_scroll(height: u16) -> u16 {
    let total = lines().len();
    u16::try_from(total - visible(height, total)).unwrap_or(u16::MAX)
}

pub fn draw(frame: &mut Frame, area: Rect, scroll: u16, theme: &Theme) {
    let help = lines();
    let key_w = help
        .iter()
        .map(|l| match l {
            HelpLine::Keys { keys, .. } => keys.chars().count(),
            HelpLine::Heading(_) => 0,
        })
        .max()
        .unwrap_or(0);
    let text: Vec<Line> = help
        .iter()
        .map(|l| match l {
            HelpLine::Heading(title) => Line::from(Span::styled(*title, theme.bold())),
            HelpLine::Keys { keys, what } => Line::from(vec![
                Span::styled(format!(" {keys:<key_w$}  "), theme.key()),
                Span::raw(*what),
            ]),
        })
        .collect();
    let total = text.len();
    let height = u16::try_from(total + 2).unwrap_or(u16::MAX);
    let popup = centered(area, WIDTH, height);
    let shown = visible(popup.height, total);
    let scroll = usize::from(scroll).min(total - shown);
    let more = match (scroll > 0, scroll + shown < total) {
        (true, true) => " ↑ ↓ more · Esc closes ",
        (false, true) => " ↓ more · Esc closes ",
        (true, false) => " ↑ more · Esc closes ",
        (false, false) => " Esc closes ",
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(
                Block::bordered()
                    .title(Span::styled(" Keys ", theme.bold()))
                    .title_bottom(Line::from(more).right_aligned()),
            ),
        popup,
    );
}
