//! The Log view's keys: the live log, and its filter box.
use crate::tui::keys::{
    Binding, Key as K, Mode, Section, CLEAR_BOX, DELETE_CHAR, LEAVE_BOX, MOVE, PAGE,
};
use crate::tui::message::{Action as A, View};

const CLEAR_FILTER: Binding = Binding::new(&[(K::Esc, A::ClearLogFilter)], "clear the filter");

pub const BROWSE: Section = Section::new(
    "Log",
    &[(Some(View::Log), Mode::Browse)],
    &[
        Binding::new(MOVE, "scroll (half a page; a line in a filtered list)"),
        Binding::new(PAGE, "scroll (half a page; a page in a filtered list)"),
        // Home before g: the help shows the keys in this order.
        Binding::new(
            &[
                (K::Home, A::First),
                (K::Char('g'), A::First),
                (K::End, A::Last),
                (K::Char('G'), A::Last),
            ],
            "oldest (filtered list) / follow the newest",
        ),
        Binding::new(
            &[(K::Char('f'), A::EditLogFilter)],
            "filter: show only lines containing a text",
        ),
        Binding::new(
            &[(K::Char('l'), A::NextLogLevel)],
            "levels: all, warnings and errors, errors only",
        ),
        CLEAR_FILTER,
    ],
);

pub const BOX: Section = Section::new(
    "Log filter box",
    &[(Some(View::Log), Mode::Input)],
    &[
        Binding::new(&[(K::Enter, A::StopTyping)], "keep the filter, stop typing"),
        CLEAR_FILTER,
        LEAVE_BOX,
        DELETE_CHAR,
        CLEAR_BOX,
    ],
)
.typing("typed into the filter (q and ? too)");
