//! Does the dashboard stay responsive with a million outbox rows? Prints the median time to load
//! a page (keyset paging through `Storage::list`, deep in the table, unfiltered and filtered)
//! and to render a frame (TestBackend 120x40). Goal: both under 16 ms. Also the reads done off
//! the render path: counts (every second), the Failures view's groups (every 10 s while shown,
//! 100,000 failed rows), a group's members and its dry run, and the Stats figures (every 30 s
//! while shown, a million attempts over 30 days).
//!
//! `cargo bench --bench tui`. The database is built once (one INSERT ... SELECT over a recursive
//! CTE, not a million round trips) and kept in target/ for the next run; `TUI_BENCH_ROWS=n`
//! (or `ROWS=n`) changes its size. The figures also go to `target/bench/out/tui.json` for
//! `scripts/bench`'s report.
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use digis_relay::config::Config;
use digis_relay::domain::{OutboxId, OutboxState};
use digis_relay::storage::{self, DynStorage, ListQuery, RelayInfo};
use digis_relay::tui::app::{App, Environment};
use digis_relay::tui::effects::Executor;
use digis_relay::tui::message::{Anchor, Effect, Msg, Select};
use digis_relay::tui::update::update;
use digis_relay::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

fn main() {
    let rows = common::env_u64("TUI_BENCH_ROWS", common::env_u64("ROWS", 1_000_000)) as i64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(rows));
}

