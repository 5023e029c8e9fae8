//! The relay (docs/delivery-path.md): claims due rows under a lease, re-checks them, sends
//! them to Digis with bounded concurrency and a rate limit, and completes them in groups, one
//! transaction a group, each row only while its lease is held. Delivery is at-least-once: the
//! only window for a second SMS is a crash between Digis's 2xx and the commit of its group; a
//! database outage is not a crash, so an answer already received is held and committed once the
//! database is back (see [`Relay::hold`]).
//!
//! - `drain`: a round: the gates, claiming ahead into a bounded buffer, `concurrency` rows in
//!   work continuously;
//! - `worker`: one row: re-check, payload, request, decision;
//! - `completer`: groups of completions committed together, then their sync-log lines;
//! - `held`: the rows this relay holds (lease renewal, claims that skip them, claim tallies);
//! - `journal`: answers still held when the relay stops, committed at its next start.
mod backoff;
mod budget;
mod circuit;
mod completer;
pub mod decide;
mod drain;
mod held;
pub mod journal;
mod limiter;
pub mod observer;
mod status_line;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use crate::pulse::Pulse;
pub use backoff::Backoff;
pub use circuit::{Circuit, CircuitState};
use completer::Pipe;
use limiter::RateLimiter;
pub use limiter::MIN_RATE;
pub use observer::{NoObserver, Observer};

use crate::clock::DbClock;
use crate::digis::{ClientError, DigisClient};
use crate::domain::{OutboxId, RelayState};
use crate::settings::RelaySetup;
use crate::storage::{DynStorage, RelayInfo, StorageError};
use crate::synclog::SyncLog;

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
    /// What this relay was set up with (`Config::relay_setup`).
    config: RelaySetup,
    /// `None` when useDigis is false: nothing is sent.
    client: Option<DigisClient>,
    relay_id: String,
    synclog: Arc<SyncLog>,
    observer: Arc<dyn Observer>,
    /// Shared with the heartbeat task, which writes the current rate.
    limiter: Arc<RateLimiter>,
    backoff: Backoff,
    circuit: Mutex<Circuit>,
    /// The database's time (docs/decisions/0025-one-clock.md): every lease, due time and heartbeat
    /// this relay writes or compares is read from it, never from the host's clock alone.
    clock: Arc<DbClock>,
    /// When this relay started, on this host's monotonic clock (its start in database time
    /// is worked out at each heartbeat, once the offset is known).
    started: std::time::Instant,
    /// (state, detail) for the heartbeat row, shared with the heartbeat task.
    status: Arc<Mutex<(RelayState, Option<String>)>>,
    /// Set when Digis answered 401/403/404 during a round: the rest is not sent.
    config_error: AtomicBool,
    /// Set when Digis answered a 2xx that confirms nothing during a round: no request starts
    /// after it (the database's pause, set at the same time, keeps it so for every relay).
    unconfirmed: AtomicBool,
    counters: Counters,
    /// Set while the database refuses a completion: no new request goes to Digis then, since
    /// its answer could not be recorded, and nothing new is claimed.
    db_down: AtomicBool,
    /// Set when a call to the database failed (claim, completion, heartbeat, lease renewal):
    /// before the next claim the relay renews the rows it holds and starts counting
    /// `connected_since` again (docs/delivery-path.md, Takeover after an outage).
    lost_db: Arc<AtomicBool>,
    /// Since when (database time) this relay has had the database again after an outage:
    /// expired leases of others are taken over only a lease after it
    /// (`Storage::claim_after`). `None` until an outage: a relay that starts (a `run --once`
    /// from cron, a restart after a crash) takes over the leases of relays that stopped beating
    /// a lease ago at once.
    connected_since: Mutex<Option<DateTime<Utc>>>,
    trouble: Mutex<Trouble>,
    /// The current run's stop token: a hold stops waiting for the database when it fires, and
    /// what it held goes to the journal instead.
    stopping: Mutex<CancellationToken>,
    /// What this process wrote to its journal (`journal`), all of it rewritten with each group.
    journal: Mutex<journal::Journal>,
    /// The loop's proof of life for the systemd watchdog (`pulse`).
    pulse: Arc<Pulse>,
    /// The rows the current run holds (claimed, in work or waiting for their commit).
    in_work: Mutex<Option<Arc<held::Held>>>,
    /// Answers Digis gave in the group whose commit is being tried (held while the database
    /// is away), for the service's status line.
    committing: AtomicUsize,
}

