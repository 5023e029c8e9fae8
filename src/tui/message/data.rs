//! What the database reads bring back, as the messages carry it.
use chrono::{DateTime, Utc};

use crate::storage::{AttemptRow, Control, Counts, DigisRow, EventRow, OutboxRow, RelayInfo};

#[derive(Debug, Clone)]
pub struct StatusData {
    pub counts: Counts,
    pub control: Control,
    pub relays: Vec<RelayInfo>,
    pub oldest_due_pending: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// The database's clock minus this process's, read with the status.
    pub db_offset_ms: i64,
}

#[derive(Debug, Clone)]
pub struct PageData {
    pub rows: Vec<OutboxRow>,
    pub has_newer: bool,
    pub has_older: bool,
}

/// What the detail pane shows for one row.
#[derive(Debug, Clone)]
pub struct Detail {
    pub row: OutboxRow,
    pub attempts: Vec<AttemptRow>,
    /// What operators did to the row by hand (retry, discard, resend), oldest first.
    pub events: Vec<EventRow>,
    /// The pair's `digis` row, when Digis accepted it.
    pub synced: Option<DigisRow>,
    /// The payload that would be sent now, as (key, JSON value) in contract order, or why it
    /// cannot be built. Personal data: shown on screen only, never logged.
    pub payload: Result<Vec<(String, String)>, String>,
    /// What the field the row's last error names holds in `digis_member` now (issue 25 item
    /// 6): the value that broke the rule, or its correction. Personal data, as `payload`.
    pub value_today: Option<crate::domain::ValueToday>,
}
