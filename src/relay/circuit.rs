//! The circuit breaker: after a run of retryable failures (Digis down, timeouts) the relay
//! stops sending for a while instead of burning every row's attempts, then lets one probe
//! through. A success closes it.
//!
//! This is one relay's view. The circuit every relay obeys is in the database
//! (`digis_control.circuit_open_until`, see `drain.rs`): a relay whose run of failures opens
//! its own opens the shared one, a relay that finds the shared one open mirrors it here (so
//! the rows it has already claimed go back unsent), and the one probe is won in the database.
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
    /// When this relay last opened it itself (not mirrored from the database): a read of the
    /// shared circuit that began before then cannot close it.
    opened_at: Option<std::time::Instant>,
}

impl Circuit {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            failures: 0,
            state: CircuitState::Closed,
            opened_at: None,
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

    /// Digis answered; returns true when this closed an open (or half-open) circuit.
    pub fn success(&mut self) -> bool {
        self.failures = 0;
        let was_open = self.state != CircuitState::Closed;
        self.state = CircuitState::Closed;
        was_open
    }

    /// A retryable failure; returns true when this one opened the circuit.
    pub fn failure(&mut self, now: DateTime<Utc>) -> bool {
        self.failures += 1;
        let reopen = matches!(self.state(now), CircuitState::HalfOpen);
        if reopen || (self.state == CircuitState::Closed && self.failures >= self.threshold) {
            let until = now
                + chrono::Duration::from_std(self.open_for).unwrap_or(chrono::Duration::minutes(1));
            self.state = CircuitState::Open { until };
            self.opened_at = Some(std::time::Instant::now());
            return true;
        }
        false
    }

    /// The shared circuit is open until `until` (this relay's clock): no request goes out.
    pub fn mirror_open(&mut self, until: DateTime<Utc>) {
        self.state = CircuitState::Open { until };
    }

    /// This relay won the shared circuit's probe: one request goes out.
    pub fn probing(&mut self) {
        self.state = CircuitState::HalfOpen;
    }

    /// The shared circuit was closed when read (the read began at `read_at`): another relay's
    /// probe went through. Unless this relay opened its own since the read began (its write may
    /// not have been committed when the read ran), it closes too.
    pub fn shared_closed(&mut self, read_at: std::time::Instant) {
        if self.state == CircuitState::Closed || self.opened_at.is_some_and(|t| t >= read_at) {
            return;
        }
        self.failures = 0;
        self.state = CircuitState::Closed;
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
        c.probing();
        assert!(c.allows(t1));
        assert!(c.success(), "the probe closed it");
        assert_eq!(c.state(t1), CircuitState::Closed);
        assert!(!c.success(), "already closed");
    }

    #[test]
    fn the_shared_circuit_closes_a_mirror_but_not_an_opening_newer_than_the_read() {
        let t0 = Utc::now();
        let mut c = Circuit::new(1, Duration::from_secs(60));
        c.mirror_open(t0 + chrono::Duration::seconds(30));
        assert!(!c.allows(t0));
        c.shared_closed(std::time::Instant::now());
        assert!(c.allows(t0));
        // Opened by this relay after the read began: its write may not have been seen.
        let read_at = std::time::Instant::now();
        assert!(c.failure(t0));
        c.shared_closed(read_at);
        assert!(!c.allows(t0));
        // A read that began after the opening saw it closed: another relay's probe closed it.
        c.shared_closed(std::time::Instant::now());
        assert!(c.allows(t0));
    }
}
