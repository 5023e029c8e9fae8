//! The y/n question in front of every destructive action.
pub mod keys;
pub mod view;

use crate::tui::message::Effect;

/// An action waiting for y/n: the effect a yes runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub action: Effect,
}
