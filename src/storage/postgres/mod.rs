//! PostgreSQL: production and scale-out. Claims use `FOR UPDATE SKIP LOCKED` so any number of
//! relays share the outbox without handing one row to two of them; inserts into the outbox
//! `pg_notify('digis_outbox')`, which a listener turns into a wake-up hint. Its statements are
//! in `sql/`; the methods it shares with SQLite are in `storage::core`.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::sql::Sql;
use super::texts::{self, EventKind};
use super::time::StoredTime;
use super::*;

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

impl PgStorage {
    const BACKEND: Backend = Backend::Postgres;
    const SQL: &'static Sql = &super::sql::POSTGRES;
    const BEGIN_WRITE: &'static str = "BEGIN";
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
    const HOST_SCHEMA: &'static str = include_str!("../../../assets/host-schema.postgres.sql");
    const TRIGGERS: [&'static str; 3] = [
        "digis_subscription_saved",
        "digis_subscription_user_added",
        "digis_outbox_notify",
    ];

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

super::core::storage_impl!(PgStorage, sqlx::Postgres);
