//! The delivery snapshot: what the health rule ([`super::assess`]) judges (the pause flag, the
//! relays' heartbeats, the oldest due row, the database's time), read by one function for
//! `/healthz`, `status`, `doctor`, search and the dashboard, so that none of them can read the
//! facts differently from the others (they did: five readers, one of them without a timeout
//! on the clock, one that turned the backlog rule off by passing zeros).
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{assess, Health, Inputs};
use crate::storage::{Backend, Control, RelayInfo, Storage, StorageError};

/// Why a part of a [`Snapshot`] is missing. Cheap to clone: each surface that cannot answer
/// without the part (`status`, search, the dashboard) takes it as its own error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unread {
    #[error("the database did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// Not asked: the database did not answer the ping (the ping's part says why).
    #[error("not read: the database is unreachable")]
    Unreachable,
    #[error(transparent)]
    Failed(Arc<StorageError>),
}

impl From<StorageError> for Unread {
    fn from(e: StorageError) -> Self {
        Unread::Failed(Arc::new(e))
    }
}

/// One part of the snapshot: read, or why not.
pub type Part<T> = Result<T, Unread>;

/// Delivery as a whole at the moment it was read, each part on its own: a part that could not
/// be read leaves the others (a relay table that answers says `degraded` even when the pause
/// flag cannot be read).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub backend: Backend,
    /// The ping: whether the database answered at all.
    pub database: Part<()>,
    /// The database's time when it was read (heartbeats and due times are written in it, so
    /// ages are database time minus database time); this host's when the database did not
    /// say.
    pub now: DateTime<Utc>,
    /// The database's clock minus this host's, in milliseconds, measured with `now`: the
    /// dashboard ages what it shows on it between reads.
    pub db_offset_ms: Part<i64>,
    pub control: Part<Control>,
    pub relays: Part<Vec<RelayInfo>>,
    /// When the longest-waiting due `pending` row became due (`None`: no row is due).
    pub oldest_due_pending: Part<Option<DateTime<Utc>>>,
}

impl Snapshot {
    /// Reads the snapshot from `storage`, each step (the ping, the clock, the rest) given at
    /// most `limit` when one is set: `/healthz` answers a probe in time even when the
    /// database hangs. Nothing is logged here; a reader that fails on a missing part says
    /// why itself, the others log [`Snapshot::read_errors`].
    pub async fn read(storage: &dyn Storage, limit: Option<Duration>) -> Snapshot {
        let backend = storage.backend();
        let database = within(limit, storage.ping()).await;
        let before = Utc::now();
        let db_now = if database.is_ok() {
            within(limit, storage.db_now()).await
        } else {
            Err(Unread::Unreachable)
        };
        let after = Utc::now();
        let now = *db_now.as_ref().unwrap_or(&after);
        let db_offset_ms = db_now.map(|db| crate::clock::offset_within(before, db, after, 0));
        let (control, relays, oldest_due_pending) = if database.is_ok() {
            let parts = async {
                (
                    storage.control().await.map_err(Unread::from),
                    storage.relays().await.map_err(Unread::from),
                    storage.oldest_due_pending(now).await.map_err(Unread::from),
                )
            };
            match limit {
                None => parts.await,
                Some(d) => tokio::time::timeout(d, parts).await.unwrap_or_else(|_| {
                    (
                        Err(Unread::TimedOut(d)),
                        Err(Unread::TimedOut(d)),
                        Err(Unread::TimedOut(d)),
                    )
                }),
            }
        } else {
            (
                Err(Unread::Unreachable),
                Err(Unread::Unreachable),
                Err(Unread::Unreachable),
            )
        };
        Snapshot {
            backend,
            database,
            now,
            db_offset_ms,
            control,
            relays,
            oldest_due_pending,
        }
    }

