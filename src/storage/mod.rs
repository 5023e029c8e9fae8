//! The storage layer: one trait, one implementation per database (like River's drivers). A
//! database's statements live in `<database>/sql/` (and its schema in `migrations/<database>/`);
//! the Rust that runs them is written once in `core`, with only connect, the claim statement's
//! transaction and the wake-up in `sqlite/` and `postgres/` (ARCHITECTURE.md, Module map).
pub mod adapter;
pub mod bookkeeping;
mod core;
mod decode;
mod group;
pub mod handshake;
pub mod host_objects;
mod lists;
pub mod model;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
pub mod superseded;
pub mod texts;
pub(crate) mod time;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::domain::{
    CardNumber, OutboxId, OutboxState, PausedBy, PersonId, SubscriptionId, UnitId,
};
pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database URL `{0}` is not supported: use sqlite://FILE or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot open the database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{context}: {source}")]
    Query {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the database holds a value this version does not understand: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Refused(String),
    /// Boxed: the host adapter's errors carry its statement, and every storage `Result` would
    /// otherwise grow to hold one.
    #[error(transparent)]
    Adapter(Box<adapter::AdapterError>),
}

impl From<adapter::AdapterError> for StorageError {
    fn from(e: adapter::AdapterError) -> Self {
        StorageError::Adapter(Box::new(e))
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Whether the same statement may succeed if run again later: the database is unreachable,
    /// restarting, refusing connections, out of a resource or busy, or the transaction lost a
    /// race (serialization failure, deadlock). A type, constraint or syntax error repeats
    /// however often it is retried, so it is not transient: holding it would only wedge the
    /// relay (a host `digis` of another type was held for ten minutes, then its rows sent
    /// again). Classed by cause (SQLSTATE, SQLite's result code), never by message.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Query { source, .. } | StorageError::Connect { source, .. } => {
                transient_sqlx(source)
            }
            _ => false,
        }
    }
}

fn transient_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                transient_sqlstate(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(transient_sqlite_code)
            } else {
                false
            }
        }
        // The connection broke or none could be had: the database may be back in a moment.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs that pass: class 08 (connection exception), class 53 (insufficient
/// resources: too many connections, disk full, out of memory), 57P01-57P03 (the server shut
/// down or is starting), 57P05 (an idle session timed out: the next connection works),
/// 40001 and 40P01 (serialization failure, deadlock: the transaction is to be run again), and
/// 55000, 55006, 55P03 (a database not accepting connections for now, as `ALTER DATABASE ...
/// ALLOW_CONNECTIONS false` makes it; an object in use; a lock not available).
pub fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57P05" | "40001" | "40P01" | "55000" | "55006" | "55P03"
        )
}

/// SQLite's result codes that pass, by their primary code (the low byte of an extended one):
/// BUSY and LOCKED (another connection holds the lock past the busy timeout), PROTOCOL (a WAL
/// lock race SQLite itself says to retry) and FULL (the disk is full, as PostgreSQL's 53100).
pub fn transient_sqlite_code(code: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const FULL: i32 = 13;
    const PROTOCOL: i32 = 15;
    matches!(code & 0xff, BUSY | LOCKED | FULL | PROTOCOL)
}

/// Adds what was being done to a sqlx error.
pub(crate) trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|source| StorageError::Query { context, source })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        let url = url.trim();
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl(crate::util::redact_db_url(
                url,
            )))
        }
    }
}

