//! The relay's side of the database: claims, completions, leases, heartbeats, its own pause
//! and the shared circuit. Used by `relay` (and the service that runs it, `clock` for
//! `db_now`); the rest of the program reads `relays` and `control` too.
//!
//! The hot path is set-based (docs/delivery-path.md): a claim marks the rows in one
//! statement, then reads them with their member and `digis` rows in three statements whatever
//! their number (giving the rows back if that fails), and `complete_group` ends a whole group
//! of rows in one transaction of three statements (outbox rows, accepted pairs, attempts), each
//! row guarded by its claim token. Lease renewal and release are one statement for every held
//! row.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::engine::Engine;
use super::event_log::Event;
use super::exec::{Conn, Db, DbRow, Statement, Tx};
use super::lists::{json_chunks, json_err, HeldRow};
use super::texts::EventKind;
use super::time::StoredTime;
use super::{
    decode, rows, AttemptRecord, ClaimedRow, CompleteResult, Completion, CompletionItem,
    Context as _, Control, DigisRead, MemberRead, OutboxRow, RelayInfo, Result, RowDefect, SentRow,
    StorageError,
};
use crate::domain::{OutboxId, OutboxState, PausedBy};

/// What a relay needs from the database (and what `status`, `doctor`, the dashboard and the
/// metrics read of the relays: `relays`, `control`, `oldest_due_pending`, `db_now`). Times
/// passed in are "now" as the caller sees it, so tests can move time.
#[async_trait]
pub trait RelayStore: Send + Sync {
    /// The database's clock now: what relays measure their own clock against, so that
    /// leases, due times and heartbeats written by relays on different hosts compare (see
    /// `crate::clock`). On SQLite, an embedded database, it is this host's clock.
    async fn db_now(&self) -> Result<DateTime<Utc>>;

