//! PostgreSQL: production and scale-out. Claims use `FOR UPDATE SKIP LOCKED` so any number of
//! relays share the outbox without handing one row to two of them; inserts into the outbox
//! `pg_notify('digis_outbox')`, which a listener turns into a wake-up hint.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Row};
use tokio::sync::Notify;

use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
const HOST_SCHEMA: &str = include_str!("../../../assets/host-schema.postgres.sql");
pub const NOTIFY_CHANNEL: &str = "digis_outbox";

pub struct PgStorage {
    pool: PgPool,
    wake: Arc<Notify>,
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        if let Some(h) = self.listener.lock().ok().and_then(|mut g| g.take()) {
            h.abort();
        }
    }
}

const OUTBOX_SELECT: &str = "SELECT o.id, o.subscription_id, o.person_id, o.state, o.attempts, \
    o.next_attempt_at, o.locked_by, o.locked_until, o.claim_token, o.last_error, \
    o.last_http_status, o.external_id, o.created_at, o.sent_at, o.reason, o.resend, \
    (SELECT convert_to(m.card_number::text, CASE WHEN getdatabaseencoding() = 'SQL_ASCII' \
      THEN 'SQL_ASCII' ELSE 'UTF8' END::name) FROM digis_member m \
      WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id LIMIT 1) AS card_number \
    FROM digis_outbox o";

// Every column as the bytes of its text, typed per row in `decode`: a host that adapted the
// view (a text flag, ids as strings) then fails the one row that does not fit, instead of a
// cast error failing the whole query. The bytes are UTF-8 (`convert_to`), except in a
// database in SQL_ASCII encoding, which stores any bytes and cannot convert: there they come
// as stored, so one name that is not UTF-8 fails its row, not the query ("invalid byte
// sequence"). ORDER BY must name `m.` columns: the bare names are the aliases.
const MEMBER_SELECT: &str = "SELECT convert_to(subscription_id::text, e.enc) AS subscription_id, \
    convert_to(person_id::text, e.enc) AS person_id, \
    convert_to(subscription_status::text, e.enc) AS subscription_status, \
    convert_to(start_date::text, e.enc) AS start_date, \
    convert_to(max_end::text, e.enc) AS max_end, \
    convert_to(first_name::text, e.enc) AS first_name, \
    convert_to(last_name::text, e.enc) AS last_name, \
    convert_to(birth_date::text, e.enc) AS birth_date, \
    convert_to(sex::text, e.enc) AS sex, \
    convert_to(email::text, e.enc) AS email, \
    convert_to(allow_email::text, e.enc) AS allow_email, \
    convert_to(allow_sms::text, e.enc) AS allow_sms, \
    convert_to(mobile_country_code::text, e.enc) AS mobile_country_code, \
    convert_to(mobile_number::text, e.enc) AS mobile_number, \
    convert_to(card_number::text, e.enc) AS card_number, \
    convert_to(unit_id::text, e.enc) AS unit_id, \
    convert_to(unit_name::text, e.enc) AS unit_name, \
    convert_to(street_address::text, e.enc) AS street_address, \
    convert_to(postal_code::text, e.enc) AS postal_code, \
    convert_to(postal_city::text, e.enc) AS postal_city, \
    convert_to(country_alpha2::text, e.enc) AS country_alpha2 \
    FROM digis_member m CROSS JOIN (SELECT CASE WHEN getdatabaseencoding() = 'SQL_ASCII' \
    THEN 'SQL_ASCII' ELSE 'UTF8' END::name AS enc) e";

