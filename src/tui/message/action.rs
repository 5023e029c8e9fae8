//! What the operator asks for, whatever key asked (the keymap says which), and the views.

/// Lines one PgUp / PgDn scrolls a text (the detail pane, the search result, the help) or
/// moves a list of groups.
pub const SCROLL_PAGE: u16 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Outbox,
    Search,
    Relays,
    Log,
    Failures,
    Stats,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Outbox,
        View::Search,
        View::Relays,
        View::Log,
        View::Failures,
        View::Stats,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Outbox => "Outbox",
            View::Search => "Search",
            View::Relays => "Relays",
            View::Log => "Log",
            View::Failures => "Failures",
            View::Stats => "Stats",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    /// The view `step` tabs to the right, round the end.
    pub fn next(self, step: usize) -> View {
        View::ALL[(self.index() + step) % View::ALL.len()]
    }
}

/// What the operator asks for. Movement means what the place makes of it: `MoveDown` moves
/// the Outbox selection, scrolls the detail pane, the search result or this help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    CloseHelp,
    NextView,
    PrevView,
    ShowView(View),
    /// Open the search box, from any view.
    Search,
    MoveUp,
    MoveDown,
    PageUp,
    PageDown,
    First,
    Last,
    NextFilter,
    PrevFilter,
    OpenDetail,
    CloseDetail,
    /// Scroll the detail beside the Outbox table (the arrows move the table's selection).
    DetailScrollUp,
    DetailScrollDown,
    /// Type into the Log view's filter box.
    EditLogFilter,
    /// Clear the Log view's text filter.
    ClearLogFilter,
    /// The next level filter of the Log view.
    NextLogLevel,
    ClearStatus,
    Retry,
    RetryAllFailed,
    Discard,
    Resend,
    SyncNow,
    TogglePause,
    /// Retry the selected (or open) failure group: counts first, then asks.
    RetryGroup,
    /// Back into the search box from its result.
    EditSearch,
    SubmitSearch,
    StopTyping,
    DeleteChar,
    ClearInput,
    /// A character typed into the search box or the log filter.
    Type(char),
    /// Answers the open question.
    Yes,
    No,
}

impl Action {
    /// A text's scroll offset after this movement; its end is not known here, so `Last` keeps
    /// it.
    pub fn scrolled(self, scroll: u16) -> u16 {
        match self {
            Action::MoveDown => scroll.saturating_add(1),
            Action::MoveUp => scroll.saturating_sub(1),
            Action::PageDown => scroll.saturating_add(SCROLL_PAGE),
            Action::PageUp => scroll.saturating_sub(SCROLL_PAGE),
            Action::First => 0,
            _ => scroll,
        }
    }

    /// A list's selection after this movement, in a list of `len` items.
    pub fn selected(self, selected: usize, len: usize) -> usize {
        let last = len.saturating_sub(1);
        let page = usize::from(SCROLL_PAGE);
        match self {
            Action::MoveDown => (selected + 1).min(last),
            Action::MoveUp => selected.saturating_sub(1),
            Action::PageDown => (selected + page).min(last),
            Action::PageUp => selected.saturating_sub(page),
            Action::First => 0,
            Action::Last => last,
            _ => selected,
        }
    }
}
