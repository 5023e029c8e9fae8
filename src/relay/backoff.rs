//! Exponential backoff with full jitter (AWS's "Exponential Backoff and Jitter"): the delay
//! before attempt n+1 is uniform in [0, min(cap, base·2^(n-1))], so relays that failed together
//! do not retry together.
use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The ceiling for the delay after `attempts` failed attempts (1 = the first failed).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(32);
        let ms = (self.base.as_millis() as u64).saturating_mul(1u64 << exp);
        Duration::from_millis(ms.min(self.cap.as_millis() as u64))
    }

    /// A random delay in [0, ceiling], never shorter than `at_least` (Digis's Retry-After),
    /// and never longer than the cap whatever Digis asked for (docs/contracts.md, Digis HTTP).
    pub fn delay(&self, attempts: u32, at_least: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempts).as_millis() as u64;
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling));
        match at_least {
            Some(min) => jittered.max(min.min(self.cap)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_to_the_cap_and_jitters_within_it() {
        let b = Backoff {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        };
        assert_eq!(b.ceiling(1), Duration::from_secs(30));
        assert_eq!(b.ceiling(2), Duration::from_secs(60));
        assert_eq!(b.ceiling(5), Duration::from_secs(480));
        assert_eq!(b.ceiling(12), Duration::from_secs(3600));
        assert_eq!(b.ceiling(200), Duration::from_secs(3600));
        let mut rng = rand::rng();
        for n in 1..15 {
            let d = b.delay(n, None, &mut rng);
            assert!(d <= b.ceiling(n));
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let b = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(20),
        };
        let d = b.delay(1, Some(Duration::from_millis(15)), &mut rand::rng());
        assert_eq!(d, Duration::from_millis(15));
        let d = b.delay(1, Some(Duration::from_secs(5)), &mut rand::rng());
        assert_eq!(d, Duration::from_millis(20), "capped at backoff_max");
    }
}
