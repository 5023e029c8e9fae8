//! SQLite: the embedded default. One writer at a time, so write transactions start with
//! `BEGIN IMMEDIATE` (a deferred transaction that later upgrades to a writer can fail with
//! SQLITE_BUSY instead of waiting), WAL so readers (the dashboard) never block the relay.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use tokio::sync::Notify;

use super::decode::Cell;
use super::time::{from_text, to_text};
use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
const HOST_SCHEMA: &str = include_str!("../../../assets/host-schema.sqlite.sql");

pub struct SqliteStorage {
    pool: SqlitePool,
    wake: Arc<Notify>,
}

const OUTBOX_SELECT: &str = "SELECT o.id, o.subscription_id, o.person_id, o.state, o.attempts, \
    o.next_attempt_at, o.locked_by, o.locked_until, o.claim_token, o.last_error, \
    o.last_http_status, o.external_id, o.created_at, o.sent_at, o.reason, o.resend, \
    (SELECT m.card_number FROM digis_member m \
      WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) AS card_number \
    FROM digis_outbox o";

// SQLite columns hold whatever the membership system wrote into them (its typing is by value,
// not by column), so nothing is cast here: `decode` types each value and turns one that does
// not fit (text in an id, invalid UTF-8 in a name, `2` in a flag) into that row's defect.
const MEMBER_SELECT: &str = "SELECT subscription_id, person_id, subscription_status, start_date, \
    max_end, first_name, last_name, birth_date, sex, email, allow_email, allow_sms, \
    mobile_country_code, mobile_number, card_number, unit_id, unit_name, street_address, \
    postal_code, postal_city, country_alpha2 FROM digis_member";

fn outbox_row(r: &SqliteRow) -> Result<OutboxRow> {
    use super::decode::{int, stored, text, Cells};
    let c = "reading an outbox row";
    let state: String = r.try_get("state").ctx(c)?;
    let ts = |col: &str| -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = r.try_get(col).ctx(c)?;
        v.as_deref().map(from_text).transpose()
    };
    let id = OutboxId(r.try_get("id").ctx(c)?);
    // The triggers copy the ids from `subscription_user`, so they are as untrusted as the
    // host row: a row whose ids are not whole numbers is still listed, with its defect.
    let (sub_cell, person_cell) = (r.cell("subscription_id"), r.cell("person_id"));
    let mut defect = None;
    let mut note = |column: &'static str, problem: &str| {
        defect.get_or_insert_with(|| {
            Box::new(RowDefect {
                outbox_id: Some(id),
                subscription: stored(&sub_cell),
                person: stored(&person_cell),
                column,
                problem: problem.to_string(),
            })
        });
    };
    let mut id_of = |column: &'static str, cell: &Cell| match int(cell.clone()) {
        Ok(Some(v)) => v,
        Ok(None) => {
            note(column, "is empty");
            0
        }
        Err(p) => {
            note(column, p);
            0
        }
    };
    let subscription_id = id_of("subscription_id", &sub_cell);
    let person_id = id_of("person_id", &person_cell);
    let card_number = text(r.cell("card_number")).unwrap_or_else(|p| {
        note("card_number", p);
        None
    });
    Ok(OutboxRow {
        id,
        subscription_id: SubscriptionId(subscription_id),
        person_id: PersonId(person_id),
        state: OutboxState::from_str(&state).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        attempts: r.try_get("attempts").ctx(c)?,
        next_attempt_at: ts("next_attempt_at")?.unwrap_or_default(),
        locked_by: r.try_get("locked_by").ctx(c)?,
        locked_until: ts("locked_until")?,
        last_error: r.try_get("last_error").ctx(c)?,
        last_http_status: r.try_get("last_http_status").ctx(c)?,
        external_id: r.try_get("external_id").ctx(c)?,
        created_at: ts("created_at")?.unwrap_or_default(),
        sent_at: ts("sent_at")?,
        reason: r.try_get("reason").ctx(c)?,
        resend: r.try_get("resend").ctx(c)?,
        card_number,
        defect,
    })
}

