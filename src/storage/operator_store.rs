//! What operators do to the outbox: retry, discard, resend, pause and resume, sync and
//! reconcile, a failure group's retry. Used by `operator::actions` (the CLI and the
//! dashboard both act through it). Each action records who did it in `digis_event`, in the
//! action's own transaction, and wakes the relays when it gave them work.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::event_log::Event;
use super::exec::{Db, DbRow, Statement};
use super::lists::{json_err, json_whole, IdList, JsonRows, PairKey, WordList};
use super::texts::{self, EventKind};
use super::time::StoredTime;
use super::{
    rows, Context as _, FailureGroupKey, Reconcile, ReconcilePreview, Result, SyncResult,
    Unconfirmed,
};
use crate::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};

/// The operator's writes (and the reads that size them: `unconfirmed_rows`,
/// `reconcile_preview`, `known_pairs`, `count_failure_group`). Times passed in are "now" as
/// the caller sees it.
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// `failed`, `discarded` or waiting `pending` rows back to `pending`, due now, with a
    /// fresh attempt budget; a row whose last answer was unconfirmed only with
    /// [`Unconfirmed::Include`]. Returns the ids that changed.
    async fn retry(
        &self,
        ids: &[OutboxId],
        actor: &str,
        now: DateTime<Utc>,
        unconfirmed: Unconfirmed,
    ) -> Result<Vec<OutboxId>>;

    /// The newest failed row of each member with nothing open, back to `pending`; one whose
    /// last answer was unconfirmed only with [`Unconfirmed::Include`].
    async fn retry_all_failed(
        &self,
        actor: &str,
        now: DateTime<Utc>,
        unconfirmed: Unconfirmed,
    ) -> Result<u64>;

    /// The rows whose last answer from Digis was unconfirmed and that nobody retried since, in
    /// id order: among `ids` (`failed` or `discarded`), or every `failed` one when `ids` is
    /// `None`. What `retry` asks about.
    async fn unconfirmed_rows(&self, ids: Option<&[OutboxId]>) -> Result<Vec<OutboxId>>;

    /// `pending` or `failed` rows to `discarded` with `reason`. Returns the ids that changed.
    async fn discard(
        &self,
        ids: &[OutboxId],
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>>;

    /// Queues the users of a subscription again even if Digis already has them.
    async fn resend(
        &self,
        subscription: SubscriptionId,
        person: Option<PersonId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>>;

    async fn pause(&self, reason: &str, by: &str, now: DateTime<Utc>) -> Result<()>;

    async fn resume(&self, actor: &str, now: DateTime<Utc>) -> Result<()>;

    /// Makes every pending row due now and wakes the relays; `reconcile` also queues every
    /// user of an ACTIVE subscription Digis does not have: no `digis` row, no open or `sent`
    /// outbox row, not among `reconcile.skip` (after writing `digis` back from sent rows
    /// when `reconcile.restore_digis`).
    async fn sync(
        &self,
        reconcile: Option<&Reconcile>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SyncResult>;

    /// What a reconcile skipping `skip` would queue now, and how many pairs have a sent
    /// outbox row but no `digis` row.
    async fn reconcile_preview(
        &self,
        skip: &[(SubscriptionId, PersonId)],
    ) -> Result<ReconcilePreview>;

    /// Of `pairs`, those the database knows Digis accepted: a `digis` row or a sent outbox row.
    async fn known_pairs(
        &self,
        pairs: &[(SubscriptionId, PersonId)],
    ) -> Result<std::collections::HashSet<(SubscriptionId, PersonId)>>;

    /// How many rows [`retry_failure_group`](Self::retry_failure_group) would put back now: the
    /// same selection, counted.
    async fn count_failure_group(&self, group: &FailureGroupKey) -> Result<u64>;

    /// A group's failed rows back to `pending`, due now, with a fresh attempt budget: the newest
    /// failed row of each member that has no open row. Returns the ids that changed.
    async fn retry_failure_group(
        &self,
        group: &FailureGroupKey,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>>;
}

#[async_trait]
impl<E: Engine> OperatorStore for E {
    async fn retry(
        &self,
        ids: &[OutboxId],
        actor: &str,
        now: DateTime<Utc>,
        unconfirmed: super::Unconfirmed,
    ) -> Result<Vec<OutboxId>> {
        let db = self.db();
        let sql = db.sql();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = db
            .query(sql.retry)
            .bind(StoredTime(now))
            .bind(IdList::of(ids))
            .bind(WordList::states(&OutboxState::RETRYABLE))
            .bind(WordList::states(&OutboxState::OPEN))
            .bind(unconfirmed.included())
            .bind(WordList::states(&OutboxState::SETTLED_UNSENT))
            .bind(super::texts::unconfirmed_error_pattern());
        let event = Event::new(EventKind::Retry, actor, now);
        let changed =
            act_on_rows(db, statement, "retrying rows", event, "committing a retry").await?;
        self.poke().await?;
        Ok(changed)
    }

    async fn retry_all_failed(
        &self,
        actor: &str,
        now: DateTime<Utc>,
        unconfirmed: super::Unconfirmed,
    ) -> Result<u64> {
        let db = self.db();
        let sql = db.sql();
        let statement = db
            .query(sql.retry_all_failed)
            .bind(StoredTime(now))
            .bind(WordList::states(&OutboxState::OPEN))
            .bind(unconfirmed.included())
            .bind(super::texts::unconfirmed_error_pattern());
        let event = Event::new(EventKind::RetryAllFailed, actor, now);
        let ids = act_on_rows(
            db,
            statement,
            "retrying failed rows",
            event,
            "committing a retry",
        )
        .await?;
        self.poke().await?;
        Ok(ids.len() as u64)
    }

    async fn unconfirmed_rows(&self, ids: Option<&[OutboxId]>) -> Result<Vec<OutboxId>> {
        let db = self.db();
        let sql = db.sql();
        let states = match ids {
            Some(_) => &OutboxState::SETTLED_UNSENT[..],
            None => &[OutboxState::Failed][..],
        };
        let rows = db
            .query(sql.unconfirmed_rows)
            .bind(WordList::states(states))
            .bind(super::texts::unconfirmed_error_pattern())
            .bind(ids.is_none())
            .bind(IdList::of(ids.unwrap_or_default()))
            .fetch_all(db)
            .await
            .ctx("reading unconfirmed rows")?;
        ids_of(&rows)
    }

    async fn discard(
        &self,
        ids: &[OutboxId],
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let db = self.db();
        let sql = db.sql();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let statement = db
            .query(sql.discard)
            .bind(reason)
            .bind(StoredTime(now))
            .bind(IdList::of(ids))
            .bind(WordList::states(&OutboxState::DISCARDABLE));
        let event = Event::new(EventKind::Discard, actor, now).with_detail(reason);
        let changed = act_on_rows(
            db,
            statement,
            "discarding rows",
            event,
            "committing a discard",
        )
        .await?;
        Ok(changed)
    }

    async fn resend(
        &self,
        subscription: SubscriptionId,
        person: Option<PersonId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let db = self.db();
        let sql = db.sql();
        let statement = db
            .query(sql.resend)
            .bind(StoredTime(now))
            .bind(subscription.0)
            .bind(person.map(|p| p.0))
            .bind(true)
            .bind(texts::RESEND_REASON)
            .bind(WordList::states(&OutboxState::OPEN));
        let event = Event::new(EventKind::Resend, actor, now);
        let ids = act_on_rows(
            db,
            statement,
            "queueing a resend",
            event,
            "committing a resend",
        )
        .await?;
        // The new rows' insert trigger already notifies other processes.
        self.wake().notify_waiters();
        Ok(ids)
    }

    async fn pause(&self, reason: &str, by: &str, now: DateTime<Utc>) -> Result<()> {
        let db = self.db();
        let sql = db.sql();
        let mut tx = db.write_tx().await?;
        db.query(sql.pause)
            .bind(true)
            .bind(reason)
            .bind(by)
            .bind(StoredTime(now))
            .execute(&mut tx)
            .await
            .ctx("pausing")?;
        Event::new(EventKind::Pause, by, now)
            .with_detail(reason)
            .record(db, &mut tx)
            .await?;
        tx.commit().await.ctx("committing a pause")?;
        Ok(())
    }

    async fn resume(&self, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let db = self.db();
        let sql = db.sql();
        let mut tx = db.write_tx().await?;
        db.query(sql.resume)
            .bind(false)
            .execute(&mut tx)
            .await
            .ctx("resuming")?;
        Event::new(EventKind::Resume, actor, now)
            .record(db, &mut tx)
            .await?;
        tx.commit().await.ctx("committing a resume")?;
        self.poke().await
    }

    async fn sync(
        &self,
        reconcile: Option<&super::Reconcile>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SyncResult> {
        let db = self.db();
        let sql = db.sql();
        let at = StoredTime(now);
        let mut tx = db.write_tx().await?;
        let made_due = db
            .query(sql.sync_make_due)
            .bind(at)
            .execute(&mut tx)
            .await
            .ctx("making pending rows due")?;
        let (mut queued, mut restored) = (0, 0);
        if let Some(r) = reconcile {
            if r.restore_digis {
                restored = db
                    .query(sql.restore_digis)
                    .bind(OutboxState::Sent.as_str())
                    .execute(&mut tx)
                    .await
                    .ctx("writing digis rows back from sent outbox rows")?;
            }
            queued = db
                .query(sql.sync_reconcile)
                .bind(WordList::states(&OutboxState::OPEN_OR_SENT))
                .bind(skip_json(&r.skip)?)
                .bind(texts::RECONCILE_REASON)
                .bind(at)
                .execute(&mut tx)
                .await
                .ctx("reconciling")?;
        }
        db.query(sql.sync_requested)
            .bind(at)
            .execute(&mut tx)
            .await
            .ctx("recording the sync request")?;
        let detail = texts::sync_detail(
            made_due,
            reconcile.map(|r| (queued, r.restore_digis.then_some(restored))),
        );
        Event::new(EventKind::Sync, actor, now)
            .with_detail(detail)
            .record(db, &mut tx)
            .await?;
        tx.commit().await.ctx("committing a sync")?;
        self.poke().await?;
        Ok(SyncResult {
            made_due,
            queued,
            restored,
        })
    }

    async fn reconcile_preview(
        &self,
        skip: &[(SubscriptionId, PersonId)],
    ) -> Result<super::ReconcilePreview> {
        let db = self.db();
        let sql = db.sql();
        let would_queue: i64 = db
            .query(sql.reconcile_count)
            .bind(WordList::states(&OutboxState::OPEN_OR_SENT))
            .bind(skip_json(skip)?)
            .scalar(db)
            .await
            .ctx("counting what a reconcile would queue")?;
        let lost_digis: i64 = db
            .query(sql.lost_digis_count)
            .bind(OutboxState::Sent.as_str())
            .scalar(db)
            .await
            .ctx("counting sent pairs missing from digis")?;
        Ok(super::ReconcilePreview {
            would_queue: would_queue.max(0) as u64,
            lost_digis: lost_digis.max(0) as u64,
        })
    }

    async fn known_pairs(
        &self,
        pairs: &[(SubscriptionId, PersonId)],
    ) -> Result<std::collections::HashSet<(SubscriptionId, PersonId)>> {
        let db = self.db();
        let sql = db.sql();
        use super::lists::{json_chunks, PairKey};
        let mut known = std::collections::HashSet::new();
        let keys = pairs.iter().map(|(s, p)| PairKey {
            subscription_id: s.0,
            person_id: p.0,
        });
        for chunk in json_chunks(keys).map_err(json_err)? {
            for r in db
                .query(sql.known_pairs)
                .persistent(false)
                .bind(chunk)
                .bind(OutboxState::Sent.as_str())
                .fetch_all(db)
                .await
                .ctx("reading which logged pairs the database knows")?
            {
                let (s, p) = rows::pair(&r, "reading which logged pairs the database knows")?;
                known.insert((s, p));
            }
        }
        Ok(known)
    }

    async fn count_failure_group(&self, group: &FailureGroupKey) -> Result<u64> {
        let db = self.db();
        let sql = db.sql();
        let (field, rule) = group.cause.columns();
        let n: i64 = db
            .query(sql.count_failure_group)
            .bind(group.unit_id)
            .bind(field)
            .bind(rule)
            .bind(WordList::states(&OutboxState::OPEN))
            .scalar(db)
            .await
            .ctx("counting a failure group")?;
        Ok(n.max(0) as u64)
    }

    async fn retry_failure_group(
        &self,
        group: &FailureGroupKey,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let db = self.db();
        let sql = db.sql();
        let (field, rule) = group.cause.columns();
        let statement = db
            .query(sql.retry_failure_group)
            .bind(group.unit_id)
            .bind(field)
            .bind(rule)
            .bind(WordList::states(&OutboxState::OPEN))
            .bind(StoredTime(now));
        let event = Event::new(EventKind::RetryFailureGroup, actor, now)
            .with_detail(texts::failure_group_detail(group));
        let changed = act_on_rows(
            db,
            statement,
            "retrying a failure group",
            event,
            "committing a group retry",
        )
        .await?;
        self.poke().await?;
        Ok(changed)
    }
}

/// The pairs a reconcile skips, as one JSON array of {subscription_id, person_id}.
fn skip_json(skip: &[(SubscriptionId, PersonId)]) -> Result<JsonRows> {
    json_whole(skip.iter().map(|(s, p)| PairKey {
        subscription_id: s.0,
        person_id: p.0,
    }))
    .map_err(json_err)
}

/// Runs an operator's statement, which returns the ids of the rows it changed, and records
/// `event` for each of them, in one transaction: those ids, in id order.
async fn act_on_rows(
    db: &Db,
    statement: Statement,
    doing: &'static str,
    event: Event<'_>,
    committing: &'static str,
) -> Result<Vec<OutboxId>> {
    let mut tx = db.write_tx().await?;
    let rows = statement.fetch_all(&mut tx).await.ctx(doing)?;
    let mut ids = ids_of(&rows)?;
    ids.sort();
    event.record_rows(db, &mut tx, &ids).await?;
    tx.commit().await.ctx(committing)?;
    Ok(ids)
}

fn ids_of(rows: &[DbRow]) -> Result<Vec<OutboxId>> {
    rows.iter()
        .map(|r| r.get::<i64>(0).map(OutboxId))
        .collect::<Result<_, _>>()
        .ctx("reading ids")
}
