//! Row mapping both databases share: the `digis_member` view's columns decode the same way on
//! SQLite and PostgreSQL (both SELECTs cast to text, bigint and boolean), so one function serves.
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Context, MemberRow, Result};

pub(crate) fn member_row<R>(r: &R) -> Result<MemberRow>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let c = "reading digis_member";
    Ok(MemberRow {
        subscription_id: r.try_get("subscription_id").ctx(c)?,
        person_id: r.try_get("person_id").ctx(c)?,
        subscription_status: r.try_get("subscription_status").ctx(c)?,
        start_date: r.try_get("start_date").ctx(c)?,
        max_end: r.try_get("max_end").ctx(c)?,
        first_name: r.try_get("first_name").ctx(c)?,
        last_name: r.try_get("last_name").ctx(c)?,
        birth_date: r.try_get("birth_date").ctx(c)?,
        sex: r.try_get("sex").ctx(c)?,
        email: r.try_get("email").ctx(c)?,
        // A host column left NULL means "not allowed".
        allow_email: r
            .try_get::<Option<bool>, _>("allow_email")
            .ctx(c)?
            .unwrap_or(false),
        allow_sms: r
            .try_get::<Option<bool>, _>("allow_sms")
            .ctx(c)?
            .unwrap_or(false),
        mobile_country_code: r.try_get("mobile_country_code").ctx(c)?,
        mobile_number: r.try_get("mobile_number").ctx(c)?,
        card_number: r.try_get("card_number").ctx(c)?,
        unit_id: r.try_get("unit_id").ctx(c)?,
        unit_name: r.try_get("unit_name").ctx(c)?,
        street_address: r.try_get("street_address").ctx(c)?,
        postal_code: r.try_get("postal_code").ctx(c)?,
        postal_city: r.try_get("postal_city").ctx(c)?,
        country_alpha2: r.try_get("country_alpha2").ctx(c)?,
    })
}
