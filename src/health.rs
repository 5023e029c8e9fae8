//! One assessment of delivery health, shared by `/healthz`, `status`, `doctor` and the
//! dashboard header, so that no two surfaces can disagree about whether invitations go out.
//!
//! What fails `/healthz` (503) is what a person must act on: the database is unreachable, no
//! relay is alive, a relay keeps failing (degraded), the relay paused itself because Digis
//! rejected the configuration, or the backlog is older than `relay.backlog_max_age_ms`. What
//! does not: `useDigis = false` and a pause set by an operator (both deliberate: a probe that
//! failed for them would page someone, or restart the relay, for a choice somebody made), and
//! an open circuit (Digis is down, not us; the relay recovers by itself, and if the outage lasts
//! the backlog-age check turns it into a failure).
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{PauseKind, RelayState};
use crate::storage::{Control, RelayInfo};

mod json;
mod snapshot;

pub use json::{DeliveryJson, HealthzJson};
pub use snapshot::{Backlog, Part, Rules, Snapshot, Unread};

/// A relay is live while its last heartbeat is younger than this many of its own intervals.
pub const LIVENESS_FACTOR: i64 = 3;

/// The interval assumed for heartbeat rows written before relays recorded their own (the
/// default `relay.heartbeat_ms` of those versions).
pub const LEGACY_HEARTBEAT_MS: i64 = 5_000;

/// A relay row whose heartbeat is older than this is deleted by the other relays: its relay
/// died without stopping (killed, the host lost) long ago. Stopped rows go sooner (each clean
/// stop deletes the others': `Storage::forget_relays`). At least [`LIVENESS_FACTOR`] times ten
/// of the relay's own heartbeat interval, so no live relay's row is ever taken.
pub fn forget_relays_before(now: DateTime<Utc>, heartbeat_ms: u64) -> DateTime<Utc> {
    let interval = i64::try_from(heartbeat_ms).unwrap_or(i64::MAX);
    let age = chrono::Duration::days(1).max(chrono::Duration::milliseconds(
        interval.saturating_mul(LIVENESS_FACTOR * 10),
    ));
    now - age
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DatabaseUnreachable,
    UseDigisOff,
    Degraded,
    /// A relay paused delivery itself: Digis rejected the configuration (401/403/404/3xx).
    SelfPaused,
    /// An operator paused delivery.
    Paused,
    NoLiveRelay,
    CircuitOpen,
    BacklogTooOld,
    /// A live relay's clock is further from the database's than `relay.max_clock_offset_ms`:
    /// it claims nothing.
    ClockOffset,
}

impl Kind {
    /// Whether this blocker makes `/healthz` answer 503 (see the module comment for why).
    pub fn fails_healthz(self) -> bool {
        match self {
            Kind::DatabaseUnreachable
            | Kind::Degraded
            | Kind::SelfPaused
            | Kind::NoLiveRelay
            | Kind::BacklogTooOld
            | Kind::ClockOffset => true,
            Kind::UseDigisOff | Kind::Paused | Kind::CircuitOpen => false,
        }
    }
}

/// One thing that stops or slows delivery now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub kind: Kind,
    pub fails_healthz: bool,
    /// One line for people, without secrets (pause reasons and relay details are stored
    /// redacted).
    pub message: String,
    /// The relay it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_id: Option<String>,
    /// Paused: by whom and since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl Blocker {
    fn new(kind: Kind, message: impl Into<String>) -> Blocker {
        Blocker {
            kind,
            fails_healthz: kind.fails_healthz(),
            // Messages quote pause reasons and relay details (from Digis, from operators):
            // escaped once here, for every surface that shows a blocker.
            message: crate::sanitize::for_display(&message.into()),
            relay_id: None,
            by: None,
            since: None,
        }
    }

    /// A blocker about relay `r`, naming it.
    fn of_relay(kind: Kind, r: &RelayInfo, message: impl Into<String>) -> Blocker {
        Blocker {
            relay_id: Some(r.relay_id.clone()),
            ..Blocker::new(kind, message)
        }
    }

    /// `what: ` and what relay `r` wrote about itself (`otherwise` when it wrote nothing).
    fn said_by(kind: Kind, r: &RelayInfo, what: String, otherwise: &str) -> Blocker {
        let detail = r.detail.as_deref().unwrap_or(otherwise);
        Blocker::of_relay(kind, r, format!("{what}: {detail}"))
    }
}

