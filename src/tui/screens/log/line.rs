//! How one log record looks in the Log view, for tui-logger's widget (as its `LogFormatter`) and
//! for the filtered list alike: one time (UTC, like the sync log, so a line on screen can be
//! found in the file), the level, the target without the crate's own prefix, then the text,
//! wrapped at spaces to the view's width so the whole record is on screen (a sync-log line's
//! `outcome=` comes after 150 characters). Continuation rows are indented past the time and level.
use chrono::{DateTime, Utc};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use crate::domain::OutboxState;
use crate::tui::message::LogLevel;
use crate::tui::ui::theme::Theme;

/// `HH:MM:SSZ ` and `WRN `.
const INDENT: usize = 14;
/// Narrower than this, continuation rows are not indented (there would be no room for text).
const INDENT_FROM_WIDTH: usize = 40;

/// The rows of one record in a view `width` columns wide; none wider than `width`.
pub fn record_lines(
    width: usize,
    at: DateTime<Utc>,
    level: LogLevel,
    target: &str,
    text: &str,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let width = width.max(1);
    let target = target.strip_prefix("digis_relay::").unwrap_or(target);
    let head = format!("{} ", at.format("%H:%M:%SZ"));
    let level_text = format!("{} ", level.abbrev());
    let target_text = format!("{target} ");
    // Time, level and target are ours (the target escaped by `logsink`); they are wrapped with
    // the text, so a narrow view still shows all of it.
    let indent = if width >= INDENT_FROM_WIDTH {
        INDENT
    } else {
        0
    };
    let rows = wrap(
        &format!("{head}{level_text}{target_text}{text}"),
        width,
        width - indent,
    );
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            if i > 0 {
                return Line::from(vec![Span::raw(" ".repeat(indent)), Span::raw(row)]);
            }
            // The first row holds the prefix whole unless the view is narrower than it.
            let mut spans = Vec::new();
            let mut rest = row.as_str();
            for (part, style) in [
                (head.as_str(), theme.plain()),
                (level_text.as_str(), level_style(level, theme)),
                (target_text.as_str(), theme.dim()),
            ] {
                let n = part.len().min(rest.len());
                let n = (0..=n)
                    .rev()
                    .find(|&n| rest.is_char_boundary(n))
                    .unwrap_or(0);
                spans.push(Span::styled(rest[..n].to_string(), style));
                rest = &rest[n..];
            }
            spans.push(Span::raw(rest.to_string()));
            Line::from(spans)
        })
        .collect()
}

fn level_style(level: LogLevel, theme: &Theme) -> Style {
    match level {
        LogLevel::Error => theme.state(OutboxState::Failed),
        LogLevel::Warn => theme.state(OutboxState::Pending),
        _ => theme.plain(),
    }
}

/// `text` in rows of at most `first` columns, then `rest` columns, broken after a space where
/// one is near enough, else inside the word (an id or a token has no space).
fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut used = 0;
    let mut room = first.max(1);
    let rest = rest.max(1);
    for word in text.split_inclusive(' ') {
        let trimmed = word.trim_end_matches(' ');
        let word_width: usize = trimmed.chars().map(char_width).sum();
        if used > 0 && used + word_width > room {
            rows.push(std::mem::take(&mut row).trim_end().to_string());
            used = 0;
            room = rest;
        }
        for c in word.chars() {
            let w = char_width(c);
            if c == ' ' && used + w > room {
                continue; // a space at the end of a full row
            }
            if used + w > room && used > 0 {
                rows.push(std::mem::take(&mut row));
                used = 0;
                room = rest;
            }
            row.push(c);
            used += w;
        }
    }
    if !row.trim_end().is_empty() || rows.is_empty() {
        rows.push(row.trim_end().to_string());
    }
    rows
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// tui-logger's widget draws each record through this (its own format has two location
/// fields, cuts no line by word and shows the local time).
pub struct LiveFormat {
    pub theme: Theme,
}

impl tui_logger::LogFormatter for LiveFormat {
    fn min_width(&self) -> u16 {
        1
    }

    fn format(&self, width: usize, evt: &tui_logger::ExtLogRecord) -> Vec<Line<'_>> {
        let at = DateTime::from_timestamp_millis(evt.timestamp.timestamp().as_millisecond())
            .unwrap_or_default();
        record_lines(
            width,
            at,
            evt.level.into(),
            evt.target(),
            evt.msg(),
            &self.theme,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("ab cd ef", 5, 5), ["ab cd", "ef"]);
        assert_eq!(wrap("abcdefgh", 3, 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("ab cdefgh", 4, 2), ["ab", "cd", "ef", "gh"]);
        assert_eq!(wrap("", 4, 4), [""]);
        assert_eq!(wrap("李李李", 4, 4), ["李李", "李"]);
    }

    #[test]
    fn every_row_fits_and_nothing_is_lost() {
        let text = "relay=r1 ExtInfo1:863, ExtInfo20:34231451 outbox=12345678 person=876543 \
                    attempt=8 outcome=failed status=400 external_id=- ms=107";
        for width in [1, 9, 20, 39, 40, 78, 200] {
            let rows = record_lines(
                width,
                DateTime::UNIX_EPOCH,
                LogLevel::Warn,
                "digis_relay::sync",
                text,
                &Theme::new(true),
            );
            let joined: String = rows
                .iter()
                .map(|l| {
                    assert!(l.width() <= width, "{width}: {l:?}");
                    l.to_string()
                })
                .collect::<Vec<_>>()
                .join(" ");
            let squeezed = joined.split_whitespace().collect::<String>();
            let want = format!(
                "00:00:00ZWRNsync{}",
                text.split_whitespace().collect::<String>()
            );
            assert_eq!(squeezed, want, "{width}");
        }
    }
}