/// Consecutive bad claims (every row of the claim failed, or the claim could not run) that make
/// a relay `degraded`: one bad claim can be one bad member or a blip; three in a row is a relay
/// that keeps failing. A "batch" here is one claim's rows, however the relay tops its buffer up.
pub const DEGRADED_AFTER_BATCHES: u32 = 3;

/// How long a completion (an answer Digis already gave) is held and retried while the database
/// is unreachable. Long enough for a database restart or failover; bounded so a relay whose
/// database is gone for good still ends.
pub const HOLD_MAX: Duration = Duration::from_secs(600);
const HOLD_FIRST_WAIT: Duration = Duration::from_millis(100);
const HOLD_MAX_WAIT: Duration = Duration::from_secs(5);
/// How long a hold keeps trying once the relay is told to stop, before what it holds goes to
/// the journal: a blip passes in this time, an outage does not. So `run` ends at most this long
/// after its last request in flight (each at most `digis_timeout_ms`), database or not; the
/// systemd unit's `TimeoutStopSec` is above the sum.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the relay keeps failing, if it does.
#[derive(Debug, Default)]
struct Trouble {
    /// Claims in a row that could not run (claiming or reading failed); cleared by a claim
    /// that could, even an empty one.
    db_errors: u32,
    db_error: Option<String>,
    /// Claims in a row all of whose rows ended badly (failed, or could not be completed),
    /// counted when a claim's last row is committed; cleared only by a claim with a row that
    /// went through (an idle relay whose last claims all failed is still a relay that fails).
    failing_claims: u32,
    /// The last row failure seen, for the reason.
    row_error: Option<String>,
    /// The sync log cannot be written: delivery goes unlogged, which support relies on.
    synclog: Option<String>,
    /// This host's clock is further from the database's than `relay.max_clock_offset_ms`:
    /// nothing is claimed until it is back within.
    clock: Option<String>,
}

impl Trouble {
    fn reason(&self) -> Option<String> {
        if let Some(s) = &self.clock {
            return Some(s.clone());
        }
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
        (self.failing_claims >= DEGRADED_AFTER_BATCHES).then(|| {
            format!(
                "every row of the last {} batches failed; last: {}",
                self.failing_claims,
                self.row_error.as_deref().unwrap_or("see the sync log")
            )
        })
    }
}