/// What is known when assessing; `None` where it could not be read.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The reader's own `useDigis` (the process serving `/healthz` runs a relay with it).
    pub use_digis: bool,
    pub database_reachable: bool,
    pub control: Option<&'a Control>,
    pub relays: Option<&'a [RelayInfo]>,
    /// When the longest-waiting due `pending` row became due.
    pub oldest_due_pending: Option<DateTime<Utc>>,
    /// `relay.backlog_max_age_ms`; 0 = never too old.
    pub backlog_max_age_ms: u64,
    /// `relay.max_clock_offset_ms`; 0 = not judged here.
    pub max_clock_offset_ms: u64,
    /// The database's time (`crate::clock::db_now_or_local`): heartbeats are written in it, so
    /// ages are database time minus database time whatever this host's clock says.
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `ok` (nothing in the way), `blocked` (something deliberate or self-healing in the way)
    /// or `unhealthy` (what `/healthz` answers 503 for).
    pub status: &'static str,
    pub healthy: bool,
    pub live_relays: Vec<String>,
    /// Seconds the longest-waiting due `pending` row has waited (0: none is due).
    pub oldest_pending_age_seconds: i64,
    /// Worst first.
    pub blockers: Vec<Blocker>,
}

impl Health {
    pub fn has(&self, kind: Kind) -> bool {
        self.blockers.iter().any(|b| b.kind == kind)
    }
}

/// Whether `r` is alive at `now`, judged by its own heartbeat interval.
pub fn is_live(r: &RelayInfo, now: DateTime<Utc>) -> bool {
    if r.state == RelayState::Stopped {
        return false;
    }
    let every = r
        .heartbeat_ms
        .filter(|ms| *ms > 0)
        .unwrap_or(LEGACY_HEARTBEAT_MS);
    let window = every.saturating_mul(LIVENESS_FACTOR);
    (now - r.heartbeat_at).num_milliseconds() < window
}

/// The request rate the live relays allow themselves together, as their heartbeats last said
/// (so up to one heartbeat interval old): `Some(None)` when one of them has no limit,
/// `None` when no relay is live.
pub fn request_rate(relays: &[RelayInfo], now: DateTime<Utc>) -> Option<Option<f64>> {
    let mut live = relays.iter().filter(|r| is_live(r, now)).peekable();
    live.peek()?;
    Some(live.map(|r| r.request_rate).sum())
}

/// A request rate for people: `12.5 requests/s`, or `no limit`.
pub fn rate_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("{r:.1} requests/s"),
        None => "no limit".into(),
    }
}

/// Seconds since `oldest_due` (0 when nothing is due or the clock says it is not due yet).
pub fn backlog_age_seconds(oldest_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    oldest_due.map_or(0, |t| (now - t).num_seconds().max(0))
}

