//! Relay rows decoded once for both databases. [`StoredRow`] bundles the sqlx bounds a row
//! must meet (its database decodes the plain types and [`StoredTime`]); times come through
//! [`StoredTime`], so SQLite's text and PostgreSQL's `timestamptz` read the same here. Host
//! columns (the ids the triggers copied, the member's card) still go through `decode`'s
//! cells, so a bad value fails its row only.
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::decode::{int, required_int, stored, text, Cell, Cells};
use super::time::StoredTime;
use super::{
    AttemptRow, Context, Control, DigisRead, DigisRow, EventRow, FailureGroup, FailureGroupKey,
    OutboxRow, OutcomeCounts, RelayInfo, Result, RowDefect, SentRow, SharedCircuit, StorageError,
};
use crate::domain::{
    EventAction, Failure, FailureCause, OutboxId, OutboxState, PausedBy, PersonId, RecordedOutcome,
    RelayState, SubscriptionId,
};

/// A row of either database, read by column name. The blanket impl holds the sqlx bounds
/// once; the decoders below need nothing else.
pub(crate) trait StoredRow: Cells {
    fn int(&self, column: &str) -> sqlx::Result<i64>;
    fn opt_int(&self, column: &str) -> sqlx::Result<Option<i64>>;
    fn int32(&self, column: &str) -> sqlx::Result<i32>;
    fn opt_int32(&self, column: &str) -> sqlx::Result<Option<i32>>;
    fn flag(&self, column: &str) -> sqlx::Result<bool>;
    fn text(&self, column: &str) -> sqlx::Result<String>;
    fn opt_text(&self, column: &str) -> sqlx::Result<Option<String>>;
    fn time(&self, column: &str) -> sqlx::Result<DateTime<Utc>>;
    fn opt_time(&self, column: &str) -> sqlx::Result<Option<DateTime<Utc>>>;
}

impl<R> StoredRow for R
where
    R: Row + Cells,
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i32: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    StoredTime: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> sqlx::Result<i64> {
        self.try_get(column)
    }
    fn opt_int(&self, column: &str) -> sqlx::Result<Option<i64>> {
        self.try_get(column)
    }
    fn int32(&self, column: &str) -> sqlx::Result<i32> {
        self.try_get(column)
    }
    fn opt_int32(&self, column: &str) -> sqlx::Result<Option<i32>> {
        self.try_get(column)
    }
    fn flag(&self, column: &str) -> sqlx::Result<bool> {
        self.try_get(column)
    }
    fn text(&self, column: &str) -> sqlx::Result<String> {
        self.try_get(column)
    }
    fn opt_text(&self, column: &str) -> sqlx::Result<Option<String>> {
        self.try_get(column)
    }
    fn time(&self, column: &str) -> sqlx::Result<DateTime<Utc>> {
        self.try_get::<StoredTime, _>(column).map(|t| t.0)
    }
    fn opt_time(&self, column: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
        self.try_get::<Option<StoredTime>, _>(column)
            .map(|t| t.map(|t| t.0))
    }
}

fn state(word: &str) -> Result<OutboxState> {
    OutboxState::from_str(word).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// One outbox row with the member's card. The triggers copy the ids from
/// `subscription_user`, so they are as untrusted as the host row: a row whose ids are not
/// whole numbers is still listed, with its defect.
pub(crate) fn outbox_row(r: &impl StoredRow) -> Result<OutboxRow> {
    let c = "reading an outbox row";
    let id = OutboxId(r.int("id").ctx(c)?);
    let (sub_cell, person_cell) = (r.id_cell("subscription_id"), r.id_cell("person_id"));
    let mut defect = None;
    let mut note = |column: &'static str, problem: &str| {
        defect.get_or_insert_with(|| {
            Box::new(RowDefect {
                outbox_id: Some(id),
                subscription: stored(&sub_cell),
                person: stored(&person_cell),
                column,
                problem: problem.to_string(),
            })
        });
    };
    let mut id_of = |column: &'static str, cell: &Cell| match int(cell.clone()) {
        Ok(Some(v)) => v,
        Ok(None) => {
            note(column, "is empty");
            0
        }
        Err(p) => {
            note(column, p);
            0
        }
    };
    let subscription_id = id_of("subscription_id", &sub_cell);
    let person_id = id_of("person_id", &person_cell);
    let card_number = text(r.cell("card_number")).unwrap_or_else(|p| {
        note("card_number", p);
        None
    });
    Ok(OutboxRow {
        id,
        subscription_id: SubscriptionId(subscription_id),
        person_id: PersonId(person_id),
        state: state(&r.text("state").ctx(c)?)?,
        attempts: r.int32("attempts").ctx(c)?,
        next_attempt_at: r.opt_time("next_attempt_at").ctx(c)?.unwrap_or_default(),
        locked_by: r.opt_text("locked_by").ctx(c)?,
        locked_until: r.opt_time("locked_until").ctx(c)?,
        last_error: r.opt_text("last_error").ctx(c)?,
        last_http_status: r.opt_int32("last_http_status").ctx(c)?,
        external_id: r.opt_text("external_id").ctx(c)?,
        created_at: r.opt_time("created_at").ctx(c)?.unwrap_or_default(),
        sent_at: r.opt_time("sent_at").ctx(c)?,
        reason: r.opt_text("reason").ctx(c)?,
        resend: r.flag("resend").ctx(c)?,
        card_number,
        defect,
    })
}

