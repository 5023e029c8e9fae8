//! `Enter` on an Outbox row: its detail, over the table or beside it (from [`WIDE_COLUMNS`]).
pub mod keys;
mod state;
pub mod view;

pub use state::{DetailPane, WIDE_COLUMNS};
