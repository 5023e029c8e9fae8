//! Finding a person by what the caller knows: a phone number, an e-mail address or a name
//! (`search --phone/--email/--name`, and the dashboard's `/`).
//!
//! Each key is parsed once, at the edge, into a query that knows how to compare itself with a
//! `person` row. The database narrows the candidates coarsely ([`PersonFilter`], never missing
//! a person the exact rule would find) and the exact comparison happens here, on the rows it
//! hands back:
//! - **phone**: both sides are read with the payload's own rules (`payload::phone`: the same
//!   characters, libphonenumber, the same region fallback) and compared as (country calling
//!   code, national significant number). The typed number takes its region from an explicit `+`
//!   or `00`, else `payload.default_region`; a stored number from the person's calling code,
//!   address country, then the default, exactly as the payload reads it. So `070-123 45 67`,
//!   `+46701234567` and `0046 70 123 45 67` are one number. SQL narrows by the last seven digits
//!   of the national number, which every stored form ends in once its separators are removed:
//!   an index seek on the relay's person keys (`digis_person_key`, kept by the adapter's
//!   triggers), else a scan for them anywhere in the number.
//! - **e-mail**: validated like the payload validates (`email_address`), compared trimmed and
//!   case-insensitively (Unicode lower case). SQL narrows by the address trimmed and lower-cased
//!   (through the person keys when the adapter keeps them), handing over every address outside
//!   printable ASCII too.
//! - **name**: case- and accent-insensitive, partial, words in any order: both sides are folded
//!   ([`fold`]: `deunicode` transliterates to ASCII, so `Åsa` → `asa`, `Björn` → `bjorn`,
//!   `Jørgen` → `jorgen`, `Straße` → `strasse`; then lower case, apostrophes dropped, anything
//!   else that is not a letter or digit a word break), and every typed word must occur in the
//!   folded `first_name last_name`. A typed word holding a letter of another script than the
//!   Latin one (李, Иван) is not folded (`李` would become `li`, in every Lina's name) but
//!   compared as written, in lower case, with the name in lower case; the SQL narrowing hands
//!   over every name holding such a letter. SQL narrows by the longest typed word, after replacing the
//!   common accented letters ([`SQL_FOLDS`]) as `deunicode` does, and hands over every name that
//!   still holds a non-ASCII character for folding here.
//!
//! At most [`MAX_PERSONS`] persons are kept (lowest ids first); the report says when the list
//! was cut. Privacy: no query's `Debug`, `Display` or error repeats what was typed.
use std::fmt;

use crate::payload::phone::{self, NumberKey, PhoneError};
use crate::storage::{PersonFilter, PersonRow};

/// The most persons one search reports on. A name such as "anna" can match thousands: beyond
/// this the list is cut and the report says to narrow the search.
pub const MAX_PERSONS: usize = 50;
/// The longest name searched for, in characters (the payload's limit for a name).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest e-mail address searched for, in characters (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Trailing digits of the national number the database narrows by.
const NARROWING_DIGITS: usize = crate::storage::PHONE_KEY_DIGITS;

/// Why a typed key cannot be searched for. Never repeats the value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MemberKeyError {
    #[error("not a phone number to search for: {0}")]
    Phone(PhoneError),
    #[error("not an e-mail address to search for: {0}")]
    Email(&'static str),
    #[error("not a name to search for: {0}")]
    Name(&'static str),
}

/// A phone number as the payload reads it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneQuery {
    key: NumberKey,
    /// `payload.default_region`: how a stored number without a calling code or address
    /// country is read, as the payload reads it.
    default_region: String,
}

impl PhoneQuery {
    /// A valid phone number of any type (a landline stored by mistake is still found). Its
    /// region comes from an explicit `+` or `00`, else `default_region`.
    pub fn parse(typed: &str, default_region: &str) -> Result<Self, MemberKeyError> {
        let key = phone::valid_number_key(typed, default_region).map_err(MemberKeyError::Phone)?;
        Ok(Self {
            key,
            default_region: default_region.trim().to_string(),
        })
    }

    /// The region a number typed without `+` or `00` is read in.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    fn filter(&self) -> PersonFilter {
        let n = &self.key.national_number;
        PersonFilter::PhoneDigits(n[n.len().saturating_sub(NARROWING_DIGITS)..].to_string())
    }

    fn matches(&self, p: &PersonRow) -> bool {
        p.mobile_number
            .as_deref()
            .and_then(|n| {
                phone::number_key(
                    n,
                    p.mobile_country_code.as_deref(),
                    p.country_alpha2.as_deref(),
                    &self.default_region,
                )
                .ok()
            })
            .is_some_and(|k| k == self.key)
    }
}

