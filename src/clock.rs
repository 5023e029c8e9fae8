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

    /// Reads the database's clock and keeps the offset to it. A reading only tells that the
    /// offset lies within its round trip, and where in it the database read its clock is
    /// unknown: a pool that connects or waits for a connection first makes the round trip long
    /// and the reading late in it. Taken as made halfway, such a reading moved a relay's clock
    /// by half the wait (a relay on the database's own host was put a second ahead, and
    /// wrote a due time a second later than Digis asked for). So a measurement takes up to
    /// [`READINGS`] readings and keeps the one with the shortest round trip, and the offset
    /// only moves when that reading proves the previous one wrong ([`offset_within`]).
    /// Returns the offset; on an error the previous offset stays.
    pub async fn measure<S: DbTime + ?Sized>(&self, storage: &S) -> Result<i64, S::Error> {
        let mut best: Option<Reading> = None;
        for _ in 0..READINGS {
            let before = self.local_now();
            let db = match storage.read_db_now().await {
                Ok(db) => db,
                // A good reading taken before stands; the error shows at the next heartbeat.
                Err(_) if best.is_some() => break,
                Err(e) => return Err(e),
            };
            let after = self.local_now();
            let reading = Reading { before, db, after };
            let round_trip = reading.round_trip();
            if best.is_none_or(|b| round_trip < b.round_trip()) {
                best = Some(reading);
            }
            if round_trip <= SHORT_ROUND_TRIP {
                break;
            }
        }
        let Some(r) = best else {
            return Ok(self.offset_ms());
        };
        let ms = offset_within(r.before, r.db, r.after, self.offset_ms());
        self.set_offset_ms(ms);
        Ok(ms)
    }

    /// Whether the last measured offset is larger than `max_ms` either way (0: no limit).
    pub fn beyond(&self, max_ms: u64) -> bool {
        beyond(self.offset_ms(), max_ms)
    }
}

/// The most readings one measurement takes.
pub const READINGS: usize = 3;

/// A round trip short enough that no further reading is worth taking.
const SHORT_ROUND_TRIP: TimeDelta = TimeDelta::milliseconds(20);

/// One reading of the database's clock `db`, taken between `before` and `after` locally.
#[derive(Debug, Clone, Copy)]
struct Reading {
    before: DateTime<Utc>,
    db: DateTime<Utc>,
    after: DateTime<Utc>,
}

impl Reading {
    fn round_trip(&self) -> TimeDelta {
        self.after - self.before
    }
}

/// The offset from a reading of the database's clock `db` taken between `before` and `after`
/// on the local clock, taken as made halfway through the round trip.
pub fn offset_ms(before: DateTime<Utc>, db: DateTime<Utc>, after: DateTime<Utc>) -> i64 {
    let half = (after - before) / 2;
    (db - (before + half)).num_milliseconds()
}

