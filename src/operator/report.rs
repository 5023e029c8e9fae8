//! What each operator action did, and the one wording of it that the CLI prints and the
//! dashboard shows in its status line.
use std::fmt;

use super::Reason;
use crate::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};
use crate::storage::FailureGroupKey;

/// A report of an operator action: its wording (`Display`) and whether it did all that was
/// asked. The CLI exits 2 when it did not; the dashboard shows it as an error.
pub trait Report: fmt::Display {
    fn succeeded(&self) -> bool {
        true
    }
}

/// `retry` of chosen rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryReport {
    /// The ids as given, in order (a repeated id counts twice, as it did on the command line).
    pub asked: Vec<OutboxId>,
    /// The rows that went back to `pending`, due now.
    pub changed: Vec<OutboxId>,
    /// Rows left alone because their last answer was unconfirmed and the operator did not
    /// confirm: Digis may have sent their SMS.
    pub unconfirmed: Vec<OutboxId>,
}

/// Why `retry` leaves a row alone; the storage layer applies the rule, this says it.
const RETRY_REFUSED: &str = "being sent, already sent, or another row for that member is waiting";

/// Why `retry` leaves a row with an unconfirmed answer alone, and how to retry it anyway.
const UNCONFIRMED_REFUSED: &str = "Digis's answer to it confirmed nothing (cause unconfirmed), so \
     it may have been sent and a retry may send a second SMS: check in Digis, then retry with \
     confirmation (`retry --yes`)";

impl RetryReport {
    /// Left alone for the usual reasons (not for an unconfirmed answer).
    pub fn skipped(&self) -> Vec<OutboxId> {
        left_alone(&self.asked, &self.changed)
            .into_iter()
            .filter(|i| !self.unconfirmed.contains(i))
            .collect()
    }
}

impl Report for RetryReport {
    fn succeeded(&self) -> bool {
        self.changed.len() == self.asked.len()
    }
}

impl fmt::Display for RetryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.one_row() {
            Some((id, true)) => write!(f, "row {id} queued again, due now"),
            Some((id, false)) if self.unconfirmed.contains(&id) => {
                write!(f, "row {id} left alone: {UNCONFIRMED_REFUSED}")
            }
            Some((id, false)) => write!(f, "row {id} left alone: {RETRY_REFUSED}, or no such row"),
            None => {
                write!(
                    f,
                    "queued {} of {} row(s) again{}",
                    self.changed.len(),
                    self.asked.len(),
                    skipped_clause(&self.skipped(), RETRY_REFUSED)
                )?;
                if !self.unconfirmed.is_empty() {
                    write!(
                        f,
                        "; left alone ({UNCONFIRMED_REFUSED}): {}",
                        join_ids(&self.unconfirmed)
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl RetryReport {
    fn one_row(&self) -> Option<(OutboxId, bool)> {
        one_row(&self.asked, &self.changed)
    }
}

/// `retry --all-failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAllReport {
    pub queued: u64,
    /// Failed rows left alone because their last answer was unconfirmed and the operator did
    /// not confirm.
    pub unconfirmed_left: u64,
}

impl Report for RetryAllReport {
    fn succeeded(&self) -> bool {
        self.unconfirmed_left == 0
    }
}

impl fmt::Display for RetryAllReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed row(s) queued again, due now", self.queued)?;
        if self.unconfirmed_left > 0 {
            write!(
                f,
                "; {} left alone: Digis's answer to them confirmed nothing (cause unconfirmed), so \
                 they may have been sent and a retry may send a second SMS: check in Digis, then \
                 retry with confirmation (`retry --all-failed --yes`)",
                self.unconfirmed_left
            )?;
        }
        Ok(())
    }
}

/// A failure group as people name it: `unit 2 · MobileNumber: not a mobile number for region SE`.
/// The cause may quote Digis: for the dashboard and the report, not for logs.
pub fn group_label(group: &FailureGroupKey, unit_name: Option<&str>) -> String {
    let unit = match (group.unit_id, unit_name) {
        (Some(id), Some(name)) => format!("{name} (unit {id})"),
        (Some(id), None) => format!("unit {id}"),
        (None, _) => "no unit".to_string(),
    };
    crate::sanitize::for_display(&format!("{unit} · {}", group.cause))
}

/// The dry run of a group retry: what the y/n question states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDryRun {
    pub group: FailureGroupKey,
    /// Rows the retry would put back now.
    pub would_queue: u64,
}

