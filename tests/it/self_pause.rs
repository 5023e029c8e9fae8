//! A relay's own pause over time, through the real binary on both databases (docs/contracts.md,
//! Digis HTTP, "self-pause"): Digis answers 401, the relay pauses every relay, probes with one
//! row every `config_error_probe_ms`, and lifts its own pause once a probe goes through. "A
//! pause set by an operator is never lifted by a relay": not by a probe, not even one that was
//! already on its way when the operator paused, and not by a 401 answered after it.
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::{OutboxState, PausedBy, RelayState};

use crate::both_databases;
use crate::common::{
    all_rows, eventually, fake, heartbeat_after, relay_config, wait_heartbeat, RunningService,
    TestDb,
};

const PROBE_MS: i64 = 1_500;
const OPERATOR: &str = "ops@gym-desk";
const WHY: &str = "maintenance window";

both_databases!(
    a_relay_lifts_its_own_pause_after_a_probe_goes_through,
    an_operators_pause_outlasts_the_probe_interval,
    an_operators_pause_during_a_probe_is_kept,
    an_operators_pause_before_a_401_answer_is_kept,
);

fn start(db: &TestDb, digis_url: &str) -> RunningService {
    RunningService::start(&relay_config(
        db,
        "pausing",
        digis_url,
        &format!(
            "[relay]\nrelay_id = \"pausing\"\nconcurrency = 1\nconfig_error_probe_ms = {PROBE_MS}\n\
             poll_interval_ms = 50\nheartbeat_ms = 100\nmax_requests_per_second = 0\n"
        ),
    ))
}

async fn members(db: &TestDb) {
    for s in 1..=3 {
        db.active_with(s, &[s]).await;
    }
}

/// 401 twice, then Digis accepts the token again: paused by the relay (its heartbeat says so),
/// a probe only after each `config_error_probe_ms`, the second probe lifts the pause and the
/// rest is sent. Nothing was charged for the 401s.
async fn a_relay_lifts_its_own_pause_after_a_probe_goes_through(db: TestDb) {
    members(&db).await;
    let fake = fake(&["status=401,times=2"]).await;
    let svc = start(&db, &fake.base_url());
    assert!(fake.wait_for_requests(1, Duration::from_secs(60)).await);
    let detail = wait_heartbeat(&db, "pausing", RelayState::Paused).await;
    assert!(
        detail.as_deref().unwrap_or("").contains("401"),
        "{detail:?}"
    );
    let control = db.storage.control().await.unwrap();
    assert!(control.paused);
    assert_eq!(control.paused_by, Some(PausedBy::relay("pausing")));

    eventually("every row was sent", Duration::from_secs(60), || async {
        (db.storage.counts().await.unwrap().sent == 3).then_some(())
    })
    .await;
    let got = fake.received();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 200, 200, 200],
        "a failing probe, then a good one, then the rest"
    );
    for (before, probe) in [(0, 1), (1, 2)] {
        let gap = got[probe].at - got[before].at;
        assert!(
            gap >= chrono::Duration::milliseconds(PROBE_MS),
            "probe {probe} came {gap} after the 401 before it"
        );
    }
    let control = db.storage.control().await.unwrap();
    assert!(!control.paused, "{control:?}");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Sent && r.attempts == 1),
        "the 401s were not charged: {rows:?}"
    );
    wait_heartbeat(&db, "pausing", RelayState::Running).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}

/// Waits until the relay has been alive (heartbeating) for a few probe intervals after `since`,
/// so a probe that was going to come has had every chance to.
async fn several_probe_intervals_pass(db: &TestDb, since: chrono::DateTime<Utc>) {
    let after = since + chrono::Duration::milliseconds(4 * PROBE_MS);
    heartbeat_after(db, "pausing", after).await;
}

/// The operator's pause holds and is still the operator's.
async fn still_paused_by_the_operator(db: &TestDb) {
    let control = db.storage.control().await.unwrap();
    assert!(
        control.paused,
        "the operator's pause was lifted: {control:?}"
    );
    assert_eq!(
        control.paused_by,
        Some(PausedBy::Operator(OPERATOR.into())),
        "{control:?}"
    );
    assert_eq!(control.pause_reason.as_deref(), Some(WHY), "{control:?}");
    let (state, detail) = crate::common::heartbeat_state(db, "pausing").await.unwrap();
    assert_eq!((state, detail.as_deref()), (RelayState::Paused, Some(WHY)));
}

/// Paused by an operator before anything was sent: no probe, however long it waits.
async fn an_operators_pause_outlasts_the_probe_interval(db: TestDb) {
    members(&db).await;
    let paused_at = Utc::now();
    db.storage.pause(WHY, OPERATOR, paused_at).await.unwrap();
    let fake = fake(&[]).await;
    let svc = start(&db, &fake.base_url());
    wait_heartbeat(&db, "pausing", RelayState::Paused).await;
    several_probe_intervals_pass(&db, Utc::now()).await;
    assert!(fake.received().is_empty(), "{:?}", fake.received());
    still_paused_by_the_operator(&db).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}

/// The relay paused itself and its probe is on its way (Digis takes 2 s to answer) when an
/// operator pauses: the probe goes through, but the pause it finds is the operator's, and it
/// stays.
async fn an_operators_pause_during_a_probe_is_kept(db: TestDb) {
    members(&db).await;
    let fake = fake(&["status=401,times=1", "delay_ms=2000,times=1"]).await;
    let svc = start(&db, &fake.base_url());
    assert!(fake.wait_for_requests(1, Duration::from_secs(60)).await);
    wait_heartbeat(&db, "pausing", RelayState::Paused).await;
    // The probe arrived; its answer comes in 2 s.
    assert!(fake.wait_for_requests(2, Duration::from_secs(60)).await);
    db.storage.pause(WHY, OPERATOR, Utc::now()).await.unwrap();
    eventually(
        "the probe was recorded sent",
        Duration::from_secs(60),
        || async { (db.storage.counts().await.unwrap().sent >= 1).then_some(()) },
    )
    .await;
    several_probe_intervals_pass(&db, Utc::now()).await;
    assert_eq!(
        fake.received().len(),
        2,
        "only the 401 and the probe went out"
    );
    still_paused_by_the_operator(&db).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}

/// An operator pauses while a request is on its way, and Digis answers it 401: the relay must
/// not take the pause over as its own (it would then lift it with its next good probe).
async fn an_operators_pause_before_a_401_answer_is_kept(db: TestDb) {
    members(&db).await;
    let fake = fake(&["status=401,delay_ms=2000,times=1"]).await;
    let svc = start(&db, &fake.base_url());
    assert!(fake.wait_for_requests(1, Duration::from_secs(60)).await);
    db.storage.pause(WHY, OPERATOR, Utc::now()).await.unwrap();
    // The 401 came back and its row was given back without an attempt.
    eventually(
        "the 401's row was given back",
        Duration::from_secs(60),
        || async {
            let rows = all_rows(&db).await;
            rows.iter()
                .all(|r| r.state == OutboxState::Pending && r.attempts == 0)
                .then_some(())
        },
    )
    .await;
    wait_heartbeat(&db, "pausing", RelayState::Paused).await;
    several_probe_intervals_pass(&db, Utc::now()).await;
    assert_eq!(
        fake.received().len(),
        1,
        "no probe under an operator's pause"
    );
    still_paused_by_the_operator(&db).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}