impl fmt::Debug for PhoneQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneQuery(+{} <redacted>)", self.key.country_code)
    }
}

/// An e-mail address, compared trimmed and case-insensitively.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailQuery {
    lower: String,
}

impl EmailQuery {
    pub fn parse(typed: &str) -> Result<Self, MemberKeyError> {
        let t = typed.trim();
        if t.is_empty() {
            return Err(MemberKeyError::Email("it is empty"));
        }
        if t.chars().count() > MAX_EMAIL_CHARS {
            return Err(MemberKeyError::Email("longer than 254 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(MemberKeyError::Email("it holds a control character"));
        }
        if !crate::payload::is_valid_email(t) {
            return Err(MemberKeyError::Email(
                "expected name@example.se (one @, a domain with a dot)",
            ));
        }
        Ok(Self {
            lower: t.to_lowercase(),
        })
    }

    fn filter(&self) -> PersonFilter {
        PersonFilter::Email(self.lower.clone())
    }

    fn matches(&self, p: &PersonRow) -> bool {
        p.email
            .as_deref()
            .is_some_and(|e| e.trim().to_lowercase() == self.lower)
    }
}

impl fmt::Debug for EmailQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailQuery(<redacted>)")
    }
}

/// A name or part of one: every word must occur in the person's full name. A word in the Latin
/// alphabet is compared folded ([`fold`]: `asa` finds `Åsa`); a word holding a letter of another
/// script (李, Иван, Σοφία) is compared as written, in lower case, since transliterating it
/// would make it another name (`李` → `li`, which every Lina and Olivia holds).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NameQuery {
    words: Vec<NameWord>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum NameWord {
    /// Folded, found in the folded full name.
    Folded(String),
    /// As typed, in lower case, found in the full name in lower case.
    Written(String),
}

/// A letter outside the Latin alphabet: ASCII and the Latin blocks (Latin-1 Supplement, Latin
/// Extended-A/B, Latin Extended Additional) fold well; the rest are compared as written.
fn other_script(c: char) -> bool {
    c.is_alphabetic() && !c.is_ascii() && !matches!(c as u32, 0xC0..=0x24F | 0x1E00..=0x1EFF)
}

impl NameQuery {
    pub fn parse(typed: &str) -> Result<Self, MemberKeyError> {
        let t = typed.trim();
        if t.chars().count() > MAX_NAME_CHARS {
            return Err(MemberKeyError::Name("longer than 200 characters"));
        }
        if t.chars().any(char::is_control) {
            return Err(MemberKeyError::Name("it holds a control character"));
        }
        let mut words = Vec::new();
        let mut letters = 0;
        for w in t.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '`') {
            if w.chars().any(other_script) {
                let w = w.to_lowercase();
                // One character of a script like Chinese is a whole name.
                letters += 2 * w.chars().filter(|c| c.is_alphanumeric()).count();
                words.push(NameWord::Written(w));
            } else {
                for f in fold(w).split(' ').filter(|f| !f.is_empty()) {
                    letters += f.chars().filter(char::is_ascii_alphanumeric).count();
                    words.push(NameWord::Folded(f.to_string()));
                }
            }
        }
        if letters < 2 {
            return Err(MemberKeyError::Name("give at least two letters"));
        }
        Ok(Self { words })
    }

    fn filter(&self) -> PersonFilter {
        // A word as written narrows best (the SQL hands over every name holding another script
        // anyway); else the longest folded word.
        let written = self.words.iter().find_map(|w| match w {
            NameWord::Written(w) => Some(w.clone()),
            NameWord::Folded(_) => None,
        });
        let longest = || {
            self.words
                .iter()
                .filter_map(|w| match w {
                    NameWord::Folded(f) => Some(f),
                    NameWord::Written(_) => None,
                })
                .max_by_key(|w| w.len())
                .cloned()
                .unwrap_or_default()
        };
        PersonFilter::NameWord(written.unwrap_or_else(longest))
    }

    fn matches(&self, p: &PersonRow) -> bool {
        let full = format!(
            "{} {}",
            p.first_name.as_deref().unwrap_or_default(),
            p.last_name.as_deref().unwrap_or_default()
        );
        let folded = fold(&full);
        let written = full.to_lowercase();
        self.words.iter().all(|w| match w {
            NameWord::Folded(f) => folded.contains(f.as_str()),
            NameWord::Written(w) => written.contains(w.as_str()),
        })
    }
}

impl fmt::Debug for NameQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NameQuery(<redacted>)")
    }
}

