//! Mobile numbers as staff type them, read with libphonenumber's rules (the `phonenumber`
//! crate), never with a regex.
//!
//! The region a national number is read in comes from the person's calling code
//! (`mobile_country_code`), else the address country, else the configured default (docs/contracts.md,
//! Payload). An explicit `+` or `00` prefix in the number itself always wins over all three, so a
//! Norwegian number typed as `+47 412 34 567` is Norwegian even when the calling-code column says
//! 46.
//!
//! Privacy: no error and no `Debug` output here contains the number itself; errors end up in
//! logs and in the database.
use std::fmt;

use phonenumber::country::{Id, Source};
use phonenumber::metadata::{Metadata, DATABASE};
use phonenumber::{ParseError, PhoneNumber};

/// ISO 3166-1 alpha-2 (case-insensitive, surrounding whitespace ignored) to the phonenumber
/// crate's region id. `None` when it is not two letters or the crate has no such region.
pub fn parse_region(code: &str) -> Option<Id> {
    let code = code.trim();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let code = code.to_ascii_uppercase();
    // The id must also have metadata, or parsing in it would fail later with a worse message.
    DATABASE.by_id(code.as_str())?;
    code.parse().ok()
}

/// The main region of a country calling code such as `46` → SE, `1` → US, `44` → GB,
/// `358` → FI. Lenient about how staff typed it: `+46`, `0046` and ` 46 ` all work. `None`
/// for anything else, and for the non-geographic codes (+800, +882, ...).
pub fn region_for_calling_code(calling_code: &str) -> Option<Id> {
    let code = calling_code.trim();
    let code = code.strip_prefix('+').map(str::trim_start).unwrap_or(code);
    let code = code.strip_prefix("00").unwrap_or(code);
    if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u16 = code.parse().ok()?;
    let regions = DATABASE.region(&value)?;
    let main = match regions.as_slice() {
        [only] => *only,
        several => several
            .iter()
            .copied()
            .find(|r| {
                DATABASE
                    .by_id(*r)
                    .is_some_and(|m| m.is_main_country_for_code())
            })
            .or_else(|| several.first().copied())?,
    };
    // Non-geographic entities have the id "001", which is not a region.
    main.parse().ok()
}

/// A valid mobile number split the way Digis wants it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mobile {
    /// The country calling code, digits only, e.g. `"46"`.
    pub country_code: String,
    /// The national significant number, digits only, without the trunk 0, e.g. `"701234567"`.
    pub national_number: String,
}

/// Redacted: the national number is personal data and `Debug` output ends up in logs.
impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mobile")
            .field("country_code", &self.country_code)
            .field("national_number", &"<redacted>")
            .finish()
    }
}

/// Why a mobile number cannot be used. The messages never contain the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no mobile number")]
    Missing,
    #[error("not a phone number: {0}")]
    Unparsable(String),
    /// A letter where a digit belongs (`07O1234008`: the letter O): libphonenumber would
    /// read it as a vanity number or report "no digits", neither of which says what to fix.
    #[error("contains a letter at character {0}: a phone number is digits, spaces, '-', '(', ')', '.', '/' and a leading '+'")]
    Letter(usize),
    #[error("contains a character that does not belong in a phone number (U+{code:04X} at character {at})")]
    BadCharacter { at: usize, code: u32 },
    #[error("too long to be a phone number ({0} characters)")]
    TooLong(usize),
    #[error("not a valid number for region {region}")]
    Invalid { region: String },
    #[error("not a mobile number for region {region}")]
    NotMobile { region: String },
}

