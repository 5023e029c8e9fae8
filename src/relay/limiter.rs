//! Requests-per-second limit: request starts are spaced at least 1/rps apart, across all
//! concurrent sends of this relay.
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    spacing: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` of 0 means no limit.
    pub fn new(per_second: u32) -> Self {
        let spacing = (per_second > 0).then(|| Duration::from_secs_f64(1.0 / per_second as f64));
        Self {
            spacing,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's slot.
    pub async fn acquire(&self) {
        let Some(spacing) = self.spacing else { return };
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + spacing;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
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
    }
}
