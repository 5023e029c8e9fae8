//! The rows a relay holds under its claims, from the claim until their completion (or give-back)
//! is committed: waiting in the buffer, in flight, or waiting in the completer. It serves three
//! ends: one lease renewal for all of them, claims that never take back a row this relay still
//! holds (its claim tokens are skipped), and the claim tallies behind `degraded`.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::DbClock;
use crate::domain::OutboxId;
use crate::storage::{ClaimedRow, DynStorage};

/// How a row of a claim ended, for the claim's tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Sent, or discarded (the row needed nothing more).
    Good,
    /// Failed, or could not be completed.
    Bad,
    /// Retried later or given back: says nothing about the relay's health.
    Neutral,
}

/// The rows of one claim that ended well and badly, once all of them ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ClaimTally {
    pub good: u32,
    pub bad: u32,
}

#[derive(Debug, Default)]
struct Claim {
    left: u32,
    tally: ClaimTally,
}

#[derive(Debug, Default)]
struct Inner {
    /// Held row → its claim token.
    rows: HashMap<i64, Arc<str>>,
    /// Claim token → what is left of the claim.
    claims: HashMap<Arc<str>, Claim>,
}

#[derive(Debug, Default)]
pub(super) struct Held {
    inner: Mutex<Inner>,
    /// Signalled whenever rows stop being held.
    settled: Notify,
}

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the rows of one claim (they all carry the same token).
    pub fn add(&self, rows: &[ClaimedRow]) {
        let Some(first) = rows.first() else { return };
        let token: Arc<str> = Arc::from(first.claim_token.as_str());
        let mut inner = self.lock();
        for r in rows {
            inner.rows.insert(r.row.id.0, token.clone());
        }
        let claim = inner.claims.entry(token).or_default();
        claim.left = claim.left.saturating_add(rows.len() as u32);
    }

    /// The row is no longer held (its completion committed, it was given back, or it was
    /// abandoned). When it was the last of its claim, the claim's tally is returned.
    pub fn settle(&self, id: OutboxId, verdict: Verdict) -> Option<ClaimTally> {
        let mut inner = self.lock();
        let token = inner.rows.remove(&id.0)?;
        let claim = inner.claims.get_mut(&token)?;
        match verdict {
            Verdict::Good => claim.tally.good += 1,
            Verdict::Bad => claim.tally.bad += 1,
            Verdict::Neutral => {}
        }
        claim.left = claim.left.saturating_sub(1);
        let done = (claim.left == 0).then_some(claim.tally);
        if done.is_some() {
            inner.claims.remove(&token);
        }
        drop(inner);
        self.settled.notify_waiters();
        done
    }

    /// The claim tokens of rows still held: a claim must not take those rows back.
    pub fn tokens(&self) -> Vec<String> {
        self.lock().claims.keys().map(|t| t.to_string()).collect()
    }

    /// Every held row with its claim token, for the lease renewal.
    pub fn rows(&self) -> Vec<(OutboxId, String)> {
        self.lock()
            .rows
            .iter()
            .map(|(id, t)| (OutboxId(*id), t.to_string()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Waits until no row is held (every completion committed).
    pub async fn wait_empty(&self) {
        loop {
            let settled = self.settled.notified();
            if self.len() == 0 {
                return;
            }
            settled.await;
        }
    }
}

/// Renews the lease of every held row every `lease / 3`, in one statement, until `stop`.
pub(super) async fn keep_leases(
    storage: DynStorage,
    clock: Arc<DbClock>,
    lost_db: Arc<std::sync::atomic::AtomicBool>,
    held: Arc<Held>,
    lease: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(lease / 3) => {}
        }
        let rows = held.rows();
        if rows.is_empty() {
            continue;
        }
        let until = crate::storage::time::saturating_add(clock.now(), lease);
        if let Err(e) = storage.renew_lease(&rows, until).await {
            tracing::warn!("lease renewal failed: {e}");
            lost_db.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Person `id`'s row `id` in subscription 1.
    fn claimed(id: i64, token: &str) -> ClaimedRow {
        crate::relay::fixtures::claimed(id, 1, id, token)
    }

    #[test]
    fn a_claim_is_tallied_once_all_its_rows_settled() {
        let held = Held::default();
        held.add(&[claimed(1, "a"), claimed(2, "a"), claimed(3, "a")]);
        held.add(&[claimed(4, "b")]);
        let mut tokens = held.tokens();
        tokens.sort();
        assert_eq!(tokens, ["a", "b"]);
        assert_eq!(held.settle(OutboxId(1), Verdict::Bad), None);
        assert_eq!(held.settle(OutboxId(2), Verdict::Neutral), None);
        assert_eq!(
            held.settle(OutboxId(3), Verdict::Bad),
            Some(ClaimTally { good: 0, bad: 2 })
        );
        assert_eq!(held.tokens(), ["b"], "a claim settled is no longer skipped");
        assert_eq!(
            held.settle(OutboxId(3), Verdict::Good),
            None,
            "settled once"
        );
        assert_eq!(held.rows(), vec![(OutboxId(4), "b".to_string())]);
        assert_eq!(
            held.settle(OutboxId(4), Verdict::Good),
            Some(ClaimTally { good: 1, bad: 0 })
        );
        assert_eq!(held.len(), 0);
    }
}
