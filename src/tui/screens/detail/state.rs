//! The detail pane's state: which row, what was read of it, how far it is scrolled.
use crate::domain::OutboxId;
use crate::tui::message::Detail;

/// From this many columns on, the Outbox row's detail sits beside the table instead of over it:
/// the table keeps its 80 columns and the detail gets as many.
pub const WIDE_COLUMNS: u16 = 160;

#[derive(Debug, Clone)]
pub struct DetailPane {
    pub id: OutboxId,
    pub data: Option<Result<Detail, String>>,
    pub scroll: u16,
}

impl DetailPane {
    /// A pane for row `id`, not read yet.
    pub fn new(id: OutboxId) -> DetailPane {
        DetailPane {
            id,
            data: None,
            scroll: 0,
        }
    }
}