/// Reads a mobile number as typed by staff (`070-123 45 67`, `+46701234567`,
/// `0046 70 1234567`, `070 1234567`, `701234567`, `+47 412 34 567`, ...).
///
/// Region for a national number: `calling_code` (digits, e.g. `"46"`, mapped to its main
/// region), else `address_country` (alpha-2), else `default_region` (alpha-2). A calling code
/// or country that is not recognised counts as absent. The number must be valid and a mobile
/// number, or fixed-line-or-mobile where the numbering plan cannot tell the two apart (e.g. US).
pub fn parse_mobile(
    number: &str,
    calling_code: Option<&str>,
    address_country: Option<&str>,
    default_region: &str,
) -> Result<Mobile, PhoneError> {
    let parsed = read(number, calling_code, address_country, default_region)?;
    match mobile_kind(&parsed) {
        Kind::Invalid => {
            return Err(PhoneError::Invalid {
                region: region_label(&parsed),
            })
        }
        Kind::NotMobile => {
            return Err(PhoneError::NotMobile {
                region: region_label(&parsed),
            })
        }
        Kind::Mobile => {}
    }
    Ok(Mobile {
        country_code: parsed.code().value().to_string(),
        // Display keeps the leading zeros that are part of the significant number (Italy).
        national_number: parsed.national().to_string(),
    })
}

/// A number reduced to what identifies it: country calling code and national significant
/// number, as [`parse_mobile`] reads it. Search compares these, so `070-123 45 67`,
/// `+46701234567` and `0046 70 123 45 67` are one number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NumberKey {
    pub country_code: u16,
    /// Digits only, without the trunk 0, leading zeros that belong to the number kept.
    pub national_number: String,
}

/// Redacted: the national number is personal data and `Debug` output ends up in logs.
impl fmt::Debug for NumberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NumberKey")
            .field("country_code", &self.country_code)
            .field("national_number", &"<redacted>")
            .finish()
    }
}

/// The key of any number that reads with the payload's rules (same characters, same region
/// fallback), valid or not, mobile or not: a landline stored by mistake is still found by a
/// search for it.
pub fn number_key(
    number: &str,
    calling_code: Option<&str>,
    address_country: Option<&str>,
    default_region: &str,
) -> Result<NumberKey, PhoneError> {
    let parsed = read(number, calling_code, address_country, default_region)?;
    Ok(key_of(&parsed))
}

/// The key of a number that must be a valid phone number (of any type): what an operator
/// types to search by.
pub fn valid_number_key(number: &str, default_region: &str) -> Result<NumberKey, PhoneError> {
    let parsed = read(number, None, None, default_region)?;
    if !parsed.is_valid() {
        return Err(PhoneError::Invalid {
            region: region_label(&parsed),
        });
    }
    Ok(key_of(&parsed))
}

fn key_of(parsed: &PhoneNumber) -> NumberKey {
    NumberKey {
        country_code: parsed.code().value(),
        national_number: parsed.national().to_string(),
    }
}

/// The number read in its region: the characters checked, the region chosen (calling code,
/// address country, default; an explicit `+` or `00` wins), nothing about validity yet.
fn read(
    number: &str,
    calling_code: Option<&str>,
    address_country: Option<&str>,
    default_region: &str,
) -> Result<PhoneNumber, PhoneError> {
    let number = number.trim();
    if number.is_empty() {
        return Err(PhoneError::Missing);
    }
    check_characters(number)?;
    let region = calling_code
        .and_then(region_for_calling_code)
        .or_else(|| address_country.and_then(parse_region))
        .or_else(|| parse_region(default_region));

    Ok(
        match (parse_in(region, number), international_with_00(number)) {
            (Ok(parsed), _) if is_international(&parsed) => {
                reparse_in_own_region(parsed, region, number)
            }
            // `00` is the international prefix across Europe, but not in every region (011 in
            // North America, 0011 in Australia): when the region did not read the `00` as one,
            // an explicit `00<country code>` still wins if it gives a valid number.
            (first, Some(plus)) => match phonenumber::parse(None, &plus) {
                Ok(alt) if alt.is_valid() => reparse_in_own_region(alt, None, &plus),
                _ => first?,
            },
            (first, None) => first?,
        },
    )
}

