//! One function per operator action: the storage call(s) it takes and the report of what
//! changed. The storage layer records each change with its actor in `digis_event`.
use std::path::Path;

use chrono::{DateTime, Utc};

use super::report::{
    DiscardReport, GroupDryRun, GroupRetryReport, NothingQueued, PauseReport, ResendReport,
    ResumeReport, RetryAllReport, RetryReport, SyncReport,
};
use super::{Actor, Reason};
use crate::domain::{OutboxId, PersonId, SubscriptionId};
use crate::storage::{FailureGroupKey, Reconcile, ReconcilePreview, Result, Storage, Unconfirmed};

/// `failed`, `discarded` or waiting `pending` rows back to `pending`, due now. A row whose last
/// answer was unconfirmed (it may have been sent) only when `unconfirmed` says the operator
/// confirmed; the report names those left alone for that.
pub async fn retry(
    storage: &dyn Storage,
    actor: &Actor,
    ids: &[OutboxId],
    now: DateTime<Utc>,
    unconfirmed: Unconfirmed,
) -> Result<RetryReport> {
    let changed = storage.retry(ids, actor.as_str(), now, unconfirmed).await?;
    let left: Vec<OutboxId> = ids
        .iter()
        .filter(|i| !changed.contains(i))
        .copied()
        .collect();
    let unconfirmed = if left.is_empty() || unconfirmed.included() {
        Vec::new()
    } else {
        storage.unconfirmed_rows(Some(&left)).await?
    };
    Ok(RetryReport {
        asked: ids.to_vec(),
        changed,
        unconfirmed,
    })
}

/// Every `failed` row back to `pending`, due now; one whose last answer was unconfirmed only
/// when `unconfirmed` says the operator confirmed.
pub async fn retry_all_failed(
    storage: &dyn Storage,
    actor: &Actor,
    now: DateTime<Utc>,
    unconfirmed: Unconfirmed,
) -> Result<RetryAllReport> {
    let queued = storage
        .retry_all_failed(actor.as_str(), now, unconfirmed)
        .await?;
    let unconfirmed_left = if unconfirmed.included() {
        0
    } else {
        storage.unconfirmed_rows(None).await?.len() as u64
    };
    Ok(RetryAllReport {
        queued,
        unconfirmed_left,
    })
}

/// What retrying a failure group would do now: how many rows it would put back. Asked before
/// the retry, with the same selection the retry uses, so the question states the truth.
pub async fn retry_failure_group_dry_run(
    storage: &dyn Storage,
    group: &FailureGroupKey,
) -> Result<GroupDryRun> {
    let would_queue = storage.count_failure_group(group).await?;
    Ok(GroupDryRun {
        group: group.clone(),
        would_queue,
    })
}

/// A failure group's rows (one unit, one cause) back to `pending`, due now, after the gym fixed
/// the data: the newest failed row of each member that has nothing else waiting.
pub async fn retry_failure_group(
    storage: &dyn Storage,
    actor: &Actor,
    group: &FailureGroupKey,
    now: DateTime<Utc>,
) -> Result<GroupRetryReport> {
    let queued = storage
        .retry_failure_group(group, actor.as_str(), now)
        .await?;
    Ok(GroupRetryReport {
        group: group.clone(),
        queued,
    })
}

/// `pending` or `failed` rows to `discarded`, with the reason on each.
pub async fn discard(
    storage: &dyn Storage,
    actor: &Actor,
    ids: &[OutboxId],
    reason: &Reason,
    now: DateTime<Utc>,
) -> Result<DiscardReport> {
    let changed = storage
        .discard(ids, reason.as_str(), actor.as_str(), now)
        .await?;
    Ok(DiscardReport {
        asked: ids.to_vec(),
        changed,
        reason: reason.clone(),
    })
}

/// Queues the users of a subscription (or one of them) again, even if Digis has them. When
/// nothing was queued, finds out why, so the operator is not left guessing.
pub async fn resend(
    storage: &dyn Storage,
    actor: &Actor,
    subscription: SubscriptionId,
    person: Option<PersonId>,
    now: DateTime<Utc>,
) -> Result<ResendReport> {
    let ids = storage
        .resend(subscription, person, actor.as_str(), now)
        .await?;
    if !ids.is_empty() {
        return Ok(ResendReport::Queued(ids));
    }
    let why = if storage.subscription_status(subscription).await?.is_none() {
        NothingQueued::NoSuchSubscription(subscription)
    } else {
        let no_users = storage
            .members_of_subscription(subscription, person)
            .await?
            .is_empty();
        match (person, no_users) {
            (Some(p), true) => NothingQueued::NotAUser(subscription, p),
            (Some(p), false) => NothingQueued::AlreadyWaiting(subscription, p),
            (None, true) => NothingQueued::NoUsers(subscription),
            (None, false) => NothingQueued::AllWaiting(subscription),
        }
    };
    Ok(ResendReport::NothingQueued(why))
}