async fn run(rows: i64) {
    let path = db_path(rows);
    let url = format!("sqlite://{}", path.display());
    let storage = storage::connect(&url)
        .await
        .expect("open the bench database");
    // A database built with other migrations (sqlx checks their checksums) is built again.
    let current = storage.migrate(true).await.is_ok();
    let have = count(&storage).await;
    if !current || have != rows {
        drop(storage);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let storage = storage::connect(&url)
            .await
            .expect("create the bench database");
        storage.migrate(true).await.expect("migrate");
        let t = Instant::now();
        fill(&path, rows).await;
        println!(
            "built {} outbox rows in {:.1} s ({})",
            rows,
            t.elapsed().as_secs_f64(),
            path.display()
        );
    }
    let storage = storage::connect(&url)
        .await
        .expect("open the bench database");
    assert_eq!(count(&storage).await, rows);

    let page = u32::from(HEIGHT) - 8;
    let deep = OutboxId(rows / 2);
    let mut report = Vec::new();

    let s = storage.clone();
    report.push((
        "page load, newest, unfiltered".to_string(),
        median(100, || {
            let s = s.clone();
            async move {
                s.list(&ListQuery {
                    limit: page + 1,
                    ..Default::default()
                })
                .await
                .unwrap()
            }
        })
        .await,
    ));
    report.push((
        format!("page load, before id {deep}, unfiltered"),
        median(100, || {
            let s = s.clone();
            async move {
                s.list(&ListQuery {
                    before: Some(deep),
                    limit: page + 1,
                    ..Default::default()
                })
                .await
                .unwrap()
            }
        })
        .await,
    ));
    for state in [OutboxState::Failed, OutboxState::Pending] {
        report.push((
            format!("page load, before id {deep}, state = {state}"),
            median(100, || {
                let s = s.clone();
                async move {
                    s.list(&ListQuery {
                        state: Some(state),
                        before: Some(deep),
                        limit: page + 1,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                }
            })
            .await,
        ));
    }
    report.push((
        format!("page load upward, after id {deep}, state = failed"),
        median(100, || {
            let s = s.clone();
            async move {
                s.list(&ListQuery {
                    state: Some(OutboxState::Failed),
                    after: Some(deep),
                    limit: page + 1,
                    ..Default::default()
                })
                .await
                .unwrap()
            }
        })
        .await,
    ));

    // The dashboard's own path: the LoadPage effect as the binary runs it.
    let config = Arc::new(Config::default());
    let exec = Executor::new(storage.clone(), config.clone());
    let mut app = App::new(
        Environment::from_config(&config, false, false),
        Utc::now(),
        HEIGHT,
    );
    report.push((
        format!("LoadPage effect (Executor), before id {deep}, state = failed"),
        median(100, || {
            let exec = exec.clone();
            async move {
                exec.execute(Effect::LoadPage {
                    seq: 1,
                    state: Some(OutboxState::Failed),
                    anchor: Anchor::Before(deep),
                    limit: page,
                    select: Select::First,
                })
                .await
            }
        })
        .await,
    ));
    // Off the render path (the 1 s tick), but worth knowing.
    let counts_ms = median(10, || {
        let s = s.clone();
        async move { s.counts().await.unwrap() }
    })
    .await;
    let mut background = vec![("counts by state (every 1 s)".to_string(), counts_ms)];
    background.extend(failures_and_stats(&storage).await);

    // A full screen: status, a page deep in the table, relays.
    let reply = exec.execute(Effect::LoadStatus).await;
    update(&mut app, reply);
    app.relays = Some(vec![RelayInfo {
        relay_id: "relay-a".into(),
        hostname: "bench".into(),
        pid: 1,
        version: "0".into(),
        started_at: Utc::now(),
        heartbeat_at: Utc::now(),
        state: "running".into(),
        detail: None,
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: Some(10.0),
        clock_offset_ms: Some(0),
    }]);
    let effects = update(&mut app, Msg::char('G'));
    for e in effects {
        let reply = exec.execute(e).await;
        update(&mut app, reply);
    }
    assert_eq!(app.page.rows.len(), page as usize, "the page did not fill");
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    let mut times = Vec::new();
    for i in 0..300 {
        app.selected = i % page as usize;
        let t = Instant::now();
        terminal.draw(|f| view::draw(f, &app)).unwrap();
        times.push(t.elapsed());
    }
    report.push((
        format!("render a frame {WIDTH}x{HEIGHT} (TestBackend)"),
        median_of(times),
    ));

    println!("\ndashboard benchmark, {rows} outbox rows (SQLite), median:");
    let mut all_ok = true;
    for (what, ms) in &report {
        let ok = *ms < 16.0;
        all_ok &= ok;
        println!(
            "  {what:<62} {ms:>8.3} ms  {}",
            if ok { "ok" } else { "OVER 16 ms" }
        );
    }
    for (what, ms) in &background {
        println!("  {what:<62} {ms:>8.3} ms  (off the render path)");
    }
    println!(
        "{}",
        if all_ok {
            "goal met: every page load and frame under 16 ms"
        } else {
            "goal NOT met"
        }
    );
    let medians: Vec<serde_json::Value> = report
        .iter()
        .map(|(what, ms)| serde_json::json!({"what": what, "ms": common::round(*ms, 3)}))
        .collect();
    common::write_figures(
        "tui",
        &serde_json::json!({
            "step": "tui",
            "rows": rows,
            "medians": medians,
            "counts_ms": common::round(counts_ms, 2),
        }),
    );
}

fn db_path(rows: i64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    // v2: units, failure causes, sent times and attempts for the Failures and Stats reads.
    dir.join(format!("tui-v2-{rows}.db"))
}

async fn count(s: &DynStorage) -> i64 {
    match s.counts().await {
        Ok(c) => c.total() as i64,
        Err(_) => -1,
    }
}

/// Host rows for half the members (so the card-number lookup does real joins) and `rows`
/// outbox rows in a realistic mix of states, each in one statement.
async fn fill(path: &std::path::Path, rows: i64) {
    use sqlx::{AssertSqlSafe, Executor as _};
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw pool");
    let members = rows / 2;
    let statements = [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
         INSERT INTO business_unit (id, name) SELECT i, 'Stamina ' || i FROM n"
            .to_string(),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {members}) \
             INSERT INTO person (id, unit_id, first_name, last_name, allow_sms, mobile_country_code, mobile_number, card_number) \
             SELECT i, 1 + i % 20, 'F' || i, 'L' || i, 1, '46', '070' || (1000000 + i), CAST(34000000 + i AS TEXT) FROM n"
        ),
        // ENDED: inserting them fires no trigger, so the outbox below is all there is.
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {members}) \
             INSERT INTO subscription (id, status, start_date) SELECT 100000 + i, 'ENDED', '2026-01-01' FROM n"
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {members}) \
             INSERT INTO subscription_user (subscription_id, person_id) SELECT 100000 + i, i FROM n"
        ),
        // 70 % sent, 10 % each failed, pending, discarded; two rows per member (one was resent).
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO digis_outbox (subscription_id, person_id, state, attempts, next_attempt_at, \
                 last_error, last_http_status, external_id, created_at, sent_at, reason, updated_at) \
             SELECT 100000 + (i + 1) / 2, (i + 1) / 2, \
                 CASE WHEN i % 10 = 3 THEN 'failed' WHEN i % 10 = 5 THEN 'pending' \
                      WHEN i % 10 = 7 THEN 'discarded' ELSE 'sent' END, \
                 1 + i % 3, '2026-11-28T12:00:00.000Z', \
                 CASE WHEN i % 10 = 3 THEN 'HTTP 400: MobileNumber is not valid' END, \
                 CASE WHEN i % 10 = 3 THEN 400 WHEN i % 10 IN (0, 1, 2, 4, 6, 8, 9) THEN 200 END, \
                 CASE WHEN i % 10 IN (0, 1, 2, 4, 6, 8, 9) THEN 'DG-' || i END, \
                 '2026-11-28T12:00:00.000Z', NULL, \
                 CASE WHEN i % 10 = 7 THEN 'subscription is ENDED' END, \
                 '2026-11-28T12:00:00.000Z' FROM n"
        ),
        // Saved over the 30 days before STATS_NOW, sent 0 to 119 s later; failed rows in three
        // causes.
        "UPDATE digis_outbox SET \
             created_at = strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-28T12:00:00', '-' || (id % 2592000) || ' seconds'), \
             sent_at = CASE WHEN state = 'sent' THEN strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-28T12:00:00', \
                 '-' || (id % 2592000) || ' seconds', '+' || (id % 120) || ' seconds') END, \
             fail_field = CASE WHEN state = 'failed' THEN CASE id % 3 WHEN 0 THEN 'MobileNumber' \
                 WHEN 1 THEN 'ExtInfo20' END END, \
             fail_rule = CASE WHEN state = 'failed' THEN CASE id % 3 WHEN 0 THEN 'not a mobile number for region SE' \
                 WHEN 1 THEN 'no card number' ELSE 'Digis 400: Invalid mobile #' END END"
            .to_string(),
        // One attempt per row, when it was saved.
        "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, outcome) \
         SELECT id, 1, created_at, 100, 'bench', CASE state WHEN 'sent' THEN 'sent' \
             WHEN 'failed' THEN 'failed' ELSE 'retry' END FROM digis_outbox"
            .to_string(),
        "ANALYZE".to_string(),
    ];
    for sql in statements {
        pool.execute(AssertSqlSafe(sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    pool.close().await;
}

/// "Now" for the Stats figures: the end of the bench data's 30 days.
const STATS_NOW: &str = "2026-11-28T12:00:00Z";

async fn failures_and_stats(storage: &DynStorage) -> Vec<(String, f64)> {
    use digis_relay::storage::{FailedQuery, UnitFilter};
    let s = storage.clone();
    let groups = s.failure_groups(None, 500).await.unwrap();
    let failed: u64 = groups.iter().map(|g| g.rows).sum();
    let biggest = groups.first().expect("failure groups").key.clone();
    let mut out = Vec::new();
    out.push((
        format!(
            "Failures groups ({failed} failed rows, {} groups)",
            groups.len()
        ),
        median(5, || {
            let s = s.clone();
            async move { s.failure_groups(None, 500).await.unwrap() }
        })
        .await,
    ));
    out.push((
        format!(
            "a group's first {} members",
            digis_relay::tui::message::MEMBERS_SHOWN
        ),
        median(5, || {
            let s = s.clone();
            let q = FailedQuery {
                unit: UnitFilter::Is(biggest.unit_id),
                cause: Some(biggest.cause.clone()),
                after: None,
                limit: digis_relay::tui::message::MEMBERS_SHOWN,
            };
            async move { s.failed_members(&q).await.unwrap() }
        })
        .await,
    ));
    out.push((
        "a group retry's dry run (count)".to_string(),
        median(5, || {
            let s = s.clone();
            let k = biggest.clone();
            async move { s.count_failure_group(&k).await.unwrap() }
        })
        .await,
    ));
    let now = chrono::DateTime::parse_from_rfc3339(STATS_NOW)
        .unwrap()
        .with_timezone(&Utc);
    let stats = digis_relay::stats::collect(&**storage, now).await.unwrap();
    let attempts: u64 = stats
        .daily
        .iter()
        .map(|d| d.sent + d.failed + d.retried)
        .sum();
    out.push((
        format!("Stats figures ({attempts} attempts in 30 days)"),
        median(5, || {
            let s = s.clone();
            async move { digis_relay::stats::collect(&*s, now).await.unwrap() }
        })
        .await,
    ));
    out
}

async fn median<F, Fut, T>(n: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    // Warm the page cache and the statement cache first, as a running dashboard has.
    for _ in 0..5 {
        std::hint::black_box(f().await);
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f().await);
        times.push(t.elapsed());
    }
    median_of(times)
}

fn median_of(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}
