//! One claimed row from the buffer to the completer: re-check it, build its payload, send it
//! (unless it must go back unsent), decide what the answer means. Up to `concurrency` of these
//! run at once; none waits for the others.
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::completer::Pipe;
use super::decide::{after_send, precheck, Decision};
use super::limiter::Verdict;
use super::Relay;
use crate::digis::{Answer, DigisClient};
use crate::domain::{GiveBack, RelayState};
use crate::storage::{ClaimedRow, Completion, StorageError};

/// What becomes of a claimed row.
pub(super) enum Step {
    /// Complete it as decided; `given_back` says why when the completion hands the row back.
    Finish {
        decision: Decision,
        given_back: Option<GiveBack>,
    },
    /// Give it back unsent, its attempt not charged.
    GiveBack(GiveBack),
}

impl Relay {
    /// Works one row and hands the outcome to the completer.
    pub(super) async fn work(
        &self,
        pipe: &Pipe,
        client: &DigisClient,
        c: ClaimedRow,
        shutdown: &CancellationToken,
    ) {
        let permit = pipe.permit().await;
        let started = self.clock.now();
        let clock = std::time::Instant::now();
        match self.decide(client, &c, shutdown).await {
            Ok(Step::Finish {
                decision,
                given_back,
            }) => pipe.finish(self, &c, decision, given_back, started, clock, permit),
            Ok(Step::GiveBack(why)) => pipe.give_back(&c, why),
            Err(e) => pipe.abandon(&c, &e),
        }
    }

    /// What happens to the row: a completion, or a give-back when it must go back unsent
    /// (stopping, paused by a configuration error in this round, database down, circuit open).
    pub(super) async fn decide(
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
                    completion: Completion::Failed { cause: e.cause() },
                    http_status: None,
                    db_error: Some(why.clone()),
                    log_error: Some(why),
                }));
            }
        };
        if let Some(why) = self.give_back_now(shutdown) {
            return Ok(Step::GiveBack(why));
        }
        let sent_at = self.limiter.acquire().await;
        // The wait for the rate may have outlasted an unconfirmed answer: nothing may start
        // after one, not even a request that was already waiting its turn.
        if self.unconfirmed.load(Ordering::SeqCst) {
            return Ok(Step::GiveBack(GiveBack::Unconfirmed));
        }
        let answer = client.send(&payload).await;
        let now = self.clock.now();
        if let Some(rate) = self.limiter.answered(sent_at, Verdict::of(&answer)) {
            self.observer.request_rate(Some(rate));
        }
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
    pub(super) fn give_back_now(&self, shutdown: &CancellationToken) -> Option<GiveBack> {
        if shutdown.is_cancelled() {
            Some(GiveBack::Shutdown)
        } else if self.unconfirmed.load(Ordering::SeqCst) {
            Some(GiveBack::Unconfirmed)
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

    pub(super) fn circuit_allows(&self) -> bool {
        self.circuit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(self.clock.now())
    }

    /// Feeds the circuit (this relay's, and the one every relay shares), and pauses every relay
    /// on a configuration error (once per round).
    async fn observe_answer(
        &self,
        answer: &Answer,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let (opened, closed) = {
            let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            match answer {
                // Digis is up and asks us to slow down: the rate answers that (it was just
                // cut). Counted as a failure, the run of 429s a burst brings would open the
                // circuit at the start of every drain above Digis's limit. Without a limit
                // there is no rate to cut, and the circuit is the only brake.
                Answer::RetryLater {
                    status: Some(429), ..
                } if self.limiter.rate().is_some() => (None, false),
                Answer::RetryLater { status, .. } => {
                    let reason = match status {
                        Some(s) => format!("Digis answered HTTP {s}"),
                        None => "Digis did not answer (timeout or connection)".to_string(),
                    };
                    (circuit.failure(now).then_some(reason), false)
                }
                // Says nothing about whether Digis is up: a page in front of it answered.
                Answer::Unconfirmed { .. } => (None, false),
                _ => (None, circuit.success()),
            }
        };
        // A database that refuses these writes must not fail the row: this relay's own circuit
        // still holds, and the next gate reads the shared one again.
        if let Some(reason) = opened {
            tracing::warn!(
                "relay {}: circuit opened for every relay after repeated failures ({reason})",
                self.relay_id
            );
            let open_for = std::time::Duration::from_millis(self.config.relay.circuit_open_ms);
            if let Err(e) = self
                .storage
                .open_circuit(&reason, &self.relay_id, open_for)
                .await
            {
                tracing::warn!(
                    "relay {}: cannot share the open circuit: {e}",
                    self.relay_id
                );
            }
        }
        if closed {
            match self.storage.close_circuit().await {
                Ok(true) => tracing::info!(
                    "relay {}: Digis answers again; circuit closed for every relay",
                    self.relay_id
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(
                        "relay {}: cannot close the shared circuit: {e}",
                        self.relay_id
                    )
                }
            }
        }
        if let Answer::Unconfirmed { status, why, .. } = answer {
            // Set before any await: the dispatcher starts no row after this answer.
            if !self.unconfirmed.swap(true, Ordering::SeqCst) {
                let reason = crate::domain::unconfirmed_pause_reason(*status, why);
                // The row's own completion (failed, never pending) matters more than the
                // pause: an error here must not abandon the row to be claimed and sent again.
                if let Err(e) = self.pause_self(&reason, now).await {
                    tracing::error!(
                        "relay {}: {reason}; the pause could not be written: {e}",
                        self.relay_id
                    );
                }
            }
        }
        if let Answer::ConfigError { reason, .. } = answer {
            if !self.config_error.swap(true, Ordering::SeqCst) {
                self.pause_self(reason, now).await?;
            }
        }
        Ok(())
    }

    /// Pauses every relay with `reason`, as this relay's own pause (docs/contracts.md, Digis
    /// HTTP, "self-pause"), unless a pause that must stay is in force.
    async fn pause_self(&self, reason: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        let by = crate::domain::PausedBy::relay(self.relay_id.as_str());
        // Held like a completion: dropped, the row would wait out its lease and be sent again
        // only to get the same answer.
        let set = self
            .hold("the relay's own pause", || {
                self.storage.pause_self(reason, &by, now)
            })
            .await?;
        if set {
            tracing::error!("relay {}: paused: {reason}", self.relay_id);
            self.set_status(RelayState::Paused, Some(reason.to_string()));
        } else {
            // An operator's pause is in force: it stays theirs (a relay's own would be lifted
            // by its next good probe). Or an unconfirmed answer's, which only `resume` lifts.
            // The next round shows it.
            tracing::error!(
                "relay {}: {reason}; an earlier pause (an operator's, or one for an unconfirmed answer) is in force and stays",
                self.relay_id
            );
        }
        Ok(())
    }
}
