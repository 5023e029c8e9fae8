//! The request rate (docs/delivery-path.md): request starts are spaced at least
//! 1/rate apart across all concurrent sends of this relay, and the rate adapts to Digis (AIMD):
//! a 429 or 503 halves it, each success raises it a little, never above
//! `max_requests_per_second` and never below [`MIN_RATE`].
//!
//! Several relays share one budget (the Digis key's limit): the ceiling moves to this relay's
//! share of `max_requests_per_second` ([`share`], recounted at every heartbeat), and AIMD
//! adapts within it.
//!
//! With `max_requests_per_second = 0` there is no limit and nothing to adapt: the relay sends
//! as fast as `concurrency` allows (the drain benchmark runs so). A 429/503 then still delays
//! the row itself (Retry-After, backoff), as with any limit.
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The lowest the rate falls, in requests per second: low enough to let a struggling Digis
/// breathe, high enough that a backlog still moves and a recovery is seen within seconds.
pub const MIN_RATE: f64 = 1.0;
/// A 429/503 multiplies the rate by this.
pub const DECREASE_FACTOR: f64 = 0.5;
/// Successes raise the rate by about this many requests per second for every second of
/// successful sending (each success adds `INCREASE_PER_SECOND / rate`): from half of a
/// limit of 20 back to it in about 10 s.
pub const INCREASE_PER_SECOND: f64 = 1.0;

/// Additive increase, multiplicative decrease of a request rate. Pure: the caller passes the
/// time, so every rule is tested without a clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    rate: f64,
    max: f64,
    min: f64,
    /// When the rate was last cut: answers to requests sent before that were sent at the old
    /// rate, so their 429s do not cut it again (one burst would otherwise cut it to the floor).
    last_cut: Option<Instant>,
}

impl Aimd {
    /// Starts at `max` requests per second; `None` for 0 (no limit, nothing to adapt).
    pub fn new(max: u32) -> Option<Aimd> {
        let max = f64::from(max);
        (max > 0.0).then(|| Aimd {
            rate: max,
            max,
            min: MIN_RATE.min(max),
            last_cut: None,
        })
    }

    /// Requests per second now.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The ceiling now (the relay's share of the budget).
    pub fn ceiling(&self) -> f64 {
        self.max
    }

    /// Moves the ceiling to `max` (a share of the budget that changed as relays came and went).
    /// A lower ceiling applies at once; a higher one is climbed to by successes, additively,
    /// as after a cut, so a fleet that lost a relay does not jump to the new budget together.
    pub fn set_ceiling(&mut self, max: f64) {
        if !(max.is_finite() && max > 0.0) || max == self.max {
            return;
        }
        self.max = max;
        self.min = MIN_RATE.min(max);
        self.rate = self.rate.clamp(self.min, self.max);
    }

    /// Digis answered 429 or 503 at `now` to a request sent at `sent_at`.
    pub fn throttled(&mut self, sent_at: Instant, now: Instant) {
        if self.last_cut.is_some_and(|cut| sent_at < cut) {
            return;
        }
        self.rate = (self.rate * DECREASE_FACTOR).clamp(self.min, self.max);
        self.last_cut = Some(now);
    }

    /// Digis answered anything but 429/503 (it kept up).
    pub fn succeeded(&mut self) {
        let step = INCREASE_PER_SECOND / self.rate.max(self.min);
        self.rate = (self.rate + step).clamp(self.min, self.max);
    }

    /// The spacing between request starts at the current rate.
    pub fn spacing(&self) -> Duration {
        // `rate` is at least `min` > 0, so the quotient is finite; the clamp keeps it so.
        Duration::from_secs_f64((1.0 / self.rate).clamp(0.0, 1.0 / self.min))
    }
}

/// How an answer bears on the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 429 Too Many Requests or 503 Service Unavailable: slow down.
    SlowDown,
    /// Digis kept up (whatever it said about the member).
    KeptUp,
    /// No sign either way (a timeout, a 500): the circuit and the backoff deal with these.
    Neither,
}

impl Verdict {
    pub fn of(answer: &crate::digis::Answer) -> Verdict {
        use crate::digis::Answer;
        match answer {
            Answer::RetryLater {
                status: Some(429 | 503),
                ..
            } => Verdict::SlowDown,
            Answer::RetryLater { .. } => Verdict::Neither,
            _ => Verdict::KeptUp,
        }
    }
}

/// The relay's limiter: one for all of its concurrent sends.
pub struct RateLimiter {
    /// `None`: no limit.
    inner: Option<Mutex<Inner>>,
}

struct Inner {
    next: Instant,
    aimd: Aimd,
}

impl RateLimiter {
    /// `per_second` of 0 means no limit.
    pub fn new(per_second: u32) -> Self {
        Self {
            inner: Aimd::new(per_second).map(|aimd| {
                Mutex::new(Inner {
                    next: Instant::now(),
                    aimd,
                })
            }),
        }
    }

    fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this request's slot and returns it (when the request may start).
    pub async fn acquire(&self) -> Instant {
        let Some(m) = &self.inner else {
            return Instant::now();
        };
        let slot = {
            let mut inner = Self::lock(m);
            let slot = inner.next.max(Instant::now());
            inner.next = slot.checked_add(inner.aimd.spacing()).unwrap_or(inner.next);
            slot
        };
        tokio::time::sleep_until(slot).await;
        slot
    }

    /// Digis answered the request that started at `sent_at`; returns the rate now.
    pub fn answered(&self, sent_at: Instant, verdict: Verdict) -> Option<f64> {
        let m = self.inner.as_ref()?;
        let mut inner = Self::lock(m);
        match verdict {
            Verdict::SlowDown => inner.aimd.throttled(sent_at, Instant::now()),
            Verdict::KeptUp => inner.aimd.succeeded(),
            Verdict::Neither => {}
        }
        Some(inner.aimd.rate())
    }

    /// Requests per second now; `None` when there is no limit.
    pub fn rate(&self) -> Option<f64> {
        self.inner.as_ref().map(|m| Self::lock(m).aimd.rate())
    }

    /// The ceiling (this relay's share of the budget); `None` when there is no limit.
    pub fn ceiling(&self) -> Option<f64> {
        self.inner.as_ref().map(|m| Self::lock(m).aimd.ceiling())
    }

    /// Moves the ceiling to `share` requests per second (no effect without a limit). The slot
    /// already reserved keeps its spacing; the next ones take the new rate.
    pub fn set_ceiling(&self, share: f64) {
        if let Some(m) = &self.inner {
            Self::lock(m).aimd.set_ceiling(share);
        }
    }
}

/// The fraction of its share a relay uses while it shares the budget with others. Each relay
/// spaces its own requests; their phases are unrelated, so in a one-second window each can
/// land one request more than its rate (the slots at both edges). Spacing 5 % wider than the
/// share absorbs that edge for arrival jitter up to 50 ms.
pub const SHARED_HEADROOM: f64 = 0.95;