fn digis_row(r: &SqliteRow) -> Result<DigisRow> {
    let c = "reading digis";
    let synced: String = r.try_get("synced_at").ctx(c)?;
    Ok(DigisRow {
        subscription_id: SubscriptionId(r.try_get("subscription_id").ctx(c)?),
        person_id: PersonId(r.try_get("person_id").ctx(c)?),
        external_id: r.try_get("external_id").ctx(c)?,
        synced_at: from_text(&synced)?,
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// The file an `sqlite:` URL names (`None` for in-memory databases and other URLs).
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

impl SqliteStorage {
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source| StorageError::Connect {
            url: url.to_string(),
            source,
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(connect_err)?;
        Ok(Self {
            pool,
            wake: Arc::new(Notify::new()),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .ctx("starting a write transaction")
    }

    async fn rows_by_ids(&self, ids: &[i64]) -> Result<Vec<OutboxRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{OUTBOX_SELECT} WHERE o.id IN ({}) ORDER BY o.id",
            placeholders(ids.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&self.pool).await.ctx("reading outbox rows")?;
        rows.iter().map(outbox_row).collect()
    }

    async fn members_for_pairs(&self, pairs: &[(i64, i64)]) -> Result<Vec<MemberRead>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let values = vec!["(?,?)"; pairs.len()].join(",");
        let sql =
            format!("{MEMBER_SELECT} WHERE (subscription_id, person_id) IN (VALUES {values})");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (s, p) in pairs {
            q = q.bind(*s).bind(*p);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .ctx("reading members of claimed rows")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }

    async fn digis_for_pairs(&self, pairs: &[(i64, i64)]) -> Result<Vec<DigisRow>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let values = vec!["(?,?)"; pairs.len()].join(",");
        let sql = format!(
            "SELECT subscription_id, person_id, external_id, synced_at FROM digis \
             WHERE (subscription_id, person_id) IN (VALUES {values})"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (s, p) in pairs {
            q = q.bind(*s).bind(*p);
        }
        let rows = q.fetch_all(&self.pool).await.ctx("reading digis rows")?;
        rows.iter().map(digis_row).collect()
    }

    /// Runs an `UPDATE ... WHERE id IN ({ids}) RETURNING id` and records `event` for every
    /// row it changed, in one transaction.
    async fn ids_update(
        &self,
        sql: &str,
        ids: &[OutboxId],
        binds: Vec<String>,
        event: Event<'_>,
    ) -> Result<Vec<OutboxId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Numbered after the other parameters: sqlx binds anonymous `?` from the first
        // argument even when `?1` is used elsewhere, so the two styles must not mix.
        let numbered: Vec<String> = (0..ids.len())
            .map(|i| format!("?{}", binds.len() + i + 1))
            .collect();
        let sql = sql.replace("{ids}", &numbered.join(","));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        for id in ids {
            q = q.bind(id.0);
        }
        let mut tx = self.write_tx().await?;
        let rows = q.fetch_all(&mut *tx).await.ctx("updating outbox rows")?;
        let mut changed: Vec<OutboxId> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map(OutboxId))
            .collect::<Result<_, _>>()
            .ctx("reading ids")?;
        changed.sort();
        record_row_events(&mut tx, &event, &changed).await?;
        tx.commit().await.ctx("committing")?;
        Ok(changed)
    }
}

/// What an operator did, as `digis_event` records it.
struct Event<'a> {
    action: &'a str,
    actor: &'a str,
    detail: Option<String>,
    now: DateTime<Utc>,
}

/// One event per outbox row, carrying the row's pair so search finds it by member.
async fn record_row_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    e: &Event<'_>,
    ids: &[OutboxId],
) -> Result<()> {
    for id in ids {
        sqlx::query(
            "INSERT INTO digis_event (at, actor, action, outbox_id, subscription_id, person_id, detail) \
             SELECT ?1, ?2, ?3, id, subscription_id, person_id, ?4 FROM digis_outbox WHERE id = ?5",
        )
        .bind(to_text(e.now))
        .bind(e.actor)
        .bind(e.action)
        .bind(e.detail.as_deref())
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .ctx("recording the operator's action")?;
    }
    Ok(())
}

