//! The dashboard's vocabulary, and the one module of `tui` that imports none of the others:
//! what comes in ([`Msg`]: a key, a tick, an effect's answer), what the operator asks for
//! ([`Action`], whatever key asked) and what the dashboard asks of the database ([`Effect`]).
//! State, update, effects and drawing all build on these; nothing here knows about them.
mod action;
mod data;
mod effect;
mod log;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::domain::OutboxId;
use crate::storage::{FailedMember, FailureGroup, FailureGroupKey};

pub use action::{Action, View, SCROLL_PAGE};
pub use data::{Detail, PageData, StatusData};
pub use effect::{Anchor, Effect, Select};
pub use log::{LogLevel, LogLine};

/// Members of a group the dashboard shows; `report failures --csv` writes them all.
pub const MEMBERS_SHOWN: u32 = 200;
/// Groups the Failures view lists.
pub const GROUPS_SHOWN: u32 = 500;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// About once a second: refresh what is shown.
    Tick(DateTime<Utc>),
    Status(Result<StatusData, String>),
    Page {
        seq: u64,
        anchor: Anchor,
        select: Select,
        result: Result<PageData, String>,
    },
    Detail(OutboxId, Result<Detail, String>),
    /// An action finished; `ok` false when it changed nothing or failed.
    Acted {
        ok: bool,
        text: String,
    },
    Searched(String, Result<Vec<String>, String>),
    Failures(Result<Vec<FailureGroup>, String>),
    FailureMembers(FailureGroupKey, Result<Vec<FailedMember>, String>),
    /// How many rows retrying the group would put back: the y/n question's count.
    GroupDryRun(FailureGroupKey, Result<u64, String>),
    /// How many failed rows' last answer was unconfirmed: the retry-all question says so.
    RetryAllDryRun(Result<u64, String>),
    Stats(Result<crate::stats::Stats, String>),
    /// Lines this process logged since the last such message, for the Log view.
    Log(Vec<LogLine>),
}

impl Msg {
    /// A key press without modifiers, for tests and scripts.
    pub fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }
    pub fn char(c: char) -> Msg {
        Msg::key(KeyCode::Char(c))
    }
}
