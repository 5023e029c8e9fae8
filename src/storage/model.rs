//! Rows as the storage layer hands them out. Times are UTC; the SQLite implementation stores
//! them as fixed-width ISO-8601 text so that text order is time order.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    EventAction, FailureCause, OutboxId, OutboxState, PauseKind, PausedBy, PersonId,
    RecordedOutcome, RelayState, SubscriptionId,
};

pub use crate::domain::MemberRow;

/// One `digis_outbox` row, with the member's current card number (from `digis_member`, so it
/// is `None` once the user was removed from the subscription).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub subscription_id: SubscriptionId,
    pub person_id: PersonId,
    pub state: OutboxState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_http_status: Option<i32>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// Queued by `resend`: sent even though the pair is already in `digis`.
    pub resend: bool,
    pub card_number: Option<String>,
    /// Why the host data behind this row cannot be read (text in an id column, invalid UTF-8,
    /// ...). The relay fails such a row alone instead of the whole batch; listings show it.
    /// When the outbox row's own ids are unreadable they are `0` here (no valid id is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defect: Option<Box<RowDefect>>,
}

/// An id as the host database stores it: a whole number, or something else described for
/// people (never repeated when it could be personal data, see [`StoredId::describe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StoredId {
    Int(i64),
    Other(String),
}

impl StoredId {
    /// Describes a value that is not a whole number. Short numeric-looking text is shown as
    /// stored (`2000.5`, `-0`), anything else only by kind: a name typed into an id column
    /// is personal data and must not reach a log.
    pub fn describe(kind: &str, shown: Option<&str>) -> StoredId {
        match shown {
            // Only what reads as one number: a birth date (`1990-05-01`) or a phone number
            // (`070-1234567`) typed into an id column is made of the same characters.
            Some(s)
                if !s.is_empty()
                    && s.len() <= 24
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
                    && s.parse::<f64>().is_ok() =>
            {
                StoredId::Other(s.to_string())
            }
            _ => StoredId::Other(format!("<{kind}>")),
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            StoredId::Int(v) => Some(*v),
            StoredId::Other(_) => None,
        }
    }
}

impl std::fmt::Display for StoredId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredId::Int(v) => write!(f, "{v}"),
            StoredId::Other(s) => write!(f, "{s} (as stored)"),
        }
    }
}

/// One host row the relay cannot read or type. It fails that row alone: it never fails a
/// claim, an export page, a preview or a search for anyone else (docs/untrusted-edges.md).
/// The text names the outbox row, the person and the column, never the value of a personal column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct RowDefect {
    pub outbox_id: Option<OutboxId>,
    pub subscription: StoredId,
    pub person: StoredId,
    /// The `digis_member` (or `digis_outbox`) column, e.g. `person_id`, `first_name`.
    pub column: &'static str,
    /// What is wrong, e.g. `is not an integer`, `is not valid UTF-8`.
    pub problem: String,
}

impl std::fmt::Display for RowDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.outbox_id {
            Some(id) => write!(
                f,
                "outbox {id}, person {} (subscription {})",
                self.person, self.subscription
            )?,
            None => write!(
                f,
                "subscription {}, person {}",
                self.subscription, self.person
            )?,
        }
        write!(f, ": column {} {}", self.column, self.problem)
    }
}

impl RowDefect {
    /// The failure's group of the row this defect fails: the column and the problem.
    pub fn cause(&self) -> FailureCause {
        FailureCause::host_column(self.column, &self.problem)
    }

    /// The (subscription, person) pair the defect's row names, when both ids read as numbers.
    pub fn pair(&self) -> Option<(i64, i64)> {
        self.subscription.int().zip(self.person.int())
    }
}

/// A `digis` row as a claim reads it: the row, or why it cannot be read.
pub type DigisRead = std::result::Result<DigisRow, RowDefect>;

/// A `digis_member` row as read: the row, or why it cannot be read.
pub type MemberRead = std::result::Result<MemberRow, RowDefect>;

