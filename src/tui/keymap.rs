//! The whole keymap, in the help's order: the keys every view shares, then each screen's own
//! (`screens/*/keys.rs`). `update` resolves a key press here and then handles the action; the
//! help overlay is drawn from the same list, so it cannot list a key that does nothing or miss
//! one that does.
use ratatui::crossterm::event::KeyEvent;

use super::keys::{self, Binding, Context, Key as K, Mode, Section, BROWSING};
use super::message::{Action as A, View};
use super::screens::{confirm, detail, failures, help, log, outbox, relays, search};

const ANY_VIEW: Section = Section::new(
    "Any view",
    BROWSING,
    &[
        Binding::new(
            &[(K::Tab, A::NextView), (K::BackTab, A::PrevView)],
            "next / previous view",
        ),
        Binding::new(
            &[
                (K::Char('1'), A::ShowView(View::Outbox)),
                (K::Char('2'), A::ShowView(View::Search)),
                (K::Char('3'), A::ShowView(View::Relays)),
            ],
            "Outbox / Search / Relays",
        ),
        Binding::new(
            &[
                (K::Char('4'), A::ShowView(View::Log)),
                (K::Char('5'), A::ShowView(View::Failures)),
                (K::Char('6'), A::ShowView(View::Stats)),
            ],
            "Log / Failures / Stats",
        ),
        Binding::new(
            &[(K::Char('/'), A::Search)],
            "search: id, card, phone, e-mail, name",
        ),
        Binding::new(&[(K::Char('?'), A::Help)], "this help"),
        Binding::new(&[(K::Char('q'), A::Quit)], "quit"),
    ],
);

/// The operator actions on rows and on delivery: where a row is selected or shown, and where
/// the relays and their log are.
const ACTIONS: Section = Section::new(
    "Actions (Outbox, its detail, Relays, Log)",
    &[
        (Some(View::Outbox), Mode::Browse),
        (Some(View::Outbox), Mode::Detail),
        (Some(View::Outbox), Mode::Beside),
        (Some(View::Relays), Mode::Browse),
        (Some(View::Log), Mode::Browse),
    ],
    &[
        Binding::new(&[(K::Char('r'), A::Retry)], "retry the selected row"),
        Binding::new(
            &[(K::Char('R'), A::RetryAllFailed)],
            "retry every failed row (asks first)",
        ),
        Binding::new(
            &[(K::Char('x'), A::Discard)],
            "discard the selected row (asks first)",
        ),
        Binding::new(
            &[(K::Char('e'), A::Resend)],
            "resend the selected member (asks first)",
        ),
        Binding::new(
            &[(K::Char('s'), A::SyncNow)],
            "sync now: make waiting rows due",
        ),
        Binding::new(
            &[(K::Char('p'), A::TogglePause)],
            "pause (asks first) / resume delivery",
        ),
    ],
);

const EVERYWHERE: Section = Section::new(
    "Everywhere, even while typing or asked",
    &[
        (None, Mode::Browse),
        (None, Mode::Detail),
        (None, Mode::Beside),
        (None, Mode::Input),
        (None, Mode::Confirm),
        (None, Mode::Help),
    ],
    &[Binding::new(&[(K::Ctrl('c'), A::Quit)], "quit")],
);

/// The keymap, in the help's order. A key is bound at most once in any context (a test says
/// so), so the order does not decide what a key does.
pub const SECTIONS: &[&Section] = &[
    &ANY_VIEW,
    &outbox::keys::LIST,
    &outbox::keys::TABLE,
    &detail::keys::BESIDE,
    &ACTIONS,
    &detail::keys::OVER,
    &search::keys::RESULT,
    &search::keys::BOX,
    &relays::keys::LIST,
    &log::keys::BROWSE,
    &log::keys::BOX,
    &failures::keys::GROUPS,
    &failures::keys::MEMBERS,
    &confirm::keys::QUESTION,
    &help::keys::HELP,
    &EVERYWHERE,
];

/// What a key press asks for in `ctx`, if anything.
pub fn resolve(ctx: Context, event: KeyEvent) -> Option<A> {
    keys::resolve(SECTIONS, ctx, event)
}

/// `"Enter detail · r retry"`: each action's key in `ctx` (see [`keys::hint`]).
pub fn hint(ctx: Context, words: &[(A, &str)]) -> String {
    keys::hint(SECTIONS, ctx, words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keys::Key;
    use crate::tui::message::Action;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

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
                .flat_map(|s| s.entries())
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
