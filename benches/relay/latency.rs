//! Save → send latency: a relay running as a service (`digis-relay run`, default poll interval)
//! while the membership system saves subscriptions at a steady rate.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use digis_relay::settings::RelaySettings;
use serde_json::{json, Value};

use crate::common::test_db::poll_until;
use crate::common::{
    kind_name, load_average, mib, quantile, relay_output, round, runtime, spawn_relay,
    write_figures, BenchDb, FakeProcess, Kind, TestDb, POLL,
};
use crate::Sizes;

/// `saves` saves of a fresh ACTIVE subscription with one user each (the trigger queues exactly
/// one row), `save_rate` a second; each save's commit time is taken as its commit returns, and
/// the fake records when each request arrived (`--record`, `at`), matched by `ExtInfo1`.
pub fn latency(kind: Kind, sizes: &Sizes) {
    let rt = runtime();
    let load_before = load_average();
    let n = sizes.saves;
    let db = rt.block_on(TestDb::new(kind));
    rt.block_on(db.seed_members(n, false));
    let record = db.dir.path().join("received.jsonl");
    let fake = FakeProcess::spawn(&[], Some(&record));
    let config = db.write_config(&fake.url, &sizes.relay_settings());
    let mut relay = spawn_relay(&db, &config, &["run"], "service");
    let up = rt
        .block_on(poll_until(Duration::from_secs(30), POLL, || async {
            let relays = db.storage.relays().await;
            relays.is_ok_and(|r| !r.is_empty()).then_some(()).ok_or(())
        }))
        .is_ok();
    assert!(
        up,
        "the relay wrote no heartbeat in 30 s: {}",
        relay_output(&db, "service", "stderr")
    );
    // A service has been running a while before anyone saves: let it reach its idle wait.
    std::thread::sleep(Duration::from_secs(1));

    let (committed, save_ms, saving) = rt.block_on(save_steadily(&db, n, sizes.save_rate));
    let drained = rt
        .block_on(poll_until(Duration::from_secs(120), POLL, || async {
            let counts = db.storage.counts().await;
            counts.is_ok_and(|c| c.sent >= n).then_some(()).ok_or(())
        }))
        .is_ok();
    relay.terminate();
    let usage = relay.wait();
    let fake_usage = fake.stop();
    let counts = rt.block_on(db.storage.counts()).expect("counts");
    assert!(
        drained && counts.sent == n,
        "not every save was sent within 120 s of the last: {counts:?}"
    );
    assert!(
        usage.status.success(),
        "the relay exited {:?}",
        usage.status
    );

    let arrived = arrivals(&record);
    assert_eq!(arrived.len() as u64, n, "one request per save");
    let mut latencies: Vec<f64> = committed
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let got = arrived
                .get(&(i as i64 + 1))
                .unwrap_or_else(|| panic!("no request for subscription {}", i + 1));
            (*got - *at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let mut save_ms = save_ms;
    save_ms.sort_by(f64::total_cmp);
    let version = rt.block_on(db.version());
    write_figures(
        &format!("latency-{}", kind_name(kind)),
        &json!({
            "step": "latency",
            "database": kind_name(kind),
            "database_version": version,
            "saves": n,
            "save_rate_target": sizes.save_rate,
            "save_rate_achieved": round(n as f64 / saving.as_secs_f64(), 1),
            "save_ms_p99": round(quantile(&save_ms, 0.99), 2),
            "poll_interval_ms": RelaySettings::default().poll_interval_ms,
            "min_ms": round(latencies[0], 2),
            "p50_ms": round(quantile(&latencies, 0.50), 2),
            "p90_ms": round(quantile(&latencies, 0.90), 2),
            "p99_ms": round(quantile(&latencies, 0.99), 2),
            "max_ms": round(latencies[latencies.len() - 1], 2),
            "relay_cpu_s": round(usage.cpu().as_secs_f64(), 3),
            "relay_peak_rss_mib": round(mib(usage.max_rss_kib), 1),
            "fake_cpu_s": round(fake_usage.cpu().as_secs_f64(), 3),
            "load_before": load_before,
        }),
    );
}

/// Saves subscription `i` (ACTIVE, person `i` as its one user) in one transaction at
/// `start + (i - 1) / rate`, for i in 1..=n. Returns each commit time, each save's duration in
/// ms, and how long the saving took.
async fn save_steadily(db: &TestDb, n: u64, rate: u64) -> (Vec<DateTime<Utc>>, Vec<f64>, Duration) {
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut committed = Vec::with_capacity(n as usize);
    let mut took = Vec::with_capacity(n as usize);
    for i in 1..=n {
        tokio::time::sleep_until(start + period.mul_f64((i - 1) as f64)).await;
        let t = Instant::now();
        db.exec_tx(&format!(
            "INSERT INTO subscription (id, status, start_date, max_end) VALUES ({i}, 'ACTIVE', '2026-01-01', '2027-12-31');
             INSERT INTO subscription_user (subscription_id, person_id) VALUES ({i}, {i});"
        ))
        .await;
        committed.push(Utc::now());
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (committed, took, start.elapsed())
}

/// When the fake received each subscription's request (`at` of the first, by `ExtInfo1`).
fn arrivals(record: &std::path::Path) -> HashMap<i64, DateTime<Utc>> {
    let text = std::fs::read_to_string(record).expect("the fake's record file");
    let mut out = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let sub = match &v["body"]["ExtInfo1"] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or_else(|| panic!("a request without ExtInfo1: {}", v["body"]));
        let at: DateTime<Utc> = v["at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a record without `at`: {}", v["at"]));
        let first = out.insert(sub, at);
        assert!(first.is_none(), "subscription {sub} was requested twice");
    }
    out
}
