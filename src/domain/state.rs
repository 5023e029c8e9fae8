use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The life of one outbox row. See ARCHITECTURE.md, Relay-owned schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Due now or waiting for a retry.
    Pending,
    /// Claimed by a relay under a lease.
    Sending,
    /// Digis accepted it.
    Sent,
    /// Needs a person: permanent rejection, bad data, or attempts exhausted.
    Failed,
    /// Must not be sent.
    Discarded,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown outbox state `{0}` (expected pending, sending, sent, failed or discarded)")]
pub struct UnknownState(pub String);

impl OutboxState {
    pub const ALL: [OutboxState; 5] = [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Sent,
        OutboxState::Failed,
        OutboxState::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Discarded => "discarded",
        }
    }

    /// Open rows are the ones a relay may still send. At most one open row per
    /// (subscription, person): the partial unique index and the triggers enforce the same set.
    pub const OPEN: [OutboxState; 2] = [OutboxState::Pending, OutboxState::Sending];
    /// States an operator may put back to `pending` with a fresh budget. A `sending` row is
    /// excluded because a relay holds it; `sent` because resend is the way to send again.
    pub const RETRYABLE: [OutboxState; 3] = [
        OutboxState::Failed,
        OutboxState::Discarded,
        OutboxState::Pending,
    ];
    /// States an operator may discard: not one a relay holds, not one already ended.
    pub const DISCARDABLE: [OutboxState; 2] = [OutboxState::Pending, OutboxState::Failed];
    /// States that `prune` may delete after the retention period.
    pub const PRUNABLE: [OutboxState; 2] = [OutboxState::Sent, OutboxState::Discarded];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    pub fn can_retry(self) -> bool {
        Self::RETRYABLE.contains(&self)
    }

    pub fn can_discard(self) -> bool {
        Self::DISCARDABLE.contains(&self)
    }
}

impl FromStr for OutboxState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutboxState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl fmt::Display for OutboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_state() {
        for st in OutboxState::ALL {
            assert_eq!(st.as_str().parse::<OutboxState>().unwrap(), st);
        }
        assert!("done".parse::<OutboxState>().is_err());
    }

    #[test]
    fn state_rules() {
        use OutboxState::*;
        let open: Vec<_> = OutboxState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .collect();
        assert_eq!(open, [Pending, Sending]);
        let retry: Vec<_> = OutboxState::ALL
            .into_iter()
            .filter(|s| s.can_retry())
            .collect();
        assert_eq!(retry, [Pending, Failed, Discarded]);
        let discard: Vec<_> = OutboxState::ALL
            .into_iter()
            .filter(|s| s.can_discard())
            .collect();
        assert_eq!(discard, [Pending, Failed]);
    }
}
