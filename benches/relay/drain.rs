//! Backlog drains and the two ceilings they are compared with.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use digis_relay::config::{Config, Overrides};
use digis_relay::digis::{Answer, DigisClient};
use digis_relay::domain::{PersonId, SubscriptionId};
use digis_relay::payload::{self, Payload};
use digis_relay::storage::{AttemptRecord, CompleteResult, Completion, CompletionItem, DynStorage};
use futures::StreamExt;
use serde_json::json;

use crate::common::{
    kind_name, load_average, mib, relay_output, round, runtime, self_cpu, spawn_relay,
    write_figures, BenchDb, FakeProcess, Kind, TestDb,
};
use crate::{answer_rules, Sizes};

/// `digis-relay run --once` (the release binary, a child) drains `rows` queued members to the
/// fake Digis (its own process). Rows/s over the child's whole life, its CPU per sent row and
/// peak RSS from `wait4`; every row must end `sent` and the fake must have accepted each once.
pub fn drain(kind: Kind, delay_ms: u64, sizes: &Sizes) {
    let rt = runtime();
    let load_before = load_average();
    let db = rt.block_on(TestDb::new(kind));
    let t = Instant::now();
    rt.block_on(db.seed_members(sizes.rows, true));
    let seed_seconds = t.elapsed().as_secs_f64();
    let queued = rt.block_on(db.storage.counts()).expect("counts");
    assert_eq!(
        queued.pending, sizes.rows,
        "the triggers queued every member"
    );
    eprintln!(
        "{}: {} members seeded and queued in {seed_seconds:.1} s",
        kind_name(kind),
        sizes.rows
    );

    // What the counting triggers (migration 0015) cost the drain: the same drain without them
    // (BENCH_WITHOUT_COUNT_TRIGGERS=1), their counts made good afterwards for the checks below.
    let without_count_triggers =
        std::env::var("BENCH_WITHOUT_COUNT_TRIGGERS").as_deref() == Ok("1");
    if without_count_triggers {
        let on = if kind == Kind::Postgres {
            " ON digis_outbox"
        } else {
            ""
        };
        for t in ["insert", "update", "delete"] {
            rt.block_on(db.exec(&format!("DROP TRIGGER digis_outbox_count_{t}{on}")));
        }
    }
    let fake = FakeProcess::spawn(&answer_rules(delay_ms), None);
    let config = db.write_config(&fake.url, &sizes.relay_settings());
    let usage = spawn_relay(&db, &config, &["run", "--once"], "drain").wait();
    if without_count_triggers {
        rt.block_on(db.exec(
            "UPDATE digis_outbox_count SET n = (SELECT COUNT(*) FROM digis_outbox o \
             WHERE o.state = digis_outbox_count.state)",
        ));
        if kind == Kind::Postgres {
            rt.block_on(db.exec("DELETE FROM digis_outbox_count_delta"));
        }
    }
    assert!(
        usage.status.success(),
        "run --once exited {:?}: {}",
        usage.status,
        relay_output(&db, "drain", "stderr")
    );
    let tally = relay_output(&db, "drain", "stdout");
    let sent: u64 = tally
        .strip_prefix("sent ")
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `sent N` in the tally: {tally:?}"));

    // A fast drain that lost or failed rows must not pass.
    let after = rt.block_on(db.storage.counts()).expect("counts");
    assert_eq!(
        (after.sent, sent),
        (sizes.rows, sizes.rows),
        "every row sent: {after:?}, tally {tally:?}; the relay's stderr ends:\n{}",
        tail(&relay_output(&db, "drain", "stderr"), 40)
    );
    let health = rt.block_on(fake.health());
    assert_eq!(health["accepted"], json!(sizes.rows), "fake: {health}");
    assert_eq!(health["duplicates"], json!(0), "fake: {health}");
    let fake_usage = fake.stop();
    let version = rt.block_on(db.version());

    let secs = usage.wall.as_secs_f64();
    let figures = json!({
        "step": "drain",
        "database": kind_name(kind),
        "database_version": version,
        "answer_delay_ms": delay_ms,
        "rows": sizes.rows,
        "sent": sent,
        "concurrency": sizes.concurrency,
        "batch_size": sizes.batch,
        "seconds": round(secs, 3),
        "rows_per_s": round(sent as f64 / secs, 1),
        "relay_user_s": round(usage.user.as_secs_f64(), 3),
        "relay_sys_s": round(usage.sys.as_secs_f64(), 3),
        "cpu_us_per_row": round(usage.cpu().as_secs_f64() * 1e6 / sent as f64, 1),
        "peak_rss_mib": round(mib(usage.max_rss_kib), 1),
        "fake_cpu_us_per_request": round(fake_usage.cpu().as_secs_f64() * 1e6 / sent as f64, 1),
        "seed_seconds": round(seed_seconds, 1),
        "load_before": load_before,
    });
    write_figures(&format!("drain-{}-{delay_ms}ms", kind_name(kind)), &figures);
}

