//! The Log view's state. The live log itself is tui-logger's: its buffer holds the records and
//! its widget state ([`LiveState`]) the scroll position and the level shown. On top of it the
//! product keeps what tui-logger lacks: a bounded copy of the same records (they arrive through
//! `update` as messages, see `logsink.rs`) for the `f` text filter, with its own scrolling, so
//! drawing the filtered list stays a function of the state.
use std::collections::VecDeque;

use crate::tui::message::{Action, LogLevel, LogLine};

/// Lines the view keeps; older ones are dropped (and counted) so memory stays bounded however
/// long the dashboard runs.
pub const LOG_LINES_KEPT: usize = 2_000;
/// The longest filter the box takes; longer text could not match a line better.
pub const MAX_FILTER_CHARS: usize = 100;

/// How the view moves. tui-logger's widget takes `Up` and `Down` as half a page whatever the
/// count, and has no `Top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogScroll {
    /// Towards older lines by this many.
    Up(usize),
    /// Towards newer lines by this many; in the filtered list reaching the newest does not
    /// resume following.
    Down(usize),
    /// The oldest lines kept (the filtered list only).
    Top,
    /// Follow the newest lines again.
    Follow,
}

impl LogScroll {
    /// What a movement means in a view of `rows` lines.
    pub fn of(action: Action, rows: usize) -> LogScroll {
        match action {
            Action::MoveUp => LogScroll::Up(1),
            Action::MoveDown => LogScroll::Down(1),
            Action::PageUp => LogScroll::Up(rows),
            Action::PageDown => LogScroll::Down(rows),
            Action::First => LogScroll::Top,
            _ => LogScroll::Follow,
        }
    }
}

/// What tui-logger's widget shows at a level filter.
fn shown(level: LogLevel) -> tui_logger::LevelFilter {
    match level {
        LogLevel::Trace => tui_logger::LevelFilter::Trace,
        LogLevel::Debug => tui_logger::LevelFilter::Debug,
        LogLevel::Info => tui_logger::LevelFilter::Info,
        LogLevel::Warn => tui_logger::LevelFilter::Warn,
        LogLevel::Error => tui_logger::LevelFilter::Error,
    }
}

/// tui-logger's widget state: where the live log is paged to and the least severe level it
/// shows. tui-logger pages by half a window (PgUp/PgDn); it has no line steps and no "oldest".
pub struct LiveState {
    state: tui_logger::TuiWidgetState,
    /// The level it shows from (tui-logger does not say).
    level: LogLevel,
}

impl LiveState {
    fn new(level: LogLevel) -> LiveState {
        LiveState {
            state: tui_logger::TuiWidgetState::new().set_default_display_level(shown(level)),
            level,
        }
    }

    /// What the widget draws from.
    pub fn widget_state(&self) -> &tui_logger::TuiWidgetState {
        &self.state
    }

    fn show_from(&mut self, level: LogLevel) {
        let state = std::mem::take(&mut self.state);
        self.state = state.set_default_display_level(shown(level));
        self.level = level;
    }

    fn page(&self, how: LogScroll) {
        use tui_logger::TuiWidgetEvent as E;
        match how {
            LogScroll::Up(_) => self.state.transition(E::PrevPageKey),
            LogScroll::Down(_) => self.state.transition(E::NextPageKey),
            LogScroll::Follow => self.state.transition(E::EscapeKey),
            // tui-logger cannot jump to its oldest record (ARCHITECTURE.md, Known debts).
            LogScroll::Top => {}
        }
    }
}

impl std::fmt::Debug for LiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveState")
    }
}

/// tui-logger's state cannot be copied: a copy follows the newest records.
impl Clone for LiveState {
    fn clone(&self) -> Self {
        LiveState::new(self.level)
    }
}

#[derive(Debug, Clone)]
pub struct LogState {
    /// tui-logger's widget state: the live log when no text filter is set.
    pub live: LiveState,
    /// Oldest first, at most [`LOG_LINES_KEPT`].
    pub lines: VecDeque<LogLine>,
    /// Lines dropped off the front since the dashboard started.
    pub dropped: u64,
    next_seq: u64,
    /// The newest line shown while scrolled back; `None` follows the newest line.
    pub anchor: Option<u64>,
    /// Only lines containing this (ignoring case) are shown.
    pub filter: String,
    /// Keys go to the filter box.
    pub editing: bool,
    /// The least severe level shown.
    pub min_level: LogLevel,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            live: LiveState::new(LogLevel::Trace),
            lines: VecDeque::new(),
            dropped: 0,
            next_seq: 0,
            anchor: None,
            filter: String::new(),
            editing: false,
            min_level: LogLevel::Trace,
        }
    }
}

