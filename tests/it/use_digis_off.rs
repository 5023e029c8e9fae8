//! `useDigis = false` (the integration note's switch) through the real binary, on both databases: `run
//! --once` and `run` as a service with rows queued and saved while it runs send Digis nothing,
//! charge no attempt, write no sync-log line, and say that delivery is off (stderr, the
//! heartbeat, `/healthz`, `status --json`).
use std::time::Duration;

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::{self, FakeConfig};

use crate::both_databases;
use crate::common::{all_rows, eventually, with_config, RunningService, TestConfig, TestDb, TOKEN};

both_databases!(use_digis_false_sends_nothing);

fn config(db: &TestDb, digis_url: &str) -> std::path::PathBuf {
    TestConfig::relay_to(db, digis_url)
        .with(
            "useDigis = false\n\
             [relay]\npoll_interval_ms = 100\nheartbeat_ms = 200\nmax_requests_per_second = 0\n",
        )
        .write_in(db)
}

/// Every row still `pending`, never charged an attempt.
async fn untouched(db: &TestDb, n: usize) {
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), n, "{rows:?}");
    for r in &rows {
        assert_eq!(
            (r.state, r.attempts, r.locked_by.as_deref()),
            (OutboxState::Pending, 0, None),
            "{r:?}"
        );
    }
}

fn sync_log_lines(db: &TestDb) -> usize {
    std::fs::read_to_string(db.dir.path().join("logs/scheduler_digis_sync.txt"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

async fn use_digis_false_sends_nothing(db: TestDb) {
    db.active_with(1, &[1, 2]).await;
    // The fake would accept every member: only the switch keeps them from it.
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(TOKEN.into()),
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let config = config(&db, &fake.base_url());

    // One pass, as cron runs it.
    let out = with_config(&config)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().next(),
        Some("sent 0, retry later 0, failed 0, discarded 0, paused 0"),
        "{stdout}"
    );
    assert!(
        stderr.contains("useDigis is false: the relay runs but sends nothing"),
        "{stderr}"
    );
    assert_eq!(fake.received().len(), 0);
    untouched(&db, 2).await;

    // The service, with a member saved while it runs.
    let svc = RunningService::start(&config);
    let dbr = &db;
    let disabled = eventually(
        "the relay's heartbeat says it is disabled",
        Duration::from_secs(60),
        move || async move {
            let relays = dbr.storage.relays().await.ok()?;
            relays
                .into_iter()
                .find(|r| r.state == digis_relay::domain::RelayState::Disabled)
        },
    )
    .await;
    assert!(
        disabled
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("useDigis"),
        "{disabled:?}"
    );
    db.active_with(2, &[3]).await;
    let saved = chrono::Utc::now();
    // Ten poll intervals and five heartbeats after the save: time enough to have sent it.
    eventually(
        "a second of the relay's heartbeats after the save",
        Duration::from_secs(60),
        move || async move {
            let relays = dbr.storage.relays().await.ok()?;
            relays
                .iter()
                .any(|r| r.heartbeat_at > saved + chrono::Duration::seconds(1))
                .then_some(())
        },
    )
    .await;
    assert_eq!(fake.received().len(), 0, "Digis got a request");
    untouched(&db, 3).await;
    assert_eq!(sync_log_lines(&db), 0, "no attempt, no line");

    let http = reqwest::Client::new();
    let r = http.get(svc.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "useDigis off is a choice, not a failure");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["use_digis"], false, "{v}");
    let kinds: Vec<&str> = v["health"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"use_digis_off"), "{v}");

    let out = with_config(&config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["use_digis"], false);
    assert_eq!(status["counts"]["pending"], 3);
    assert_eq!(status["counts"]["sent"], 0);
    assert!(
        status["health"]["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "use_digis_off"),
        "{status}"
    );

    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("useDigis is false: the relay runs but sends nothing"),
        "{stderr}"
    );
    assert_eq!(fake.received().len(), 0);
    untouched(&db, 3).await;
}
