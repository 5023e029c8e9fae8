//! The Relays view's keys.
use crate::tui::keys::{Binding, Mode, Section, FIRST_LAST, MOVE_SELECTION};
use crate::tui::message::View;

pub const LIST: Section = Section::new(
    "Relays",
    &[(Some(View::Relays), Mode::Browse)],
    &[
        MOVE_SELECTION,
        Binding::new(FIRST_LAST, "first / last relay"),
    ],
);
