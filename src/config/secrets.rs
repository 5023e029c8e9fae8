//! The configuration's secrets (docs/contracts.md, Configuration): which keys hold one, and error
//! messages that never repeat them. Where each comes from is `secret_files`.
use figment::error::{Actual, Kind};

/// Keys whose value is (or holds) a secret, dotted and in snake case.
pub const SECRET_KEYS: [&str; 4] = [
    "digis_url_postfix",
    "export.token",
    "export.metrics_token",
    "database_url",
];

pub fn is_secret(dotted: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(dotted))
}

/// What went wrong with a secret's value, in words that do not repeat it: figment's own
/// message quotes the value (`found unsigned int `12345678901234567890``).
pub fn message(kind: &Kind) -> String {
    const HIDDEN: &str = "(the value is not shown: it is a secret)";
    match kind {
        Kind::InvalidType(actual, expected) => format!(
            "must be {expected}, not {}: quote it in the file {HIDDEN}",
            actual_word(actual)
        ),
        Kind::InvalidValue(_, expected) => format!("must be {expected} {HIDDEN}"),
        Kind::InvalidLength(_, expected) => format!("must be {expected} {HIDDEN}"),
        _ => format!("is not valid {HIDDEN}"),
    }
}

pub(crate) fn actual_word(a: &Actual) -> &'static str {
    match a {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_quote_the_value() {
        let kind = Kind::InvalidType(
            Actual::Unsigned(12345678901234567890),
            "a string".to_string(),
        );
        let m = message(&kind);
        assert!(!m.contains("1234567890"), "{m}");
        assert!(m.contains("an integer") && m.contains("a string"), "{m}");
        assert!(is_secret("export.token") && is_secret("DIGIS_URL_POSTFIX"));
        assert!(!is_secret("export.listen"));
    }
}
