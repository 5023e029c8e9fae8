//! The `?` overlay: the keymap, one heading per section, drawn from the sections it is given
//! (`keymap::SECTIONS`) so it lists exactly the keys that work.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::keys::Section;
use crate::tui::ui::centered;
use crate::tui::ui::theme::Theme;

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

/// The help's lines, in the order of `sections`.
pub fn lines(sections: &[&Section]) -> Vec<HelpLine> {
    let mut lines = Vec::new();
    for section in sections {
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

/// The key column's width: the longest keys.
fn key_width(lines: &[HelpLine]) -> usize {
    lines
        .iter()
        .map(|l| match l {
            HelpLine::Keys { keys, .. } => keys.chars().count(),
            HelpLine::Heading(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The popup's rows in a terminal of `height` rows: all of the help if it fits, leaving the
/// tab bar and the status line in sight.
fn popup_height(height: u16, total: usize) -> u16 {
    let all = u16::try_from(total + 2).unwrap_or(u16::MAX);
    all.min(height.saturating_sub(2))
}

/// Rows of help text a popup of `popup` rows shows at once.
fn visible(popup: u16, total: usize) -> usize {
    usize::from(popup.saturating_sub(2)).min(total)
}

/// How far the help of `sections` can scroll in a terminal of `height` rows: until its last
/// line shows.
pub fn max_scroll(sections: &[&Section], height: u16) -> u16 {
    let total = lines(sections).len();
    let shown = visible(popup_height(height, total), total);
    u16::try_from(total - shown).unwrap_or(u16::MAX)
}

pub fn draw(frame: &mut Frame, area: Rect, sections: &[&Section], scroll: u16, theme: &Theme) {
    let help = lines(sections);
    let key_w = key_width(&help);
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
    let popup = centered(area, WIDTH, popup_height(area.height, total));
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

#[cfg(test)]
mod tests {
    use super::*;
    // The help of the whole keymap.
    use crate::tui::keymap::SECTIONS;

    #[test]
    fn every_line_fits_an_80_column_terminal() {
        let inner = usize::from(WIDTH) - 2;
        let help = lines(SECTIONS);
        let key_w = key_width(&help);
        for line in help {
            let width = match line {
                HelpLine::Heading(title) => title.chars().count(),
                HelpLine::Keys { what, .. } => 1 + key_w + 2 + what.chars().count(),
            };
            assert!(width <= inner, "{line:?} is {width} wide, {inner} fit");
        }
    }

    #[test]
    fn scrolls_until_the_last_line_shows() {
        let total = lines(SECTIONS).len();
        assert_eq!(usize::from(max_scroll(SECTIONS, 24)), total - 20);
        assert_eq!(max_scroll(SECTIONS, 200), 0);
        assert_eq!(usize::from(max_scroll(SECTIONS, 1)), total);
    }
}