/// The offset after a reading, given the offset known before it (`previous`, 0 when none was
/// measured): `previous` while the reading allows it, else the reading's midpoint. The offset
/// lies in [db − after, db − before], widened by a millisecond because databases read their
/// clock to the millisecond (SQLite's text) or microsecond. Keeping a value the reading does not
/// contradict keeps a host on the database's own clock at exactly 0, however slow the
/// reading, and keeps relays' offsets from wandering with each reading's noise.
pub fn offset_within(
    before: DateTime<Utc>,
    db: DateTime<Utc>,
    after: DateTime<Utc>,
    previous: i64,
) -> i64 {
    let earliest = (db - after).num_milliseconds().saturating_sub(1);
    let latest = (db - before).num_milliseconds().saturating_add(1);
    if (earliest..=latest).contains(&previous) {
        previous
    } else {
        offset_ms(before, db, after)
    }
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

    /// A database `skew_ms` ahead of a host whose clock is a counter: each reading waits
    /// `pre` ms before the database reads its clock and `post` ms after, per reading in turn.
    struct Scripted {
        local: Arc<std::sync::Mutex<i64>>,
        skew_ms: i64,
        waits: std::sync::Mutex<std::collections::VecDeque<(i64, i64)>>,
        reads: std::sync::atomic::AtomicUsize,
        /// The reading (1-based) that fails, if any.
        fails: Option<usize>,
    }

    impl Scripted {
        fn new(skew_ms: i64, waits: &[(i64, i64)]) -> (Scripted, DbClock) {
            let local = Arc::new(std::sync::Mutex::new(0));
            let l = local.clone();
            let clock = DbClock::with_local(Arc::new(move || at(*l.lock().unwrap())));
            let db = Scripted {
                local,
                skew_ms,
                waits: std::sync::Mutex::new(waits.iter().copied().collect()),
                reads: Default::default(),
                fails: None,
            };
            (db, clock)
        }
    }

    impl DbTime for Scripted {
        type Error = String;
        fn read_db_now(&self) -> BoxFuture<'_, Result<DateTime<Utc>, String>> {
            Box::pin(async move {
                let n = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
                if self.fails == Some(n) {
                    return Err("connection reset".to_string());
                }
                let (pre, post) = self.waits.lock().unwrap().pop_front().unwrap_or((1, 1));
                let mut t = self.local.lock().unwrap();
                *t += pre;
                let db = at(*t + self.skew_ms);
                *t += post;
                Ok(db)
            })
        }
    }

    /// Regression: the pool connected (2 s) before the database read its clock. Taken as made
    /// halfway, that reading put a relay on the database's own host 1 s ahead, and the binary
    /// test `binary_survives_a_huge_retry_after` found its due time a second late.
    #[tokio::test]
    async fn a_slow_reading_does_not_move_a_clock_that_agrees() {
        let (db, clock) = Scripted::new(0, &[(2_000, 1), (2_000, 1), (2_000, 1)]);
        assert_eq!(clock.measure(&db).await.unwrap(), 0);
        let (db, clock) = Scripted::new(0, &[(1, 2_000)]);
        assert_eq!(clock.measure(&db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_shortest_of_a_few_readings_is_kept() {
        // 90 s of skew; the first reading waits 2 s to connect, the second is quick.
        let (db, clock) = Scripted::new(90_000, &[(2_000, 1), (2, 2)]);
        assert_eq!(clock.measure(&db).await.unwrap(), 90_000);
        assert_eq!(
            db.reads.load(Ordering::Relaxed),
            2,
            "a quick reading is enough"
        );
        // Three slow readings: the shortest one is kept, never a fourth reading.
        let (db, clock) = Scripted::new(-90_000, &[(400, 400), (100, 100), (300, 300), (1, 1)]);
        assert_eq!(clock.measure(&db).await.unwrap(), -90_000);
        assert_eq!(db.reads.load(Ordering::Relaxed), READINGS);
    }

    /// An error after a good but slow reading keeps that reading; an error first is an error.
    #[tokio::test]
    async fn an_error_after_a_reading_keeps_it() {
        let (mut db, clock) = Scripted::new(90_000, &[(100, 100)]);
        db.fails = Some(2);
        assert_eq!(clock.measure(&db).await.unwrap(), 90_000);
        let (mut db, clock) = Scripted::new(90_000, &[]);
        db.fails = Some(1);
        clock.set_offset_ms(5);
        assert!(clock.measure(&db).await.is_err());
        assert_eq!(clock.offset_ms(), 5, "the previous offset stays");
    }

    #[tokio::test]
    async fn the_offset_moves_only_when_a_reading_contradicts_it() {
        let (db, clock) = Scripted::new(3_000, &[(5, 5), (5, 5), (5, 5)]);
        assert_eq!(clock.measure(&db).await.unwrap(), 3_000);
        // The offset was 4 ms off: a reading that allows it (±5 ms) keeps it...
        clock.set_offset_ms(3_004);
        assert_eq!(clock.measure(&db).await.unwrap(), 3_004);
        // ...one that does not moves it to the reading's midpoint.
        clock.set_offset_ms(3_100);
        assert_eq!(clock.measure(&db).await.unwrap(), 3_000);
        assert_eq!(
            db.reads.load(Ordering::Relaxed),
            3,
            "one quick reading each"
        );
    }

    #[test]
    fn within_a_reading_the_previous_offset_stands() {
        assert_eq!(offset_within(at(0), at(500), at(1_000), 0), 0);
        assert_eq!(offset_within(at(0), at(500), at(1_000), 499), 499);
        assert_eq!(offset_within(at(0), at(500), at(1_000), -501), -501);
        assert_eq!(offset_within(at(0), at(500), at(1_000), 600), 0);
        assert_eq!(offset_within(at(0), at(90_050), at(100), 0), 90_000);
        // A database that reads its clock to the millisecond is not a contradiction.
        assert_eq!(offset_within(at(10), at(9), at(10), 0), 0);
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
