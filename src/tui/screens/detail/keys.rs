//! The Outbox row's detail: beside the table (160 columns or more) or over it.
use crate::tui::keys::{Binding, Key as K, Mode, Section, CLOSE_DETAIL, SCROLL, SCROLL_A_PAGE};
use crate::tui::message::{Action as A, View};

const CLOSE: Binding = Binding::new(CLOSE_DETAIL, "close the detail");

/// Beside the table, which keeps the arrows.
pub const BESIDE: Section = Section::new(
    "Outbox detail beside the table (160 columns or more)",
    &[(Some(View::Outbox), Mode::Beside)],
    &[
        Binding::new(
            &[
                (K::Char('K'), A::DetailScrollUp),
                (K::Char('J'), A::DetailScrollDown),
            ],
            "scroll the detail; it follows the selection",
        ),
        CLOSE,
    ],
);

/// Over the table.
pub const OVER: Section = Section::new(
    "Outbox detail (over the table below 160 columns)",
    &[(Some(View::Outbox), Mode::Detail)],
    &[
        SCROLL,
        SCROLL_A_PAGE,
        Binding::new(
            &[(K::Char('g'), A::First), (K::Home, A::First)],
            "back to the top",
        ),
        CLOSE,
    ],
);
