//! The Failures view's keys: the groups, and a group's members.
use crate::tui::keys::{
    Binding, Key as K, Mode, Section, CLEAR_STATUS, CLOSE_DETAIL, FIRST_LAST, MOVE_SELECTION, PAGE,
    RETRY_GROUP, SCROLL, SCROLL_A_PAGE,
};
use crate::tui::message::{Action as A, View};

const RETRY: Binding = Binding::new(RETRY_GROUP, "retry the whole group (counts, then asks)");

pub const GROUPS: Section = Section::new(
    "Failures (failed rows by unit and cause)",
    &[(Some(View::Failures), Mode::Browse)],
    &[
        MOVE_SELECTION,
        Binding::new(PAGE, "move a page"),
        Binding::new(FIRST_LAST, "first / last group"),
        Binding::new(
            &[(K::Enter, A::OpenDetail)],
            "the group's members: name, card, what is wrong",
        ),
        RETRY,
        Binding::new(CLEAR_STATUS, "clear the status line"),
    ],
);

pub const MEMBERS: Section = Section::new(
    "A failure group's members",
    &[(Some(View::Failures), Mode::Detail)],
    &[
        SCROLL,
        SCROLL_A_PAGE,
        Binding::new(FIRST_LAST, "first / last member"),
        RETRY,
        Binding::new(CLOSE_DETAIL, "back to the groups"),
    ],
);

/// Both, for the hints the view draws.
pub const ALL: &[&Section] = &[&GROUPS, &MEMBERS];
