//! The operator actions: retry, retry all failed, retry a failure group (with its dry run),
//! discard, resend, pause, resume, sync and sync with reconcile. Each is one function taking the storage, who acts and already parsed
//! inputs, and returns a typed report whose `Display` is the human wording. The CLI
//! (`cli/ops.rs`) and the dashboard (`tui/effects.rs`) only parse their input and show the
//! report, so both say the same thing about the same action.
mod actions;
mod report;
mod who;

pub use crate::storage::{Reconcile, ReconcilePreview};
pub use actions::{
    discard, logged_but_unknown, pause, reconcile_preview, resend, resume, retry, retry_all_failed,
    retry_failure_group, retry_failure_group_dry_run, sync, LoggedUnknown,
};
pub use report::{
    group_label, DiscardReport, GroupDryRun, GroupRetryReport, NothingQueued, PauseReport, Refusal,
    Report, ResendReport, ResumeReport, RetryAllReport, RetryReport, SyncReport,
};
pub use who::{Actor, Reason};
