//! The state of delivery as a whole, whatever the member: `useDigis`, the pause, the relays.
//! Read as the delivery snapshot and judged by [`crate::health::assess`], the rule `/healthz`,
//! `status`, `doctor` and the dashboard use too (with search's rules,
//! [`health::Rules::for_one_member`]), so search can never call a relay alive that the others
//! call dead; this module only picks out what the wording needs.
use chrono::{DateTime, Utc};

use super::{RelaySummary, SearchOptions};
use crate::health::{self, Kind, Snapshot};
use crate::storage::RelayInfo;

/// What can hold every delivery back. The wording turns it into blockers.
#[derive(Debug)]
pub(super) struct Delivery<'a> {
    /// This reader's `useDigis`.
    pub use_digis: bool,
    pub paused: bool,
    pub pause_reason: Option<&'a str>,
    /// Some relay is alive.
    pub relay_running: bool,
    /// Seconds since the newest heartbeat of any relay (`None`: no relay ever ran here).
    pub last_heartbeat_secs: Option<i64>,
    /// Alive relays that hold delivery back (circuit open, degraded, useDigis off there).
    pub idle_relays: Vec<&'a RelaySummary>,
    /// Where the advice is read: commands for a shell, keys in the dashboard.
    pub place: super::Place,
}

impl<'a> Delivery<'a> {
    pub fn new(opts: &SearchOptions, snapshot: &'a Snapshot, relays: &'a [RelaySummary]) -> Self {
        let now = opts.now;
        let h = snapshot.judge_at(&health::Rules::for_one_member(opts.use_digis), now);
        let control = snapshot.control.as_ref().ok();
        let raw = snapshot.relays.as_deref().unwrap_or_default();
        let held_by = |id: &str| {
            h.blockers.iter().any(|b| {
                b.relay_id.as_deref() == Some(id)
                    && matches!(
                        b.kind,
                        Kind::CircuitOpen | Kind::Degraded | Kind::UseDigisOff
                    )
            })
        };
        Self {
            use_digis: opts.use_digis,
            paused: h.has(Kind::Paused) || h.has(Kind::SelfPaused),
            pause_reason: control.and_then(|c| c.pause_reason.as_deref()),
            relay_running: !h.has(Kind::NoLiveRelay),
            last_heartbeat_secs: raw
                .iter()
                .map(|r| r.heartbeat_at)
                .max()
                .map(|t| (now - t).num_seconds().max(0)),
            idle_relays: relays.iter().filter(|r| held_by(&r.relay_id)).collect(),
            place: opts.place,
        }
    }
}

/// Each relay as search reports it, alive judged by its own heartbeat interval.
pub(super) fn relay_summaries(relays: &[RelayInfo], now: DateTime<Utc>) -> Vec<RelaySummary> {
    relays
        .iter()
        .map(|r| RelaySummary {
            relay_id: r.relay_id.clone(),
            hostname: r.hostname.clone(),
            state: r.state.to_string(),
            detail: r.detail.clone(),
            heartbeat_at: r.heartbeat_at,
            alive: health::is_live(r, now),
        })
        .collect()
}
