//! Rows and facts for the unit tests of the timeline and the wording.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};

use super::db::{Facts, SubscriptionFacts};
use crate::domain::{
    AttemptOutcome, OutboxId, OutboxState, PersonId, RecordedOutcome, SubscriptionId,
};
use crate::storage::{AttemptRow, DigisRow, OutboxRow};

pub const SUB: SubscriptionId = SubscriptionId(863);
pub const PERSON: PersonId = PersonId(7);

/// 2026-11-28 at `h:m:s` UTC.
pub fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, h, m, s).unwrap()
}

/// A row of `PERSON` in `SUB`, queued at `created_at`.
pub fn row(id: i64, state: OutboxState, created_at: DateTime<Utc>) -> OutboxRow {
    OutboxRow {
        id: OutboxId(id),
        subscription_id: SUB,
        person_id: PERSON,
        state,
        attempts: 0,
        next_attempt_at: created_at,
        locked_by: None,
        locked_until: None,
        last_error: None,
        last_http_status: None,
        external_id: None,
        created_at,
        sent_at: None,
        reason: None,
        resend: false,
        card_number: None,
        defect: None,
    }
}

pub fn attempt(outbox_id: i64, attempt: i32, started_at: DateTime<Utc>) -> AttemptRow {
    AttemptRow {
        outbox_id: OutboxId(outbox_id),
        attempt,
        started_at,
        duration_ms: 120,
        relay_id: "r1".into(),
        http_status: Some(200),
        outcome: RecordedOutcome::Applied(AttemptOutcome::Sent),
        error: None,
    }
}

pub fn digis(synced_at: DateTime<Utc>, external_id: &str) -> DigisRow {
    DigisRow {
        subscription_id: SUB,
        person_id: PERSON,
        external_id: Some(external_id.into()),
        synced_at,
    }
}

/// The facts of a search for `SUB` that matched `PERSON` only.
pub fn facts(sub: SubscriptionFacts) -> Facts {
    Facts {
        pairs: BTreeSet::from([(SUB, PERSON)]),
        subscriptions: BTreeMap::from([(SUB, sub)]),
        persons_with_card: None,
        card_suggestions: Vec::new(),
        found: None,
        delivery: crate::health::Snapshot {
            backend: crate::storage::Backend::Sqlite,
            database: Ok(()),
            now: at(10, 0, 0),
            db_offset_ms: Ok(0),
            control: Ok(Default::default()),
            relays: Ok(Vec::new()),
            oldest_due_pending: Ok(None),
        },
    }
}
