//! Where the Log view's records come from: a tracing layer that escapes and bounds each event's
//! text, then hands it to tui-logger (the live widget's buffer, docs/contracts.md, Dashboard) and to a small
//! bounded queue the dashboard's loop drains into its own copy (`Msg::Log`), which the `f` text
//! filter searches: tui-logger has no text filter and gives no read access to its buffer. By the
//! house rules the events carry ids and outcomes only; their texts are escaped here all the
//! same, since a field may quote what Digis or the database said, and tui-logger's widget
//! escapes nothing (ratatui drops a bare ESC silently but passes bidi overrides).
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::message::LogLine;
use super::screens::log::LOG_LINES_KEPT;

/// Events kept between two drains (the loop drains four times a second); beyond it the oldest
/// go, so a burst cannot grow memory. tui-logger's own queue between two moves has the same
/// depth (beyond it, it counts the lost events in a line of its own).
const QUEUED_MAX: usize = 1_000;
/// Bytes kept of an event's message, and of its other fields, before escaping.
const LINE_BYTES: usize = 1_000;

static QUEUE: Mutex<VecDeque<LogLine>> = Mutex::new(VecDeque::new());

/// Bounds tui-logger's buffers like the dashboard's own copy: the widget keeps the last
/// [`LOG_LINES_KEPT`] records (its default is 10,000, each up to [`LINE_BYTES`] twice over).
pub fn bound_buffers() {
    tui_logger::set_hot_buffer_depth(QUEUED_MAX);
    tui_logger::set_buffer_depth(LOG_LINES_KEPT);
}

/// The layer the dashboard installs next to nothing else: the terminal is the dashboard's.
pub struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let raw = text.into_string();
        let target = crate::sanitize::for_display(meta.target());
        let text = crate::sanitize::for_display(&raw);
        tui_logger::Drain::new().log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(log_level(*meta.level()))
                .target(&target)
                .build(),
        );
        let line = LogLine::new(Utc::now(), (*meta.level()).into(), &target, &text);
        let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
        queue.push_back(line);
        while queue.len() > QUEUED_MAX {
            queue.pop_front();
        }
    }
}

fn log_level(level: tracing::Level) -> log::Level {
    match level {
        tracing::Level::ERROR => log::Level::Error,
        tracing::Level::WARN => log::Level::Warn,
        tracing::Level::INFO => log::Level::Info,
        tracing::Level::DEBUG => log::Level::Debug,
        tracing::Level::TRACE => log::Level::Trace,
    }
}

/// The events logged since the last drain, oldest first; moves tui-logger's newly arrived
/// records into its widget's buffer at the same time (the dashboard runs no thread for it).
pub fn drain() -> Vec<LogLine> {
    tui_logger::move_events();
    let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    queue.drain(..).collect()
}

/// An event's message, then its other fields as `name=value`, each part bounded while it is
/// formatted (a field may be a whole response body).
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn field(&mut self, field: &Field, value: &dyn std::fmt::Display) {
        if field.name() == "message" {
            let _ = write!(Bounded(&mut self.message), "{value}");
        } else {
            let _ = write!(Bounded(&mut self.fields), " {}={value}", field.name());
        }
    }

    fn into_string(self) -> String {
        self.message + &self.fields
    }
}

/// Takes text until the string holds [`LINE_BYTES`], then refuses the rest, which stops the
/// formatting early.
struct Bounded<'a>(&'a mut String);

impl std::fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = LINE_BYTES.saturating_sub(self.0.len());
        let mut end = room.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.push_str(&s[..end]);
        if end < s.len() {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, &format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::message::LogLevel;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_arrive_escaped_and_bounded() {
        let subscriber = tracing_subscriber::registry().with(SinkLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "digis_relay::relay", row = 59, "gave up\u{1b}[2J\nnext");
            tracing::info!(long = %"x".repeat(5_000), "big");
            for i in 0..QUEUED_MAX {
                tracing::info!("burst {i}");
            }
        });
        let lines = drain();
        assert_eq!(lines.len(), QUEUED_MAX, "the oldest went");
        assert_eq!(lines[0].text, "burst 0");
        tracing::subscriber::with_default(tracing_subscriber::registry().with(SinkLayer), || {
            tracing::warn!(target: "digis_relay::relay", row = 59, "gave up\u{1b}[2J\nnext");
            tracing::info!(long = %"x".repeat(5_000), "big");
        });
        let lines = drain();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].level, LogLevel::Warn);
        assert_eq!(lines[0].target, "digis_relay::relay");
        assert_eq!(lines[0].text, "gave up\\u{1b}[2J\\nnext row=59");
        assert!(lines[1].text.starts_with("big long=xxx"));
        assert!(
            lines[1].text.len() <= 2 * LINE_BYTES,
            "{}",
            lines[1].text.len()
        );
        assert!(lines[1].text.len() > LINE_BYTES / 2);
        assert!(drain().is_empty());
    }
}
