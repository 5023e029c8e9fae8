//! Member search terms as staff type them (`search --phone/--email/--name`), parsed at the edge
//! as the CLI parses them; a phone number without `+` or `00` is read as Swedish.
use digis_relay::search::{EmailQuery, MemberQuery, NameQuery, PhoneQuery, SearchTerm};

pub fn phone(typed: &str) -> SearchTerm {
    SearchTerm::Member(MemberQuery::Phone(PhoneQuery::parse(typed, "SE").unwrap()))
}

pub fn email(typed: &str) -> SearchTerm {
    SearchTerm::Member(MemberQuery::Email(EmailQuery::parse(typed).unwrap()))
}

pub fn name(typed: &str) -> SearchTerm {
    SearchTerm::Member(MemberQuery::Name(NameQuery::parse(typed).unwrap()))
}