/// Everything the relay, the operator commands, search, the dashboard and the export need
/// from the database. Times passed in are "now" as the caller sees it, so tests can move time.
#[async_trait]
pub trait Storage: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies the relay-owned migrations and then the reference host adapter; with
    /// `host_schema`, first the reference host schema from assets/ (for the demo and tests; a
    /// real installation already has its tables, and may need an adapter of its own:
    /// [`Storage::migrate_with`]).
    async fn migrate(&self, host_schema: bool) -> Result<()> {
        self.migrate_with(
            host_schema,
            &adapter::HostAdapter::reference(self.backend()),
        )
        .await
        .map(|_| ())
    }

    /// [`Storage::migrate`] with the host adapter `adapter`, applied after the migrations in
    /// one transaction and recorded in `digis_host_adapter`, unless the recorded checksum is
    /// its own and its views are there ([`adapter::AdapterOutcome`]).
    async fn migrate_with(
        &self,
        host_schema: bool,
        adapter: &adapter::HostAdapter,
    ) -> Result<adapter::AdapterOutcome>;

    /// The adapter `migrate` last applied (`digis_host_adapter`), `None` before the first, or
    /// when migration 0010 is not applied yet.
    async fn applied_adapter(&self) -> Result<Option<adapter::AppliedAdapter>>;

    /// What is installed, for `doctor`.
    async fn schema_report(&self) -> Result<SchemaReport>;

    /// Both sides of the schema handshake: the migrations compiled into this binary, the ones
    /// the database has applied, and its compatibility record ([`handshake`]).
    async fn schema_versions(&self) -> Result<handshake::SchemaVersions>;

    /// What the database holds of the host adapter: the columns of `views`, the triggers and
    /// what they call, and `digis_host_adapter`'s record, for `doctor` and the metrics.
    async fn host_objects(&self, views: &[&str]) -> Result<host_objects::HostObjects>;

    async fn ping(&self) -> Result<()>;

    /// The database's clock now: what relays measure their own clock against, so that
    /// leases, due times and heartbeats written by relays on different hosts compare (see
    /// `crate::clock`). On SQLite, an embedded database, it is this host's clock.
    async fn db_now(&self) -> Result<DateTime<Utc>>;

    /// Runs SQL against the membership tables as the membership system would. For the demo
    /// and staging only: the relay itself never writes host tables.
    async fn host_exec(&self, sql: &str) -> Result<()>;

    // --- the relay ---

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

    /// [`Storage::claim`], except that a row whose expired lease carries one of `held_tokens`
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

    /// [`Storage::claim_skipping`] by a relay that has had the database since
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

    /// Ends a group of claimed rows and gives `releases` back (as [`Storage::release`]), in
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
    /// finds another under way ([`PRUNE_LOCK_KEY`]) leaves the work to it and returns 0; SQLite
    /// has one writer, so its prunes are one after the other anyway.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;

    /// A hint that work may be waiting: PostgreSQL's NOTIFY, a commit by another process seen
    /// in SQLite's WAL (watched from the first call on), or an operator action in this process.
    /// Never the delivery itself: relays poll as well.
    fn wakeup(&self) -> Arc<Notify>;

    // --- operators: each records who did it in `digis_event`, in the same transaction ---

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
    /// What operators did to these rows, oldest first.
    async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>>;

    // --- failures (the Failures view, `report failures`) ---

    /// Failed rows grouped by business unit and cause: the `limit` largest groups, in the order
    /// of their keys (unit, then cause); `unit`: only that unit's.
    async fn failure_groups(&self, unit: Option<UnitId>, limit: u32) -> Result<Vec<FailureGroup>>;
    /// A page of failed rows with their members (names: personal data).
    async fn failed_members(&self, query: &FailedQuery) -> Result<Vec<FailedMember>>;
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

    // --- figures (the Stats view, `status --json`) ---

    /// Attempts that ended `sent`, `failed` and `retry`, counted for each time range
    /// `[from, to)`, in the ranges' order.
    async fn attempt_counts(
        &self,
        ranges: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<OutcomeCounts>>;
    /// Save-to-sent delays of rows sent in `[from, to)`: at most about `max_rows` of them, spread
    /// evenly over the sent rows.
    async fn sent_delays(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_rows: u32,
    ) -> Result<DelaySample>;

    // --- reading ---

    async fn counts(&self) -> Result<Counts>;
    async fn list(&self, query: &ListQuery) -> Result<Vec<OutboxRow>>;
    async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>>;
    async fn rows_for_subscription(&self, id: SubscriptionId) -> Result<Vec<OutboxRow>>;
    /// Rows of whoever holds the card now, including users who have since left the
    /// subscription (found through the person table).
    async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>>;
    async fn attempts(&self, id: OutboxId) -> Result<Vec<AttemptRow>>;
    async fn digis_rows(
        &self,
        subscription: Option<SubscriptionId>,
        person: Option<PersonId>,
    ) -> Result<Vec<DigisRow>>;
    /// Members of a subscription as the view shows them, optionally one person. Member reads
    /// are per row: one that cannot be read is an `Err` naming its column, beside the others.
    async fn members_of_subscription(
        &self,
        id: SubscriptionId,
        person: Option<PersonId>,
    ) -> Result<Vec<MemberRead>>;
    async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>>;
    /// Status of a subscription in the host table (`None`: no such subscription).
    async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>>;
    /// Persons holding a card number in the host table, whether or not they use a subscription.
    async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>>;
    /// The cards (as stored, each once) that differ from `card` only in leading zeros: what
    /// was probably meant when nobody holds `card`. Never `card` itself; at most five persons'.
    async fn cards_without_zeros(&self, card: &CardNumber) -> Result<Vec<String>>;
    /// Persons who may match `filter`, after `after` in id order, at most `limit`: a superset
    /// narrowed in SQL (see [`PersonFilter`]); the caller compares exactly and pages on with
    /// the last id. Only persons with a whole-number id are read.
    async fn persons_matching(
        &self,
        filter: &PersonFilter,
        after: Option<PersonId>,
        limit: u32,
    ) -> Result<Vec<PersonRow>>;
    /// Every (subscription, person) pair that names one of `persons`: users now (the
    /// `digis_member` view), outbox rows and `digis` rows, by subscription then person.
    async fn pairs_of_persons(
        &self,
        persons: &[PersonId],
    ) -> Result<Vec<(SubscriptionId, PersonId)>>;
    /// Users of ACTIVE subscriptions after `after` in (subscription_id, person_id) order.
    /// A row that cannot be read is an `Err` in its place (it still counts towards `limit`).
    async fn active_members_page(
        &self,
        after: Option<(SubscriptionId, PersonId)>,
        limit: u32,
    ) -> Result<Vec<MemberRead>>;
}

