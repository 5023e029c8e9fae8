//! The dashboard's whole state: each screen's (`screens/*`) and what they share (the counts,
//! relays and pause flag the status read brings, the status line, the clocks). Drawing reads
//! only this; the database is reached through effects whose answers come back as messages, so a
//! slow query never holds up a frame.
use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use super::keys::{Context, Mode};
use super::message::View;
use super::screens::confirm::Confirm;
use super::screens::detail::{DetailPane, WIDE_COLUMNS};
use super::screens::failures::FailuresState;
use super::screens::log::LogState;
use super::screens::outbox::{page_size_for, Filter, Page};
use super::screens::search::SearchState;
use super::ui::Clock;
use crate::config::Config;
use crate::stats::Stats;
use crate::storage::{Control, Counts, OutboxRow, RelayInfo};

/// How many minutes of throughput the sparkline shows.
pub const THROUGHPUT_MINUTES: usize = 30;
/// Terminal columns assumed until the terminal says (the binary sets the real width at once).
pub const DEFAULT_COLUMNS: u16 = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Ok,
    Error,
}

#[derive(Debug, Clone)]
pub struct StatusLine {
    pub text: String,
    pub kind: StatusKind,
    /// When it was set (the dashboard's clock): the tick clears it [`STATUS_SECS`] later.
    pub since: DateTime<Utc>,
}

/// How long the status line shows a message: long enough to read it, short enough that an old
/// answer is not taken for the last action's.
pub const STATUS_SECS: i64 = 8;

/// Sent rows per minute, derived from successive `counts().sent` samples.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// Oldest first; the last bucket is the current minute.
    pub buckets: VecDeque<u64>,
    minute: Option<i64>,
    last_sent: Option<u64>,
}

impl Throughput {
    pub fn from_buckets(buckets: &[u64]) -> Throughput {
        Throughput {
            buckets: buckets.iter().copied().collect(),
            minute: None,
            last_sent: None,
        }
    }

    pub fn record(&mut self, at: DateTime<Utc>, sent: u64) {
        let minute = at.timestamp().div_euclid(60);
        match self.minute {
            None => self.buckets.push_back(0),
            Some(m) if minute > m => {
                // Empty minutes (the dashboard was busy or the machine slept) count as zero.
                for _ in 0..(minute - m).min(THROUGHPUT_MINUTES as i64) {
                    self.buckets.push_back(0);
                }
            }
            _ => {}
        }
        self.minute = Some(self.minute.map_or(minute, |m| m.max(minute)));
        // Pruning lowers the sent count; that is not negative throughput.
        let delta = self.last_sent.map_or(0, |last| sent.saturating_sub(last));
        self.last_sent = Some(sent);
        if let Some(b) = self.buckets.back_mut() {
            *b += delta;
        }
        while self.buckets.len() > THROUGHPUT_MINUTES {
            self.buckets.pop_front();
        }
    }

    /// Sent in the last complete minute (or the current one when there is no other).
    pub fn last_minute(&self) -> u64 {
        let n = self.buckets.len();
        match n {
            0 => 0,
            1 => self.buckets[0],
            _ => self.buckets[n - 2],
        }
    }
}

/// What the dashboard knows about its surroundings, copied from the configuration once so
/// drawing does not need it (and the token is already hidden).
#[derive(Debug, Clone)]
pub struct Environment {
    pub use_digis: bool,
    /// The Digis endpoint with secrets as `***`, or why it is invalid.
    pub endpoint: String,
    pub database: String,
    pub heartbeat_ms: u64,
    /// `relay.backlog_max_age_ms`, for the health assessment.
    pub backlog_max_age_ms: u64,
    /// `relay.max_clock_offset_ms`, for the health assessment.
    pub max_clock_offset_ms: u64,
    pub relay_running_here: bool,
    pub no_color: bool,
}

impl Environment {
    pub fn from_config(config: &Config, relay_running_here: bool, no_color: bool) -> Self {
        Environment {
            use_digis: config.use_digis,
            endpoint: match config.endpoint() {
                Ok(e) => e.to_string(),
                Err(e) => format!("not usable: {e}"),
            },
            database: crate::util::redact_db_url(&config.database_url),
            heartbeat_ms: config.relay.heartbeat_ms,
            backlog_max_age_ms: config.relay.backlog_max_age_ms,
            max_clock_offset_ms: config.relay.max_clock_offset_ms,
            relay_running_here,
            no_color,
        }
    }
}

