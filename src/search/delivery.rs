//! The state of delivery as a whole, whatever the member: `useDigis`, the pause, the relays.
use chrono::{DateTime, Utc};

use super::{RelaySummary, SearchOptions};
use crate::storage::{Control, RelayInfo};

/// What can hold every delivery back. The wording turns it into blockers.
#[derive(Debug)]
pub(super) struct Delivery<'a> {
    pub use_digis: bool,
    pub paused: bool,
    pub pause_reason: Option<&'a str>,
    /// Some relay is alive.
    pub relay_running: bool,
    /// A relay counts as dead after this long without a heartbeat.
    pub stale_secs: u64,
    /// The alive relays when none of them is running, i.e. none is sending.
    pub idle_relays: Vec<&'a RelaySummary>,
}

impl<'a> Delivery<'a> {
    pub fn new(opts: &SearchOptions, control: &'a Control, relays: &'a [RelaySummary]) -> Self {
        let alive: Vec<&RelaySummary> = relays.iter().filter(|r| r.alive).collect();
        let relay_running = !alive.is_empty();
        let idle_relays = if alive.iter().any(|r| r.state == "running") {
            Vec::new()
        } else {
            alive
        };
        Self {
            use_digis: opts.use_digis,
            paused: control.paused,
            pause_reason: control.pause_reason.as_deref(),
            relay_running,
            stale_secs: opts.relay_stale_after.as_secs(),
            idle_relays,
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
            state: r.state.clone(),
            detail: r.detail.clone(),
            heartbeat_at: r.heartbeat_at,
            alive: crate::health::is_live(r, now),
        })
        .collect()
}
