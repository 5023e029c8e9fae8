//! The y/n question's keys: in front of everything, in any view.
use crate::tui::keys::{Binding, Key as K, Mode, Section};
use crate::tui::message::Action as A;

pub const QUESTION: Section = Section::new(
    "A question (y/n)",
    &[(None, Mode::Confirm)],
    &[
        Binding::new(
            &[
                (K::Char('y'), A::Yes),
                (K::Char('Y'), A::Yes),
                (K::Enter, A::Yes),
            ],
            "yes, do it",
        ),
        Binding::new(
            &[
                (K::Char('n'), A::No),
                (K::Char('N'), A::No),
                (K::Esc, A::No),
                (K::Char('q'), A::No),
            ],
            "no: nothing changes; other keys leave it open",
        ),
    ],
);
