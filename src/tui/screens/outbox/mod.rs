//! `1` Outbox: one page of rows (keyset paging), filtered by state.
pub mod keys;
mod state;
pub mod view;

pub use state::{page_size_for, Filter, Page, TABLE_CHROME_ROWS};
