//! The circuit breaker over time, through the real binary on both databases (docs/delivery-path.md,
//! Circuit): it opens after a run of failures, lets exactly one probe through once
//! `circuit_open_ms` has passed, opens again on a failing probe without charging the rows it
//! did not send, and closes on a good one, after which the backlog drains.
use std::time::Duration;

use digis_relay::domain::{OutboxState, RelayState};

use crate::both_databases;
use crate::common::{
    all_rows, eventually, fake, relay_config, wait_heartbeat, RunningService, TestDb,
};

both_databases!(half_open_probes_once_reopens_on_failure_and_closes_on_success);

const OPEN_MS: i64 = 2_000;

async fn half_open_probes_once_reopens_on_failure_and_closes_on_success(db: TestDb) {
    for s in 1..=6 {
        db.active_with(s, &[s]).await;
    }
    // Digis is down until the test says otherwise.
    let fake = fake(&["status=503"]).await;
    let svc = RunningService::start(&relay_config(
        &db,
        "circuit",
        &fake.base_url(),
        &format!(
            "[relay]\nrelay_id = \"circuit\"\nconcurrency = 1\ncircuit_failure_threshold = 2\n\
             circuit_open_ms = {OPEN_MS}\nbackoff_base_ms = 1\nbackoff_max_ms = 2\n\
             poll_interval_ms = 50\nheartbeat_ms = 100\nmax_requests_per_second = 0\n"
        ),
    ));

    // Two failures open it; the heartbeat says so.
    assert!(fake.wait_for_requests(2, Duration::from_secs(60)).await);
    let detail = wait_heartbeat(&db, "circuit", RelayState::CircuitOpen).await;
    assert!(
        detail.as_deref().unwrap_or("").contains("next try at"),
        "{detail:?}"
    );
    // The probe: one request, not before the circuit's time is up, and it fails.
    assert!(
        fake.wait_for_requests(3, Duration::from_secs(60)).await,
        "no probe after the circuit's time"
    );
    let got = fake.received();
    let gap = got[2].at - got[1].at;
    assert!(
        gap >= chrono::Duration::milliseconds(OPEN_MS),
        "the probe came {gap} after the failure that opened the circuit"
    );
    // Open again at once: the rows the relay did not send were not charged, and nothing else
    // went out for another `circuit_open_ms`.
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending || r.state == OutboxState::Sending),
        "{rows:?}"
    );
    let charged: i64 = rows.iter().map(|r| r.attempts as i64).sum();
    assert!(
        charged <= fake.received().len() as i64,
        "attempts were charged for requests never made: {charged} attempts, {} requests",
        fake.received().len()
    );

    // Digis recovers while the circuit is open again.
    fake.set_rules(Vec::new());
    eventually("every row was sent", Duration::from_secs(60), || async {
        (db.storage.counts().await.unwrap().sent == 6).then_some(())
    })
    .await;
    let got = fake.received();
    // The failed probe re-opened the circuit: the next request (the good probe) waited its time.
    let gap = got[3].at - got[2].at;
    assert!(
        gap >= chrono::Duration::milliseconds(OPEN_MS),
        "the second probe came {gap} after the failed one"
    );
    assert_eq!(got[2].status, 503);
    assert_eq!(got[3].status, 200);
    assert_eq!(
        got.len(),
        3 + 6,
        "three failures, then each row once: {:?}",
        got.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(fake.duplicates(), 0, "a member was accepted twice");
    // Attempts are what was sent: nothing was burned while the circuit was open.
    let rows = all_rows(&db).await;
    let charged: i64 = rows.iter().map(|r| r.attempts as i64).sum();
    assert_eq!(charged, got.len() as i64, "{rows:?}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_attempt").await,
        got.len() as i64
    );
    wait_heartbeat(&db, "circuit", RelayState::Running).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}
