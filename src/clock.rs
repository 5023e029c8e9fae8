//! One clock for the times relays compare (docs/decisions/0025-one-clock.md). Leases, due times and
//! heartbeats are written by relays on different hosts and compared by others: judged by each
//! host's own clock, a relay 90 s ahead took over every lease another relay still held (and
//! sent its rows a second time), and wrote heartbeats in the future that kept it "alive" after
//! it stopped. So every relay measures how far its clock is from the database's, at start and
//! with every heartbeat, and corrects every time it writes or compares by that offset:
//! [`DbClock::now`] is the database's time as this process best knows it, read without a round
//! trip (one atomic load). Readers (`status`, `doctor`, `/healthz`, the dashboard) ask the
//! database for its time ([`db_now_or_local`]), so an age is database time minus database time.
//!
//! On SQLite the database is embedded, so its clock is this host's and the offset is 0: there
//! is only one host to agree with.
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;

/// Where the database's clock is read: the storage implements it (`storage::time`), so the
/// clock, which storage's callers share, does not depend on storage.
pub trait DbTime {
    type Error: std::fmt::Display;
    fn read_db_now(&self) -> BoxFuture<'_, Result<DateTime<Utc>, Self::Error>>;
}

/// What a process reads as "now" before the offset: the system clock, or a test's.
pub type LocalClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The database's time as this process knows it: its own clock plus the last measured offset.
pub struct DbClock {
    local: LocalClock,
    /// The database's clock minus this process's, in milliseconds.
    offset_ms: AtomicI64,
}

impl Default for DbClock {
    fn default() -> Self {
        DbClock::system()
    }
}

impl std::fmt::Debug for DbClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbClock")
            .field("offset_ms", &self.offset_ms())
            .finish()
    }
}

impl DbClock {
    /// The system clock, not yet measured (offset 0).
    pub fn system() -> DbClock {
        DbClock::with_local(Arc::new(Utc::now))
    }

    /// A clock that reads `local` as this process's time: tests set a host whose clock is off.
    pub fn with_local(local: LocalClock) -> DbClock {
        DbClock {
            local,
            offset_ms: AtomicI64::new(0),
        }
    }

    /// This process's own time, uncorrected.
    pub fn local_now(&self) -> DateTime<Utc> {
        (self.local)()
    }

    /// The database's time now, as far as the last measurement knows it.
    pub fn now(&self) -> DateTime<Utc> {
        let local = self.local_now();
        local
            .checked_add_signed(TimeDelta::milliseconds(self.offset_ms()))
            .unwrap_or(local)
    }

    /// The database's clock minus this process's, in milliseconds, as last measured.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }

    /// Reads the database's clock and keeps the offset to it, taking the database's reading
    /// as made halfway through the round trip (the error is at most half of it). Returns the
    /// offset; on an error the previous offset stays.
    pub async fn measure<S: DbTime + ?Sized>(&self, storage: &S) -> Result<i64, S::Error> {
        let before = self.local_now();
        let db = storage.read_db_now().await?;
        let after = self.local_now();
        let ms = offset_ms(before, db, after);
        self.set_offset_ms(ms);
        Ok(ms)
    }

    /// Whether the last measured offset is larger than `max_ms` either way (0: no limit).
    pub fn beyond(&self, max_ms: u64) -> bool {
        beyond(self.offset_ms(), max_ms)
    }
}

/// The offset from a reading of the database's clock `db` taken between `before` and `after`
/// on the local clock.
pub fn offset_ms(before: DateTime<Utc>, db: DateTime<Utc>, after: DateTime<Utc>) -> i64 {
    let half = (after - before) / 2;
    (db - (before + half)).num_milliseconds()
}

/// Whether an offset of `ms` is larger than `max_ms` either way (`max_ms` 0: no limit).
pub fn beyond(ms: i64, max_ms: u64) -> bool {
    max_ms > 0 && ms.unsigned_abs() > max_ms
}

/// An offset for people: `+90.0 s` (the database ahead of the relay), `-0.2 s`.
pub fn offset_text(ms: i64) -> String {
    format!("{:+.1} s", ms as f64 / 1000.0)
}

/// An offset in words: `this host's clock is 90.0 s ahead of the database's`.
pub fn offset_words(ms: i64) -> String {
    // The offset is the database's clock minus this host's: negative when the host is ahead.
    let s = ms.unsigned_abs() as f64 / 1000.0;
    if ms < 0 {
        format!("this host's clock is {s:.1} s ahead of the database's")
    } else {
        format!("this host's clock is {s:.1} s behind the database's")
    }
}

/// The database's time, for a reader that compares times relays wrote; this host's when the
/// database cannot be asked (it is then unreachable anyway, and says so elsewhere).
pub async fn db_now_or_local<S: DbTime + ?Sized>(storage: &S) -> DateTime<Utc> {
    match storage.read_db_now().await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!("using this host's clock: {e}");
            Utc::now()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_offset_takes_the_reading_as_made_halfway() {
        assert_eq!(offset_ms(at(0), at(90_050), at(100)), 90_000);
        assert_eq!(offset_ms(at(0), at(-89_950), at(100)), -90_000);
        assert_eq!(offset_ms(at(0), at(0), at(0)), 0);
    }

    #[test]
    fn now_is_the_local_clock_corrected_by_the_offset() {
        let clock = DbClock::with_local(Arc::new(|| at(90_000)));
        assert_eq!(clock.now(), at(90_000));
        clock.set_offset_ms(-90_000);
        assert_eq!(clock.now(), at(0));
        assert_eq!(clock.local_now(), at(90_000));
    }

    #[test]
    fn beyond_either_way_and_zero_is_no_limit() {
        assert!(beyond(5_001, 5_000));
        assert!(beyond(-5_001, 5_000));
        assert!(!beyond(5_000, 5_000));
        assert!(!beyond(i64::MIN, 0));
        assert!(beyond(i64::MIN, 1));
        assert_eq!(offset_text(90_000), "+90.0 s");
        assert_eq!(offset_text(-240), "-0.2 s");
        assert_eq!(
            offset_words(-90_000),
            "this host's clock is 90.0 s ahead of the database's"
        );
    }
}
