//! What the relay reports as it works, for metrics and the dashboard. Default methods do
//! nothing so an observer implements only what it needs.
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::AttemptOutcome;

pub trait Observer: Send + Sync {
    /// One attempt ended with `outcome`.
    fn attempt(&self, _outcome: AttemptOutcome, _duration: Duration) {}
    /// Digis accepted a member.
    fn success(&self, _at: DateTime<Utc>) {}
    /// The relay's state changed.
    fn state(&self, _paused: bool, _circuit_open: bool) {}
    /// The relay's request rate changed (requests per second; `None`: no limit).
    fn request_rate(&self, _per_second: Option<f64>) {}
    /// The relay's share of the budget the live relays share changed (`None`: no limit).
    fn request_share(&self, _per_second: Option<f64>) {}
}

pub struct NoObserver;
impl Observer for NoObserver {}

/// The Prometheus metrics follow the relay.
impl Observer for crate::metrics::Metrics {
    fn attempt(&self, outcome: AttemptOutcome, duration: Duration) {
        self.record_attempt(outcome, duration);
    }
    fn success(&self, at: DateTime<Utc>) {
        self.record_success(at);
    }
    fn state(&self, paused: bool, circuit_open: bool) {
        self.set_paused(paused);
        self.set_circuit_open(circuit_open);
    }
    fn request_rate(&self, per_second: Option<f64>) {
        self.set_request_rate(per_second);
    }
    fn request_share(&self, per_second: Option<f64>) {
        self.set_request_share(per_second);
    }
}
