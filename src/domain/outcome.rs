//! The words an attempt is logged under (docs/contracts.md, Sync log): the `outcome=` of the sync
//! log, `digis_attempt.outcome` and the metrics label, and the `given_back=` reason of a row
//! handed back without charging its attempt. The words are a contract; the names say what they
//! mean in code.
use std::fmt;

use serde::{Serialize, Serializer};

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

/// How `digis_attempt.outcome` marks the attempt of a row whose claim was lost meanwhile:
/// nothing was applied.
const STALE_PREFIX: &str = "stale_";

/// `digis_attempt.outcome` as recorded (and read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedOutcome {
    /// The completion applied: the row ended so.
    Applied(AttemptOutcome),
    /// The claim was lost (`stale_<outcome>`): the attempt ended so, the row did not change.
    Stale(AttemptOutcome),
    /// A word this version does not write, made safe to show.
    Other(String),
}

impl RecordedOutcome {
    /// Reads the stored word; every word reads as something.
    pub fn read(word: &str) -> RecordedOutcome {
        let known = |w: &str| AttemptOutcome::ALL.into_iter().find(|o| o.as_str() == w);
        if let Some(o) = known(word) {
            return RecordedOutcome::Applied(o);
        }
        match word.strip_prefix(STALE_PREFIX).and_then(known) {
            Some(o) => RecordedOutcome::Stale(o),
            None => RecordedOutcome::Other(crate::sanitize::for_display(word)),
        }
    }
}

/// The stored word.
impl fmt::Display for RecordedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordedOutcome::Applied(o) => f.pad(o.as_str()),
            RecordedOutcome::Stale(o) => f.pad(&format!("{STALE_PREFIX}{o}")),
            RecordedOutcome::Other(word) => f.pad(word),
        }
    }
}

/// As stored: search's JSON shows the word.
impl Serialize for RecordedOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    /// Digis answered a 2xx that confirms nothing (docs/contracts.md, Digis HTTP): the relay
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

    /// The words are the sync log's, `digis_attempt`'s and the metrics' contract; each
    /// completion has its own (`Completion::outcome`).
    #[test]
    fn the_words_are_the_contract_and_agree_with_storage() {
        let words: Vec<&str> = AttemptOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(words, ["sent", "retry", "failed", "discarded", "paused"]);
        let now = chrono::Utc::now();
        let outcomes: Vec<&str> = [
            Completion::Sent { external_id: None },
            Completion::Retry {
                next_attempt_at: now,
            },
            Completion::Failed {
                cause: crate::domain::FailureCause::other(),
            },
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

    /// What `digis_attempt.outcome` holds reads back to itself, a lost claim's word too, and a
    /// word another version wrote falls back to itself, made safe for a terminal.
    #[test]
    fn recorded_outcomes_round_trip() {
        for o in AttemptOutcome::ALL {
            let applied = RecordedOutcome::read(o.as_str());
            assert_eq!(applied, RecordedOutcome::Applied(o));
            assert_eq!(applied.to_string(), o.as_str());
            let stale = format!("stale_{o}");
            assert_eq!(RecordedOutcome::read(&stale), RecordedOutcome::Stale(o));
            assert_eq!(RecordedOutcome::Stale(o).to_string(), stale);
        }
        for word in ["queued", "stale_", "stale_queued", "Sent", ""] {
            assert_eq!(
                RecordedOutcome::read(word),
                RecordedOutcome::Other(word.into()),
                "{word}"
            );
            assert_eq!(RecordedOutcome::read(word).to_string(), word);
        }
        let odd = RecordedOutcome::read("sent\u{1b}[2J");
        assert!(!odd.to_string().contains('\u{1b}'), "{odd:?}");
        assert_eq!(
            serde_json::to_string(&RecordedOutcome::Stale(AttemptOutcome::Sent)).unwrap(),
            "\"stale_sent\""
        );
    }
}
