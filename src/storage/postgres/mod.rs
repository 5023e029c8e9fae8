//! PostgreSQL: production and scale-out. Claims use `FOR UPDATE SKIP LOCKED` so any number of
//! relays share the outbox without handing one row to two of them; inserts into the outbox
//! `pg_notify('digis_outbox')`, which a listener turns into a wake-up hint. Its statements are
//! in `sql/`; the operations it shares with SQLite are in the role modules
//! (`storage::relay_store`, ...).
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::engine::Engine;
use super::exec::{Db, Pool, Profile};
use super::{Backend, Context as _, Result, StorageError};

pub const NOTIFY_CHANNEL: &str = "digis_outbox";

pub struct PgStorage {
    db: Db,
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

static PROFILE: Profile = Profile {
    backend: Backend::Postgres,
    sql: &super::sql::POSTGRES,
    begin_write: "BEGIN",
    migrator: &PgStorage::MIGRATOR,
    superseded: PgStorage::SUPERSEDED_CHECKSUMS,
    host_schema: include_str!("../../../assets/host-schema.postgres.sql"),
    triggers: &[
        "digis_subscription_saved",
        "digis_subscription_user_added",
        "digis_outbox_notify",
    ],
};

impl PgStorage {
    /// The relay's migrations, recorded in its own table (`handshake::MIGRATIONS_TABLE`).
    pub(crate) const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
        table_name: std::borrow::Cow::Borrowed(super::handshake::MIGRATIONS_TABLE),
        ..sqlx::migrate!("./migrations/postgres")
    };
    /// (version, checksum in hex) a migration had in an earlier release whose text changed
    /// without changing what an applied database holds: a database recording one counts as
    /// having the current migration, and `migrate` records the current checksum
    /// (`storage::bookkeeping`).
    pub const SUPERSEDED_CHECKSUMS: &'static [(i64, &'static str)] =
        super::superseded::SUPERSEDED_CHECKSUMS_POSTGRES;

    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source| StorageError::Connect {
            url: crate::util::redact_db_url(url),
            source,
        };
        // ISO dates whatever the server's DateStyle, for the `::text` casts in the member
        // statements.
        let opts = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .options([("DateStyle", "ISO")]);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // A relay uses a few connections at once (claims, two completion groups, the
            // heartbeat). Opened on demand, the first use of each paid connect and TLS inside
            // a save→send (measured: 50-100 ms, the p99 of save→send); kept open, it does not.
            .min_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(connect_err)?;
        let storage = Self {
            db: Db::new(Pool::Postgres(pool.clone()), &PROFILE),
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

    /// [`schema_store`](super::schema_store)'s carry-over of the migrations table, with more
    /// superseded checksums than this binary's: the tests' way to try the mechanism.
    #[doc(hidden)]
    pub async fn carry_over_with(&self, more_superseded: &[(i64, &str)]) -> Result<()> {
        super::schema_store::carry_over(&self.db, more_superseded).await
    }
}

impl Engine for PgStorage {
    fn db(&self) -> &Db {
        &self.db
    }

    fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// LISTEN runs from the start (`start_listener`): nothing more to start for a relay.
    fn watch_commits(&self) {}

    /// NOTIFY reaches relays in other processes; this process's own wake it at once.
    async fn poke(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(NOTIFY_CHANNEL)
            .execute(&self.pool)
            .await
            .ctx("notifying relays")?;
        self.wake.notify_waiters();
        Ok(())
    }
}
