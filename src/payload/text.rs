//! The rules for host text sent to Digis (docs/how-it-works.md, "What is sent"). Host rows are
//! untrusted: a name may hold a pasted terminal escape, a NUL from a broken import, or ten thousand
//! characters. The rules, one per field, so Digis and support see the same text:
//! - surrounding whitespace is trimmed and an empty value is `null`;
//! - tab, CR and LF inside a value become a space (a pasted address keeps its words);
//! - any other control character (C0, DEL, C1: NUL, ESC, ...) fails the row naming the
//!   field: stripping it silently could join two words or hide a broken import;
//! - each field has a length cap in characters ([`MAX_TEXT`], [`MAX_EMAIL`], [`MAX_ZIP`]);
//!   longer fails the row: cutting a name would send a wrong one.
//!
//! Error messages say what is wrong and where, never the value (it is personal data).

/// Names, address, city, unit name.
pub const MAX_TEXT: usize = 200;
/// RFC 5321's limit for a whole address.
pub const MAX_EMAIL: usize = 254;
pub const MAX_ZIP: usize = 20;

/// A control character other than tab, CR and LF.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\r' | '\n')
}

/// Cleans one text field by the rules above.
pub fn field(value: Option<&str>, max_chars: usize) -> Result<Option<String>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Some((i, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_control(*c))
    {
        return Err(format!(
            "contains a control character (U+{:04X} at character {})",
            c as u32,
            i + 1
        ));
    }
    let spaced: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = spaced.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let n = trimmed.chars().count();
    if n > max_chars {
        return Err(format!("too long ({n} characters, at most {max_chars})"));
    }
    Ok(Some(trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_spaces_line_breaks_and_caps() {
        assert_eq!(field(Some("  Anna "), 10), Ok(Some("Anna".into())));
        assert_eq!(
            field(Some("Storgatan 1\r\nLgh 1102"), 50),
            Ok(Some("Storgatan 1  Lgh 1102".into()))
        );
        assert_eq!(field(Some(" \t\n"), 10), Ok(None));
        assert_eq!(field(None, 10), Ok(None));
        let e = field(Some(&"a".repeat(201)), 200).unwrap_err();
        assert_eq!(e, "too long (201 characters, at most 200)");
        assert_eq!(
            field(Some(&"å".repeat(200)), 200)
                .unwrap()
                .unwrap()
                .chars()
                .count(),
            200
        );
    }

    #[test]
    fn other_control_characters_fail_without_repeating_the_value() {
        for bad in ["An\0na", "\u{1b}[2JAnna", "Anna\u{7f}", "An\u{85}na"] {
            let e = field(Some(bad), 200).unwrap_err();
            assert!(e.starts_with("contains a control character"), "{e}");
            assert!(!e.contains("Anna") && !e.contains("An"), "{e}");
        }
    }
}
