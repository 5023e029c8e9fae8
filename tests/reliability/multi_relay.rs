//! Several relays on one PostgreSQL database behave as one client (RELIABILITY.md, promise 7):
//! three relays, one with its clock 90 s ahead and one 90 s behind (libfaketime), drain the
//! outbox while the host deletes outbox rows and saves subscriptions again, the database goes
//! away for longer than the lease, and relays are SIGKILLed. Nothing is lost (a deleted row's
//! member is queued again by the next save), nothing is left `sending`, no completion goes
//! stale, and every duplicate Digis saw is an answer a killed relay had not committed.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use digis_relay::fake_digis::{self, FaultRule};
use rand::Rng as _;
use sqlx::Connection as _;

use crate::common::{command_for, eventually_every, stale_attempts, KillOnDrop, TestDb};
use crate::harness;

/// The lease: short, so the outage below outlasts it and a killed relay's rows come back soon.
const LEASE_MS: u64 = 2_000;
/// The relays' clocks, as libfaketime skews them (`None`: the real clock).
const CLOCKS: [Option<&str>; 3] = [None, Some("+90s"), Some("-90s")];
/// As in kills.rs: a kill leaves at most `concurrency + completion_group_rows` answers
/// uncommitted, answered at most the flush interval plus commit latency before it.
const CONCURRENCY: usize = 4;
const GROUP_ROWS: usize = 8;
const WINDOW_MS: i64 = 2_000;
const IN_FLIGHT_MS: i64 = 1_000;

/// 600 rows, one kill, one outage: runs in every `cargo test`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_multi_relay() {
    scenario(TestDb::postgres().await, 600, 1, "multi-short").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability (RELIABILITY_MULTI_ROWS, RELIABILITY_MULTI_KILLS)"]
async fn long_multi_relay() {
    let rows = harness::env_usize("RELIABILITY_MULTI_ROWS", 10_000);
    let kills = harness::env_usize("RELIABILITY_MULTI_KILLS", 6);
    scenario(TestDb::postgres().await, rows, kills, "multi").await;
}

/// libfaketime's preload library; the one line a machine without it gets.
fn faketime_lib() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("libfaketime is not installed: `apt-get install faketime` (.ci/run installs it)")
    })
}

/// `digis-relay run` on this machine's clock moved by `skew`; output kept for the leak scan.
fn spawn_relay(db: &TestDb, config: &Path, n: usize, skew: Option<&str>) -> KillOnDrop {
    let out = harness::out_dir(db);
    let k = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    let mut cmd = command_for(&harness::bin());
    cmd.args(["--config", config.to_str().unwrap(), "run"])
        .env("DIGIS_RELAY_LOG", "debug")
        .stdout(Stdio::from(
            std::fs::File::create(out.join(format!("relay{n}-{k}.stdout"))).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(out.join(format!("relay{n}-{k}.stderr"))).unwrap(),
        ));
    if let Some(skew) = skew {
        cmd.env("LD_PRELOAD", faketime_lib())
            .env("FAKETIME", skew)
            // Tokio's timers keep the real monotonic clock; only the wall clock is skewed.
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
    KillOnDrop::spawn(&mut cmd)
}

/// The last lines each relay process wrote on stderr, for a failure message.
fn tails(db: &TestDb) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(harness::out_dir(db))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(6)..].join("\n  ");
            format!("{}:\n  {tail}", p.file_name().unwrap().to_string_lossy())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The test's database (only) refuses connections for `length`; its connections are cut.
async fn outage(db: &TestDb, length: Duration) {
    let admin_url = std::env::var("DIGIS_RELAY_TEST_PG")
        .unwrap_or_else(|_| crate::common::PG_ADMIN_DEFAULT.to_string());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let name = db.url.rsplit_once('/').unwrap().1;
    crate::common::pg_outage(&mut admin, name, length).await;
}

