//! The completer: rows that ended (answered, decided without a request, or given back) are
//! committed in groups, one write transaction a group (`Storage::complete_group`), each row still
//! guarded by its claim token. A group is flushed when it holds `completion_group_rows` rows or
//! when its first row has waited `completion_flush_ms`, so the answer→commit window grows by a
//! few milliseconds at most; two groups may be committing at once. After the commit, and only then, the group's sync-log lines are
//! written (one write call), counted and observed. Modelled on River's batch completer
//! (`internal/jobcompleter`): it bounds how much may wait (here the permits, see [`Pipe`]) and
//! holds a group through a database outage instead of dropping answers Digis already gave.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::decide::Decision;
use super::held::{ClaimTally, Held, Verdict};
use super::{journal, Relay};
use crate::domain::{AttemptOutcome, GiveBack, OutboxId};
use crate::storage::{
    AttemptRecord, ClaimedRow, CompleteResult, Completion, CompletionItem, StorageError,
};
use crate::synclog::SyncLine;

/// Groups committed at once. The second overlaps the first's round trips (PostgreSQL commits
/// them on two connections; SQLite takes them one after the other). The permits, not this,
/// bound what a crash can repeat.
const FLUSHES_IN_FLIGHT: usize = 2;

/// What the dispatcher and the workers share with the completer for one run of the relay.
pub(super) struct Pipe {
    tx: UnboundedSender<Done>,
    pub held: Arc<Held>,
    /// Rows started and not yet committed, at most `concurrency + completion_group_rows`: a
    /// worker takes a permit before it works on a row and the completer returns it after the
    /// commit. So a crash can repeat at most that many accepted requests, and the completer
    /// can never fall more than a group behind the requests.
    permits: Arc<Semaphore>,
}

/// A row that ended, on its way to the completer.
pub(super) enum Done {
    Finished(Box<Finished>),
    /// Given back unsent (no attempt: no sync-log line).
    Released {
        id: OutboxId,
        token: String,
    },
    /// Could not be ended (the relay's own pause could not be written): it stays `sending`
    /// until its lease expires and is claimed again.
    Abandoned {
        id: OutboxId,
        error: String,
    },
}

/// A completion with what its sync-log line needs.
pub(super) struct Finished {
    item: CompletionItem,
    card: Option<String>,
    http_status: Option<u16>,
    log_error: Option<String>,
    given_back: Option<GiveBack>,
    elapsed: Duration,
    _permit: OwnedSemaphorePermit,
}

impl Pipe {
    pub fn new(relay: &Relay) -> (Pipe, UnboundedReceiver<Done>) {
        let r = &relay.config.relay;
        let permits = (r.concurrency as usize).saturating_add(r.completion_group_rows as usize);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let pipe = Pipe {
            tx,
            held: Arc::new(Held::default()),
            permits: Arc::new(Semaphore::new(permits)),
        };
        (pipe, rx)
    }

    /// A permit to work on one row (see `permits`).
    pub async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the permits are never closed")
    }

    fn send(&self, done: Done) {
        // The completer outlives every sender (it ends when the channel closes), so this
        // cannot fail while the relay runs.
        if self.tx.send(done).is_err() {
            tracing::error!("the completer is gone: a completion was dropped");
        }
    }

    /// The row ended as `decision` decided.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &self,
        relay: &Relay,
        c: &ClaimedRow,
        decision: Decision,
        given_back: Option<GiveBack>,
        started: DateTime<Utc>,
        clock: std::time::Instant,
        permit: OwnedSemaphorePermit,
    ) {
        let elapsed = clock.elapsed();
        let attempt = AttemptRecord {
            started_at: started,
            duration_ms: elapsed.as_millis() as i64,
            relay_id: relay.relay_id.clone(),
            http_status: decision.http_status.map(i32::from),
            error: decision.db_error,
        };
        let item = CompletionItem::new(c, decision.completion, attempt);
        // As the payload sends it (trimmed), so `ExtInfo20:{card}` is what support searches.
        let card = c
            .row
            .card_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        self.send(Done::Finished(Box::new(Finished {
            item,
            card,
            http_status: decision.http_status,
            log_error: decision.log_error,
            given_back,
            elapsed,
            _permit: permit,
        })));
    }

    /// The row goes back unsent, its attempt refunded.
    pub fn give_back(&self, c: &ClaimedRow, why: GiveBack) {
        // Not sending now is not the row's fault: no attempt, no sync-log line.
        tracing::debug!("outbox {}: given back unsent ({why})", c.row.id);
        self.send(Done::Released {
            id: c.row.id,
            token: c.claim_token.clone(),
        });
    }

    pub fn abandon(&self, c: &ClaimedRow, error: &StorageError) {
        self.send(Done::Abandoned {
            id: c.row.id,
            error: error.to_string(),
        });
    }
}