/// The accented letters the database folds itself before narrowing a name search
/// (`persons_by_name.sql` spells each as a `replace()`; tests keep both in step with this list and
/// with `deunicode`). Names holding any other non-ASCII letter are all handed to [`fold`]: the
/// list only makes the common Nordic, German and French names cheap, never decides a match.
pub const SQL_FOLDS: [(char, &str); 14] = [
    ('å', "a"),
    ('ä', "a"),
    ('ö', "o"),
    ('ø', "o"),
    ('æ', "ae"),
    ('é', "e"),
    ('ü', "u"),
    ('Å', "A"),
    ('Ä', "A"),
    ('Ö', "O"),
    ('Ø', "O"),
    ('Æ', "AE"),
    ('É', "E"),
    ('Ü', "U"),
];

/// A name folded for comparison: transliterated to ASCII (`deunicode`), lower case, `'` and
/// `` ` `` dropped (`O'Brien` = `obrien`), every other run of non-alphanumerics one space.
/// The SQL narrowing (`persons_by_name.sql`) relies on this being the identity, bar case and
/// those rules, on printable ASCII.
pub fn fold(s: &str) -> String {
    let ascii = deunicode::deunicode(s);
    let mut out = String::with_capacity(ascii.len());
    let mut gap = false;
    for c in ascii.chars() {
        match c {
            '\'' | '`' => {}
            c if c.is_ascii_alphanumeric() => {
                if gap && !out.is_empty() {
                    out.push(' ');
                }
                gap = false;
                out.push(c.to_ascii_lowercase());
            }
            _ => gap = true,
        }
    }
    out
}

/// A phone number, an e-mail address or a name: what the caller knows about a person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberQuery {
    Phone(PhoneQuery),
    Email(EmailQuery),
    Name(NameQuery),
}

impl MemberQuery {
    /// What the database narrows by.
    pub fn filter(&self) -> PersonFilter {
        match self {
            MemberQuery::Phone(q) => q.filter(),
            MemberQuery::Email(q) => q.filter(),
            MemberQuery::Name(q) => q.filter(),
        }
    }

