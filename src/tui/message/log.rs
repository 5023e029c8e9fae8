//! One logged record, as the tracing layer (`logsink`) takes it and the Log view keeps it.
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// What the line shows, as wide as the others.
    pub fn abbrev(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRC",
            LogLevel::Debug => "DBG",
            LogLevel::Info => "INF",
            LogLevel::Warn => "WRN",
            LogLevel::Error => "ERR",
        }
    }

    /// The least severe level shown, in the order `l` cycles through.
    pub const CYCLE: [LogLevel; 3] = [LogLevel::Trace, LogLevel::Warn, LogLevel::Error];

    /// The level filter as the view names it.
    pub fn filter_label(self) -> &'static str {
        match self {
            LogLevel::Trace | LogLevel::Debug | LogLevel::Info => "all levels",
            LogLevel::Warn => "warnings and errors",
            LogLevel::Error => "errors only",
        }
    }

    /// The next level filter `l` shows.
    pub fn next_filter(self) -> LogLevel {
        let i = Self::CYCLE.iter().position(|l| *l == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }
}

impl From<log::Level> for LogLevel {
    fn from(level: log::Level) -> LogLevel {
        match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        }
    }
}

impl From<tracing::Level> for LogLevel {
    fn from(level: tracing::Level) -> LogLevel {
        match level {
            tracing::Level::TRACE => LogLevel::Trace,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::ERROR => LogLevel::Error,
        }
    }
}

/// One logged event, its texts already cleaned (`logsink` escapes control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Numbered on arrival; a scrolled-back view is anchored to a number, so new lines and
    /// dropped old ones do not move it.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub target: String,
    pub text: String,
}

impl LogLine {
    pub fn new(at: DateTime<Utc>, level: LogLevel, target: &str, text: &str) -> LogLine {
        LogLine {
            seq: 0,
            at,
            level,
            target: target.to_string(),
            text: text.to_string(),
        }
    }
}
