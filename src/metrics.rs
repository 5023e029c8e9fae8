//! Prometheus metrics for `GET /metrics` (docs/contracts.md, Export, health and metrics), in the
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

use crate::domain::{AdapterState, AttemptOutcome, OutboxState, PauseKind, RelayState};
use crate::storage::{Control, Storage};

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Label = [(&'static str, &'static str); 1];
type RelayLabel = [(&'static str, String); 1];
type NoLabel = Vec<(&'static str, &'static str)>;

/// A relay's own gauges (`digis_relay_alive`, `digis_relay_heartbeat_age_seconds`) are exported
/// while its last heartbeat is younger than this and it has not stopped cleanly. The relays
/// table keeps every relay ever seen (with the default `relay_id` each restart is a new one):
/// without a window the series would grow forever, and a relay that crashed and was replaced
/// would keep its alert firing for good. See docs/contracts.md, Export, health and metrics.
pub const RELAY_METRICS_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(1);

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
    /// This process's relay's request rate; left out while there is no limit (or no relay).
    request_rate: Family<NoLabel, Gauge<f64, AtomicU64>>,
    /// This process's relay's share of the budget the live relays share; absent like the rate.
    request_share: Family<NoLabel, Gauge<f64, AtomicU64>>,
    last_success: Gauge<f64, AtomicU64>,
    database_up: Gauge,
    /// The database's pause flag was set by a relay (Digis rejected the configuration).
    self_paused: Gauge,
    /// The database's pause flag was set by a relay after a 2xx that confirmed nothing.
    unconfirmed_paused: Gauge,
    /// No labels; families only so that they can be left out when the database is unreachable.
    oldest_pending_age: Family<NoLabel, Gauge>,
    relays_live: Family<NoLabel, Gauge>,
    relay_alive: Family<RelayLabel, Gauge>,
    relay_heartbeat_age: Family<RelayLabel, Gauge<f64, AtomicU64>>,
    relay_clock_offset: Family<RelayLabel, Gauge<f64, AtomicU64>>,
    export_pages: Counter,
    /// The host adapter's state, as this process's relay last judged it; absent until then.
    host_adapter: Family<Label, Gauge>,
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
        for o in AttemptOutcome::ALL {
            let _ = deliveries.get_or_create_owned(&[("outcome", o.as_str())]);
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
        let request_rate = Family::<NoLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "digis_relay_request_rate",
            "Requests per second this process's relay allows itself now: max_requests_per_second, halved on each 429/503 from Digis and raised slowly again on success; absent when there is no limit (max_requests_per_second = 0) or no relay runs in this process",
            request_rate.clone(),
        );
        let request_share = Family::<NoLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "digis_relay_request_share",
            "Requests per second this process's relay may use at most: its share of max_requests_per_second among the live relays (whole requests each, 5% spared while shared); the request rate adapts within it; absent when there is no limit or no relay runs in this process",
            request_share.clone(),
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
        let oldest_pending_age = Family::<NoLabel, Gauge>::default();
        registry.register(
            "digis_outbox_oldest_pending_age_seconds",
            "Seconds the longest-waiting due pending row has waited since it became due (0: none is due); read from the database at scrape time",
            oldest_pending_age.clone(),
        );
        let self_paused = Gauge::default();
        registry.register(
            "digis_relay_self_paused",
            "1 when delivery is paused by a relay because Digis rejected the configuration (401/403/404/3xx); read from the database at scrape time (an unconfirmed answer's pause is digis_relay_unconfirmed_paused)",
            self_paused.clone(),
        );
        let unconfirmed_paused = Gauge::default();
        registry.register(
            "digis_relay_unconfirmed_paused",
            "1 when delivery is paused by a relay because Digis answered a 2xx that confirms nothing (a body that is not JSON, or one cut at 64 KiB: a proxy or maintenance page?); only `resume` lifts it; read from the database at scrape time",
            unconfirmed_paused.clone(),
        );
        let relays_live = Family::<NoLabel, Gauge>::default();
        registry.register(
            "digis_relays_live",
            "Relays whose heartbeat is fresh (younger than 3 of their own intervals) and that have not stopped; read from the database at scrape time",
            relays_live.clone(),
        );
        let relay_alive = Family::<RelayLabel, Gauge>::default();
        registry.register(
            "digis_relay_alive",
            "Per relay that has not stopped cleanly and beat within the last hour: 1 while its heartbeat is fresh, 0 once it is overdue (crashed or hung); read from the database at scrape time",
            relay_alive.clone(),
        );
        let relay_heartbeat_age = Family::<RelayLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "digis_relay_heartbeat_age_seconds",
            "Per relay as for digis_relay_alive: seconds since its last heartbeat",
            relay_heartbeat_age.clone(),
        );
        let relay_clock_offset = Family::<RelayLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "digis_relay_clock_offset_seconds",
            "Per relay as for digis_relay_alive: the database's clock minus the relay's host's, as the relay last measured it (negative: the host is ahead); beyond relay.max_clock_offset_ms the relay claims nothing",
            relay_clock_offset.clone(),
        );
        let export_pages = Counter::default();
        registry.register(
            "digis_export_pages",
            "Pages of members (export.page_size each) the HTTP export has read from the database; a client that stops reading holds it back once the connection's buffers are full",
            export_pages.clone(),
        );
        let host_adapter = Family::<Label, Gauge>::default();
        registry.register(
            "digis_host_adapter_state",
            "1 for the host adapter's state, 0 for the others: ok; changed (the configured [host] adapter file differs from what `migrate` applied); missing (`migrate` never applied one); invalid (a view, a column or the triggers are not what the relay needs, or the file cannot be read). Judged by this process's relay at start and every minute, as `doctor` judges it; absent until then",
            host_adapter.clone(),
        );
        let start_time = Gauge::<f64, AtomicU64>::default();
        start_time.set(Utc::now().timestamp_millis() as f64 / 1000.0);
        registry.register(
            "process_start_time_seconds",
            "Unix time this process started serving metrics (the baseline for alerts on digis_last_success_timestamp_seconds, which is 0 until the first success)",
            start_time,
        );
        Metrics {
            inner: Arc::new(Inner {
                oldest_pending_age,
                self_paused,
                unconfirmed_paused,
                relays_live,
                relay_alive,
                relay_heartbeat_age,
                relay_clock_offset,
                export_pages,
                host_adapter,
                registry,
                depth,
                deliveries,
                attempt_duration,
                paused,
                paused_here: Gauge::default(),
                circuit_open,
                request_rate,
                request_share,
                last_success,
                database_up,
                render: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// One attempt ended with `outcome` after `duration`.
    pub fn record_attempt(&self, outcome: AttemptOutcome, duration: Duration) {
        self.inner
            .deliveries
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
        self.inner.attempt_duration.observe(duration.as_secs_f64());
    }

    /// Digis accepted an invitation at `at`.
    pub fn record_success(&self, at: DateTime<Utc>) {
        self.inner
            .last_success
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// The HTTP export read one more page of members from the database.
    pub fn record_export_page(&self) {
        self.inner.export_pages.inc();
    }

    pub fn set_paused(&self, paused: bool) {
        self.inner.paused_here.set(paused as i64);
    }

    pub fn set_circuit_open(&self, open: bool) {
        self.inner.circuit_open.set(open as i64);
    }

    /// The host adapter's state as last judged; `None`: not judged (the database could not be
    /// read, or this database has no adapter), the series are left out.
    pub fn set_host_adapter_state(&self, state: Option<AdapterState>) {
        let family = &self.inner.host_adapter;
        match state {
            Some(state) => {
                for s in AdapterState::ALL {
                    family
                        .get_or_create(&[("state", s.as_str())])
                        .set((s == state) as i64);
                }
            }
            None => family.clear(),
        }
    }

    /// The relay's request rate (requests per second); `None`: no limit, the gauge is left out.
    pub fn set_request_rate(&self, per_second: Option<f64>) {
        let family = &self.inner.request_rate;
        match per_second {
            Some(r) => {
                family.get_or_create(&Vec::new()).set(r);
            }
            None => family.clear(),
        }
    }

    /// The relay's share of the shared budget; `None`: no limit, the gauge is left out.
    pub fn set_request_share(&self, per_second: Option<f64>) {
        let family = &self.inner.request_share;
        match per_second {
            Some(r) => {
                family.get_or_create(&Vec::new()).set(r);
            }
            None => family.clear(),
        }
    }

    /// The OpenMetrics text of every metric, with the outbox depth and the pause flag read from
    /// `storage` now. An unreachable database does not fail the scrape (the relay's own metrics
    /// matter most then): `digis_database_up` is 0 and the depth gauges are left out rather
    /// than shown stale.
    pub async fn render(&self, storage: &dyn Storage) -> Result<String, MetricsError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.render.lock().await;
        let control = storage.control().await;
        // Heartbeats and due times are in the database's time: so is every age here.
        let now = crate::clock::db_now_or_local(storage).await;
        let oldest = storage.oldest_due_pending(now).await;
        let relays = storage.relays().await;
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
        // Relays that left the window (or stopped) must disappear, not keep their last value.
        inner.relay_alive.clear();
        inner.relay_heartbeat_age.clear();
        inner.relay_clock_offset.clear();
        match &relays {
            Ok(relays) => {
                let live = relays
                    .iter()
                    .filter(|r| crate::health::is_live(r, now))
                    .count();
                inner
                    .relays_live
                    .get_or_create(&Vec::new())
                    .set(live as i64);
                for r in relays.iter().filter(|r| {
                    r.state != RelayState::Stopped && now - r.heartbeat_at < RELAY_METRICS_WINDOW
                }) {
                    let label = [("relay_id", crate::sanitize::for_display(&r.relay_id))];
                    inner
                        .relay_alive
                        .get_or_create(&label)
                        .set(crate::health::is_live(r, now) as i64);
                    let age = (now - r.heartbeat_at).num_milliseconds().max(0) as f64 / 1000.0;
                    inner.relay_heartbeat_age.get_or_create(&label).set(age);
                    if let Some(ms) = r.clock_offset_ms {
                        inner
                            .relay_clock_offset
                            .get_or_create(&label)
                            .set(ms as f64 / 1000.0);
                    }
                }
            }
            Err(e) => {
                tracing::warn!("metrics: cannot read the relays: {e}");
                inner.relays_live.clear();
            }
        }
        let db_paused = control.as_ref().map(|c| c.paused).unwrap_or(false);
        inner
            .paused
            .set((db_paused || inner.paused_here.get() != 0) as i64);
        let pause = control.as_ref().ok().and_then(Control::pause);
        inner
            .self_paused
            .set((pause == Some(PauseKind::ConfigError)) as i64);
        inner
            .unconfirmed_paused
            .set((pause == Some(PauseKind::Unconfirmed)) as i64);
        inner
            .database_up
            .set((counts.is_ok() && control.is_ok() && oldest.is_ok() && relays.is_ok()) as i64);
        let mut text = String::with_capacity(4096);
        encode(&mut text, &inner.registry)?;
        Ok(text)
    }
}