pub type DynStorage = Arc<dyn Storage>;

/// Opens the database named by `url` (creating an SQLite file if needed).
pub async fn connect(url: &str) -> Result<DynStorage> {
    match Backend::from_url(url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStorage::connect(url).await?)),
        Backend::Postgres => Ok(Arc::new(postgres::PgStorage::connect(url).await?)),
    }
}

/// Why a host's own `digis` table cannot take the pairs the relay writes, in one line naming
/// the table, the column and the type it needs; `None` when it can. `found` is the row of
/// `digis_external_id.sql` (`None`: no `digis` table yet, which `migrate` creates): the
/// column's declared type (`None`: no such column) and, on PostgreSQL, its type's category.
/// Digis's ids are text (`TE-000001`): a number column refuses them (PostgreSQL) or turns
/// digits into a number (SQLite's INTEGER, REAL and NUMERIC affinities). The seed's table may
/// predate the relay, so this is the host's schema, checked rather than changed.
pub fn digis_external_id_problem(
    backend: Backend,
    found: Option<(Option<String>, Option<String>)>,
) -> Option<String> {
    let (declared, category) = found?;
    let needs = match backend {
        Backend::Sqlite => "TEXT",
        Backend::Postgres => "text",
    };
    let Some(declared) = declared else {
        return Some(format!(
            "table digis has no column external_id: the relay needs it, of type {needs} (Digis's ids are text, like TE-000001)"
        ));
    };
    let holds_text = match backend {
        Backend::Postgres => category.as_deref() == Some("S"),
        Backend::Sqlite => sqlite_keeps_text(&declared),
    };
    if holds_text {
        return None;
    }
    let fix = match backend {
        Backend::Sqlite => "recreate the table with external_id TEXT, copying its rows".to_string(),
        Backend::Postgres => "ALTER TABLE digis ALTER COLUMN external_id TYPE text".to_string(),
    };
    let shown = if declared.trim().is_empty() {
        "untyped"
    } else {
        declared.trim()
    };
    Some(format!(
        "table digis: column external_id is {shown}, the relay needs {needs} (Digis's ids are text, like TE-000001): {fix}"
    ))
}

