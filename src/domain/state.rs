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

    /// Open rows are the ones a relay may still send.
    pub fn is_open(self) -> bool {
        matches!(self, OutboxState::Pending | OutboxState::Sending)
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
}
