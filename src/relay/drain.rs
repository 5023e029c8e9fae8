//! A round of delivery (docs/delivery-path.md): the gates, a first claim, then a
//! dispatcher that keeps `concurrency` rows in work continuously and a buffer of claimed rows
//! topped up as it empties (claiming ahead, at most `batch_size` rows waiting), re-running the
//! gates before every top-up claim. No row waits for another: one slow answer holds only its
//! own slot. The round ends when nothing is due, nothing waits and nothing is in work.
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::circuit::CircuitState;
use super::completer::Pipe;
use super::decide::probe_due;
use super::{Relay, RoundEnd};
use crate::digis::DigisClient;
use crate::domain::{GiveBack, PauseKind, PausedBy, RelayState};
use crate::storage::{ClaimedRow, Control, StorageError};

/// What the gates allow before a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Nothing may be claimed: paused (`paused`), or the circuit is open.
    Blocked {
        paused: bool,
    },
    /// One row, alone: the probe of a relay that paused itself, or of a half-open circuit.
    Probe,
    Open,
}

/// How a top-up claim went.
enum TopUp {
    Rows(Vec<ClaimedRow>),
    Blocked { paused: bool },
    Failed(StorageError),
}

impl Relay {
    /// The gates before a claim: useDigis (checked by the caller), the pause flag and the
    /// self-pause probe, and the circuit every relay shares (a "sync now" makes it due at once).
    /// Only the first gate of a round (`may_probe`) takes the shared circuit's probe: a top-up
    /// cannot send one (a probe runs alone), and a probe won there would be lost for all.
    async fn gate(&self, may_probe: bool) -> Result<(Gate, Control), StorageError> {
        let now = self.clock.now();
        let read_at = std::time::Instant::now();
        let control = self.storage.control().await?;
        let mut probe = false;
        if control.paused {
            let reason = control
                .pause_reason
                .clone()
                .unwrap_or_else(|| "paused".into());
            // A pause for an unconfirmed answer is never probed: the probe would be another
            // member whose SMS nobody can confirm. Only `resume` lifts it.
            let self_paused = control.pause() == Some(PauseKind::ConfigError);
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
                return Ok((Gate::Blocked { paused: true }, control));
            }
            // Probe with one row: if Digis accepts the configuration again, lift the pause.
            probe = true;
        }
        match self.shared_circuit(&control, read_at, may_probe).await? {
            CircuitState::Open { until } => {
                self.set_status(
                    RelayState::CircuitOpen,
                    Some(format!(
                        "Digis unreachable; next try at {}",
                        crate::storage_time_text(until)
                    )),
                );
                return Ok((Gate::Blocked { paused: false }, control));
            }
            CircuitState::HalfOpen => probe = true,
            CircuitState::Closed => {}
        }
        if !self.clock_allows_claims() {
            return Ok((Gate::Blocked { paused: false }, control));
        }
        Ok((if probe { Gate::Probe } else { Gate::Open }, control))
    }

    /// The circuit every relay obeys, as `control` (read from `read_at` on) holds it: closed;
    /// open until a time (by the database's clock); or, once that time has passed, one probe
    /// for the one relay whose conditional update wins it, while the others stay closed off.
    async fn shared_circuit(
        &self,
        control: &Control,
        read_at: std::time::Instant,
        may_probe: bool,
    ) -> Result<CircuitState, StorageError> {
        let open_for = Duration::from_millis(self.config.relay.circuit_open_ms);
        let Some(until) = control.circuit.open_until else {
            let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            circuit.shared_closed(read_at);
            // Opened by this relay after the read began: it stays open here until it is seen.
            return Ok(match circuit.state(Utc::now()) {
                CircuitState::HalfOpen => CircuitState::Open { until: Utc::now() },
                state => state,
            });
        };
        // Times in the row are the database's: judged by its clock, mirrored on this one.
        let db_now = control.db_now.unwrap_or_else(Utc::now);
        let open_for_chrono =
            chrono::Duration::from_std(open_for).unwrap_or(chrono::Duration::minutes(1));
        let mirror = |until: chrono::DateTime<Utc>| {
            self.circuit
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .mirror_open(Utc::now() + (until - db_now));
        };
        if until > db_now {
            mirror(until);
            return Ok(CircuitState::Open { until });
        }
        if !may_probe {
            // Closed off until the next round's gate tries for the probe.
            mirror(db_now + open_for_chrono);
            return Ok(CircuitState::Open { until });
        }
        if self
            .storage
            .take_circuit_probe(&self.relay_id, open_for)
            .await?
        {
            tracing::info!(
                "relay {}: the circuit's time is up; probing Digis for every relay",
                self.relay_id
            );
            self.circuit
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .probing();
            return Ok(CircuitState::HalfOpen);
        }
        // Another relay won the probe: its answer decides for this one too.
        let until = db_now + open_for_chrono;
        mirror(until);
        Ok(CircuitState::Open { until })
    }

    /// Claims up to `limit` rows, never one this relay still holds, and holds them.
    async fn claim_rows(&self, pipe: &Pipe, limit: usize) -> Result<Vec<ClaimedRow>, StorageError> {
        let lease = Duration::from_millis(self.config.relay.lease_ms);
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        if self.lost_db.load(Ordering::SeqCst) {
            self.back_from_outage(&pipe.held.rows()).await?;
        }
        let rows = self
            .storage
            .claim_after(
                &self.relay_id,
                limit,
                lease,
                self.clock.now(),
                &pipe.held.tokens(),
                self.connected_since(),
            )
            .await?;
        pipe.held.add(&rows);
        Ok(rows)
    }

    /// One round: the gates, a first claim, then rows kept in work until nothing is due.
    pub(super) async fn round(
        &self,
        pipe: &Pipe,
        shutdown: &CancellationToken,
        wake: &Notify,
    ) -> Result<RoundEnd, StorageError> {
        let Some(client) = &self.client else {
            self.set_status(
                RelayState::Disabled,
                Some("useDigis is false: nothing is sent".into()),
            );
            return Ok(RoundEnd::Blocked);
        };
        if self.db_down.load(Ordering::SeqCst) {
            // A group of answers is held until the database takes it: nothing new is claimed
            // (the held rows' leases may have run out, and they must not be sent again).
            return Ok(RoundEnd::Blocked);
        }
        // Database calls through the pulse (the watchdog): a lock held by a migration or a DBA
        // is the database's delay, not a wedged loop.
        let (gate, control) = self.pulse.through(self.gate(true)).await?;
        let limit = match gate {
            Gate::Blocked { .. } => return Ok(RoundEnd::Blocked),
            Gate::Probe => 1,
            Gate::Open => self.config.relay.batch_size as usize,
        };
        let first = self.pulse.through(self.claim_rows(pipe, limit)).await?;
        self.batch_ran(None);
        if first.is_empty() {
            if !control.paused {
                self.set_status(RelayState::Running, None);
            }
            return Ok(RoundEnd::Idle);
        }
        self.config_error.store(false, Ordering::SeqCst);
        self.unconfirmed.store(false, Ordering::SeqCst);
        let n = self
            .dispatch(
                pipe,
                client,
                shutdown,
                wake,
                first,
                limit,
                gate == Gate::Probe,
            )
            .await;
        if self.config_error.load(Ordering::SeqCst) || self.unconfirmed.load(Ordering::SeqCst) {
            // Paused: set when the answer came; the status follows at the next round.
        } else if control.paused {
            // The probe went through: lift the relay's own pause, but not one an operator set
            // while the probe was on its way (the next round shows that one).
            let actor = PausedBy::relay(self.relay_id.as_str());
            if self
                .storage
                .lift_self_pause(&actor, self.clock.now())
                .await?
            {
                tracing::info!(
                    "relay {}: Digis accepts the configuration again; pause lifted",
                    self.relay_id
                );
                self.set_status(RelayState::Running, None);
            } else {
                tracing::info!(
                    "relay {}: Digis accepts the configuration again; an operator's pause stays",
                    self.relay_id
                );
            }
        } else if self.circuit_allows() {
            self.set_status(RelayState::Running, None);
        }
        Ok(RoundEnd::Worked(n))
    }

    /// Keeps rows in work until nothing is due: `concurrency` at once, the buffer topped up
    /// by claims of up to `batch_size - buffered` rows whenever it is half empty. A claim that
    /// comes back short means nothing more is due now; the round then claims again only on a
    /// wake-up hint or after `poll_interval_ms`, while rows are still in work. Returns how
    /// many rows were claimed.
    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        pipe: &Pipe,
        client: &DigisClient,
        shutdown: &CancellationToken,
        wake: &Notify,
        first: Vec<ClaimedRow>,
        first_limit: usize,
        probe: bool,
    ) -> usize {
        let r = &self.config.relay;
        let concurrency = (r.concurrency as usize).max(1);
        let batch = (r.batch_size as usize).max(1);
        let poll = Duration::from_millis(r.poll_interval_ms);
        let mut claimed = first.len();
        // A probe is one row alone; a short first claim means nothing else is due.
        let mut more = !probe && first.len() >= first_limit;
        let mut stopped = probe;
        let mut buffer: VecDeque<ClaimedRow> = first.into();
        let mut running = FuturesUnordered::new();
        let mut claiming: Option<BoxFuture<'_, TopUp>> = None;
        let mut asked = 0;
        // Armed before each claim, so a save committed while the claim runs is not missed.
        let mut hint = Box::pin(wake.notified());
        let mut poll_at: Option<tokio::time::Instant> = None;
        loop {
            self.pulse.beat();
            if !buffer.is_empty() {
                if let Some(why) = self.give_back_now(shutdown) {
                    for c in buffer.drain(..) {
                        pipe.give_back(&c, why);
                    }
                    stopped = true;
                }
            }
            while running.len() < concurrency {
                let Some(c) = buffer.pop_front() else { break };
                running.push(self.work(pipe, client, c, shutdown));
            }
            if claiming.is_none() && more && !stopped && buffer.len() <= batch / 2 {
                hint = Box::pin(wake.notified());
                asked = batch - buffer.len();
                claiming = Some(Box::pin(self.top_up(pipe, asked)));
            }
            if running.is_empty() && buffer.is_empty() && claiming.is_none() {
                break;
            }
            let idle_claimer = claiming.is_none() && !more && !stopped;
            tokio::select! {
                Some(()) = running.next(), if !running.is_empty() => {}
                got = async { claiming.as_mut().expect("guarded").await }, if claiming.is_some() => {
                    claiming = None;
                    match got {
                        TopUp::Rows(rows) => {
                            more = rows.len() >= asked;
                            if !more {
                                poll_at = Some(tokio::time::Instant::now() + poll);
                            }
                            claimed += rows.len();
                            buffer.extend(rows);
                        }
                        TopUp::Blocked { paused } => {
                            stopped = true;
                            if paused {
                                for c in buffer.drain(..) {
                                    pipe.give_back(&c, GiveBack::Paused);
                                }
                            }
                        }
                        TopUp::Failed(e) => {
                            // The rows in work finish; the next round meets the error again
                            // and the loop waits a poll.
                            tracing::error!("relay {}: {e}", self.relay_id);
                            self.batch_ran(Some(e.to_string()));
                            stopped = true;
                        }
                    }
                }
                _ = &mut hint, if idle_claimer => more = true,
                _ = tokio::time::sleep_until(poll_at.unwrap_or_else(tokio::time::Instant::now)), if idle_claimer && poll_at.is_some() => {
                    more = true;
                }
                _ = shutdown.cancelled(), if !stopped => stopped = true,
                // Rows in work wait for Digis (up to digis_timeout_ms) or the rate limit: the
                // loop comes round to beat meanwhile.
                _ = self.pulse.tick() => {}
            }
        }
        claimed
    }

    /// The gates, then a claim of up to `want` rows.
    async fn top_up(&self, pipe: &Pipe, want: usize) -> TopUp {
        if self.db_down.load(Ordering::SeqCst) {
            return TopUp::Blocked { paused: false };
        }
        match self.gate(false).await {
            Ok((Gate::Open, _)) => match self.claim_rows(pipe, want).await {
                Ok(rows) => {
                    self.batch_ran(None);
                    TopUp::Rows(rows)
                }
                Err(e) => TopUp::Failed(e),
            },
            // A probe waits for the next round, where it runs alone.
            Ok((Gate::Probe, _)) => TopUp::Blocked { paused: false },
            Ok((Gate::Blocked { paused }, _)) => TopUp::Blocked { paused },
            Err(e) => TopUp::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests_support {
    use std::sync::Arc;

    use chrono::{TimeDelta, Utc};

    use super::*;
    use crate::clock::DbClock;
    use crate::storage::DynStorage;

    /// A host whose clock is `ms` ahead of the database's (the database here is SQLite, whose
    /// clock is the real one).
    fn ahead(ms: i64) -> Arc<DbClock> {
        Arc::new(DbClock::with_local(Arc::new(move || {
            Utc::now() + TimeDelta::milliseconds(ms)
        })))
    }

    /// [`quiet_relay`](crate::relay::tests::quiet_relay) `ms` ahead of its migrated database,
    /// which holds two due rows.
    pub(super) async fn relay_ahead(ms: i64) -> (tempfile::TempDir, DynStorage, Relay) {
        let (dir, storage, relay) = crate::relay::tests::quiet_relay().await;
        storage.migrate(true).await.unwrap();
        storage
            .host_exec(
                "INSERT INTO digis_outbox (subscription_id, person_id) VALUES (1, 1), (1, 2)",
            )
            .await
            .unwrap();
        (dir, storage, relay.with_clock(ahead(ms)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::tests_support::relay_ahead;
    use super::*;

    /// Issue 24, seen defect 3: a relay whose clock was ahead took over leases another relay
    /// still held (the rows were sent twice) and wrote heartbeats in the future. It measures
    /// its offset with its heartbeat, and claims and beats in the database's time.
    #[tokio::test]
    async fn a_relay_ahead_claims_and_beats_in_the_databases_time() {
        let (_dir, storage, relay) = relay_ahead(3_000).await;
        // Another relay, on the database's clock, holds both rows for 2 s more.
        let held = storage
            .claim("other", 10, Duration::from_secs(2), Utc::now())
            .await
            .unwrap();
        assert_eq!(held.len(), 2);
        relay.heartbeat().await.unwrap();
        let (pipe, _done) = Pipe::new(&relay);
        let (gate, _) = relay.gate(true).await.unwrap();
        assert_eq!(gate, Gate::Open, "3 s is within the 5 s limit");
        let taken = relay.claim_rows(&pipe, 10).await.unwrap();
        assert!(
            taken.is_empty(),
            "took over {} lease(s) still held by another relay",
            taken.len()
        );
        let offset = relay.clock().offset_ms();
        assert!((-3_500..=-2_500).contains(&offset), "offset {offset}");
        let beat = storage
            .relays()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.relay_id == relay.relay_id())
            .unwrap();
        let ahead_ms = (beat.heartbeat_at - Utc::now()).num_milliseconds();
        assert!(ahead_ms.abs() < 1_000, "heartbeat {ahead_ms} ms from now");
        assert_eq!(beat.clock_offset_ms, Some(offset));
    }

    /// Beyond `relay.max_clock_offset_ms` the relay claims nothing and says why; back within
    /// it, it claims again.
    #[tokio::test]
    async fn a_relay_off_beyond_the_limit_claims_nothing() {
        let (_dir, _storage, relay) = relay_ahead(90_000).await;
        relay.heartbeat().await.unwrap();
        let (gate, _) = relay.gate(true).await.unwrap();
        assert_eq!(gate, Gate::Blocked { paused: false });
        let (state, detail) = relay.status();
        assert_eq!(state, RelayState::Degraded);
        let detail = detail.unwrap();
        assert!(
            detail.contains("90.0 s ahead") && detail.contains("max_clock_offset_ms"),
            "{detail}"
        );
        relay.clock().set_offset_ms(-90_000 + 86_000);
        let (gate, _) = relay.gate(true).await.unwrap();
        assert_eq!(gate, Gate::Open);
        assert_eq!(relay.status().0, RelayState::Running);
    }
}

#[cfg(test)]
mod outage_tests {
    use chrono::Utc;

    use super::tests_support::relay_ahead;
    use super::*;

    /// Issue 24 (Takeover after an outage): leases are not renewed while the database is
    /// away, so a relay back from an outage renews the rows it holds (their answers may be
    /// held) before it claims anything, and counts its time with the database from then.
    #[tokio::test]
    async fn a_relay_back_from_an_outage_renews_its_rows_before_claiming() {
        let (_dir, storage, relay) = relay_ahead(0).await;
        let (pipe, _done) = Pipe::new(&relay);
        let held = relay.claim_rows(&pipe, 10).await.unwrap();
        assert_eq!(held.len(), 2);
        // The outage outlasted the lease.
        storage
            .host_exec("UPDATE digis_outbox SET locked_until = '2000-01-01T00:00:00.000Z'")
            .await
            .unwrap();
        relay.lost_db.store(true, Ordering::SeqCst);
        let before = Utc::now();
        assert!(relay.claim_rows(&pipe, 10).await.unwrap().is_empty());
        for id in held.iter().map(|c| c.row.id) {
            let row = storage.outbox_row(id).await.unwrap().unwrap();
            let until = row.locked_until.unwrap();
            assert!(until > before, "outbox {id}: lease left at {until}");
        }
        assert!(!relay.lost_db.load(Ordering::SeqCst));
        assert!(relay.connected_since().is_some_and(|t| t >= before));
    }
}