/// Whether a column of this declared type keeps text as text: SQLite's TEXT affinity, or none
/// (BLOB) (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>).
fn sqlite_keeps_text(declared: &str) -> bool {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        return false;
    }
    if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        return true;
    }
    t.contains("BLOB") || t.trim().is_empty()
}

/// The reference schema's membership tables, which the reference adapter reads (a host with its
/// own adapter may name its tables otherwise).
pub const HOST_TABLES: [&str; 5] = [
    "business_unit",
    "person",
    "address",
    "subscription",
    "subscription_user",
];
/// The PostgreSQL advisory lock a prune holds for its transaction (`pg_try_advisory_xact_lock`):
/// one relay prunes at a time. Any constant unlikely to be a host's own lock; this one spells
/// "dgsprune".
pub const PRUNE_LOCK_KEY: i64 = 0x6467_7370_7275_6e65;

/// The tables the relay's migrations create.
pub const RELAY_TABLES: [&str; 6] = [
    "digis",
    "digis_outbox",
    "digis_attempt",
    "digis_relay",
    "digis_control",
    "digis_event",
];

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

/// Groups that read as the same key (two unit ids that cannot be read both count as no unit)
/// become one; in the order of their keys (unit, then cause), which stays put when a group
/// grows past another between two reads.
fn merge_failure_groups(groups: Vec<FailureGroup>) -> Vec<FailureGroup> {
    let mut out: Vec<FailureGroup> = Vec::with_capacity(groups.len());
    for g in groups {
        match out.iter_mut().find(|o| o.key == g.key) {
            Some(o) => {
                o.rows += g.rows;
                o.oldest = o.oldest.min(g.oldest);
                o.newest = o.newest.max(g.newest);
                if o.unit_name.is_none() {
                    o.unit_name = g.unit_name;
                }
            }
            None => out.push(g),
        }
    }
    out.sort_by(|a, b| {
        a.key
            .unit_id
            .cmp(&b.key.unit_id)
            .then_with(|| a.key.cause.cmp(&b.key.cause))
    });
    out
}

