//! Support search: "did this member get the SMS?" by ExtInfo1 (subscription id), ExtInfo20
//! (card number), or what the caller knows about the person: their phone number, e-mail address
//! or name (`member`).
//!
//! One call, [`search`], merges everything that is known about the term into one timeline per
//! (subscription, person) match, oldest first: the outbox rows and their states, every attempt
//! with its status and error, the `digis` row (external id, time), the member's current
//! subscription status, whether a relay is running, and the matching lines of every sync-log
//! file in the log folder, rotated ones included. A log line whose outbox row was pruned from
//! the database still appears (old history lives in the logs). Each match gets a plain-language
//! verdict: sent, waiting, failed, discarded or never queued.
//!
//! The API is shared with the dashboard and kept stable:
//! - [`SearchTerm`] (`FromStr` accepts `ExtInfo1:863`, `ExtInfo20:0034`, and bare digits as a
//!   subscription id — a UI that knows which box was typed in builds the variant itself;
//!   [`readings`] recognises what a free-text box holds, phone numbers, e-mail addresses and
//!   names included);
//! - [`search`] with [`SearchOptions`] → [`SearchReport`] (`Serialize`: the `search --json`
//!   shape documented in docs/contracts.md, JSON output);
//! - [`render_text`] for the human output.
mod attribute;
pub mod cli;
mod db;
mod delivery;
#[cfg(test)]
mod fixtures;
mod linecap;
pub mod logscan;
pub mod member;
mod phrases;
mod recognise;
mod render;
mod report;
mod timeline;
mod wording;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, Serializer};

use crate::domain::{
    CardNumber, EventAction, OutboxId, OutboxState, PersonId, RecordedOutcome, SubscriptionId,
};
use crate::storage::{Storage, StorageError};

pub use logscan::ScannedFile;
pub use member::{EmailQuery, MemberKeyError, MemberQuery, NameQuery, PhoneQuery, MAX_PERSONS};
pub use recognise::readings;
pub use render::render_text;

/// What support searches for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchTerm {
    /// ExtInfo1: `subscription.id`.
    Subscription(SubscriptionId),
    /// ExtInfo20: `person.card_number`, compared whole, leading zeros included.
    Card(CardNumber),
    /// Persons found by their phone number, e-mail address or name, then every subscription
    /// of theirs. What was typed is personal data: it is never shown back, serialised or logged.
    Member(MemberQuery),
}

impl SearchTerm {
    /// The key the term matches on: `ext_info1`, `ext_info20`, `phone`, `email` or `name`
    /// (`matched_by` and `matched_on` in JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            SearchTerm::Subscription(_) => "ext_info1",
            SearchTerm::Card(_) => "ext_info20",
            SearchTerm::Member(MemberQuery::Phone(_)) => "phone",
            SearchTerm::Member(MemberQuery::Email(_)) => "email",
            SearchTerm::Member(MemberQuery::Name(_)) => "name",
        }
    }

    /// The value as it appears in the sync log; `None` for a member key, which the log never
    /// holds (and which is personal data).
    pub fn value(&self) -> Option<String> {
        match self {
            SearchTerm::Subscription(id) => Some(id.to_string()),
            SearchTerm::Card(c) => Some(c.to_string()),
            SearchTerm::Member(_) => None,
        }
    }

    /// `ExtInfo1:863` / `ExtInfo20:0034`, the form support greps for; `None` for a member key.
    pub fn log_token(&self) -> Option<String> {
        match self {
            SearchTerm::Member(_) => None,
            other => Some(other.to_string()),
        }
    }
}

/// `ExtInfo1:863` / `ExtInfo20:0034`, the form support greps for; a member key by its kind only
/// (`phone number`, `e-mail address`, `name`), never its value.
impl fmt::Display for SearchTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchTerm::Subscription(id) => write!(f, "ExtInfo1:{id}"),
            SearchTerm::Card(c) => write!(f, "ExtInfo20:{c}"),
            SearchTerm::Member(MemberQuery::Phone(_)) => f.write_str("phone number"),
            SearchTerm::Member(MemberQuery::Email(_)) => f.write_str("e-mail address"),
            SearchTerm::Member(MemberQuery::Name(_)) => f.write_str("name"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SearchTermError {
    #[error("ExtInfo1: {0}")]
    Subscription(#[from] crate::domain::IdError),
    #[error("ExtInfo20: {0}")]
    Card(#[from] crate::domain::CardNumberError),
    #[error(
        "`{0}` is neither ExtInfo1:ID, ExtInfo20:CARD nor a subscription id (a card number needs the ExtInfo20: prefix)"
    )]
    Unknown(String),
}

/// Accepts `ExtInfo1:863`, `ExtInfo20:0034` (prefixes in any case, a trailing comma as copied
/// from a log line is ignored) and bare digits as a subscription id. Bare digits are ambiguous
/// (a card number can be all digits too): a UI that knows which was meant builds the variant.
impl FromStr for SearchTerm {
    type Err = SearchTermError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let strip = |prefix: &str| {
            s.get(..prefix.len())
                .filter(|h| h.eq_ignore_ascii_case(prefix))
                .map(|_| s[prefix.len()..].trim().trim_end_matches(','))
        };
        if let Some(v) = strip("ExtInfo20:") {
            return Ok(SearchTerm::Card(v.parse()?));
        }
        if let Some(v) = strip("ExtInfo1:") {
            return Ok(SearchTerm::Subscription(v.parse()?));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(SearchTerm::Subscription(s.parse()?));
        }
        Err(SearchTermError::Unknown(s.to_string()))
    }
}

