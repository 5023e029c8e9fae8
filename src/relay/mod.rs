//! The relay (DESIGN §6): claims due rows under a lease, re-checks them, sends them to Digis
//! with bounded concurrency and a rate limit, and completes each in one transaction that only
//! commits while the lease is held. Delivery is at-least-once: the only window for a second
//! SMS is a crash between Digis's 2xx and the commit.
mod backoff;
mod circuit;
pub mod decide;
mod limiter;
pub mod observer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

pub use backoff::Backoff;
pub use circuit::{Circuit, CircuitState};
use decide::{after_send, precheck, probe_due, Decision, SELF_PAUSE_PREFIX};
use limiter::RateLimiter;
pub use observer::{NoObserver, Observer};

use crate::config::Config;
use crate::digis::{ClientError, DigisClient, Outcome};
use crate::storage::{
    AttemptRecord, ClaimedRow, CompleteResult, Completion, DynStorage, RelayInfo, StorageError,
};
use crate::synclog::{SyncLine, SyncLog};

/// What a run did, for `run --once` and the demo's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub discarded: u64,
    pub paused: u64,
    pub lease_lost: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    discarded: AtomicU64,
    paused: AtomicU64,
    lease_lost: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Tally {
        Tally {
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            paused: self.paused.load(Ordering::Relaxed),
            lease_lost: self.lease_lost.load(Ordering::Relaxed),
        }
    }
}

pub struct Relay {
    storage: DynStorage,
    config: Arc<Config>,
    /// `None` when useDigis is false: nothing is sent.
    client: Option<DigisClient>,
    relay_id: String,
    synclog: Arc<SyncLog>,
    observer: Arc<dyn Observer>,
    limiter: RateLimiter,
    backoff: Backoff,
    circuit: Mutex<Circuit>,
    started_at: DateTime<Utc>,
    /// (state, detail) for the heartbeat row, shared with the heartbeat task.
    status: Arc<Mutex<(String, Option<String>)>>,
    /// The last "sync now" seen (outer `None`: not looked yet), so a new one can probe an open
    /// circuit at once.
    last_sync: Mutex<Option<Option<DateTime<Utc>>>>,
    /// Set when Digis answered 401/403/404 during a batch: the rest is not sent.
    config_error: AtomicBool,
    counters: Counters,
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// Nothing was due.
    Idle,
    /// Rows were processed.
    Worked(usize),
    /// Sending is not possible now (paused, circuit open, useDigis off).
    Blocked,
}

impl Relay {
    pub fn new(
        storage: DynStorage,
        config: Arc<Config>,
        synclog: Arc<SyncLog>,
    ) -> Result<Relay, ClientError> {
        let client = if config.use_digis {
            Some(DigisClient::new(&config)?)
        } else {
            None
        };
        let relay_id = if config.relay.relay_id.is_empty() {
            format!("{}-{}", crate::util::host_name(), std::process::id())
        } else {
            config.relay.relay_id.clone()
        };
        let r = &config.relay;
        Ok(Relay {
            limiter: RateLimiter::new(r.max_requests_per_second),
            backoff: Backoff {
                base: Duration::from_millis(r.backoff_base_ms),
                cap: Duration::from_millis(r.backoff_max_ms),
            },
            circuit: Mutex::new(Circuit::new(
                r.circuit_failure_threshold,
                Duration::from_millis(r.circuit_open_ms),
            )),
            storage,
            client,
            relay_id,
            synclog,
            observer: Arc::new(NoObserver),
            started_at: Utc::now(),
            status: Arc::new(Mutex::new(("running".into(), None))),
            last_sync: Mutex::new(None),
            config_error: AtomicBool::new(false),
            counters: Counters::default(),
            config,
        })
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Relay {
        self.observer = observer;
        self
    }

    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }

    pub fn tally(&self) -> Tally {
        self.counters.snapshot()
    }