/// The number's own region (which may not be the one it was read in: `+47 ...`), else the
/// main region of its calling code, else the bare calling code.
fn region_label(parsed: &PhoneNumber) -> String {
    let code = parsed.code().value();
    parsed
        .country()
        .id()
        .or_else(|| region_for_calling_code(&code.to_string()))
        .map(|id| id.as_ref().to_string())
        .unwrap_or_else(|| format!("+{code}"))
}

/// The longest typed number read: the longest valid number is 15 digits (E.164), plus room
/// for `00`, spaces and separators.
pub const MAX_TYPED_LEN: usize = 40;

/// What may stand between the digits of a typed number (besides a leading `+`). Search narrows
/// candidates in SQL by removing exactly these (`persons_by_phone.sql`; a test there keeps the
/// lists in step).
pub const SEPARATORS: [char; 7] = [' ', '-', '(', ')', '.', '/', '\u{a0}'];

/// What a typed number may hold before libphonenumber reads it.
fn check_characters(number: &str) -> Result<(), PhoneError> {
    let n = number.chars().count();
    if n > MAX_TYPED_LEN {
        return Err(PhoneError::TooLong(n));
    }
    for (i, c) in number.chars().enumerate() {
        match c {
            '0'..='9' => {}
            c if SEPARATORS.contains(&c) => {}
            '+' if i == 0 => {}
            c if c.is_alphabetic() => return Err(PhoneError::Letter(i + 1)),
            c => {
                return Err(PhoneError::BadCharacter {
                    at: i + 1,
                    code: c as u32,
                })
            }
        }
    }
    Ok(())
}

fn is_international(parsed: &PhoneNumber) -> bool {
    matches!(parsed.code().source(), Source::Plus | Source::Idd)
}

/// The crate reads a `+47 ...` number with the metadata of the region it was given (national
/// prefix, carrier codes), not with Norway's, which can eat a leading 0 that belongs to the
/// number (`+39 06 ...` in SE). Parse again in the number's own region when that differs, and
/// keep the second reading only if it still sees the same explicit country code.
fn reparse_in_own_region(parsed: PhoneNumber, region: Option<Id>, number: &str) -> PhoneNumber {
    let code = parsed.code().value();
    let Some(own) = region_for_calling_code(&code.to_string()) else {
        return parsed;
    };
    if region == Some(own) {
        return parsed;
    }
    match phonenumber::parse(Some(own), number) {
        Ok(again) if again.code().value() == code && is_international(&again) => again,
        _ => parsed,
    }
}

/// What [`parse_mobile`] needs to know of a number, in one pass over its region's patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not a number of its region's plan (`PhoneNumber::is_valid`).
    Invalid,
    NotMobile,
    /// Mobile, or fixed-line-or-mobile whose mobile pattern matches it too.
    Mobile,
}

/// `is_valid` is libphonenumber's `number_type != Unknown`, and the mobile check asked the same
/// patterns again (general, eight special services, mobile), so each payload ran about twenty
/// regexes where ten answer both (the phone was 13 % of the relay's CPU in a drain, decision
/// 0061). Valid: the general pattern and one of the types, in the region `is_valid` picks;
/// mobile: the general pattern, none of the special services, and the mobile pattern, as
/// before. The patterns see the national number as written, leading zeros kept (Italy's
/// landlines): the crate's `PhoneNumber::number_type` and `metadata` drop them, so neither is
/// used here.
fn mobile_kind(parsed: &PhoneNumber) -> Kind {
    let nsn = parsed.national().to_string();
    let code = parsed.code().value();
    let Some(regions) = DATABASE.region(&code) else {
        return Kind::Invalid;
    };
    // The region is found as `is_valid` finds it: the only one of the calling code, or the first
    // whose leading digits start the number, or else the first whose plan has it. That last
    // search classifies the number already, so its answer is the one returned.
    if let [only] = regions[..] {
        let meta = if only == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            DATABASE.by_id(only)
        };
        return meta.map_or(Kind::Invalid, |meta| kind_in(meta, &nsn));
    }
    regions
        .into_iter()
        .filter_map(|r| DATABASE.by_id(r))
        .find_map(|meta| match meta.leading_digits() {
            Some(digits) => digits
                .find(&nsn)
                .is_some_and(|m| m.start() == 0)
                .then(|| kind_in(meta, &nsn)),
            None => Some(kind_in(meta, &nsn)).filter(|k| *k != Kind::Invalid),
        })
        .unwrap_or(Kind::Invalid)
}

