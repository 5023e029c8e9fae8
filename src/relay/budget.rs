//! One request budget for all live relays (docs/delivery-path.md: the request rate).
//! `max_requests_per_second` is what the Digis key allows, whatever the number of relays: after
//! every heartbeat each relay counts the live relays (`health::is_live`, each judged by its own
//! heartbeat interval) and takes its share ([`limiter::share`]) as its limiter's ceiling; AIMD
//! then adapts within the share.
//!
//! Why a share per relay rather than a shared token bucket: a bucket in the database costs a
//! write per request on the hot path (and on SQLite, the one writer), while the share costs one
//! read per heartbeat; the price is that the shares follow the fleet one heartbeat late, which
//! the rules below keep on the safe side:
//! - a relay that joins and finds others live waits the longest of their heartbeat intervals
//!   (and a margin, at most [`MAX_JOIN_WAIT`]) before its first request, so they have cut their shares before it sends,
//!   and one second more: Digis counts requests over a second, and the second before the
//!   newcomer's first request must hold only the others' cut shares (without it, three relays
//!   started together were seen landing 11 requests in a second on a budget of 9);
//! - a relay that stops writes `stopped` in its last heartbeat, and the others' shares grow at
//!   their next beat;
//! - a relay that dies is counted until it stops being live: the others under-use the budget
//!   for a few heartbeats, never over-use it.
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::limiter::share;
use super::{HeartbeatCtx, Relay};
use crate::domain::RelayState;
use crate::health::{is_live, LEGACY_HEARTBEAT_MS};

/// Digis's window: its limit counts requests over a second.
const DIGIS_WINDOW: Duration = Duration::from_secs(1);

/// How long a joining relay waits for the others to have cut their shares: the longest of their
/// heartbeat intervals, a quarter more for the time a beat itself takes on a busy machine, and
/// 100 ms; then Digis's window, so that no second holds requests at the old shares and the new.
/// Never longer than [`MAX_JOIN_WAIT`]: a relay row that claims an hour-long interval (a
/// stale configuration, a relay row written by hand) must not keep a new relay idle for an
/// hour; such a relay cuts its share at its next beat, up to that beat late.
pub(super) fn join_wait(longest_interval: Duration) -> Duration {
    (longest_interval + longest_interval / 4 + Duration::from_millis(100) + DIGIS_WINDOW)
        .min(MAX_JOIN_WAIT)
}

/// The longest a joining relay waits before its first request (3 default heartbeats and more).
pub(super) const MAX_JOIN_WAIT: Duration = Duration::from_secs(20);

impl HeartbeatCtx {
    /// Counts the live relays and takes this relay's share of the budget; returns the longest
    /// heartbeat interval of the others live (`None` when alone, without a limit, or when the
    /// relays cannot be read: the share then stays as it was).
    pub(super) async fn share_budget(&self) -> Option<Duration> {
        if self.budget == 0 {
            return None;
        }
        let stopping =
            self.status.lock().unwrap_or_else(|p| p.into_inner()).0 == RelayState::Stopped;
        if stopping {
            return None;
        }
        let relays = match self.storage.relays().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("relay {}: cannot count the live relays: {e}", self.relay_id);
                return None;
            }
        };
        // Heartbeats are in the database's time (docs/decisions/0025-one-clock.md).
        let now = self.clock.now();
        // This relay is live: it has just written its heartbeat (whatever its clock says).
        let mut live: Vec<&str> = relays
            .iter()
            .filter(|r| r.relay_id == self.relay_id || is_live(r, now))
            .map(|r| r.relay_id.as_str())
            .collect();
        if !live.contains(&self.relay_id.as_str()) {
            live.push(&self.relay_id);
        }
        live.sort_unstable();
        live.dedup();
        let rank = live.iter().position(|id| *id == self.relay_id).unwrap_or(0);
        let mine = share(self.budget, live.len(), rank);
        if self.limiter.ceiling() != Some(mine) {
            tracing::info!(
                "relay {}: {} live relays share {} requests/s; this one's share is {mine:.2}",
                self.relay_id,
                live.len(),
                self.budget
            );
            self.limiter.set_ceiling(mine);
        }
        self.observer.request_share(Some(mine));
        self.observer.request_rate(self.limiter.rate());
        if let Err(e) = self.storage.record_share(&self.relay_id, Some(mine)).await {
            tracing::warn!("relay {}: cannot record its share: {e}", self.relay_id);
        }
        relays
            .iter()
            .filter(|r| r.relay_id != self.relay_id && is_live(r, now))
            .map(|r| {
                let ms = r
                    .heartbeat_ms
                    .filter(|ms| *ms > 0)
                    .unwrap_or(LEGACY_HEARTBEAT_MS);
                Duration::from_millis(ms as u64)
            })
            .max()
    }
}

impl Relay {
    /// Waits `wait` before the first claim; false when stopped meanwhile.
    pub(super) async fn join(&self, wait: Duration, shutdown: &CancellationToken) -> bool {
        tracing::info!(
            "relay {}: other relays are live; first request in {} ms, once they have cut their share",
            self.relay_id,
            wait.as_millis()
        );
        self.pulse
            .through(async {
                tokio::select! {
                    _ = shutdown.cancelled() => false,
                    _ = tokio::time::sleep(wait) => true,
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joining_relay_waits_longer_than_the_others_beat() {
        let every = Duration::from_millis(200);
        assert!(join_wait(every) > every + DIGIS_WINDOW + Duration::from_millis(50));
        assert!(join_wait(Duration::from_secs(5)) < Duration::from_secs(8));
        assert_eq!(join_wait(Duration::from_secs(3600)), MAX_JOIN_WAIT);
    }
}
