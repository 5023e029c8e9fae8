//! Fitting cells to columns: numbers (ids, counts, cards) are never cut, so their columns take
//! the width of the widest value shown; only free text (errors, names, reasons) gives way, and
//! when it does it ends with `…`, cut at the end of a word where one is near.
use ratatui::layout::Constraint;
use unicode_width::UnicodeWidthStr;

/// Columns a text takes on a terminal (a CJK character takes two).
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// A column as wide as its header and the widest of `values`: numbers are shown whole.
pub fn exact<'a>(header: &str, values: impl IntoIterator<Item = &'a str>) -> u16 {
    values
        .into_iter()
        .map(width)
        .chain([width(header)])
        .max()
        .unwrap_or(0)
        .min(usize::from(u16::MAX)) as u16
}

/// The columns a table leaves to its last column: the table's inner width (`total`, borders
/// already taken off) minus the highlight symbol, the other columns and the spaces between.
pub fn rest(total: u16, highlight: u16, fixed: &[u16], spacing: u16) -> u16 {
    let taken: u32 = fixed.iter().map(|w| u32::from(*w)).sum::<u32>()
        + u32::from(spacing) * fixed.len() as u32
        + u32::from(highlight);
    u32::from(total).saturating_sub(taken) as u16
}

/// `Length` constraints for the fixed columns, then `Fill` for the text column.
pub fn constraints(fixed: &[u16]) -> Vec<Constraint> {
    fixed
        .iter()
        .map(|w| Constraint::Length(*w))
        .chain([Constraint::Fill(1)])
        .collect()
}

/// `text` in at most `max` columns: whole when it fits, else cut with `…` at the end, at the
/// end of a word when that keeps at least two thirds of the room.
pub fn ellipsis(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let room = max - 1;
    let mut out = String::new();
    let mut used = 0;
    let mut word_ends = false;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            word_ends = c == ' ';
            break;
        }
        used += w;
        out.push(c);
    }
    // Cut where a word ends, unless that throws away too much.
    if !word_ends {
        if let Some(i) = out.rfind(' ') {
            if width(&out[..i]) * 3 >= room * 2 {
                out.truncate(i);
            }
        }
    }
    let trimmed = out.trim_end_matches([' ', ',', ':', ';', '(']).len();
    out.truncate(trimmed);
    out.push('…');
    out
}

/// An error as a cell of `max` columns shows it: without the `outbox O, person P (subscription
/// S): ` the row already shows; when still too long, in its short wording, which puts the words
/// that tell similar causes apart first (`not mobile` / `invalid`), then cut with `…`.
pub fn error_cell(text: &str, max: usize) -> String {
    let text = crate::domain::failure::without_member(text);
    if width(text) <= max {
        return text.to_string();
    }
    ellipsis(&crate::domain::failure::brief(text), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_with_an_ellipsis_at_a_word_end() {
        assert_eq!(ellipsis("short", 10), "short");
        assert_eq!(
            ellipsis("invalid number (region SE)", 20),
            "invalid number…"
        );
        assert_eq!(ellipsis("abcdefghij", 5), "abcd…");
        assert_eq!(ellipsis("李小龍李小龍", 5), "李小…");
        assert_eq!(width(&ellipsis("李小龍李小龍", 5)), 5);
        assert_eq!(ellipsis("anything", 0), "");
    }

    #[test]
    fn errors_lose_the_member_then_take_their_short_wording() {
        let e =
            "person 87654321 (subscription 863): MobileNumber: not a mobile number for region SE";
        assert_eq!(
            error_cell(e, 80),
            "MobileNumber: not a mobile number for region SE"
        );
        assert_eq!(error_cell(e, 40), "MobileNumber: not mobile (region SE)");
        assert_eq!(error_cell(e, 25), "MobileNumber: not mobile…");
        let v = e.replace("mobile number", "valid number");
        assert_eq!(error_cell(&v, 25), "MobileNumber: invalid…");
        assert_eq!(
            error_cell("Digis rejected the member (HTTP 400): Invalid mobile #", 30),
            "Digis 400: Invalid mobile #"
        );
    }

    #[test]
    fn columns_take_their_widest_value() {
        assert_eq!(exact("id", ["1", "23456789"]), 8);
        assert_eq!(exact("person", ["7"]), 6);
        assert_eq!(rest(76, 2, &[8, 8], 1), 56);
        assert_eq!(rest(10, 2, &[8, 8], 1), 0);
    }
}