/// Joins failed rows with their members (read by pair), in the rows' order.
fn assemble_failed(failed: Vec<rows::FailedRow>, members: &[MemberRead]) -> Vec<FailedMember> {
    let by_pair: std::collections::HashMap<(i64, i64), &MemberRead> = members
        .iter()
        .filter_map(|m| {
            let pair = match m {
                Ok(m) => (m.subscription_id, m.person_id),
                Err(d) => (d.subscription.int()?, d.person.int()?),
            };
            Some((pair, m))
        })
        .collect();
    failed
        .into_iter()
        .map(|f| {
            let (s, p) = (f.subscription_id, f.person_id);
            let member = by_pair.get(&(s, p)).copied();
            let mut out = FailedMember {
                id: f.id,
                subscription_id: SubscriptionId(s),
                person_id: PersonId(p),
                card_number: None,
                name: None,
                unit_id: None,
                unit_name: None,
                cause: f.cause,
                detail: f.failure.detail,
                failed_at: f.failed_at,
                member_problem: None,
                value_today: None,
            };
            match member {
                Some(Ok(m)) => {
                    let name = [m.first_name.as_deref(), m.last_name.as_deref()]
                        .into_iter()
                        .flatten()
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.name = (!name.is_empty()).then_some(name);
                    out.card_number = m.card_number.clone();
                    out.unit_id = m.unit_id;
                    out.unit_name = m.unit_name.clone();
                    out.value_today = out
                        .cause
                        .field
                        .as_deref()
                        .and_then(|field| crate::domain::ValueToday::of(m, field));
                }
                Some(Err(d)) => out.member_problem = Some(d.to_string()),
                None => {
                    out.member_problem = Some("no longer a user of the subscription".to_string())
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digis_external_id_that_is_not_text_is_one_line() {
        use Backend::{Postgres, Sqlite};
        let found =
            |t: Option<&str>, c: Option<&str>| Some((t.map(String::from), c.map(String::from)));
        assert_eq!(
            digis_external_id_problem(Postgres, None),
            None,
            "no table yet"
        );
        for (t, c) in [
            ("text", "S"),
            ("character varying(40)", "S"),
            ("citext", "S"),
        ] {
            assert_eq!(
                digis_external_id_problem(Postgres, found(Some(t), Some(c))),
                None,
                "{t}"
            );
        }
        let line = digis_external_id_problem(Postgres, found(Some("bigint"), Some("N"))).unwrap();
        assert_eq!(
            line,
            "table digis: column external_id is bigint, the relay needs text (Digis's ids are text, like TE-000001): ALTER TABLE digis ALTER COLUMN external_id TYPE text"
        );
        let missing = digis_external_id_problem(Postgres, found(None, None)).unwrap();
        assert!(missing.contains("no column external_id"), "{missing}");
        for t in ["TEXT", "varchar(20)", "NCHAR", "CLOB", "", "BLOB"] {
            assert_eq!(
                digis_external_id_problem(Sqlite, found(Some(t), None)),
                None,
                "{t:?}"
            );
        }
        for t in [
            "INTEGER",
            "bigint",
            "REAL",
            "NUMERIC",
            "DECIMAL(10,0)",
            "CHARINT",
        ] {
            let line = digis_external_id_problem(Sqlite, found(Some(t), None))
                .unwrap_or_else(|| panic!("{t} is refused"));
            assert!(
                line.starts_with(&format!(
                    "table digis: column external_id is {t}, the relay needs TEXT"
                )),
                "{line}"
            );
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn sqlstates_are_transient_by_cause() {
        for code in [
            "08000", "08003", "08006", "08P01", "53000", "53100", "53200", "53300", "57P01",
            "57P02", "57P03", "57P05", "40001", "40P01", "55000", "55006", "55P03",
        ] {
            assert!(transient_sqlstate(code), "{code} passes");
        }
        for code in [
            // datatype mismatch (a host `digis.external_id` of type bigint), invalid text
            // representation, undefined column and table, syntax error
            "42804", "22P02", "42703", "42P01", "42601",
            // constraints: not null, foreign key, unique, check
            "23502", "23503", "23505", "23514",
            // a value too long, a raised exception, a cancelled statement, a dropped database
            "22001", "P0001", "57014", "57P04", "XX000", "",
        ] {
            assert!(!transient_sqlstate(code), "{code} repeats");
        }
    }

    #[test]
    fn sqlite_codes_are_transient_by_their_primary_code() {
        // BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED, LOCKED_SHAREDCACHE, FULL,
        // PROTOCOL
        for code in [5, 261, 517, 773, 6, 262, 13, 15] {
            assert!(transient_sqlite_code(code), "{code} passes");
        }
        // ERROR (syntax, no such table), CONSTRAINT and its FOREIGNKEY, NOTNULL, UNIQUE, CHECK,
        // MISMATCH, READONLY, CORRUPT, NOTADB
        for code in [1, 19, 787, 1299, 2067, 275, 20, 8, 11, 26] {
            assert!(!transient_sqlite_code(code), "{code} repeats");
        }
    }

    fn query(source: sqlx::Error) -> StorageError {
        StorageError::Query {
            context: "x",
            source,
        }
    }

    #[test]
    fn a_broken_connection_passes_and_our_own_refusals_do_not() {
        assert!(query(sqlx::Error::PoolTimedOut).is_transient());
        assert!(query(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())).is_transient());
        assert!(!query(sqlx::Error::RowNotFound).is_transient());
        assert!(!query(sqlx::Error::ColumnNotFound("x".into())).is_transient());
        assert!(!StorageError::Corrupt("t".into()).is_transient());
        assert!(!StorageError::Refused("r".into()).is_transient());
    }
}