    /// The exact rule, on a candidate the database handed back.
    pub fn matches(&self, p: &PersonRow) -> bool {
        match self {
            MemberQuery::Phone(q) => q.matches(p),
            MemberQuery::Email(q) => q.matches(p),
            MemberQuery::Name(q) => q.matches(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PersonId;

    fn person(id: i64) -> PersonRow {
        PersonRow {
            id: PersonId(id),
            first_name: None,
            last_name: None,
            email: None,
            mobile_country_code: None,
            mobile_number: None,
            card_number: None,
            country_alpha2: None,
        }
    }

    fn named(first: &str, last: &str) -> PersonRow {
        PersonRow {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            ..person(1)
        }
    }

    fn with_number(number: &str, cc: Option<&str>, country: Option<&str>) -> PersonRow {
        PersonRow {
            mobile_number: Some(number.into()),
            mobile_country_code: cc.map(Into::into),
            country_alpha2: country.map(Into::into),
            ..person(1)
        }
    }

    #[test]
    fn the_three_typed_forms_find_the_same_member() {
        for stored in ["070-123 45 67", "+46701234567", "0046 70 123 45 67"] {
            let p = with_number(stored, Some("46"), Some("SE"));
            for typed in ["070-123 45 67", "+46701234567", "0046 70 123 45 67"] {
                let q = MemberQuery::Phone(PhoneQuery::parse(typed, "SE").unwrap());
                assert!(q.matches(&p), "{typed} against {stored}");
            }
        }
        let q = MemberQuery::Phone(PhoneQuery::parse("070-123 45 67", "SE").unwrap());
        assert!(!q.matches(&with_number("070-123 45 68", Some("46"), None)));
        assert!(!q.matches(&person(1)));
        // A Norwegian member's national number is Norwegian: the Swedish reading of the same
        // digits is another number, the +47 one is theirs.
        let norwegian = with_number("412 34 567", Some("47"), None);
        assert!(
            MemberQuery::Phone(PhoneQuery::parse("+47 412 34 567", "SE").unwrap())
                .matches(&norwegian)
        );
        assert!(
            !MemberQuery::Phone(PhoneQuery::parse("+47 412 34 568", "SE").unwrap())
                .matches(&norwegian)
        );
    }

    #[test]
    fn every_stored_form_holds_the_narrowing_digits() {
        let q = PhoneQuery::parse("+46 70 123 45 67", "SE").unwrap();
        let PersonFilter::PhoneDigits(d) = q.filter() else {
            panic!()
        };
        assert_eq!(d, "1234567");
        let strip = |s: &str| -> String {
            s.chars()
                .filter(|c| !phone::SEPARATORS.contains(c) && *c != '+')
                .collect()
        };
        for stored in [
            "070-123 45 67",
            "+46 (0)70 123 45 67",
            "0046 70 1234567",
            "070.123.45.67",
            "070/1234567",
            "070\u{a0}123 45 67",
        ] {
            assert!(
                q.matches(&with_number(stored, Some("46"), None)),
                "{stored}"
            );
            assert!(strip(stored).contains(&d), "{stored}");
        }
    }

    #[test]
    fn names_fold_case_and_accents() {
        assert_eq!(fold("Åsa"), "asa");
        assert_eq!(fold("ÅSA"), "asa");
        assert_eq!(fold("Björn"), "bjorn");
        assert_eq!(fold("Jørgen Ærø"), "jorgen aero");
        assert_eq!(fold("  Anna-Karin  O'Brien "), "anna karin obrien");
        assert_eq!(fold("Straße"), "strasse");
        let q = |t: &str| MemberQuery::Name(NameQuery::parse(t).unwrap());
        for (typed, first, last) in [
            ("Åsa", "asa", "Lind"),
            ("asa", "ÅSA", "Lind"),
            ("Björn", "Bjorn", "Berg"),
            ("bjorn", "Björn", "Berg"),
            ("sven", "Anna", "Svensson"),
            ("svensson anna", "Anna Maria", "Svensson"),
            ("obrien", "Pat", "O'Brien"),
            ("o'brien", "Pat", "OBrien"),
        ] {
            assert!(
                q(typed).matches(&named(first, last)),
                "{typed}: {first} {last}"
            );
        }
        assert!(!q("asa").matches(&named("Anna", "Berg")));
        assert!(!q("anna svensson").matches(&named("Anna", "Berg")));
        assert!(!q("anna").matches(&person(1)));
    }

    #[test]
    fn the_databases_fold_letters_as_deunicode_does() {
        for (c, ascii) in SQL_FOLDS {
            assert_eq!(deunicode::deunicode(&c.to_string()), ascii, "{c}");
        }
    }

    #[test]
    fn the_name_narrowing_word_is_the_longest_folded_word() {
        let q = NameQuery::parse("Åsa Lindström").unwrap();
        assert_eq!(q.filter(), PersonFilter::NameWord("lindstrom".into()));
    }

    #[test]
    fn emails_compare_trimmed_and_case_insensitively() {
        let q = MemberQuery::Email(EmailQuery::parse(" Anna.Svensson@Example.SE ").unwrap());
        let p = |e: &str| PersonRow {
            email: Some(e.into()),
            ..person(1)
        };
        assert!(q.matches(&p("anna.svensson@example.se")));
        assert!(q.matches(&p("  ANNA.SVENSSON@EXAMPLE.SE\t")));
        assert!(!q.matches(&p("anna.svensson@example.com")));
        assert_eq!(
            q.filter(),
            PersonFilter::Email("anna.svensson@example.se".into())
        );
        let non_ascii = MemberQuery::Email(EmailQuery::parse("ÅSA@example.se").unwrap());
        assert!(non_ascii.matches(&p("åsa@EXAMPLE.se")));
    }

    #[test]
    fn bad_keys_are_refused_without_repeating_them() {
        for (err, typed) in [
            (
                EmailQuery::parse("anna.svensson").unwrap_err(),
                "anna.svensson",
            ),
            (EmailQuery::parse("").unwrap_err(), ""),
            (NameQuery::parse("a").unwrap_err(), "a"),
            (NameQuery::parse("--").unwrap_err(), "--"),
            (NameQuery::parse("Anna\u{1b}[2J").unwrap_err(), "Anna"),
            (PhoneQuery::parse("070-12", "SE").unwrap_err(), "070-12"),
            (PhoneQuery::parse("anna", "SE").unwrap_err(), "anna"),
        ] {
            let text = format!("{err} {err:?}");
            if !typed.is_empty() && typed.len() > 2 {
                assert!(!text.contains(typed), "{text}");
            }
        }
        assert!(NameQuery::parse(&"a".repeat(201)).is_err());
        assert!(EmailQuery::parse(&format!("{}@example.se", "a".repeat(250))).is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!(
            "{:?} {:?} {:?} {:?}",
            PhoneQuery::parse("070-123 45 67", "SE").unwrap(),
            EmailQuery::parse("anna@example.se").unwrap(),
            NameQuery::parse("Anna Svensson").unwrap(),
            MemberQuery::Name(NameQuery::parse("Anna Svensson").unwrap()),
        );
        for secret in ["701234567", "1234567", "anna", "svensson", "example"] {
            assert!(!text.to_lowercase().contains(secret), "{text}");
        }
    }
}