/// `{"kind": "ext_info1", "value": "863", "log_token": "ExtInfo1:863"}`; a member key is
/// `{"kind": "phone", "value": null, "log_token": null}`: what was typed is not repeated.
impl Serialize for SearchTerm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("SearchTerm", 3)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("value", &self.value())?;
        st.serialize_field("log_token", &self.log_token())?;
        st.end()
    }
}

/// Where the report is read: its advice names a command to type in a shell, or the key to
/// press in the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Place {
    #[default]
    Cli,
    Dashboard,
}

#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Where the report is shown (the advice's words; nothing else depends on it).
    pub place: Place,
    /// Timeline events (attempts, log lines, ...) before this day (UTC) are left out, and
    /// rotated log files of earlier days are not read. The verdict still uses everything.
    pub since: Option<NaiveDate>,
    /// The configuration's `useDigis`: with it off nothing is sent, and the verdict says so.
    pub use_digis: bool,
    pub now: DateTime<Utc>,
}

impl SearchOptions {
    pub fn new(use_digis: bool, now: DateTime<Utc>) -> Self {
        Self {
            place: Place::Cli,
            since: None,
            use_digis,
            now,
        }
    }

    /// `useDigis` from the configuration. Whether a relay is alive is judged by each relay's
    /// own recorded heartbeat interval (`health::is_live`), never by this reader's.
    pub fn from_config(config: &crate::config::Config, now: DateTime<Utc>) -> Self {
        Self::new(config.use_digis, now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Digis accepted it (from the outbox, the `digis` table, or the sync log).
    Sent,
    /// A row is queued or being sent.
    Waiting,
    /// Needs a person: rejected, bad data or attempts exhausted.
    Failed,
    /// Will not be sent (no longer active, user removed, already synced, or an operator).
    Discarded,
    /// Nothing was ever queued for this member.
    NeverQueued,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Sent => "sent",
            VerdictKind::Waiting => "waiting",
            VerdictKind::Failed => "failed",
            VerdictKind::Discarded => "discarded",
            VerdictKind::NeverQueued => "never_queued",
        }
    }
}

/// Where a timeline event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Database,
    Log,
}

/// One thing that happened to a member, in time order within [`MemberVerdict::timeline`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    /// `None` only for a log line without a readable time at its start.
    pub at: Option<DateTime<Utc>>,
    pub source: EventSource,
    #[serde(flatten)]
    pub event: Event,
}

/// Every variant's fields are always present in JSON (`null` when unknown).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An outbox row was created (by a trigger, `resend` or `sync --reconcile`).
    Queued {
        outbox_id: OutboxId,
        /// The row's state now.
        state: OutboxState,
        resend: bool,
    },
    /// One try, from `digis_attempt`.
    Attempt {
        outbox_id: OutboxId,
        attempt: i32,
        outcome: RecordedOutcome,
        http_status: Option<i32>,
        error: Option<String>,
        relay_id: String,
        duration_ms: i64,
    },
    /// The pair's `digis` row: Digis accepted it.
    Synced { external_id: Option<String> },
    /// Someone acted on the row by hand (from `digis_event`): retry, retry_all_failed, discard
    /// or resend, with who did it.
    Operator {
        outbox_id: Option<OutboxId>,
        action: EventAction,
        actor: String,
        detail: Option<String>,
    },
    /// A matching line of a sync-log file.
    LogLine {
        file: String,
        line: u64,
        text: String,
        outbox_id: Option<i64>,
        attempt: Option<i32>,
        outcome: Option<String>,
        http_status: Option<i32>,
        external_id: Option<String>,
    },
}

