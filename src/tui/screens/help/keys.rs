//! The help overlay's keys.
use crate::tui::keys::{Binding, Key as K, Mode, Section, SCROLL, SCROLL_A_PAGE};
use crate::tui::message::Action as A;

pub const HELP: Section = Section::new(
    "This help",
    &[(None, Mode::Help)],
    &[
        SCROLL,
        SCROLL_A_PAGE,
        Binding::new(
            &[
                (K::Esc, A::CloseHelp),
                (K::Char('?'), A::CloseHelp),
                (K::Char('q'), A::CloseHelp),
            ],
            "close",
        ),
    ],
);
