//! The relay in process (as `run` and the dashboard start it) and what tests read of it.
use std::sync::Arc;
use std::time::Duration;

use digis_relay::config::Config;
use digis_relay::domain::RelayState;
use digis_relay::relay::Relay;
use digis_relay::service::{Service, ServiceOptions};
use digis_relay::storage::RelayInfo;
use digis_relay::synclog::SyncLog;
use tokio_util::sync::CancellationToken;

use super::{eventually, TestDb};

pub fn relay(db: &TestDb, config: Config) -> Relay {
    let log = Arc::new(SyncLog::open(&config.log_dir).unwrap());
    Relay::new(db.storage(), config.relay_setup(), log).unwrap()
}

/// The relay started in process as `run` and the dashboard start it (no listener): stopped by
/// [`Service::shutdown`], or by itself with `once`.
pub async fn service(db: &TestDb, config: Config, once: bool) -> Service {
    let opts = ServiceOptions {
        once,
        ..ServiceOptions::default()
    };
    Service::start(db.storage(), Arc::new(config), opts)
        .await
        .unwrap()
}

pub async fn once(r: &Relay) {
    r.run(CancellationToken::new(), true).await.unwrap();
}

pub async fn all_rows(db: &TestDb) -> Vec<digis_relay::storage::OutboxRow> {
    let q = digis_relay::storage::ListQuery {
        limit: 100_000,
        ..Default::default()
    };
    let mut rows = db.storage.list(&q).await.unwrap();
    rows.reverse();
    rows
}

/// The state this relay's last heartbeat wrote, with its detail.
pub async fn heartbeat_state(db: &TestDb, relay_id: &str) -> Option<(RelayState, Option<String>)> {
    db.storage
        .relays()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.relay_id == relay_id)
        .map(|r| (r.state, r.detail))
}

/// Waits until the relay's heartbeat says `state`.
pub async fn wait_heartbeat(db: &TestDb, relay_id: &str, state: RelayState) -> Option<String> {
    eventually(
        &format!("the heartbeat said {state}"),
        Duration::from_secs(60),
        || async {
            match heartbeat_state(db, relay_id).await {
                Some((s, detail)) if s == state => Some(detail),
                _ => None,
            }
        },
    )
    .await
}

/// An attempt as a relay records it: 7 ms, HTTP 200, at `at`.
pub fn attempt(
    relay: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> digis_relay::storage::AttemptRecord {
    digis_relay::storage::AttemptRecord {
        started_at: at,
        duration_ms: 7,
        relay_id: relay.into(),
        http_status: Some(200),
        error: None,
    }
}

/// Attempts whose completion came after their lease was lost (`stale_*`).
pub async fn stale_attempts(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM digis_attempt WHERE outcome LIKE 'stale%'")
        .await
}

/// Waits until relay `relay_id` has written a heartbeat later than `after`: it has been alive
/// (and had every chance to act) until then.
pub async fn heartbeat_after(db: &TestDb, relay_id: &str, after: chrono::DateTime<chrono::Utc>) {
    eventually(
        &format!("a heartbeat of {relay_id} after {after}"),
        Duration::from_secs(60),
        || async {
            let r = db.storage.relays().await.unwrap();
            r.iter()
                .any(|r| r.relay_id == relay_id && r.heartbeat_at > after)
                .then_some(())
        },
    )
    .await;
}

/// A running relay's heartbeat at `at`, five seconds apart, with no rate or clock offset
/// measured yet.
pub fn running_relay(relay_id: &str, at: chrono::DateTime<chrono::Utc>) -> RelayInfo {
    RelayInfo {
        relay_id: relay_id.into(),
        hostname: "test-host".into(),
        pid: 1,
        version: "0".into(),
        started_at: at,
        heartbeat_at: at,
        state: RelayState::Running,
        detail: None,
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: None,
        clock_offset_ms: None,
    }
}

/// Every failed member of every unit and cause, up to 100.
pub async fn all_failed_members(
    s: &dyn digis_relay::storage::Storage,
) -> Vec<digis_relay::storage::FailedMember> {
    let q = digis_relay::storage::FailedQuery {
        unit: digis_relay::storage::UnitFilter::Any,
        cause: None,
        after: None,
        limit: 100,
    };
    s.failed_members(&q).await.unwrap()
}

/// Claims up to `limit` due rows for `relay_id` at `at`, held for `lease`.
pub async fn claim_rows(
    s: &dyn digis_relay::storage::Storage,
    relay_id: &str,
    limit: u32,
    lease: Duration,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<digis_relay::storage::ClaimedRow> {
    s.claim(relay_id, limit, lease, at).await.unwrap()
}

/// One relay pass as `relay_id` at `now` in which every due row fails: an attempt of 35 ms with
/// `status` and `error`, completed with `cause`. The ids of the rows it failed.
pub async fn fail_due_rows_as(
    db: &TestDb,
    relay_id: &str,
    now: chrono::DateTime<chrono::Utc>,
    status: Option<i32>,
    error: &str,
    cause: digis_relay::domain::FailureCause,
) -> Vec<digis_relay::domain::OutboxId> {
    use digis_relay::storage::{AttemptRecord, Completion};
    let s = db.storage();
    let claimed = claim_rows(s.as_ref(), relay_id, 100, Duration::from_secs(60), now).await;
    let failed = Completion::Failed { cause };
    for c in &claimed {
        let record = AttemptRecord {
            started_at: now,
            duration_ms: 35,
            relay_id: relay_id.into(),
            http_status: status,
            error: Some(error.into()),
        };
        s.complete(c, &failed, &record, now).await.unwrap();
    }
    claimed.iter().map(|c| c.row.id).collect()
}

/// What a relay gives back of a claimed row: its id and the claim token it holds it by.
pub fn given_back(c: &digis_relay::storage::ClaimedRow) -> (digis_relay::domain::OutboxId, String) {
    (c.row.id, c.claim_token.clone())
}
