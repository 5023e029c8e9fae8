//! The words an attempt is logged under (ARCHITECTURE.md, Sync log): the `outcome=` of the sync
//! log, `digis_attempt.outcome` and the metrics label, and the `given_back=` reason of a row
//! handed back without charging its attempt. The words are a contract; the names say what they
//! mean in code.
use std::fmt;

/// How an attempt ended, as the one word the sync log and `digis_attempt` carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    Sent,
    Retry,
    Failed,
    Discarded,
    /// The row was given back (see [`GiveBack`]). The word is `paused` for history: the sync
    /// log's readers already grep for it.
    GivenBack,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 5] = [
        AttemptOutcome::Sent,
        AttemptOutcome::Retry,
        AttemptOutcome::Failed,
        AttemptOutcome::Discarded,
        AttemptOutcome::GivenBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Discarded => "discarded",
            AttemptOutcome::GivenBack => "paused",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the relay gave a claimed row back (`Completion::Released` or `Storage::release`: back to
/// `pending`, attempt not charged). Not the row's fault, and not always a pause: the sync log's
/// `given_back=` field tells them apart on the lines that say `outcome=paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveBack {
    /// The relay is stopping: the row was claimed but not sent yet.
    Shutdown,
    /// Digis answered this batch with a configuration error (3xx/401/403/404): the relay paused
    /// itself, and this row waits for the configuration to be fixed.
    ConfigError,
    /// The circuit is open: Digis keeps failing, so no request goes out.
    CircuitOpen,
    /// The database refuses completions: an answer could not be recorded, so none is asked for.
    DatabaseDown,
    /// An operator paused the relays while the row waited in the relay's buffer.
    Paused,
    /// Digis answered a 2xx that confirms nothing (ARCHITECTURE.md, Digis HTTP): the relay
    /// paused itself, and no request starts after that answer.
    Unconfirmed,
}

impl GiveBack {
    pub const ALL: [GiveBack; 6] = [
        GiveBack::Shutdown,
        GiveBack::ConfigError,
        GiveBack::CircuitOpen,
        GiveBack::DatabaseDown,
        GiveBack::Paused,
        GiveBack::Unconfirmed,
    ];

    /// One token, for the sync log's `given_back=` field.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveBack::Shutdown => "shutdown",
            GiveBack::ConfigError => "config_error",
            GiveBack::CircuitOpen => "circuit_open",
            GiveBack::DatabaseDown => "database_down",
            GiveBack::Paused => "paused",
            GiveBack::Unconfirmed => "unconfirmed",
        }
    }
}

impl fmt::Display for GiveBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Completion;

    /// The words are the sync log's and `digis_attempt`'s contract; storage writes its own copy
    /// (`Completion::outcome`), which must agree.
    #[test]
    fn the_words_are_the_contract_and_agree_with_storage() {
        let words: Vec<&str> = AttemptOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(words, ["sent", "retry", "failed", "discarded", "paused"]);
        assert_eq!(words, crate::metrics::OUTCOMES);
        let now = chrono::Utc::now();
        let outcomes: Vec<&str> = [
            Completion::Sent { external_id: None },
            Completion::Retry {
                next_attempt_at: now,
            },
            Completion::Failed,
            Completion::Discarded { reason: "r".into() },
            Completion::Released {
                next_attempt_at: now,
            },
        ]
        .iter()
        .map(|c| c.outcome().as_str())
        .collect();
        assert_eq!(outcomes, words, "each completion has its own word");
        for g in GiveBack::ALL {
            let w = g.as_str();
            assert!(!w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
