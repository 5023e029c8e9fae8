//! What a backend adds to the operations written once in the role modules: its [`Db`] (pool
//! and profile) and how it wakes relays. Every type that is an [`Engine`] is a whole
//! `Storage` (the blanket impls in `relay_store`, `operator_store`, `read_store` and
//! `schema_store`); `sqlite::SqliteStorage` and `postgres::PgStorage` are the two.
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;

use super::exec::Db;
use super::Result;

pub(crate) trait Engine: Send + Sync {
    fn db(&self) -> &Db;
    /// What `wakeup` hands to relays in this process.
    fn wake(&self) -> &Arc<Notify>;
    /// Wakes the relays after an operator action: those of this process at once, others as
    /// the database can tell them (PostgreSQL's NOTIFY; SQLite's commit watch sees the commit).
    fn poke(&self) -> impl Future<Output = Result<()>> + Send;
    /// Starts whatever turns other processes' commits into wake-ups (once; called by
    /// `wakeup`, so one-shot commands watch nothing).
    fn watch_commits(&self);
}