/// A row handed to one relay under a lease. Completing it needs the claim token: a relay whose
/// lease was taken over by another cannot complete it.
#[derive(Debug, Clone)]
pub struct ClaimedRow {
    pub row: OutboxRow,
    pub claim_token: String,
    /// The member as the view shows it now (`None`: the user left the subscription).
    pub member: Option<MemberRow>,
    /// The pair's `digis` row, if Digis already accepted it.
    pub synced: Option<DigisRow>,
    /// The pair's newest `sent` outbox row: Digis accepted the pair even when the host lost
    /// its `digis` row (a TRUNCATE, a restore from an older backup).
    pub sent: Option<SentRow>,
    /// This attempt's number in the row's history (`digis_attempt.attempt`, `attempt=` in the
    /// sync log): the attempts on record plus one. Not `row.attempts`, the budget towards
    /// `max_attempts`, which a retry starts again from 0.
    pub attempt_no: i32,
}

/// A `sent` outbox row of a pair, as the re-check before sending reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentRow {
    pub outbox_id: OutboxId,
    pub external_id: Option<String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigisRow {
    pub subscription_id: SubscriptionId,
    pub person_id: PersonId,
    pub external_id: Option<String>,
    pub synced_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub outbox_id: OutboxId,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub relay_id: String,
    pub http_status: Option<i32>,
    pub outcome: RecordedOutcome,
    pub error: Option<String>,
}

/// What a relay records about one try, whatever the outcome. Serialisable for the held
/// answers' journal (`relay::journal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub relay_id: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
}

/// How a claimed row ends. The storage applies it only while the claim is still held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Completion {
    /// Digis accepted it: the row is `sent` and the pair goes into `digis`.
    Sent { external_id: Option<String> },
    /// Try again at `next_attempt_at`.
    Retry { next_attempt_at: DateTime<Utc> },
    /// Needs a person; `cause` is the failure's group (stored beside the error text, which
    /// stays the relay's sentence). A journal written before completions carried it reads as
    /// "other" here, and is read from its text (`relay::journal`).
    Failed {
        #[serde(default = "FailureCause::other")]
        cause: FailureCause,
    },
    /// Must not be sent; `reason` says why.
    Discarded { reason: String },
    /// Given back after Digis answered with a configuration error (`domain::GiveBack`): not this
    /// row's fault, so back to `pending` at `next_attempt_at` without charging the attempt.
    /// Rows given back before a request went out use `Storage::release` instead.
    Released { next_attempt_at: DateTime<Utc> },
}

impl Completion {
    /// The state the row is left in when the completion applies.
    pub fn state(&self) -> OutboxState {
        match self {
            Completion::Sent { .. } => OutboxState::Sent,
            Completion::Retry { .. } | Completion::Released { .. } => OutboxState::Pending,
            Completion::Failed { .. } => OutboxState::Failed,
            Completion::Discarded { .. } => OutboxState::Discarded,
        }
    }

    /// The word the sync log, `digis_attempt` and the metrics record this completion under.
    pub fn outcome(&self) -> crate::domain::AttemptOutcome {
        use crate::domain::AttemptOutcome as O;
        match self {
            Completion::Sent { .. } => O::Sent,
            Completion::Retry { .. } => O::Retry,
            Completion::Failed { .. } => O::Failed,
            Completion::Discarded { .. } => O::Discarded,
            Completion::Released { .. } => O::GivenBack,
        }
    }
}

/// One completion of a group handed to `Storage::complete_group`: the claimed row's keys, how
/// it ends, and the attempt to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionItem {
    pub id: OutboxId,
    pub claim_token: String,
    pub subscription_id: SubscriptionId,
    pub person_id: PersonId,
    /// The attempt number the claim charged (`digis_attempt.attempt`).
    pub attempt_no: i32,
    pub completion: Completion,
    pub attempt: AttemptRecord,
}

