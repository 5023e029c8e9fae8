//! Domain types made once at the edge (CLI arguments, database rows) so the rest of the code
//! never re-checks raw strings or integers.
mod card;
pub mod failure;
mod ids;
mod outcome;
mod state;

pub use card::{CardNumber, CardNumberError, MAX_CARD_LEN};
pub use failure::{Failure, FailureCause, UNCONFIRMED};
pub use ids::{IdError, OutboxId, PersonId, SubscriptionId, UnitId};
pub use outcome::{AttemptOutcome, GiveBack};
pub use state::{OutboxState, RelayState, UnknownState};
