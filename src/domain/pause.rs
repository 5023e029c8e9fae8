//! Who paused delivery, and what lifts the pause (docs/contracts.md, Digis HTTP, "self-pause").
//! `digis_control.paused_by` and `pause_reason` are stored texts, read by every relay version
//! sharing the database: a relay's own pause is `relay:<id>`, anything else a person's. The
//! words are made and read here only; storage, health and metrics hold the typed value.
use std::fmt;

use serde::{Serialize, Serializer};

/// How `paused_by` starts when a relay paused itself: relays probe and lift such a pause, while
/// a person's is left alone.
const RELAY_PREFIX: &str = "relay:";

/// How the reason of a relay's pause after an unconfirmed answer starts: unlike a configuration
/// error's, it is never probed or lifted by a relay (a probe would be another member whose SMS
/// nobody can confirm); an operator lifts it with `resume`.
pub const UNCONFIRMED_PAUSE: &str = "Digis's answer could not be confirmed";

/// Who set the pause, as `digis_control.paused_by` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PausedBy {
    /// A relay paused itself; holds its relay id.
    Relay(String),
    /// Anyone else, as stored: an operator (`user@host`, `tui:user@host`), or a word another
    /// version wrote. Relays never lift it.
    Operator(String),
}

impl PausedBy {
    pub fn relay(relay_id: impl Into<String>) -> PausedBy {
        PausedBy::Relay(relay_id.into())
    }

    /// Reads the stored text; every text reads as something, so old rows read as before.
    pub fn read(stored: &str) -> PausedBy {
        match stored.strip_prefix(RELAY_PREFIX) {
            Some(id) => PausedBy::Relay(id.to_string()),
            None => PausedBy::Operator(stored.to_string()),
        }
    }

    pub fn is_relay(&self) -> bool {
        matches!(self, PausedBy::Relay(_))
    }

    /// Every relay's own pause as an SQL `LIKE` pattern: the statements that set and lift a
    /// relay's pause leave a person's alone.
    pub fn any_relay_pattern() -> String {
        format!("{RELAY_PREFIX}%")
    }
}

/// The stored text.
impl fmt::Display for PausedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PausedBy::Relay(id) => f.pad(&format!("{RELAY_PREFIX}{id}")),
            PausedBy::Operator(who) => f.pad(who),
        }
    }
}

/// As stored: the JSON of `status --json` shows the text.
impl Serialize for PausedBy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What kind of pause is in force, which decides who may lift it and whether health fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseKind {
    /// A person's: relays leave it alone, and it is deliberate, so health does not fail.
    Operator,
    /// A relay's own after Digis rejected the configuration: relays probe it and lift it.
    ConfigError,
    /// A relay's own after an unconfirmed answer: only `resume` lifts it.
    Unconfirmed,
}

impl PauseKind {
    /// The kind of a pause set by `by` for `reason`.
    pub fn of(by: Option<&PausedBy>, reason: Option<&str>) -> PauseKind {
        if !by.is_some_and(PausedBy::is_relay) {
            PauseKind::Operator
        } else if reason.is_some_and(|r| r.starts_with(UNCONFIRMED_PAUSE)) {
            PauseKind::Unconfirmed
        } else {
            PauseKind::ConfigError
        }
    }

    pub fn by_relay(self) -> bool {
        self != PauseKind::Operator
    }
}

/// The reason of a relay's pause after an unconfirmed answer: our words only (it is logged),
/// never the answer itself.
pub fn unconfirmed_pause_reason(status: u16, why: &str) -> String {
    format!(
        "{UNCONFIRMED_PAUSE}: HTTP {status} with a body {why} (a proxy or maintenance page?); \
         nothing is sent until `resume`; rows failed as unconfirmed may have been sent"
    )
}

/// That reason as an SQL `LIKE` pattern: no relay takes that pause over or lifts it.
pub fn unconfirmed_pause_pattern() -> String {
    format!("{UNCONFIRMED_PAUSE}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored texts are a contract: every one reads back to the same text.
    #[test]
    fn paused_by_round_trips_every_text() {
        for (text, read) in [
            ("relay:r1", PausedBy::relay("r1")),
            ("relay:", PausedBy::relay("")),
            ("relay:host-1:4242", PausedBy::relay("host-1:4242")),
            ("alice@host", PausedBy::Operator("alice@host".into())),
            (
                "tui:alice@host",
                PausedBy::Operator("tui:alice@host".into()),
            ),
            // A word this version does not know is a person's, as before.
            ("scheduler", PausedBy::Operator("scheduler".into())),
            ("Relay:x", PausedBy::Operator("Relay:x".into())),
            ("", PausedBy::Operator(String::new())),
        ] {
            assert_eq!(PausedBy::read(text), read, "{text}");
            assert_eq!(read.to_string(), text);
        }
        assert_eq!(
            serde_json::to_string(&PausedBy::relay("r1")).unwrap(),
            "\"relay:r1\""
        );
        assert_eq!(PausedBy::any_relay_pattern(), "relay:%");
    }

    #[test]
    fn the_kind_follows_who_paused_and_why() {
        let relay = PausedBy::relay("r1");
        let person = PausedBy::Operator("alice@host".into());
        let unconfirmed = unconfirmed_pause_reason(200, "not JSON");
        assert!(unconfirmed.starts_with(UNCONFIRMED_PAUSE));
        let kind = |by, reason| PauseKind::of(by, reason);
        assert_eq!(
            kind(Some(&relay), Some(&unconfirmed)),
            PauseKind::Unconfirmed
        );
        assert_eq!(kind(Some(&relay), Some("HTTP 401")), PauseKind::ConfigError);
        assert_eq!(kind(Some(&relay), None), PauseKind::ConfigError);
        assert_eq!(kind(Some(&person), Some(&unconfirmed)), PauseKind::Operator);
        assert_eq!(kind(None, Some(&unconfirmed)), PauseKind::Operator);
        assert!(!PauseKind::Operator.by_relay());
        assert!(PauseKind::Unconfirmed.by_relay() && PauseKind::ConfigError.by_relay());
        assert_eq!(
            unconfirmed_pause_pattern(),
            "Digis's answer could not be confirmed%"
        );
    }
}
