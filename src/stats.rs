//! The figures of the Stats view and of `status --json`'s `stats` key, collected once here for
//! both: attempts sent, failed and retried per hour over the last 24 hours and per day over the
//! last 30 days (UTC, from `digis_attempt`), the save-to-sent delay per day (p50, p90, p99, from
//! `digis_outbox.created_at` to `sent_at`), and the backlog (pending rows, and how long the
//! longest-waiting due one has waited).
//!
//! Every query is bounded: the counts are `GROUP BY`s over an index range, so the answer is at
//! most a few rows per bucket; the delays are read for at most [`DELAY_SAMPLE`] sent rows, an even
//! sample (every n-th id) when more were sent, and the percentiles computed here, in the same way
//! on both databases (SQLite has no percentile function).
use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::AttemptOutcome;
use crate::storage::{AttemptBucket, BucketSpan, DelaySample, Result, Storage};

/// Hours in the hourly figures, the current one last.
pub const HOURS: usize = 24;
/// Days in the daily figures, today last.
pub const DAYS: usize = 30;
/// At most this many sent rows are read for the delay percentiles.
pub const DELAY_SAMPLE: u32 = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// When the figures were read.
    pub at: DateTime<Utc>,
    /// The last [`HOURS`] hours, oldest first; the last one is the current, partial hour.
    pub hourly: Vec<Bucket>,
    /// The last [`DAYS`] days, oldest first; the last one is today so far.
    pub daily: Vec<Day>,
    /// 1 when every sent row of the 30 days was read for the delays, n when every n-th was.
    pub delay_sample_stride: u64,
    pub backlog: Backlog,
}

/// Attempts that started in one hour, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub sent: u64,
    pub failed: u64,
    /// Attempts that ended in a retry later (Digis busy, down, or slow).
    pub retried: u64,
}

/// One day's attempts and how long members waited for their invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Day {
    pub day: NaiveDate,
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    /// `null` when nothing sent that day was read.
    pub delay: Option<Delay>,
}

/// Save-to-sent delay percentiles (nearest rank) over the rows read for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delay {
    /// Sent rows the percentiles were computed from.
    pub rows: u64,
    pub p50_ms: i64,
    pub p90_ms: i64,
    pub p99_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Rows waiting to be sent, due or not.
    pub pending: u64,
    /// How long the longest-waiting due row has waited since it became due; `null`: none is due.
    pub oldest_due_age_seconds: Option<i64>,
}

/// Reads the figures as they are at `now`.
pub async fn collect(storage: &dyn Storage, now: DateTime<Utc>) -> Result<Stats> {
    let (hours_from, hours_to) = hour_window(now);
    let (days_from, days_to) = day_window(now);
    let hourly = storage
        .attempt_buckets(BucketSpan::Hour, hours_from, hours_to)
        .await?;
    let daily = storage
        .attempt_buckets(BucketSpan::Day, days_from, days_to)
        .await?;
    let delays = storage
        .sent_delays(days_from, days_to, DELAY_SAMPLE)
        .await?;
    let pending = storage.counts().await?.pending;
    let oldest_due = storage.oldest_due_pending(now).await?;
    Ok(assemble(
        now,
        &hourly,
        &daily,
        &delays,
        Backlog {
            pending,
            oldest_due_age_seconds: oldest_due.map(|t| (now - t).num_seconds().max(0)),
        },
    ))
}

/// `[start of the hour 23 hours ago, end of this hour)`.
fn hour_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    (
        this_hour - Duration::hours(HOURS as i64 - 1),
        this_hour + Duration::hours(1),
    )
}

/// `[midnight 29 days ago, midnight tonight)`, UTC.
fn day_window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc();
    (
        today - Duration::days(DAYS as i64 - 1),
        today + Duration::days(1),
    )
}

/// The figures from what storage read; pure, so the bucketing and percentiles are tested alone.
pub fn assemble(
    now: DateTime<Utc>,
    hourly_counts: &[AttemptBucket],
    daily_counts: &[AttemptBucket],
    delays: &DelaySample,
    backlog: Backlog,
) -> Stats {
    let (hours_from, _) = hour_window(now);
    let mut hourly: Vec<Bucket> = (0..HOURS)
        .map(|i| Bucket {
            start: hours_from + Duration::hours(i as i64),
            ..Bucket::default()
        })
        .collect();
    for c in hourly_counts {
        if let Some(b) = hourly.iter_mut().find(|b| b.start == c.start) {
            add(&mut b.sent, &mut b.failed, &mut b.retried, c);
        }
    }
    let (days_from, _) = day_window(now);
    let mut daily: Vec<Day> = (0..DAYS)
        .map(|i| Day {
            day: (days_from + Duration::days(i as i64)).date_naive(),
            sent: 0,
            failed: 0,
            retried: 0,
            delay: None,
        })
        .collect();
    for c in daily_counts {
        if let Some(d) = daily.iter_mut().find(|d| d.day == c.start.date_naive()) {
            add(&mut d.sent, &mut d.failed, &mut d.retried, c);
        }
    }
    for d in &mut daily {
        let mut ms: Vec<i64> = delays
            .delays
            .iter()
            .filter(|(sent_at, _)| sent_at.date_naive() == d.day)
            .map(|(_, ms)| *ms)
            .collect();
        d.delay = percentiles(&mut ms);
    }
    Stats {
        at: now,
        hourly,
        daily,
        delay_sample_stride: delays.stride.max(1),
        backlog,
    }
}