/// Every relay on the database stops sending until `resume`.
pub async fn pause(
    storage: &dyn Storage,
    actor: &Actor,
    reason: &Reason,
    now: DateTime<Utc>,
) -> Result<PauseReport> {
    storage.pause(reason.as_str(), actor.as_str(), now).await?;
    Ok(PauseReport {
        reason: reason.clone(),
    })
}

pub async fn resume(
    storage: &dyn Storage,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ResumeReport> {
    storage.resume(actor.as_str(), now).await?;
    Ok(ResumeReport)
}

/// Makes every waiting row due now and wakes the relays; `reconcile` also queues every user of
/// an ACTIVE subscription Digis does not have (no `digis` row, no open or sent outbox row, not
/// among the pairs it skips), after writing `digis` back from sent rows if asked.
pub async fn sync(
    storage: &dyn Storage,
    actor: &Actor,
    reconcile: Option<&Reconcile>,
    now: DateTime<Utc>,
) -> Result<SyncReport> {
    let r = storage.sync(reconcile, actor.as_str(), now).await?;
    Ok(SyncReport {
        reconcile: reconcile.is_some(),
        made_due: r.made_due,
        queued: r.queued,
        restored: reconcile
            .is_some_and(|r| r.restore_digis)
            .then_some(r.restored),
    })
}

/// What a reconcile skipping `skip` would queue now: asked before it queues, so the count the
/// operator confirms is the selection's own.
pub async fn reconcile_preview(
    storage: &dyn Storage,
    skip: &[(SubscriptionId, PersonId)],
) -> Result<ReconcilePreview> {
    storage.reconcile_preview(skip).await
}

/// Pairs the sync log says were sent that the database does not know (neither a `digis` row
/// nor a sent outbox row): what a restore from an older backup forgot.
#[derive(Debug, Clone, Default)]
pub struct LoggedUnknown {
    /// In (subscription, person) order.
    pub pairs: Vec<(SubscriptionId, PersonId)>,
    /// Distinct pairs with a sent line in the log.
    pub logged: usize,
    /// Log files read.
    pub files: usize,
    /// False when the log folder does not exist (nothing could be compared).
    pub dir_exists: bool,
    /// Files that could not be read, the scan's cap.
    pub warnings: Vec<String>,
}

/// Compares the sync log's sent lines in `log_dir` with the database. The log is streamed
/// (`search::logscan::sent_pairs`, off the async threads); the database is asked in chunks.
pub async fn logged_but_unknown(storage: &dyn Storage, log_dir: &Path) -> Result<LoggedUnknown> {
    let dir = log_dir.to_path_buf();
    let scan =
        match tokio::task::spawn_blocking(move || crate::search::logscan::sent_pairs(&dir)).await {
            Ok(s) => s,
            Err(e) => crate::search::logscan::SentPairs {
                warnings: vec![format!("reading the sync log: {e}")],
                ..Default::default()
            },
        };
    let mut logged: Vec<(SubscriptionId, PersonId)> = scan
        .pairs
        .iter()
        .map(|&(s, p)| (SubscriptionId(s), PersonId(p)))
        .collect();
    logged.sort_unstable();
    let known = storage.known_pairs(&logged).await?;
    let count = logged.len();
    logged.retain(|p| !known.contains(p));
    Ok(LoggedUnknown {
        pairs: logged,
        logged: count,
        files: scan.files,
        dir_exists: scan.dir_exists,
        warnings: scan.warnings,
    })
}

impl LoggedUnknown {
    /// A few of the pairs, as `subscription/person` ids (no personal data), for a one-line
    /// message.
    pub fn examples(&self, n: usize) -> String {
        let mut s: Vec<String> = self
            .pairs
            .iter()
            .take(n)
            .map(|(sub, p)| format!("{}/{}", sub.0, p.0))
            .collect();
        if self.pairs.len() > n {
            s.push("...".into());
        }
        s.join(", ")
    }
}
