//! The figures of the Stats view and of `status --json`'s `stats` key, collected once here for
//! both: attempts sent, failed and retried per hour over the last 24 hours and per day over the
//! last 30 days (UTC, from `digis_attempt`), the save-to-sent delay per day (p50, p90, p99, from
//! `digis_outbox.created_at` to `sent_at`), and the backlog (pending rows, and how long the
//! longest-waiting due one has waited).
//!
//! Every query is bounded: each count is a range of the `(outcome, started_at)` index, one per
//! hour or day and outcome, with the ranges computed here (the same on both databases); the delays are read for at most [`DELAY_SAMPLE`] sent rows, an even
//! sample (every n-th id) when more were sent, and the percentiles computed here, in the same way
//! on both databases (SQLite has no percentile function).
use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use serde::Serialize;

use crate::storage::{DelaySample, OutcomeCounts, Result, Storage};

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
    let hours = hour_ranges(now);
    let days = day_ranges(now);
    let hourly = storage.attempt_counts(&hours).await?;
    let daily = storage.attempt_counts(&days).await?;
    let (days_from, days_to) = day_window(now);
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

/// A delay for people, the same on every surface (`status`, the dashboard's Stats view):
/// `107ms` below a second (a second-based `0s` hid them), then `42s`, `5m`, `3h`, `2d`.
pub fn delay_text(ms: i64) -> String {
    if ms.abs() < 1000 {
        format!("{}ms", ms.abs())
    } else {
        span_text(ms / 1000)
    }
}

/// A compact span of time: `42s`, `5m`, `3h`, `2d`; the dashboard ages what it shows with it.
pub fn span_text(secs: i64) -> String {
    let s = secs.abs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// The [`HOURS`] one-hour ranges ending with this hour's.
pub fn hour_ranges(now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, _) = hour_window(now);
    (0..HOURS as i64)
        .map(|i| {
            let start = from + Duration::hours(i);
            (start, start + Duration::hours(1))
        })
        .collect()
}

/// The [`DAYS`] UTC days ending with today.
pub fn day_ranges(now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, _) = day_window(now);
    (0..DAYS as i64)
        .map(|i| {
            let start = from + Duration::days(i);
            (start, start + Duration::days(1))
        })
        .collect()
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

/// The figures from what storage read (`hourly_counts` for [`hour_ranges`], `daily_counts` for
/// [`day_ranges`]); pure, so the bucketing and percentiles are tested alone.
pub fn assemble(
    now: DateTime<Utc>,
    hourly_counts: &[OutcomeCounts],
    daily_counts: &[OutcomeCounts],
    delays: &DelaySample,
    backlog: Backlog,
) -> Stats {
    let count = |counts: &[OutcomeCounts], i: usize| counts.get(i).copied().unwrap_or_default();
    let hourly = hour_ranges(now)
        .into_iter()
        .enumerate()
        .map(|(i, (start, _))| {
            let c = count(hourly_counts, i);
            Bucket {
                start,
                sent: c.sent,
                failed: c.failed,
                retried: c.retried,
            }
        })
        .collect();
    let daily = day_ranges(now)
        .into_iter()
        .enumerate()
        .map(|(i, (start, _))| {
            let c = count(daily_counts, i);
            let day = start.date_naive();
            let mut ms: Vec<i64> = delays
                .delays
                .iter()
                .filter(|(sent_at, _)| sent_at.date_naive() == day)
                .map(|(_, ms)| *ms)
                .collect();
            Day {
                day,
                sent: c.sent,
                failed: c.failed,
                retried: c.retried,
                delay: percentiles(&mut ms),
            }
        })
        .collect();
    Stats {
        at: now,
        hourly,
        daily,
        delay_sample_stride: delays.stride.max(1),
        backlog,
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

    fn counts(sent: u64, failed: u64, retried: u64) -> OutcomeCounts {
        OutcomeCounts {
            sent,
            failed,
            retried,
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
    fn ranges_cover_the_windows_without_gaps() {
        let hours = hour_ranges(now());
        assert_eq!(hours.len(), HOURS);
        assert_eq!(
            hours[0].0,
            Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap()
        );
        assert_eq!(
            hours[HOURS - 1].1,
            Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap()
        );
        let days = day_ranges(now());
        assert_eq!(days.len(), DAYS);
        for pair in hours.windows(2).chain(days.windows(2)) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        assert_eq!(
            days[DAYS - 1].0,
            Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn counts_land_in_their_bucket() {
        let mut hourly = vec![OutcomeCounts::default(); HOURS];
        hourly[HOURS - 1] = counts(5, 0, 2);
        hourly[0] = counts(0, 1, 0);
        let mut daily = vec![OutcomeCounts::default(); DAYS];
        daily[DAYS - 1] = counts(5, 0, 0);
        daily[1] = counts(0, 4, 0);
        let s = assemble(
            now(),
            &hourly,
            &daily,
            &DelaySample::default(),
            Backlog::default(),
        );
        assert_eq!(s.hourly.len(), HOURS);
        assert_eq!(s.daily.len(), DAYS);
        let last = s.hourly[HOURS - 1];
        assert_eq!(
            (last.start, last.sent, last.retried),
            (Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(), 5, 2)
        );
        assert_eq!(s.hourly[0].failed, 1);
        assert_eq!(s.daily[DAYS - 1].day.to_string(), "2026-11-28");
        assert_eq!(
            (s.daily[1].day.to_string(), s.daily[1].failed),
            ("2026-10-31".into(), 4)
        );
        assert_eq!(s.delay_sample_stride, 1);
        // Fewer counts than ranges (never from storage) read as zeros, not a panic.
        let short = assemble(now(), &[], &[], &DelaySample::default(), Backlog::default());
        assert!(short.hourly.iter().all(|b| b.sent == 0));
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