/// One (subscription, person) match with its verdict and timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberVerdict {
    pub subscription_id: SubscriptionId,
    pub person_id: PersonId,
    /// The key that found this member: the term's kind (`ext_info1`, `ext_info20`, `phone`,
    /// `email`, `name`).
    pub matched_on: &'static str,
    /// The member's card number now, else the last one the log shows.
    pub card_number: Option<String>,
    /// The subscription's status in the membership system now (`None`: it does not exist).
    pub subscription_status: Option<String>,
    /// Whether the person is a user of the subscription now.
    pub is_user: bool,
    pub verdict: VerdictKind,
    /// One sentence, the answer to "did they get the SMS?".
    pub summary: String,
    /// What support can do about it, when anything.
    pub advice: Option<String>,
    /// The outbox row the verdict is about (the newest), if any.
    pub outbox_id: Option<OutboxId>,
    pub state: Option<OutboxState>,
    pub attempts: Option<i32>,
    pub sent_at: Option<DateTime<Utc>>,
    pub external_id: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_http_status: Option<i32>,
    pub reason: Option<String>,
    /// Oldest first; limited to `since` when given.
    pub timeline: Vec<TimelineEvent>,
}

/// A relay as search reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelaySummary {
    pub relay_id: String,
    pub hostname: String,
    /// running, paused, circuit_open, disabled or stopped, as the relay last said.
    pub state: String,
    pub detail: Option<String>,
    pub heartbeat_at: DateTime<Utc>,
    /// Not stopped, and its last heartbeat within `health::LIVENESS_FACTOR` of its own
    /// interval.
    pub alive: bool,
}

/// Everything [`search`] found. Serialised as the `search --json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchReport {
    pub term: SearchTerm,
    /// The term's kind: `ext_info1`, `ext_info20`, `phone`, `email` or `name`.
    pub matched_by: &'static str,
    /// For a phone, e-mail or name search: the persons that key matched, lowest id first
    /// (whether or not they use a subscription); `None` for ExtInfo1/ExtInfo20.
    pub matched_persons: Option<Vec<PersonId>>,
    /// More than [`MAX_PERSONS`] persons matched: `matched_persons` and the verdicts hold the
    /// first ones only (a warning says so too).
    pub persons_truncated: bool,
    pub searched_at: DateTime<Utc>,
    pub since: Option<NaiveDate>,
    /// One per (subscription, person) match, by subscription then person.
    pub verdicts: Vec<MemberVerdict>,
    /// Set when nothing at all was found: the plain "no match" sentence and the likely cause.
    pub not_found: Option<String>,
    /// For a card nobody holds: the cards that differ from it only in leading zeros
    /// (`34231452` → `0034231452`). Never a match (cards match whole); always present, `[]`
    /// when there is nothing to suggest.
    pub did_you_mean: Vec<String>,
    /// Matching log lines that name no person (or a subscription with several matches), so
    /// they could not be put on one member's timeline.
    pub other_log_lines: Vec<TimelineEvent>,
    pub use_digis: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Some relay has a fresh heartbeat.
    pub relay_running: bool,
    pub relays: Vec<RelaySummary>,
    pub log_dir: String,
    pub log_dir_exists: bool,
    pub log_files_scanned: Vec<ScannedFile>,
    /// Rotated files not read because they are older than `since`.
    pub log_files_skipped: Vec<String>,
    pub bytes_scanned: u64,
    /// Unreadable log files and the like; the search carried on past them.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Delivery as a whole could not be read (`health::Snapshot`).
    #[error(transparent)]
    Delivery(#[from] crate::health::Unread),
    #[error("the log scan stopped unexpectedly: {0}")]
    Scan(String),
}

/// Answers "what happened to this subscription / card / person?" from the database and the
/// sync logs in `log_dir` (a missing folder is not an error: the report says so).
pub async fn search(
    storage: &dyn Storage,
    log_dir: &Path,
    term: &SearchTerm,
    opts: &SearchOptions,
) -> Result<SearchReport, SearchError> {
    let (seed, scan) = match term {
        // The log holds no phone number, address or name: the persons are found first, and
        // the log is searched for their subscriptions and cards.
        SearchTerm::Member(_) => {
            let seed = db::seed(storage, term).await?;
            tracing::debug!(
                kind = term.kind(),
                persons = seed.persons_found(),
                pairs = seed.pair_count(),
                "member search"
            );
            let scan = scan_logs(log_dir, seed.log_keys(), opts.since).await?;
            (seed, scan)
        }
        // The log scan is blocking file I/O: it runs on the blocking pool while the database
        // answers.
        _ => {
            let scan = scan_logs(log_dir, logscan::LogKeys::of(term), opts.since);
            let seed = db::seed(storage, term).await;
            let scan = scan.await?;
            (seed?, scan)
        }
    };
    let facts = db::load(storage, term, seed, &scan.hits).await?;
    Ok(report::report(term, log_dir, opts, facts, scan))
}

fn scan_logs(
    log_dir: &Path,
    keys: logscan::LogKeys,
    since: Option<NaiveDate>,
) -> impl std::future::Future<Output = Result<logscan::LogScan, SearchError>> {
    let dir = log_dir.to_path_buf();
    let task = tokio::task::spawn_blocking(move || logscan::scan(&dir, &keys, since));
    async move { task.await.map_err(|e| SearchError::Scan(e.to_string())) }
}
