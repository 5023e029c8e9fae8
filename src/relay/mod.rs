//! The relay (ARCHITECTURE.md, Delivery path): claims due rows under a lease, re-checks them, sends
//! them to Digis with bounded concurrency and a rate limit, and completes each in one transaction
//! that only commits while the lease is held. Delivery is at-least-once: the only window for a
//! second SMS is a crash between Digis's 2xx and the commit: a database outage is not a crash, so
//! an answer already received is held and committed once the database is back (see [`hold`]).
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
use crate::digis::{Answer, ClientError, DigisClient};
use crate::domain::{AttemptOutcome, GiveBack, RelayState};
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
    /// Rows given back after Digis answered (`outcome=paused` in the sync log; `run --once`
    /// prints the same word). Rows given back unsent are not attempts and not counted.
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
    status: Arc<Mutex<(RelayState, Option<String>)>>,
    /// The last "sync now" seen (outer `None`: not looked yet), so a new one can probe an open
    /// circuit at once.
    last_sync: Mutex<Option<Option<DateTime<Utc>>>>,
    /// Set when Digis answered 401/403/404 during a batch: the rest is not sent.
    config_error: AtomicBool,
    counters: Counters,
    /// Set while the database refuses a completion: no new request goes to Digis then, since
    /// its answer could not be recorded.
    db_down: AtomicBool,
    trouble: Mutex<Trouble>,
    /// Rows of the current batch that ended badly (failed, or could not be completed) and
    /// rows that went through (sent or discarded), for [`Trouble`].
    batch_bad: AtomicU64,
    batch_good: AtomicU64,
}

/// Consecutive bad batches (every row failed, or the batch could not run) that make a relay
/// `degraded`: one bad batch can be one bad member or a blip; three in a row is a relay that
/// keeps failing.
pub const DEGRADED_AFTER_BATCHES: u32 = 3;

/// How long a completion (an answer Digis already gave) is held and retried while the database
/// is unreachable. Long enough for a database restart or failover; bounded so a relay whose
/// database is gone for good still ends.
pub const HOLD_MAX: Duration = Duration::from_secs(600);
const HOLD_FIRST_WAIT: Duration = Duration::from_millis(100);
const HOLD_MAX_WAIT: Duration = Duration::from_secs(5);

/// Why the relay keeps failing, if it does.
#[derive(Debug, Default)]
struct Trouble {
    /// Batches in a row that could not run (claiming or reading failed); cleared by a batch
    /// that could, even an empty one.
    db_errors: u32,
    db_error: Option<String>,
    /// Batches in a row in which every row failed; cleared only by a row that went through (an
    /// idle relay whose last batches all failed is still a relay that fails).
    failing_batches: u32,
    /// The last row failure seen, for the reason.
    row_error: Option<String>,
    /// The sync log cannot be written: delivery goes unlogged, which support relies on.
    synclog: Option<String>,
}

impl Trouble {
    fn reason(&self) -> Option<String> {
        if let Some(s) = &self.synclog {
            return Some(s.clone());
        }
        if self.db_errors >= DEGRADED_AFTER_BATCHES {
            return Some(format!(
                "{} batches in a row could not run: {}",
                self.db_errors,
                self.db_error.as_deref().unwrap_or("database error")
            ));
        }
        (self.failing_batches >= DEGRADED_AFTER_BATCHES).then(|| {
            format!(
                "every row of the last {} batches failed; last: {}",
                self.failing_batches,
                self.row_error.as_deref().unwrap_or("see the sync log")
            )
        })
    }
}

