//! The dashboard's keys as data: which key asks for which [`Action`], where, and the words the
//! help overlay shows for it. `update` resolves a key press here and then handles the action;
//! the help overlay is drawn from the same table, so it cannot list a key that does nothing
//! or miss one that does.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::app::{App, View};
// Short names keep the table below readable.
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
    /// The question in front of everything, then the help, then the view's own modes.
    pub fn of(app: &App) -> Context {
        let mode = if app.confirm.is_some() {
            Mode::Confirm
        } else if app.help {
            Mode::Help
        } else if (app.view == View::Search && app.search.editing)
            || (app.view == View::Log && app.log.editing)
        {
            Mode::Input
        } else if app.detail_beside() {
            Mode::Beside
        } else if (app.view == View::Outbox && app.detail.is_some())
            || (app.view == View::Failures && app.failures.members.is_some())
        {
            Mode::Detail
        } else {
            Mode::Browse
        };
        Context {
            view: app.view,
            mode,
        }
    }

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
    pub fn applies(&self, ctx: Context) -> bool {
        self.places
            .iter()
            .any(|(view, mode)| *mode == ctx.mode && view.is_none_or(|v| v == ctx.view))
    }

    pub fn entries(&self) -> impl Iterator<Item = (Key, Action)> + '_ {
        self.bindings.iter().flat_map(|b| b.keys.iter().copied())
    }
}

const BROWSING: &[Place] = &[
    (None, Mode::Browse),
    (None, Mode::Detail),
    (None, Mode::Beside),
];

