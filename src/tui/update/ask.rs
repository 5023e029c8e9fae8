//! The y/n questions asked once a count comes back (a dry run): the question says how many rows
//! a yes puts back and whether it may send a second SMS.
use crate::operator::group_label;
use crate::storage::FailureGroupKey;
use crate::tui::app::{App, StatusKind};
use crate::tui::message::Effect;
use crate::tui::screens::confirm::Confirm;

/// The count of unconfirmed failed rows came back: ask y/n, saying that those may get a second
/// SMS when there are any (and then the yes retries them too).
pub(super) fn retry_all(app: &mut App, result: Result<u64, String>) {
    let unconfirmed = match result {
        Ok(n) => n,
        Err(e) => {
            app.set_status(
                StatusKind::Error,
                format!("cannot count the failed rows: {e}"),
            );
            return;
        }
    };
    let n = app
        .counts
        .map_or_else(|| "every".to_string(), |c| c.failed.to_string());
    let (question, action) = if unconfirmed == 0 {
        (
            format!("Queue {n} failed row(s) again, due now?"),
            Effect::RetryAllFailed,
        )
    } else {
        (
            format!(
                "Queue {n} failed row(s) again, due now? {unconfirmed} of them got an answer from Digis that confirmed nothing (cause unconfirmed): Digis may have sent their SMS, so this MAY SEND A SECOND SMS."
            ),
            Effect::RetryAllFailedWithUnconfirmed,
        )
    };
    app.status = None;
    app.confirm = Some(Confirm { question, action });
}

/// The dry run came back: ask y/n with its count, or say there is nothing to retry.
pub(super) fn group_retry(app: &mut App, key: FailureGroupKey, result: Result<u64, String>) {
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            app.set_status(StatusKind::Error, format!("cannot count the group: {e}"));
            return;
        }
    };
    let group = app
        .failures
        .groups
        .iter()
        .flatten()
        .find(|g| g.key == key)
        .cloned();
    let label = group_label(&key, group.as_ref().and_then(|g| g.unit_name.as_deref()));
    if n == 0 {
        app.set_status(
            StatusKind::Error,
            format!("nothing to retry in {label}: each member already has a row waiting"),
        );
        return;
    }
    let rows = group.map_or(n, |g| g.rows);
    let note = if rows > n {
        format!(" ({n} of its {rows} failed rows: the others belong to the same members or have a row waiting)")
    } else {
        String::new()
    };
    // Nothing to fix in the data: Digis may simply have sent these already.
    let advice = if key.cause.is_unconfirmed() {
        "Digis's answer to them confirmed nothing: it may have sent their SMS, so this MAY SEND A SECOND SMS. Check in Digis first."
    } else {
        "Fix the data in the membership system first."
    };
    app.status = None;
    app.confirm = Some(Confirm {
        question: format!("Retry {label}? {n} row(s) go back to pending, due now{note}. {advice}"),
        action: Effect::RetryFailureGroup(key),
    });
}