impl CompletionItem {
    pub fn new(row: &ClaimedRow, completion: Completion, attempt: AttemptRecord) -> Self {
        CompletionItem {
            id: row.row.id,
            claim_token: row.claim_token.clone(),
            subscription_id: row.row.subscription_id,
            person_id: row.row.person_id,
            attempt_no: row.attempt_no,
            completion,
            attempt,
        }
    }
}

/// How one row of a group ended. A row's own trouble never fails its group: each of these is
/// the row alone, and the group's other rows are committed beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteResult {
    Applied,
    /// Applied (the row is `sent`, with Digis's id), but its pair could not be written to
    /// `digis` (why): Digis has the member, and the row is never sent again.
    SentWithoutDigis(String),
    /// The claim was taken over (the lease expired and another relay claimed the row) or an
    /// operator changed the row meanwhile: nothing was applied; the attempt is recorded as
    /// `stale_<outcome>`.
    LeaseLost,
    /// The row was deleted meanwhile (the membership system's DELETE): nothing was applied,
    /// and its attempt is not recorded (it would belong to no row).
    Vanished,
    /// The row itself could not be written (why): it stays `sending` under this claim until
    /// its lease ends, and is then claimed again.
    Unwritten(String),
}

impl CompleteResult {
    /// The row now says how it ended (`sent`, `failed`, ...).
    pub fn applied(&self) -> bool {
        matches!(
            self,
            CompleteResult::Applied | CompleteResult::SentWithoutDigis(_)
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub discarded: u64,
}

impl Counts {
    pub fn get(&self, state: OutboxState) -> u64 {
        match state {
            OutboxState::Pending => self.pending,
            OutboxState::Sending => self.sending,
            OutboxState::Sent => self.sent,
            OutboxState::Failed => self.failed,
            OutboxState::Discarded => self.discarded,
        }
    }
    pub fn set(&mut self, state: OutboxState, n: u64) {
        match state {
            OutboxState::Pending => self.pending = n,
            OutboxState::Sending => self.sending = n,
            OutboxState::Sent => self.sent = n,
            OutboxState::Failed => self.failed = n,
            OutboxState::Discarded => self.discarded = n,
        }
    }
    pub fn total(&self) -> u64 {
        OutboxState::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// The pause flag and the last sync request, shared by every relay through the database.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Control {
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub paused_by: Option<PausedBy>,
    pub paused_at: Option<DateTime<Utc>>,
    pub sync_requested_at: Option<DateTime<Utc>>,
    /// The circuit every relay obeys (docs/delivery-path.md: the circuit).
    pub circuit: SharedCircuit,
    /// The database's clock when the row was read, to judge `circuit` by the clock that wrote
    /// it (`None`: not read from a database).
    pub db_now: Option<DateTime<Utc>>,
}

impl Control {
    /// The kind of pause in force; `None` while delivery is not paused.
    pub fn pause(&self) -> Option<PauseKind> {
        self.paused
            .then(|| PauseKind::of(self.paused_by.as_ref(), self.pause_reason.as_deref()))
    }
}

/// The circuit as the database holds it, one for all relays: closed (`open_until` is `None`),
/// open until `open_until` (by the database's clock), then due for one probe, which the first
/// relay to take it wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SharedCircuit {
    pub open_until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The relay whose run of failures (or failed probe) opened it.
    pub opened_by: Option<String>,
    /// The relay that took the last probe.
    pub probe_by: Option<String>,
}

/// One relay's heartbeat row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelayInfo {
    pub relay_id: String,
    pub hostname: String,
    pub pid: i64,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// What the relay was doing at its last heartbeat (`degraded`: keeps failing, `detail`
    /// says why).
    pub state: RelayState,
    pub detail: Option<String>,
    /// The relay's share of the request budget (`max_requests_per_second` divided among the
    /// live relays), requests per second, as it last set it. `None`: no limit, or written by
    /// an older version.
    pub request_share: Option<f64>,
    /// The relay's own heartbeat interval: it is live while its last heartbeat is younger than
    /// a few of these (`crate::health::LIVENESS_FACTOR`). `None`: written by an older version.
    pub heartbeat_ms: Option<i64>,
    /// Requests per second the relay allowed itself at its last heartbeat (it adapts to
    /// Digis's 429/503 answers). `None`: no limit, or written by an older version.
    pub request_rate: Option<f64>,
    /// The database's clock minus the relay's, in milliseconds, as last measured (at start and
    /// with every heartbeat). The relay writes times corrected by it; above
    /// `relay.max_clock_offset_ms` it claims nothing. `None`: written by an older version.
    pub clock_offset_ms: Option<i64>,
}

/// Keyset-paged listing of the outbox, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<OutboxState>,
    /// Rows with a smaller id than this (the next page down).
    pub before: Option<OutboxId>,
    /// Rows with a larger id than this (the page above), still returned newest first.
    pub after: Option<OutboxId>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncResult {
    /// Pending rows that were waiting for a retry and are now due.
    pub made_due: u64,
    /// Rows queued by `--reconcile`.
    pub queued: u64,
    /// `digis` rows written back from sent outbox rows (`--restore-digis`).
    pub restored: u64,
}

/// What `sync --reconcile` is asked to do beyond queueing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconcile {
    /// Pairs not to queue: the sync log says they were sent, the database does not know it.
    pub skip: Vec<(SubscriptionId, PersonId)>,
    /// Write `digis` rows back from sent outbox rows first.
    pub restore_digis: bool,
}

