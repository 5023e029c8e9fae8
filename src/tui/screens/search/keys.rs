//! The Search view's keys: its result, and its box.
use crate::tui::keys::{
    Binding, Key as K, Mode, Section, CLEAR_BOX, DELETE_CHAR, LEAVE_BOX, MOVE, SCROLL_A_PAGE,
};
use crate::tui::message::{Action as A, View};

pub const RESULT: Section = Section::new(
    "Search",
    &[(Some(View::Search), Mode::Browse)],
    &[
        Binding::new(
            &[(K::Char('i'), A::EditSearch), (K::Enter, A::EditSearch)],
            "type in the search box",
        ),
        Binding::new(MOVE, "scroll the result"),
        SCROLL_A_PAGE,
        Binding::new(&[(K::Char('g'), A::First)], "back to the top"),
    ],
);

pub const BOX: Section = Section::new(
    "Search box",
    &[(Some(View::Search), Mode::Input)],
    &[
        Binding::new(&[(K::Enter, A::SubmitSearch)], "search"),
        Binding::new(&[(K::Esc, A::StopTyping)], "stop typing"),
        LEAVE_BOX,
        DELETE_CHAR,
        CLEAR_BOX,
    ],
)
.typing("typed into the box (q and ? too)");
