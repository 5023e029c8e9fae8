//! `6` Stats: `crate::stats`'s figures, read while shown. It has no keys of its own.
pub mod view;

/// How often the Stats view reads its figures while it is shown.
pub const STATS_REFRESH_SECS: i64 = 30;