/// The keymap, in the help's order. A key is bound at most once in any context (a test says
/// so), so the order does not decide what a key does.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Any view",
        places: BROWSING,
        bindings: &[
            Binding {
                keys: &[(K::Tab, A::NextView), (K::BackTab, A::PrevView)],
                help: "next / previous view",
            },
            Binding {
                keys: &[
                    (K::Char('1'), A::ShowView(View::Outbox)),
                    (K::Char('2'), A::ShowView(View::Search)),
                    (K::Char('3'), A::ShowView(View::Relays)),
                ],
                help: "Outbox / Search / Relays",
            },
            Binding {
                keys: &[
                    (K::Char('4'), A::ShowView(View::Log)),
                    (K::Char('5'), A::ShowView(View::Failures)),
                    (K::Char('6'), A::ShowView(View::Stats)),
                ],
                help: "Log / Failures / Stats",
            },
            Binding {
                keys: &[(K::Char('/'), A::Search)],
                help: "search: id, card, phone, e-mail, name",
            },
            Binding {
                keys: &[(K::Char('?'), A::Help)],
                help: "this help",
            },
            Binding {
                keys: &[(K::Char('q'), A::Quit)],
                help: "quit",
            },
        ],
        typing: None,
    },
    Section {
        title: "Outbox (also with the detail beside it)",
        places: &[
            (Some(View::Outbox), Mode::Browse),
            (Some(View::Outbox), Mode::Beside),
        ],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "move the selection (pages at the edges)",
            },
            Binding {
                keys: &[
                    (K::PageUp, A::PageUp),
                    (K::PageDown, A::PageDown),
                    (K::Char(' '), A::PageDown),
                ],
                help: "previous / next page",
            },
            Binding {
                keys: &[
                    (K::Char('g'), A::First),
                    (K::Home, A::First),
                    (K::Char('G'), A::Last),
                    (K::End, A::Last),
                ],
                help: "newest / oldest rows",
            },
            Binding {
                keys: &[
                    (K::Char('f'), A::NextFilter),
                    (K::Char('l'), A::NextFilter),
                    (K::Right, A::NextFilter),
                    (K::Char('F'), A::PrevFilter),
                    (K::Char('h'), A::PrevFilter),
                    (K::Left, A::PrevFilter),
                ],
                help: "filter: all, pending, sending, sent, failed, discarded",
            },
        ],
        typing: None,
    },
    Section {
        title: "Outbox table",
        places: &[(Some(View::Outbox), Mode::Browse)],
        bindings: &[
            Binding {
                keys: &[(K::Enter, A::OpenDetail)],
                help: "detail: payload preview, attempts, last response",
            },
            Binding {
                keys: &[(K::Esc, A::ClearStatus)],
                help: "clear the status line",
            },
        ],
        typing: None,
    },
    Section {
        title: "Outbox detail beside the table (160 columns or more)",
        places: &[(Some(View::Outbox), Mode::Beside)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Char('K'), A::DetailScrollUp),
                    (K::Char('J'), A::DetailScrollDown),
                ],
                help: "scroll the detail; it follows the selection",
            },
            Binding {
                keys: &[(K::Esc, A::CloseDetail), (K::Enter, A::CloseDetail)],
                help: "close the detail",
            },
        ],
        typing: None,
    },
    Section {
        title: "Actions (Outbox, its detail, Relays, Log)",
        places: &[
            (Some(View::Outbox), Mode::Browse),
            (Some(View::Outbox), Mode::Detail),
            (Some(View::Outbox), Mode::Beside),
            (Some(View::Relays), Mode::Browse),
            (Some(View::Log), Mode::Browse),
        ],
        bindings: &[
            Binding {
                keys: &[(K::Char('r'), A::Retry)],
                help: "retry the selected row",
            },
            Binding {
                keys: &[(K::Char('R'), A::RetryAllFailed)],
                help: "retry every failed row (asks first)",
            },
            Binding {
                keys: &[(K::Char('x'), A::Discard)],
                help: "discard the selected row (asks first)",
            },
            Binding {
                keys: &[(K::Char('e'), A::Resend)],
                help: "resend the selected member (asks first)",
            },
            Binding {
                keys: &[(K::Char('s'), A::SyncNow)],
                help: "sync now: make waiting rows due",
            },
            Binding {
                keys: &[(K::Char('p'), A::TogglePause)],
                help: "pause (asks first) / resume delivery",
            },
        ],
        typing: None,
    },
    Section {
        title: "Outbox detail (over the table below 160 columns)",
        places: &[(Some(View::Outbox), Mode::Detail)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "scroll",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "scroll a page",
            },
            Binding {
                keys: &[(K::Char('g'), A::First), (K::Home, A::First)],
                help: "back to the top",
            },
            Binding {
                keys: &[(K::Esc, A::CloseDetail), (K::Enter, A::CloseDetail)],
                help: "close the detail",
            },
        ],
        typing: None,
    },
    Section {
        title: "Search",
        places: &[(Some(View::Search), Mode::Browse)],
        bindings: &[
            Binding {
                keys: &[(K::Char('i'), A::EditSearch), (K::Enter, A::EditSearch)],
                help: "type in the search box",
            },
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "scroll the result",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "scroll a page",
            },
            Binding {
                keys: &[(K::Char('g'), A::First)],
                help: "back to the top",
            },
        ],
        typing: None,
    },
    Section {
        title: "Search box",
        places: &[(Some(View::Search), Mode::Input)],
        bindings: &[
            Binding {
                keys: &[(K::Enter, A::SubmitSearch)],
                help: "search",
            },
            Binding {
                keys: &[(K::Esc, A::StopTyping)],
                help: "stop typing",
            },
            Binding {
                keys: &[(K::Tab, A::NextView), (K::BackTab, A::PrevView)],
                help: "stop typing: next / previous view",
            },
            Binding {
                keys: &[(K::Backspace, A::DeleteChar)],
                help: "delete the last character",
            },
            Binding {
                keys: &[(K::Ctrl('u'), A::ClearInput)],
                help: "clear the box",
            },
        ],
        typing: Some("typed into the box (q and ? too)"),
    },
    Section {
        title: "Relays",
        places: &[(Some(View::Relays), Mode::Browse)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "move the selection",
            },
            Binding {
                keys: &[
                    (K::Char('g'), A::First),
                    (K::Home, A::First),
                    (K::Char('G'), A::Last),
                    (K::End, A::Last),
                ],
                help: "first / last relay",
            },
        ],
        typing: None,
    },
    Section {
        title: "Log",
        places: &[(Some(View::Log), Mode::Browse)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "scroll (half a page; a line in a filtered list)",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "scroll (half a page; a page in a filtered list)",
            },
            Binding {
                keys: &[
                    (K::Home, A::First),
                    (K::Char('g'), A::First),
                    (K::End, A::Last),
                    (K::Char('G'), A::Last),
                ],
                help: "oldest (filtered list) / follow the newest",
            },
            Binding {
                keys: &[(K::Char('f'), A::EditLogFilter)],
                help: "filter: show only lines containing a text",
            },
            Binding {
                keys: &[(K::Char('l'), A::NextLogLevel)],
                help: "levels: all, warnings and errors, errors only",
            },
            Binding {
                keys: &[(K::Esc, A::ClearLogFilter)],
                help: "clear the filter",
            },
        ],
        typing: None,
    },
    Section {
        title: "Log filter box",
        places: &[(Some(View::Log), Mode::Input)],
        bindings: &[
            Binding {
                keys: &[(K::Enter, A::StopTyping)],
                help: "keep the filter, stop typing",
            },
            Binding {
                keys: &[(K::Esc, A::ClearLogFilter)],
                help: "clear the filter",
            },
            Binding {
                keys: &[(K::Tab, A::NextView), (K::BackTab, A::PrevView)],
                help: "stop typing: next / previous view",
            },
            Binding {
                keys: &[(K::Backspace, A::DeleteChar)],
                help: "delete the last character",
            },
            Binding {
                keys: &[(K::Ctrl('u'), A::ClearInput)],
                help: "clear the box",
            },
        ],
        typing: Some("typed into the filter (q and ? too)"),
    },
    Section {
        title: "Failures (failed rows by unit and cause)",
        places: &[(Some(View::Failures), Mode::Browse)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "move the selection",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "move a page",
            },
            Binding {
                keys: &[
                    (K::Char('g'), A::First),
                    (K::Home, A::First),
                    (K::Char('G'), A::Last),
                    (K::End, A::Last),
                ],
                help: "first / last group",
            },
            Binding {
                keys: &[(K::Enter, A::OpenDetail)],
                help: "the group's members: name, card, what is wrong",
            },
            Binding {
                keys: &[(K::Char('r'), A::RetryGroup)],
                help: "retry the whole group (counts, then asks)",
            },
            Binding {
                keys: &[(K::Esc, A::ClearStatus)],
                help: "clear the status line",
            },
        ],
        typing: None,
    },
    Section {
        title: "A failure group's members",
        places: &[(Some(View::Failures), Mode::Detail)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "scroll",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "scroll a page",
            },
            Binding {
                keys: &[
                    (K::Char('g'), A::First),
                    (K::Home, A::First),
                    (K::Char('G'), A::Last),
                    (K::End, A::Last),
                ],
                help: "first / last member",
            },
            Binding {
                keys: &[(K::Char('r'), A::RetryGroup)],
                help: "retry the whole group (counts, then asks)",
            },
            Binding {
                keys: &[(K::Esc, A::CloseDetail), (K::Enter, A::CloseDetail)],
                help: "back to the groups",
            },
        ],
        typing: None,
    },
    Section {
        title: "A question (y/n)",
        places: &[(None, Mode::Confirm)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Char('y'), A::Yes),
                    (K::Char('Y'), A::Yes),
                    (K::Enter, A::Yes),
                ],
                help: "yes, do it",
            },
            Binding {
                keys: &[
                    (K::Char('n'), A::No),
                    (K::Char('N'), A::No),
                    (K::Esc, A::No),
                    (K::Char('q'), A::No),
                ],
                help: "no: nothing changes; other keys leave it open",
            },
        ],
        typing: None,
    },
    Section {
        title: "This help",
        places: &[(None, Mode::Help)],
        bindings: &[
            Binding {
                keys: &[
                    (K::Up, A::MoveUp),
                    (K::Char('k'), A::MoveUp),
                    (K::Down, A::MoveDown),
                    (K::Char('j'), A::MoveDown),
                ],
                help: "scroll",
            },
            Binding {
                keys: &[(K::PageUp, A::PageUp), (K::PageDown, A::PageDown)],
                help: "scroll a page",
            },
            Binding {
                keys: &[
                    (K::Esc, A::CloseHelp),
                    (K::Char('?'), A::CloseHelp),
                    (K::Char('q'), A::CloseHelp),
                ],
                help: "close",
            },
        ],
        typing: None,
    },
    Section {
        title: "Everywhere, even while typing or asked",
        places: &[
            (None, Mode::Browse),
            (None, Mode::Detail),
            (None, Mode::Beside),
            (None, Mode::Input),
            (None, Mode::Confirm),
            (None, Mode::Help),
        ],
        bindings: &[Binding {
            keys: &[(K::Ctrl('c'), A::Quit)],
            help: "quit",
        }],
        typing: None,
    },
];

