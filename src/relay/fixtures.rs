//! Claimed rows for the relay's unit tests.
use chrono::Utc;

use crate::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};
use crate::storage::{ClaimedRow, OutboxRow};

/// Row `id` of person `person` in subscription `subscription`, claimed now with `token` at its
/// first attempt; no member was read with it, nothing is synced or sent.
pub fn claimed(id: i64, subscription: i64, person: i64, token: &str) -> ClaimedRow {
    let now = Utc::now();
    ClaimedRow {
        row: OutboxRow {
            id: OutboxId(id),
            subscription_id: SubscriptionId(subscription),
            person_id: PersonId(person),
            state: OutboxState::Sending,
            attempts: 1,
            next_attempt_at: now,
            locked_by: None,
            locked_until: None,
            last_error: None,
            last_http_status: None,
            external_id: None,
            created_at: now,
            sent_at: None,
            reason: None,
            resend: false,
            card_number: None,
            defect: None,
        },
        attempt_no: 1,
        claim_token: token.into(),
        member: None,
        synced: None,
        sent: None,
    }
}