    /// The errors of the parts that were asked for and not read (an unreachable database is
    /// said once, by its ping).
    pub fn read_errors(&self) -> impl Iterator<Item = &Unread> {
        [
            self.control.as_ref().err(),
            self.relays.as_ref().err(),
            self.oldest_due_pending.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .filter(|e| !matches!(e, Unread::Unreachable))
    }

    /// The pause flag and the relays, when every part was read (the clock may fall back to
    /// this host's); else the first part that was not. For the readers that say nothing from
    /// part of the facts (`status` and the dashboard fail as a whole, as before there was a
    /// snapshot).
    pub fn whole(&self) -> Result<(&Control, &[RelayInfo]), Unread> {
        self.database.clone()?;
        let control = self.control.as_ref().map_err(Clone::clone)?;
        let relays = self.relays.as_deref().map_err(Clone::clone)?;
        self.oldest_due_pending.clone()?;
        Ok((control, relays))
    }

    /// The pause flag and the relays: all a member's search judges by
    /// ([`Rules::for_one_member`] leaves the backlog and the clock out), so a part of those
    /// that could not be read does not fail the search, as it did not before the snapshot.
    pub fn pause_and_relays(&self) -> Result<(&Control, &[RelayInfo]), Unread> {
        let control = self.control.as_ref().map_err(Clone::clone)?;
        let relays = self.relays.as_deref().map_err(Clone::clone)?;
        Ok((control, relays))
    }

    /// Judged by `rules` at the time it was read.
    pub fn judge(&self, rules: &Rules) -> Health {
        self.judge_at(rules, self.now)
    }

    /// Judged by `rules` at `now` (database time): search judges at the time it was asked,
    /// the dashboard at the time it draws.
    pub fn judge_at(&self, rules: &Rules, now: DateTime<Utc>) -> Health {
        let (oldest_due_pending, backlog_max_age_ms) = match rules.backlog {
            Backlog::MaxAgeMs(ms) => (self.oldest_due_pending.clone().ok().flatten(), ms),
            Backlog::NotJudged => (None, 0),
        };
        assess(&Inputs {
            use_digis: rules.use_digis,
            database_reachable: self.database.is_ok(),
            control: self.control.as_ref().ok(),
            relays: self.relays.as_deref().ok(),
            oldest_due_pending,
            backlog_max_age_ms,
            max_clock_offset_ms: rules.max_clock_offset_ms,
            now,
        })
    }
}

/// How the backlog's age counts when judging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// A due row that has waited longer than this many milliseconds fails `/healthz`
    /// (`relay.backlog_max_age_ms`; 0 = never too old).
    MaxAgeMs(u64),
    /// Not judged, and not reported (`oldest_pending_age_seconds` 0): search explains one
    /// member's rows, and how old the whole backlog is says nothing about them.
    NotJudged,
}

/// The reader's settings the snapshot is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The reader's `useDigis` (the process serving `/healthz` runs a relay with it).
    pub use_digis: bool,
    pub backlog: Backlog,
    /// `relay.max_clock_offset_ms`; 0 = not judged.
    pub max_clock_offset_ms: u64,
}

impl Rules {
    /// The rules of `/healthz`, `status`, `doctor` and the dashboard: the reader's settings.
    pub fn new(use_digis: bool, backlog_max_age_ms: u64, max_clock_offset_ms: u64) -> Rules {
        Rules {
            use_digis,
            backlog: Backlog::MaxAgeMs(backlog_max_age_ms),
            max_clock_offset_ms,
        }
    }

    /// Search's rules: what holds back every delivery, as it bears on one member's rows. The
    /// backlog is not judged ([`Backlog::NotJudged`]), nor a relay's clock offset (such a
    /// relay says so as its degraded reason, which is what holds the member's rows).
    pub fn for_one_member(use_digis: bool) -> Rules {
        Rules {
            use_digis,
            backlog: Backlog::NotJudged,
            max_clock_offset_ms: 0,
        }
    }
}

async fn within<T>(
    limit: Option<Duration>,
    read: impl Future<Output = crate::storage::Result<T>>,
) -> Part<T> {
    match limit {
        None => Ok(read.await?),
        Some(d) => match tokio::time::timeout(d, read).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Unread::TimedOut(d)),
        },
    }
}
