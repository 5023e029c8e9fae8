//! The Search view's state: the box and the last result.
use crate::tui::message::Action;

/// The longest search input: an e-mail address (`search::member::MAX_EMAIL_CHARS`), the
/// longest key the box takes.
const MAX_INPUT: usize = crate::search::member::MAX_EMAIL_CHARS;

#[derive(Debug, Clone, Default)]
pub enum SearchResult {
    #[default]
    None,
    Running(String),
    Done {
        term: String,
        lines: Vec<String>,
    },
    Failed {
        term: String,
        error: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct SearchState {
    pub input: String,
    /// Keys go to the input box.
    pub editing: bool,
    pub result: SearchResult,
    pub scroll: u16,
}

impl SearchState {
    /// Types into the box, up to its longest input.
    pub fn type_char(&mut self, c: char) {
        if self.input.chars().count() < MAX_INPUT {
            self.input.push(c);
        }
    }

    /// The term to search for, now running; `None` when the box is empty.
    pub fn submit(&mut self) -> Option<String> {
        let term = self.input.trim().to_string();
        if term.is_empty() {
            return None;
        }
        self.editing = false;
        self.result = SearchResult::Running(term.clone());
        Some(term)
    }

    /// The answer for `term`, unless another search was started since.
    pub fn answer(&mut self, term: String, result: Result<Vec<String>, String>) {
        if matches!(&self.result, SearchResult::Running(t) if *t == term) {
            self.scroll = 0;
            self.result = match result {
                Ok(lines) => SearchResult::Done { term, lines },
                Err(error) => SearchResult::Failed { term, error },
            };
        }
    }

    pub fn scroll(&mut self, action: Action) {
        self.scroll = action.scrolled(self.scroll);
    }
}
