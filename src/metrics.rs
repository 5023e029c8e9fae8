//! Prometheus metrics for `GET /metrics` (ARCHITECTURE.md, Export, health and metrics), in the
//! OpenMetrics text format.
//!
//! The outbox depth is read from the database at scrape time (it is shared by every relay and
//! changed by operators, so a counter kept in this process would drift); the rest is what this
//! process's relay reports through the small API below.
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::domain::OutboxState;
use crate::storage::Storage;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The outcomes of an attempt, as in the sync log and `digis_attempt`.
pub const OUTCOMES: [&str; 5] = ["sent", "retry", "failed", "discarded", "paused"];

type Label = [(&'static str, &'static str); 1];

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the metrics: {0}")]
pub struct MetricsError(#[from] std::fmt::Error);

/// Cheap to clone: every clone updates the same metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    depth: Family<Label, Gauge>,
    deliveries: Family<Label, Counter>,
    attempt_duration: Histogram,
    paused: Gauge,
    /// What this process's relay reported; the database's pause flag is read at scrape time.
    paused_here: Gauge,
    circuit_open: Gauge,
    last_success: Gauge<f64, AtomicU64>,
    database_up: Gauge,
    /// No labels; a family only so that it can be left out when the database is unreachable.
    oldest_pending_age: Family<Vec<(&'static str, &'static str)>, Gauge>,
    /// One scrape at a time: a scrape sets the depth gauges and then encodes them.
    render: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let depth = Family::<Label, Gauge>::default();
        registry.register(
            "digis_outbox_depth",
            "Rows in digis_outbox by state (read from the database at scrape time)",
            depth.clone(),
        );
        let deliveries = Family::<Label, Counter>::default();
        // Every outcome shows from the start, so rate() works from the first scrape.
        for o in OUTCOMES {
            let _ = deliveries.get_or_create_owned(&[("outcome", o)]);
        }
        registry.register(
            "digis_deliveries",
            "Delivery attempts made by this process, by outcome",
            deliveries.clone(),
        );
        let attempt_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "digis_attempt_duration_seconds",
            "Duration of one delivery attempt (the Digis request and its completion)",
            attempt_duration.clone(),
        );
        let paused = Gauge::default();
        registry.register(
            "digis_relay_paused",
            "1 when delivery is paused (the database's pause flag, or this relay paused itself)",
            paused.clone(),
        );
        let circuit_open = Gauge::default();
        registry.register(
            "digis_relay_circuit_open",
            "1 while this relay's circuit is open (Digis failing, no attempts are made)",
            circuit_open.clone(),
        );
        let last_success = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "digis_last_success_timestamp_seconds",
            "Unix time of the last invitation Digis accepted from this process (0: none yet)",
            last_success.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "digis_database_up",
            "1 when the last scrape could read the database",
            database_up.clone(),
        );
        let oldest_pending_age = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        registry.register(
            "digis_outbox_oldest_pending_age_seconds",
            "Seconds the longest-waiting due pending row has waited since it became due (0: none is due); read from the database at scrape time",
            oldest_pending_age.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                oldest_pending_age,
                registry,
                depth,
                deliveries,
                attempt_duration,
                paused,
                paused_here: Gauge::default(),
                circuit_open,
                last_success,
                database_up,
                render: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// One attempt ended with `outcome` (one of [`OUTCOMES`]; anything else counts as
    /// `other`) after `duration`.
    pub fn record_attempt(&self, outcome: &str, duration: Duration) {
        let outcome = OUTCOMES
            .iter()
            .find(|o| **o == outcome)
            .copied()
            .unwrap_or("other");
        self.inner
            .deliveries
            .get_or_create(&[("outcome", outcome)])
            .inc();
        self.inner.attempt_duration.observe(duration.as_secs_f64());
    }

    /// Digis accepted an invitation at `at`.
    pub fn record_success(&self, at: DateTime<Utc>) {
        self.inner
            .last_success
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    pub fn set_paused(&self, paused: bool) {
        self.inner.paused_here.set(paused as i64);
    }

    pub fn set_circuit_open(&self, open: bool) {
        self.inner.circuit_open.set(open as i64);
    }

    /// The OpenMetrics text of every metric, with the outbox depth and the pause flag read from
    /// `storage` now. An unreachable database does not fail the scrape (the relay's own metrics
    /// matter most then): `digis_database_up` is 0 and the depth gauges are left out rather
    /// than shown stale.
    pub async fn render(&self, storage: &dyn Storage) -> Result<String, MetricsError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.render.lock().await;
        let control = storage.control().await;
        let now = Utc::now();
        let oldest = storage.oldest_due_pending(now).await;
        // Read last, just before encoding: a delivery this process already counted is then
        // (nearly always) in the depth too, so the two agree on one scrape.
        let counts = storage.counts().await;
        match &oldest {
            Ok(t) => {
                inner
                    .oldest_pending_age
                    .get_or_create(&Vec::new())
                    .set(crate::health::backlog_age_seconds(*t, now));
            }
            Err(e) => {
                tracing::warn!("metrics: cannot read the oldest due pending row: {e}");
                inner.oldest_pending_age.clear();
            }
        }
        match &counts {
            Ok(c) => {
                for state in OutboxState::ALL {
                    inner
                        .depth
                        .get_or_create(&[("state", state.as_str())])
                        .set(c.get(state) as i64);
                }
            }
            Err(e) => {
                tracing::warn!("metrics: cannot read the outbox counts: {e}");
                inner.depth.clear();
            }
        }
        let db_paused = control.as_ref().map(|c| c.paused).unwrap_or(false);
        inner
            .paused
            .set((db_paused || inner.paused_here.get() != 0) as i64);
        inner
            .database_up
            .set((counts.is_ok() && control.is_ok() && oldest.is_ok()) as i64);
        let mut text = String::with_capacity(4096);
        encode(&mut text, &inner.registry)?;
        Ok(text)
    }
}
