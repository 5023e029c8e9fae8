//! A fault-mix soak: the real binary drains the outbox while the fake Digis answers a random mix
//! of 5xx, timeouts, dropped connections, 429/503 with `Retry-After`, slow and huge answers.
//! Every row ends `sent`, no request comes before its `Retry-After`, attempts stay bounded and
//! so does the relay's memory.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use digis_relay::fake_digis::{FaultRule, Received};

use crate::common::TestDb;
use crate::harness::{self, db_name};

const MAX_ATTEMPTS: i64 = 12;
/// Longer than the relay's request timeout, so the relay gives up first.
const TIMEOUT_DELAY_MS: u64 = 1_500;
/// A huge answer: an error much larger than any sane answer (the relay reads at most a bounded
/// prefix, docs/contracts.md, Digis HTTP). No huge success: a 2xx cut at the cap is unconfirmed,
/// which fails its row and pauses the relay (tested in `it::unconfirmed`), not what a soak that
/// expects every row sent can mix in.
const HUGE_ERR: u64 = 4_000_000;

/// The mix, first match wins; each rule's chance applies to what the rules above it spared.
fn rules() -> Vec<FaultRule> {
    [
        "status=500,percent=4".to_string(),
        "status=502,percent=1".into(),
        "status=503,percent=2".into(),
        format!("status=504,delay_ms={TIMEOUT_DELAY_MS},percent=2"),
        "drop,percent=3".into(),
        "status=429,retry_after=1,percent=3".into(),
        "status=503,retry_after=2,percent=1".into(),
        "slow_body_ms=400,percent=3".into(),
        format!("status=500,body_bytes={HUGE_ERR},percent=1"),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

crate::both_databases!(short_soak);

/// 500 rows through the whole mix: runs in every `cargo test`.
async fn short_soak(db: TestDb) {
    soak(db, 500, "soak-short").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability (RELIABILITY_SOAK_ROWS)"]
async fn long_soak_sqlite() {
    let rows = harness::env_usize("RELIABILITY_SOAK_ROWS", 10_000);
    soak(TestDb::sqlite().await, rows, "soak").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability (RELIABILITY_SOAK_ROWS)"]
async fn long_soak_postgres() {
    let rows = harness::env_usize("RELIABILITY_SOAK_ROWS", 10_000);
    soak(TestDb::postgres().await, rows, "soak").await;
}

async fn soak(db: TestDb, rows: usize, name: &str) {
    let started = Instant::now();
    harness::seed(&db, rows).await;
    let fake = harness::fake(rules()).await;
    // Small backoff so the soak takes minutes; backoff_max_ms above the largest Retry-After so
    // the cap (docs/contracts.md, Digis HTTP) does not shorten the wait Digis asked for.
    let config = harness::write_config(
        &db,
        &fake.base_url(),
        &format!(
            "digis_timeout_ms = 1000\ndigis_connect_timeout_ms = 1000\n[relay]\nbatch_size = 100\n\
             concurrency = 4\nlease_ms = 15000\nmax_requests_per_second = 0\npoll_interval_ms = 100\n\
             heartbeat_ms = 1000\nbackoff_base_ms = 20\nbackoff_max_ms = 3000\nmax_attempts = {MAX_ATTEMPTS}\n\
             circuit_failure_threshold = 5\ncircuit_open_ms = 200\n[export]\nlisten = \"\"\n"
        ),
    );
    let mut child = harness::spawn_run(&db, &config, "soak");
    let pid = child.id();
    let timeout = Duration::from_secs(120 + rows as u64 / 10);
    let drained = harness::wait_all_sent(&db, rows, &mut child, timeout).await;
    let peak_kib = harness::vm_hwm_kib(pid).expect("the relay's /proc status");
    harness::stop(child);

    let c = harness::counts(&db).await;
    assert_eq!(
        (c.sent, c.sending, c.pending, c.failed),
        (rows as u64, 0, 0, 0)
    );
    let (max_attempts, mean_attempts) = harness::attempts(&db).await;
    assert!(
        (1..=MAX_ATTEMPTS).contains(&max_attempts),
        "attempts bounded by max_attempts: {max_attempts}"
    );

    let received = fake.received();
    let (early, min_slack_ms, retry_afters) = retry_after_check(&received);
    let faults = injected(&fake.base_url()).await;
    let total_faults: u64 = faults.values().filter_map(|v| v.as_u64()).sum();
    assert!(
        total_faults > rows as u64 / 20,
        "the mix injected faults: {faults:?}"
    );
    let duplicates = fake.duplicates();
    let limit_mib = harness::env_usize("RELIABILITY_RSS_LIMIT_MIB", 256) as u64;
    let scan = harness::leak_scan(&db).await;
    harness::write_figures(
        &format!("{name}-{}", db_name(db.kind)),
        serde_json::json!({
            "test": "soak",
            "database": db_name(db.kind),
            "binary": harness::bin().display().to_string(),
            "rows": rows,
            "requests": received.len(),
            "faults": faults,
            "faults_total": total_faults,
            "retry_afters": retry_afters,
            "requests_before_retry_after": early.len(),
            "min_retry_after_slack_ms": min_slack_ms,
            "attempts_max": max_attempts,
            "attempts_mean": (mean_attempts * 100.0).round() / 100.0,
            "duplicates": duplicates,
            "peak_rss_mib": (peak_kib as f64 / 1024.0).round(),
            "drain_seconds": drained.as_secs_f64().round(),
            "leak_sources": scan.sources,
            "leak_bytes": scan.bytes,
            "leaks": scan.findings.len(),
            "seconds": started.elapsed().as_secs_f64().round(),
        }),
    );
    assert!(
        early.is_empty(),
        "{} request(s) came before the Retry-After they were given: {early:#?}",
        early.len()
    );
    // Otherwise "none came early" would hold of a soak that never sent a Retry-After at all.
    assert!(
        retry_afters > 0,
        "no Retry-After answer was followed by a retry to check"
    );
    assert_eq!(
        duplicates, 0,
        "no crash, so no member may be accepted twice"
    );
    assert!(
        peak_kib / 1024 <= limit_mib,
        "peak RSS {} MiB over {limit_mib} MiB",
        peak_kib / 1024
    );
    assert!(scan.findings.is_empty(), "leaks: {:#?}", scan.findings);
}

/// Requests that came for a member sooner than the `Retry-After` (in seconds) of the answer
/// before, the smallest margin seen, and how many such answers were checked. The fake and the
/// test share one clock; the relay reads the header after the fake sent it, so an obedient relay
/// is never early. 5 ms covers the database's millisecond timestamps.
fn retry_after_check(received: &[Received]) -> (Vec<String>, Option<i64>, usize) {
    let mut by_member: HashMap<(String, String), Vec<&Received>> = HashMap::new();
    for r in received {
        let person = r
            .body
            .get("ExtInfo4")
            .map(|v| v.to_string())
            .unwrap_or_default();
        by_member
            .entry((r.ext_info1().unwrap_or_default(), person))
            .or_default()
            .push(r);
    }
    let (mut early, mut min_slack, mut checked) = (Vec::new(), None::<i64>, 0);
    for ((sub, person), list) in by_member.iter_mut() {
        list.sort_by_key(|r| r.at);
        for pair in list.windows(2) {
            let Some(secs) = pair[0]
                .retry_after
                .as_deref()
                .and_then(|s| s.trim().parse::<i64>().ok())
            else {
                continue;
            };
            checked += 1;
            let allowed = pair[0].answered_at() + chrono::TimeDelta::seconds(secs);
            let slack = (pair[1].at - allowed).num_milliseconds();
            min_slack = Some(min_slack.map_or(slack, |m| m.min(slack)));
            if slack < -5 {
                early.push(format!(
                    "ExtInfo1 {sub} ExtInfo4 {person}: Retry-After {secs} s, next request {} ms early",
                    -slack
                ));
            }
        }
    }
    (early, min_slack, checked)
}

/// How often each fault rule was applied, from the fake's own counters (`GET /_fake/rules`).
async fn injected(base_url: &str) -> serde_json::Map<String, serde_json::Value> {
    let rules: Vec<serde_json::Value> = reqwest::get(format!("{base_url}/_fake/rules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rules
        .iter()
        .map(|r| (r["rule"].as_str().unwrap().to_string(), r["used"].clone()))
        .collect()
}