/// Whether retrying `e` later may succeed (the database is restarting, unreachable or busy),
/// as opposed to an error that will repeat (a constraint, a value it cannot decode).
pub fn is_transient(e: &StorageError) -> bool {
    use sqlx::error::ErrorKind;
    let source = match e {
        StorageError::Query { source, .. } | StorageError::Connect { source, .. } => source,
        _ => return false,
    };
    match source {
        sqlx::Error::Database(db) => matches!(db.kind(), ErrorKind::Other),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// What becomes of a claimed row.
enum Step {
    /// Complete it as decided; `given_back` says why when the completion hands the row back.
    Finish {
        decision: Decision,
        given_back: Option<GiveBack>,
    },
    /// Give it back unsent, its attempt not charged.
    GiveBack(GiveBack),
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
            status: Arc::new(Mutex::new((RelayState::Running, None))),
            last_sync: Mutex::new(None),
            config_error: AtomicBool::new(false),
            counters: Counters::default(),
            db_down: AtomicBool::new(false),
            trouble: Mutex::new(Trouble::default()),
            batch_bad: AtomicU64::new(0),
            batch_good: AtomicU64::new(0),
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

    fn set_status(&self, state: RelayState, detail: Option<String>) {
        // "running" would hide a relay that keeps failing; the other states say more already.
        let trouble = (state == RelayState::Running)
            .then(|| self.trouble().reason())
            .flatten();
        let (state, detail) = match trouble {
            Some(why) => (RelayState::Degraded, Some(why)),
            None => (state, detail),
        };
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 != state || s.1 != detail {
            if s.0 != state {
                match &detail {
                    Some(d) if state == RelayState::Degraded => {
                        tracing::error!("relay {}: {state} ({d})", self.relay_id)
                    }
                    Some(d) => tracing::info!("relay {}: {state} ({d})", self.relay_id),
                    None => tracing::info!("relay {}: {state}", self.relay_id),
                }
            }
            self.observer.state(
                state == RelayState::Paused,
                state == RelayState::CircuitOpen,
            );
            *s = (state, detail);
        }
    }

    pub async fn heartbeat(&self) -> Result<(), StorageError> {
        self.heartbeat_ctx().beat().await
    }

    fn heartbeat_ctx(&self) -> HeartbeatCtx {
        HeartbeatCtx {
            storage: self.storage.clone(),
            relay_id: self.relay_id.clone(),
            started_at: self.started_at,
            status: self.status.clone(),
            heartbeat_ms: self.config.relay.heartbeat_ms.min(i64::MAX as u64) as i64,
        }
    }

    /// The state and detail the next heartbeat writes.
    pub fn status(&self) -> (RelayState, Option<String>) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn trouble(&self) -> std::sync::MutexGuard<'_, Trouble> {
        self.trouble.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A batch could not run (`Some(why)`) or could (`None`).
    fn batch_ran(&self, error: Option<String>) {
        let mut t = self.trouble();
        match error {
            Some(why) => {
                t.db_errors = t.db_errors.saturating_add(1);
                t.db_error = Some(why);
            }
            None => {
                t.db_errors = 0;
                t.db_error = None;
            }
        }
    }

    /// Runs `op` until it succeeds, retrying with backoff (up to [`HOLD_MAX`]) while the
    /// database is unreachable, so an answer Digis already gave is not dropped and sent again.
    async fn hold<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let started = std::time::Instant::now();
        let mut wait = HOLD_FIRST_WAIT;
        let mut held = false;
        loop {
            match op().await {
                Ok(v) => {
                    if held {
                        self.db_down.store(false, Ordering::SeqCst);
                        tracing::info!(
                            "relay {}: the database is back; {what} committed after {} ms",
                            self.relay_id,
                            started.elapsed().as_millis()
                        );
                    }
                    return Ok(v);
                }
                Err(e) if is_transient(&e) && started.elapsed() < HOLD_MAX => {
                    if !held {
                        tracing::warn!(
                            "relay {}: {what} held until the database answers again: {e}",
                            self.relay_id
                        );
                        held = true;
                    }
                    self.db_down.store(true, Ordering::SeqCst);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(HOLD_MAX_WAIT);
                }
                Err(e) => {
                    // Given up (or a real error): nothing is held any more, so the relay must
                    // not go on releasing every row unsent. If the database is still down, the
                    // next claim fails and the loop waits a poll as usual.
                    self.db_down.store(false, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
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
            let beat = self.heartbeat_ctx();
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
                    self.batch_ran(Some(e.to_string()));
                    self.set_status(RelayState::Running, Some(format!("database error: {e}")));
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
        self.set_status(RelayState::Stopped, None);
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
                RelayState::Disabled,
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
                self.set_status(RelayState::Paused, Some(reason));
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
                        RelayState::CircuitOpen,
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
        self.batch_ran(None);
        if claimed.is_empty() {
            if !control.paused {
                self.set_status(RelayState::Running, None);
            }
            return Ok(BatchEnd::Idle);
        }
        self.config_error.store(false, Ordering::SeqCst);
        self.batch_bad.store(0, Ordering::SeqCst);
        self.batch_good.store(0, Ordering::SeqCst);
        let n = claimed.len();
        let held: Vec<(crate::domain::OutboxId, String)> = claimed
            .iter()
            .map(|c| (c.row.id, c.claim_token.clone()))
            .collect();
        let work = futures::stream::iter(claimed).for_each_concurrent(
            self.config.relay.concurrency as usize,
            |c| async move {
                let id = c.row.id;
                if let Err(e) = self.process(client, c, shutdown).await {
                    self.batch_bad.fetch_add(1, Ordering::SeqCst);
                    tracing::error!("relay {}: outbox {id}: {e}", self.relay_id);
                    self.trouble().row_error = Some(format!("outbox {id}: {e}"));
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
        let bad = self.batch_bad.load(Ordering::SeqCst);
        let good = self.batch_good.load(Ordering::SeqCst);
        {
            let mut t = self.trouble();
            if good > 0 {
                t.failing_batches = 0;
                t.row_error = None;
            } else if bad > 0 {
                t.failing_batches = t.failing_batches.saturating_add(1);
            }
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
            self.set_status(RelayState::Running, None);
        } else if self
            .circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(now)
        {
            self.set_status(RelayState::Running, None);
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
            Step::Finish {
                decision,
                given_back,
            } => self.finish(&c, decision, given_back, started, clock).await,
            Step::GiveBack(why) => {
                // Not sending now is not the row's fault: give it back without an attempt.
                tracing::debug!("outbox {}: given back unsent ({why})", c.row.id);
                let held = [(c.row.id, c.claim_token.clone())];
                self.hold("a release", || self.storage.release(&held, Utc::now()))
                    .await
                    .map(|_| ())
            }
        }
    }

    /// What happens to the row: a completion, or a give-back when it must go back unsent
    /// (stopping, paused by a configuration error in this batch, database down, circuit open).
    async fn decide(
        &self,
        client: &DigisClient,
        c: &ClaimedRow,
        shutdown: &CancellationToken,
    ) -> Result<Step, StorageError> {
        let finish = |decision| Step::Finish {
            decision,
            given_back: None,
        };
        let max = self.config.relay.max_attempts;
        if let Some(d) = precheck(c, max) {
            return Ok(finish(d));
        }
        let member = c.member.as_ref().expect("precheck ensures a member");
        let payload = match crate::payload::build(member, &self.config.payload) {
            Ok(p) => p,
            Err(e) => {
                let why = e.to_string();
                return Ok(finish(Decision {
                    completion: Completion::Failed,
                    http_status: None,
                    db_error: Some(why.clone()),
                    log_error: Some(why),
                }));
            }
        };
        if let Some(why) = self.give_back_now(shutdown) {
            return Ok(Step::GiveBack(why));
        }
        self.limiter.acquire().await;
        let answer = client.send(&payload).await;
        let now = Utc::now();
        self.observe_answer(&answer, now).await?;
        if let Answer::Accepted {
            warning: Some(w), ..
        } = &answer
        {
            tracing::warn!("outbox {}: {w}", c.row.id);
        }
        let attempts = c.row.attempts.max(0) as u32;
        let decision = after_send(&answer, attempts, max, &self.backoff, now, &mut rand::rng());
        // The configuration is wrong, not the row: it goes back (`Completion::Released`).
        let given_back =
            matches!(answer, Answer::ConfigError { .. }).then_some(GiveBack::ConfigError);
        Ok(Step::Finish {
            decision,
            given_back,
        })
    }

    /// Why no request may go out for a row now, if one may not.
    fn give_back_now(&self, shutdown: &CancellationToken) -> Option<GiveBack> {
        if shutdown.is_cancelled() {
            Some(GiveBack::Shutdown)
        } else if self.config_error.load(Ordering::SeqCst) {
            Some(GiveBack::ConfigError)
        } else if self.db_down.load(Ordering::SeqCst) {
            Some(GiveBack::DatabaseDown)
        } else if !self.circuit_allows() {
            Some(GiveBack::CircuitOpen)
        } else {
            None
        }
    }

    fn circuit_allows(&self) -> bool {
        self.circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(Utc::now())
    }

    /// Feeds the circuit, and pauses every relay on a configuration error (once per batch).
    async fn observe_answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        {
            let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            match answer {
                Answer::RetryLater { .. } => {
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
        if let Answer::ConfigError { reason, .. } = answer {
            if !self.config_error.swap(true, Ordering::SeqCst) {
                let by = format!("{SELF_PAUSE_PREFIX}{}", self.relay_id);
                // Held like a completion: dropped, the row would wait out its lease and be
                // sent again only to get the same answer.
                self.hold("the relay's own pause", || {
                    self.storage.pause(reason, &by, now)
                })
                .await?;
                tracing::error!("relay {}: paused: {reason}", self.relay_id);
                self.set_status(RelayState::Paused, Some(reason.clone()));
            }
        }
        Ok(())
    }

    /// Completes the row under its claim, then counts, observes and logs the attempt.
    async fn finish(
        &self,
        c: &ClaimedRow,
        decision: Decision,
        given_back: Option<GiveBack>,
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
            .hold("a completion", || {
                self.storage
                    .complete(c, &decision.completion, &attempt, Utc::now())
            })
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
                match &decision.completion {
                    Completion::Failed => {
                        self.batch_bad.fetch_add(1, Ordering::SeqCst);
                        // The log's value-free words, never Digis's own message: this reason
                        // reaches stderr and /healthz, and Digis may quote the member's data.
                        let why = decision.log_error.as_deref().unwrap_or("failed");
                        self.trouble().row_error = Some(format!("outbox {}: {why}", c.row.id));
                    }
                    Completion::Sent { .. } | Completion::Discarded { .. } => {
                        self.batch_good.fetch_add(1, Ordering::SeqCst);
                    }
                    Completion::Retry { .. } | Completion::Released { .. } => {}
                }
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
            // As the payload sends it (trimmed), so `ExtInfo20:{card}` is what support searches.
            card_number: c
                .row
                .card_number
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
            outbox_id: c.row.id.0,
            person_id: c.row.person_id.0,
            attempt: c.row.attempts,
            outcome,
            // Only a row that went back says why; the word stays `paused` (a contract).
            given_back: given_back.filter(|_| outcome == AttemptOutcome::GivenBack),
            http_status: decision.http_status,
            external_id,
            ms: duration_ms,
            error: log_error.as_deref(),
        };
        // The same words on the live log (the dashboard's Log view, journald): ids only.
        tracing::info!(target: "digis_relay::sync", "{}", line.render());
        let written = self.synclog.write(&line);
        let mut t = self.trouble();
        match written {
            Ok(()) => t.synclog = None,
            Err(e) => {
                let why = format!(
                    "cannot write the sync log {}: {e}",
                    self.synclog.path().display()
                );
                tracing::error!("{why}");
                t.synclog = Some(why);
            }
        }
        Ok(())
    }
}

struct HeartbeatCtx {
    storage: DynStorage,
    relay_id: String,
    started_at: DateTime<Utc>,
    status: Arc<Mutex<(RelayState, Option<String>)>>,
    heartbeat_ms: i64,
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
                heartbeat_ms: Some(self.heartbeat_ms),
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(source: sqlx::Error) -> StorageError {
        StorageError::Query {
            context: "x",
            source,
        }
    }

    /// systemd's SIGKILL must not come while answers are still held: that would be the second
    /// SMS the hold exists to prevent.
    #[test]
    fn the_service_unit_waits_longer_than_answers_are_held() {
        let unit = include_str!("../../assets/digis-relay.service");
        let secs: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("the unit sets TimeoutStopSec")
            .trim()
            .parse()
            .unwrap();
        assert!(secs > HOLD_MAX.as_secs() + 60, "TimeoutStopSec={secs}");
    }

    #[test]
    fn only_errors_that_can_pass_are_held() {
        assert!(is_transient(&query(sqlx::Error::PoolTimedOut)));
        assert!(is_transient(&query(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        )))));
        assert!(!is_transient(&query(sqlx::Error::RowNotFound)));
        assert!(!is_transient(&StorageError::Corrupt("t".into())));
        assert!(!is_transient(&StorageError::Refused("r".into())));
    }

    /// A hold that gives up must not leave the relay believing the database is down: it would
    /// release every row it claims, unsent, for ever.
    #[tokio::test]
    async fn a_hold_that_gives_up_sends_again() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let storage: DynStorage = Arc::new(
            crate::storage::sqlite::SqliteStorage::connect(&url)
                .await
                .unwrap(),
        );
        let config = Arc::new(Config {
            database_url: url,
            use_digis: false,
            ..Config::default()
        });
        let synclog = Arc::new(SyncLog::open(dir.path()).unwrap());
        let relay = Relay::new(storage, config, synclog).unwrap();
        let mut calls = 0;
        let got: Result<(), StorageError> = relay
            .hold("a test", || {
                calls += 1;
                let e = if calls == 1 {
                    query(sqlx::Error::PoolTimedOut)
                } else {
                    StorageError::Corrupt("x".into())
                };
                async move { Err(e) }
            })
            .await;
        assert!(got.is_err());
        assert_eq!(calls, 2, "the transient error was held once");
        assert!(!relay.db_down.load(Ordering::SeqCst));
    }

    /// A row given back says why, and stopping comes first: the shutdown line is what support
    /// sees when a service was stopped mid-batch.
    #[tokio::test]
    async fn a_row_is_given_back_for_the_reason_that_holds() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let storage: DynStorage = Arc::new(
            crate::storage::sqlite::SqliteStorage::connect(&url)
                .await
                .unwrap(),
        );
        let config = Arc::new(Config {
            database_url: url,
            use_digis: false,
            ..Config::default()
        });
        let synclog = Arc::new(SyncLog::open(dir.path()).unwrap());
        let relay = Relay::new(storage, config, synclog).unwrap();
        let stop = CancellationToken::new();
        assert_eq!(relay.give_back_now(&stop), None);
        relay.db_down.store(true, Ordering::SeqCst);
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::DatabaseDown));
        relay.config_error.store(true, Ordering::SeqCst);
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::ConfigError));
        stop.cancel();
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::Shutdown));
    }

    #[test]
    fn degraded_after_three_bad_batches_and_at_once_for_the_sync_log() {
        let mut t = Trouble {
            failing_batches: DEGRADED_AFTER_BATCHES - 1,
            row_error: Some("outbox 7: MobileNumber: not a mobile number".into()),
            ..Trouble::default()
        };
        assert_eq!(t.reason(), None);
        t.failing_batches += 1;
        assert!(t.reason().unwrap().contains("outbox 7"));
        let mut t = Trouble {
            db_errors: DEGRADED_AFTER_BATCHES,
            db_error: Some("no such table".into()),
            ..Trouble::default()
        };
        assert!(t.reason().unwrap().contains("could not run: no such table"));
        t.synclog = Some("cannot write the sync log".into());
        assert_eq!(t.reason().unwrap(), "cannot write the sync log");
    }
}
