//! A group of completions as the statements read it: one JSON object per row, the field names
//! being the SQL's column names (`complete_rows.sql`, `record_pairs.sql`,
//! `record_attempts.sql`). The words (states, outcomes) come from the domain's rules here, so
//! the SQL spells none of them.
use serde::Serialize;

use super::model::{Completion, CompletionItem};
use super::time::to_text;
use crate::domain::RecordedOutcome;

/// One row of `complete_rows.sql`.
#[derive(Debug, Serialize)]
pub(crate) struct CompleteJson<'a> {
    id: i64,
    token: &'a str,
    state: &'static str,
    /// Retry and given back: when the row is due again; `None` keeps it.
    next_at: Option<String>,
    /// Given back: the attempt is not charged.
    refund: bool,
    /// Sent: `sent_at` and `external_id` are set (the id even when Digis gave none).
    sent: bool,
    external_id: Option<&'a str>,
    http_status: Option<i32>,
    error: Option<&'a str>,
    /// Discarded: why.
    reason: Option<&'a str>,
    /// Failed: the completion's cause, for the Failures view to group by.
    failed: bool,
    fail_field: Option<String>,
    fail_rule: Option<String>,
}

impl<'a> CompleteJson<'a> {
    pub fn of(c: &'a CompletionItem) -> Self {
        let (next_at, external_id, reason) = match &c.completion {
            Completion::Retry { next_attempt_at } | Completion::Released { next_attempt_at } => {
                (Some(to_text(*next_attempt_at)), None, None)
            }
            Completion::Sent { external_id } => (None, external_id.as_deref(), None),
            Completion::Discarded { reason } => (None, None, Some(reason.as_str())),
            Completion::Failed { .. } => (None, None, None),
        };
        let (fail_field, fail_rule) = match &c.completion {
            Completion::Failed { cause } => cause.columns(),
            _ => (None, None),
        };
        CompleteJson {
            id: c.id.0,
            token: &c.claim_token,
            state: c.completion.state().as_str(),
            next_at,
            refund: matches!(c.completion, Completion::Released { .. }),
            sent: matches!(c.completion, Completion::Sent { .. }),
            external_id,
            http_status: c.attempt.http_status,
            error: c.attempt.error.as_deref(),
            reason,
            failed: matches!(c.completion, Completion::Failed { .. }),
            fail_field,
            fail_rule,
        }
    }
}

/// One row of `record_pairs.sql`: a pair Digis accepted.
#[derive(Debug, Serialize)]
pub(crate) struct PairJson<'a> {
    subscription_id: i64,
    person_id: i64,
    external_id: Option<&'a str>,
}

impl<'a> PairJson<'a> {
    /// The pair of a `Sent` completion; `None` for any other.
    pub fn of(c: &'a CompletionItem) -> Option<Self> {
        match &c.completion {
            Completion::Sent { external_id } => Some(PairJson {
                subscription_id: c.subscription_id.0,
                person_id: c.person_id.0,
                external_id: external_id.as_deref(),
            }),
            _ => None,
        }
    }
}

/// One row of `supersede_failed.sql`: a pair Digis accepted, whose failed rows older than the
/// sent row no longer need a person.
#[derive(Debug, Serialize)]
pub(crate) struct SupersedeJson {
    subscription_id: i64,
    person_id: i64,
    sent_id: i64,
    reason: String,
}

impl SupersedeJson {
    /// The pair of a `Sent` completion; `None` for any other.
    pub fn of(c: &CompletionItem) -> Option<Self> {
        match &c.completion {
            Completion::Sent { .. } => Some(SupersedeJson {
                subscription_id: c.subscription_id.0,
                person_id: c.person_id.0,
                sent_id: c.id.0,
                reason: super::texts::superseded_reason(c.id),
            }),
            _ => None,
        }
    }
}

/// One row of `record_attempts.sql`.
#[derive(Debug, Serialize)]
pub(crate) struct AttemptJson<'a> {
    outbox_id: i64,
    attempt: i32,
    started_at: String,
    duration_ms: i64,
    relay_id: &'a str,
    http_status: Option<i32>,
    outcome: RecordedOutcome,
    error: Option<&'a str>,
}

impl<'a> AttemptJson<'a> {
    /// The attempt of `c`; one whose claim was lost is recorded as `stale_<outcome>`.
    pub fn of(c: &'a CompletionItem, applied: bool) -> Self {
        let outcome = c.completion.outcome();
        AttemptJson {
            outbox_id: c.id.0,
            attempt: c.attempt_no,
            started_at: to_text(c.attempt.started_at),
            duration_ms: c.attempt.duration_ms,
            relay_id: &c.attempt.relay_id,
            http_status: c.attempt.http_status,
            outcome: if applied {
                RecordedOutcome::Applied(outcome)
            } else {
                RecordedOutcome::Stale(outcome)
            },
            error: c.attempt.error.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAX_COMPLETION_GROUP_ROWS;
    use crate::domain::{OutboxId, PersonId, SubscriptionId};
    use crate::storage::lists::json_chunks;
    use crate::storage::AttemptRecord;
    use chrono::{TimeZone, Utc};

    /// The largest group the configuration allows, each row sent with a long external id,
    /// binds as one statement of each kind (decision 0060): with the 12 KiB cut a default group
    /// of 100 was two statements of each.
    #[test]
    fn the_largest_completion_group_binds_as_one_statement_of_each_kind() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 21, 0, 0).unwrap();
        let items: Vec<CompletionItem> = (0..i64::from(MAX_COMPLETION_GROUP_ROWS))
            .map(|i| CompletionItem {
                id: OutboxId(10_000_000 + i),
                claim_token: uuid::Uuid::new_v4().to_string(),
                subscription_id: SubscriptionId(20_000_000 + i),
                person_id: PersonId(30_000_000 + i),
                attempt_no: 1,
                completion: Completion::Sent {
                    external_id: Some(format!("TE-{i:020}")),
                },
                attempt: AttemptRecord {
                    started_at: at,
                    duration_ms: 12_345,
                    relay_id: "relay-on-a-host-with-a-long-name.example.org".into(),
                    http_status: Some(200),
                    error: None,
                },
            })
            .collect();
        let one = |n: usize, what: &str| assert_eq!(n, 1, "{what}: statements for the group");
        one(
            json_chunks(items.iter().map(CompleteJson::of))
                .unwrap()
                .len(),
            "completion",
        );
        one(
            json_chunks(items.iter().map(|c| AttemptJson::of(c, true)))
                .unwrap()
                .len(),
            "attempts",
        );
        one(
            json_chunks(items.iter().filter_map(PairJson::of))
                .unwrap()
                .len(),
            "pairs",
        );
    }
}