impl fmt::Display for GroupDryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} row(s) of {} would go back to pending, due now",
            self.would_queue,
            group_label(&self.group, None)
        )
    }
}

/// A group retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRetryReport {
    pub group: FailureGroupKey,
    /// The rows now `pending`, due now.
    pub queued: Vec<OutboxId>,
}

impl Report for GroupRetryReport {
    fn succeeded(&self) -> bool {
        !self.queued.is_empty()
    }
}

impl fmt::Display for GroupRetryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = group_label(&self.group, None);
        if self.queued.is_empty() {
            write!(
                f,
                "nothing put back from {group}: its rows were retried or changed meanwhile"
            )
        } else {
            write!(
                f,
                "{} row(s) back to pending, due now ({group})",
                self.queued.len()
            )
        }
    }
}

/// `discard` of chosen rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardReport {
    pub asked: Vec<OutboxId>,
    /// The rows now `discarded`, which will not be sent.
    pub changed: Vec<OutboxId>,
    pub reason: Reason,
}

const DISCARD_REFUSED: &str = "not pending or failed";

impl DiscardReport {
    pub fn skipped(&self) -> Vec<OutboxId> {
        left_alone(&self.asked, &self.changed)
    }
}

impl Report for DiscardReport {
    fn succeeded(&self) -> bool {
        self.changed.len() == self.asked.len()
    }
}

impl fmt::Display for DiscardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match one_row(&self.asked, &self.changed) {
            Some((id, true)) => write!(f, "row {id} discarded: it will not be sent"),
            Some((id, false)) => {
                write!(f, "row {id} left alone: {DISCARD_REFUSED}, or no such row")
            }
            None => write!(
                f,
                "discarded {} of {} row(s){}",
                self.changed.len(),
                self.asked.len(),
                skipped_clause(&self.skipped(), DISCARD_REFUSED)
            ),
        }
    }
}

/// `resend`: the rows queued, or why none was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendReport {
    Queued(Vec<OutboxId>),
    NothingQueued(NothingQueued),
}

/// Why `resend` queued nothing, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NothingQueued {
    NoSuchSubscription(SubscriptionId),
    NotAUser(SubscriptionId, PersonId),
    AlreadyWaiting(SubscriptionId, PersonId),
    NoUsers(SubscriptionId),
    AllWaiting(SubscriptionId),
}

impl Report for ResendReport {
    fn succeeded(&self) -> bool {
        matches!(self, ResendReport::Queued(_))
    }
}

impl fmt::Display for ResendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResendReport::Queued(ids) => write!(
                f,
                "queued {} row(s) to send again: {}",
                ids.len(),
                join_ids(ids)
            ),
            ResendReport::NothingQueued(why) => write!(f, "nothing queued: {why}"),
        }
    }
}

impl fmt::Display for NothingQueued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NothingQueued::NoSuchSubscription(s) => write!(f, "there is no subscription {s}"),
            NothingQueued::NotAUser(s, p) => {
                write!(f, "person {p} is not a user of subscription {s}")
            }
            NothingQueued::AlreadyWaiting(s, p) => write!(
                f,
                "a row for person {p} of subscription {s} is already waiting to be sent"
            ),
            NothingQueued::NoUsers(s) => write!(f, "subscription {s} has no users"),
            NothingQueued::AllWaiting(s) => write!(
                f,
                "every user of subscription {s} already has a row waiting to be sent"
            ),
        }
    }
}

/// `pause`. How to undo it differs per screen (a command, a key), so each front end adds that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseReport {
    pub reason: Reason,
}

impl Report for PauseReport {}

impl fmt::Display for PauseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "paused: {}", self.reason)
    }
}

/// `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeReport;

impl Report for ResumeReport {}

impl fmt::Display for ResumeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("resumed: relays send again")
    }
}

/// `sync`, with or without `--reconcile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub reconcile: bool,
    /// Pending rows that were waiting for a retry and are now due.
    pub made_due: u64,
    /// Members missing from `digis` queued by the reconcile (0 without it).
    pub queued: u64,
    /// `digis` rows written back from sent outbox rows (`--restore-digis` only).
    pub restored: Option<u64>,
}

