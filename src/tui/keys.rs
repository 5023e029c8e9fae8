//! Keys as data: a [`Key`], the places it works in ([`Mode`] in a [`View`]), and [`Section`]s of
//! [`Binding`]s, each with the words the help overlay shows for it. Each screen writes its own
//! sections (`screens/*/keys.rs`) from the shared runs of keys named here once; `keymap.rs`
//! lists them all in the help's order and resolves a press against them.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::message::{Action, View};
// Short names keep the runs below readable.
use Action as A;
use Key as K;

/// A key as the keymap names it. Modifiers are ignored except Ctrl on a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
}

impl Key {
    /// The key of a press, or None for keys the dashboard never uses (F1, Insert, ...).
    pub fn of(event: KeyEvent) -> Option<Key> {
        Some(match event.code {
            KeyCode::Char(c) if event.modifiers.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Backspace => Key::Backspace,
            _ => return None,
        })
    }

    /// A press of this key, for tests and scripts.
    pub fn event(self) -> KeyEvent {
        let plain = |code| KeyEvent::new(code, KeyModifiers::NONE);
        match self {
            Key::Char(c) => plain(KeyCode::Char(c)),
            Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            Key::Up => plain(KeyCode::Up),
            Key::Down => plain(KeyCode::Down),
            Key::Left => plain(KeyCode::Left),
            Key::Right => plain(KeyCode::Right),
            Key::PageUp => plain(KeyCode::PageUp),
            Key::PageDown => plain(KeyCode::PageDown),
            Key::Home => plain(KeyCode::Home),
            Key::End => plain(KeyCode::End),
            Key::Enter => plain(KeyCode::Enter),
            Key::Esc => plain(KeyCode::Esc),
            Key::Tab => plain(KeyCode::Tab),
            Key::BackTab => KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
            Key::Backspace => plain(KeyCode::Backspace),
        }
    }

    /// The key as the help overlay writes it; never contains a space.
    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "Shift-Tab".into(),
            Key::Backspace => "Backspace".into(),
        }
    }
}

/// Who takes the keys besides the view: a dialog, the help, the search box or the detail pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The view itself: the Outbox table, the search result, the relays, the log.
    Browse,
    /// A pane over the view's list is open: the Outbox row's detail, a failure group's members.
    Detail,
    /// The Outbox row's detail is open beside the table (a wide terminal): the table keeps the
    /// keys and the detail follows its selection.
    Beside,
    /// Typing into the search box or the log filter: characters no binding takes are typed.
    Input,
    /// A y/n question is open.
    Confirm,
    /// The help overlay is open.
    Help,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Browse,
        Mode::Detail,
        Mode::Beside,
        Mode::Input,
        Mode::Confirm,
        Mode::Help,
    ];

    /// Whether this mode can occur in `view`: detail panes belong to the Outbox and Failures,
    /// input boxes to Search and the Log.
    pub fn occurs_in(self, view: View) -> bool {
        match self {
            Mode::Detail => matches!(view, View::Outbox | View::Failures),
            Mode::Beside => view == View::Outbox,
            Mode::Input => matches!(view, View::Search | View::Log),
            Mode::Browse | Mode::Confirm | Mode::Help => true,
        }
    }
}

/// Where the keys go right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub view: View,
    pub mode: Mode,
}

impl Context {
    /// Every context the dashboard can be in.
    pub fn all() -> impl Iterator<Item = Context> {
        View::ALL.into_iter().flat_map(|view| {
            Mode::ALL
                .into_iter()
                .filter(move |m| m.occurs_in(view))
                .map(move |mode| Context { view, mode })
        })
    }
}

/// A place keys work in: one view or any view (`None`), in one mode.
pub type Place = (Option<View>, Mode);

/// One help line: keys and the actions they ask for, described together ("↑ k / ↓ j").
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    pub help: &'static str,
}

impl Binding {
    pub const fn new(keys: &'static [(Key, Action)], help: &'static str) -> Binding {
        Binding { keys, help }
    }

