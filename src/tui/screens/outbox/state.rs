//! The Outbox table's state: the filter and the page shown.
use crate::domain::OutboxState;
use crate::storage::OutboxRow;
use crate::tui::message::Anchor;

/// Rows of chrome around the outbox table: title bar, three header lines, status line, the
/// table's two borders and its column header.
pub const TABLE_CHROME_ROWS: u16 = 8;

/// Rows that fit in the table for a terminal of `height` rows.
pub fn page_size_for(height: u16) -> u32 {
    u32::from(height.saturating_sub(TABLE_CHROME_ROWS)).max(3)
}

/// The outbox filter: one state, or every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    State(OutboxState),
}

impl Filter {
    /// The order `f` / `l` cycle through; "failed" early because that is what support opens
    /// the dashboard for.
    pub const CYCLE: [Filter; 6] = [
        Filter::All,
        Filter::State(OutboxState::Pending),
        Filter::State(OutboxState::Sending),
        Filter::State(OutboxState::Sent),
        Filter::State(OutboxState::Failed),
        Filter::State(OutboxState::Discarded),
    ];

    pub fn state(self) -> Option<OutboxState> {
        match self {
            Filter::All => None,
            Filter::State(s) => Some(s),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::State(s) => s.as_str(),
        }
    }

    pub fn next(self) -> Filter {
        let i = Self::CYCLE.iter().position(|f| *f == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }

    pub fn prev(self) -> Filter {
        let i = Self::CYCLE.iter().position(|f| *f == self).unwrap_or(0);
        Self::CYCLE[(i + Self::CYCLE.len() - 1) % Self::CYCLE.len()]
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub rows: Vec<OutboxRow>,
    pub anchor: Option<Anchor>,
    pub has_newer: bool,
    pub has_older: bool,
    pub loaded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_cycle_both_ways() {
        let mut f = Filter::All;
        for _ in 0..Filter::CYCLE.len() {
            f = f.next();
        }
        assert_eq!(f, Filter::All);
        assert_eq!(Filter::All.prev(), Filter::State(OutboxState::Discarded));
    }
}