    /// Claims up to `limit` due `pending` rows plus `sending` rows whose lease expired, in one
    /// statement, and charges each an attempt. Never hands one row to two claimers.
    async fn claim(
        &self,
        relay_id: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedRow>> {
        self.claim_skipping(relay_id, limit, lease, now, &[]).await
    }

    /// [`Self::claim`], except that a row whose expired lease carries one of `held_tokens`
    /// is not taken: it is still this relay's (waiting in its buffer, or its completion held
    /// through a database outage), so claiming it again could send it twice.
    async fn claim_skipping(
        &self,
        relay_id: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
        held_tokens: &[String],
    ) -> Result<Vec<ClaimedRow>> {
        self.claim_after(relay_id, limit, lease, now, held_tokens, None)
            .await
    }

    /// [`Self::claim_skipping`] by a relay that has had the database since
    /// `connected_since` (its start, or the end of its last outage; `None`: long enough). A
    /// lease that ran out is taken over only when its holder (another relay id that has not
    /// stopped) has not beaten for `lease`, counted from `connected_since` at the earliest:
    /// a holder cut off by the same outage gets a lease's time to beat again and renew its
    /// rows, whose answers it may still hold, before anyone takes them.
    async fn claim_after(
        &self,
        relay_id: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
        held_tokens: &[String],
        connected_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClaimedRow>>;

    /// Extends the lease of rows this claim still holds, in one statement; returns how many it
    /// still holds.
    async fn renew_lease(&self, rows: &[(OutboxId, String)], until: DateTime<Utc>) -> Result<u64>;

    /// Ends a group of claimed rows and gives `releases` back (as [`Self::release`]), in
    /// one transaction: each completion applies only while its claim token still holds (else
    /// it is `LeaseLost` and its attempt is recorded as `stale_<outcome>`), every attempt is
    /// recorded, and each `Sent` that applies records its pair in `digis`. The results are in
    /// the order of `completions`.
    async fn complete_group(
        &self,
        completions: &[CompletionItem],
        releases: &[(OutboxId, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<CompleteResult>>;

    /// One completion: a group of one.
    async fn complete(
        &self,
        row: &ClaimedRow,
        completion: &Completion,
        attempt: &AttemptRecord,
        now: DateTime<Utc>,
    ) -> Result<CompleteResult> {
        let item = CompletionItem::new(row, completion.clone(), attempt.clone());
        let results = self
            .complete_group(std::slice::from_ref(&item), &[], now)
            .await?;
        Ok(results
            .into_iter()
            .next()
            .unwrap_or(CompleteResult::LeaseLost))
    }

    /// Puts rows this relay still holds back to `pending`, due now, without charging the
    /// attempt (graceful stop).
    async fn release(&self, rows: &[(OutboxId, String)], now: DateTime<Utc>) -> Result<u64>;

    async fn heartbeat(&self, info: &RelayInfo) -> Result<()>;

    /// Folds what the outbox's triggers appended to the counts by state into the counts
    /// (PostgreSQL; SQLite keeps them in place and does nothing), so `counts` adds up a few
    /// rows, not a day of changes (docs/decisions/0046-outbox-counts.md). Any process may fold
    /// at any time: the counts read is exact before and after. Returns the rows folded into.
    async fn fold_counts(&self) -> Result<u64>;

    async fn relays(&self) -> Result<Vec<RelayInfo>>;

    /// Deletes the rows of other relays whose last heartbeat is before `before` (they died
    /// without stopping), and with `stopped` also every other stopped relay's row, so that
    /// `run --once` from cron does not add a row a run. Returns how many were deleted.
    async fn forget_relays(&self, keep: &str, before: DateTime<Utc>, stopped: bool) -> Result<u64>;

    /// When the longest-waiting due `pending` row became due (`None`: nothing is due), for the
    /// backlog-age metric and health input.
    async fn oldest_due_pending(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>>;

    /// Deletes `sent` and `discarded` rows (and their attempts) last changed before `before`,
    /// and operator events older than that. One relay at a time: on PostgreSQL a prune that
    /// finds another under way ([`PRUNE_LOCK_KEY`](super::PRUNE_LOCK_KEY)) leaves the work to it and returns 0; SQLite
    /// has one writer, so its prunes are one after the other anyway.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;

    /// A hint that work may be waiting: PostgreSQL's NOTIFY, a commit by another process seen
    /// in SQLite's WAL (watched from the first call on), or an operator action in this process.
    /// Never the delivery itself: relays poll as well.
    fn wakeup(&self) -> Arc<Notify>;

    /// A relay's own pause (`by` is `relay:<id>`, on a 401/403/404 or an unconfirmed 2xx): set
    /// unless an operator's pause is in force, which a relay must never take over (it would then
    /// lift it with its next good probe), or a relay's pause for an unconfirmed answer, which
    /// only `resume` lifts. True when set.
    async fn pause_self(&self, reason: &str, by: &PausedBy, now: DateTime<Utc>) -> Result<bool>;

    /// Lifts a relay's own pause after a good probe; a pause an operator set meanwhile stays,
    /// and so does one for an unconfirmed answer. True when lifted.
    async fn lift_self_pause(&self, by: &PausedBy, now: DateTime<Utc>) -> Result<bool>;

    async fn control(&self) -> Result<Control>;

    /// Opens (or opens again) the circuit every relay obeys, for `open_for` from now by the
    /// database's clock; returns until when.
    async fn open_circuit(
        &self,
        reason: &str,
        by: &str,
        open_for: std::time::Duration,
    ) -> Result<Option<DateTime<Utc>>>;

    /// Takes the one probe of a circuit whose time is up: true for the one relay that wins it
    /// (the circuit then stays open to the others for another `open_for`).
    async fn take_circuit_probe(&self, by: &str, open_for: std::time::Duration) -> Result<bool>;

    /// Closes the circuit for every relay; true when it was open.
    async fn close_circuit(&self) -> Result<bool>;

    /// Records the relay's share of the request budget (`None`: no limit).
    async fn record_share(&self, relay_id: &str, share: Option<f64>) -> Result<()>;
}

#[async_trait]
impl<E: Engine> RelayStore for E {
    async fn db_now(&self) -> Result<DateTime<Utc>> {
        let db = self.db();
        let sql = db.sql();
        let now: StoredTime = db
            .query(sql.db_now)
            .scalar(db)
            .await
            .ctx("reading the database's clock")?;
        Ok(now.0)
    }

    async fn claim_after(
        &self,
        relay_id: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
        held_tokens: &[String],
        connected_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ClaimedRow>> {
        let db = self.db();
        let sql = db.sql();
        let token = uuid::Uuid::new_v4().to_string();
        let until = crate::storage::time::saturating_add(now, lease);
        let held = crate::storage::lists::WordList(held_tokens.to_vec());
        // A heartbeat since then keeps its relay's expired leases; none is taken over
        // before this relay has had the database for a lease itself.
        let takeover_before = chrono::TimeDelta::from_std(lease)
            .ok()
            .and_then(|l| now.checked_sub_signed(l))
            .filter(|cutoff| connected_since.is_none_or(|since| since <= *cutoff));
        let mut tx = db.write_tx().await?;
        // Marks due rows `sending` under `token`, charges each an attempt and returns
        // their ids (SQLite: `BEGIN IMMEDIATE` keeps a second claimer out; PostgreSQL:
        // `FOR UPDATE SKIP LOCKED` gives concurrent relays disjoint rows).
        let ids: Vec<i64> = db
            .query(sql.claim)
            .bind(relay_id)
            .bind(StoredTime(until))
            .bind(&token)
            .bind(StoredTime(now))
            .bind(limit as i64)
            .bind(held)
            .bind(takeover_before.map(StoredTime))
            .scalars(&mut tx)
            .await
            .ctx("claiming outbox rows")?;
        tx.commit().await.ctx("committing a claim")?;
        // Read after the commit, not inside it: on SQLite the reads would hold the one
        // write lock, and every completion would wait behind them (the 0 ms SQLite
        // drain fell from ~6,300 to ~5,000 rows/s). So a read that fails gives the rows
        // back at once, their attempt refunded; only if that fails too (the database
        // is gone) do they wait for their lease.
        match claimed(db, &ids, &token).await {
            Ok(claimed) => Ok(claimed),
            Err(e) => {
                let rows: Vec<_> = ids
                    .iter()
                    .map(|&id| (OutboxId(id), token.clone()))
                    .collect();
                if let Err(r) = self.release(&rows, now).await {
                    tracing::warn!(
                        "relay {relay_id}: {} claimed row(s) wait for their lease: {r}",
                        rows.len()
                    );
                }
                Err(e)
            }
        }
    }

    async fn renew_lease(&self, rows: &[(OutboxId, String)], until: DateTime<Utc>) -> Result<u64> {
        let db = self.db();
        let sql = db.sql();
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = db.write_tx().await?;
        let (at, doing) = (StoredTime(until), "renewing leases");
        let n = held_rows_in(db, &mut tx, sql.renew_lease, at, rows, doing).await?;
        tx.commit().await.ctx("committing a lease renewal")?;
        Ok(n)
    }

    async fn complete_group(
        &self,
        completions: &[CompletionItem],
        releases: &[(OutboxId, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<CompleteResult>> {
        let db = self.db();
        if completions.is_empty() && releases.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = db.write_tx().await?;
        let set_based = async {
            let results = complete_in(db, &mut tx, completions, now).await?;
            if !releases.is_empty() {
                release_in(db, &mut tx, releases, now).await?;
            }
            Ok::<_, StorageError>(results)
        }
        .await;
        let why = match set_based {
            Ok(results) => {
                tx.commit().await.ctx("committing completions")?;
                return Ok(results);
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => e,
        };
        // One row's trouble (a host's `digis` of another type, a trigger refusing a
        // row) failed the statements of the whole group; before, the group rolled
        // back and every row in it was sent again when its lease ended.
        tx.rollback().await.ctx("rolling back completions")?;
        tracing::warn!(
            "a group of {} completion(s) could not be written at once ({why}); writing its rows one by one",
            completions.len()
        );
        let mut tx = db.write_tx().await?;
        let results = complete_alone_in(db, &mut tx, completions, releases, now).await?;
        tx.commit().await.ctx("committing completions")?;
        Ok(results)
    }

    async fn release(&self, rows: &[(OutboxId, String)], now: DateTime<Utc>) -> Result<u64> {
        let db = self.db();
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = db.write_tx().await?;
        let n = release_in(db, &mut tx, rows, now).await?;
        tx.commit().await.ctx("committing a release")?;
        Ok(n)
    }

    async fn heartbeat(&self, info: &RelayInfo) -> Result<()> {
        let db = self.db();
        let sql = db.sql();
        let beat = db
            .query(sql.heartbeat)
            .bind(&info.relay_id)
            .bind(&info.hostname)
            .bind(info.pid)
            .bind(&info.version)
            .bind(StoredTime(info.started_at))
            .bind(StoredTime(info.heartbeat_at))
            .bind(info.state.as_str())
            .bind(&info.detail)
            .bind(info.heartbeat_ms)
            .bind(info.request_rate.map(crate::storage::rows::rate_milli))
            .bind(info.clock_offset_ms);
        db.write(beat, "writing a heartbeat", "committing a heartbeat")
            .await?;
        Ok(())
    }

    async fn fold_counts(&self) -> Result<u64> {
        let db = self.db();
        // One statement, so no transaction of its own: on SQLite it reads a constant.
        db.query(db.sql().fold_counts)
            .execute(db)
            .await
            .ctx("folding the outbox counts")
    }

    async fn relays(&self) -> Result<Vec<RelayInfo>> {
        let db = self.db();
        let sql = db.sql();
        db.query(sql.relays)
            .fetch_all(db)
            .await
            .ctx("reading relays")?
            .iter()
            .map(rows::relay_info)
            .collect()
    }

    async fn forget_relays(&self, keep: &str, before: DateTime<Utc>, stopped: bool) -> Result<u64> {
        let db = self.db();
        let sql = db.sql();
        let forget = db
            .query(sql.forget_relays)
            .bind(keep)
            .bind(StoredTime(before))
            .bind(stopped);
        db.write(
            forget,
            "forgetting old relays",
            "committing forgotten relays",
        )
        .await
    }

    async fn oldest_due_pending(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let db = self.db();
        let sql = db.sql();
        let oldest: Option<StoredTime> = db
            .query(sql.oldest_due_pending)
            .bind(StoredTime(now))
            .scalar(db)
            .await
            .ctx("reading the oldest due pending row")?;
        Ok(oldest.map(|t| t.0))
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let db = self.db();
        let sql = db.sql();
        let mut tx = db.write_tx().await?;
        let mine: bool = db
            .query(sql.prune_lock)
            .bind(crate::storage::PRUNE_LOCK_KEY)
            .scalar(&mut tx)
            .await
            .ctx("taking the prune lock")?;
        if !mine {
            // Another relay is pruning the same rows: its work is this one's.
            tx.rollback()
                .await
                .ctx("leaving the prune to another relay")?;
            return Ok(0);
        }
        // The states are spelled in the SQL to use the partial index (see its header).
        let n = db
            .query(sql.prune_outbox)
            .bind(StoredTime(before))
            .execute(&mut tx)
            .await
            .ctx("pruning old rows")?;
        db.query(sql.prune_events)
            .bind(StoredTime(before))
            .execute(&mut tx)
            .await
            .ctx("pruning old operator events")?;
        tx.commit().await.ctx("committing a prune")?;
        Ok(n)
    }

    fn wakeup(&self) -> Arc<Notify> {
        self.watch_commits();
        self.wake().clone()
    }

    async fn pause_self(&self, reason: &str, by: &PausedBy, now: DateTime<Utc>) -> Result<bool> {
        let by = &by.to_string();
        let db = self.db();
        let sql = db.sql();
        let mut tx = db.write_tx().await?;
        let set = db
            .query(sql.pause_self)
            .bind(true)
            .bind(reason)
            .bind(by)
            .bind(StoredTime(now))
            .bind(crate::storage::texts::self_pause_pattern())
            .bind(crate::storage::texts::unconfirmed_pause_pattern())
            .execute(&mut tx)
            .await
            .ctx("pausing the relays")?
            > 0;
        if set {
            Event::new(EventKind::Pause, by, now)
                .with_detail(reason)
                .record(db, &mut tx)
                .await?;
        }
        tx.commit().await.ctx("committing a relay's pause")?;
        Ok(set)
    }

    async fn lift_self_pause(&self, by: &PausedBy, now: DateTime<Utc>) -> Result<bool> {
        let actor = &by.to_string();
        let db = self.db();
        let sql = db.sql();
        let mut tx = db.write_tx().await?;
        let lifted = db
            .query(sql.lift_self_pause)
            .bind(false)
            .bind(crate::storage::texts::self_pause_pattern())
            .bind(crate::storage::texts::unconfirmed_pause_pattern())
            .execute(&mut tx)
            .await
            .ctx("lifting a relay's pause")?
            > 0;
        if lifted {
            Event::new(EventKind::Resume, actor, now)
                .record(db, &mut tx)
                .await?;
        }
        tx.commit().await.ctx("committing a relay's resume")?;
        if lifted {
            self.poke().await?;
        }
        Ok(lifted)
    }

    async fn control(&self) -> Result<Control> {
        let db = self.db();
        let sql = db.sql();
        let row = db
            .query(sql.control)
            .fetch_optional(db)
            .await
            .ctx("reading the pause flag")?;
        row.as_ref()
            .map(rows::control)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn open_circuit(
        &self,
        reason: &str,
        by: &str,
        open_for: std::time::Duration,
    ) -> Result<Option<DateTime<Utc>>> {
        let db = self.db();
        let sql = db.sql();
        let ms = i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX);
        let mut tx = db.write_tx().await?;
        let until: Option<Option<StoredTime>> = db
            .query(sql.circuit_open)
            .bind(ms)
            .bind(reason)
            .bind(by)
            .opt_scalar(&mut tx)
            .await
            .ctx("opening the circuit")?;
        tx.commit().await.ctx("committing an open circuit")?;
        Ok(until.flatten().map(|t| t.0))
    }

    async fn take_circuit_probe(&self, by: &str, open_for: std::time::Duration) -> Result<bool> {
        let db = self.db();
        let sql = db.sql();
        let ms = i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX);
        let probe = db.query(sql.circuit_take_probe).bind(ms).bind(by);
        let won = db.write(
            probe,
            "taking the circuit's probe",
            "committing the circuit's probe",
        );
        Ok(won.await? > 0)
    }

    async fn close_circuit(&self) -> Result<bool> {
        let db = self.db();
        let sql = db.sql();
        let close = db.query(sql.circuit_close);
        let closed = db.write(close, "closing the circuit", "committing a closed circuit");
        let closed = closed.await? > 0;
        if closed {
            // Relays waiting out the circuit take up the work at once.
            self.poke().await?;
        }
        Ok(closed)
    }

    async fn record_share(&self, relay_id: &str, share: Option<f64>) -> Result<()> {
        let db = self.db();
        let sql = db.sql();
        let share = db
            .query(sql.record_share)
            .bind(relay_id)
            .bind(share.map(rows::rate_milli));
        db.write(
            share,
            "recording the relay's share",
            "committing the relay's share",
        )
        .await?;
        Ok(())
    }
}

pub(super) async fn rows_by_ids_on(
    db: &Db,
    conn: &mut Conn,
    ids: &[i64],
) -> Result<Vec<OutboxRow>> {
    let sql = db.sql();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .query(sql.outbox_by_ids)
        .bind(crate::storage::lists::IdList(ids.to_vec()))
        .fetch_all(conn)
        .await
        .ctx("reading outbox rows")?;
    rows.iter().map(rows::outbox_row).collect()
}

/// The member and `digis` rows of claimed rows, which the relay needs to send them.
async fn claimed(db: &Db, ids: &[i64], token: &str) -> Result<Vec<ClaimedRow>> {
    let sql = db.sql();
    use crate::storage::lists::{json_chunks, PairKey};
    let mut conn = db.acquire().await.ctx("reading claimed rows")?;
    let rows = rows_by_ids_on(db, &mut conn, ids).await?;
    let pairs = rows.iter().filter(|r| r.defect.is_none()).map(|r| PairKey {
        subscription_id: r.subscription_id.0,
        person_id: r.person_id.0,
    });
    let chunks = json_chunks(pairs).map_err(json_err)?;
    let mut members = Vec::new();
    let mut synced = Vec::new();
    let mut sent = Vec::new();
    for pairs in chunks {
        members.extend(
            db.query(sql.members_of_pairs)
                .bind(pairs.clone())
                .fetch_all(&mut conn)
                .await
                .ctx("reading members of claimed rows")?
                .iter()
                .map(decode::member),
        );
        // Planned for each call, never from a cached plan: PostgreSQL's generic
        // plan of this statement, made while `digis` was still empty (a first
        // reconcile), scanned the whole table for every claim once it had grown
        // (seen in the drain bench: 6 ms a claim at 100,000 rows, 0.7 s at 50,000
        // in a nested loop). Planning it costs well under a millisecond.
        let pairs_again = pairs.clone();
        synced.extend(
            db.query(sql.digis_of_pairs)
                .persistent(false)
                .bind(pairs)
                .fetch_all(&mut conn)
                .await
                .ctx("reading digis rows")?
                .iter()
                .map(rows::digis_read),
        );
        // Delivered means delivered: a sent row of the pair stops a second SMS
        // even when the host lost its `digis` row.
        for r in db
            .query(sql.sent_of_pairs)
            .persistent(false)
            .bind(pairs_again)
            .bind(OutboxState::Sent.as_str())
            .fetch_all(&mut conn)
            .await
            .ctx("reading sent rows of claimed pairs")?
        {
            sent.push(rows::sent_row(&r)?);
        }
    }
    let recorded: std::collections::HashMap<i64, i64> = db
        .query(sql.attempt_numbers)
        .bind(crate::storage::lists::IdList(ids.to_vec()))
        .fetch_all(&mut conn)
        .await
        .and_then(|rows| rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect())
        .ctx("numbering the attempts of claimed rows")?;
    let mut claims = assemble_claims(rows, members, synced, sent, token);
    for c in &mut claims {
        let before = recorded.get(&c.row.id.0).copied().unwrap_or(0);
        c.attempt_no = i32::try_from(before).unwrap_or(i32::MAX - 1) + 1;
    }
    Ok(claims)
}

/// Completions inside `tx` (see `RelayStore::complete_group`): one set-based statement
/// each for the outbox rows, the accepted pairs and the attempts. A row deleted
/// meanwhile is no error here (its attempt is left out); any other statement error
/// is the group's, and `complete_group` then writes its rows one by one.
async fn complete_in(
    db: &Db,
    tx: &mut Tx<'_>,
    completions: &[CompletionItem],
    now: DateTime<Utc>,
) -> Result<Vec<CompleteResult>> {
    let sql = db.sql();
    use crate::storage::group::{AttemptJson, CompleteJson, PairJson, SupersedeJson};
    use std::collections::HashSet;
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let at = StoredTime(now);
    let mut applied = HashSet::with_capacity(completions.len());
    let rows = json_chunks(completions.iter().map(CompleteJson::of)).map_err(json_err)?;
    for chunk in rows {
        let ids: Vec<i64> = db
            .query(sql.complete_rows)
            .bind(at)
            .bind(chunk)
            .scalars(&mut *tx)
            .await
            .ctx("completing outbox rows")?;
        applied.extend(ids);
    }
    let pairs = completions
        .iter()
        .filter(|c| applied.contains(&c.id.0))
        .filter_map(PairJson::of);
    record_pairs_in(db, tx, at, pairs, "recording pairs in digis").await?;
    // The attempt is history even when the claim was lost: a stale 2xx may be a
    // second SMS.
    let attempts = completions
        .iter()
        .map(|c| AttemptJson::of(c, applied.contains(&c.id.0)));
    let mut recorded = HashSet::with_capacity(completions.len());
    for chunk in json_chunks(attempts).map_err(json_err)? {
        let ids: Vec<i64> = db
            .query(sql.record_attempts)
            .bind(chunk)
            .scalars(&mut *tx)
            .await
            .ctx("recording attempts")?;
        recorded.extend(ids);
    }
    // A row the host deleted while Digis accepted it: the pair goes into digis all
    // the same (Digis has the member), or the next save would queue it again and
    // Digis would send a second SMS. Rare, so one more statement only then.
    let vanished = |c: &&CompletionItem| !applied.contains(&c.id.0) && !recorded.contains(&c.id.0);
    let accepted_gone = completions.iter().filter(vanished).filter_map(PairJson::of);
    let doing = "recording the pairs of deleted rows in digis";
    record_pairs_in(db, tx, at, accepted_gone, doing).await?;
    // The accepted pairs' older failed rows leave the fix lists, in this same
    // transaction (issue 25 item 5). A deleted row's pair was accepted too.
    let accepted = completions
        .iter()
        .filter(|c| applied.contains(&c.id.0) || vanished(c))
        .filter_map(SupersedeJson::of);
    for chunk in json_chunks(accepted).map_err(json_err)? {
        supersede_in(db, tx, chunk, at).await?;
    }
    Ok(completions
        .iter()
        .map(|c| {
            if applied.contains(&c.id.0) {
                CompleteResult::Applied
            } else if recorded.contains(&c.id.0) {
                CompleteResult::LeaseLost
            } else {
                CompleteResult::Vanished
            }
        })
        .collect())
}

/// Records accepted pairs in `digis` inside `tx`, one statement a chunk of them.
async fn record_pairs_in<T: serde::Serialize>(
    db: &Db,
    tx: &mut Tx<'_>,
    at: StoredTime,
    pairs: impl IntoIterator<Item = T>,
    doing: &'static str,
) -> Result<()> {
    for chunk in json_chunks(pairs).map_err(json_err)? {
        db.query(db.sql().record_pairs)
            .bind(at)
            .bind(chunk)
            .execute(&mut *tx)
            .await
            .ctx(doing)?;
    }
    Ok(())
}

/// A group whose set-based statements failed (`complete_in`), written again one row
/// at a time, each statement in a savepoint of its own: a row whose own update,
/// pair or attempt cannot be written is left out alone, and the rest commit. A
/// pair that cannot be written leaves its row `sent`: Digis accepted it. Only
/// after a failure: the savepoints cost round trips the set-based path does not
/// pay. A transient error still fails the whole group (it is held and run again).
async fn complete_alone_in(
    db: &Db,
    tx: &mut Tx<'_>,
    completions: &[CompletionItem],
    releases: &[(OutboxId, String)],
    now: DateTime<Utc>,
) -> Result<Vec<CompleteResult>> {
    let sql = db.sql();
    use crate::storage::group::{AttemptJson, CompleteJson, PairJson};
    use crate::storage::lists::{json_one, HeldRow};
    let at = StoredTime(now);
    let mut results = Vec::with_capacity(completions.len());
    for c in completions {
        let one = json_one(&CompleteJson::of(c)).map_err(json_err)?;
        let q = db.query(sql.complete_rows).bind(at).bind(one);
        let mut result = match in_savepoint(tx, q, "completing an outbox row").await? {
            Ok(ids) if ids.is_empty() => CompleteResult::LeaseLost,
            Ok(_) => CompleteResult::Applied,
            Err(why) => CompleteResult::Unwritten(why),
        };
        if result == CompleteResult::Applied {
            if let Some(pair) = PairJson::of(c) {
                let pair = json_one(&pair).map_err(json_err)?;
                let q = db.query(sql.record_pairs).bind(at).bind(pair);
                if let Err(why) = in_savepoint(tx, q, "recording a pair in digis").await? {
                    result = CompleteResult::SentWithoutDigis(why);
                }
                // Sent, with or without its digis row: Digis accepted the pair.
                supersede_alone_in(db, tx, c, at).await?;
            }
        }
        let attempt = json_one(&AttemptJson::of(c, result.applied())).map_err(json_err)?;
        let q = db.query(sql.record_attempts).bind(attempt);
        match in_savepoint(tx, q, "recording an attempt").await? {
            Ok(ids) if ids.is_empty() && result == CompleteResult::LeaseLost => {
                result = CompleteResult::Vanished;
                // As in complete_in: Digis accepted a row the host deleted.
                if let Some(pair) = PairJson::of(c) {
                    let pair = json_one(&pair).map_err(json_err)?;
                    let q = db.query(sql.record_pairs).bind(at).bind(pair);
                    if let Err(why) = in_savepoint(tx, q, "recording a pair in digis").await? {
                        tracing::error!(
                            "outbox {} (deleted while in flight): subscription {} person {} accepted by Digis but not recorded in digis: {why}",
                            c.id,
                            c.subscription_id,
                            c.person_id
                        );
                    }
                    supersede_alone_in(db, tx, c, at).await?;
                }
            }
            Ok(_) => {}
            Err(why) => tracing::error!(
                "relay {}: outbox {}: attempt {} not recorded: {why}",
                c.attempt.relay_id,
                c.id,
                c.attempt_no
            ),
        }
        results.push(result);
    }
    for row in releases {
        let held = json_one(&HeldRow {
            id: row.0 .0,
            token: &row.1,
        })
        .map_err(json_err)?;
        let q = db.query(sql.release).bind(StoredTime(now)).bind(held);
        if let Err(why) = in_savepoint(tx, q, "releasing a claim").await? {
            tracing::error!(
                "outbox {}: not given back ({why}): it waits for its lease",
                row.0
            );
        }
    }
    Ok(results)
}

/// Discards the failed rows older than the sent rows in `chunk` (a JSON array of
/// [`SupersedeJson`](crate::storage::group::SupersedeJson)) inside `tx`: their
/// pairs were accepted, so they no longer need a person. On PostgreSQL a failed row
/// another transaction holds is skipped, never waited for (`supersede_failed.sql`).
async fn supersede_in(
    db: &Db,
    tx: &mut Tx<'_>,
    chunk: crate::storage::lists::JsonRows,
    at: StoredTime,
) -> Result<u64> {
    let sql = db.sql();
    let rows = db
        .query(sql.supersede_failed)
        .bind(at)
        .bind(chunk)
        .bind(OutboxState::Failed.as_str())
        .bind(OutboxState::Discarded.as_str())
        .fetch_all(&mut *tx)
        .await
        .ctx("discarding failed rows of accepted pairs")?;
    Ok(rows.len() as u64)
}

/// [`supersede_in`](supersede_in) for one sent completion, in a savepoint of
/// its own (the row-by-row path): if it cannot be written, the old failed rows stay
/// listed and the completion still commits.
async fn supersede_alone_in(
    db: &Db,
    tx: &mut Tx<'_>,
    c: &CompletionItem,
    at: StoredTime,
) -> Result<()> {
    let sql = db.sql();
    use crate::storage::group::SupersedeJson;
    use crate::storage::lists::json_one;
    let Some(one) = SupersedeJson::of(c) else {
        return Ok(());
    };
    let one = json_one(&one).map_err(json_err)?;
    let q = db
        .query(sql.supersede_failed)
        .bind(at)
        .bind(one)
        .bind(OutboxState::Failed.as_str())
        .bind(OutboxState::Discarded.as_str());
    if let Err(why) = in_savepoint(tx, q, "discarding failed rows of an accepted pair").await? {
        tracing::error!(
            "outbox {}: the older failed rows of subscription {} person {} stay listed: {why}",
            c.id,
            c.subscription_id,
            c.person_id
        );
    }
    Ok(())
}

/// Runs `q` in a savepoint of `tx`: its rows, or (inner `Err`) why it failed, the
/// savepoint rolled back and `tx` usable again. The outer `Err` is what fails the
/// whole group: a transient error, or the savepoint itself.
async fn in_savepoint(
    tx: &mut Tx<'_>,
    q: Statement,
    context: &'static str,
) -> Result<std::result::Result<Vec<DbRow>, String>> {
    let mut sp = tx.savepoint().await.ctx("starting a savepoint")?;
    match q.fetch_all(&mut sp).await.ctx(context) {
        Ok(rows) => {
            sp.commit().await.ctx("releasing a savepoint")?;
            Ok(Ok(rows))
        }
        Err(e) if e.is_transient() => Err(e),
        Err(e) => {
            sp.rollback().await.ctx("rolling back to a savepoint")?;
            Ok(Err(e.to_string()))
        }
    }
}

/// Gives held rows back inside `tx`, attempt refunded.
async fn release_in(
    db: &Db,
    tx: &mut Tx<'_>,
    rows: &[(OutboxId, String)],
    now: DateTime<Utc>,
) -> Result<u64> {
    let sql = db.sql();
    held_rows_in(
        db,
        tx,
        sql.release,
        StoredTime(now),
        rows,
        "releasing claims",
    )
    .await
}

/// Runs `statement` (bound `at` and a JSON array of held rows) inside `tx`, once for each
/// chunk of `rows`: how many rows it changed.
async fn held_rows_in(
    db: &Db,
    tx: &mut Tx<'_>,
    statement: &'static str,
    at: StoredTime,
    rows: &[(OutboxId, String)],
    doing: &'static str,
) -> Result<u64> {
    let mut n = 0;
    for chunk in HeldRow::chunks(rows).map_err(json_err)? {
        n += db
            .query(statement)
            .bind(at)
            .bind(chunk)
            .execute(&mut *tx)
            .await
            .ctx(doing)?;
    }
    Ok(n)
}

/// Joins claimed rows with their member and `digis` rows. A member row that cannot be read
/// becomes the claimed row's defect, so the relay fails that row alone.
fn assemble_claims(
    rows: Vec<OutboxRow>,
    members: Vec<MemberRead>,
    synced: Vec<DigisRead>,
    sent: Vec<((i64, i64), SentRow)>,
    token: &str,
) -> Vec<ClaimedRow> {
    use std::collections::HashMap;
    // By pair, so a claim of many rows is not a scan of all members per row.
    let mut by_pair: HashMap<(i64, i64), MemberRead> = HashMap::with_capacity(members.len());
    for m in members {
        let key = match &m {
            Ok(m) => Some((m.subscription_id, m.person_id)),
            Err(d) => d.pair(),
        };
        if let Some(key) = key {
            // A defect wins over a readable row of the same pair, as before: the pair's
            // data cannot be trusted.
            match by_pair.get(&key) {
                Some(Err(_)) => {}
                _ => {
                    by_pair.insert(key, m);
                }
            }
        }
    }
    let synced_by_pair: HashMap<(i64, i64), DigisRead> = synced
        .into_iter()
        .filter_map(|d| {
            let key = match &d {
                Ok(d) => Some((d.subscription_id.0, d.person_id.0)),
                Err(e) => e.pair(),
            };
            key.map(|k| (k, d))
        })
        .collect();
    // The newest sent row of each pair: the one whose id Digis gave last.
    let mut sent_by_pair: HashMap<(i64, i64), SentRow> = HashMap::with_capacity(sent.len());
    for (key, s) in sent {
        match sent_by_pair.get(&key) {
            Some(old) if old.outbox_id.0 > s.outbox_id.0 => {}
            _ => {
                sent_by_pair.insert(key, s);
            }
        }
    }
    rows.into_iter()
        .map(|mut row| {
            let key = (row.subscription_id.0, row.person_id.0);
            let mut member = None;
            if row.defect.is_none() {
                match by_pair.get(&key) {
                    Some(Ok(m)) => member = Some(m.clone()),
                    Some(Err(d)) => {
                        row.defect = Some(Box::new(RowDefect {
                            outbox_id: Some(row.id),
                            ..d.clone()
                        }));
                    }
                    None => {}
                }
            }
            let synced = match synced_by_pair.get(&key) {
                Some(Ok(d)) => Some(d.clone()),
                // The pair is in `digis`, so Digis accepted it once and it must not be sent
                // again; but its row cannot be read to say when, so the row fails, naming the
                // column, for a person to fix. A resend is sent whatever `digis` holds (and
                // rewrites the row).
                Some(Err(d)) => {
                    if row.defect.is_none() && !row.resend {
                        row.defect = Some(Box::new(RowDefect {
                            outbox_id: Some(row.id),
                            ..d.clone()
                        }));
                    }
                    None
                }
                None => None,
            };
            ClaimedRow {
                sent: sent_by_pair.get(&key).cloned(),
                // Numbered by the caller, from the attempts on record.
                attempt_no: row.attempts,
                row,
                claim_token: token.to_string(),
                member,
                synced,
            }
        })
        .collect()
}