/// The HTTP ceiling: the relay's own client (`DigisClient`, built from the same configuration
/// file the drains give the relay) posting the payloads the relay would send, `concurrency` at
/// once, against the fake as a process of its own. No database, no sync log.
pub fn http_ceiling(delay_ms: u64, sizes: &Sizes) {
    let rt = runtime();
    let load_before = load_average();
    let n = sizes.ceiling_requests;
    let db = rt.block_on(TestDb::new(Kind::Sqlite));
    rt.block_on(db.seed_members(n, true));
    let fake = FakeProcess::spawn(&answer_rules(delay_ms), None);
    let config_file = db.write_config(&fake.url, &sizes.relay_settings());
    let config = Config::load(Some(&config_file), &Overrides::default()).expect("configuration");
    let payloads = rt.block_on(payloads(&db.storage, &config));
    assert_eq!(payloads.len() as u64, n, "a payload per member");
    let client = DigisClient::new(&config.digis()).expect("the relay's client");

    let accepted = AtomicU64::new(0);
    let cpu_before = self_cpu();
    let t = Instant::now();
    rt.block_on(futures::stream::iter(&payloads).for_each_concurrent(
        sizes.concurrency as usize,
        |p| async {
            if let Answer::Accepted { .. } = client.send(p).await {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
        },
    ));
    let secs = t.elapsed().as_secs_f64();
    let client_cpu = self_cpu().saturating_sub(cpu_before);
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        n,
        "every request accepted"
    );
    let health = rt.block_on(fake.health());
    assert_eq!(health["accepted"], json!(n), "fake: {health}");
    let fake_usage = fake.stop();
    write_figures(
        &format!("http-ceiling-{delay_ms}ms"),
        &json!({
            "step": "http-ceiling",
            "answer_delay_ms": delay_ms,
            "requests": n,
            "concurrency": sizes.concurrency,
            "seconds": round(secs, 3),
            "requests_per_s": round(n as f64 / secs, 1),
            "client_cpu_us_per_request": round(client_cpu.as_secs_f64() * 1e6 / n as f64, 1),
            "fake_cpu_us_per_request": round(fake_usage.cpu().as_secs_f64() * 1e6 / n as f64, 1),
            "load_before": load_before,
        }),
    );
}

/// Every member's payload as the relay would build it, read through `digis_member`.
async fn payloads(storage: &DynStorage, config: &Config) -> Vec<Payload> {
    let mut out = Vec::new();
    let mut after: Option<(SubscriptionId, PersonId)> = None;
    loop {
        let page = storage
            .active_members_page(after, 500)
            .await
            .expect("members page");
        if page.is_empty() {
            return out;
        }
        for m in page {
            let m = m.expect("a readable member");
            after = Some((m.subscription(), m.person()));
            out.push(payload::build(&m, &config.payload).expect("a valid payload"));
        }
    }
}

/// The database ceiling: `rows` queued members claimed and completed as `sent` through the
/// `Storage` trait, in-process, batch and concurrency as the relay's, without HTTP.
pub fn db_ceiling(kind: Kind, sizes: &Sizes) {
    let rt = runtime();
    let load_before = load_average();
    let db = rt.block_on(TestDb::new(kind));
    rt.block_on(db.seed_members(sizes.rows, true));
    let cpu_before = self_cpu();
    let t = Instant::now();
    let done = rt.block_on(claim_and_complete_all(
        &db.storage,
        sizes.batch as u32,
        sizes.concurrency as usize,
    ));
    let secs = t.elapsed().as_secs_f64();
    let cpu = self_cpu().saturating_sub(cpu_before);
    let after = rt.block_on(db.storage.counts()).expect("counts");
    assert_eq!(
        (done, after.sent),
        (sizes.rows, sizes.rows),
        "every row completed: {after:?}"
    );
    let version = rt.block_on(db.version());
    write_figures(
        &format!("db-ceiling-{}", kind_name(kind)),
        &json!({
            "step": "db-ceiling",
            "database": kind_name(kind),
            "database_version": version,
            "rows": sizes.rows,
            "batch_size": sizes.batch,
            "concurrency": sizes.concurrency,
            "seconds": round(secs, 3),
            "rows_per_s": round(sizes.rows as f64 / secs, 1),
            "cpu_us_per_row": round(cpu.as_secs_f64() * 1e6 / sizes.rows as f64, 1),
            "load_before": load_before,
        }),
    );
}

/// The relay's database work without HTTP: claim up to `batch` rows, complete them as `sent` in
/// groups of the relay's default `completion_group_rows` through `Storage::complete_group`,
/// `concurrency / 16` groups at once (the relay keeps two in flight), until nothing is due.
/// Returns the rows completed.
pub async fn claim_and_complete_all(storage: &DynStorage, batch: u32, concurrency: usize) -> u64 {
    const RELAY_ID: &str = "bench-db-ceiling";
    let group_rows = Config::default().relay.completion_group_rows.max(1) as usize;
    let groups_in_flight = (concurrency / 16).max(2);
    let lease = Duration::from_secs(60);
    let mut done = 0u64;
    loop {
        let claimed = storage
            .claim(RELAY_ID, batch, lease, Utc::now())
            .await
            .expect("claim");
        if claimed.is_empty() {
            return done;
        }
        done += claimed.len() as u64;
        let items: Vec<CompletionItem> = claimed
            .iter()
            .map(|c| {
                let attempt = AttemptRecord {
                    started_at: Utc::now(),
                    duration_ms: 0,
                    relay_id: RELAY_ID.to_string(),
                    http_status: Some(200),
                    error: None,
                };
                let completion = Completion::Sent {
                    external_id: Some(format!("TE-{}", c.row.id)),
                };
                CompletionItem::new(c, completion, attempt)
            })
            .collect();
        futures::stream::iter(items.chunks(group_rows))
            .for_each_concurrent(groups_in_flight, |group| async move {
                let results = storage
                    .complete_group(group, &[], Utc::now())
                    .await
                    .expect("complete_group");
                assert!(
                    results.iter().all(|r| *r == CompleteResult::Applied),
                    "a group lost a claim"
                );
            })
            .await;
    }
}

/// The last `n` lines of `text`: enough of a failed relay's stderr to see why it stopped.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
