//! `2` Search: a subscription id, card, phone number, e-mail address or name in, each matching
//! member's verdict and timeline out.
pub mod keys;
mod state;
pub mod view;

pub use state::{SearchResult, SearchState};
