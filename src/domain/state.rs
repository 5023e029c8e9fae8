use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The life of one outbox row. See docs/contracts.md, Relay-owned schema.
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
    /// A pair with a row in one of these states needs nothing queued: one is open, or Digis
    /// accepted the pair (a `sent` row counts as delivered even when `digis` lost the pair).
    pub const OPEN_OR_SENT: [OutboxState; 3] = [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Sent,
    ];
    /// States in which a row's last word from Digis may be an unconfirmed answer that nobody
    /// retried yet (failed by the relay, or then discarded by an operator): retrying such a
    /// row may send a second SMS, so `retry` asks first.
    pub const SETTLED_UNSENT: [OutboxState; 2] = [OutboxState::Failed, OutboxState::Discarded];
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

/// What a relay says it is doing, as its `digis_relay.state` column stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RelayState {
    Running,
    /// The pause flag is set (by an operator, or the relay's own on a 401/403).
    Paused,
    /// Digis keeps failing; the relay waits out the circuit.
    CircuitOpen,
    /// useDigis is off.
    Disabled,
    /// Shut down cleanly.
    Stopped,
    /// Running but keeps failing; the row's `detail` says why.
    Degraded,
    /// A word this version does not know (written by a newer one): shown as stored, so one
    /// odd row never fails the whole listing.
    Other(String),
}

impl RelayState {
    pub const KNOWN: [RelayState; 6] = [
        RelayState::Running,
        RelayState::Paused,
        RelayState::CircuitOpen,
        RelayState::Disabled,
        RelayState::Stopped,
        RelayState::Degraded,
    ];

    /// The stored word (a contract: `/healthz`, `status --json` and the dashboard show it).
    pub fn as_str(&self) -> &str {
        match self {
            RelayState::Running => "running",
            RelayState::Paused => "paused",
            RelayState::CircuitOpen => "circuit_open",
            RelayState::Disabled => "disabled",
            RelayState::Stopped => "stopped",
            RelayState::Degraded => "degraded",
            RelayState::Other(word) => word,
        }
    }
}

impl From<&str> for RelayState {
    fn from(word: &str) -> Self {
        RelayState::KNOWN
            .into_iter()
            .find(|s| s.as_str() == word)
            .unwrap_or_else(|| RelayState::Other(word.to_string()))
    }
}

impl FromStr for RelayState {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(RelayState::from(s))
    }
}

impl fmt::Display for RelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compared with the stored word, so readers that match on words keep reading the same.
impl PartialEq<str> for RelayState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RelayState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for RelayState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RelayState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Ok(RelayState::from(word.as_str()))
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

    #[test]
    fn relay_states_keep_their_words_and_unknown_ones_read_back() {
        for st in RelayState::KNOWN {
            assert_eq!(RelayState::from(st.as_str()), st);
        }
        let odd = RelayState::from("warming_up");
        assert_eq!(odd, RelayState::Other("warming_up".into()));
        assert_eq!(odd.as_str(), "warming_up");
        assert!(RelayState::CircuitOpen == "circuit_open");
    }
}