fn outbox_row(r: &PgRow) -> Result<OutboxRow> {
    use super::decode::{text, Cells};
    let c = "reading an outbox row";
    let state: String = r.try_get("state").ctx(c)?;
    let id: i64 = r.try_get("id").ctx(c)?;
    let subscription_id: i64 = r.try_get("subscription_id").ctx(c)?;
    let person_id: i64 = r.try_get("person_id").ctx(c)?;
    // The card comes from the host's view: unreadable bytes are this row's defect only.
    let (card_number, defect) = match text(r.cell("card_number")) {
        Ok(card) => (card, None),
        Err(problem) => (
            None,
            Some(Box::new(RowDefect {
                outbox_id: Some(OutboxId(id)),
                subscription: StoredId::Int(subscription_id),
                person: StoredId::Int(person_id),
                column: "card_number",
                problem: problem.to_string(),
            })),
        ),
    };
    Ok(OutboxRow {
        id: OutboxId(id),
        subscription_id: SubscriptionId(subscription_id),
        person_id: PersonId(person_id),
        state: OutboxState::from_str(&state).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        attempts: r.try_get("attempts").ctx(c)?,
        next_attempt_at: r.try_get("next_attempt_at").ctx(c)?,
        locked_by: r.try_get("locked_by").ctx(c)?,
        locked_until: r.try_get("locked_until").ctx(c)?,
        last_error: r.try_get("last_error").ctx(c)?,
        last_http_status: r.try_get("last_http_status").ctx(c)?,
        external_id: r.try_get("external_id").ctx(c)?,
        created_at: r.try_get("created_at").ctx(c)?,
        sent_at: r.try_get("sent_at").ctx(c)?,
        reason: r.try_get("reason").ctx(c)?,
        resend: r.try_get("resend").ctx(c)?,
        card_number,
        defect,
    })
}

fn digis_row(r: &PgRow) -> Result<DigisRow> {
    let c = "reading digis";
    Ok(DigisRow {
        subscription_id: SubscriptionId(r.try_get("subscription_id").ctx(c)?),
        person_id: PersonId(r.try_get("person_id").ctx(c)?),
        external_id: r.try_get("external_id").ctx(c)?,
        synced_at: r.try_get("synced_at").ctx(c)?,
    })
}

fn ids_of(rows: &[PgRow]) -> Result<Vec<OutboxId>> {
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map(OutboxId))
        .collect::<Result<_, _>>()
        .ctx("reading ids")
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
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    e: &Event<'_>,
    ids: &[OutboxId],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO digis_event (at, actor, action, outbox_id, subscription_id, person_id, detail) \
         SELECT $1, $2, $3, id, subscription_id, person_id, $4 FROM digis_outbox WHERE id = ANY($5) ORDER BY id",
    )
    .bind(e.now)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.detail.as_deref())
    .bind(raw_ids(ids))
    .execute(&mut **tx)
    .await
    .ctx("recording the operator's action")?;
    Ok(())
}

/// An event about the whole relay (pause, resume, sync).
async fn record_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    e: &Event<'_>,
) -> Result<()> {
    sqlx::query("INSERT INTO digis_event (at, actor, action, detail) VALUES ($1, $2, $3, $4)")
        .bind(e.now)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.detail.as_deref())
        .execute(&mut **tx)
        .await
        .ctx("recording the operator's action")?;
    Ok(())
}

fn raw_ids(ids: &[OutboxId]) -> Vec<i64> {
    ids.iter().map(|i| i.0).collect()
}

impl PgStorage {
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source| StorageError::Connect {
            url: crate::util::redact_db_url(url),
            source,
        };
        // ISO dates whatever the server's DateStyle, for the `::text` casts above.
        let opts = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .options([("DateStyle", "ISO")]);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(connect_err)?;
        let storage = Self {
            pool,
            wake: Arc::new(Notify::new()),
            listener: std::sync::Mutex::new(None),
        };
        storage.start_listener();
        Ok(storage)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// LISTEN in the background. Notifications sent while disconnected are lost, which is
    /// fine: a wake-up is a hint and relays poll anyway; after a reconnect it wakes once.
    fn start_listener(&self) {
        let pool = self.pool.clone();
        let wake = self.wake.clone();
        let handle = tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut l) => {
                        if l.listen(NOTIFY_CHANNEL).await.is_ok() {
                            wake.notify_waiters();
                            while l.recv().await.is_ok() {
                                wake.notify_waiters();
                            }
                        }
                    }
                    Err(e) => tracing::debug!("LISTEN connection failed: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
        if let Ok(mut g) = self.listener.lock() {
            *g = Some(handle);
        }
    }