/// What `sync --reconcile` would do now, asked before it does it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcilePreview {
    /// Members it would queue.
    pub would_queue: u64,
    /// Pairs with a sent outbox row but no `digis` row (what `--restore-digis` writes back).
    pub lost_digis: u64,
}

/// What `doctor` needs to know about the relay-owned objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaReport {
    pub host_tables_missing: Vec<String>,
    pub relay_tables_missing: Vec<String>,
    pub view_present: bool,
    pub triggers_missing: Vec<String>,
    /// The host's own `digis` table cannot hold Digis's ids (one line naming the table, the
    /// column and the type it needs); `None` when it can, or when there is no `digis` yet.
    pub digis_problem: Option<String>,
}

impl SchemaReport {
    pub fn is_complete(&self) -> bool {
        self.host_tables_missing.is_empty()
            && self.relay_tables_missing.is_empty()
            && self.view_present
            && self.triggers_missing.is_empty()
            && self.digis_problem.is_none()
    }
}

/// Something an operator (or a relay lifting its own pause) did by hand, from `digis_event`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub at: DateTime<Utc>,
    /// `user@host`, `tui:user@host` or `relay:<id>`.
    pub actor: String,
    pub action: EventAction,
    pub outbox_id: Option<OutboxId>,
    pub subscription_id: Option<SubscriptionId>,
    pub person_id: Option<PersonId>,
    pub detail: Option<String>,
}

/// The trailing digits of a national number that `digis_person_key.phone` holds (migration
/// 0018) and a phone search narrows by.
pub const PHONE_KEY_DIGITS: usize = 7;

/// The most grams of a typed word a name search looks up (spread over the word): any of them
/// narrows soundly, and each costs the database a seek per candidate.
pub const MAX_NAME_GRAMS: usize = 12;