/// libphonenumber's order, on the whole significant number (the crate's `number_type` drops its
/// leading zeros, and mobile numbers in Côte d'Ivoire start with 0): a special-rate or other
/// non-personal type first, then mobile (or fixed-line-or-mobile where the plan cannot tell),
/// then fixed line; none of them is a number the plan does not have.
fn kind_in(meta: &Metadata, nsn: &str) -> Kind {
    let d = meta.descriptors();
    let matches =
        |desc: Option<&phonenumber::metadata::Descriptor>| desc.is_some_and(|x| x.is_match(nsn));
    if !d.general().is_match(nsn) {
        return Kind::Invalid;
    }
    let special = [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .any(matches);
    if special {
        Kind::NotMobile
    } else if matches(d.mobile()) {
        Kind::Mobile
    } else if matches(d.fixed_line()) {
        Kind::NotMobile
    } else {
        Kind::Invalid
    }
}

fn parse_in(region: Option<Id>, number: &str) -> Result<PhoneNumber, PhoneError> {
    phonenumber::parse(region, number).map_err(|e| {
        let reason = match e {
            ParseError::NoNumber => "no digits to read",
            ParseError::InvalidCountryCode if region.is_none() => {
                "no country to read it in (no calling code, address country or default region, \
                 and no + prefix)"
            }
            ParseError::InvalidCountryCode => "unknown country calling code",
            ParseError::TooShortAfterIdd => "too short after the international prefix",
            ParseError::TooShortNsn => "too short",
            ParseError::TooLong => "too long",
            // The crate's own text for this one quotes the integer error; keep a fixed text.
            ParseError::MalformedInteger(_) => "malformed digits",
        };
        PhoneError::Unparsable(reason.to_string())
    })
}

/// `0046 70-123` → `+46 70-123`: the number written with `00` before its country code, as
/// `+`. `None` when it does not start with `00` (ignoring spaces and punctuation) or already
/// has a `+`.
fn international_with_00(number: &str) -> Option<String> {
    let mut rest = number.trim_start();
    let mut zeros = 0;
    while zeros < 2 {
        let c = rest.chars().next()?;
        match c {
            '0' => zeros += 1,
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
        rest = &rest[c.len_utf8()..];
    }
    let rest = rest.trim_start();
    // `000...` is no international prefix.
    if rest.starts_with('0') {
        return None;
    }
    Some(format!("+{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two checks `parse_mobile` made before decision 0061: `is_valid`, then the mobile
    /// descriptors one by one. Kept here as the reference `mobile_kind` must agree with; its list
    /// of special services is written out again, not shared, so one left out of either shows.
    fn kind_as_before(parsed: &PhoneNumber) -> Kind {
        if !parsed.is_valid() {
            return Kind::Invalid;
        }
        let Some(meta) = parsed.metadata(&DATABASE) else {
            return Kind::NotMobile;
        };
        let d = meta.descriptors();
        let nsn = parsed.national().to_string();
        let matches = |desc: Option<&phonenumber::metadata::Descriptor>| {
            desc.is_some_and(|x| x.is_match(&nsn))
        };
        let mobile = d.general().is_match(&nsn)
            && ![
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .any(matches)
            && matches(d.mobile());
        if mobile {
            Kind::Mobile
        } else {
            Kind::NotMobile
        }
    }

    /// Every region's example number of every type, and each of them one digit shorter, one
    /// longer and with its first digit changed: `mobile_kind`'s one pass classifies each as the
    /// two checks did.
    #[test]
    fn one_pass_classifies_every_example_number_as_the_two_checks_did() {
        let mut compared = 0;
        let mut mobiles = 0;
        let mut kinds = std::collections::HashSet::new();
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|x| x.example());
            for example in examples {
                let mut variants = vec![example.to_string(), format!("{example}7")];
                if example.len() > 1 {
                    variants.push(example[..example.len() - 1].to_string());
                    let first = if example.starts_with('9') { "1" } else { "9" };
                    variants.push(format!("{first}{}", &example[1..]));
                }
                for national in variants {
                    let text = format!("+{} {national}", meta.country_code());
                    let Ok(parsed) = phonenumber::parse(None, &text) else {
                        continue;
                    };
                    let (now, before) = (mobile_kind(&parsed), kind_as_before(&parsed));
                    assert_eq!(now, before, "{text} ({})", meta.id());
                    compared += 1;
                    mobiles += usize::from(now == Kind::Mobile);
                    kinds.insert(format!("{now:?}"));
                }
            }
        }
        // Enough numbers of each answer that a difference would have shown.
        assert!(compared > 2_000, "{compared}");
        assert!(mobiles > 200, "{mobiles}");
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }

    fn se(number: &str) -> Result<Mobile, PhoneError> {
        parse_mobile(number, Some("46"), Some("SE"), "SE")
    }

    fn mobile(cc: &str, nsn: &str) -> Mobile {
        Mobile {
            country_code: cc.into(),
            national_number: nsn.into(),
        }
    }

    #[test]
    fn parse_region_is_case_insensitive_and_trims() {
        assert_eq!(parse_region("SE"), Some(Id::SE));
        assert_eq!(parse_region(" se "), Some(Id::SE));
        assert_eq!(parse_region("Fi"), Some(Id::FI));
        assert_eq!(parse_region("no"), Some(Id::NO));
        assert_eq!(parse_region("XX"), None);
        assert_eq!(parse_region("UK"), None);
        assert_eq!(parse_region("SWE"), None);
        assert_eq!(parse_region(""), None);
        assert_eq!(parse_region("46"), None);
        assert_eq!(parse_region("Å1"), None);
    }

    #[test]
    fn calling_codes_map_to_their_main_region() {
        assert_eq!(region_for_calling_code("46"), Some(Id::SE));
        assert_eq!(region_for_calling_code("358"), Some(Id::FI));
        assert_eq!(region_for_calling_code("47"), Some(Id::NO));
        assert_eq!(region_for_calling_code("1"), Some(Id::US));
        assert_eq!(region_for_calling_code("44"), Some(Id::GB));
        assert_eq!(region_for_calling_code("7"), Some(Id::RU));
        assert_eq!(region_for_calling_code(" +46 "), Some(Id::SE));
        assert_eq!(region_for_calling_code("0046"), Some(Id::SE));
        assert_eq!(region_for_calling_code("800"), None);
        assert_eq!(region_for_calling_code("999"), None);
        assert_eq!(region_for_calling_code("SE"), None);
        assert_eq!(region_for_calling_code(""), None);
    }

    #[test]
    fn staff_typed_swedish_forms() {
        let want = mobile("46", "701234567");
        for typed in [
            "070-123 45 67",
            "+46701234567",
            "+46 70-123 45 67",
            "+46 (0)70 123 45 67",
            "0046 70 1234567",
            "0046701234567",
            "070 1234567",
            "0701234567",
            "701234567",
            " 070.123.45.67 ",
            "46701234567",
        ] {
            assert_eq!(se(typed), Ok(want.clone()), "{typed}");
        }
    }

    #[test]
    fn region_falls_back_to_address_country_then_default() {
        let want = mobile("46", "701234567");
        assert_eq!(
            parse_mobile("070-123 45 67", None, Some("se"), "NO"),
            Ok(want.clone())
        );
        assert_eq!(
            parse_mobile("070-123 45 67", None, None, "SE"),
            Ok(want.clone())
        );
        // An unknown calling code or country counts as absent.
        assert_eq!(
            parse_mobile("070-123 45 67", Some("abc"), Some("XX"), "SE"),
            Ok(want)
        );
        // The calling code wins over the address country.
        assert_eq!(
            parse_mobile("412 34 567", Some("47"), Some("SE"), "SE"),
            Ok(mobile("47", "41234567"))
        );
    }

    #[test]
    fn explicit_international_prefix_wins_over_the_calling_code() {
        assert_eq!(se("+47 412 34 567"), Ok(mobile("47", "41234567")));
        assert_eq!(se("0047 412 34 567"), Ok(mobile("47", "41234567")));
        assert_eq!(se("+358 40 1234567"), Ok(mobile("358", "401234567")));
        assert_eq!(se("00358 40 1234567"), Ok(mobile("358", "401234567")));
        // Finland's calling code, national form with its trunk 0.
        assert_eq!(
            parse_mobile("040 1234567", Some("358"), Some("SE"), "SE"),
            Ok(mobile("358", "401234567"))
        );
        // 00 where the region's own international prefix is 011.
        assert_eq!(
            parse_mobile("0046 70 123 45 67", Some("1"), None, "SE"),
            Ok(mobile("46", "701234567"))
        );
    }

    #[test]
    fn fixed_line_or_mobile_is_accepted_where_the_plan_cannot_tell() {
        assert_eq!(
            parse_mobile("+1 520 878 2491", None, None, "SE"),
            Ok(mobile("1", "5208782491"))
        );
    }

    #[test]
    fn landline_is_not_a_mobile_number() {
        let err = se("08-123 456 78").unwrap_err();
        assert_eq!(
            err,
            PhoneError::NotMobile {
                region: "SE".into()
            }
        );
        assert_eq!(err.to_string(), "not a mobile number for region SE");
        assert_eq!(
            se("+46 8 123 456 78").unwrap_err(),
            PhoneError::NotMobile {
                region: "SE".into()
            }
        );
    }

    #[test]
    fn missing_unparsable_and_invalid() {
        assert_eq!(se(""), Err(PhoneError::Missing));
        assert_eq!(se("   \t"), Err(PhoneError::Missing));
        // A letter is named as such: "no digits to read" did not say what to fix.
        assert_eq!(se("n/a"), Err(PhoneError::Letter(1)));
        assert_eq!(se("07O1234008"), Err(PhoneError::Letter(3)));
        assert!(se("07O1234008")
            .unwrap_err()
            .to_string()
            .starts_with("contains a letter at character 3"));
        assert_eq!(
            se("070\u{1b}1234567"),
            Err(PhoneError::BadCharacter { at: 4, code: 0x1b })
        );
        assert_eq!(se(&"7".repeat(10_000)), Err(PhoneError::TooLong(10_000)));
        assert!(matches!(
            se("++46"),
            Err(PhoneError::BadCharacter { at: 2, .. })
        ));
        // Too few or too many digits for a Swedish mobile number.
        for typed in ["12", "070-123", "070-123 45 67 89 01", "+46 70 123"] {
            let err = se(typed).unwrap_err();
            assert!(
                matches!(err, PhoneError::Invalid { .. } | PhoneError::Unparsable(_)),
                "{typed}: {err:?}"
            );
        }
        assert_eq!(
            se("070-123").unwrap_err(),
            PhoneError::Invalid {
                region: "SE".into()
            }
        );
        assert_eq!(
            se("+47 123").unwrap_err().to_string(),
            "not a valid number for region NO"
        );
        // Valid, but premium rate.
        assert_eq!(
            se("+46 99 999 99 99").unwrap_err(),
            PhoneError::NotMobile {
                region: "SE".into()
            }
        );
    }

    #[test]
    fn foreign_numbers_are_read_with_their_own_rules() {
        // Italian mobile numbers have no trunk prefix; fixed lines keep their leading 0.
        assert_eq!(se("+39 312 345 6789"), Ok(mobile("39", "3123456789")));
        assert_eq!(
            se("+39 06 1234 5678").unwrap_err(),
            PhoneError::NotMobile {
                region: "IT".into()
            }
        );
        // Côte d'Ivoire: the leading 0 is part of the mobile number, not a trunk prefix.
        assert_eq!(se("+225 07 01 23 45 67"), Ok(mobile("225", "0701234567")));
        assert_eq!(se("+44 7911 123456"), Ok(mobile("44", "7911123456")));
        assert_eq!(se("+49 1512 3456789"), Ok(mobile("49", "15123456789")));
    }

    #[test]
    fn national_number_without_any_region_is_unparsable() {
        let err = parse_mobile("070-123 45 67", None, None, "").unwrap_err();
        assert!(matches!(err, PhoneError::Unparsable(_)), "{err:?}");
        // ...but an international one still works.
        assert_eq!(
            parse_mobile("+46 70 123 45 67", None, None, ""),
            Ok(mobile("46", "701234567"))
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_number() {
        let typed = [
            "08-123 456 78",
            "070-123",
            "+46 99 999 99 99",
            "hello 070",
            "070-123 45 67 89 01",
        ];
        for t in typed {
            if let Err(e) = se(t) {
                let text = format!("{e} {e:?}");
                let digits: String = t.chars().filter(char::is_ascii_digit).collect();
                assert!(!text.contains(t), "{text}");
                assert!(!text.contains(&digits), "{text}");
                assert!(!text.contains("12345"), "{text}");
            }
        }
        let m = se("070-123 45 67").unwrap();
        let debug = format!("{m:?}");
        assert!(!debug.contains("701234567"), "{debug}");
        assert!(debug.contains("46"), "{debug}");
    }

    #[test]
    fn number_keys_equal_across_typed_forms() {
        let key = |t: &str| number_key(t, Some("46"), Some("SE"), "SE").unwrap();
        let want = key("070-123 45 67");
        for typed in [
            "+46701234567",
            "0046 70 123 45 67",
            "070 1234567",
            "701234567",
        ] {
            assert_eq!(key(typed), want, "{typed}");
        }
        assert_eq!(want.country_code, 46);
        assert_eq!(want.national_number, "701234567");
        // The operator's side: no calling code, the default region.
        for typed in ["070-123 45 67", "+46701234567", "0046 70 123 45 67"] {
            assert_eq!(valid_number_key(typed, "SE").unwrap(), want, "{typed}");
        }
        // A landline has a key (a search finds it), though it is no mobile.
        assert_eq!(key("08-123 456 78").national_number, "812345678");
        // The person's calling code decides how a national number is read.
        assert_eq!(
            number_key("412 34 567", Some("47"), None, "SE").unwrap(),
            valid_number_key("+47 412 34 567", "SE").unwrap()
        );
        assert_ne!(key("070-123 45 68"), want);
    }

    #[test]
    fn a_search_number_must_be_valid_and_is_never_shown() {
        assert_eq!(
            valid_number_key("070-123", "SE").unwrap_err(),
            PhoneError::Invalid {
                region: "SE".into()
            }
        );
        assert_eq!(valid_number_key("", "SE").unwrap_err(), PhoneError::Missing);
        assert_eq!(
            valid_number_key("anna", "SE").unwrap_err(),
            PhoneError::Letter(1)
        );
        let debug = format!("{:?}", valid_number_key("070-123 45 67", "SE").unwrap());
        assert!(!debug.contains("701234567"), "{debug}");
    }

    #[test]
    fn the_00_rewrite() {
        assert_eq!(international_with_00("0046 70"), Some("+46 70".into()));
        assert_eq!(international_with_00(" 00 47 4"), Some("+47 4".into()));
        assert_eq!(international_with_00("070 123"), None);
        assert_eq!(international_with_00("+46"), None);
        assert_eq!(international_with_00("000 12"), None);
        assert_eq!(international_with_00("0"), None);
    }
}
