//! What a free-text search box holds (the dashboard's `/`): a subscription id, a card number, a
//! phone number, an e-mail address or a name, recognised by its shape. A prefix forces a kind:
//! `ExtInfo1:`, `ExtInfo20:`, `phone:`, `email:` (or `e-mail:`) and `name:`, in any case.
//!
//! Without a prefix:
//! - something with an `@` is an e-mail address;
//! - letters without digits are a name;
//! - digits only are a subscription id (without a leading zero), a card number, and, from
//!   eight digits on, also a phone number when they read as a valid one (`0701234567`);
//! - a `+`, a leading `00` or phone separators (`070-123 45 67`) make a phone number, and a card
//!   number too when the card rule allows it (`070-1234567`);
//! - letters with digits are a card number (`AB-1234`).
//!
//! Several readings are all searched; the caller shows those that found something.
use super::member::{EmailQuery, MemberQuery, NameQuery, PhoneQuery};
use super::SearchTerm;
use crate::domain::{CardNumber, SubscriptionId};
use crate::payload::phone::SEPARATORS;

/// Digits from which a bare number is also read as a phone number.
const PHONE_MIN_DIGITS: usize = 8;

/// Every reading of `input`, or why there is none (never repeating the input: it may be a
/// name). `default_region` is `payload.default_region`, for phone numbers.
pub fn readings(input: &str, default_region: &str) -> Result<Vec<SearchTerm>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(
            "type a subscription id, a card number, a phone number, an e-mail address or a name"
                .into(),
        );
    }
    if let Some(forced) = prefixed(s, default_region) {
        return forced.map(|t| vec![t]);
    }
    let member = |q: Result<MemberQuery, super::MemberKeyError>| {
        q.map(|q| vec![SearchTerm::Member(q)])
            .map_err(|e| e.to_string())
    };
    if s.contains('@') {
        return member(EmailQuery::parse(s).map(MemberQuery::Email));
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let has_letter = s.chars().any(char::is_alphabetic);
    if has_letter && digits == 0 {
        return member(NameQuery::parse(s).map(MemberQuery::Name));
    }

    let card = s.parse::<CardNumber>();
    let mut terms = Vec::new();
    if has_letter {
        return card.map(|c| vec![SearchTerm::Card(c)]).map_err(|e| {
            format!("not a card number (letters and digits), a name (letters only) or a phone number: {e}")
        });
    }
    let only_digits = s.bytes().all(|b| b.is_ascii_digit());
    if only_digits && !s.starts_with('0') {
        if let Ok(id) = s.parse::<SubscriptionId>() {
            terms.push(SearchTerm::Subscription(id));
        }
    }
    let card_error = match card {
        Ok(c) => {
            terms.push(SearchTerm::Card(c));
            None
        }
        Err(e) => Some(e),
    };
    let phone_like = s.starts_with('+')
        || s.starts_with("00")
        || s.chars().any(|c| SEPARATORS.contains(&c))
        || digits >= PHONE_MIN_DIGITS;
    if phone_like {
        match PhoneQuery::parse(s, default_region) {
            Ok(q) => terms.push(SearchTerm::Member(MemberQuery::Phone(q))),
            Err(e) if terms.is_empty() => return Err(e.to_string()),
            Err(_) => {}
        }
    }
    if terms.is_empty() {
        return Err(match card_error {
            Some(e) => format!(
                "not a subscription id (ExtInfo1), a card number (ExtInfo20), a phone number, an e-mail address or a name: {e}"
            ),
            None => "not recognised: prefix it with ExtInfo1:, ExtInfo20:, phone:, email: or name:".into(),
        });
    }
    Ok(terms)
}

/// The reading a prefix forces, if the input has one.
fn prefixed(s: &str, default_region: &str) -> Option<Result<SearchTerm, String>> {
    let strip = |prefix: &str| {
        s.get(..prefix.len())
            .filter(|h| h.eq_ignore_ascii_case(prefix))
            .map(|_| s[prefix.len()..].trim())
    };
    if strip("ExtInfo1:").is_some() || strip("ExtInfo20:").is_some() {
        return Some(s.parse::<SearchTerm>().map_err(|e| e.to_string()));
    }
    let member = |q: Result<MemberQuery, super::MemberKeyError>| {
        Some(q.map(SearchTerm::Member).map_err(|e| e.to_string()))
    };
    if let Some(v) = strip("phone:") {
        return member(PhoneQuery::parse(v, default_region).map(MemberQuery::Phone));
    }
    if let Some(v) = strip("email:").or_else(|| strip("e-mail:")) {
        return member(EmailQuery::parse(v).map(MemberQuery::Email));
    }
    if let Some(v) = strip("name:") {
        return member(NameQuery::parse(v).map(MemberQuery::Name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<&'static str> {
        readings(input, "SE")
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .iter()
            .map(SearchTerm::kind)
            .collect()
    }

    #[test]
    fn each_shape_is_recognised() {
        assert_eq!(kinds("863"), ["ext_info1", "ext_info20"]);
        assert_eq!(kinds("0701234567"), ["ext_info20", "phone"]);
        // 00 starts an international number, and +34 231451 is none: a card only.
        assert_eq!(kinds("0034231451"), ["ext_info20"]);
        assert_eq!(kinds("34231451"), ["ext_info1", "ext_info20"]);
        assert_eq!(kinds("AB-1234"), ["ext_info20"]);
        assert_eq!(kinds("070-123 45 67"), ["phone"]);
        assert_eq!(kinds("+46701234567"), ["phone"]);
        assert_eq!(kinds("0046 70 123 45 67"), ["phone"]);
        assert_eq!(kinds("070-1234567"), ["ext_info20", "phone"]);
        assert_eq!(kinds("Anna.Svensson@example.se"), ["email"]);
        assert_eq!(kinds("Åsa Lindström"), ["name"]);
        assert_eq!(kinds("anna"), ["name"]);
    }

    #[test]
    fn a_prefix_forces_the_kind() {
        assert_eq!(kinds("ExtInfo1:863"), ["ext_info1"]);
        assert_eq!(kinds("extinfo20: 0034"), ["ext_info20"]);
        assert_eq!(kinds("phone: 0701234567"), ["phone"]);
        assert_eq!(kinds("PHONE:+46701234567"), ["phone"]);
        assert_eq!(kinds("email: anna@example.se"), ["email"]);
        assert_eq!(kinds("E-mail:anna@example.se"), ["email"]);
        assert_eq!(kinds("name: AB"), ["name"]);
        assert_eq!(kinds("name:Anna 2"), ["name"]);
    }

    #[test]
    fn what_cannot_be_searched_says_why_without_repeating_it() {
        for bad in [
            "",
            "phone: 070-12",
            "email: anna",
            "anna@",
            "name: a",
            "Anna 07!",
        ] {
            let e = readings(bad, "SE").unwrap_err();
            assert!(!e.is_empty());
            if bad.len() > 4 {
                let value = bad.rsplit(':').next().unwrap().trim();
                assert!(!e.contains(value) || value.len() < 3, "{bad}: {e}");
            }
        }
    }
}