/// The grams a name search for `word` (a [`PersonFilter::NameWord`]) looks up in the person
/// keys (migration 0018): its three-letter pieces, which every folded name holding the word
/// holds too; `["*"]` (the names the database hands to Rust) for a word outside ASCII; `None`
/// for a word too short to have a piece, which is looked for the old way.
pub fn name_grams(word: &str) -> Option<Vec<String>> {
    if !word.is_ascii() {
        return Some(vec!["*".to_string()]);
    }
    let bytes = word.as_bytes();
    if bytes.len() < 3 || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut grams: Vec<String> = Vec::new();
    for w in bytes.windows(3) {
        let g = String::from_utf8_lossy(w).to_ascii_lowercase();
        if !grams.contains(&g) {
            grams.push(g);
        }
    }
    if grams.len() > MAX_NAME_GRAMS {
        let last = grams.len() - 1;
        grams = (0..MAX_NAME_GRAMS)
            .map(|i| grams[i * last / (MAX_NAME_GRAMS - 1)].clone())
            .collect();
    }
    Some(grams)
}

/// What [`Storage::persons_matching`](super::Storage::persons_matching) narrows by in SQL. The
/// narrowing is coarse and never misses a person the exact rule would find; the exact
/// comparison (the payload's phone normalisation, Unicode folding) is the caller's
/// (`search::member`), on the rows handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum PersonFilter {
    /// Digits every form of the number contains once separators are removed (the trailing
    /// [`PHONE_KEY_DIGITS`] of the national number): the number's key in `digis_person_key`
    /// when it has that many, which every stored form search can match ends in.
    PhoneDigits(String),
    /// The address lower-cased; stored addresses are compared trimmed and lower-cased, and every
    /// address holding a character outside printable ASCII is a candidate (SQL lower-cases ASCII
    /// only).
    Email(String),
    /// One folded word of the name (ASCII letters and digits), or a word as written holding a
    /// letter of another script; a candidate holds it in `first_name || ' ' || last_name`
    /// (apostrophes removed, any case), or holds a character outside printable ASCII (folding
    /// in Rust decides those). Through the person keys' grams ([`name_grams`]) when it has one.
    NameWord(String),
}

/// Redacted: the filter holds what an operator typed (part of a number, an address, a name).
impl std::fmt::Debug for PersonFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PersonFilter::PhoneDigits(_) => "PhoneDigits(<redacted>)",
            PersonFilter::Email(_) => "Email(<redacted>)",
            PersonFilter::NameWord(_) => "NameWord(<redacted>)",
        })
    }
}

/// A `person` row as search compares it (with the address country, which decides how a
/// national number is read). Host data: a column that cannot be read (bytes that are not UTF-8)
/// is `None` here, so that person cannot match on it, and nobody else is affected.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub id: PersonId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub mobile_country_code: Option<String>,
    pub mobile_number: Option<String>,
    pub card_number: Option<String>,
    pub country_alpha2: Option<String>,
}

/// The id only: the rest is personal data, and `Debug` output can end up in logs.
impl std::fmt::Debug for PersonRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonRow")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One group of failed rows: one business unit and one cause (docs/contracts.md, Dashboard,
/// Failures). The unit is the member's as `digis_member` shows it now: `None` when the member is
/// no longer a user, the person has no unit, or its id cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FailureGroupKey {
    pub unit_id: Option<i64>,
    pub cause: crate::domain::FailureCause,
}

/// A group of failed rows with its size and age. No personal data: a unit's name is the gym's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureGroup {
    pub key: FailureGroupKey,
    pub unit_name: Option<String>,
    /// Failed rows in the group.
    pub rows: u64,
    /// When the group's first and last row failed.
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
}

/// Which unit's failed rows to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFilter {
    Any,
    /// This unit; `None` is the rows without one (see [`FailureGroupKey::unit_id`]).
    Is(Option<i64>),
}

/// A page of failed rows, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedQuery {
    pub unit: UnitFilter,
    /// Only this cause; `None`: every cause.
    pub cause: Option<crate::domain::FailureCause>,
    pub after: Option<OutboxId>,
    pub limit: u32,
}

