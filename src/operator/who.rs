//! Who acts and why: the two texts every operator action records with its change.
use std::fmt;

/// Who did it, recorded with every operator event (`user@host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The person at this terminal: `$USER@hostname`.
    pub fn current() -> Actor {
        Actor(crate::util::operator_name())
    }

    /// An actor given by name (a test, or a caller that already knows who acts).
    pub fn named(name: impl Into<String>) -> Actor {
        Actor(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text an operator gave (a pause or discard reason), made safe to store and show to others.
/// The only way to build one is through the cleaning, so no reason reaches the database raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

/// A reason is shown in one line of a status screen and in `search`: longer text is cut here
/// rather than letting one pasted log fill the outbox row.
const MAX_REASON_CHARS: usize = 500;

impl Reason {
    /// Control characters escaped, anything token-like redacted (a pasted URL with the API
    /// token), surrounding blanks trimmed, at most 500 characters.
    pub fn clean<S: AsRef<str>>(text: &str, secrets: &[S]) -> Reason {
        let cleaned = crate::sanitize::clean_untrusted(text.trim(), secrets);
        Reason(cleaned.chars().take(MAX_REASON_CHARS).collect())
    }

    /// The reason recorded when a row is discarded with `x` on the dashboard, which asks for
    /// no text: it names who did it so the row explains itself later.
    pub fn discarded_from_dashboard<S: AsRef<str>>(actor: &Actor, secrets: &[S]) -> Reason {
        Reason::clean(&format!("discarded from the dashboard by {actor}"), secrets)
    }

    /// The reason recorded when delivery is paused with `p` on the dashboard.
    pub fn paused_from_dashboard() -> Reason {
        Reason::clean::<&str>("paused from the dashboard", &[])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_clean_line_without_the_token() {
        let r = Reason::clean(
            "  see https://x/?token=abc\n\u{1b}[2Jok  ",
            &["SECRET-4711"],
        );
        assert_eq!(r.as_str(), "see https://x/?token=***\\n\\u{1b}[2Jok");
        let r = Reason::clean("has SECRET-4711 in it", &["SECRET-4711"]);
        assert_eq!(r.as_str(), "has *** in it");
    }

    #[test]
    fn a_reason_is_at_most_500_characters() {
        let r = Reason::clean::<&str>(&"å".repeat(600), &[]);
        assert_eq!(r.as_str().chars().count(), 500);
    }

    #[test]
    fn dashboard_reasons_name_the_actor() {
        let a = Actor::named("ann@desk");
        assert_eq!(
            Reason::discarded_from_dashboard::<&str>(&a, &[]).as_str(),
            "discarded from the dashboard by ann@desk"
        );
        assert_eq!(
            Reason::paused_from_dashboard().as_str(),
            "paused from the dashboard"
        );
    }
}
