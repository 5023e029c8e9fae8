//! SQLite: the embedded default. One writer at a time, so write transactions start with
//! `BEGIN IMMEDIATE` (a deferred transaction that later upgrades to a writer can fail with
//! SQLITE_BUSY instead of waiting), WAL so readers (the dashboard) never block the relay.
//! Its statements are in `sql/`; the operations it shares with PostgreSQL are in the role
//! modules (`storage::relay_store`, ...).
//! Commits of other processes wake a relay through a watch on the WAL file (`watch.rs`).
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::Notify;

use super::engine::Engine;
use super::exec::{Db, Pool, Profile};
use super::{Backend, Result, StorageError};

mod watch;

pub struct SqliteStorage {
    db: Db,
    pool: SqlitePool,
    wake: Arc<Notify>,
    /// How to open a connection of our own (the commit watch's).
    opts: SqliteConnectOptions,
    /// The database file, when there is one (not `:memory:`).
    file: Option<std::path::PathBuf>,
    /// Started by the first `wakeup()` (a relay), so one-shot commands watch nothing.
    watch: std::sync::Mutex<Option<watch::CommitWatch>>,
}

/// The file an `sqlite:` URL names (`None` for in-memory databases and other URLs).
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// One writer at a time: a write transaction takes the lock when it starts.
static PROFILE: Profile = Profile {
    backend: Backend::Sqlite,
    sql: &super::sql::SQLITE,
    begin_write: "BEGIN IMMEDIATE",
    migrator: &SqliteStorage::MIGRATOR,
    superseded: SqliteStorage::SUPERSEDED_CHECKSUMS,
    host_schema: include_str!("../../../assets/host-schema.sqlite.sql"),
    triggers: &[
        "digis_subscription_inserted",
        "digis_subscription_updated",
        "digis_subscription_user_added",
    ],
};

/// The pool's connections: the relay's claim, completion and heartbeat tasks and a dashboard's
/// readers each hold one at a time.
const POOL_CONNECTIONS: u32 = 8;

/// Each connection's page cache (`PRAGMA cache_size`; negative: KiB, SQLite's default is
/// 2 MiB). Every pooled connection fills its own, so at the default the caches were most of a
/// draining relay's heap (decision 0053); a page evicted is read again from the operating
/// system's file cache.
const PAGE_CACHE_SIZE: &str = "-512";

impl SqliteStorage {
    /// The relay's migrations, recorded in its own table (`handshake::MIGRATIONS_TABLE`).
    pub(crate) const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
        table_name: std::borrow::Cow::Borrowed(super::handshake::MIGRATIONS_TABLE),
        ..sqlx::migrate!("./migrations/sqlite")
    };
    /// (version, checksum in hex) a migration had in an earlier release whose text changed
    /// without changing what an applied database holds: a database recording one counts as
    /// having the current migration, and `migrate` records the current checksum
    /// (`storage::bookkeeping`).
    pub const SUPERSEDED_CHECKSUMS: &'static [(i64, &'static str)] =
        super::superseded::SUPERSEDED_CHECKSUMS_SQLITE;

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
            .foreign_keys(true)
            .pragma("cache_size", PAGE_CACHE_SIZE);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_with(opts.clone())
            .await
            .map_err(connect_err)?;
        Ok(Self {
            db: Db::new(Pool::Sqlite(pool.clone()), &PROFILE),
            pool,
            wake: Arc::new(Notify::new()),
            opts,
            file: file_of(url),
            watch: std::sync::Mutex::new(None),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// [`schema_store`](super::schema_store)'s carry-over of the migrations table, with more
    /// superseded checksums than this binary's: the tests' way to try the mechanism.
    #[doc(hidden)]
    pub async fn carry_over_with(&self, more_superseded: &[(i64, &str)]) -> Result<()> {
        super::schema_store::carry_over(&self.db, more_superseded).await
    }
}

impl Engine for SqliteStorage {
    fn db(&self) -> &Db {
        &self.db
    }

    fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Starts watching for commits of other processes (once), so an idle relay wakes within
    /// milliseconds of a save instead of at its next poll.
    fn watch_commits(&self) {
        let Some(file) = &self.file else { return };
        let Ok(mut watch) = self.watch.lock() else {
            return;
        };
        if watch.is_some() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        match watch::start(file, self.opts.clone(), self.wake.clone()) {
            Ok(w) => *watch = Some(w),
            Err(e) => tracing::warn!("SQLite wake-ups off (the relay polls): {e}"),
        }
    }

    /// Relays in this process wake at once; others find the work when they next poll.
    async fn poke(&self) -> Result<()> {
        self.wake.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pooled connection gets the smaller page cache, not only the first.
    #[tokio::test]
    async fn pooled_connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cache.db").display());
        let s = SqliteStorage::connect(&url).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = s.pool().acquire().await.unwrap();
            let size: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            assert_eq!(size.to_string(), PAGE_CACHE_SIZE);
            held.push(c);
        }
    }
}