    /// The keys as the help writes them: keys for the same action separated by a space, one
    /// action from the next by " / ", so the text can say "previous / next page".
    pub fn label(&self) -> String {
        let mut groups: Vec<(Action, Vec<String>)> = Vec::new();
        for (key, action) in self.keys {
            match groups.iter_mut().find(|(a, _)| a == action) {
                Some((_, labels)) => labels.push(key.label()),
                None => groups.push((*action, vec![key.label()])),
            }
        }
        groups
            .iter()
            .map(|(_, labels)| labels.join(" "))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Keys that work in the same places, shown under one heading in the help.
#[derive(Debug)]
pub struct Section {
    pub title: &'static str,
    pub places: &'static [Place],
    pub bindings: &'static [Binding],
    /// Set when characters no binding takes are typed ([`Action::Type`]); the help line for them.
    pub typing: Option<&'static str>,
}

impl Section {
    pub const fn new(
        title: &'static str,
        places: &'static [Place],
        bindings: &'static [Binding],
    ) -> Section {
        Section {
            title,
            places,
            bindings,
            typing: None,
        }
    }

    /// The same section, typing the characters no binding takes; `help` says so in the help.
    pub const fn typing(self, help: &'static str) -> Section {
        Section {
            typing: Some(help),
            ..self
        }
    }

    pub fn applies(&self, ctx: Context) -> bool {
        self.places
            .iter()
            .any(|(view, mode)| *mode == ctx.mode && view.is_none_or(|v| v == ctx.view))
    }

    pub fn entries(&self) -> impl Iterator<Item = (Key, Action)> + '_ {
        self.bindings.iter().flat_map(|b| b.keys.iter().copied())
    }
}

/// What a key press asks for in `ctx`, if anything, by `sections`.
pub fn resolve(sections: &[&Section], ctx: Context, event: KeyEvent) -> Option<Action> {
    let key = Key::of(event)?;
    let applying = || sections.iter().filter(move |s| s.applies(ctx));
    let bound = |key: Key| {
        applying()
            .flat_map(|s| s.entries())
            .find_map(|(k, action)| (k == key).then_some(action))
    };
    if let Some(action) = bound(key) {
        return Some(action);
    }
    let typing = applying().any(|s| s.typing.is_some());
    match key {
        Key::Char(c) if typing => Some(Action::Type(c)),
        // Outside the search box Ctrl never mattered on a character (Ctrl-R retries like R);
        // kept so, in the box a Ctrl-character is not typed.
        Key::Ctrl(c) if !typing => bound(Key::Char(c)),
        _ => None,
    }
}

/// `"Enter detail · r retry"`: each action's first key in `ctx` by `sections`, looked up so a
/// hint cannot name a key the keymap does not bind. An action without a key there is left out.
pub fn hint(sections: &[&Section], ctx: Context, words: &[(Action, &str)]) -> String {
    let key_for = |action: Action| {
        sections
            .iter()
            .filter(|s| s.applies(ctx))
            .flat_map(|s| s.entries())
            .find_map(|(k, a)| (a == action).then_some(k))
    };
    words
        .iter()
        .filter_map(|(a, w)| key_for(*a).map(|k| format!("{} {w}", k.label())))
        .collect::<Vec<_>>()
        .join(" · ")
}

// The runs of keys several places bind, named once.

/// `↑ k / ↓ j`.
pub const MOVE: &[(Key, Action)] = &[
    (K::Up, A::MoveUp),
    (K::Char('k'), A::MoveUp),
    (K::Down, A::MoveDown),
    (K::Char('j'), A::MoveDown),
];
/// `PgUp / PgDn`.
pub const PAGE: &[(Key, Action)] = &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)];
/// `g Home / G End`.
pub const FIRST_LAST: &[(Key, Action)] = &[
    (K::Char('g'), A::First),
    (K::Home, A::First),
    (K::Char('G'), A::Last),
    (K::End, A::Last),
];
/// `Esc Enter`, closing a pane.
pub const CLOSE_DETAIL: &[(Key, Action)] = &[(K::Esc, A::CloseDetail), (K::Enter, A::CloseDetail)];
pub const CLEAR_STATUS: &[(Key, Action)] = &[(K::Esc, A::ClearStatus)];
pub const RETRY_GROUP: &[(Key, Action)] = &[(K::Char('r'), A::RetryGroup)];

/// Where browsing keys work: in every view, whether a pane is open or not.
pub const BROWSING: &[Place] = &[
    (None, Mode::Browse),
    (None, Mode::Detail),
    (None, Mode::Beside),
];

/// Scrolling a text (a pane, the help) by lines and pages.
pub const SCROLL: Binding = Binding::new(MOVE, "scroll");
pub const SCROLL_A_PAGE: Binding = Binding::new(PAGE, "scroll a page");
pub const MOVE_SELECTION: Binding = Binding::new(MOVE, "move the selection");

// Every input box (the search box, the log filter) ends with these.
pub const LEAVE_BOX: Binding = Binding::new(
    &[(K::Tab, A::NextView), (K::BackTab, A::PrevView)],
    "stop typing: next / previous view",
);
pub const DELETE_CHAR: Binding = Binding::new(
    &[(K::Backspace, A::DeleteChar)],
    "delete the last character",
);
pub const CLEAR_BOX: Binding = Binding::new(&[(K::Ctrl('u'), A::ClearInput)], "clear the box");
