//! What an operator (or a relay lifting its own pause) did, as `digis_event.action` stores it:
//! [`EventKind`] is what this version writes, [`EventAction`] what a row holds when read back,
//! which may be a word an older or newer version wrote.
use std::fmt;

use serde::{Serialize, Serializer};

/// What an operator (or a relay lifting its own pause) did, as `digis_event.action` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Retry,
    RetryAllFailed,
    /// A group of the Failures view (one unit, one cause) queued again.
    RetryFailureGroup,
    Discard,
    Resend,
    Pause,
    Resume,
    Sync,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Retry,
        EventKind::RetryAllFailed,
        EventKind::RetryFailureGroup,
        EventKind::Discard,
        EventKind::Resend,
        EventKind::Pause,
        EventKind::Resume,
        EventKind::Sync,
    ];

    /// The word stored in `digis_event.action` (a contract: search and the dashboard read it).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Retry => "retry",
            EventKind::RetryAllFailed => "retry_all_failed",
            EventKind::RetryFailureGroup => "retry_failure_group",
            EventKind::Discard => "discard",
            EventKind::Resend => "resend",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Sync => "sync",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown operator event `{s}`"))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `digis_event.action` as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventAction {
    Known(EventKind),
    /// A word this version does not write, made safe to show.
    Other(String),
}

impl EventAction {
    /// Reads the stored word; every word reads as something.
    pub fn read(word: &str) -> EventAction {
        match word.parse() {
            Ok(kind) => EventAction::Known(kind),
            Err(_) => EventAction::Other(crate::sanitize::for_display(word)),
        }
    }
}

impl From<EventKind> for EventAction {
    fn from(kind: EventKind) -> Self {
        EventAction::Known(kind)
    }
}

/// The stored word.
impl fmt::Display for EventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventAction::Known(kind) => f.pad(kind.as_str()),
            EventAction::Other(word) => f.pad(word),
        }
    }
}

/// As stored: search's JSON shows the word.
impl Serialize for EventAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_words_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
            assert_eq!(EventAction::read(k.as_str()), EventAction::Known(k));
            assert_eq!(EventAction::read(k.as_str()).to_string(), k.as_str());
        }
        assert!("explode".parse::<EventKind>().is_err());
    }

    /// A word another version wrote reads as itself, made safe for a terminal.
    #[test]
    fn an_unknown_word_falls_back_to_other() {
        assert_eq!(
            EventAction::read("archive"),
            EventAction::Other("archive".into())
        );
        assert_eq!(EventAction::read("archive").to_string(), "archive");
        let odd = EventAction::read("x\u{1b}[2J");
        assert!(!odd.to_string().contains('\u{1b}'), "{odd:?}");
        assert_eq!(
            serde_json::to_string(&EventAction::Known(EventKind::RetryFailureGroup)).unwrap(),
            "\"retry_failure_group\""
        );
    }
}