/// This relay's share of a budget of `budget` requests per second among `live` live relays
/// (itself included), `rank` being its place among them by relay id (0-based). The budget is
/// split in whole requests per second, the remainder to the first ranks, so that the shares'
/// one-second windows add up to the budget; with fewer requests than relays each gets an equal
/// fraction. Alone, a relay has the whole budget (its rate is the limit, as before sharing).
pub fn share(budget: u32, live: usize, rank: usize) -> f64 {
    let live = live.max(1);
    if live == 1 {
        return f64::from(budget);
    }
    let n = u64::from(budget);
    let l = live as u64;
    let whole = if n >= l {
        let base = n / l;
        let extra = u64::from((rank as u64) < n % l);
        (base + extra) as f64
    } else {
        n as f64 / l as f64
    };
    whole * SHARED_HEADROOM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests() {
        let l = RateLimiter::new(10);
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        // Five slots: 0, 100, 200, 300, 400 ms (the paused clock advances exactly).
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        let unlimited = RateLimiter::new(0);
        let t = Instant::now();
        unlimited.acquire().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
        assert_eq!(unlimited.rate(), None);
        assert_eq!(unlimited.answered(t, Verdict::SlowDown), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_widens_the_spacing_of_later_requests() {
        let l = RateLimiter::new(10);
        let sent = l.acquire().await;
        assert_eq!(l.answered(sent, Verdict::SlowDown), Some(5.0));
        // The slot after `sent` was reserved at 10/s; the one after it is at 5/s.
        let a = l.acquire().await;
        let b = l.acquire().await;
        assert_eq!(a - sent, Duration::from_millis(100));
        assert_eq!(b - a, Duration::from_millis(200));
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn no_limit_has_nothing_to_adapt() {
        assert_eq!(Aimd::new(0), None);
    }

    #[test]
    fn a_429_or_503_halves_the_rate() {
        let t0 = Instant::now();
        let mut a = Aimd::new(60).unwrap();
        assert_eq!(a.rate(), 60.0);
        a.throttled(at(t0, 0), at(t0, 10));
        assert_eq!(a.rate(), 30.0);
        a.throttled(at(t0, 20), at(t0, 30));
        assert_eq!(a.rate(), 15.0);
        for (answer, want) in [
            (429, Verdict::SlowDown),
            (503, Verdict::SlowDown),
            (500, Verdict::Neither),
        ] {
            let got = Verdict::of(&crate::digis::Answer::RetryLater {
                status: Some(answer),
                reason: String::new(),
                retry_after: None,
            });
            assert_eq!(got, want, "{answer}");
        }
        let rejected = crate::digis::Answer::Rejected {
            status: 400,
            message: String::new(),
        };
        assert_eq!(Verdict::of(&rejected), Verdict::KeptUp);
    }

    /// Requests in flight when the rate was cut were sent at the old rate: their 429s say
    /// nothing new, and counting them would cut a rate of 60 to the floor in one burst.
    #[test]
    fn answers_to_requests_sent_before_a_cut_do_not_cut_again() {
        let t0 = Instant::now();
        let mut a = Aimd::new(60).unwrap();
        a.throttled(at(t0, 0), at(t0, 100));
        for sent in [0, 50, 99] {
            a.throttled(at(t0, sent), at(t0, 150));
        }
        assert_eq!(a.rate(), 30.0);
        // Sent after the cut, still too fast: cut again.
        a.throttled(at(t0, 100), at(t0, 200));
        assert_eq!(a.rate(), 15.0);
    }

    #[test]
    fn successes_raise_the_rate_additively() {
        let t0 = Instant::now();
        let mut a = Aimd::new(60).unwrap();
        a.throttled(t0, t0);
        a.throttled(at(t0, 1), at(t0, 1));
        assert_eq!(a.rate(), 15.0);
        // A second's worth of successes at 15/s adds about INCREASE_PER_SECOND.
        for _ in 0..15 {
            a.succeeded();
        }
        assert!(
            (a.rate() - (15.0 + INCREASE_PER_SECOND)).abs() < 0.05,
            "{}",
            a.rate()
        );
        // Additive, not multiplicative: far fewer than the doubling a cut undoes.
        let before = a.rate();
        a.succeeded();
        assert!(a.rate() - before < 0.1);
    }

    #[test]
    fn the_rate_never_exceeds_the_maximum() {
        let mut a = Aimd::new(3).unwrap();
        for _ in 0..10_000 {
            a.succeeded();
        }
        assert_eq!(a.rate(), 3.0);
        let mut huge = Aimd::new(u32::MAX).unwrap();
        for _ in 0..1_000 {
            huge.succeeded();
        }
        assert_eq!(huge.rate(), f64::from(u32::MAX));
        assert!(huge.spacing() < Duration::from_micros(1));
    }

    #[test]
    fn the_rate_never_falls_to_zero() {
        let t0 = Instant::now();
        let mut a = Aimd::new(60).unwrap();
        for i in 0..200 {
            a.throttled(at(t0, i), at(t0, i));
        }
        assert_eq!(a.rate(), MIN_RATE);
        assert_eq!(a.spacing(), Duration::from_secs(1));
        // A limit below the floor is its own floor: the maximum always holds.
        let mut one = Aimd::new(1).unwrap();
        one.throttled(t0, t0);
        assert_eq!(one.rate(), 1.0);
        // And a success at the floor climbs out of it.
        a.succeeded();
        assert!(a.rate() > MIN_RATE);
    }

    #[test]
    fn the_budget_is_split_in_whole_requests_among_live_relays() {
        assert_eq!(share(9, 1, 0), 9.0);
        assert_eq!(share(9, 0, 0), 9.0);
        for rank in 0..3 {
            assert_eq!(share(9, 3, rank), 3.0 * SHARED_HEADROOM);
        }
        // 10 among 3: 4 + 3 + 3, never 3 × 3.33 (three windows of 4 would be 12).
        let shares: Vec<f64> = (0..3)
            .map(|r| (share(10, 3, r) / SHARED_HEADROOM).round())
            .collect();
        assert_eq!(shares, [4.0, 3.0, 3.0]);
        // Fewer requests than relays: an equal fraction each, never 0 (a relay holding claims
        // it may never send).
        assert!((share(2, 4, 3) - 0.5 * SHARED_HEADROOM).abs() < 1e-9);
    }

    #[test]
    fn the_ceiling_moves_and_aimd_adapts_within_it() {
        let t0 = Instant::now();
        let mut a = Aimd::new(30).unwrap();
        a.set_ceiling(10.0);
        assert_eq!((a.rate(), a.ceiling()), (10.0, 10.0));
        a.throttled(t0, t0);
        assert_eq!(a.rate(), 5.0);
        // A ceiling below the floor is its own floor.
        a.set_ceiling(0.5);
        assert_eq!(a.rate(), 0.5);
        a.throttled(at(t0, 1), at(t0, 1));
        assert_eq!(a.rate(), 0.5);
        // A higher ceiling is climbed to, not jumped to (from its floor, MIN_RATE).
        a.set_ceiling(20.0);
        assert_eq!(a.rate(), MIN_RATE);
        a.succeeded();
        assert!(a.rate() > MIN_RATE && a.rate() <= 2.0);
        // Nonsense leaves it alone.
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            a.set_ceiling(bad);
            assert_eq!(a.ceiling(), 20.0);
        }
    }

    /// Time arithmetic never panics, whatever the instants.
    #[test]
    fn far_instants_do_not_panic() {
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        let mut a = Aimd::new(10).unwrap();
        a.throttled(far, far);
        // A request sent "before" a cut in the far future is ignored, not a panic.
        a.throttled(t0, t0);
        assert_eq!(a.rate(), 5.0);
    }
}