/// The host at work: deletes an open outbox row now and then and saves subscriptions again,
/// until `stop`; returns the subscriptions whose rows it deleted. It saves only subscriptions it
/// has not deleted from: a save right after a delete queues the member again while the deleted
/// row's request may still be on its way, and two relays then send it. That second SMS is the
/// host's doing (the relay has no trace of a row that is gone), so the final save, after the
/// drain, queues those members again instead.
fn host_at_work(
    url: String,
    rows: usize,
    stop: Arc<AtomicBool>,
    deleted: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let subs = rows.div_ceil(10);
        let mut touched: HashSet<i64> = HashSet::new();
        let mut pool = None;
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(40)).await;
            i += 1;
            if pool.is_none() {
                pool = sqlx::PgPool::connect(&url).await.ok();
            }
            let Some(p) = &pool else { continue };
            let (id, sub) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(1..=rows as i64),
                    rng.random_range(1..=subs as i64),
                )
            };
            // Errors are the outage's: the host's writes fail then, as everyone's do.
            if let Ok(gone) = sqlx::query_scalar::<_, i64>(
                "DELETE FROM digis_outbox WHERE id = $1 AND state IN ('pending', 'sending') \
                 RETURNING subscription_id",
            )
            .bind(id)
            .fetch_all(p)
            .await
            {
                deleted.fetch_add(gone.len(), Ordering::SeqCst);
                touched.extend(gone);
            }
            if i.is_multiple_of(3) && !touched.contains(&sub) {
                let _ = sqlx::query("UPDATE subscription SET message = $1 WHERE id = $2")
                    .bind(format!("saved {i}"))
                    .bind(sub)
                    .execute(p)
                    .await;
            }
        }
    })
}

/// Waits until nothing is open and Digis has seen no request for a second: every request the
/// relays made has been answered and committed (or its row is gone).
async fn quiet(db: &TestDb, fake: &fake_digis::FakeHandle, within: Duration) {
    let mut last = (usize::MAX, Instant::now());
    eventually_every("quiet", within, Duration::from_millis(200), || {
        let seen = fake.received().len();
        if seen != last.0 {
            last = (seen, Instant::now());
        }
        let since = last.1;
        async move {
            let c = harness::counts(db).await;
            if c.pending == 0 && c.sending == 0 && since.elapsed() >= Duration::from_secs(1) {
                return Ok(());
            }
            Err(format!("{c:?}"))
        }
    })
    .await
}

