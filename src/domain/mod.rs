//! Domain types made once at the edge (CLI arguments, database rows) so the rest of the code
//! never re-checks raw strings or integers.
mod adapter;
mod card;
mod event;
pub mod failure;
mod ids;
mod member;
mod outcome;
mod pause;
mod state;

pub use adapter::AdapterState;
pub use card::{CardNumber, CardNumberError, MAX_CARD_LEN};
pub use event::{EventAction, EventKind};
pub use failure::{Failure, FailureCause, UNCONFIRMED};
pub use ids::{IdError, OutboxId, PersonId, SubscriptionId, UnitId};
pub use member::{member_column, MemberRow, ValueToday, MEMBER_VIEW_COLUMNS};
pub use outcome::{AttemptOutcome, GiveBack, RecordedOutcome};
pub use pause::{
    unconfirmed_pause_pattern, unconfirmed_pause_reason, PauseKind, PausedBy, UNCONFIRMED_PAUSE,
};
pub use state::{OutboxState, RelayState, UnknownState};
