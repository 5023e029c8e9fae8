//! Wake-ups of an idle relay, through the real binary: a save reaches Digis long before the
//! relay's poll would have found it. (SQLite's WAL watch: hot_path.rs,
//! `sqlite_a_save_by_another_process_wakes_an_idle_relay`.)
use std::time::{Duration, Instant};

use crate::common::{command, eventually, fake, relay_config, RunningService, TestDb};

/// How many times the relay went idle, from its debug log.
fn idle_waits(svc: &RunningService) -> usize {
    svc.stderr().matches("idle until a wake-up").count()
}

async fn wait_idle(svc: &RunningService, at_least: usize) {
    eventually("the relay went idle", Duration::from_secs(60), || async {
        (idle_waits(svc) >= at_least).then_some(())
    })
    .await;
}

/// Connections of this database that are listening for NOTIFY (the test's own storage has one).
async fn listeners(db: &TestDb) -> i64 {
    db.scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND query LIKE 'LISTEN%'",
    )
    .await
}

/// The real binary on PostgreSQL, polling only every 10 minutes (and its heartbeat every
/// minute): a save committed by the membership system wakes it through the trigger's NOTIFY,
/// and the member reaches Digis within 20 s. Twice: the second save comes long after the
/// wake-up every new LISTEN connection gives, so only the NOTIFY can have woken it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_save_wakes_an_idle_relay_through_notify() {
    let db = TestDb::postgres().await;
    let before = listeners(&db).await;
    let fake = fake(&[]).await;
    let config = relay_config(
        &db,
        "idle",
        &fake.base_url(),
        "[relay]\npoll_interval_ms = 600000\nheartbeat_ms = 60000\n",
    );
    let mut cmd = command();
    cmd.args(["--config", config.to_str().unwrap(), "run"])
        .args(["--listen", "127.0.0.1:0"])
        .env("DIGIS_RELAY_LOG", "debug")
        .env_remove("DIGIS_RELAY_CONFIG");
    let svc = RunningService::spawn(cmd);
    eventually(
        "the relay's LISTEN connection is up",
        Duration::from_secs(60),
        || async { (listeners(&db).await > before).then_some(()) },
    )
    .await;
    wait_idle(&svc, 1).await;
    for (n, sub) in [(1usize, 1i64), (2, 2)] {
        // Idle: its rounds are over and it waits (a save during a round would be found by the
        // round itself, proving nothing).
        let idle_before = idle_waits(&svc);
        let saved = Instant::now();
        db.active_with(sub, &[sub]).await;
        assert!(
            fake.wait_for_requests(n, Duration::from_secs(20)).await,
            "save {n} was not sent within 20 s (the poll is 10 min); stderr:\n{}",
            svc.stderr()
        );
        eprintln!("save {n} → request in {} ms", saved.elapsed().as_millis());
        eventually(
            "the member is recorded sent",
            Duration::from_secs(30),
            || async { (db.storage.counts().await.unwrap().sent >= n as u64).then_some(()) },
        )
        .await;
        // The delivery's rounds end in an idle wait of their own.
        wait_idle(&svc, idle_before + 1).await;
    }
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
}