impl Report for SyncReport {}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} waiting row(s) made due now", self.made_due)?;
        if let Some(n) = self.restored {
            write!(f, "; {n} digis row(s) written back from sent outbox rows")?;
        }
        if self.reconcile {
            write!(f, "; {} missing member(s) queued", self.queued)?;
        }
        f.write_str("; relays woken")
    }
}

/// An action refused before asking the database, because the row's state rules it out (the
/// dashboard knows the state of the row it shows). The storage layer applies the same rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Retry(OutboxId, OutboxState),
    Discard(OutboxId, OutboxState),
}

impl Refusal {
    /// `None` when the row's state allows a retry.
    pub fn of_retry(id: OutboxId, state: OutboxState) -> Option<Refusal> {
        (!state.can_retry()).then_some(Refusal::Retry(id, state))
    }

    /// `None` when the row's state allows a discard.
    pub fn of_discard(id: OutboxId, state: OutboxState) -> Option<Refusal> {
        (!state.can_discard()).then_some(Refusal::Discard(id, state))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Retry(id, state) => write!(
                f,
                "row {id} is {state}: only failed, discarded or waiting rows can be retried"
            ),
            Refusal::Discard(id, state) => write!(
                f,
                "row {id} is {state}: only pending or failed rows can be discarded"
            ),
        }
    }
}

/// The asked ids that did not change, in the order asked.
fn left_alone(asked: &[OutboxId], changed: &[OutboxId]) -> Vec<OutboxId> {
    asked
        .iter()
        .filter(|i| !changed.contains(i))
        .copied()
        .collect()
}

/// A single row asked for (the dashboard always acts on one) is worded by its id.
fn one_row(asked: &[OutboxId], changed: &[OutboxId]) -> Option<(OutboxId, bool)> {
    match asked {
        [id] => Some((*id, changed.contains(id))),
        _ => None,
    }
}

fn skipped_clause(left: &[OutboxId], why: &str) -> String {
    if left.is_empty() {
        String::new()
    } else {
        format!("; left alone ({why}, or no such row): {}", join_ids(left))
    }
}