/// Whether retrying `e` later may succeed (see [`StorageError::is_transient`]): only such an
/// error is held.
pub fn is_transient(e: &StorageError) -> bool {
    e.is_transient()
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundEnd {
    /// Nothing was due.
    Idle,
    /// Rows were claimed (this many) and worked.
    Worked(usize),
    /// Sending is not possible now (paused, circuit open, useDigis off, database down).
    Blocked,
}

impl Relay {
    pub fn new(
        storage: DynStorage,
        config: RelaySetup,
        synclog: Arc<SyncLog>,
    ) -> Result<Relay, ClientError> {
        let client = config.digis.as_ref().map(DigisClient::new).transpose()?;
        let relay_id = if config.relay.relay_id.is_empty() {
            format!("{}-{}", crate::util::host_name(), std::process::id())
        } else {
            config.relay.relay_id.clone()
        };
        let r = &config.relay;
        Ok(Relay {
            limiter: Arc::new(RateLimiter::new(r.max_requests_per_second)),
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
            synclog,
            observer: Arc::new(NoObserver),
            clock: Arc::new(DbClock::system()),
            started: std::time::Instant::now(),
            status: Arc::new(Mutex::new((RelayState::Running, None))),
            config_error: AtomicBool::new(false),
            unconfirmed: AtomicBool::new(false),
            counters: Counters::default(),
            db_down: AtomicBool::new(false),
            lost_db: Arc::new(AtomicBool::new(false)),
            connected_since: Mutex::new(None),
            trouble: Mutex::new(Trouble::default()),
            stopping: Mutex::new(CancellationToken::new()),
            journal: Mutex::new(journal::Journal {
                version: journal::VERSION,
                relay_id: relay_id.clone(),
                ..Default::default()
            }),
            relay_id,
            config,
            pulse: Arc::new(Pulse::default()),
            in_work: Mutex::new(None),
            committing: AtomicUsize::new(0),
        })
    }

    /// The loop's proof of life (`pulse`): the service feeds the systemd watchdog from it.
    pub fn pulse(&self) -> &Arc<Pulse> {
        &self.pulse
    }

    /// Rows the running relay holds now: claimed and not yet committed or given back.
    pub fn in_work(&self) -> usize {
        self.in_work
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |h| h.len())
    }

    /// While the database is away and answers wait for it: how many (0 for a held pause).
    pub fn holding(&self) -> Option<usize> {
        self.db_down
            .load(Ordering::SeqCst)
            .then(|| self.committing.load(Ordering::SeqCst))
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Relay {
        self.observer = observer;
        self
    }

    /// A relay that reads this process's time from `clock` (tests give it a host whose clock
    /// is off).
    pub fn with_clock(mut self, clock: Arc<DbClock>) -> Relay {
        self.clock = clock;
        self
    }

    /// The database's time as this relay knows it.
    pub fn clock(&self) -> &Arc<DbClock> {
        &self.clock
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
        self.heartbeat_ctx().beat().await.map(|_| ())
    }

    fn heartbeat_ctx(&self) -> HeartbeatCtx {
        HeartbeatCtx {
            storage: self.storage.clone(),
            relay_id: self.relay_id.clone(),
            started: self.started,
            clock: self.clock.clone(),
            lost_db: self.lost_db.clone(),
            status: self.status.clone(),
            limiter: self.limiter.clone(),
            heartbeat_ms: self.config.relay.heartbeat_ms.min(i64::MAX as u64) as i64,
            budget: self.config.relay.max_requests_per_second,
            observer: self.observer.clone(),
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

    /// The trouble changed (a claim tallied, the sync log failed or recovered): a running
    /// relay's heartbeat says `degraded` or stops saying it now, not at the end of the round.
    fn trouble_changed(&self) {
        let (state, detail) = self.status();
        match state {
            RelayState::Running => self.set_status(state, detail),
            RelayState::Degraded => self.set_status(RelayState::Running, None),
            _ => {}
        }
    }

    /// Whether this host's clock is near enough the database's to claim (the last offset
    /// measured is within `relay.max_clock_offset_ms`); the relay's status says why not. The
    /// times it writes are corrected either way; a large offset says the host's clock is
    /// broken or jumping, so the correction may be stale by the next heartbeat.
    fn clock_allows_claims(&self) -> bool {
        let max = self.config.relay.max_clock_offset_ms;
        let offset = self.clock.offset_ms();
        let why = crate::clock::beyond(offset, max).then(|| {
            format!(
                "{}, more than relay.max_clock_offset_ms = {max} ms: nothing is claimed until this host's time is synced",
                crate::clock::offset_words(offset)
            )
        });
        let changed = {
            let mut t = self.trouble();
            let changed = t.clock != why;
            t.clock = why.clone();
            changed
        };
        if changed {
            match &why {
                Some(w) => tracing::error!("relay {}: {w}", self.relay_id),
                None => tracing::info!(
                    "relay {}: clock within {max} ms of the database's again ({}): claiming",
                    self.relay_id,
                    crate::clock::offset_text(offset)
                ),
            }
            self.trouble_changed();
        }
        why.is_none()
    }

    fn set_connected_since(&self, at: DateTime<Utc>) {
        *self
            .connected_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn connected_since(&self) -> Option<DateTime<Utc>> {
        *self
            .connected_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// After calls to the database failed: the rows this relay holds get their leases renewed
    /// before anything is claimed (their answers may be held, and another relay may be
    /// about to take them), and this relay counts its time with the database from now, so it
    /// takes over nobody's expired lease for a lease (`Storage::claim_after`). An error
    /// leaves the mark: the next round tries again.
    async fn back_from_outage(&self, held: &[(OutboxId, String)]) -> Result<(), StorageError> {
        let now = self.clock.now();
        if !held.is_empty() {
            let lease = Duration::from_millis(self.config.relay.lease_ms);
            let until = crate::storage::time::saturating_add(now, lease);
            let kept = self.storage.renew_lease(held, until).await?;
            tracing::info!(
                "relay {}: the database answers again; {kept} of {} held row(s) renewed before claiming",
                self.relay_id,
                held.len()
            );
        }
        self.set_connected_since(now);
        self.lost_db.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// A claim could not run (`Some(why)`) or could (`None`).
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
    /// Once the relay is told to stop, it keeps trying for [`STOP_GRACE`] only: the caller then
    /// journals what it held (see `journal`).
    async fn hold<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let started = std::time::Instant::now();
        let stopping = self.stopping();
        let mut stop_seen: Option<tokio::time::Instant> = None;
        let mut wait = HOLD_FIRST_WAIT;
        let mut held = false;
        loop {
            // Through the pulse: a database call that waits (a lock, a slow server) is the
            // database's delay, not a wedged loop, and must not have the watchdog stop a relay
            // holding answers.
            let call = self.pulse.through(op());
            tokio::pin!(call);
            let result = tokio::select! {
                r = &mut call => r,
                _ = stopping.cancelled() => {
                    // Stopping: a call the database does not answer within STOP_GRACE is given
                    // up as an outage would be, so the caller journals what it held before
                    // systemd's SIGKILL (TimeoutStopSec) ends the process with nothing written.
                    // Had the call committed after all, the journal's replay is a no-op (its
                    // rows' claim tokens are gone).
                    let seen = *stop_seen.get_or_insert_with(tokio::time::Instant::now);
                    let left = STOP_GRACE.saturating_sub(seen.elapsed());
                    match tokio::time::timeout(left, &mut call).await {
                        Ok(r) => r,
                        Err(_) => Err(StorageError::Query {
                            context: "stopping: the database did not answer in time",
                            source: sqlx::Error::Io(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "no answer within the stop's grace period",
                            )),
                        }),
                    }
                }
            };
            match result {
                Ok(v) => {
                    if held {
                        self.db_down.store(false, Ordering::SeqCst);
                        tracing::info!(
                            "relay {}: the database is back; {what} committed after {} ms",
                            self.relay_id,
                            started.elapsed().as_millis()
                        );
                        // Claims waited for this: take up the work at once, not at the next poll.
                        self.storage.wakeup().notify_waiters();
                    }
                    return Ok(v);
                }
                Err(e)
                    if is_transient(&e)
                        && started.elapsed() < HOLD_MAX
                        && stop_seen.is_none_or(|t| t.elapsed() < STOP_GRACE) =>
                {
                    self.lost_db.store(true, Ordering::SeqCst);
                    if !held {
                        tracing::warn!(
                            "relay {}: {what} held until the database answers again: {e}",
                            self.relay_id
                        );
                        held = true;
                    }
                    self.db_down.store(true, Ordering::SeqCst);
                    // Through the pulse: a backoff of up to HOLD_MAX_WAIT is a wait of a live
                    // loop, and the watchdog must not take it for a wedge.
                    self.pulse
                        .through(async {
                            tokio::select! {
                                _ = tokio::time::sleep(wait) => {}
                                _ = stopping.cancelled(), if stop_seen.is_none() => {}
                            }
                        })
                        .await;
                    if stop_seen.is_none() && stopping.is_cancelled() {
                        stop_seen = Some(tokio::time::Instant::now());
                        wait = HOLD_FIRST_WAIT;
                    } else {
                        wait = (wait * 2).min(HOLD_MAX_WAIT);
                    }
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

    fn stopping(&self) -> CancellationToken {
        self.stopping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs until `shutdown` (or, with `once`, until nothing is due). Journals a previous run
    /// left are committed first. In-flight requests finish and every completion is committed
    /// (or, if the database is away at the stop, journaled); rows claimed but not yet sent are
    /// given back.
    pub async fn run(
        &self,
        shutdown: CancellationToken,
        once: bool,
    ) -> Result<Tally, StorageError> {
        *self.stopping.lock().unwrap_or_else(|p| p.into_inner()) = shutdown.clone();
        // Answers a previous run could not commit come first: nothing is claimed before them
        // (their rows are still `sending` under their claim tokens).
        if !self.commit_journals(&shutdown).await {
            return Ok(self.tally());
        }
        let wake = self.storage.wakeup();
        let heartbeat_every = Duration::from_millis(self.config.relay.heartbeat_ms);
        self.observer.request_rate(self.limiter.rate());
        // Through the pulse like the loop's own prunes (a long first prune is no wedge).
        self.pulse.through(self.prune()).await;
        // Other live relays share the budget: wait until their next beat has cut their share.
        let join_wait = self.heartbeat_ctx().beat().await?.map(budget::join_wait);
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
                        beat.lost_db.store(true, Ordering::SeqCst);
                    }
                }
            })
        };
        let (pipe, done) = Pipe::new(self);
        let held = pipe.held.clone();
        *self.in_work.lock().unwrap_or_else(|p| p.into_inner()) = Some(held.clone());
        let leases = tokio::spawn(held::keep_leases(
            self.storage.clone(),
            self.clock.clone(),
            self.lost_db.clone(),
            held.clone(),
            Duration::from_millis(self.config.relay.lease_ms),
            hb_stop.clone(),
        ));
        // The rounds and the completer run side by side in this task; the rounds' end drops
        // the pipe, and the completer then commits what is left and ends too.
        let rounds = async move {
            let result = match join_wait {
                Some(wait) if !self.join(wait, &shutdown).await => Ok(()),
                _ => self.rounds(&pipe, &shutdown, once, &wake).await,
            };
            drop(pipe);
            result
        };
        let (result, ()) = tokio::join!(rounds, self.complete_groups(done, &held));
        hb_stop.cancel();
        let _ = hb.await;
        let _ = leases.await;
        self.set_status(RelayState::Stopped, None);
        match self.heartbeat().await {
            // This stopped row is now the word on when a relay last ran: the rows of earlier
            // stopped relays (every `run --once` from cron is a new relay) say nothing more.
            Ok(()) => self.forget_relays(true).await,
            Err(e) => {
                if !self.journaled() {
                    return Err(e);
                }
                // The database is away, as the journal says already: stopping is what was asked.
                tracing::warn!("relay {}: last heartbeat failed: {e}", self.relay_id);
            }
        }
        result.map(|_| self.tally())
    }

    /// Rounds until `shutdown`, or with `once` until a round finds nothing due (and every
    /// completion of the run is committed, since a committed retry may be due at once).
    async fn rounds(
        &self,
        pipe: &Pipe,
        shutdown: &CancellationToken,
        once: bool,
        wake: &tokio::sync::Notify,
    ) -> Result<(), StorageError> {
        let poll = Duration::from_millis(self.config.relay.poll_interval_ms);
        let prune_every = Duration::from_millis(self.config.relay.prune_interval_ms);
        let mut last_prune = tokio::time::Instant::now();
        loop {
            self.pulse.beat();
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let notified = wake.notified();
            let end = match self.round(pipe, shutdown, wake).await {
                Ok(e) => e,
                Err(e) if once => return Err(e),
                Err(e) => {
                    // The database may be restarting: say so and keep trying.
                    self.lost_db.store(true, Ordering::SeqCst);
                    self.batch_ran(Some(e.to_string()));
                    self.set_status(RelayState::Running, Some(format!("database error: {e}")));
                    tracing::error!("relay {}: {e}", self.relay_id);
                    RoundEnd::Blocked
                }
            };
            // Checked after busy rounds too, so a relay that is rarely idle still prunes.
            if last_prune.elapsed() >= prune_every {
                // A first prune after a long gap can take minutes on a big outbox: the
                // watchdog must not restart the relay into the same prune again.
                self.pulse.through(self.prune()).await;
                last_prune = tokio::time::Instant::now();
            }
            if matches!(end, RoundEnd::Worked(_)) {
                continue;
            }
            if once {
                // Rows still in work decide: their completions may make rows due again, and a
                // round blocked only because a group's commit is held (a transient database
                // error) must not end the run with the backlog still due.
                if pipe.held.len() > 0 {
                    self.pulse.through(pipe.held.wait_empty()).await;
                    continue;
                }
                return Ok(());
            }
            tracing::debug!(
                "relay {}: idle until a wake-up or {} ms",
                self.relay_id,
                poll.as_millis()
            );
            // Idle is a wait of a live loop: it wakes to beat (poll_interval_ms may well be
            // longer than the watchdog allows).
            let stopped = self
                .pulse
                .through(async {
                    tokio::select! {
                        _ = shutdown.cancelled() => true,
                        _ = notified => false,
                        _ = tokio::time::sleep(poll) => false,
                    }
                })
                .await;
            if stopped {
                return Ok(());
            }
        }
    }

    /// Deletes the rows of relays that died long ago, and with `stopped` those of other stopped
    /// relays (`Storage::forget_relays`). A failure only leaves rows for next time.
    async fn forget_relays(&self, stopped: bool) {
        let before =
            crate::health::forget_relays_before(self.clock.now(), self.config.relay.heartbeat_ms);
        match self
            .storage
            .forget_relays(&self.relay_id, before, stopped)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!("relay {}: forgot {n} old relay row(s)", self.relay_id),
            Err(e) => tracing::warn!("forgetting old relay rows failed: {e}"),
        }
    }

    async fn prune(&self) {
        self.forget_relays(false).await;
        let days = self.config.relay.retention_days;
        if days == 0 {
            return;
        }
        let before = self.clock.now() - chrono::Duration::days(days as i64);
        match self.storage.prune(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} sent/discarded rows older than {days} days"),
            Err(e) => tracing::warn!("pruning failed: {e}"),
        }
    }
}

struct HeartbeatCtx {
    storage: DynStorage,
    relay_id: String,
    started: std::time::Instant,
    clock: Arc<DbClock>,
    lost_db: Arc<AtomicBool>,
    status: Arc<Mutex<(RelayState, Option<String>)>>,
    limiter: Arc<RateLimiter>,
    heartbeat_ms: i64,
    /// `max_requests_per_second`, shared by the live relays (0: no limit).
    budget: u32,
    observer: Arc<dyn Observer>,
}

impl HeartbeatCtx {
    /// Writes the heartbeat, then takes this relay's share of the budget. Returns the longest
    /// heartbeat interval of the other live relays (`None`: none, or no limit).
    async fn beat(&self) -> Result<Option<Duration>, StorageError> {
        let offset = self.clock.measure(&*self.storage).await?;
        let now = self.clock.now();
        let up = chrono::TimeDelta::from_std(self.started.elapsed()).unwrap_or_default();
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
                started_at: now - up,
                heartbeat_at: now,
                state,
                detail,
                request_share: self.limiter.ceiling(),
                heartbeat_ms: Some(self.heartbeat_ms),
                request_rate: self.limiter.rate(),
                clock_offset_ms: Some(offset),
            })
            .await?;
        // Keeps the counts read short (PostgreSQL); a failure costs only its speed.
        if let Err(e) = self.storage.fold_counts().await {
            tracing::warn!("folding the outbox counts failed: {e}");
        }
        Ok(self.share_budget().await)
    }
}