/// One failed row and its member as the view shows it now: what a gym needs to fix the data.
/// Holds personal data (the name): shown on the dashboard and written to the report file only;
/// `Debug` leaves the name and the card out, so it cannot reach a log by accident.
#[derive(Clone, PartialEq)]
pub struct FailedMember {
    pub id: OutboxId,
    /// `0` when the outbox row's id cannot be read (see [`OutboxRow::defect`]).
    pub subscription_id: SubscriptionId,
    pub person_id: PersonId,
    pub card_number: Option<String>,
    /// First and last name as stored.
    pub name: Option<String>,
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
    /// The group's cause, as stored with the failure.
    pub cause: crate::domain::FailureCause,
    /// What exactly is wrong with this row ([`crate::domain::Failure::detail`]).
    pub detail: String,
    /// When the row failed.
    pub failed_at: DateTime<Utc>,
    /// Why the member cannot be shown: no longer a user, or the host row cannot be read.
    pub member_problem: Option<String>,
    /// What the cause's field holds in `digis_member` now (issue 25 item 6); `None` when the
    /// cause names no member column or the member cannot be shown.
    pub value_today: Option<crate::domain::ValueToday>,
}

impl std::fmt::Debug for FailedMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedMember")
            .field("id", &self.id)
            .field("subscription_id", &self.subscription_id)
            .field("person_id", &self.person_id)
            .field("unit_id", &self.unit_id)
            .field("failed_at", &self.failed_at)
            .finish_non_exhaustive()
    }
}

/// Attempts that ended sent, failed or in a retry within one time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
}

/// Save-to-sent delays of rows sent in a time range: every row, or an even sample of them when
/// there are more than asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelaySample {
    /// Rows sent in the range.
    pub sent: u64,
    /// Every `stride`-th row (by id) was read.
    pub stride: u64,
    /// (sent at, milliseconds from queued to sent) of the rows read.
    pub delays: Vec<(DateTime<Utc>, i64)>,
}

#[cfg(test)]
mod stored_id_tests {
    use super::StoredId;

    #[test]
    fn only_numbers_are_shown_as_stored() {
        for shown in ["2000.5", "-0", "1e3"] {
            assert_eq!(
                StoredId::describe("real", Some(shown)),
                StoredId::Other(shown.into())
            );
        }
        for personal in ["1990-05-01", "070-1234567", "+46-70-123"] {
            assert_eq!(
                StoredId::describe("text", Some(personal)),
                StoredId::Other("<text>".into()),
                "{personal}"
            );
        }
    }
}

/// Whether an operator's retry includes rows whose last answer from Digis was unconfirmed
/// (docs/contracts.md, Digis HTTP): Digis may have sent their SMS, so they go back only when the
/// operator confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconfirmed {
    /// Leave them as they are.
    Skip,
    /// The operator confirmed: retry them too.
    Include,
}

impl Unconfirmed {
    pub fn included(self) -> bool {
        self == Unconfirmed::Include
    }
}

#[cfg(test)]
mod name_gram_tests {
    use super::{name_grams, MAX_NAME_GRAMS};

    #[test]
    fn a_name_word_is_looked_up_by_its_pieces() {
        let g = |w: &str| name_grams(w);
        assert_eq!(g("anna"), Some(vec!["ann".into(), "nna".into()]));
        assert_eq!(g("nnnn"), Some(vec!["nnn".into()]), "each piece once");
        assert_eq!(g("ab"), None, "no piece: the scan");
        assert_eq!(
            g("иван"),
            Some(vec!["*".into()]),
            "another script: handed to Rust"
        );
        assert_eq!(g("a b c"), None, "only a folded word has pieces");
        let long = g("abcdefghijklmnopqrstuvwxyz0123456789").unwrap();
        assert_eq!(long.len(), MAX_NAME_GRAMS);
        assert_eq!(long.first().map(String::as_str), Some("abc"));
        assert_eq!(long.last().map(String::as_str), Some("789"));
        // Every piece kept is one of the word's, so a name holding the word holds them all.
        let word = "svensson123456";
        let folded_name = format!("anna {word}");
        for piece in g(word).unwrap() {
            assert!(folded_name.contains(&piece), "{piece}");
        }
    }
}
