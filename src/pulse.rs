//! The relay loop's proof of life (docs/systemd.md): the loop beats at every turn and
//! from inside each of its waits, and the systemd watchdog is fed only while the last beat is
//! fresh (`crate::systemd`). A wait in the loop that can last longer than the watchdog allows
//! (idle until the next poll, a request to Digis, a held commit's backoff, paused, circuit
//! open) goes through [`Pulse::through`] or has a [`Pulse::tick`] arm, so it wakes to beat; a
//! loop stuck anywhere else (a blocked thread, a deadlock, a database call past its own
//! timeout) stops beating, and only then does the feed stop.
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// tokio's clock, so a test with paused time sees the pulse age as the loop does.
use tokio::time::Instant;

/// When the relay's loop last beat, and how often a wait must wake to beat.
#[derive(Debug)]
pub struct Pulse {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last beat.
    last_ms: AtomicU64,
    /// How often a wait wakes to beat, in ms; 0: never (no watchdog, so no wake-ups for it).
    every_ms: AtomicU64,
}

impl Default for Pulse {
    fn default() -> Self {
        Pulse {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            every_ms: AtomicU64::new(0),
        }
    }
}

impl Pulse {
    /// The loop is alive now.
    pub fn beat(&self) {
        let now = self.epoch.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long since the last beat.
    pub fn age(&self) -> Duration {
        let now = self.epoch.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Waits wake to beat this often from now on (a quarter of the watchdog interval).
    pub fn set_every(&self, every: Duration) {
        let ms = every.as_millis().clamp(1, u64::MAX as u128) as u64;
        self.every_ms.store(ms, Ordering::Relaxed);
    }

    fn every(&self) -> Option<Duration> {
        match self.every_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Resolves after the beat interval (never without a watchdog): a `select!` arm that
    /// brings a waiting loop round to beat.
    pub async fn tick(&self) {
        match self.every() {
            Some(every) => tokio::time::sleep(every).await,
            None => std::future::pending().await,
        }
    }

    /// Awaits `fut`, beating before, every beat interval while it waits, and after.
    pub async fn through<F: Future>(&self, fut: F) -> F::Output {
        self.beat();
        let Some(every) = self.every() else {
            let out = fut.await;
            self.beat();
            return out;
        };
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => {
                    self.beat();
                    return out;
                }
                _ = tokio::time::sleep(every) => self.beat(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_through_the_pulse_keeps_it_fresh() {
        let pulse = Pulse::default();
        pulse.set_every(Duration::from_millis(250));
        let ages = std::sync::Mutex::new(Vec::new());
        let watch = async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                ages.lock().unwrap().push(pulse.age());
            }
        };
        let wait = pulse.through(tokio::time::sleep(Duration::from_secs(3)));
        tokio::join!(watch, wait);
        let worst = ages.lock().unwrap().iter().max().copied().unwrap();
        assert!(worst <= Duration::from_millis(300), "oldest beat {worst:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_beat_interval_a_wait_does_not_wake() {
        let pulse = Pulse::default();
        pulse
            .through(tokio::time::sleep(Duration::from_secs(3)))
            .await;
        assert!(pulse.age() < Duration::from_millis(10));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(pulse.age() >= Duration::from_secs(2));
    }
}