#[cfg(test)]
mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::GiveBack;

    fn query(source: sqlx::Error) -> StorageError {
        StorageError::Query {
            context: "x",
            source,
        }
    }

    /// systemd's SIGKILL must not come before `run` has journaled what it holds: that would
    /// be the second SMS the journal exists to prevent. `run` ends within a request's timeout
    /// plus [`STOP_GRACE`] of SIGTERM (the margin: the last heartbeat, the process's exit).
    #[test]
    fn the_service_unit_waits_longer_than_a_stop_takes() {
        let unit = include_str!("../../assets/digis-relay.service");
        let secs: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("the unit sets TimeoutStopSec")
            .trim()
            .parse()
            .unwrap();
        let stop = Config::default().digis_timeout_ms / 1000 + STOP_GRACE.as_secs();
        assert!(secs >= stop + 5, "TimeoutStopSec={secs}");
        // No longer the ten minutes a hold may last: stopping does not wait for the database.
        assert!(secs < HOLD_MAX.as_secs(), "TimeoutStopSec={secs}");
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

    /// A relay on a fresh SQLite file that sends nothing (useDigis off), and its storage; the
    /// folder holds the database and the sync log.
    pub(super) async fn quiet_relay() -> (tempfile::TempDir, DynStorage, Relay) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let storage: DynStorage = Arc::new(
            crate::storage::sqlite::SqliteStorage::connect(&url)
                .await
                .unwrap(),
        );
        let config = Config {
            use_digis: false,
            ..Config::default()
        }
        .relay_setup();
        let synclog = Arc::new(SyncLog::open(dir.path()).unwrap());
        let relay = Relay::new(storage.clone(), config, synclog).unwrap();
        (dir, storage, relay)
    }

    /// A hold that gives up must not leave the relay believing the database is down: it would
    /// release every row it claims, unsent, for ever.
    #[tokio::test]
    async fn a_hold_that_gives_up_sends_again() {
        let (_dir, _, relay) = quiet_relay().await;
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

    /// A database call that never answers (a lock a migration holds) once the relay is told to
    /// stop is given up after STOP_GRACE with a transient error, so the completer journals the
    /// answers it held instead of waiting for systemd's SIGKILL with nothing written (a second
    /// SMS for each of them at the next start).
    #[tokio::test]
    async fn a_call_the_database_never_answers_is_given_up_after_a_stop() {
        let (_dir, _, relay) = quiet_relay().await;
        let stop = CancellationToken::new();
        *relay.stopping.lock().unwrap() = stop.clone();
        // Paused only now: SQLite's pool, connecting with the clock paused, would time out.
        tokio::time::pause();
        let started = tokio::time::Instant::now();
        let hold = tokio::time::timeout(
            Duration::from_secs(600),
            relay.hold("a test", || {
                std::future::pending::<Result<(), StorageError>>()
            }),
        );
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            stop.cancel();
        };
        let (got, ()) = tokio::join!(hold, stopper);
        let got = got.expect("hold never returned: the stop waited on the database for good");
        let err = got.expect_err("a call that never answers cannot succeed");
        assert!(is_transient(&err), "journaled only if transient: {err}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(30) + STOP_GRACE
                && took < Duration::from_secs(30) + STOP_GRACE * 2,
            "given up {took:?} after the start, the stop came at 30 s"
        );
    }

    /// A row given back says why, and stopping comes first: the shutdown line is what support
    /// sees when a service was stopped mid-batch.
    #[tokio::test]
    async fn a_row_is_given_back_for_the_reason_that_holds() {
        let (_dir, _, relay) = quiet_relay().await;
        let stop = CancellationToken::new();
        assert_eq!(relay.give_back_now(&stop), None);
        relay.db_down.store(true, Ordering::SeqCst);
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::DatabaseDown));
        relay.config_error.store(true, Ordering::SeqCst);
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::ConfigError));
        relay.unconfirmed.store(true, Ordering::SeqCst);
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::Unconfirmed));
        stop.cancel();
        assert_eq!(relay.give_back_now(&stop), Some(GiveBack::Shutdown));
    }

    #[test]
    fn degraded_after_three_bad_batches_and_at_once_for_the_sync_log() {
        let mut t = Trouble {
            failing_claims: DEGRADED_AFTER_BATCHES - 1,
            row_error: Some("outbox 7: MobileNumber: not a mobile number".into()),
            ..Trouble::default()
        };
        assert_eq!(t.reason(), None);
        t.failing_claims += 1;
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
