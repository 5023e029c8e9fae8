//! `4` Log: what this process logged, live (tui-logger's widget) or filtered by a text.
pub mod keys;
mod line;
mod state;
pub mod view;

pub use state::{LiveState, LogScroll, LogState, LOG_LINES_KEPT, MAX_FILTER_CHARS};

/// Rows of chrome around the Log view's lines: title bar, three header lines, status line and
/// the two borders.
pub const LOG_CHROME_ROWS: u16 = 7;

/// Log lines that fit in a terminal of `height` rows.
pub fn log_rows(height: u16) -> u16 {
    height.saturating_sub(LOG_CHROME_ROWS).max(1)
}
