//! Where the Log view's lines come from: a tracing layer that keeps this process's events in a
//! small bounded queue, which the dashboard's loop drains into the state (`Msg::Log`). By the
//! house rules the events carry ids and outcomes only; their texts are escaped here all the
//! same, since a field may quote what Digis or the database said.
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use super::logbuf::LogLine;

/// Events kept between two drains (the loop drains four times a second); beyond it the oldest
/// go, so a burst cannot grow memory.
const QUEUED_MAX: usize = 1_000;
/// Characters kept of one event's text before escaping.
const LINE_CHARS: usize = 1_000;

static QUEUE: Mutex<VecDeque<LogLine>> = Mutex::new(VecDeque::new());

/// The layer the dashboard installs next to nothing else: the terminal is the dashboard's.
pub struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let raw: String = text.0.chars().take(LINE_CHARS).collect();
        let line = LogLine::new(
            Utc::now(),
            (*meta.level()).into(),
            &crate::sanitize::for_display(meta.target()),
            &crate::sanitize::for_display(&raw),
        );
        let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
        queue.push_back(line);
        while queue.len() > QUEUED_MAX {
            queue.pop_front();
        }
    }
}

/// The events logged since the last drain, oldest first.
pub fn drain() -> Vec<LogLine> {
    let mut queue = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    queue.drain(..).collect()
}

/// An event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Text {
    fn field(&mut self, field: &Field, value: &dyn std::fmt::Display) {
        if self.0.len() > LINE_CHARS {
            return;
        }
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value}{rest}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
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
    use crate::tui::logbuf::LogLevel;
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
        assert!(lines[1].text.chars().count() <= LINE_CHARS + 10);
        assert!(drain().is_empty());
    }
}
