//! Every word and sentence the storage layer writes into rows on its own account, in one
//! place: operator event kinds (`digis_event.action`) and the reason and detail texts bound
//! into the SQL.
use std::fmt;

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

/// `digis_event.detail` of a group retry: which group, as the Failures view names it. The cause
/// may hold Digis's words (shown where `digis_event` is shown, never logged).
pub fn failure_group_detail(key: &super::FailureGroupKey) -> String {
    match key.unit_id {
        Some(unit) => format!("failure group: unit {unit}, {}", key.cause),
        None => format!("failure group: no unit, {}", key.cause),
    }
}

/// `digis_outbox.reason` of a row queued by `resend`.
pub const RESEND_REASON: &str = "resend requested";

/// `digis_outbox.reason` of a row queued by `sync --reconcile`.
pub const RECONCILE_REASON: &str = "queued by sync --reconcile";

/// `digis_outbox.reason` of a failed row whose pair Digis accepted later, in outbox row `sent`
/// (the completion writes it, and migration 0011 the same words for rows failed before it).
/// Said like the relay's other discard reasons ("already sent by outbox row N"), and short,
/// as the Outbox table shows it.
pub fn superseded_reason(sent: crate::domain::OutboxId) -> String {
    format!("superseded by outbox {sent}")
}

/// `digis_event.detail` of a sync: `3 made due`, or `3 made due, 2 queued by reconcile`.
/// With `--restore-digis`: `3 made due, 2 queued by reconcile, 5 digis rows restored`.
pub fn sync_detail(made_due: u64, reconciled: Option<(u64, Option<u64>)>) -> String {
    match reconciled {
        Some((queued, None)) => format!("{made_due} made due, {queued} queued by reconcile"),
        Some((queued, Some(restored))) => format!(
            "{made_due} made due, {queued} queued by reconcile, {restored} digis rows restored"
        ),
        None => format!("{made_due} made due"),
    }
}

/// The `paused_by` of a relay's own pause, as a LIKE pattern: the statements that set and lift
/// a relay's pause leave any other (an operator's) alone.
pub fn self_pause_pattern() -> String {
    format!("{}%", crate::relay::decide::SELF_PAUSE_PREFIX)
}

/// `digis_outbox.last_error` of a row whose answer was unconfirmed, as a LIKE pattern
/// (`relay::decide::unconfirmed_text`).
pub fn unconfirmed_error_pattern() -> String {
    format!("{}: %", crate::domain::UNCONFIRMED)
}

/// The `pause_reason` of a relay's pause for an unconfirmed answer, as a LIKE pattern: no relay
/// takes that pause over or lifts it; only an operator's `resume` does.
pub fn unconfirmed_pause_pattern() -> String {
    format!("{}%", crate::relay::decide::UNCONFIRMED_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_words_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        }
        assert!("explode".parse::<EventKind>().is_err());
    }

    #[test]
    fn superseded_reason_names_the_sent_row() {
        assert_eq!(
            superseded_reason(crate::domain::OutboxId(23_456_789)),
            "superseded by outbox 23456789"
        );
    }

    #[test]
    fn sync_detail_reads_as_before() {
        assert_eq!(sync_detail(3, None), "3 made due");
        assert_eq!(
            sync_detail(3, Some((2, None))),
            "3 made due, 2 queued by reconcile"
        );
        assert_eq!(
            sync_detail(3, Some((2, Some(5)))),
            "3 made due, 2 queued by reconcile, 5 digis rows restored"
        );
    }
}
