//! Effects: what `update` asks of the outside world. Every one is a database read or write (the
//! dashboard never talks to a relay directly), run off the render path by `effects::Executor`;
//! its answer comes back as a [`super::Msg`].
use crate::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};
use crate::storage::FailureGroupKey;

/// Where the shown page sits in the outbox (keyset paging, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The newest rows.
    Newest,
    /// Rows older than this id.
    Before(OutboxId),
    /// The nearest rows newer than this id.
    After(OutboxId),
    /// The oldest rows.
    Oldest,
}

/// Which row to select once a page arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    First,
    Last,
    /// This row if it is still on the page, else the same position.
    Keep(Option<OutboxId>, usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Counts, the pause flag and the relays.
    LoadStatus,
    LoadPage {
        seq: u64,
        state: Option<OutboxState>,
        anchor: Anchor,
        limit: u32,
        select: Select,
    },
    LoadDetail(OutboxId),
    /// Retry a row; left alone if its last answer was unconfirmed (it may have been sent).
    Retry(OutboxId),
    /// Retry a row whose last answer was unconfirmed: the operator confirmed it may get a
    /// second SMS.
    RetryUnconfirmed(OutboxId),
    /// How many failed rows' last answer was unconfirmed, for the retry-all question.
    DryRunRetryAllFailed,
    /// Every failed row but those whose answer was unconfirmed.
    RetryAllFailed,
    /// Every failed row, those whose answer was unconfirmed too (confirmed).
    RetryAllFailedWithUnconfirmed,
    Discard(OutboxId),
    Resend {
        subscription: SubscriptionId,
        person: PersonId,
    },
    SyncNow,
    Pause,
    Resume,
    Search(String),
    /// The Failures view's groups.
    LoadFailures,
    /// The first members of one group.
    LoadFailureMembers(FailureGroupKey),
    /// How many rows a group retry would put back now, for the y/n question.
    DryRunFailureGroup(FailureGroupKey),
    RetryFailureGroup(FailureGroupKey),
    /// The Stats view's figures.
    LoadStats,
}

impl Effect {
    /// What the dashboard logs when it runs this effect, if anything: what an operator did, by
    /// ids only. Never what was typed (a search may be a name) nor a failure cause (Digis's words
    /// may quote a member).
    pub fn log_text(&self) -> Option<String> {
        match self {
            Effect::LoadStatus
            | Effect::LoadPage { .. }
            | Effect::LoadDetail(_)
            | Effect::LoadFailures
            | Effect::LoadFailureMembers(_)
            | Effect::DryRunFailureGroup(_)
            | Effect::DryRunRetryAllFailed
            | Effect::LoadStats => None,
            Effect::Search(_) => Some("dashboard search".to_string()),
            Effect::RetryFailureGroup(key) => Some(format!(
                "dashboard action: retry failure group of unit {}",
                key.unit_id
                    .map_or_else(|| "none".to_string(), |u| u.to_string())
            )),
            other => Some(format!("dashboard action: {other:?}")),
        }
    }
}
