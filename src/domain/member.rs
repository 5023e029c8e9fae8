//! A member as the `digis_member` view shows it, and where each payload key comes from in it,
//! so support sees the value that broke a rule (issue 25 item 6): the error says
//! `MobileNumber: not a valid number for region SE`, and the gym needs to see
//! `mobile_number today: 070-12` to fix it.
//!
//! The value is read from the member row at display time, never from the outbox row: failure
//! texts hold no personal data (see [`crate::payload::PayloadError`]) and the value is never
//! stored with the row. It is personal data, shown only in the dashboard's detail pane and
//! written only to the `report failures` file; its `Debug` leaves the value out so it cannot
//! reach a log.
use std::fmt;

use super::{PersonId, SubscriptionId};

/// One row of the `digis_member` view: everything the payload needs for one (subscription,
/// user) pair. Dates stay text here (`YYYY-MM-DD` as the database gives them) because a host
/// database may hold a malformed one: the payload builder turns that into a per-row error that
/// names the field, instead of the whole query failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRow {
    pub subscription_id: i64,
    pub person_id: i64,
    pub subscription_status: String,
    pub start_date: Option<String>,
    pub max_end: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub email: Option<String>,
    pub allow_email: bool,
    pub allow_sms: bool,
    pub mobile_country_code: Option<String>,
    pub mobile_number: Option<String>,
    pub card_number: Option<String>,
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
    pub street_address: Option<String>,
    pub postal_code: Option<String>,
    pub postal_city: Option<String>,
    pub country_alpha2: Option<String>,
}

impl MemberRow {
    pub fn subscription(&self) -> SubscriptionId {
        SubscriptionId(self.subscription_id)
    }
    pub fn person(&self) -> PersonId {
        PersonId(self.person_id)
    }
    pub fn is_active(&self) -> bool {
        self.subscription_status == "ACTIVE"
    }
}

/// The most characters of a value shown: host values are untrusted input, and a phone number,
/// an e-mail address or a date is far shorter.
const MAX_SHOWN: usize = 100;

/// The `digis_member` column a payload key (`MobileNumber`) is built from, or the column itself
/// when `field` already names one (a host value that could not be read names its column).
/// `None` for anything else: a Digis rejection names no field.
pub fn member_column(field: &str) -> Option<&'static str> {
    let column = match field {
        "FirstName" => "first_name",
        "LastName" => "last_name",
        "Address" => "street_address",
        "City" => "postal_city",
        "Zip" => "postal_code",
        "Email" => "email",
        "DOB" => "birth_date",
        "MobileNumber" => "mobile_number",
        "ExtInfo1" => "subscription_id",
        "ExtInfo2" => "unit_name",
        "ExtInfo3" => "unit_id",
        "ExtInfo4" => "person_id",
        "ExtInfo5" => "max_end",
        "ExtInfo20" => "card_number",
        other => return failure_column(other),
    };
    Some(column)
}

/// The columns of the `digis_member` view, which every host adapter must define
/// (`storage::adapter::VIEW_COLUMNS` checks them before `migrate` records an adapter).
pub const MEMBER_VIEW_COLUMNS: [&str; 21] = [
    "subscription_id",
    "person_id",
    "subscription_status",
    "start_date",
    "max_end",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "email",
    "allow_email",
    "allow_sms",
    "mobile_country_code",
    "mobile_number",
    "card_number",
    "unit_id",
    "unit_name",
    "street_address",
    "postal_code",
    "postal_city",
    "country_alpha2",
];

/// The member columns a failure can name: every one but the consents, which no rule checks.
fn failure_column(name: &str) -> Option<&'static str> {
    MEMBER_VIEW_COLUMNS
        .iter()
        .copied()
        .filter(|c| !matches!(*c, "allow_email" | "allow_sms"))
        .find(|c| *c == name)
}

/// What a member's column holds today, as the membership system stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct ValueToday {
    /// The `digis_member` column.
    pub column: &'static str,
    /// As stored (`None`: empty), control characters escaped, at most [`MAX_SHOWN`] characters.
    pub value: Option<String>,
}

impl ValueToday {
    /// The value of the column that `field` (a failure's field) comes from, read from
    /// `member`; `None` when the field names no member column.
    pub fn of(member: &MemberRow, field: &str) -> Option<ValueToday> {
        let column = member_column(field)?;
        let value = match column {
            "subscription_id" => Some(member.subscription_id.to_string()),
            "person_id" => Some(member.person_id.to_string()),
            "unit_id" => member.unit_id.map(|u| u.to_string()),
            "subscription_status" => Some(member.subscription_status.clone()),
            "start_date" => member.start_date.clone(),
            "max_end" => member.max_end.clone(),
            "first_name" => member.first_name.clone(),
            "last_name" => member.last_name.clone(),
            "birth_date" => member.birth_date.clone(),
            "sex" => member.sex.clone(),
            "email" => member.email.clone(),
            "mobile_country_code" => member.mobile_country_code.clone(),
            "mobile_number" => member.mobile_number.clone(),
            "card_number" => member.card_number.clone(),
            "unit_name" => member.unit_name.clone(),
            "street_address" => member.street_address.clone(),
            "postal_code" => member.postal_code.clone(),
            "postal_city" => member.postal_city.clone(),
            "country_alpha2" => member.country_alpha2.clone(),
            _ => None,
        };
        Some(ValueToday {
            column,
            value: value.filter(|v| !v.is_empty()).map(|v| shown(&v)),
        })
    }

