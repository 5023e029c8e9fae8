//! Wake-ups on SQLite, which has no NOTIFY: a commit by another process shows as a write to the
//! database's WAL file. The file system tells us (inotify on Linux, through the `notify` crate,
//! watching the database's folder for the database file and its `-wal`), and `PRAGMA
//! data_version` on one connection of our own confirms it: it changes exactly when another
//! connection committed a change, so a checkpoint or a write transaction that changed nothing
//! wakes nobody. Then the relays of this process are woken (`notify_waiters`), as PostgreSQL's
//! LISTEN does. Polling stays the guarantee; this is a hint.
//!
//! The relay's own commits are commits of other connections too, so they wake it as well; that
//! cannot spin: an idle round writes nothing (an empty claim commits no change), and at most
//! one look at `data_version` is taken every [`DEBOUNCE`].
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// At most one look at `data_version` this often: a busy writer's many file events become one
/// check (and the wake-up comes at most this much later).
const DEBOUNCE: Duration = Duration::from_millis(5);
/// A file event can come a moment before the commit it belongs to is visible (the WAL is
/// written before its index): when nothing changed yet, look again after these waits.
const SETTLE: [Duration; 2] = [Duration::from_millis(5), Duration::from_millis(50)];

/// A running watch; dropping it stops it.
pub(super) struct CommitWatch {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for CommitWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the database file `db` (and its WAL) and wakes `wake` on each commit of another
/// connection. Needs a tokio runtime. `Err` says why there is no watch (polling remains).
pub(super) fn start(
    db: &Path,
    opts: SqliteConnectOptions,
    wake: Arc<Notify>,
) -> Result<CommitWatch, String> {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name: OsString = db
        .file_name()
        .ok_or_else(|| format!("{} names no file", db.display()))?
        .to_os_string();
    let mut wal = name.clone();
    wal.push("-wal");
    let touched = Arc::new(Notify::new());
    let signal = touched.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let ours = event
            .paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == name || n == wal));
        if ours {
            // One stored permit: events that come while a look is taken make one more look.
            signal.notify_one();
        }
    })
    .map_err(|e| e.to_string())?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let task = tokio::spawn(confirm(opts, touched, wake));
    Ok(CommitWatch {
        _watcher: watcher,
        task,
    })
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

/// Turns file events into wake-ups, for commits only.
async fn confirm(opts: SqliteConnectOptions, touched: Arc<Notify>, wake: Arc<Notify>) {
    let mut conn = match opts.connect().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("SQLite wake-ups off (the relay polls): {e}");
            return;
        }
    };
    let mut seen = match data_version(&mut conn).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("SQLite wake-ups off (the relay polls): {e}");
            return;
        }
    };
    // A commit just before the first look would go unseen: a round finds it now.
    wake.notify_waiters();
    loop {
        touched.notified().await;
        for wait in std::iter::once(Duration::ZERO).chain(SETTLE) {
            tokio::time::sleep(wait).await;
            match data_version(&mut conn).await {
                Ok(v) if v != seen => {
                    seen = v;
                    wake.notify_waiters();
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("SQLite wake-up check failed: {e}");
                    break;
                }
            }
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}
