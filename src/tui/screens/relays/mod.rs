//! `3` Relays: one line per heartbeat row. The rows themselves are the status read's (the
//! header judges them too); this screen keeps only its selection.
pub mod keys;
pub mod view;

use crate::tui::message::Action;

/// The selection after `action` in a list of `len` relays; it does not page.
pub fn moved(selected: usize, len: usize, action: Action) -> usize {
    match action {
        Action::PageUp | Action::PageDown => selected,
        _ => action.selected(selected, len),
    }
}