pub fn assess(i: &Inputs<'_>) -> Health {
    let mut out = Vec::new();
    let live: Vec<&RelayInfo> = i
        .relays
        .unwrap_or_default()
        .iter()
        .filter(|r| is_live(r, i.now))
        .collect();
    if !i.database_reachable {
        out.push(Blocker::new(
            Kind::DatabaseUnreachable,
            "the database is unreachable: nothing can be claimed or recorded",
        ));
    }
    if !i.use_digis {
        out.push(Blocker::new(
            Kind::UseDigisOff,
            "useDigis is off: nothing is sent",
        ));
    }
    for r in live
        .iter()
        .filter(|r| r.state == RelayState::Disabled && i.use_digis)
    {
        out.push(Blocker::of_relay(
            Kind::UseDigisOff,
            r,
            format!("relay {} has useDigis off: nothing is sent", r.relay_id),
        ));
    }
    let clock_off = |r: &RelayInfo| {
        r.clock_offset_ms
            .filter(|ms| crate::clock::beyond(*ms, i.max_clock_offset_ms))
    };
    for r in &live {
        if let Some(ms) = clock_off(r) {
            out.push(Blocker::of_relay(
                Kind::ClockOffset,
                r,
                format!(
                    "CLOCK OFF at relay {}: {} (more than relay.max_clock_offset_ms = {} ms), it claims nothing until its time is synced",
                    r.relay_id,
                    crate::clock::offset_words(ms).replace("this host's", "its"),
                    i.max_clock_offset_ms
                ),
            ));
        }
    }
    // A relay whose clock is off says so as its degraded reason too: one blocker is enough.
    for r in live
        .iter()
        .filter(|r| r.state == RelayState::Degraded && clock_off(r).is_none())
    {
        out.push(Blocker::said_by(
            Kind::Degraded,
            r,
            format!("relay {} is DEGRADED", r.relay_id),
            "it keeps failing",
        ));
    }
    let paused = i.control.filter(|c| c.paused);
    if let Some(c) = paused {
        let reason = c.pause_reason.as_deref().unwrap_or("no reason given");
        let mut b = match c.pause() {
            Some(PauseKind::Unconfirmed) => Blocker::new(
                Kind::SelfPaused,
                format!(
                    "PAUSED by the relay: {reason} (check what answers at digisUrl, then `resume`)"
                ),
            ),
            Some(PauseKind::ConfigError) => Blocker::new(
                Kind::SelfPaused,
                format!("PAUSED by the relay: {reason} (fix the configuration, then `resume`)"),
            ),
            _ => Blocker::new(Kind::Paused, format!("PAUSED: {reason}")),
        };
        b.by = c.paused_by.as_ref().map(ToString::to_string);
        b.since = c.paused_at;
        out.push(b);
    } else if i.control.is_none() {
        // The flag could not be read: the relays' own word is all there is. When it was read,
        // it is the truth: a relay still saying `paused` just after a `resume` has simply not
        // run its next batch yet, and must not turn /healthz red.
        for r in live.iter().filter(|r| r.state == RelayState::Paused) {
            out.push(Blocker::said_by(
                Kind::SelfPaused,
                r,
                format!("relay {} PAUSED", r.relay_id),
                "",
            ));
        }
    }
    match i.relays {
        // Not read (the database is unreachable): that blocker already says enough.
        None => {}
        Some([]) => out.push(Blocker::new(
            Kind::NoLiveRelay,
            "NO RELAY has ever run on this database: nothing is sent (start `digis-relay run`)",
        )),
        Some(all) if live.is_empty() => {
            let newest = all.iter().map(|r| r.heartbeat_at).max();
            let secs = newest.map_or(0, |t| (i.now - t).num_seconds().max(0));
            out.push(Blocker::new(
                Kind::NoLiveRelay,
                format!("NO RELAY SEEN for {secs} s: nothing is sent (start `digis-relay run`)"),
            ));
        }
        Some(_) => {}
    }
    for r in live.iter().filter(|r| r.state == RelayState::CircuitOpen) {
        out.push(Blocker::said_by(
            Kind::CircuitOpen,
            r,
            format!("CIRCUIT OPEN at {}", r.relay_id),
            "",
        ));
    }
    let age = backlog_age_seconds(i.oldest_due_pending, i.now);
    let max_s = (i.backlog_max_age_ms / 1000) as i64;
    if i.backlog_max_age_ms > 0 && age.saturating_mul(1000) > i.backlog_max_age_ms as i64 {
        out.push(Blocker::new(
            Kind::BacklogTooOld,
            format!(
                "BACKLOG TOO OLD: a due row has waited {age} s (more than relay.backlog_max_age_ms = {max_s} s)"
            ),
        ));
    }
    let healthy = !out.iter().any(|b| b.fails_healthz);
    Health {
        status: if out.is_empty() {
            "ok"
        } else if healthy {
            "blocked"
        } else {
            "unhealthy"
        },
        healthy,
        live_relays: live.iter().map(|r| r.relay_id.clone()).collect(),
        oldest_pending_age_seconds: age,
        blockers: out,
    }
}

