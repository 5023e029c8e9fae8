//! `5` Failures: failed rows grouped by business unit and cause, the fix list for each gym;
//! Enter shows a group's members (names and cards: on screen only), `r` retries a whole group.
pub mod keys;
mod state;
pub mod view;

pub use state::{FailuresState, MembersPane, FAILURES_REFRESH_SECS};