impl Relay {
    /// Commits what the workers hand over, a group at a time, until every sender is gone and
    /// everything received is committed (or given up on).
    pub(super) async fn complete_groups(&self, mut rx: UnboundedReceiver<Done>, held: &Held) {
        use futures::stream::{FuturesUnordered, StreamExt};
        let max = self.config.relay.completion_group_rows.max(1) as usize;
        let wait = Duration::from_millis(self.config.relay.completion_flush_ms);
        let mut group: Vec<Done> = Vec::with_capacity(max);
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut due = false;
        let mut closed = false;
        let mut flushing = FuturesUnordered::new();
        loop {
            while !closed && group.len() < max {
                match rx.try_recv() {
                    Ok(d) => {
                        if group.is_empty() {
                            deadline = Some(tokio::time::Instant::now() + wait);
                        }
                        group.push(d);
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => closed = true,
                }
            }
            let ready = !group.is_empty() && (group.len() >= max || due || closed);
            if ready && flushing.len() < FLUSHES_IN_FLIGHT {
                flushing.push(self.flush(std::mem::take(&mut group), held));
                group.reserve(max);
                (deadline, due) = (None, false);
                continue;
            }
            if closed && group.is_empty() && flushing.is_empty() {
                return;
            }
            let waiting_for_time = deadline.is_some() && !due;
            tokio::select! {
                Some(()) = flushing.next(), if !flushing.is_empty() => {}
                d = rx.recv(), if !closed && group.len() < max => match d {
                    Some(d) => {
                        if group.is_empty() {
                            deadline = Some(tokio::time::Instant::now() + wait);
                        }
                        group.push(d);
                    }
                    None => closed = true,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if waiting_for_time => {
                    due = true;
                }
            }
        }
    }

    /// One group: one transaction, then its sync-log lines, counters and claim tallies.
    async fn flush(&self, group: Vec<Done>, held: &Held) {
        let mut items = Vec::with_capacity(group.len());
        let mut extras = Vec::with_capacity(group.len());
        let mut releases = Vec::new();
        let mut abandoned = Vec::new();
        for d in group {
            match d {
                Done::Finished(f) => {
                    let Finished {
                        item,
                        card,
                        http_status,
                        log_error,
                        given_back,
                        elapsed,
                        _permit,
                    } = *f;
                    items.push(item);
                    extras.push((card, http_status, log_error, given_back, elapsed, _permit));
                }
                Done::Released { id, token } => releases.push((id, token)),
                Done::Abandoned { id, error } => abandoned.push((id, error)),
            }
        }
        let mut tallies: Vec<ClaimTally> = Vec::new();
        let mut settle = |id: OutboxId, v: Verdict| {
            if let Some(t) = held.settle(id, v) {
                tallies.push(t);
            }
        };
        for (id, error) in &abandoned {
            tracing::error!("relay {}: outbox {id}: {error}", self.relay_id);
            self.trouble().row_error = Some(format!("outbox {id}: {error}"));
            settle(*id, Verdict::Bad);
        }
        if !items.is_empty() || !releases.is_empty() {
            let what = match (items.len(), releases.len()) {
                (n, 0) => format!("{n} completion(s)"),
                (0, r) => format!("{r} release(s)"),
                (n, r) => format!("{n} completion(s) and {r} release(s)"),
            };
            self.committing.store(items.len(), Ordering::SeqCst);
            let result = self
                .hold(&what, || {
                    self.storage
                        .complete_group(&items, &releases, self.clock.now())
                })
                .await;
            self.committing.store(0, Ordering::SeqCst);
            match result {
                Ok(results) => {
                    let mut lines = Vec::with_capacity(items.len());
                    let mut verdicts = Vec::with_capacity(items.len());
                    for ((item, extra), result) in items.iter().zip(&extras).zip(results) {
                        let (card, http_status, log_error, given_back, elapsed, _) = extra;
                        let (verdict, log_error) = self.account(item, result, log_error, *elapsed);
                        verdicts.push(verdict);
                        lines.push(LineParts {
                            item,
                            card: card.as_deref(),
                            http_status: *http_status,
                            given_back: *given_back,
                            error: log_error,
                        });
                    }
                    self.write_lines(&lines);
                    for (item, v) in items.iter().zip(verdicts) {
                        settle(item.id, v);
                    }
                    for (id, _) in &releases {
                        settle(*id, Verdict::Neutral);
                    }
                }
                Err(e) if super::is_transient(&e) && self.stopping().is_cancelled() => {
                    // Stopping while the database is away: the answers wait in the journal for
                    // the next start instead of keeping the process alive (see `journal`).
                    let verdict = match self.journal_group(&items, &extras, &releases, &e) {
                        Ok(()) => Verdict::Neutral,
                        Err(()) => Verdict::Bad,
                    };
                    for item in &items {
                        settle(item.id, verdict);
                    }
                    for (id, _) in &releases {
                        settle(*id, Verdict::Neutral);
                    }
                }
                Err(e) => {
                    for item in &items {
                        tracing::error!("relay {}: outbox {}: {e}", self.relay_id, item.id);
                        self.trouble().row_error = Some(format!("outbox {}: {e}", item.id));
                        settle(item.id, Verdict::Bad);
                    }
                    for (id, _) in &releases {
                        tracing::error!(
                            "relay {}: outbox {id}: not given back: {e}",
                            self.relay_id
                        );
                        settle(*id, Verdict::Neutral);
                    }
                }
            }
        }
        // The permits go back only now: these rows are committed (or given up on).
        drop(extras);
        if !tallies.is_empty() {
            {
                let mut t = self.trouble();
                for tally in tallies {
                    if tally.good > 0 {
                        t.failing_claims = 0;
                        t.row_error = None;
                    } else if tally.bad > 0 {
                        t.failing_claims = t.failing_claims.saturating_add(1);
                    }
                }
            }
            self.trouble_changed();
        }
    }

    /// Adds a group the database could not take to this process's journal and rewrites it.
    /// `Err` when the journal cannot be written: the group is then lost as before (its rows
    /// stay `sending` until their leases end), and each row says so.
    fn journal_group(
        &self,
        items: &[CompletionItem],
        extras: &[Extra],
        releases: &[(OutboxId, String)],
        e: &StorageError,
    ) -> Result<(), ()> {
        let path = journal::path_for(&self.config.state_dir, &self.relay_id, std::process::id());
        let written = {
            let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            let before = (j.completions.len(), j.releases.len());
            for (item, (_, http_status, log_error, given_back, _, _)) in items.iter().zip(extras) {
                j.completions.push(journal::HeldCompletion::new(
                    item,
                    *http_status,
                    log_error.as_deref(),
                    *given_back,
                ));
            }
            j.releases
                .extend(releases.iter().map(|(id, token)| journal::HeldRelease {
                    id: *id,
                    claim_token: token.clone(),
                }));
            let written = journal::write(&path, &j);
            if written.is_err() {
                j.completions.truncate(before.0);
                j.releases.truncate(before.1);
            }
            written
        };
        match written {
            Ok(()) => {
                let ids: Vec<String> = items
                    .iter()
                    .map(|i| i.id.to_string())
                    .chain(releases.iter().map(|(id, _)| id.to_string()))
                    .collect();
                tracing::warn!(
                    "relay {}: stopping while the database is away ({e}): outbox {} written to {} and committed at the next start",
                    self.relay_id,
                    ids.join(", "),
                    path.display()
                );
                Ok(())
            }
            Err(je) => {
                for item in items {
                    tracing::error!(
                        "relay {}: outbox {}: {e}; the journal could not be written either: {je}",
                        self.relay_id,
                        item.id
                    );
                }
                Err(())
            }
        }
    }

    /// Whether this process wrote a journal.
    pub(super) fn journaled(&self) -> bool {
        let j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        !j.completions.is_empty() || !j.releases.is_empty()
    }

    /// Commits the journals left in `state_dir` (by any process), each under its rows' claim
    /// tokens, waiting for the database as a hold does; a journal is deleted once committed.
    /// `false` when `shutdown` came first: nothing may be claimed then.
    pub(super) async fn commit_journals(&self, shutdown: &CancellationToken) -> bool {
        let paths = match journal::pending(&self.config.state_dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("relay {}: reading the state folder: {e}", self.relay_id);
                return true;
            }
        };
        'journals: for path in paths {
            let held = match journal::read(&path) {
                Ok(j) => j,
                Err(e) => {
                    // Kept for a person, out of the way of the next start.
                    let aside = set_aside(&path, "bad");
                    tracing::error!("relay {}: {e}; set aside as {aside}", self.relay_id);
                    continue;
                }
            };
            let items: Vec<CompletionItem> =
                held.completions.iter().map(|c| c.item.clone()).collect();
            let releases: Vec<(OutboxId, String)> = held
                .releases
                .iter()
                .map(|r| (r.id, r.claim_token.clone()))
                .collect();
            let mut wait = super::HOLD_FIRST_WAIT;
            let mut warned = false;
            let results = loop {
                match self
                    .storage
                    .complete_group(&items, &releases, self.clock.now())
                    .await
                {
                    Ok(r) => break r,
                    Err(e) if super::is_transient(&e) => {
                        if !warned {
                            tracing::warn!(
                                "relay {}: {} answer(s) and {} give-back(s) held in {} wait for the database; nothing is claimed before them: {e}",
                                self.relay_id,
                                items.len(),
                                releases.len(),
                                path.display()
                            );
                            warned = true;
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = shutdown.cancelled() => return false,
                        }
                        wait = (wait * 2).min(super::HOLD_MAX_WAIT);
                    }
                    Err(e) => {
                        let aside = set_aside(&path, "failed");
                        tracing::error!(
                            "relay {}: {}: could not be committed: {e}; set aside as {aside}",
                            self.relay_id,
                            path.display()
                        );
                        continue 'journals;
                    }
                }
            };
            let mut parts = Vec::with_capacity(held.completions.len());
            for (c, result) in held.completions.iter().zip(results) {
                let elapsed = Duration::from_millis(c.item.attempt.duration_ms.max(0) as u64);
                let (_, error) = self.account(&c.item, result, &c.log_error, elapsed);
                parts.push(LineParts {
                    item: &c.item,
                    card: None,
                    http_status: c.http_status,
                    given_back: c.given_back(),
                    error,
                });
            }
            self.write_lines(&parts);
            tracing::info!(
                "relay {}: committed {} held answer(s) and {} give-back(s) from {}",
                self.relay_id,
                items.len(),
                releases.len(),
                path.display()
            );
            if let Err(e) = journal::remove(&path) {
                tracing::error!("relay {}: committed, but {e}", self.relay_id);
            }
        }
        true
    }

