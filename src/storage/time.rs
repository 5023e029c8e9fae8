//! SQLite has no timestamp type: times are stored as fixed-width ISO-8601 text in UTC with
//! milliseconds (`2026-11-28T12:00:00.000Z`, the same as the triggers' `strftime`), so that
//! text comparison is time comparison. [`StoredTime`] is that rule as a sqlx type, so the code
//! that binds and reads times is the same for both databases: text here, `timestamptz` on
//! PostgreSQL.
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type, ValueRef};

use super::StorageError;

/// The latest time stored: 9999-12-31T23:59:59.999Z. Past year 9999 the text would need a
/// sign and a fifth digit (`+10000-…`), and `+` sorts before `2`: such a row would look due at
/// once and could not be read back.
pub fn latest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 999))
        .expect("a valid date")
        .and_utc()
}

/// `t` plus `d`, never past [`latest`] and never overflowing, whatever `d` is.
pub fn saturating_add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or_else(latest)
        .min(latest())
}

/// The database's clock as [`crate::clock`] reads it.
impl<S: super::RelayStore + ?Sized> crate::clock::DbTime for S {
    type Error = StorageError;
    fn read_db_now(&self) -> futures::future::BoxFuture<'_, Result<DateTime<Utc>, StorageError>> {
        self.db_now()
    }
}

pub fn to_text(t: DateTime<Utc>) -> String {
    crate::storage_time_text(t.min(latest()))
}

pub fn from_text(s: &str) -> Result<DateTime<Utc>, StorageError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    // Versions before the clamp wrote `+33715-08-25T…` for a huge Retry-After. Such a row
    // must read back (as the latest time) or it blocks every claim: the SQL already sees it as
    // due (`+` sorts first), so it is simply sent, which is what it was waiting for.
    if s.starts_with('+') && s[1..].split('-').next().is_some_and(|y| y.len() > 4) {
        return Ok(latest());
    }
    // PostgreSQL's text of a `timestamptz` (`2026-01-02 03:04:05.678+01`), in a host's text
    // column.
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Ok(t.with_timezone(&Utc));
    }
    // Rows written by hand with datetime('now') have a space and no zone.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map(|n| n.and_utc())
        .map_err(|_| StorageError::Corrupt(format!("timestamp `{s}`")))
}

/// A time as a relay table stores it. On SQLite it is written through [`to_text`] (so clamped
/// to [`latest`]) and read through [`from_text`] (tolerant of older spellings); on PostgreSQL
/// it is a plain `timestamptz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredTime(pub DateTime<Utc>);

impl From<StoredTime> for DateTime<Utc> {
    fn from(t: StoredTime) -> Self {
        t.0
    }
}

impl Type<Sqlite> for StoredTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for StoredTime {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(to_text(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for StoredTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(StoredTime(from_text(text)?))
    }
}

/// Written as `timestamptz`. Read also from `timestamp` (taken as UTC) and from text (as
/// [`from_text`] reads it): the relay's own columns are `timestamptz`, but `digis` is the
/// integration note's table, and a membership system that made it first keeps its own column types.
impl Type<Postgres> for StoredTime {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
            || <NaiveDateTime as Type<Postgres>>::compatible(ty)
            || <String as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for StoredTime {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for StoredTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let ty = value.type_info().into_owned();
        if <DateTime<Utc> as Type<Postgres>>::compatible(&ty) {
            <DateTime<Utc> as Decode<Postgres>>::decode(value).map(StoredTime)
        } else if <NaiveDateTime as Type<Postgres>>::compatible(&ty) {
            <NaiveDateTime as Decode<Postgres>>::decode(value).map(|n| StoredTime(n.and_utc()))
        } else {
            let text = <&str as Decode<Postgres>>::decode(value)?;
            Ok(StoredTime(from_text(text)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_past_year_9999_from_older_versions_read_back_as_the_latest() {
        assert_eq!(from_text("+33715-08-25T03:04:05.000Z").unwrap(), latest());
        assert!(from_text("+12").is_err());
    }

    #[test]
    fn text_order_is_time_order_and_round_trips() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::milliseconds(7);
        assert!(to_text(a) < to_text(b));
        assert_eq!(from_text(&to_text(b)).unwrap(), b);
        assert_eq!(to_text(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(from_text("2026-01-02 03:04:05").unwrap(), a);
        assert_eq!(from_text("2026-01-02 04:04:05+01").unwrap(), a);
        assert_eq!(from_text("2026-01-02 03:04:05.007+00").unwrap(), b);
        assert!(from_text("04/01/2023 10:00").is_err());
    }

    #[test]
    fn far_future_times_are_clamped_so_text_order_holds() {
        let far = DateTime::<Utc>::MAX_UTC;
        assert_eq!(to_text(far), "9999-12-31T23:59:59.999Z");
        assert!(to_text(far) > to_text(Utc::now()));
        assert_eq!(from_text(&to_text(far)).unwrap(), latest());
        let now = Utc::now();
        assert_eq!(saturating_add(now, std::time::Duration::MAX), latest());
        assert_eq!(
            saturating_add(now, std::time::Duration::from_secs(10_000_000_000_000)),
            latest()
        );
        assert_eq!(
            saturating_add(now, std::time::Duration::from_secs(5)),
            now + chrono::Duration::seconds(5)
        );
    }
}
