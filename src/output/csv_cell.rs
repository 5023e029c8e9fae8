//! CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection). Used
//! by every CSV the relay writes: `report failures --csv` and the `DigisAllActive` export (CLI
//! and HTTP). The rule (docs/untrusted-edges.md):
//!
//! A cell *may start* at the start of the text and after any character a spreadsheet could
//! take for a separator or a line end: `,`, `;`, tab, CR, LF. The file's own separator is
//! quoted by the CSV writer, but a spreadsheet set to another one (`;` in much of Europe)
//! splits the quoted text there, so `Anna;=2+5` opens as `Anna` and the formula `=2+5`. Where
//! a cell may start, spaces aside, a `=`, `+`, `-` or `@` gets a `'` in front of it (OWASP's
//! guard), which spreadsheets read as "this is text". Nothing else changes: `Anna-Karin` and
//! `a@b.se` stay as they are (the character does not follow a separator).
use std::borrow::Cow;

/// What a spreadsheet may read as the start of a formula.
const FORMULA: [char; 4] = ['=', '+', '-', '@'];

/// After these a spreadsheet may start a new cell (separators of the common CSV dialects, and
/// line ends).
const SEPARATORS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// `text` with a `'` before every formula character that could start a cell (module comment).
/// Borrowed when nothing needs guarding, which is almost always.
pub fn guard(text: &str) -> Cow<'_, str> {
    if !needs_guard(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 2);
    let mut cell_start = true;
    for c in text.chars() {
        if cell_start && FORMULA.contains(&c) {
            out.push('\'');
        }
        out.push(c);
        cell_start = SEPARATORS.contains(&c) || (cell_start && c == ' ');
    }
    Cow::Owned(out)
}

fn needs_guard(text: &str) -> bool {
    let mut cell_start = true;
    for c in text.chars() {
        if cell_start && FORMULA.contains(&c) {
            return true;
        }
        cell_start = SEPARATORS.contains(&c) || (cell_start && c == ' ');
    }
    false
}

#[cfg(test)]
mod tests {
    use super::guard;

    #[test]
    fn a_formula_at_the_start_of_the_cell_is_text() {
        assert_eq!(guard("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard("+46 70"), "'+46 70");
        assert_eq!(guard("-2+3"), "'-2+3");
        assert_eq!(guard("@SUM(1)"), "'@SUM(1)");
        assert_eq!(guard("  =1+1"), "  '=1+1");
    }

    /// A spreadsheet splitting on another separator than the file's starts a cell there.
    #[test]
    fn a_formula_after_any_separator_is_text() {
        assert_eq!(guard("Anna;=2+5"), "Anna;'=2+5");
        assert_eq!(guard("Anna,=2+5"), "Anna,'=2+5");
        assert_eq!(guard("Anna\t=2+5"), "Anna\t'=2+5");
        assert_eq!(guard("a\r\n@x"), "a\r\n'@x");
        assert_eq!(guard("Lund; -1"), "Lund; '-1");
        assert_eq!(guard(";;=1;+2"), ";;'=1;'+2");
    }

    #[test]
    fn ordinary_values_are_left_alone() {
        for v in [
            "Anna-Karin",
            "anna+tag@example.se",
            "Storgatan 1 A",
            "0034231452",
            "",
            "1+1=2",
            "Åsa Ödmark",
        ] {
            assert!(
                matches!(guard(v), std::borrow::Cow::Borrowed(_)),
                "{v} was changed"
            );
        }
    }
}
