//! Property tests: any member row gives either a per-field error or a payload that keeps the
//! contract (docs/contracts.md, Payload), and phone normalisation never panics and gives digits only.
use proptest::prelude::*;

use super::phone::parse_mobile;
use super::*;

/// Text as hosts hold it: plain, any Unicode (control characters included), long.
fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "[ -~]{0,24}",
        ".{0,12}",
        "[\\x00-\\x1f\\x7f ]{0,4}[a-zA-Zåäö]{1,8}[\\x00-\\x1f ]{0,4}",
        "a{195,260}",
    ])
}

fn phone() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "0?7[0-9]{8}",
        "(\\+|00)46 ?7[0-9] ?[0-9]{3} ?[0-9]{2} ?[0-9]{2}",
        "07[0-9O]{8}",
        ".{0,20}",
    ])
}

fn date() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        "(18|19|20|21)[0-9]{2}-[01][0-9]-[0-3][0-9]",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}( 00:00:00)?",
        ".{0,12}",
    ])
}

fn member() -> impl Strategy<Value = MemberRow> {
    (
        (any::<i64>(), any::<i64>(), prop::option::of(any::<i64>())),
        (text(), text(), date(), text(), text()),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of("[0-9]{0,4}|.{0,4}"),
            phone(),
        ),
        (
            prop::option::of("[0-9A-Za-z -]{0,70}|.{0,8}"),
            text(),
            text(),
            text(),
            text(),
            prop::option::of("[a-zA-Z]{2}|.{0,3}"),
            date(),
        ),
    )
        .prop_map(
            |(
                (s, p, unit),
                (first, last, dob, sex, email),
                (allow_email, allow_sms, cc, mobile),
                (card, unit_name, street, zip, city, country, max_end),
            )| MemberRow {
                subscription_id: s,
                person_id: p,
                subscription_status: "ACTIVE".into(),
                start_date: Some("2026-01-01".into()),
                max_end,
                first_name: first,
                last_name: last,
                birth_date: dob,
                sex,
                email,
                allow_email,
                allow_sms,
                mobile_country_code: cc,
                mobile_number: mobile,
                card_number: card,
                unit_id: unit,
                unit_name,
                street_address: street,
                postal_code: zip,
                postal_city: city,
                country_alpha2: country,
            },
        )
}

fn clean_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[ \\ta-zA-Z0-9åäöÅÄÖé'\"@.,-]{0,40}")
}

/// Rows that mostly build, so the payload side of the property is exercised too.
fn plausible_member() -> impl Strategy<Value = MemberRow> {
    (
        member(),
        (1..i64::MAX, 1..i64::MAX, prop::option::of(1..i64::MAX)),
        ("7[0-9]{8}", "[0-9A-Z-]{1,20}"),
        (clean_text(), clean_text(), clean_text(), clean_text()),
        (clean_text(), clean_text(), clean_text()),
        (
            prop::option::of("19[0-9]{2}-0[1-9]-1[0-9]"),
            prop::option::of("20[2-9][0-9]-1[0-2]-2[0-8]"),
            prop::option::of("SE|se|NO| fi |X"),
        ),
    )
        .prop_map(
            |(mut m, (s, p, unit), (mobile, card), (f, l, e, st), (z, c, un), (dob, end, cc))| {
                m.subscription_id = s;
                m.person_id = p;
                m.unit_id = unit;
                m.mobile_country_code = Some("46".into());
                m.mobile_number = Some(format!("0{mobile}"));
                m.card_number = Some(card);
                m.first_name = f;
                m.last_name = l;
                m.email = e;
                m.street_address = st;
                m.postal_code = z.map(|z| z.chars().take(20).collect());
                m.postal_city = c;
                m.unit_name = un;
                m.birth_date = dob;
                m.max_end = end;
                m.country_alpha2 = cc;
                m
            },
        )
}

fn check(m: &MemberRow) -> Result<(), TestCaseError> {
    let cfg = PayloadSettings::default();
    match build(m, &cfg) {
        Err(e) => {
            prop_assert_eq!(e.person_id, m.person_id);
            prop_assert_eq!(e.subscription_id, m.subscription_id);
            prop_assert!(CSV_HEADER.contains(&e.field), "{}", e.field);
            prop_assert!(!e.message.chars().any(char::is_control), "{:?}", e.message);
        }
        Ok(p) => {
            let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
            let obj = v.as_object().unwrap();
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            prop_assert_eq!(keys, CSV_HEADER.to_vec());
            for (k, val) in obj {
                if let Some(s) = val.as_str() {
                    prop_assert!(!s.is_empty() && s.trim() == s, "{}: {:?}", k, s);
                    prop_assert!(!s.chars().any(char::is_control), "{}: {:?}", k, s);
                    prop_assert!(s.chars().count() <= text::MAX_EMAIL, "{}", k);
                }
            }
            // A missing value is JSON null, never the string "null".
            for (key, input) in [
                ("FirstName", &m.first_name),
                ("LastName", &m.last_name),
                ("Email", &m.email),
                ("Address", &m.street_address),
                ("City", &m.postal_city),
                ("Zip", &m.postal_code),
                ("DOB", &m.birth_date),
            ] {
                if input.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    prop_assert!(obj[key].is_null(), "{}: {}", key, obj[key]);
                }
            }
            prop_assert!(p.ext_info1 > 0 && p.ext_info4 > 0);
            prop_assert!(p.mobile_number.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(p.ext_info20.parse::<crate::domain::CardNumber>().is_ok());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_member_row_gives_an_error_or_a_contract_payload(m in member()) {
        check(&m)?;
    }

    #[test]
    fn plausible_member_rows_keep_the_contract(m in plausible_member()) {
        check(&m)?;
    }

    #[test]
    fn phone_normalisation_never_panics_and_gives_digits(
        number in ".{0,30}|[0-9 +()-]{0,20}|0?7[0-9]{8}|(\\+|00)[1-9][0-9]{6,13}",
        cc in prop::option::of("[0-9]{1,3}|.{0,3}"),
        country in prop::option::of("[A-Z]{2}|.{0,3}"),
    ) {
        if let Ok(m) = parse_mobile(&number, cc.as_deref(), country.as_deref(), "SE") {
            prop_assert!(!m.country_code.is_empty() && m.country_code.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(!m.national_number.is_empty() && m.national_number.bytes().all(|b| b.is_ascii_digit()));
            // Normalised once, the number reads back the same, however it is given again.
            let again = parse_mobile(&format!("+{}{}", m.country_code, m.national_number), None, None, "SE");
            prop_assert!(again.as_ref().is_ok_and(|a| *a == m), "{}", number);
        }
    }
}

/// Guards the property above: if the strategy stopped producing rows that build, the
/// payload half of the property would pass without checking anything.
#[test]
fn plausible_rows_mostly_build() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let built = (0..400)
        .filter(|_| {
            let m = plausible_member().new_tree(&mut runner).unwrap().current();
            build(&m, &PayloadSettings::default()).is_ok()
        })
        .count();
    assert!(built >= 100, "only {built} of 400 built");
}