    /// The value alone, `(empty)` when there is none.
    pub fn value_text(&self) -> &str {
        self.value.as_deref().unwrap_or("(empty)")
    }
}

/// `mobile_number today: 070-12`: labelled as today's value, since the row failed on what the
/// column held then.
impl fmt::Display for ValueToday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} today: {}", self.column, self.value_text())
    }
}

/// Leaves the value out: it is personal data.
impl fmt::Debug for ValueToday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueToday")
            .field("column", &self.column)
            .finish_non_exhaustive()
    }
}

/// Escaped and bounded, ending in `…` when cut.
fn shown(value: &str) -> String {
    let clean = crate::sanitize::for_display(value);
    match clean.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> MemberRow {
        MemberRow {
            subscription_id: 863,
            person_id: 7,
            subscription_status: "ACTIVE".into(),
            start_date: Some("2026-01-01".into()),
            max_end: None,
            first_name: Some("Anna".into()),
            last_name: Some("Svensson".into()),
            birth_date: Some("2090-01-01".into()),
            sex: None,
            email: Some("anna@".into()),
            allow_email: true,
            allow_sms: true,
            mobile_country_code: Some("46".into()),
            mobile_number: Some("070-12".into()),
            card_number: Some("0034 231452".into()),
            unit_id: Some(1),
            unit_name: Some("Stamina".into()),
            street_address: None,
            postal_code: Some("111 22".into()),
            postal_city: Some("Stockholm".into()),
            country_alpha2: Some("SE".into()),
        }
    }

    #[test]
    fn each_field_shows_the_column_it_is_built_from() {
        let m = member();
        let text = |field: &str| ValueToday::of(&m, field).map(|v| v.to_string());
        assert_eq!(
            text("MobileNumber").as_deref(),
            Some("mobile_number today: 070-12")
        );
        assert_eq!(text("Email").as_deref(), Some("email today: anna@"));
        assert_eq!(text("DOB").as_deref(), Some("birth_date today: 2090-01-01"));
        assert_eq!(
            text("ExtInfo20").as_deref(),
            Some("card_number today: 0034 231452")
        );
        assert_eq!(text("ExtInfo5").as_deref(), Some("max_end today: (empty)"));
        assert_eq!(
            text("Address").as_deref(),
            Some("street_address today: (empty)")
        );
        assert_eq!(text("ExtInfo3").as_deref(), Some("unit_id today: 1"));
        // A host column named by a read problem is its own source.
        assert_eq!(
            text("birth_date").as_deref(),
            Some("birth_date today: 2090-01-01")
        );
        // Digis's rejections and unknown words name no column.
        assert_eq!(text("Gender"), None);
        assert_eq!(text("allow_sms; DROP"), None);
    }

    /// Every payload key a `PayloadError` can name (see `build`) has its column.
    #[test]
    fn every_field_a_payload_error_names_has_a_column() {
        for field in [
            "FirstName",
            "LastName",
            "Address",
            "City",
            "Email",
            "Zip",
            "ExtInfo2",
            "DOB",
            "MobileNumber",
            "ExtInfo1",
            "ExtInfo4",
            "ExtInfo3",
            "ExtInfo5",
            "ExtInfo20",
        ] {
            assert!(member_column(field).is_some(), "{field}");
        }
    }

    #[test]
    fn values_are_escaped_bounded_and_kept_out_of_debug() {
        let mut m = member();
        m.mobile_number = Some(format!("070\u{1b}[2J{}", "9".repeat(500)));
        let v = ValueToday::of(&m, "MobileNumber").unwrap();
        let shown = v.value.clone().unwrap();
        assert!(shown.starts_with("070\\u{1b}[2J"), "{shown}");
        assert_eq!(shown.chars().count(), MAX_SHOWN + 1);
        assert!(shown.ends_with('…'));
        let debug = format!("{v:?}");
        assert!(!debug.contains("070"), "{debug}");
        m.mobile_number = Some(String::new());
        assert_eq!(
            ValueToday::of(&m, "MobileNumber").unwrap().to_string(),
            "mobile_number today: (empty)"
        );
    }
}
