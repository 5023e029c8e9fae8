//! Times and days as the relay writes them (`2026-11-28T12:00:00.000Z`, `2026-11-28`), formatted
//! by hand. chrono's `format` parses its pattern on every call and goes through `fmt::Write`
//! a field at a time: about 4,000 instructions a time, twice for every row a drain sends (its
//! attempt's start for the database, its sync-log line), against about 150 here (callgrind,
//! decision 0062). The tests hold both to chrono's output, which stays the reference.
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// `2026-11-28T12:00:00.000Z`: the sync log's and SQLite's form (UTC, milliseconds).
pub fn storage(t: DateTime<Utc>) -> String {
    let mut s = String::with_capacity(24);
    push_storage(&mut s, t);
    s
}

/// [`storage`] appended to `s`.
pub fn push_storage(s: &mut String, t: DateTime<Utc>) {
    if !push_day(s, t.date_naive()) {
        s.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        return;
    }
    // chrono's `%S` shows a leap second as 60 and `%.3f` its fraction past the second.
    let nanos = t.nanosecond();
    let second = t.second() + nanos / 1_000_000_000;
    let millis = nanos % 1_000_000_000 / 1_000_000;
    s.push('T');
    push_digits(s, t.hour(), 2);
    s.push(':');
    push_digits(s, t.minute(), 2);
    s.push(':');
    push_digits(s, second, 2);
    s.push('.');
    push_digits(s, millis, 3);
    s.push('Z');
}

/// `2026-11-28`: a day as the payload and the export write it.
pub fn day(d: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    if !push_day(&mut s, d) {
        return d.format("%Y-%m-%d").to_string();
    }
    s
}

/// Appends `YYYY-MM-DD` and returns true, or appends nothing and returns false for a year
/// outside 0..=9999, which chrono writes with a sign and more digits (left to chrono).
fn push_day(s: &mut String, d: NaiveDate) -> bool {
    let Ok(year) = u32::try_from(d.year()) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    push_digits(s, year, 4);
    s.push('-');
    push_digits(s, d.month(), 2);
    s.push('-');
    push_digits(s, d.day(), 2);
    true
}

/// `n` in exactly `width` decimal digits (`n` is below 10^width).
fn push_digits(s: &mut String, n: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        s.push(char::from(b'0' + (n / div % 10) as u8));
        div /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDateTime, NaiveTime, TimeZone};
    use proptest::prelude::*;

    fn chrono_storage(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    #[test]
    fn writes_the_contract_form() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(storage(t), "2026-11-28T12:00:00.000Z");
        assert_eq!(day(t.date_naive()), "2026-11-28");
    }

    #[test]
    fn the_edges_are_written_as_chrono_writes_them() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_time(NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500).unwrap())
            .and_utc();
        let edges = [
            leap,
            crate::storage::time::latest(),
            NaiveDate::from_ymd_opt(0, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(-1, 12, 31)
                .unwrap()
                .and_hms_opt(23, 59, 59)
                .unwrap()
                .and_utc(),
            NaiveDate::from_ymd_opt(10_000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        for t in edges {
            assert_eq!(storage(t), chrono_storage(t), "{t:?}");
            let d = t.date_naive();
            assert_eq!(day(d), d.format("%Y-%m-%d").to_string(), "{d:?}");
        }
        assert_eq!(storage(leap), "2016-12-31T23:59:60.500Z");
    }

    proptest! {
        #[test]
        fn every_time_is_written_as_chrono_writes_it(
            secs in -80_000_000_000i64..300_000_000_000,
            nanos in 0u32..1_000_000_000,
            leap in 0u32..1_000_000_000,
        ) {
            let t = DateTime::from_timestamp(secs, nanos).expect("in chrono's range");
            prop_assert_eq!(storage(t), chrono_storage(t));
            let d = t.date_naive();
            prop_assert_eq!(day(d), d.format("%Y-%m-%d").to_string());
            // The same minute's leap second.
            let at59 = NaiveTime::from_hms_nano_opt(t.hour(), t.minute(), 59, 1_000_000_000 + leap);
            if let Some(time) = at59 {
                let t = NaiveDateTime::new(d, time).and_utc();
                prop_assert_eq!(storage(t), chrono_storage(t));
            }
        }
    }
}