    /// Counts and observes one committed completion; its verdict for the claim's tally and
    /// the error its sync-log line carries.
    fn account<'a>(
        &self,
        item: &CompletionItem,
        result: CompleteResult,
        log_error: &'a Option<String>,
        elapsed: Duration,
    ) -> (Verdict, Option<std::borrow::Cow<'a, str>>) {
        use std::sync::atomic::Ordering;
        let outcome = item.completion.outcome();
        let log_error = log_error.as_deref().map(std::borrow::Cow::Borrowed);
        if let CompleteResult::SentWithoutDigis(why) = &result {
            // Digis has the member and the row says `sent`: it is never sent again. Only the
            // host's record of the pair is missing (its `digis` refused the row).
            tracing::error!(
                "relay {}: outbox {}: accepted by Digis and marked sent, but its pair (subscription {}, person {}) could not be written to digis: {why}",
                self.relay_id,
                item.id,
                item.subscription_id,
                item.person_id
            );
        }
        match result {
            CompleteResult::Applied | CompleteResult::SentWithoutDigis(_) => {
                let c = &self.counters;
                let (counter, verdict) = match item.completion {
                    Completion::Sent { .. } => (&c.sent, Verdict::Good),
                    Completion::Retry { .. } => (&c.retried, Verdict::Neutral),
                    Completion::Failed { .. } => (&c.failed, Verdict::Bad),
                    Completion::Discarded { .. } => (&c.discarded, Verdict::Good),
                    Completion::Released { .. } => (&c.paused, Verdict::Neutral),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if verdict == Verdict::Bad {
                    // The log's value-free words, never Digis's own message: this reason
                    // reaches stderr and /healthz, and Digis may quote the member's data.
                    let why = log_error.as_deref().unwrap_or("failed");
                    self.trouble().row_error = Some(format!("outbox {}: {why}", item.id));
                }
                self.observer.attempt(outcome, elapsed);
                if matches!(item.completion, Completion::Sent { .. }) {
                    self.observer.success(Utc::now());
                }
                (verdict, log_error)
            }
            CompleteResult::LeaseLost => {
                self.counters.lease_lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "outbox {}: lease was taken over before completion ({outcome} not applied); if Digis accepted it, this is a possible duplicate",
                    item.id
                );
                (
                    Verdict::Neutral,
                    Some("lease lost before completion: possible duplicate".into()),
                )
            }
            CompleteResult::Vanished => {
                tracing::warn!(
                    "relay {}: outbox {}: the row was deleted while in flight ({outcome} not recorded); the rest of its group is committed",
                    self.relay_id,
                    item.id
                );
                (Verdict::Neutral, Some("row deleted while in flight".into()))
            }
            CompleteResult::Unwritten(why) => {
                let duplicate = if matches!(item.completion, Completion::Sent { .. }) {
                    " (Digis accepted it: sending it again is a possible duplicate)"
                } else {
                    ""
                };
                tracing::error!(
                    "relay {}: outbox {}: {outcome} could not be written ({why}); the row stays sending until its lease ends{duplicate}",
                    self.relay_id,
                    item.id
                );
                self.trouble().row_error = Some(format!("outbox {}: not written: {why}", item.id));
                (Verdict::Bad, Some("not written to the database".into()))
            }
        }
    }

    /// The group's sync-log lines, in one write; the same words on the live log.
    fn write_lines(&self, parts: &[LineParts<'_>]) {
        if parts.is_empty() {
            return;
        }
        let lines: Vec<SyncLine<'_>> = parts
            .iter()
            .map(|p| {
                let outcome = p.item.completion.outcome();
                SyncLine {
                    at: p.item.attempt.started_at,
                    relay_id: &self.relay_id,
                    subscription_id: p.item.subscription_id.0,
                    card_number: p.card,
                    outbox_id: p.item.id.0,
                    person_id: p.item.person_id.0,
                    attempt: p.item.attempt_no,
                    outcome,
                    // Only a row that went back says why; the word stays `paused` (a contract).
                    given_back: p
                        .given_back
                        .filter(|_| outcome == AttemptOutcome::GivenBack),
                    http_status: p.http_status,
                    external_id: match &p.item.completion {
                        Completion::Sent { external_id } => external_id.as_deref(),
                        _ => None,
                    },
                    ms: p.item.attempt.duration_ms,
                    error: p.error.as_deref(),
                }
            })
            .collect();
        // The live log (the dashboard's Log view, journald): ids only, one line per attempt, at
        // the line's level; the file's lines below keep their own format (the contract).
        for l in &lines {
            crate::synclog::log_live(l);
        }
        let written = self.synclog.write_all(&lines);
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
    }
}

/// What a completion's sync-log line needs beside the item, and its permit.
type Extra = (
    Option<String>,
    Option<u16>,
    Option<String>,
    Option<GiveBack>,
    Duration,
    OwnedSemaphorePermit,
);

/// Renames a journal that cannot be committed to `<name>.<why>`, so the next start does not
/// trip on it again; says where it went.
fn set_aside(path: &std::path::Path, why: &str) -> String {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{why}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => std::path::Path::new(&aside).display().to_string(),
        Err(e) => format!("(not possible: {e}) {}", path.display()),
    }
}

/// What one sync-log line is made of, borrowed from its completion.
struct LineParts<'a> {
    item: &'a CompletionItem,
    card: Option<&'a str>,
    http_status: Option<u16>,
    given_back: Option<GiveBack>,
    error: Option<std::borrow::Cow<'a, str>>,
}