async fn scenario(db: TestDb, rows: usize, kills: usize, name: &str) {
    let started = Instant::now();
    faketime_lib();
    harness::seed(&db, rows).await;
    // Answers that take a while, so every relay has requests in flight at a kill, at the
    // outage and at a delete.
    let fake = harness::fake(vec![FaultRule {
        delay_ms: Some(30),
        ..Default::default()
    }])
    .await;
    // The skewed relays must work, corrected by their measured offset, not refuse: the
    // refusal above `max_clock_offset_ms` is tested on its own.
    let config = harness::write_config(
        &db,
        &fake.base_url(),
        &format!(
            "digis_timeout_ms = 1000\n[relay]\nbatch_size = 40\nconcurrency = {CONCURRENCY}\n\
             completion_group_rows = {GROUP_ROWS}\nlease_ms = {LEASE_MS}\n\
             max_clock_offset_ms = 300000\n\
             max_requests_per_second = 0\npoll_interval_ms = 100\nheartbeat_ms = 300\n\
             backoff_base_ms = 10\nbackoff_max_ms = 100\n[export]\nlisten = \"\"\n"
        ),
    );
    let mut relays: Vec<KillOnDrop> = CLOCKS
        .iter()
        .enumerate()
        .map(|(n, skew)| spawn_relay(&db, &config, n, *skew))
        .collect();
    let stop_host = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicUsize::new(0));
    let host = host_at_work(db.url.clone(), rows, stop_host.clone(), deleted.clone());

    // The outage, a quarter into the drain: longer than the lease, so every lease held at its
    // start has expired when the relays get the database back.
    let quarter = rows / 4;
    assert!(
        fake.wait_until(Duration::from_secs(120), |r| r.len() >= quarter)
            .await,
        "a quarter of the rows was not requested in 120 s; the relays said:\n{}",
        tails(&db)
    );
    outage(&db, Duration::from_millis(LEASE_MS * 2 + 500)).await;

    // Kills, spread over the rest of the drain; the killed relay starts again at once.
    let step = ((rows - quarter) / (kills + 2)).max(2);
    let mut kill_times: Vec<DateTime<Utc>> = Vec::new();
    for k in 0..kills {
        let target = fake.received().len() + rand::rng().random_range(step / 3..=step);
        let progressed = fake
            .wait_until(Duration::from_secs(120), |r| r.len() >= target)
            .await;
        assert!(progressed, "no progress before kill {k} in 120 s");
        let n = k % CLOCKS.len();
        if let Some(status) = relays[n].try_wait().unwrap() {
            panic!("relay {n} exited by itself: {status}");
        }
        relays[n].kill().unwrap();
        kill_times.push(Utc::now());
        relays[n].wait().unwrap();
        relays[n] = spawn_relay(&db, &config, n, CLOCKS[n]);
    }

    // The host stops; one last save of every subscription queues the members whose rows it
    // deleted (and nobody already accepted), and everything drains.
    stop_host.store(true, Ordering::SeqCst);
    host.await.unwrap();
    let drained = Duration::from_secs(90 + rows as u64 / 20);
    quiet(&db, &fake, drained).await;
    db.exec("UPDATE subscription SET message = 'final save'")
        .await;
    eventually_every("drained", drained, Duration::from_millis(200), || {
        let exited: Vec<_> = relays
            .iter_mut()
            .enumerate()
            .filter_map(|(n, r)| Some((n, r.try_wait().unwrap()?)))
            .collect();
        let db = &db;
        async move {
            let c = harness::counts(db).await;
            let in_digis = db.scalar("SELECT COUNT(*) FROM digis").await;
            if in_digis == rows as i64 && c.pending == 0 && c.sending == 0 {
                return Ok(());
            }
            if let Some((n, status)) = exited.first() {
                panic!("relay {n} exited by itself ({status}) with {c:?}");
            }
            Err(format!("{c:?}, {in_digis} in digis"))
        }
    })
    .await;
    for r in relays {
        harness::stop(r);
    }

    let c = harness::counts(&db).await;
    let stale = stale_attempts(&db).await;
    let accepted = fake.accepted();
    let duplicates = fake.duplicates();
    // Every uncommitted answer must lie at a kill (the answer→commit window).
    let harness::Attribution {
        uncommitted,
        per_kill,
        outside,
        ..
    } = harness::attribute(&db, &accepted, &kill_times, WINDOW_MS, IN_FLIGHT_MS).await;
    let scan = harness::leak_scan(&db).await;
    harness::write_figures(
        &format!("{name}-postgres"),
        serde_json::json!({
            "test": "multi_relay",
            "database": "postgres",
            "binary": harness::bin().display().to_string(),
            "rows": rows,
            "relays": CLOCKS.len(),
            "clocks": "real, +90 s, -90 s",
            "kills": kills,
            "outage_ms": LEASE_MS * 2 + 500,
            "lease_ms": LEASE_MS,
            "host_deletes": deleted.load(Ordering::SeqCst),
            "lost": rows as i64 - db.scalar("SELECT COUNT(*) FROM digis").await,
            "stuck_sending": c.sending,
            "failed": c.failed,
            "stale_completions": stale,
            "requests": fake.received().len(),
            "duplicates": duplicates,
            "uncommitted_answers": uncommitted.len(),
            "duplicates_outside_window": outside.len(),
            "max_duplicates_per_kill": per_kill.iter().copied().max().unwrap_or(0),
            "leaks": scan.findings.len(),
            "leak_sources": scan.sources,
            "leak_bytes": scan.bytes,
            "seconds": started.elapsed().as_secs_f64().round(),
        }),
    );
    assert_eq!((c.sending, c.pending, c.failed), (0, 0, 0), "{c:?}");
    assert!(scan.findings.is_empty(), "leaks: {:#?}", scan.findings);
    assert_eq!(
        stale, 0,
        "completions that found their row taken by another relay (a clock or a takeover)"
    );
    assert!(
        outside.is_empty(),
        "accepted answers never committed, with no kill near them: {outside:#?} (kills: {kill_times:?})"
    );
    assert!(
        per_kill.iter().all(|n| *n <= CONCURRENCY + GROUP_ROWS),
        "a kill left more answers uncommitted than in flight plus one group: {per_kill:?}"
    );
    assert_eq!(
        duplicates,
        uncommitted.len(),
        "every duplicate is an answer a killed relay had not committed"
    );
}