/// What a key press asks for in `ctx`, if anything.
pub fn resolve(ctx: Context, event: KeyEvent) -> Option<Action> {
    let key = Key::of(event)?;
    let sections = || SECTIONS.iter().filter(move |s| s.applies(ctx));
    let bound = |key: Key| {
        sections()
            .flat_map(Section::entries)
            .find_map(|(k, action)| (k == key).then_some(action))
    };
    if let Some(action) = bound(key) {
        return Some(action);
    }
    let typing = sections().any(|s| s.typing.is_some());
    match key {
        Key::Char(c) if typing => Some(Action::Type(c)),
        // Outside the search box Ctrl never mattered on a character (Ctrl-R retries like R);
        // kept so, in the box a Ctrl-character is not typed.
        Key::Ctrl(c) if !typing => bound(Key::Char(c)),
        _ => None,
    }
}

/// The first key that asks for `action` in `ctx`, for hints drawn outside the help overlay.
pub fn key_for(ctx: Context, action: Action) -> Option<Key> {
    SECTIONS
        .iter()
        .filter(|s| s.applies(ctx))
        .flat_map(Section::entries)
        .find_map(|(k, a)| (a == action).then_some(k))
}

/// `"Enter detail · r retry"`: each action's key in `ctx`, looked up here so a hint cannot name
/// a key the keymap does not bind. An action without a key in `ctx` is left out.
pub fn hint(ctx: Context, words: &[(Action, &str)]) -> String {
    words
        .iter()
        .filter_map(|(a, w)| key_for(ctx, *a).map(|k| format!("{} {w}", k.label())))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_bound_keys() {
        let outbox = Context {
            view: View::Outbox,
            mode: Mode::Browse,
        };
        let words = [(Action::OpenDetail, "detail"), (Action::Retry, "retry")];
        assert_eq!(hint(outbox, &words), "Enter detail · r retry");
        let search = Context {
            view: View::Search,
            mode: Mode::Input,
        };
        assert_eq!(
            hint(search, &[(Action::Retry, "retry")]),
            "",
            "no retry while typing"
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for ctx in Context::all() {
            let keys: Vec<Key> = SECTIONS
                .iter()
                .filter(|s| s.applies(ctx))
                .flat_map(Section::entries)
                .map(|(k, _)| k)
                .collect();
            for (i, k) in keys.iter().enumerate() {
                assert!(
                    !keys[i + 1..].contains(k),
                    "{} is bound twice in {ctx:?}",
                    k.label()
                );
            }
        }
    }

    #[test]
    fn every_binding_does_what_it_says_where_it_says() {
        for section in SECTIONS {
            let contexts: Vec<Context> = Context::all().filter(|c| section.applies(*c)).collect();
            assert!(
                !contexts.is_empty(),
                "section {:?} applies nowhere",
                section.title
            );
            for ctx in contexts {
                for (key, action) in section.entries() {
                    assert_eq!(
                        resolve(ctx, key.event()),
                        Some(action),
                        "{key:?} in {ctx:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_input_boxes_take_text() {
        for ctx in Context::all() {
            let typed = resolve(ctx, Key::Char('@').event());
            if ctx.mode == Mode::Input {
                assert_eq!(typed, Some(Action::Type('@')));
                assert_eq!(
                    resolve(ctx, Key::Char('q').event()),
                    Some(Action::Type('q'))
                );
                assert_eq!(resolve(ctx, Key::Ctrl('r').event()), None);
            } else {
                assert_eq!(typed, None, "{ctx:?}");
            }
        }
    }

    #[test]
    fn ctrl_on_a_character_is_ignored_outside_the_search_box() {
        let outbox = Context {
            view: View::Outbox,
            mode: Mode::Browse,
        };
        assert_eq!(resolve(outbox, Key::Ctrl('r').event()), Some(Action::Retry));
        assert_eq!(resolve(outbox, Key::Ctrl('c').event()), Some(Action::Quit));
        // An uppercase letter arrives with Shift: the letter decides.
        let shifted = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(resolve(outbox, shifted), Some(Action::RetryAllFailed));
        assert_eq!(resolve(outbox, KeyEvent::from(KeyCode::F(1))), None);
    }

    #[test]
    fn labels_read_like_the_keys() {
        let label = |title: &str, help: &str| {
            SECTIONS
                .iter()
                .find(|s| s.title == title)
                .and_then(|s| s.bindings.iter().find(|b| b.help == help))
                .map(Binding::label)
        };
        assert_eq!(
            label(
                "Outbox (also with the detail beside it)",
                "move the selection (pages at the edges)"
            )
            .as_deref(),
            Some("↑ k / ↓ j")
        );
        assert_eq!(
            label(
                "Outbox (also with the detail beside it)",
                "previous / next page"
            )
            .as_deref(),
            Some("PgUp / PgDn Space")
        );
        assert_eq!(
            label("Any view", "next / previous view").as_deref(),
            Some("Tab / Shift-Tab")
        );
        for section in SECTIONS {
            for (key, _) in section.entries() {
                assert!(!key.label().contains(' '), "{key:?}");
            }
        }
    }
}