impl LogState {
    /// Appends lines, numbering them, and drops the oldest beyond [`LOG_LINES_KEPT`].
    pub fn push(&mut self, lines: impl IntoIterator<Item = LogLine>) {
        for mut line in lines {
            line.seq = self.next_seq;
            self.next_seq = self.next_seq.saturating_add(1);
            self.lines.push_back(line);
        }
        while self.lines.len() > LOG_LINES_KEPT {
            self.lines.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub fn following(&self) -> bool {
        self.anchor.is_none()
    }

    /// Whether the level and text filters let `line` through.
    fn shows(&self, line: &LogLine, needle: &str) -> bool {
        line.level >= self.min_level
            && (needle.is_empty()
                || line.text.to_lowercase().contains(needle)
                || line.target.to_lowercase().contains(needle))
    }

    /// The lines the filters let through, oldest first.
    pub fn matching(&self) -> Vec<&LogLine> {
        let needle = self.filter.to_lowercase();
        self.lines
            .iter()
            .filter(|l| self.shows(l, &needle))
            .collect()
    }

    /// Index in `m` of the newest line shown in a window of `rows`.
    fn bottom(&self, m: &[&LogLine], rows: usize) -> usize {
        let last = m.len().saturating_sub(1);
        let full = rows.min(m.len()).saturating_sub(1);
        match self.anchor {
            None => last,
            // Lines at or before the anchor; when it was dropped, the oldest full window.
            Some(seq) => m.iter().rposition(|l| l.seq <= seq).unwrap_or(0).max(full),
        }
    }

    /// The lines a window of `rows` shows, oldest first.
    pub fn window(&self, rows: usize) -> Vec<&LogLine> {
        let m = self.matching();
        if m.is_empty() || rows == 0 {
            return Vec::new();
        }
        let bottom = self.bottom(&m, rows);
        let top = (bottom + 1).saturating_sub(rows);
        m[top..=bottom].to_vec()
    }

    /// Whether the `f` filter is set: then the view lists the matching lines of the product's
    /// own copy instead of tui-logger's widget.
    pub fn text_filtered(&self) -> bool {
        !self.filter.is_empty()
    }

    /// Moves the view: tui-logger's widget by its pages, or a window of `rows` of the filtered
    /// list; when every matching line fits there is nothing to scroll, and the list follows.
    pub fn scroll(&mut self, how: LogScroll, rows: usize) {
        if !self.text_filtered() {
            self.live.page(how);
            return;
        }
        let m = self.matching();
        if how == LogScroll::Follow || m.len() <= rows.max(1) {
            self.anchor = None;
            return;
        }
        let full = rows.max(1) - 1;
        let bottom = self.bottom(&m, rows);
        let bottom = match how {
            LogScroll::Up(n) => bottom.saturating_sub(n).max(full),
            LogScroll::Down(n) => bottom.saturating_add(n).min(m.len() - 1),
            LogScroll::Top => full,
            LogScroll::Follow => m.len() - 1,
        };
        self.anchor = Some(m[bottom].seq);
    }

    /// Types into the filter box; control and layout characters are refused (a paste may hold
    /// them) and the box is bounded.
    pub fn type_char(&mut self, c: char) {
        if !crate::sanitize::is_unsafe_char(c) && self.filter.chars().count() < MAX_FILTER_CHARS {
            self.filter.push(c);
            self.anchor = None;
        }
    }

    pub fn delete_char(&mut self) {
        self.filter.pop();
        self.anchor = None;
    }

    /// Clears the text filter and the box; shows the newest lines again.
    pub fn clear_filter(&mut self) {
        self.filter.clear();
        self.editing = false;
        self.anchor = None;
    }

    pub fn next_level(&mut self) {
        self.min_level = self.min_level.next_filter();
        self.live.show_from(self.min_level);
        self.anchor = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn lines(n: usize) -> Vec<LogLine> {
        (0..n)
            .map(|i| {
                let level = if i % 10 == 0 {
                    LogLevel::Warn
                } else {
                    LogLevel::Info
                };
                LogLine::new(Utc::now(), level, "digis_relay", &format!("line {i}"))
            })
            .collect()
    }

    fn texts(v: &[&LogLine]) -> Vec<String> {
        v.iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn keeps_a_bounded_number_of_lines() {
        let mut s = LogState::default();
        s.push(lines(LOG_LINES_KEPT + 25));
        assert_eq!(s.lines.len(), LOG_LINES_KEPT);
        assert_eq!(s.dropped, 25);
        assert_eq!(s.lines.front().map(|l| l.text.as_str()), Some("line 25"));
    }

    #[test]
    fn a_scrolled_view_stays_put_while_lines_arrive() {
        let mut s = LogState::default();
        // The product's own list is the one behind a text filter; every line matches this one.
        for c in "line".chars() {
            s.type_char(c);
        }
        s.push(lines(50));
        assert_eq!(texts(&s.window(3)), ["line 47", "line 48", "line 49"]);
        s.scroll(LogScroll::Up(10), 3);
        assert!(!s.following());
        let before = texts(&s.window(3));
        assert_eq!(before, ["line 37", "line 38", "line 39"]);
        s.push(lines(5));
        assert_eq!(texts(&s.window(3)), before);
        s.scroll(LogScroll::Top, 3);
        assert_eq!(texts(&s.window(3)), ["line 0", "line 1", "line 2"]);
        s.scroll(LogScroll::Up(1), 3);
        assert_eq!(texts(&s.window(3))[0], "line 0", "no further than the top");
        s.scroll(LogScroll::Down(1000), 3);
        assert_eq!(texts(&s.window(3)), ["line 2", "line 3", "line 4"]);
        assert!(!s.following(), "only End follows again");
        s.scroll(LogScroll::Follow, 3);
        s.push(lines(1));
        assert_eq!(texts(&s.window(1)), ["line 0"]);
    }

    #[test]
    fn filters_by_text_and_level() {
        let mut s = LogState::default();
        s.push(lines(30));
        for c in "LINE 2".chars() {
            s.type_char(c);
        }
        // "line 2" and "line 20".."line 29", whatever the case typed.
        assert_eq!(s.matching().len(), 11);
        s.type_char('\u{1b}');
        assert_eq!(s.filter, "LINE 2", "control characters are not typed");
        s.next_level();
        assert_eq!(texts(&s.matching()), ["line 20"]);
        s.clear_filter();
        assert_eq!(texts(&s.matching()), ["line 0", "line 10", "line 20"]);
        s.next_level();
        assert!(s.matching().is_empty(), "no errors logged");
        s.next_level();
        assert_eq!(s.matching().len(), 30);
    }
}