fn add(sent: &mut u64, failed: &mut u64, retried: &mut u64, c: &AttemptBucket) {
    let outcome = c.outcome.as_str();
    if outcome == AttemptOutcome::Sent.as_str() {
        *sent += c.n;
    } else if outcome == AttemptOutcome::Failed.as_str() {
        *failed += c.n;
    } else if outcome == AttemptOutcome::Retry.as_str() {
        *retried += c.n;
    }
}

/// p50, p90 and p99 by nearest rank; `None` for no values.
fn percentiles(ms: &mut [i64]) -> Option<Delay> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_unstable();
    let n = ms.len();
    let rank = |p: usize| ms[(p * n).div_ceil(100).clamp(1, n) - 1];
    Some(Delay {
        rows: n as u64,
        p50_ms: rank(50),
        p90_ms: rank(90),
        p99_ms: rank(99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 34, 56).unwrap()
    }

    fn bucket(start: DateTime<Utc>, outcome: &str, n: u64) -> AttemptBucket {
        AttemptBucket {
            start,
            outcome: outcome.into(),
            n,
        }
    }

    #[test]
    fn windows_end_with_the_current_hour_and_today() {
        let (from, to) = hour_window(now());
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap());
        let (from, to) = day_window(now());
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 10, 30, 0, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap());
    }

    #[test]
    fn counts_land_in_their_bucket_and_other_outcomes_are_left_out() {
        let hour = |h| Utc.with_ymd_and_hms(2026, 11, 28, h, 0, 0).unwrap();
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        let s = assemble(
            now(),
            &[
                bucket(hour(12), "sent", 5),
                bucket(hour(12), "retry", 2),
                bucket(hour(11), "failed", 1),
                bucket(hour(11), "discarded", 9),
                bucket(hour(11), "stale_sent", 9),
                // Outside the window (a clock that jumped): ignored.
                bucket(hour(12) + Duration::hours(3), "sent", 7),
            ],
            &[bucket(day(28), "sent", 5), bucket(day(1), "failed", 4)],
            &DelaySample::default(),
            Backlog::default(),
        );
        assert_eq!(s.hourly.len(), HOURS);
        assert_eq!(s.daily.len(), DAYS);
        let last = s.hourly[HOURS - 1];
        assert_eq!((last.start, last.sent, last.retried), (hour(12), 5, 2));
        let before = s.hourly[HOURS - 2];
        assert_eq!((before.sent, before.failed, before.retried), (0, 1, 0));
        assert_eq!(s.hourly.iter().map(|b| b.sent).sum::<u64>(), 5);
        assert_eq!(s.daily[DAYS - 1].sent, 5);
        let nov1 = s
            .daily
            .iter()
            .find(|d| d.day == day(1).date_naive())
            .unwrap();
        assert_eq!(nov1.failed, 4);
        assert_eq!(s.delay_sample_stride, 1);
    }

    #[test]
    fn delay_percentiles_by_nearest_rank_per_day() {
        let at = |d, s| Utc.with_ymd_and_hms(2026, 11, d, 10, 0, s).unwrap();
        // 1..=100 seconds sent on the 28th, one row on the 27th.
        let mut delays: Vec<(DateTime<Utc>, i64)> =
            (1..=100).map(|i| (at(28, 0), i * 1000)).collect();
        delays.push((at(27, 0), 42));
        let s = assemble(
            now(),
            &[],
            &[],
            &DelaySample {
                sent: 202,
                stride: 2,
                delays,
            },
            Backlog::default(),
        );
        let today = s.daily[DAYS - 1].delay.unwrap();
        assert_eq!(
            (today.rows, today.p50_ms, today.p90_ms, today.p99_ms),
            (100, 50_000, 90_000, 99_000)
        );
        let yesterday = s.daily[DAYS - 2].delay.unwrap();
        assert_eq!(
            (yesterday.rows, yesterday.p50_ms, yesterday.p99_ms),
            (1, 42, 42)
        );
        assert_eq!(s.daily[0].delay, None);
        assert_eq!(s.delay_sample_stride, 2);
        assert_eq!(percentiles(&mut []), None);
    }
}