    async fn rows_by_ids(&self, ids: &[i64]) -> Result<Vec<OutboxRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{OUTBOX_SELECT} WHERE o.id = ANY($1) ORDER BY o.id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .ctx("reading outbox rows")?;
        rows.iter().map(outbox_row).collect()
    }

    async fn notify(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&self.pool)
            .await
            .ctx("notifying relays")?;
        self.wake.notify_waiters();
        Ok(())
    }
}

#[async_trait]
impl Storage for PgStorage {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        let rows = sqlx::query(
            "SELECT c.relname::text, c.relkind::text FROM pg_class c \
             WHERE c.relnamespace = ANY (current_schemas(false)::regnamespace[]) AND c.relkind IN ('r', 'v', 'p')",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading the schema")?;
        let rels: Vec<(String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .ctx("reading the schema")?;
        let has_table = |n: &str| rels.iter().any(|(name, kind)| name == n && kind != "v");
        let triggers: Vec<String> = sqlx::query(
            "SELECT t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE NOT t.tgisinternal AND c.relnamespace = ANY (current_schemas(false)::regnamespace[])",
        )
        .fetch_all(&self.pool)
        .await
        .ctx("reading triggers")?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .ctx("reading triggers")?;
        Ok(SchemaReport {
            host_tables_missing: HOST_TABLES
                .iter()
                .filter(|t| !has_table(t))
                .map(|t| t.to_string())
                .collect(),
            relay_tables_missing: RELAY_TABLES
                .iter()
                .filter(|t| !has_table(t))
                .map(|t| t.to_string())
                .collect(),
            view_present: rels.iter().any(|(n, k)| n == "digis_member" && k == "v"),
            triggers_missing: [
                "digis_subscription_saved",
                "digis_subscription_user_added",
                "digis_outbox_notify",
            ]
            .iter()
            .filter(|t| !triggers.iter().any(|x| x == *t))
            .map(|t| t.to_string())
            .collect(),
        })
    }

    async fn host_exec(&self, sql: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.ctx("starting a host write")?;
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
        let rows = sqlx::query(
            "WITH c AS ( \
                SELECT id FROM digis_outbox \
                WHERE (state = 'pending' AND next_attempt_at <= $4) \
                   OR (state = 'sending' AND locked_until < $4) \
                ORDER BY next_attempt_at, id LIMIT $5 \
                FOR UPDATE SKIP LOCKED) \
             UPDATE digis_outbox o SET state = 'sending', locked_by = $1, locked_until = $2, \
                claim_token = $3, attempts = o.attempts + 1, updated_at = $4 \
             FROM c WHERE o.id = c.id RETURNING o.id",
        )
        .bind(relay_id)
        .bind(until)
        .bind(&token)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .ctx("claiming outbox rows")?;
        let ids: Vec<i64> = ids_of(&rows)?.into_iter().map(|i| i.0).collect();
        let rows = self.rows_by_ids(&ids).await?;
        let subs: Vec<i64> = rows.iter().map(|r| r.subscription_id.0).collect();
        let persons: Vec<i64> = rows.iter().map(|r| r.person_id.0).collect();
        let members = if rows.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "{MEMBER_SELECT} WHERE (subscription_id, person_id) IN \
                 (SELECT * FROM unnest($1::bigint[], $2::bigint[]))"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(&subs)
                .bind(&persons)
                .fetch_all(&self.pool)
                .await
                .ctx("reading members of claimed rows")?
                .iter()
                .map(super::decode::member)
                .collect::<Vec<_>>()
        };
        let synced = if rows.is_empty() {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT subscription_id, person_id, external_id, synced_at FROM digis \
                 WHERE (subscription_id, person_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))",
            )
            .bind(&subs)
            .bind(&persons)
            .fetch_all(&self.pool)
            .await
            .ctx("reading digis rows")?
            .iter()
            .map(digis_row)
            .collect::<Result<Vec<_>>>()?
        };
        Ok(assemble_claims(rows, members, synced, &token))
    }

    async fn renew_lease(&self, rows: &[(OutboxId, String)], until: DateTime<Utc>) -> Result<u64> {
        let ids: Vec<i64> = rows.iter().map(|r| r.0 .0).collect();
        let tokens: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        Ok(sqlx::query(
            "UPDATE digis_outbox o SET locked_until = $1 FROM unnest($2::bigint[], $3::text[]) AS x(id, token) \
             WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token",
        )
        .bind(until)
        .bind(&ids)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .ctx("renewing leases")?
        .rows_affected())
    }

    async fn complete(
        &self,
        row: &ClaimedRow,
        completion: &Completion,
        attempt: &AttemptRecord,
        now: DateTime<Utc>,
    ) -> Result<CompleteResult> {
        let id = row.row.id.0;
        let status = attempt.http_status;
        let error = attempt.error.as_deref();
        let mut tx = self.pool.begin().await.ctx("starting a completion")?;
        let q = match completion {
            Completion::Sent { external_id } => sqlx::query(
                "UPDATE digis_outbox SET state = 'sent', sent_at = $1, external_id = $2, \
                 last_http_status = $3, last_error = $4, locked_by = NULL, locked_until = NULL, \
                 claim_token = NULL, updated_at = $1 \
                 WHERE id = $5 AND state = 'sending' AND claim_token = $6",
            )
            .bind(now)
            .bind(external_id.clone()),
            Completion::Retry { next_attempt_at } => sqlx::query(
                "UPDATE digis_outbox SET state = 'pending', next_attempt_at = $2, \
                 last_http_status = $3, last_error = $4, locked_by = NULL, locked_until = NULL, \
                 claim_token = NULL, updated_at = $1 \
                 WHERE id = $5 AND state = 'sending' AND claim_token = $6",
            )
            .bind(now)
            .bind(*next_attempt_at),
            Completion::Failed => sqlx::query(
                "UPDATE digis_outbox SET state = 'failed', last_http_status = $3, last_error = $4, \
                 locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = $1 \
                 WHERE id = $5 AND state = 'sending' AND claim_token = $6 AND $2::text IS NULL",
            )
            .bind(now)
            .bind(None::<String>),
            Completion::Discarded { reason } => sqlx::query(
                "UPDATE digis_outbox SET state = 'discarded', reason = $2, last_http_status = $3, \
                 last_error = $4, locked_by = NULL, locked_until = NULL, claim_token = NULL, \
                 updated_at = $1 \
                 WHERE id = $5 AND state = 'sending' AND claim_token = $6",
            )
            .bind(now)
            .bind(reason.clone()),
            Completion::Released { next_attempt_at } => sqlx::query(
                "UPDATE digis_outbox SET state = 'pending', next_attempt_at = $2, \
                 attempts = GREATEST(attempts - 1, 0), last_http_status = $3, last_error = $4, \
                 locked_by = NULL, locked_until = NULL, claim_token = NULL, updated_at = $1 \
                 WHERE id = $5 AND state = 'sending' AND claim_token = $6",
            )
            .bind(now)
            .bind(*next_attempt_at),
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
                    "INSERT INTO digis (subscription_id, person_id, external_id, synced_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (subscription_id, person_id) DO UPDATE \
                     SET external_id = excluded.external_id, synced_at = excluded.synced_at",
                )
                .bind(row.row.subscription_id.0)
                .bind(row.row.person_id.0)
                .bind(external_id.clone())
                .bind(now)
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
        sqlx::query(
            "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, http_status, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(row.row.attempts)
        .bind(attempt.started_at)
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
        let ids: Vec<i64> = rows.iter().map(|r| r.0 .0).collect();
        let tokens: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        Ok(sqlx::query(
            "UPDATE digis_outbox o SET state = 'pending', next_attempt_at = $1, \
             attempts = GREATEST(o.attempts - 1, 0), locked_by = NULL, locked_until = NULL, \
             claim_token = NULL, updated_at = $1 \
             FROM unnest($2::bigint[], $3::text[]) AS x(id, token) \
             WHERE o.id = x.id AND o.state = 'sending' AND o.claim_token = x.token",
        )
        .bind(now)
        .bind(&ids)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .ctx("releasing claims")?
        .rows_affected())
    }

    async fn heartbeat(&self, info: &RelayInfo) -> Result<()> {
        sqlx::query(
            "INSERT INTO digis_relay (relay_id, hostname, pid, version, started_at, heartbeat_at, state, detail, heartbeat_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (relay_id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, \
             version = excluded.version, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, state = excluded.state, detail = excluded.detail, \
             heartbeat_ms = excluded.heartbeat_ms",
        )
        .bind(&info.relay_id)
        .bind(&info.hostname)
        .bind(info.pid)
        .bind(&info.version)
        .bind(info.started_at)
        .bind(info.heartbeat_at)
        .bind(&info.state)
        .bind(&info.detail)
        .bind(info.heartbeat_ms)
        .execute(&self.pool)
        .await
        .ctx("writing a heartbeat")?;
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
                    started_at: r.try_get("started_at").ctx(c)?,
                    heartbeat_at: r.try_get("heartbeat_at").ctx(c)?,
                    state: r.try_get("state").ctx(c)?,
                    detail: r.try_get("detail").ctx(c)?,
                    heartbeat_ms: r.try_get("heartbeat_ms").ctx(c)?,
                })
            })
            .collect()
    }

    async fn oldest_due_pending(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM digis_outbox \
             WHERE state = 'pending' AND next_attempt_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .ctx("reading the oldest due pending row")
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await.ctx("starting a prune")?;
        let n = sqlx::query(
            "DELETE FROM digis_outbox WHERE state IN ('sent', 'discarded') AND updated_at < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .ctx("pruning old rows")?
        .rows_affected();
        sqlx::query("DELETE FROM digis_event WHERE at < $1")
            .bind(before)
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
        let mut tx = self.pool.begin().await.ctx("starting a retry")?;
        let rows = sqlx::query(
            "UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = $1, \
             reason = NULL, updated_at = $1 \
             WHERE o.id = ANY($2) AND o.state IN ('failed', 'discarded', 'pending') \
               AND NOT EXISTS (SELECT 1 FROM digis_outbox x WHERE x.subscription_id = o.subscription_id \
                    AND x.person_id = o.person_id AND x.id <> o.id AND x.state IN ('pending', 'sending')) \
             RETURNING o.id",
        )
        .bind(now)
        .bind(raw_ids(ids))
        .fetch_all(&mut *tx)
        .await
        .ctx("retrying rows")?;
        let mut out = ids_of(&rows)?;
        out.sort();
        record_row_events(
            &mut tx,
            &Event {
                action: "retry",
                actor,
                detail: None,
                now,
            },
            &out,
        )
        .await?;
        tx.commit().await.ctx("committing a retry")?;
        self.notify().await?;
        Ok(out)
    }

    async fn retry_all_failed(&self, actor: &str, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.pool.begin().await.ctx("starting a retry")?;
        let rows = sqlx::query(
            "UPDATE digis_outbox AS o SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
             WHERE o.state = 'failed' \
               AND NOT EXISTS (SELECT 1 FROM digis_outbox x WHERE x.subscription_id = o.subscription_id \
                    AND x.person_id = o.person_id AND x.state IN ('pending', 'sending')) \
               AND o.id = (SELECT MAX(y.id) FROM digis_outbox y WHERE y.subscription_id = o.subscription_id \
                    AND y.person_id = o.person_id AND y.state = 'failed') \
             RETURNING o.id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .ctx("retrying failed rows")?;
        let ids = ids_of(&rows)?;
        record_row_events(
            &mut tx,
            &Event {
                action: "retry_all_failed",
                actor,
                detail: None,
                now,
            },
            &ids,
        )
        .await?;
        tx.commit().await.ctx("committing a retry")?;
        self.notify().await?;
        Ok(ids.len() as u64)
    }

    async fn discard(
        &self,
        ids: &[OutboxId],
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let mut tx = self.pool.begin().await.ctx("starting a discard")?;
        let rows = sqlx::query(
            "UPDATE digis_outbox SET state = 'discarded', reason = $1, updated_at = $2 \
             WHERE id = ANY($3) AND state IN ('pending', 'failed') RETURNING id",
        )
        .bind(reason)
        .bind(now)
        .bind(raw_ids(ids))
        .fetch_all(&mut *tx)
        .await
        .ctx("discarding rows")?;
        let mut out = ids_of(&rows)?;
        out.sort();
        let e = Event {
            action: "discard",
            actor,
            detail: Some(reason.to_string()),
            now,
        };
        record_row_events(&mut tx, &e, &out).await?;
        tx.commit().await.ctx("committing a discard")?;
        Ok(out)
    }

    async fn resend(
        &self,
        subscription: SubscriptionId,
        person: Option<PersonId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>> {
        let mut tx = self.pool.begin().await.ctx("starting a resend")?;
        let rows = sqlx::query(
            "INSERT INTO digis_outbox (subscription_id, person_id, resend, reason, next_attempt_at, created_at, updated_at) \
             SELECT m.subscription_id, m.person_id, true, 'resend requested', $1, $1, $1 FROM digis_member m \
             WHERE m.subscription_id = $2 AND ($3::bigint IS NULL OR m.person_id = $3) \
               AND NOT EXISTS (SELECT 1 FROM digis_outbox o WHERE o.subscription_id = m.subscription_id \
                    AND o.person_id = m.person_id AND o.state IN ('pending', 'sending')) \
             ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING \
             RETURNING id",
        )
        .bind(now)
        .bind(subscription.0)
        .bind(person.map(|p| p.0))
        .fetch_all(&mut *tx)
        .await
        .ctx("queueing a resend")?;
        let ids = ids_of(&rows)?;
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
        let mut tx = self.pool.begin().await.ctx("starting a pause")?;
        sqlx::query("UPDATE digis_control SET paused = true, pause_reason = $1, paused_by = $2, paused_at = $3 WHERE id = 1")
            .bind(reason)
            .bind(by)
            .bind(now)
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
        let mut tx = self.pool.begin().await.ctx("starting a resume")?;
        sqlx::query(
            "UPDATE digis_control SET paused = false, pause_reason = NULL, paused_by = NULL, paused_at = NULL WHERE id = 1",
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
        self.notify().await
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
        Ok(Control {
            paused: r.try_get("paused").ctx(c)?,
            pause_reason: r.try_get("pause_reason").ctx(c)?,
            paused_by: r.try_get("paused_by").ctx(c)?,
            paused_at: r.try_get("paused_at").ctx(c)?,
            sync_requested_at: r.try_get("sync_requested_at").ctx(c)?,
        })
    }

    async fn sync(&self, reconcile: bool, actor: &str, now: DateTime<Utc>) -> Result<SyncResult> {
        let mut tx = self.pool.begin().await.ctx("starting a sync")?;
        let made_due = sqlx::query(
            "UPDATE digis_outbox SET next_attempt_at = $1, updated_at = $1 WHERE state = 'pending' AND next_attempt_at > $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .ctx("making pending rows due")?
        .rows_affected();
        let mut queued = 0;
        if reconcile {
            queued = sqlx::query(
                "INSERT INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at) \
                 SELECT m.subscription_id, m.person_id, 'queued by sync --reconcile', $1, $1, $1 FROM digis_member m \
                 WHERE m.subscription_status = 'ACTIVE' \
                   AND NOT EXISTS (SELECT 1 FROM digis d WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id) \
                   AND NOT EXISTS (SELECT 1 FROM digis_outbox o WHERE o.subscription_id = m.subscription_id \
                        AND o.person_id = m.person_id AND o.state IN ('pending', 'sending')) \
                 ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING",
            )
            .bind(now)
            .execute(&mut *tx)
            .await
            .ctx("reconciling")?
            .rows_affected();
        }
        sqlx::query("UPDATE digis_control SET sync_requested_at = $1 WHERE id = 1")
            .bind(now)
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
        self.notify().await?;
        Ok(SyncResult { made_due, queued })
    }

    async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>> {
        if outbox_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT at, actor, action, outbox_id, subscription_id, person_id, detail FROM digis_event \
             WHERE outbox_id = ANY($1) ORDER BY id",
        )
        .bind(raw_ids(outbox_ids))
        .fetch_all(&self.pool)
        .await
        .ctx("reading operator events")?;
        rows.iter()
            .map(|r| {
                let c = "reading operator events";
                Ok(EventRow {
                    at: r.try_get("at").ctx(c)?,
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
        let upward = query.after.is_some() && query.before.is_none();
        let sql = format!(
            "{OUTBOX_SELECT} WHERE ($1::text IS NULL OR o.state = $1) AND ($2::bigint IS NULL OR o.id < $2) \
             AND ($3::bigint IS NULL OR o.id > $3) ORDER BY o.id {} LIMIT $4",
            if upward { "ASC" } else { "DESC" }
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(query.state.map(|s| s.as_str()))
            .bind(query.before.map(|i| i.0))
            .bind(query.after.map(|i| i.0))
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
        let sql = format!("{OUTBOX_SELECT} WHERE o.subscription_id = $1 ORDER BY o.id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_all(&self.pool)
            .await
            .ctx("reading a subscription's rows")?;
        rows.iter().map(outbox_row).collect()
    }

    async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>> {
        let sql = format!(
            "{OUTBOX_SELECT} WHERE o.person_id IN (SELECT person_id FROM digis_member WHERE card_number::text = $1 \
             UNION SELECT id FROM person WHERE card_number::text = $1) ORDER BY o.id"
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
             FROM digis_attempt WHERE outbox_id = $1 ORDER BY id",
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
                    started_at: r.try_get("started_at").ctx(c)?,
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
             WHERE ($1::bigint IS NULL OR subscription_id = $1) AND ($2::bigint IS NULL OR person_id = $2) \
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
        let sql = format!("{MEMBER_SELECT} WHERE subscription_id = $1 AND ($2::bigint IS NULL OR person_id = $2) ORDER BY m.person_id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .bind(person.map(|p| p.0))
            .fetch_all(&self.pool)
            .await
            .ctx("reading a subscription's members")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }

    async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>> {
        let sql = format!(
            "{MEMBER_SELECT} WHERE card_number::text = $1 ORDER BY m.subscription_id, m.person_id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(card.as_str())
            .fetch_all(&self.pool)
            .await
            .ctx("reading members by card")?;
        Ok(rows.iter().map(super::decode::member).collect())
    }

    async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>> {
        let r = sqlx::query("SELECT status::text FROM subscription WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading a subscription")?;
        r.map(|r| r.try_get(0))
            .transpose()
            .ctx("reading a subscription")
    }

    async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>> {
        let rows = sqlx::query("SELECT id FROM person WHERE card_number::text = $1 ORDER BY id")
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
            "{MEMBER_SELECT} WHERE subscription_status = 'ACTIVE' AND (m.subscription_id, m.person_id) > ($1, $2) \
             ORDER BY m.subscription_id, m.person_id LIMIT $3"
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