    fn set_status(&self, state: &str, detail: Option<String>) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 != state || s.1 != detail {
            if s.0 != state {
                match &detail {
                    Some(d) => tracing::info!("relay {}: {state} ({d})", self.relay_id),
                    None => tracing::info!("relay {}: {state}", self.relay_id),
                }
            }
            *s = (state.to_string(), detail);
            self.observer
                .state(state == "paused", state == "circuit_open");
        }
    }

    pub async fn heartbeat(&self) -> Result<(), StorageError> {
        HeartbeatCtx {
            storage: self.storage.clone(),
            relay_id: self.relay_id.clone(),
            started_at: self.started_at,
            status: self.status.clone(),
        }
        .beat()
        .await
    }

    /// Runs until `shutdown` (or, with `once`, until nothing is due). In-flight requests finish;
    /// rows claimed but not yet sent are released.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        once: bool,
    ) -> Result<Tally, StorageError> {
        let wake = self.storage.wakeup();
        let poll = Duration::from_millis(self.config.relay.poll_interval_ms);
        let heartbeat_every = Duration::from_millis(self.config.relay.heartbeat_ms);
        self.prune().await;
        self.heartbeat().await?;
        let hb_stop = CancellationToken::new();
        let hb = {
            let stop = hb_stop.clone();
            let beat = HeartbeatCtx {
                storage: self.storage.clone(),
                relay_id: self.relay_id.clone(),
                started_at: self.started_at,
                status: self.status.clone(),
            };
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(heartbeat_every) => {}
                    }
                    if let Err(e) = beat.beat().await {
                        tracing::warn!("heartbeat failed: {e}");
                    }
                }
            })
        };
        let mut last_prune = tokio::time::Instant::now();
        let result = loop {
            if shutdown.is_cancelled() {
                break Ok(());
            }
            let notified = wake.notified();
            let end = match self.run_batch(&shutdown).await {
                Ok(e) => e,
                Err(e) if once => break Err(e),
                Err(e) => {
                    // The database may be restarting: say so and keep trying.
                    self.set_status("running", Some(format!("database error: {e}")));
                    tracing::error!("relay {}: {e}", self.relay_id);
                    BatchEnd::Blocked
                }
            };
            if matches!(end, BatchEnd::Worked(_)) {
                continue;
            }
            if once {
                break Ok(());
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                self.prune().await;
                last_prune = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        };
        hb_stop.cancel();
        let _ = hb.await;
        self.set_status("stopped", None);
        self.heartbeat().await?;
        result.map(|_| self.tally())
    }

    async fn prune(&self) {
        let days = self.config.relay.retention_days;
        if days == 0 {
            return;
        }
        let before = Utc::now() - chrono::Duration::days(days as i64);
        match self.storage.prune(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} sent/discarded rows older than {days} days"),
            Err(e) => tracing::warn!("pruning failed: {e}"),
        }
    }

    /// Claims and processes one batch.
    pub async fn run_batch(&self, shutdown: &CancellationToken) -> Result<BatchEnd, StorageError> {
        let now = Utc::now();
        let Some(client) = &self.client else {
            self.set_status(
                "disabled",
                Some("useDigis is false: nothing is sent".into()),
            );
            return Ok(BatchEnd::Blocked);
        };
        let control = self.storage.control().await?;
        let mut limit = self.config.relay.batch_size;
        // Sync now: an open circuit probes at once.
        {
            let mut seen = self.last_sync.lock().unwrap_or_else(|p| p.into_inner());
            match *seen {
                // The first look is the baseline: a sync from before this relay started is old news.
                None => *seen = Some(control.sync_requested_at),
                Some(before) if control.sync_requested_at > before => {
                    self.circuit
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .probe_now();
                    *seen = Some(control.sync_requested_at);
                }
                Some(_) => {}
            }
        }
        if control.paused {
            let reason = control
                .pause_reason
                .clone()
                .unwrap_or_else(|| "paused".into());
            let self_paused = control
                .paused_by
                .as_deref()
                .is_some_and(|b| b.starts_with(SELF_PAUSE_PREFIX));
            let probe_every = Duration::from_millis(self.config.relay.config_error_probe_ms);
            if !(self_paused
                && probe_due(
                    control.paused_at,
                    control.sync_requested_at,
                    probe_every,
                    now,
                ))
            {
                self.set_status("paused", Some(reason));
                return Ok(BatchEnd::Blocked);
            }
            // Probe with one row: if Digis accepts the configuration again, lift the pause.
            limit = 1;
        }
        {
            let circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            match circuit.state(now) {
                CircuitState::Open { until } => {
                    drop(circuit);
                    self.set_status(
                        "circuit_open",
                        Some(format!(
                            "Digis unreachable; next try at {}",
                            crate::storage_time_text(until)
                        )),
                    );
                    return Ok(BatchEnd::Blocked);
                }
                CircuitState::HalfOpen => limit = 1,
                CircuitState::Closed => {}
            }
        }
        let lease = Duration::from_millis(self.config.relay.lease_ms);
        let claimed = self
            .storage
            .claim(&self.relay_id, limit, lease, now)
            .await?;
        if claimed.is_empty() {
            if !control.paused {
                self.set_status("running", None);
            }
            return Ok(BatchEnd::Idle);
        }
        self.config_error.store(false, Ordering::SeqCst);
        let n = claimed.len();
        let held: Vec<(crate::domain::OutboxId, String)> = claimed
            .iter()
            .map(|c| (c.row.id, c.claim_token.clone()))
            .collect();
        let work = futures::stream::iter(claimed).for_each_concurrent(
            self.config.relay.concurrency as usize,
            |c| async move {
                if let Err(e) = self.process(client, c, shutdown).await {
                    tracing::error!("relay {}: {e}", self.relay_id);
                }
            },
        );
        // Keep the leases fresh while the batch works (rate limits can make a batch long).
        let renew = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                let until = Utc::now()
                    + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
                if let Err(e) = self.storage.renew_lease(&held, until).await {
                    tracing::warn!("lease renewal failed: {e}");
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = renew => {}
        }
        let now = Utc::now();
        if self.config_error.load(Ordering::SeqCst) {
            // Paused: set in process(); the status follows at the next batch.
        } else if control.paused {
            // The probe went through: lift the relay's own pause.
            let actor = format!("{SELF_PAUSE_PREFIX}{}", self.relay_id);
            self.storage.resume(&actor, Utc::now()).await?;
            tracing::info!(
                "relay {}: Digis accepts the configuration again; pause lifted",
                self.relay_id
            );
            self.set_status("running", None);
        } else if self
            .circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(now)
        {
            self.set_status("running", None);
        }
        Ok(BatchEnd::Worked(n))
    }

    /// One claimed row from start to finish: decide, complete, log.
    async fn process(
        &self,
        client: &DigisClient,
        c: ClaimedRow,
        shutdown: &CancellationToken,
    ) -> Result<(), StorageError> {
        let started = Utc::now();
        let clock = std::time::Instant::now();
        match self.decide(client, &c, shutdown).await? {
            Some(decision) => self.finish(&c, decision, started, clock).await,
            None => {
                // Not sending now is not the row's fault: give it back without an attempt.
                let held = [(c.row.id, c.claim_token.clone())];
                self.storage.release(&held, Utc::now()).await.map(|_| ())
            }
        }
    }

    /// What happens to the row; `None` when it must go back unsent (stopping, paused by a
    /// configuration error in this batch, circuit open).
    async fn decide(
        &self,
        client: &DigisClient,
        c: &ClaimedRow,
        shutdown: &CancellationToken,
    ) -> Result<Option<Decision>, StorageError> {
        let max = self.config.relay.max_attempts;
        if let Some(d) = precheck(c, max) {
            return Ok(Some(d));
        }
        let member = c.member.as_ref().expect("precheck ensures a member");
        let payload = match crate::payload::build(member, &self.config.payload) {
            Ok(p) => p,
            Err(e) => {
                let why = e.to_string();
                return Ok(Some(Decision {
                    completion: Completion::Failed,
                    http_status: None,
                    db_error: Some(why.clone()),
                    log_error: Some(why),
                }));
            }
        };
        if shutdown.is_cancelled()
            || self.config_error.load(Ordering::SeqCst)
            || !self.circuit_allows()
        {
            return Ok(None);
        }
        self.limiter.acquire().await;
        let outcome = client.send(&payload).await;
        let now = Utc::now();
        self.observe_outcome(&outcome, now).await?;
        if let Outcome::Accepted {
            warning: Some(w), ..
        } = &outcome
        {
            tracing::warn!("outbox {}: {w}", c.row.id);
        }
        let attempts = c.row.attempts.max(0) as u32;
        Ok(Some(after_send(
            &outcome,
            attempts,
            max,
            &self.backoff,
            now,
            &mut rand::rng(),
        )))
    }

    fn circuit_allows(&self) -> bool {
        self.circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(Utc::now())
    }

    /// Feeds the circuit, and pauses every relay on a configuration error (once per batch).
    async fn observe_outcome(
        &self,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        {
            let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Outcome::RetryLater { .. } => {
                    if circuit.failure(now) {
                        tracing::warn!(
                            "relay {}: circuit opened after repeated failures",
                            self.relay_id
                        );
                    }
                }
                _ => circuit.success(),
            }
        }
        if let Outcome::ConfigError { reason, .. } = outcome {
            if !self.config_error.swap(true, Ordering::SeqCst) {
                let by = format!("{SELF_PAUSE_PREFIX}{}", self.relay_id);
                self.storage.pause(reason, &by, now).await?;
                tracing::error!("relay {}: paused: {reason}", self.relay_id);
                self.set_status("paused", Some(reason.clone()));
            }
        }
        Ok(())
    }

    /// Completes the row under its claim, then counts, observes and logs the attempt.
    async fn finish(
        &self,
        c: &ClaimedRow,
        decision: Decision,
        started: DateTime<Utc>,
        clock: std::time::Instant,
    ) -> Result<(), StorageError> {
        let duration_ms = clock.elapsed().as_millis() as i64;
        let attempt = AttemptRecord {
            started_at: started,
            duration_ms,
            relay_id: self.relay_id.clone(),
            http_status: decision.http_status.map(i32::from),
            error: decision.db_error.clone(),
        };
        let result = self
            .storage
            .complete(c, &decision.completion, &attempt, Utc::now())
            .await?;
        let outcome = decision.completion.outcome();
        let mut log_error = decision.log_error.clone();
        match result {
            CompleteResult::Applied => {
                let counter = match decision.completion {
                    Completion::Sent { .. } => &self.counters.sent,
                    Completion::Retry { .. } => &self.counters.retried,
                    Completion::Failed => &self.counters.failed,
                    Completion::Discarded { .. } => &self.counters.discarded,
                    Completion::Released { .. } => &self.counters.paused,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.observer.attempt(outcome, clock.elapsed());
                if matches!(decision.completion, Completion::Sent { .. }) {
                    self.observer.success(Utc::now());
                }
            }
            CompleteResult::LeaseLost => {
                self.counters.lease_lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "outbox {}: lease was taken over before completion ({outcome} not applied); if Digis accepted it, this is a possible duplicate",
                    c.row.id
                );
                log_error = Some("lease lost before completion: possible duplicate".into());
            }
        }
        let external_id = match &decision.completion {
            Completion::Sent { external_id } => external_id.as_deref(),
            _ => None,
        };
        let line = SyncLine {
            at: started,
            relay_id: &self.relay_id,
            subscription_id: c.row.subscription_id.0,
            card_number: c.row.card_number.as_deref(),
            outbox_id: c.row.id.0,
            person_id: c.row.person_id.0,
            attempt: c.row.attempts,
            outcome,
            http_status: decision.http_status,
            external_id,
            ms: duration_ms,
            error: log_error.as_deref(),
        };
        // The same words on the live log (the dashboard's Log view, journald): ids only.
        tracing::info!(target: "digis_relay::sync", "{}", line.render());
        if let Err(e) = self.synclog.write(&line) {
            tracing::error!(
                "cannot write the sync log {}: {e}",
                self.synclog.path().display()
            );
        }
        Ok(())
    }
}

struct HeartbeatCtx {
    storage: DynStorage,
    relay_id: String,
    started_at: DateTime<Utc>,
    status: Arc<Mutex<(String, Option<String>)>>,
}

impl HeartbeatCtx {
    async fn beat(&self) -> Result<(), StorageError> {
        let (state, detail) = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.storage
            .heartbeat(&RelayInfo {
                relay_id: self.relay_id.clone(),
                hostname: crate::util::host_name(),
                pid: std::process::id() as i64,
                version: env!("CARGO_PKG_VERSION").into(),
                started_at: self.started_at,
                heartbeat_at: Utc::now(),
                state,
                detail,
            })
            .await
    }
}