/// Queries in flight, so the tick does not pile up requests behind a slow database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inflight {
    pub status: bool,
    pub page: bool,
    pub detail: bool,
    pub failures: bool,
    pub members: bool,
    pub stats: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub env: Environment,
    pub view: View,
    pub filter: Filter,
    pub page: Page,
    /// Rows per page: the table's visible height.
    pub page_size: u32,
    /// Sequence of the newest page request; older answers are dropped.
    pub page_seq: u64,
    pub selected: usize,
    pub detail: Option<DetailPane>,
    pub counts: Option<Counts>,
    pub control: Option<Control>,
    pub relays: Option<Vec<RelayInfo>>,
    /// When the longest-waiting due pending row became due.
    pub oldest_due_pending: Option<DateTime<Utc>>,
    pub relay_selected: usize,
    pub throughput: Throughput,
    pub confirm: Option<Confirm>,
    pub search: SearchState,
    pub failures: FailuresState,
    /// The Stats view's figures, and when they were read (the view's own clock).
    pub stats: Option<Stats>,
    pub stats_loaded_at: Option<DateTime<Utc>>,
    pub status: Option<StatusLine>,
    /// The last failure to read the database; cleared by the next success.
    pub db_error: Option<String>,
    pub help: bool,
    /// Lines the help is scrolled down by.
    pub help_scroll: u16,
    /// The Log view: the lines this process logged, its scroll position and filter.
    pub log: LogState,
    /// The terminal's rows.
    pub height: u16,
    /// The terminal's columns: from [`WIDE_COLUMNS`] on the detail sits beside the table.
    pub width: u16,
    pub now: DateTime<Utc>,
    /// The database's clock minus this process's, as the last status read measured it:
    /// heartbeats and due times are in the database's time (see [`App::db_now`]).
    pub db_offset_ms: i64,
    pub inflight: Inflight,
    pub should_quit: bool,
}

impl App {
    pub fn new(env: Environment, now: DateTime<Utc>, height: u16) -> App {
        App {
            env,
            view: View::Outbox,
            filter: Filter::All,
            page: Page::default(),
            page_size: page_size_for(height),
            page_seq: 0,
            selected: 0,
            detail: None,
            counts: None,
            control: None,
            relays: None,
            oldest_due_pending: None,
            relay_selected: 0,
            throughput: Throughput::default(),
            confirm: None,
            search: SearchState::default(),
            failures: FailuresState::default(),
            stats: None,
            stats_loaded_at: None,
            status: None,
            db_error: None,
            help: false,
            help_scroll: 0,
            log: LogState::default(),
            height,
            width: DEFAULT_COLUMNS,
            now,
            db_offset_ms: 0,
            inflight: Inflight::default(),
            should_quit: false,
        }
    }

    /// The database's time now, for ages of times relays wrote (heartbeats, due times).
    pub fn db_now(&self) -> DateTime<Utc> {
        self.now + chrono::TimeDelta::milliseconds(self.db_offset_ms)
    }

    pub fn selected_row(&self) -> Option<&OutboxRow> {
        self.page.rows.get(self.selected)
    }

    pub fn set_status(&mut self, kind: StatusKind, text: impl Into<String>) {
        self.status = Some(StatusLine {
            text: text.into(),
            kind,
            since: self.now,
        });
    }

    /// Whether the terminal is wide enough for the detail beside the table.
    pub fn wide(&self) -> bool {
        self.width >= WIDE_COLUMNS
    }

    /// The Outbox row's detail is open beside the table: the table keeps the keys and the
    /// detail follows its selection.
    pub fn detail_beside(&self) -> bool {
        self.view == View::Outbox && self.detail.is_some() && self.wide()
    }

    /// True when any overlay takes the keys.
    pub fn overlay_open(&self) -> bool {
        self.help || self.confirm.is_some()
    }

    /// Where the keys go right now: the question in front of everything, then the help, then
    /// the view's own modes.
    pub fn context(&self) -> Context {
        let mode = if self.confirm.is_some() {
            Mode::Confirm
        } else if self.help {
            Mode::Help
        } else if (self.view == View::Search && self.search.editing)
            || (self.view == View::Log && self.log.editing)
        {
            Mode::Input
        } else if self.detail_beside() {
            Mode::Beside
        } else if (self.view == View::Outbox && self.detail.is_some())
            || (self.view == View::Failures && self.failures.members.is_some())
        {
            Mode::Detail
        } else {
            Mode::Browse
        };
        Context {
            view: self.view,
            mode,
        }
    }

    /// Both clocks, for the views that age what they show.
    pub fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            db_now: self.db_now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn throughput_buckets_by_minute_and_ignores_pruning() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let mut t = Throughput::default();
        t.record(t0, 100);
        t.record(t0 + chrono::Duration::seconds(30), 110);
        t.record(t0 + chrono::Duration::seconds(61), 125);
        t.record(t0 + chrono::Duration::seconds(62), 20); // pruned
        t.record(t0 + chrono::Duration::seconds(190), 23);
        assert_eq!(
            t.buckets.iter().copied().collect::<Vec<_>>(),
            vec![10, 15, 0, 3]
        );
        assert_eq!(t.last_minute(), 0);
    }
}