fn join_ids(ids: &[OutboxId]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<OutboxId> {
        v.iter().map(|&i| OutboxId(i)).collect()
    }

    #[test]
    fn retry_names_what_it_left_alone() {
        let r = RetryReport {
            asked: ids(&[4, 5]),
            changed: ids(&[4]),
            unconfirmed: vec![],
        };
        assert_eq!(
            r.to_string(),
            "queued 1 of 2 row(s) again; left alone (being sent, already sent, or another row for that member is waiting, or no such row): 5"
        );
        assert!(!r.succeeded());
        let r = RetryReport {
            asked: ids(&[4, 5]),
            changed: ids(&[5, 4]),
            unconfirmed: vec![],
        };
        assert_eq!(r.to_string(), "queued 2 of 2 row(s) again");
        assert!(r.succeeded());
    }

    #[test]
    fn retry_says_why_it_left_an_unconfirmed_row() {
        let r = RetryReport {
            asked: ids(&[7]),
            changed: vec![],
            unconfirmed: ids(&[7]),
        };
        let text = r.to_string();
        assert!(
            text.starts_with("row 7 left alone: Digis's answer"),
            "{text}"
        );
        assert!(
            text.contains("second SMS") && text.contains("--yes"),
            "{text}"
        );
        assert!(!r.succeeded());
        let r = RetryReport {
            asked: ids(&[4, 5, 6]),
            changed: ids(&[4]),
            unconfirmed: ids(&[6]),
        };
        let text = r.to_string();
        assert!(
            text.starts_with("queued 1 of 3 row(s) again; left alone (being sent"),
            "{text}"
        );
        assert!(text.contains("waiting, or no such row): 5;"), "{text}");
        assert!(text.ends_with("(`retry --yes`)): 6"), "{text}");
        let all = RetryAllReport {
            queued: 3,
            unconfirmed_left: 2,
        };
        assert!(!all.succeeded());
        assert!(all.to_string().contains("; 2 left alone"), "{all}");
        let all = RetryAllReport {
            queued: 3,
            unconfirmed_left: 0,
        };
        assert!(all.succeeded());
        assert_eq!(all.to_string(), "3 failed row(s) queued again, due now");
    }

    #[test]
    fn one_row_is_worded_by_its_id() {
        let r = RetryReport {
            asked: ids(&[7]),
            changed: ids(&[7]),
            unconfirmed: vec![],
        };
        assert_eq!(r.to_string(), "row 7 queued again, due now");
        let r = RetryReport {
            asked: ids(&[7]),
            changed: vec![],
            unconfirmed: vec![],
        };
        assert!(r.to_string().starts_with("row 7 left alone: being sent"));
        let d = DiscardReport {
            asked: ids(&[7]),
            changed: ids(&[7]),
            reason: Reason::clean::<&str>("x", &[]),
        };
        assert_eq!(d.to_string(), "row 7 discarded: it will not be sent");
    }

    #[test]
    fn refusals_follow_the_state_rules() {
        assert_eq!(Refusal::of_retry(OutboxId(3), OutboxState::Failed), None);
        let r = Refusal::of_retry(OutboxId(3), OutboxState::Sent).map(|r| r.to_string());
        assert_eq!(
            r.as_deref(),
            Some("row 3 is sent: only failed, discarded or waiting rows can be retried")
        );
        assert_eq!(Refusal::of_discard(OutboxId(3), OutboxState::Pending), None);
        assert!(Refusal::of_discard(OutboxId(3), OutboxState::Sent).is_some());
    }

    #[test]
    fn discard_of_several_rows() {
        let d = DiscardReport {
            asked: ids(&[1, 2, 3]),
            changed: ids(&[1]),
            reason: Reason::clean::<&str>("x", &[]),
        };
        assert_eq!(
            d.to_string(),
            "discarded 1 of 3 row(s); left alone (not pending or failed, or no such row): 2, 3"
        );
    }

    #[test]
    fn group_retry_wording() {
        use crate::domain::FailureCause;
        let group = FailureGroupKey {
            unit_id: Some(2),
            cause: FailureCause {
                field: Some("MobileNumber".into()),
                rule: "not a mobile number for region SE".into(),
            },
        };
        let r = GroupRetryReport {
            group: group.clone(),
            queued: ids(&[4, 5]),
        };
        assert_eq!(
            r.to_string(),
            "2 row(s) back to pending, due now (unit 2 · MobileNumber: not a mobile number for region SE)"
        );
        assert!(r.succeeded());
        let none = GroupRetryReport {
            group: group.clone(),
            queued: vec![],
        };
        assert!(!none.succeeded());
        assert!(none.to_string().starts_with("nothing put back"));
        assert_eq!(
            group_label(&group, Some("Stamina Väst")),
            "Stamina Väst (unit 2) · MobileNumber: not a mobile number for region SE"
        );
        let other = FailureGroupKey {
            unit_id: None,
            cause: FailureCause::other(),
        };
        assert_eq!(group_label(&other, Some("x")), "no unit · other");
        assert_eq!(
            GroupDryRun {
                group,
                would_queue: 3
            }
            .to_string(),
            "3 row(s) of unit 2 · MobileNumber: not a mobile number for region SE would go back to pending, due now"
        );
    }

    #[test]
    fn resend_and_sync_wording() {
        assert_eq!(
            ResendReport::Queued(ids(&[8, 9])).to_string(),
            "queued 2 row(s) to send again: 8, 9"
        );
        let none =
            ResendReport::NothingQueued(NothingQueued::NotAUser(SubscriptionId(863), PersonId(7)));
        assert_eq!(
            none.to_string(),
            "nothing queued: person 7 is not a user of subscription 863"
        );
        assert!(!none.succeeded());
        let s = SyncReport {
            reconcile: true,
            made_due: 2,
            queued: 1,
            restored: None,
        };
        assert_eq!(
            s.to_string(),
            "2 waiting row(s) made due now; 1 missing member(s) queued; relays woken"
        );
        let s = SyncReport {
            reconcile: false,
            ..s
        };
        assert_eq!(s.to_string(), "2 waiting row(s) made due now; relays woken");
        let s = SyncReport {
            reconcile: true,
            restored: Some(3),
            ..s
        };
        assert_eq!(
            s.to_string(),
            "2 waiting row(s) made due now; 3 digis row(s) written back from sent outbox rows; 1 missing member(s) queued; relays woken"
        );
    }
}
