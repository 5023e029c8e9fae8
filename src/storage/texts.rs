//! Every sentence the storage layer writes into rows on its own account, in one place: the
//! reason and detail texts bound into the SQL. The words of `digis_event.action` are the
//! domain's ([`EventKind`]), and so are the relay's pause texts (`domain::PausedBy`).
pub use crate::domain::EventKind;

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
    crate::domain::PausedBy::any_relay_pattern()
}

/// `digis_outbox.last_error` of a row whose answer was unconfirmed, as a LIKE pattern
/// (`relay::decide::unconfirmed_text`).
pub fn unconfirmed_error_pattern() -> String {
    format!("{}: %", crate::domain::UNCONFIRMED)
}

/// The `pause_reason` of a relay's pause for an unconfirmed answer, as a LIKE pattern: no relay
/// takes that pause over or lifts it; only an operator's `resume` does.
pub fn unconfirmed_pause_pattern() -> String {
    crate::domain::unconfirmed_pause_pattern()
}

#[cfg(test)]
mod tests {
    use super::*;

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