/// The [`Snapshot`] of `storage` judged by the reader's settings ([`Rules::new`]), its read
/// errors logged. A database that cannot be read is a blocker, never an error.
pub async fn read(
    storage: &dyn crate::storage::Storage,
    use_digis: bool,
    backlog_max_age_ms: u64,
    max_clock_offset_ms: u64,
) -> Health {
    let snapshot = Snapshot::read(storage, None).await;
    for e in snapshot.read_errors() {
        tracing::warn!("health: {e}");
    }
    snapshot.judge(&Rules::new(
        use_digis,
        backlog_max_age_ms,
        max_clock_offset_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PausedBy;
    use chrono::Duration;

    fn relay(state: &str, age_ms: i64, every_ms: Option<i64>, now: DateTime<Utc>) -> RelayInfo {
        RelayInfo {
            relay_id: "r1".into(),
            hostname: "h".into(),
            pid: 1,
            version: "t".into(),
            started_at: now - Duration::hours(1),
            heartbeat_at: now - Duration::milliseconds(age_ms),
            state: state.into(),
            detail: Some("why".into()),
            request_share: None,
            heartbeat_ms: every_ms,
            request_rate: None,
            clock_offset_ms: None,
        }
    }

    fn inputs<'a>(relays: &'a [RelayInfo], now: DateTime<Utc>) -> Inputs<'a> {
        Inputs {
            use_digis: true,
            database_reachable: true,
            control: None,
            relays: Some(relays),
            oldest_due_pending: None,
            backlog_max_age_ms: 60_000,
            max_clock_offset_ms: 5_000,
            now,
        }
    }

    /// Digis sees the live relays' rates together; a dead relay's last rate is not sent.
    #[test]
    fn the_request_rate_is_the_live_relays_sum() {
        let now = Utc::now();
        let with = |rate, age_ms| RelayInfo {
            request_rate: rate,
            ..relay("running", age_ms, Some(5_000), now)
        };
        assert_eq!(request_rate(&[], now), None);
        assert_eq!(request_rate(&[with(Some(30.0), 50_000)], now), None);
        let two = [
            with(Some(7.5), 0),
            with(Some(5.0), 1_000),
            with(Some(99.0), 50_000),
        ];
        assert_eq!(request_rate(&two, now), Some(Some(12.5)));
        assert_eq!(rate_text(Some(12.5)), "12.5 requests/s");
        let unlimited = [with(Some(7.5), 0), with(None, 0)];
        assert_eq!(request_rate(&unlimited, now), Some(None));
        assert_eq!(rate_text(None), "no limit");
    }

    #[test]
    fn liveness_uses_the_relays_own_interval() {
        let now = Utc::now();
        // 50 s old: dead at a 5 s rhythm, alive at a 60 s one, whatever the reader has.
        assert!(!is_live(&relay("running", 50_000, Some(5_000), now), now));
        assert!(is_live(&relay("running", 50_000, Some(60_000), now), now));
        assert!(!is_live(&relay("running", 15_000, None, now), now));
        assert!(is_live(&relay("running", 14_000, None, now), now));
        assert!(!is_live(&relay("stopped", 0, Some(5_000), now), now));
    }

    #[test]
    fn degraded_and_no_relay_fail_healthz_operator_pause_does_not() {
        let now = Utc::now();
        let ok = [relay("running", 0, Some(5_000), now)];
        let h = assess(&inputs(&ok, now));
        assert_eq!((h.status, h.healthy, h.blockers.len()), ("ok", true, 0));

        let bad = [relay("degraded", 0, Some(5_000), now)];
        let h = assess(&inputs(&bad, now));
        assert!(!h.healthy && h.has(Kind::Degraded), "{h:?}");
        assert!(h.blockers[0].message.contains("why"));

        let none: [RelayInfo; 0] = [];
        assert!(!assess(&inputs(&none, now)).healthy);

        let control = Control {
            paused: true,
            pause_reason: Some("maintenance".into()),
            paused_by: Some(PausedBy::read("alice@host")),
            ..Control::default()
        };
        let mut i = inputs(&ok, now);
        i.control = Some(&control);
        let h = assess(&i);
        assert!(h.healthy && h.has(Kind::Paused) && h.status == "blocked");

        let by_relay = Control {
            paused_by: Some(PausedBy::relay("r1")),
            ..control.clone()
        };
        i.control = Some(&by_relay);
        assert!(!assess(&i).healthy);
    }

    #[test]
    fn a_relay_still_saying_paused_after_resume_is_not_a_blocker() {
        let now = Utc::now();
        let lagging = [relay("paused", 1_000, Some(5_000), now)];
        let resumed = Control::default();
        let mut i = inputs(&lagging, now);
        i.control = Some(&resumed);
        let h = assess(&i);
        assert!(h.healthy && h.blockers.is_empty(), "{h:?}");
    }

    #[test]
    fn backlog_age_is_a_health_input_with_a_threshold() {
        let now = Utc::now();
        let ok = [relay("running", 0, Some(5_000), now)];
        let mut i = inputs(&ok, now);
        i.oldest_due_pending = Some(now - Duration::seconds(59));
        let h = assess(&i);
        assert!(h.healthy);
        assert_eq!(h.oldest_pending_age_seconds, 59);
        i.oldest_due_pending = Some(now - Duration::seconds(61));
        let h = assess(&i);
        assert!(!h.healthy && h.has(Kind::BacklogTooOld), "{h:?}");
        i.backlog_max_age_ms = 0;
        assert!(assess(&i).healthy);
        // A row due in the future is not waiting.
        assert_eq!(backlog_age_seconds(Some(now + Duration::hours(1)), now), 0);
    }

    /// A relay whose clock is off the database's claims nothing: that fails /healthz, once
    /// (not again as its degraded reason), and a relay within the limit is fine.
    #[test]
    fn a_clock_offset_beyond_the_limit_fails_healthz() {
        let now = Utc::now();
        let off = |state, ms| RelayInfo {
            clock_offset_ms: ms,
            ..relay(state, 0, Some(5_000), now)
        };
        let h = assess(&inputs(&[off("running", Some(-4_000))], now));
        assert!(h.healthy && h.blockers.is_empty(), "{h:?}");
        let h = assess(&inputs(&[off("degraded", Some(-90_000))], now));
        assert!(!h.healthy && h.has(Kind::ClockOffset), "{h:?}");
        assert_eq!(h.blockers.len(), 1, "{h:?}");
        assert!(
            h.blockers[0].message.contains("90.0 s ahead"),
            "{}",
            h.blockers[0].message
        );
        // A stopped relay's last offset is nobody's problem now.
        let h = assess(&inputs(&[off("stopped", Some(90_000))], now));
        assert!(!h.has(Kind::ClockOffset), "{h:?}");
    }

    #[test]
    fn circuit_open_and_use_digis_off_are_blockers_but_not_unhealthy() {
        let now = Utc::now();
        let open = [relay("circuit_open", 0, Some(5_000), now)];
        let mut i = inputs(&open, now);
        i.use_digis = false;
        let h = assess(&i);
        assert!(h.healthy && h.has(Kind::CircuitOpen) && h.has(Kind::UseDigisOff));
        assert_eq!(h.blockers[0].kind, Kind::UseDigisOff);
    }
}