pub(crate) fn digis_row(r: &impl StoredRow) -> Result<DigisRow> {
    let c = "reading digis";
    Ok(DigisRow {
        subscription_id: SubscriptionId(r.int("subscription_id").ctx(c)?),
        person_id: PersonId(r.int("person_id").ctx(c)?),
        external_id: r.opt_text("external_id").ctx(c)?,
        synced_at: r.time("synced_at").ctx(c)?,
    })
}

/// The `digis` row of a claimed pair, or why it cannot be read. `digis` is the integration note's table: a
/// membership system that had it keeps its rows, written by its own code, so on SQLite a
/// `synced_at` in another spelling or an `external_id` stored as a number is host input too.
/// A defect fails that claimed row alone (naming the column); an error here would roll back
/// every claim that took the row, and stop the relay at it.
pub(crate) fn digis_read(r: &impl StoredRow) -> DigisRead {
    let (sub_cell, person_cell) = (r.id_cell("subscription_id"), r.id_cell("person_id"));
    let defect = |column: &'static str, problem: &str| RowDefect {
        outbox_id: None,
        subscription: stored(&sub_cell),
        person: stored(&person_cell),
        column,
        problem: problem.to_string(),
    };
    let id = |column: &'static str, cell: &Cell| {
        required_int(cell.clone()).map_err(|p| defect(column, p))
    };
    let subscription_id = SubscriptionId(id("digis.subscription_id", &sub_cell)?);
    let person_id = PersonId(id("digis.person_id", &person_cell)?);
    let external_id = match r.opt_text("external_id") {
        Ok(v) => v,
        // A number where the relay writes text reads as its digits.
        Err(_) => text(r.cell("external_id")).map_err(|p| defect("digis.external_id", p))?,
    };
    let synced_at = r.time("synced_at").map_err(|_| {
        defect(
            "digis.synced_at",
            "is not a time the relay can read (e.g. 2026-01-02T03:04:05Z)",
        )
    })?;
    Ok(DigisRow {
        subscription_id,
        person_id,
        external_id,
        synced_at,
    })
}

/// A sent outbox row of a claimed pair (the relay's own row) and its pair.
pub(crate) fn sent_row(r: &impl StoredRow) -> Result<((i64, i64), SentRow)> {
    let c = "reading sent rows of claimed pairs";
    Ok((
        (r.int("subscription_id").ctx(c)?, r.int("person_id").ctx(c)?),
        SentRow {
            outbox_id: OutboxId(r.int("id").ctx(c)?),
            external_id: r.opt_text("external_id").ctx(c)?,
            sent_at: r.time("sent_at").ctx(c)?,
        },
    ))
}

/// A (subscription, person) pair read back from a list the relay bound.
pub(crate) fn pair(r: &impl StoredRow, c: &'static str) -> Result<(SubscriptionId, PersonId)> {
    Ok((
        SubscriptionId(r.int("subscription_id").ctx(c)?),
        PersonId(r.int("person_id").ctx(c)?),
    ))
}

pub(crate) fn attempt_row(r: &impl StoredRow) -> Result<AttemptRow> {
    let c = "reading attempts";
    Ok(AttemptRow {
        outbox_id: OutboxId(r.int("outbox_id").ctx(c)?),
        attempt: r.int32("attempt").ctx(c)?,
        started_at: r.time("started_at").ctx(c)?,
        duration_ms: r.int("duration_ms").ctx(c)?,
        relay_id: r.text("relay_id").ctx(c)?,
        http_status: r.opt_int32("http_status").ctx(c)?,
        outcome: RecordedOutcome::read(&r.text("outcome").ctx(c)?),
        error: r.opt_text("error").ctx(c)?,
    })
}

pub(crate) fn event_row(r: &impl StoredRow) -> Result<EventRow> {
    let c = "reading operator events";
    Ok(EventRow {
        at: r.time("at").ctx(c)?,
        actor: r.text("actor").ctx(c)?,
        action: EventAction::read(&r.text("action").ctx(c)?),
        outbox_id: r.opt_int("outbox_id").ctx(c)?.map(OutboxId),
        subscription_id: r.opt_int("subscription_id").ctx(c)?.map(SubscriptionId),
        person_id: r.opt_int("person_id").ctx(c)?.map(PersonId),
        detail: r.opt_text("detail").ctx(c)?,
    })
}

/// A request rate as stored: thousandths of a request per second, saturating (a rate is never
/// negative or beyond `u32::MAX` requests per second, but a float must not be trusted to be).
pub(crate) fn rate_milli(per_second: f64) -> i64 {
    // `as` saturates and maps NaN to 0.
    (per_second * 1000.0).round() as i64
}