/// An event about the whole relay (pause, resume, sync).
async fn record_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    e: &Event<'_>,
) -> Result<()> {
    sqlx::query("INSERT INTO digis_event (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)")
        .bind(to_text(e.now))
        .bind(e.actor)
        .bind(e.action)
        .bind(e.detail.as_deref())
        .execute(&mut **tx)
        .await
        .ctx("recording the operator's action")?;
    Ok(())
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self, host_schema: bool) -> Result<()> {
        if host_schema {
            sqlx::raw_sql(HOST_SCHEMA)
                .execute(&self.pool)
                .await
                .ctx("applying the host schema")?;
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn schema_report(&self) -> Result<SchemaReport> {
        let rows = sqlx::query("SELECT type, name FROM sqlite_master")
            .fetch_all(&self.pool)
            .await
            .ctx("reading the schema")?;
        let objects: Vec<(String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .ctx("reading the schema")?;
        let has = |kind: &str, name: &str| objects.iter().any(|(k, n)| k == kind && n == name);
        Ok(SchemaReport {
            host_tables_missing: super::HOST_TABLES
                .iter()
                .filter(|t| !has("table", t))
                .map(|t| t.to_string())
                .collect(),
            relay_tables_missing: super::RELAY_TABLES
                .iter()
                .filter(|t| !has("table", t))
                .map(|t| t.to_string())
                .collect(),
            view_present: has("view", "digis_member"),
            triggers_missing: [
                "digis_subscription_inserted",
                "digis_subscription_updated",
                "digis_subscription_user_added",
            ]
            .iter()
            .filter(|t| !has("trigger", t))
            .map(|t| t.to_string())
            .collect(),
        })
    }

    async fn host_exec(&self, sql: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut *tx)
            .await
            .ctx("writing host tables")?;
        tx.commit().await.ctx("committing a host write")?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .ctx("pinging the database")?;
        Ok(())
    }

    async fn claim(
        &self,
        relay_id: &str,
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedRow>> {
        let token = uuid::Uuid::new_v4().to_string();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
        let now_s = to_text(now);
        let mut tx = self.write_tx().await?;
        let ids: Vec<i64> = sqlx::query(
            "UPDATE digis_outbox SET state = 'sending', locked_by = ?1, locked_until = ?2, \
             claim_token = ?3, attempts = attempts + 1, updated_at = ?4 \
             WHERE id IN (SELECT id FROM digis_outbox \
                WHERE (state = 'pending' AND next_attempt_at <= ?4) \
                   OR (state = 'sending' AND locked_until < ?4) \
                ORDER BY next_attempt_at, id LIMIT ?5) \
             RETURNING id",
        )
        .bind(relay_id)
        .bind(to_text(until))
        .bind(&token)
        .bind(&now_s)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .ctx("claiming outbox rows")?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .ctx("claiming outbox rows")?;
        tx.commit().await.ctx("committing a claim")?;
        let rows = self.rows_by_ids(&ids).await?;
        let pairs: Vec<(i64, i64)> = rows
            .iter()
            .filter(|r| r.defect.is_none())
            .map(|r| (r.subscription_id.0, r.person_id.0))
            .collect();
        let members = self.members_for_pairs(&pairs).await?;
        let synced = self.digis_for_pairs(&pairs).await?;
        Ok(super::assemble_claims(rows, members, synced, &token))
    }

    async fn renew_lease(&self, rows: &[(OutboxId, String)], until: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for (id, token) in rows {
            n += sqlx::query(
                "UPDATE digis_outbox SET locked_until = ? WHERE id = ? AND state = 'sending' AND claim_token = ?",
            )
            .bind(to_text(until))
            .bind(id.0)
            .bind(token)
            .execute(&mut *tx)
            .await
            .ctx("renewing a lease")?
            .rows_affected();
        }
        tx.commit().await.ctx("committing lease renewal")?;
        Ok(n)
    }

    async fn complete(
        &self,
        row: &ClaimedRow,
        completion: &Completion,
        attempt: &AttemptRecord,
        now: DateTime<Utc>,
    ) -> Result<CompleteResult> {
        let now_s = to_text(now);
        let id = row.row.id.0;
        let mut tx = self.write_tx().await?;
        let status = attempt.http_status;
        let error = attempt.error.as_deref();
        let q = match completion {
            Completion::Sent { external_id } => sqlx::query(
                "UPDATE digis_outbox SET state = 'sent', sent_at = ?1, external_id = ?2, \
                 last_http_status = ?3, last_error = ?4, locked_by = NULL, locked_until = NULL, \
                 claim_token = NULL, updated_at = ?1 \
                 WHERE id = ?5 AND state = 'sending' AND claim_token = ?6",
            )
            .bind(&now_s)
            .bind(external_id.clone()),
            Completion::Retry { next_attempt_at } => sqlx::query(
                "UPDATE digis_outbox SET state = 'pending', next_attempt_at = ?2, \
                 last_http_status = ?3, last_error = ?4, locked_by = NULL, locked_until = NULL, \
                 claim_token = NULL, updated_at = ?1 \
                 WHERE id = ?5 AND state = 'sending' AND claim_token = ?6",
            )
            .bind(&now_s)
            .bind(to_text(*next_attempt_at)),
            Completion::Failed => sqlx::query(
                "UPDATE digis_outbox SET state = 'failed', last_http_status = ?3, last_error = ?4, \
                 locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1 \
                 WHERE id = ?5 AND state = 'sending' AND claim_token = ?6",
            )
            .bind(&now_s)
            .bind(None::<String>),
            Completion::Discarded { reason } => sqlx::query(
                "UPDATE digis_outbox SET state = 'discarded', reason = ?2, last_http_status = ?3, \
                 last_error = ?4, locked_by = NULL, locked_until = NULL, claim_token = NULL, \
                 updated_at = ?1 \
                 WHERE id = ?5 AND state = 'sending' AND claim_token = ?6",
            )
            .bind(&now_s)
            .bind(reason.clone()),
            Completion::Released { next_attempt_at } => sqlx::query(
                "UPDATE digis_outbox SET state = 'pending', next_attempt_at = ?2, \
                 attempts = MAX(attempts - 1, 0), last_http_status = ?3, last_error = ?4, \
                 locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = ?1 \
                 WHERE id = ?5 AND state = 'sending' AND claim_token = ?6",
            )
            .bind(&now_s)
            .bind(to_text(*next_attempt_at)),
        };
        let changed = q
            .bind(status)
            .bind(error)
            .bind(id)
            .bind(&row.claim_token)
            .execute(&mut *tx)
            .await
            .ctx("completing an outbox row")?
            .rows_affected();
        let applied = changed == 1;
        if applied {
            if let Completion::Sent { external_id } = completion {
                sqlx::query(
                    "INSERT INTO digis (subscription_id, person_id, external_id, synced_at) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (subscription_id, person_id) DO UPDATE \
                     SET external_id = excluded.external_id, synced_at = excluded.synced_at",
                )
                .bind(row.row.subscription_id.0)
                .bind(row.row.person_id.0)
                .bind(external_id.clone())
                .bind(&now_s)
                .execute(&mut *tx)
                .await
                .ctx("recording the pair in digis")?;
            }
        }
        // The attempt is history even when the claim was lost: a stale 2xx may be a second SMS.
        let outcome = if applied {
            completion.outcome().to_string()
        } else {
            format!("stale_{}", completion.outcome())
        };
        let attempt_no = row.row.attempts;
        sqlx::query(
            "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(attempt_no)
        .bind(to_text(attempt.started_at))
        .bind(attempt.duration_ms)
        .bind(&attempt.relay_id)
        .bind(status)
        .bind(outcome)
        .bind(error)
        .execute(&mut *tx)
        .await
        .ctx("recording the attempt")?;
        tx.commit().await.ctx("committing a completion")?;
        Ok(if applied {
            CompleteResult::Applied
        } else {
            CompleteResult::LeaseLost
        })
    }

    async fn release(&self, rows: &[(OutboxId, String)], now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for (id, token) in rows {
            n += sqlx::query(
                "UPDATE digis_outbox SET state = 'pending', next_attempt_at = ?1, \
                 attempts = MAX(attempts - 1, 0), locked_by = NULL, locked_until = NULL, \
                 claim_token = NULL, updated_at = ?1 \
                 WHERE id = ?2 AND state = 'sending' AND claim_token = ?3",
            )
            .bind(to_text(now))
            .bind(id.0)
            .bind(token)
            .execute(&mut *tx)
            .await
            .ctx("releasing a claim")?
            .rows_affected();
        }
        tx.commit().await.ctx("committing a release")?;
        Ok(n)
    }

    async fn heartbeat(&self, info: &RelayInfo) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO digis_relay (relay_id, hostname, pid, version, started_at, heartbeat_at, state, detail, heartbeat_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (relay_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, \
             version = excluded.version, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, state = excluded.state, detail = excluded.detail, \
             heartbeat_ms = excluded.heartbeat_ms",
        )
        .bind(&info.relay_id)
        .bind(&info.hostname)
        .bind(info.pid)
        .bind(&info.version)
        .bind(to_text(info.started_at))
        .bind(to_text(info.heartbeat_at))
        .bind(&info.state)
        .bind(&info.detail)
        .bind(info.heartbeat_ms)
        .execute(&mut *tx)
        .await
        .ctx("writing a heartbeat")?;
        tx.commit().await.ctx("committing a heartbeat")?;
        Ok(())
    }

    async fn relays(&self) -> Result<Vec<RelayInfo>> {
        let rows = sqlx::query(
            "SELECT relay_id, hostname, pid, version, started_at, heartbeat_at, state, detail, heartbeat_ms \
             FROM digis_relay ORDER BY heartbeat_at DESC",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading relays")?;
        rows.iter()
            .map(|r| {
                let c = "reading relays";
                Ok(RelayInfo {
                    relay_id: r.try_get("relay_id").ctx(c)?,
                    hostname: r.try_get("hostname").ctx(c)?,
                    pid: r.try_get("pid").ctx(c)?,
                    version: r.try_get("version").ctx(c)?,
                    started_at: from_text(&r.try_get::<String, _>("started_at").ctx(c)?)?,
                    heartbeat_at: from_text(&r.try_get::<String, _>("heartbeat_at").ctx(c)?)?,
                    state: r.try_get("state").ctx(c)?,
                    detail: r.try_get("detail").ctx(c)?,
                    heartbeat_ms: r.try_get("heartbeat_ms").ctx(c)?,
                })
            })
            .collect()
    }

    async fn oldest_due_pending(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let oldest: Option<String> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM digis_outbox \
             WHERE state = 'pending' AND next_attempt_at <= ?",
        )
        .bind(to_text(now))
        .fetch_one(&self.pool)
        .await
        .ctx("reading the oldest due pending row")?;
        oldest.as_deref().map(from_text).transpose()
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "DELETE FROM digis_outbox WHERE state IN ('sent', 'discarded') AND updated_at < ?",
        )
        .bind(to_text(before))
        .execute(&mut *tx)
        .await
        .ctx("pruning old rows")?
        .rows_affected();
        sqlx::query("DELETE FROM digis_event WHERE at < ?")
            .bind(to_text(before))
            .execute(&mut *tx)
            .await
            .ctx("pruning old operator events")?;
        tx.commit().await.ctx("committing a prune")?;
        Ok(n)
    }

    fn wakeup(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    async fn retry(
        &self,
        ids: &[OutboxId],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let changed = self
            .ids_update(
                "UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = ?1, \
                 reason = NULL, updated_at = ?1 \
                 WHERE o.id IN ({ids}) AND o.state IN ('failed', 'discarded', 'pending') \
                   AND NOT EXISTS (SELECT 1 FROM digis_outbox x WHERE x.subscription_id = o.subscription_id \
                        AND x.person_id = o.person_id AND x.id <> o.id AND x.state IN ('pending', 'sending')) \
                 RETURNING id",
                ids,
                vec![to_text(now)],
                Event { action: "retry", actor, detail: None, now },
            )
            .await?;
        self.wake.notify_waiters();
        Ok(changed)
    }

    async fn retry_all_failed(&self, actor: &str, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let ids: Vec<OutboxId> = sqlx::query(
            "UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = ?1, updated_at = ?1 \
             WHERE o.state = 'failed' \
               AND NOT EXISTS (SELECT 1 FROM digis_outbox x WHERE x.subscription_id = o.subscription_id \
                    AND x.person_id = o.person_id AND x.state IN ('pending', 'sending')) \
               AND o.id = (SELECT MAX(y.id) FROM digis_outbox y WHERE y.subscription_id = o.subscription_id \
                    AND y.person_id = o.person_id AND y.state = 'failed') \
             RETURNING id",
        )
        .bind(to_text(now))
        .fetch_all(&mut *tx)
        .await
        .ctx("retrying failed rows")?
        .iter()
        .map(|r| r.try_get::<i64, _>(0).map(OutboxId))
        .collect::<Result<_, _>>()
        .ctx("reading ids")?;
        let e = Event {
            action: "retry_all_failed",
            actor,
            detail: None,
            now,
        };
        record_row_events(&mut tx, &e, &ids).await?;
        tx.commit().await.ctx("committing")?;
        self.wake.notify_waiters();
        Ok(ids.len() as u64)
    }

    async fn discard(
        &self,
        ids: &[OutboxId],
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        self.ids_update(
            "UPDATE digis_outbox SET state = 'discarded', reason = ?1, updated_at = ?2 \
             WHERE id IN ({ids}) AND state IN ('pending', 'failed') RETURNING id",
            ids,
            vec![reason.to_string(), to_text(now)],
            Event {
                action: "discard",
                actor,
                detail: Some(reason.to_string()),
                now,
            },
        )
        .await
    }

    async fn resend(
        &self,
        subscription: SubscriptionId,
        person: Option<PersonId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let now_s = to_text(now);
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, resend, reason, next_attempt_at, created_at, updated_at) \
             SELECT m.subscription_id, m.person_id, 1, 'resend requested', ?1, ?1, ?1 FROM digis_member m \
             WHERE m.subscription_id = ?2 AND (?3 IS NULL OR m.person_id = ?3) \
               AND NOT EXISTS (SELECT 1 FROM digis_outbox o WHERE o.subscription_id = m.subscription_id \
                    AND o.person_id = m.person_id AND o.state IN ('pending', 'sending')) \
             RETURNING id",
        )
        .bind(&now_s)
        .bind(subscription.0)
        .bind(person.map(|p| p.0))
        .fetch_all(&mut *tx)
        .await
        .ctx("queueing a resend")?;
        let ids: Vec<OutboxId> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map(OutboxId))
            .collect::<Result<_, _>>()
            .ctx("reading ids")?;
        record_row_events(
            &mut tx,
            &Event {
                action: "resend",
                actor,
                detail: None,
                now,
            },
            &ids,
        )
        .await?;
        tx.commit().await.ctx("committing a resend")?;
        self.wake.notify_waiters();
        Ok(ids)
    }

    async fn pause(&self, reason: &str, by: &str, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE digis_control SET paused = 1, pause_reason = ?, paused_by = ?, paused_at = ? WHERE id = 1")
            .bind(reason)
            .bind(by)
            .bind(to_text(now))
            .execute(&mut *tx)
            .await
            .ctx("pausing")?;
        record_event(
            &mut tx,
            &Event {
                action: "pause",
                actor: by,
                detail: Some(reason.to_string()),
                now,
            },
        )
        .await?;
        tx.commit().await.ctx("committing a pause")?;
        Ok(())
    }

    async fn resume(&self, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE digis_control SET paused = 0, pause_reason = NULL, paused_by = NULL, paused_at = NULL WHERE id = 1",
        )
        .execute(&mut *tx)
        .await
        .ctx("resuming")?;
        record_event(
            &mut tx,
            &Event {
                action: "resume",
                actor,
                detail: None,
                now,
            },
        )
        .await?;
        tx.commit().await.ctx("committing a resume")?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn control(&self) -> Result<Control> {
        let r = sqlx::query("SELECT paused, pause_reason, paused_by, paused_at, sync_requested_at FROM digis_control WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .ctx("reading the pause flag")?;
        let Some(r) = r else {
            return Ok(Control::default());
        };
        let c = "reading the pause flag";
        let ts = |col: &str| -> Result<Option<DateTime<Utc>>> {
            let v: Option<String> = r.try_get(col).ctx(c)?;
            v.as_deref().map(from_text).transpose()
        };
        Ok(Control {
            paused: r.try_get("paused").ctx(c)?,
            pause_reason: r.try_get("pause_reason").ctx(c)?,
            paused_by: r.try_get("paused_by").ctx(c)?,
            paused_at: ts("paused_at")?,
            sync_requested_at: ts("sync_requested_at")?,
        })
    }

    async fn sync(&self, reconcile: bool, actor: &str, now: DateTime<Utc>) -> Result<SyncResult> {
        let now_s = to_text(now);
        let mut tx = self.write_tx().await?;
        let made_due = sqlx::query(
            "UPDATE digis_outbox SET next_attempt_at = ?1, updated_at = ?1 WHERE state = 'pending' AND next_attempt_at > ?1",
        )
        .bind(&now_s)
        .execute(&mut *tx)
        .await
        .ctx("making pending rows due")?
        .rows_affected();
        let mut queued = 0;
        if reconcile {
            queued = sqlx::query(
                "INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at) \
                 SELECT m.subscription_id, m.person_id, 'queued by sync --reconcile', ?1, ?1, ?1 FROM digis_member m \
                 WHERE m.subscription_status = 'ACTIVE' \
                   AND NOT EXISTS (SELECT 1 FROM digis d WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id) \
                   AND NOT EXISTS (SELECT 1 FROM digis_outbox o WHERE o.subscription_id = m.subscription_id \
                        AND o.person_id = m.person_id AND o.state IN ('pending', 'sending'))",
            )
            .bind(&now_s)
            .execute(&mut *tx)
            .await
            .ctx("reconciling")?
            .rows_affected();
        }
        sqlx::query("UPDATE digis_control SET sync_requested_at = ? WHERE id = 1")
            .bind(&now_s)
            .execute(&mut *tx)
            .await
            .ctx("recording the sync request")?;
        let detail = format!(
            "{made_due} made due{}",
            if reconcile {
                format!(", {queued} queued by reconcile")
            } else {
                String::new()
            }
        );
        record_event(
            &mut tx,
            &Event {
                action: "sync",
                actor,
                detail: Some(detail),
                now,
            },
        )
        .await?;
        tx.commit().await.ctx("committing a sync")?;
        self.wake.notify_waiters();
        Ok(SyncResult { made_due, queued })
    }

    async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>> {
        if outbox_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT at, actor, action, outbox_id, subscription_id, person_id, detail FROM digis_event \
             WHERE outbox_id IN ({}) ORDER BY id",
            placeholders(outbox_ids.len())
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in outbox_ids {
            q = q.bind(id.0);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .ctx("reading operator events")?;
        rows.iter()
            .map(|r| {
                let c = "reading operator events";
                Ok(EventRow {
                    at: from_text(&r.try_get::<String, _>("at").ctx(c)?)?,
                    actor: r.try_get("actor").ctx(c)?,
                    action: r.try_get("action").ctx(c)?,
                    outbox_id: r
                        .try_get::<Option<i64>, _>("outbox_id")
                        .ctx(c)?
                        .map(OutboxId),
                    subscription_id: r
                        .try_get::<Option<i64>, _>("subscription_id")
                        .ctx(c)?
                        .map(SubscriptionId),
                    person_id: r
                        .try_get::<Option<i64>, _>("person_id")
                        .ctx(c)?
                        .map(PersonId),
                    detail: r.try_get("detail").ctx(c)?,
                })
            })
            .collect()
    }

    async fn counts(&self) -> Result<Counts> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM digis_outbox GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .ctx("counting outbox rows")?;
        let mut counts = Counts::default();
        for r in rows {
            let state: String = r.try_get(0).ctx("counting outbox rows")?;
            let n: i64 = r.try_get(1).ctx("counting outbox rows")?;
            let state =
                OutboxState::from_str(&state).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            counts.set(state, n as u64);
        }
        Ok(counts)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<OutboxRow>> {
        let mut sql = format!("{OUTBOX_SELECT} WHERE 1 = 1");
        if query.state.is_some() {
            sql.push_str(" AND o.state = ?");
        }
        if query.before.is_some() {
            sql.push_str(" AND o.id < ?");
        }
        if query.after.is_some() {
            sql.push_str(" AND o.id > ?");
        }
        // Paging up reads the nearest rows above the cursor, then shows them newest first.
        let upward = query.after.is_some() && query.before.is_none();
        sql.push_str(if upward {
            " ORDER BY o.id ASC LIMIT ?"
        } else {
            " ORDER BY o.id DESC LIMIT ?"
        });
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(s) = query.state {
            q = q.bind(s.as_str());
        }
        if let Some(b) = query.before {
            q = q.bind(b.0);
        }
        if let Some(a) = query.after {
            q = q.bind(a.0);
        }
        let rows = q
            .bind(query.limit as i64)
            .fetch_all(&self.pool)
            .await
            .ctx("listing the outbox")?;
        let mut out: Vec<OutboxRow> = rows.iter().map(outbox_row).collect::<Result<_>>()?;
        if upward {
            out.reverse();
        }
        Ok(out)
    }

    async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>> {
        Ok(self.rows_by_ids(&[id.0]).await?.pop())
    }

    async fn rows_for_subscription(&self, id: SubscriptionId) -> Result<Vec<OutboxRow>> {
        let sql = format!("{OUTBOX_SELECT} WHERE o.subscription_id = ? ORDER BY o.id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_all(&self.pool)
            .await
            .ctx("reading a subscription's rows")?;
        rows.iter().map(outbox_row).collect()
    }

    async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "{OUTBOX_SELECT} WHERE o.person_id IN (SELECT person_id FROM digis_member WHERE card_number = ?1 \
             UNION SELECT id FROM person WHERE card_number = ?1) ORDER BY o.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(card.as_str())
            .fetch_all(&self.pool)
            .await
            .ctx("reading a card's rows")?;
        rows.iter().map(outbox_row).collect()
    }

    async fn attempts(&self, id: OutboxId) -> Result<Vec<AttemptRow>> {
        let rows = sqlx::query(
            "SELECT outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error \
             FROM digis_attempt WHERE outbox_id = ? ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .ctx("reading attempts")?;
        rows.iter()
            .map(|r| {
                let c = "reading attempts";
                Ok(AttemptRow {
                    outbox_id: OutboxId(r.try_get("outbox_id").ctx(c)?),
                    attempt: r.try_get("attempt").ctx(c)?,
                    started_at: from_text(&r.try_get::<String, _>("started_at").ctx(c)?)?,
                    duration_ms: r.try_get("duration_ms").ctx(c)?,
                    relay_id: r.try_get("relay_id").ctx(c)?,
                    http_status: r.try_get("http_status").ctx(c)?,
                    outcome: r.try_get("outcome").ctx(c)?,
                    error: r.try_get("error").ctx(c)?,
                })
            })
            .collect()
    }

    async fn digis_rows(
        &self,
        subscription: Option<SubscriptionId>,
        person: Option<PersonId>,
    ) -> Result<Vec<DigisRow>> {
        let rows = sqlx::query(
            "SELECT subscription_id, person_id, external_id, synced_at FROM digis \
             WHERE (?1 IS NULL OR subscription_id = ?1) AND (?2 IS NULL OR person_id = ?2) \
             ORDER BY subscription_id, person_id",
        )
        .bind(subscription.map(|s| s.0))
        .bind(person.map(|p| p.0))
        .fetch_all(&self.pool)
        .await
        .ctx("reading digis")?;
        rows.iter().map(digis_row).collect()
    }

    async fn members_of_subscription(
        &self,
        id: SubscriptionId,
        person: Option<PersonId>,
    ) -> Result<Vec<MemberRead>> {
        let sql = format!("{MEMBER_SELECT} WHERE subscription_id = ?1 AND (?2 IS NULL OR person_id = ?2) ORDER BY person_id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .bind(person.map(|p| p.0))
            .fetch_all(&self.pool)
            .await
            .ctx("reading a subscription's members")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }

    async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>> {
        let sql =
            format!("{MEMBER_SELECT} WHERE card_number = ? ORDER BY subscription_id, person_id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(card.as_str())
            .fetch_all(&self.pool)
            .await
            .ctx("reading members by card")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }

    async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>> {
        let r = sqlx::query("SELECT status FROM subscription WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading a subscription")?;
        r.map(|r| r.try_get(0))
            .transpose()
            .ctx("reading a subscription")
    }

    async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>> {
        let rows = sqlx::query("SELECT id FROM person WHERE card_number = ? ORDER BY id")
            .bind(card.as_str())
            .fetch_all(&self.pool)
            .await
            .ctx("reading persons by card")?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0).map(PersonId))
            .collect::<Result<_, _>>()
            .ctx("reading persons by card")
    }

    async fn active_members_page(
        &self,
        after: Option<(SubscriptionId, PersonId)>,
        limit: u32,
    ) -> Result<Vec<MemberRead>> {
        let (s, p) = after
            .map(|(s, p)| (s.0, p.0))
            .unwrap_or((i64::MIN, i64::MIN));
        let sql = format!(
            "{MEMBER_SELECT} WHERE subscription_status = 'ACTIVE' AND (subscription_id, person_id) > (?, ?) \
             ORDER BY subscription_id, person_id LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(s)
            .bind(p)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .ctx("reading active members")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }
}
