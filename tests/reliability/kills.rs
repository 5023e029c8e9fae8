//! SIGKILL at random moments while the real binary drains the outbox: nothing lost, nothing left
//! `sending`, and every duplicate Digis saw is an answer the killed relay received but had not
//! committed yet (the answer→commit window, docs/delivery-path.md).
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng as _;

use crate::common::TestDb;
use crate::harness::{self, db_name};

/// How long after Digis answered a kill may still leave that answer uncommitted: the relay
/// commits a finished request with its group (at most `completion_flush_ms` later), so this is
/// the flush interval plus commit latency on a busy 2-core machine.
const WINDOW_MS: i64 = 2_000;
/// Requests in flight at once (the relay's `concurrency`) and completions committed together
/// (`completion_group_rows`): a kill can leave at most their sum of accepted requests
/// uncommitted, since a row holds one of that many permits from before its request until its
/// group committed. Small here so the bound is tight.
const CONCURRENCY: usize = 4;
const GROUP_ROWS: usize = 8;
/// How long after a kill the fake may still read a request the relay wrote before it died.
const IN_FLIGHT_MS: i64 = 1_000;

crate::both_databases!(short_kills);

/// 3 kills while draining 500 rows: runs in every `cargo test`.
async fn short_kills(db: TestDb) {
    kill_drain(db, 500, 3, "kills-short").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability (RELIABILITY_ROWS, RELIABILITY_KILLS)"]
async fn long_kills_sqlite() {
    let (rows, kills) = long_sizes();
    kill_drain(TestDb::sqlite().await, rows, kills, "kills").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability (RELIABILITY_ROWS, RELIABILITY_KILLS)"]
async fn long_kills_postgres() {
    let (rows, kills) = long_sizes();
    kill_drain(TestDb::postgres().await, rows, kills, "kills").await;
}

fn long_sizes() -> (usize, usize) {
    (
        harness::env_usize("RELIABILITY_ROWS", 10_000),
        harness::env_usize("RELIABILITY_KILLS", 30),
    )
}

async fn kill_drain(db: TestDb, rows: usize, kills: usize, name: &str) {
    let started = Instant::now();
    harness::seed(&db, rows).await;
    let fake = harness::fake(Vec::new()).await;
    // A short lease so rows held by a killed relay come back within the run.
    let config = harness::write_config(
        &db,
        &fake.base_url(),
        &format!(
            "digis_timeout_ms = 1000\n[relay]\nbatch_size = 50\nconcurrency = {CONCURRENCY}\n\
             completion_group_rows = {GROUP_ROWS}\nlease_ms = 1500\n\
             max_requests_per_second = 0\npoll_interval_ms = 100\nheartbeat_ms = 500\n\
             backoff_base_ms = 10\nbackoff_max_ms = 100\n[export]\nlisten = \"\"\n"
        ),
    );
    // Kill points spread over the drain: each after a random share of one step of progress, so
    // the last kill still lands mid-drain and the moment within a batch is random.
    let step = (rows / (kills + 2)).max(2);
    let mut kill_times: Vec<DateTime<Utc>> = Vec::new();
    let mut rng = rand::rng();
    for i in 0..kills {
        let mut child = harness::spawn_run(&db, &config, "kill");
        let seen = fake.received().len();
        let target = seen + rng.random_range(step / 3..=step);
        let progressed = fake
            .wait_until(Duration::from_secs(120), |r| r.len() >= target)
            .await;
        if let Some(status) = child.try_wait().unwrap() {
            panic!("relay {i} exited by itself before its kill: {status}");
        }
        child.kill().unwrap();
        kill_times.push(Utc::now());
        child.wait().unwrap();
        assert!(progressed, "relay {i} made no progress in 120 s");
    }
    let counts_at_last_kill = harness::counts(&db).await;
    let mut last = harness::spawn_run(&db, &config, "final");
    let timeout = Duration::from_secs(60 + rows as u64 / 20);
    harness::wait_all_sent(&db, rows, &mut last, timeout).await;
    harness::stop(last);

    // Lost / stuck: every row sent, every member in `digis`, nothing left under a lease.
    let c = harness::counts(&db).await;
    assert_eq!((c.sent, c.sending, c.pending), (rows as u64, 0, 0), "{c:?}");
    let in_digis = db.scalar("SELECT COUNT(*) FROM digis").await;
    assert_eq!(in_digis, rows as i64, "every member recorded as accepted");
    let sent_attempts = db
        .scalar("SELECT COUNT(*) FROM digis_attempt WHERE outcome = 'sent'")
        .await;
    assert_eq!(
        sent_attempts, rows as i64,
        "one committed sent attempt per row"
    );

    // Duplicates: accepted requests whose answer never reached the database, compared with
    // what the database committed (the external ids the fake handed out are unique).
    let accepted = fake.accepted();
    let duplicates = fake.duplicates();
    let harness::Attribution {
        uncommitted,
        per_kill,
        outside,
        max_before_ms,
        in_flight,
        max_after_ms,
    } = harness::attribute(&db, &accepted, &kill_times, WINDOW_MS, IN_FLIGHT_MS).await;
    let scan = harness::leak_scan(&db).await;
    let received = fake.received().len();
    harness::write_figures(
        &format!("{name}-{}", db_name(db.kind)),
        serde_json::json!({
            "test": "kills",
            "database": db_name(db.kind),
            "binary": harness::bin().display().to_string(),
            "rows": rows,
            "kills": kills,
            "lost": rows as u64 - c.sent,
            "stuck_sending": c.sending,
            "sending_at_last_kill": counts_at_last_kill.sending,
            "requests": received,
            "duplicates": duplicates,
            "uncommitted_answers": uncommitted.len(),
            "duplicates_outside_window": outside.len(),
            "max_duplicates_per_kill": per_kill.iter().copied().max().unwrap_or(0),
            "bound_per_kill": CONCURRENCY + GROUP_ROWS,
            "max_answer_to_kill_ms": max_before_ms,
            "answered_after_kill": in_flight,
            "max_kill_to_answer_ms": max_after_ms,
            "leak_sources": scan.sources,
            "leak_bytes": scan.bytes,
            "leaks": scan.findings.len(),
            "seconds": started.elapsed().as_secs_f64().round(),
        }),
    );
    assert!(scan.findings.is_empty(), "leaks: {:#?}", scan.findings);
    assert!(
        outside.is_empty(),
        "accepted answers never committed with no kill within {WINDOW_MS} ms after (or {IN_FLIGHT_MS} ms before): {outside:#?} (kills: {kill_times:?})"
    );
    assert!(
        per_kill.iter().all(|n| *n <= CONCURRENCY + GROUP_ROWS),
        "a kill left more accepted requests uncommitted than in flight plus one group \
         ({CONCURRENCY} + {GROUP_ROWS}): {per_kill:?}"
    );
    assert_eq!(
        duplicates,
        uncommitted.len(),
        "every duplicate is one uncommitted answer sent again, and nothing else"
    );
    assert_eq!(
        accepted.len(),
        rows + duplicates,
        "Digis accepted each member once plus the duplicates"
    );
}
