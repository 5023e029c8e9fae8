//! The storage layer: traits by role (like River's driver), one implementation for both
//! databases. A database's statements live in `<database>/sql/` (and its schema in
//! `migrations/<database>/`); the Rust that runs them is written once, one role a module
//! (`relay_store`, `operator_store`, `read_store`, `schema_store`), on a thin executor over
//! both databases (`exec`). Only connect, the wake-ups and the profile (BEGIN statement,
//! migrator) are in `sqlite/` and `postgres/` (ARCHITECTURE.md, Code map).
pub mod adapter;
pub mod bookkeeping;
mod decode;
mod engine;
mod event_log;
mod exec;
mod group;
pub mod handshake;
pub mod host_objects;
mod lists;
pub mod model;
mod operator_store;
pub mod postgres;
mod read_store;
mod relay_store;
mod rows;
mod schema_store;
mod sql;
pub mod sqlite;
pub mod superseded;
pub mod texts;
pub(crate) mod time;

pub use operator_store::OperatorStore;
pub use read_store::ReadStore;
pub use relay_store::RelayStore;
pub use schema_store::SchemaStore;

/// The storage traits, for a file that calls them on a concrete backend or a generic one:
/// `use crate::storage::prelude::*;` (a `dyn Storage` needs no import).
pub mod prelude {
    pub use super::{DynStorage, OperatorStore, ReadStore, RelayStore, SchemaStore, Storage};
}

use std::sync::Arc;

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

/// Everything the program needs from the database, by role: the relay's
/// ([`RelayStore`]), the operator's ([`OperatorStore`]), the reads of lists, search and
/// figures ([`ReadStore`]) and the schema's ([`SchemaStore`]). Every backend is all four
/// (`engine`); a component that needs one role may take `&dyn` that role.
pub trait Storage: RelayStore + OperatorStore + ReadStore + SchemaStore {}

impl<T: RelayStore + OperatorStore + ReadStore + SchemaStore> Storage for T {}

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
/// digits into a number (SQLite's INTEGER, REAL and NUMERIC affinities). The integration note's table may
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
