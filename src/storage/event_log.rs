//! `digis_event`: who did what, written in the transaction of the action itself.
use chrono::{DateTime, Utc};

use super::exec::{Db, Tx};
use super::lists::IdList;
use super::texts::EventKind;
use super::time::StoredTime;
use super::{Context as _, Result};
use crate::domain::OutboxId;

/// What an operator (or a relay pausing itself) did.
pub(crate) struct Event<'a> {
    pub kind: EventKind,
    pub actor: &'a str,
    pub detail: Option<String>,
    pub now: DateTime<Utc>,
}

impl<'a> Event<'a> {
    pub fn new(kind: EventKind, actor: &'a str, now: DateTime<Utc>) -> Event<'a> {
        Event {
            kind,
            actor,
            detail: None,
            now,
        }
    }

    pub fn with_detail(self, detail: impl Into<String>) -> Event<'a> {
        Event {
            detail: Some(detail.into()),
            ..self
        }
    }

    /// One event per outbox row, carrying the row's pair so search finds it by member.
    pub async fn record_rows(&self, db: &Db, tx: &mut Tx<'_>, ids: &[OutboxId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        db.query(db.sql().record_row_events)
            .bind(StoredTime(self.now))
            .bind(self.actor)
            .bind(self.kind.as_str())
            .bind(self.detail.as_deref())
            .bind(IdList::of(ids))
            .execute(&mut *tx)
            .await
            .ctx("recording the operator's action")?;
        Ok(())
    }

    /// An event about the whole relay (pause, resume, sync).
    pub async fn record(&self, db: &Db, tx: &mut Tx<'_>) -> Result<()> {
        db.query(db.sql().record_event)
            .bind(StoredTime(self.now))
            .bind(self.actor)
            .bind(self.kind.as_str())
            .bind(self.detail.as_deref())
            .execute(&mut *tx)
            .await
            .ctx("recording the operator's action")?;
        Ok(())
    }
}
