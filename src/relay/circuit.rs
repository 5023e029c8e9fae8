//! The circuit breaker: after a run of retryable failures (Digis down, timeouts) the relay
//! stops sending for a while instead of burning every row's attempts, then lets one probe
//! through. A success closes it.
use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open {
        until: DateTime<Utc>,
    },
    /// One probe request is allowed.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Circuit {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    state: CircuitState,
}

impl Circuit {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            failures: 0,
            state: CircuitState::Closed,
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> CircuitState {
        match self.state {
            CircuitState::Open { until } if now >= until => CircuitState::HalfOpen,
            ref s => s.clone(),
        }
    }

    /// May a request be sent now? (In half-open, the caller sends one probe.)
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        !matches!(self.state(now), CircuitState::Open { .. })
    }

    pub fn success(&mut self) {
        self.failures = 0;
        self.state = CircuitState::Closed;
    }

    /// A retryable failure; returns true when this one opened the circuit.
    pub fn failure(&mut self, now: DateTime<Utc>) -> bool {
        self.failures += 1;
        let reopen = matches!(self.state(now), CircuitState::HalfOpen);
        if reopen || (self.state == CircuitState::Closed && self.failures >= self.threshold) {
            let until = now
                + chrono::Duration::from_std(self.open_for).unwrap_or(chrono::Duration::minutes(1));
            self.state = CircuitState::Open { until };
            return true;
        }
        false
    }

    /// An operator's "sync now": probe at once.
    pub fn probe_now(&mut self) {
        if matches!(self.state, CircuitState::Open { .. }) {
            self.state = CircuitState::HalfOpen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_after_the_pause_and_closes_on_success() {
        let t0 = Utc::now();
        let mut c = Circuit::new(3, Duration::from_secs(60));
        assert!(!c.failure(t0));
        assert!(!c.failure(t0));
        assert!(c.failure(t0));
        assert!(!c.allows(t0 + chrono::Duration::seconds(59)));
        assert_eq!(
            c.state(t0 + chrono::Duration::seconds(60)),
            CircuitState::HalfOpen
        );
        // The probe fails: open again at once, without waiting for three more.
        let t1 = t0 + chrono::Duration::seconds(61);
        assert!(c.failure(t1));
        assert!(!c.allows(t1));
        c.probe_now();
        assert!(c.allows(t1));
        c.success();
        assert_eq!(c.state(t1), CircuitState::Closed);
    }
}