pub(crate) fn relay_info(r: &impl StoredRow) -> Result<RelayInfo> {
    let c = "reading relays";
    Ok(RelayInfo {
        relay_id: r.text("relay_id").ctx(c)?,
        hostname: r.text("hostname").ctx(c)?,
        pid: r.int("pid").ctx(c)?,
        version: r.text("version").ctx(c)?,
        started_at: r.time("started_at").ctx(c)?,
        heartbeat_at: r.time("heartbeat_at").ctx(c)?,
        state: RelayState::from(r.text("state").ctx(c)?.as_str()),
        detail: r.opt_text("detail").ctx(c)?,
        request_share: r
            .opt_int("request_share_milli")
            .ctx(c)?
            .map(|m| m as f64 / 1000.0),
        heartbeat_ms: r.opt_int("heartbeat_ms").ctx(c)?,
        // Stored in thousandths, an integer, so both databases read it back alike.
        request_rate: r
            .opt_int("request_rate_milli")
            .ctx(c)?
            .map(|m| m as f64 / 1000.0),
        clock_offset_ms: r.opt_int("clock_offset_ms").ctx(c)?,
    })
}

pub(crate) fn control(r: &impl StoredRow) -> Result<Control> {
    let c = "reading the pause flag";
    Ok(Control {
        paused: r.flag("paused").ctx(c)?,
        pause_reason: r.opt_text("pause_reason").ctx(c)?,
        paused_by: r
            .opt_text("paused_by")
            .ctx(c)?
            .as_deref()
            .map(PausedBy::read),
        paused_at: r.opt_time("paused_at").ctx(c)?,
        sync_requested_at: r.opt_time("sync_requested_at").ctx(c)?,
        circuit: SharedCircuit {
            open_until: r.opt_time("circuit_open_until").ctx(c)?,
            reason: r.opt_text("circuit_reason").ctx(c)?,
            opened_by: r.opt_text("circuit_opened_by").ctx(c)?,
            probe_by: r.opt_text("circuit_probe_by").ctx(c)?,
        },
        db_now: r.opt_time("db_now").ctx(c)?,
    })
}

/// `(state, count)` of the counts query.
pub(crate) fn state_count(r: &impl StoredRow) -> Result<(OutboxState, u64)> {
    let c = "counting outbox rows";
    Ok((state(&r.text("state").ctx(c)?)?, r.int("n").ctx(c)? as u64))
}

/// One group of the failure groups query. The unit's id and name are host values: an id that
/// cannot be read counts as no unit, a name that cannot be read as none.
pub(crate) fn failure_group(r: &impl StoredRow) -> Result<FailureGroup> {
    let c = "reading failure groups";
    Ok(FailureGroup {
        key: FailureGroupKey {
            unit_id: int(r.id_cell("unit_id")).ok().flatten(),
            cause: FailureCause::from_columns(
                r.opt_text("fail_field").ctx(c)?,
                r.opt_text("fail_rule").ctx(c)?,
            ),
        },
        unit_name: text(r.cell("unit_name")).ok().flatten(),
        rows: r.int("n").ctx(c)?.max(0) as u64,
        oldest: r.time("oldest").ctx(c)?,
        newest: r.time("newest").ctx(c)?,
    })
}

/// A failed outbox row as `failed_rows` reads it, before its member is looked up.
pub(crate) struct FailedRow {
    pub id: OutboxId,
    pub subscription_id: i64,
    pub person_id: i64,
    pub failed_at: DateTime<Utc>,
    pub failure: Failure,
    pub cause: FailureCause,
}

pub(crate) fn failed_row(r: &impl StoredRow) -> Result<FailedRow> {
    let c = "reading failed rows";
    // Ids the triggers copied from a host row: 0 when unreadable, as in `outbox_row`.
    let id_of = |column: &str| int(r.id_cell(column)).ok().flatten().unwrap_or(0);
    let last_error = r.opt_text("last_error").ctx(c)?;
    let status = r.opt_int32("last_http_status").ctx(c)?;
    Ok(FailedRow {
        id: OutboxId(r.int("id").ctx(c)?),
        subscription_id: id_of("subscription_id"),
        person_id: id_of("person_id"),
        failed_at: r.time("updated_at").ctx(c)?,
        failure: Failure::read(last_error.as_deref(), status),
        cause: FailureCause::from_columns(
            r.opt_text("fail_field").ctx(c)?,
            r.opt_text("fail_rule").ctx(c)?,
        ),
    })
}

/// One range's counts of the attempt counts query.
pub(crate) fn outcome_counts(r: &impl StoredRow) -> Result<OutcomeCounts> {
    let c = "counting attempts";
    let n = |column: &str| r.int(column).map(|n| n.max(0) as u64).ctx(c);
    Ok(OutcomeCounts {
        sent: n("sent")?,
        failed: n("failed")?,
        retried: n("retried")?,
    })
}

/// (sent at, milliseconds from queued to sent) of one sent row.
pub(crate) fn sent_delay(r: &impl StoredRow) -> Result<(DateTime<Utc>, i64)> {
    let c = "reading sent rows";
    let created = r.time("created_at").ctx(c)?;
    let sent = r.time("sent_at").ctx(c)?;
    Ok((sent, (sent - created).num_milliseconds().max(0)))
}
