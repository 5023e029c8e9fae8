//! The Outbox table's keys.
use crate::tui::keys::{Binding, Key as K, Mode, Section, CLEAR_STATUS, FIRST_LAST, MOVE};
use crate::tui::message::{Action as A, View};

/// Moving and filtering, with or without the detail beside the table.
pub const LIST: Section = Section::new(
    "Outbox (also with the detail beside it)",
    &[
        (Some(View::Outbox), Mode::Browse),
        (Some(View::Outbox), Mode::Beside),
    ],
    &[
        Binding::new(MOVE, "move the selection (pages at the edges)"),
        Binding::new(
            &[
                (K::PageUp, A::PageUp),
                (K::PageDown, A::PageDown),
                (K::Char(' '), A::PageDown),
            ],
            "previous / next page",
        ),
        Binding::new(FIRST_LAST, "newest / oldest rows"),
        Binding::new(
            &[
                (K::Char('f'), A::NextFilter),
                (K::Char('l'), A::NextFilter),
                (K::Right, A::NextFilter),
                (K::Char('F'), A::PrevFilter),
                (K::Char('h'), A::PrevFilter),
                (K::Left, A::PrevFilter),
            ],
            "filter: all, pending, sending, sent, failed, discarded",
        ),
    ],
);

/// The table alone on screen.
pub const TABLE: Section = Section::new(
    "Outbox table",
    &[(Some(View::Outbox), Mode::Browse)],
    &[
        Binding::new(
            &[(K::Enter, A::OpenDetail)],
            "detail: payload preview, attempts, last response",
        ),
        Binding::new(CLEAR_STATUS, "clear the status line"),
    ],
);
