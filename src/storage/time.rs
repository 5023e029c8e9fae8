//! SQLite has no timestamp type: times are stored as fixed-width ISO-8601 text in UTC with
//! milliseconds (`2026-11-28T12:00:00.000Z`, the same as the triggers' `strftime`), so that
//! text comparison is time comparison.
use chrono::{DateTime, NaiveDateTime, Utc};

use super::StorageError;

pub fn to_text(t: DateTime<Utc>) -> String {
    crate::storage_time_text(t)
}

pub fn from_text(s: &str) -> Result<DateTime<Utc>, StorageError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    // Rows written by hand with datetime('now') have a space and no zone.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map(|n| n.and_utc())
        .map_err(|_| StorageError::Corrupt(format!("timestamp `{s}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_order_is_time_order_and_round_trips() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::milliseconds(7);
        assert!(to_text(a) < to_text(b));
        assert_eq!(from_text(&to_text(b)).unwrap(), b);
        assert_eq!(to_text(a), "2026-01-02T03:04:05.000Z");
        assert_eq!(from_text("2026-01-02 03:04:05").unwrap(), a);
    }
}
