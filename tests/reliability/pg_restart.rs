//! PostgreSQL restarted twice mid-drain: the relay reconnects by itself and finishes, nothing is
//! lost, and no member is accepted twice (an answer received during the outage is held and
//! committed afterwards, docs/delivery-path.md).
//!
//! This restarts the shared server, so it is `#[ignore]` and run only by `scripts/reliability`,
//! alone, after everything else.
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::TestDb;
use crate::harness;

fn restart_postgres() -> Duration {
    let started = Instant::now();
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql (a Debian-style cluster)")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(versions.len(), 1, "one PostgreSQL version: {versions:?}");
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &versions[0], "main", "restart"])
        .output()
        .expect("pg_ctlcluster");
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the shared PostgreSQL: run only by scripts/reliability, alone"]
async fn postgres_restarted_twice_mid_drain() {
    let rows = harness::env_usize("RELIABILITY_RESTART_ROWS", 3_000);
    let started = Instant::now();
    let db = TestDb::postgres().await;
    harness::seed(&db, rows).await;
    // A little latency per answer so the drain outlasts two restarts and requests are in
    // flight when the server goes away.
    let fake = harness::fake(vec!["delay_ms=20".parse().unwrap()]).await;
    let config = harness::write_config(
        &db,
        &fake.base_url(),
        "digis_timeout_ms = 2000\n[relay]\nbatch_size = 50\nconcurrency = 4\nlease_ms = 30000\n\
         max_requests_per_second = 0\npoll_interval_ms = 100\nheartbeat_ms = 500\n\
         backoff_base_ms = 10\nbackoff_max_ms = 200\n[export]\nlisten = \"\"\n",
    );
    let mut child = harness::spawn_run(&db, &config, "pg-restart");
    let mut outages = Vec::new();
    // Restart at about a third and two thirds of the drain.
    for target in [rows / 3, rows * 2 / 3] {
        assert!(
            fake.wait_until(Duration::from_secs(300), |r| r.len() >= target)
                .await,
            "the relay never reached {target} requests"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the relay exited before the restart"
        );
        outages.push(restart_postgres().as_millis() as u64);
    }
    let timeout = Duration::from_secs(120 + rows as u64 / 20);
    harness::wait_all_sent(&db, rows, &mut child, timeout).await;
    harness::stop(child);
    let c = harness::counts(&db).await;
    assert_eq!(
        (c.sent, c.sending, c.pending, c.failed),
        (rows as u64, 0, 0, 0)
    );
    let scan = harness::leak_scan(&db).await;
    let duplicates = fake.duplicates();
    harness::write_figures(
        "pg-restart-postgres",
        serde_json::json!({
            "test": "pg_restart",
            "database": "postgres",
            "binary": harness::bin().display().to_string(),
            "rows": rows,
            "restarts": outages.len(),
            "restart_ms": outages,
            "lost": rows as u64 - c.sent,
            "stuck_sending": c.sending,
            "requests": fake.received().len(),
            "duplicates": duplicates,
            "leak_sources": scan.sources,
            "leak_bytes": scan.bytes,
            "leaks": scan.findings.len(),
            "seconds": started.elapsed().as_secs_f64().round(),
        }),
    );
    assert!(scan.findings.is_empty(), "leaks: {:#?}", scan.findings);
    assert_eq!(
        duplicates, 0,
        "a database restart must not make Digis accept a member twice"
    );
}
