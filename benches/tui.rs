//! Does the dashboard stay responsive with ten million outbox rows? Prints the median time to
//! load a page (keyset paging through `Storage::list`, deep in the table, unfiltered and
//! filtered) and to render a frame (TestBackend 120x40). Goal: both under 16 ms. Also the reads
//! done off the render path: counts (every second; goal ≤ 100 ms), the Failures view's groups
//! (every 10 s while shown), a group's members and its dry run, and the Stats figures (every 30 s
//! while shown, an attempt a row over 30 days).
//!
//! `cargo bench --bench tui`. The SQLite database is built once (one INSERT ... SELECT over a
//! recursive CTE a table, its indexes dropped first and made again from the migrations' own
//! SQL, so they are built sorted) and kept in target/bench for the next run;
//! `TUI_BENCH_ROWS=n` (or `ROWS=n`) changes its size. Then the counts on PostgreSQL at the same
//! size (`TUI_BENCH_PG_ROWS`, 0: skipped), in a database of its own dropped afterwards: the
//! counts are the one dashboard read whose SQL differs there. The figures also go to
//! `target/bench/out/tui.json` for `scripts/bench`'s report.
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
    let rows = common::env_u64("TUI_BENCH_ROWS", common::env_u64("ROWS", 10_000_000)) as i64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pg_rows = common::env_u64("TUI_BENCH_PG_ROWS", rows as u64) as i64;
    rt.block_on(run(rows, pg_rows));
}

async fn run(rows: i64, pg_rows: i64) {
    let path = db_path(rows);
    let url = format!("sqlite://{}", path.display());
    let storage = storage::connect(&url)
        .await
        .expect("open the bench database");
    // A database built with other migrations (sqlx checks their checksums) is built again.
    let current = storage.migrate(true).await.is_ok();
    let have = count(&storage).await;
    let mut built_s = None;
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
        built_s = Some(t.elapsed().as_secs_f64());
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
    // Off the render path (the 1 s tick), goal 100 ms; beside it the GROUP BY it replaced.
    let raw = sqlx::SqlitePool::connect(&url).await.expect("raw pool");
    assert_eq!(
        storage.counts().await.unwrap(),
        group_by_sqlite(&raw).await,
        "the counts differ from a GROUP BY over the table"
    );
    let counts_ms = median(20, || {
        let s = s.clone();
        async move { s.counts().await.unwrap() }
    })
    .await;
    let group_by_ms = median(3, || group_by_sqlite(&raw)).await;
    raw.close().await;
    let mut background = vec![
        ("counts by state (every 1 s)".to_string(), counts_ms),
        (
            "  the same by GROUP BY state (before 0046)".to_string(),
            group_by_ms,
        ),
    ];
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
    let postgres = if pg_rows > 0 {
        let pg = postgres_counts(pg_rows).await;
        println!("\ncounts on PostgreSQL, {pg_rows} outbox rows, median:");
        for (what, key) in [
            ("counts by state", "counts_ms"),
            (
                "counts by state, 5,000 deltas not folded yet",
                "counts_deltas_ms",
            ),
            ("  the same by GROUP BY state (before 0046)", "group_by_ms"),
        ] {
            println!(
                "  {what:<62} {:>8.3} ms",
                pg[key].as_f64().unwrap_or(f64::NAN)
            );
        }
        pg
    } else {
        serde_json::Value::Null
    };
    common::write_figures(
        "tui",
        &serde_json::json!({
            "step": "tui",
            "rows": rows,
            "built_s": built_s.map(|s| common::round(s, 1)),
            "medians": medians,
            "counts_ms": common::round(counts_ms, 2),
            "group_by_ms": common::round(group_by_ms, 2),
            "postgres": postgres,
        }),
    );
}

/// The counts as the dashboard read them before migration 0015: the truth `counts` must
/// equal, and the time it took.
async fn group_by_sqlite(pool: &sqlx::SqlitePool) -> digis_relay::storage::Counts {
    counts_of(
        sqlx::query_as::<_, (String, i64)>(GROUP_BY)
            .fetch_all(pool)
            .await
            .expect("GROUP BY"),
    )
}

const GROUP_BY: &str = "SELECT state, COUNT(*) FROM digis_outbox GROUP BY state";

fn counts_of(rows: Vec<(String, i64)>) -> digis_relay::storage::Counts {
    let mut c = digis_relay::storage::Counts::default();
    for (state, n) in rows {
        c.set(state.parse().expect("a state"), n as u64);
    }
    c
}

/// The counts on PostgreSQL with `rows` outbox rows in the same mix of states (no host rows:
/// the counts read none). The rows go in with the outbox's indexes and count triggers off,
/// the indexes are made again from their own definitions and the counts table from one GROUP
/// BY, then `counts` must equal a GROUP BY over the table.
async fn postgres_counts(rows: i64) -> serde_json::Value {
    use sqlx::{AssertSqlSafe, Executor as _};
    let db = common::TestDb::postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("raw pool");
    let t = Instant::now();
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'digis_outbox' \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    let mut statements: Vec<String> = indexes
        .iter()
        .map(|(name, _)| format!("DROP INDEX {name}"))
        .collect();
    statements.push("ALTER TABLE digis_outbox DISABLE TRIGGER USER".into());
    statements.push(format!(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, attempts, last_error, \
             external_id, created_at, updated_at, sent_at) \
         SELECT 100000 + (i + 1) / 2, (i + 1) / 2, \
             CASE WHEN i % 10 = 3 THEN 'failed' WHEN i % 10 = 5 THEN 'pending' \
                  WHEN i % 10 = 7 THEN 'discarded' ELSE 'sent' END, \
             1 + i % 3, CASE WHEN i % 10 = 3 THEN 'HTTP 400: MobileNumber is not valid' END, \
             CASE WHEN i % 10 IN (0, 1, 2, 4, 6, 8, 9) THEN 'DG-' || i END, \
             timestamptz '2026-11-28 12:00:00Z' - (i % 2592000) * interval '1 second', \
             timestamptz '2026-11-28 12:00:00Z' - (i % 2592000) * interval '1 second', \
             CASE WHEN i % 10 IN (0, 1, 2, 4, 6, 8, 9) THEN \
                 timestamptz '2026-11-28 12:00:00Z' - (i % 2592000 - i % 120) * interval '1 second' END \
         FROM generate_series(1, {rows}) AS i"
    ));
    statements.extend(indexes.iter().map(|(_, def)| def.clone()));
    statements.push(
        "UPDATE digis_outbox_count c SET n = (SELECT COUNT(*) FROM digis_outbox o \
         WHERE o.state = c.state)"
            .into(),
    );
    statements.push("ALTER TABLE digis_outbox ENABLE TRIGGER USER".into());
    // Visibility map and statistics, as autovacuum leaves a table in service.
    statements.push("VACUUM ANALYZE digis_outbox".into());
    for sql in statements {
        pool.execute(AssertSqlSafe(sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
    let built_s = t.elapsed().as_secs_f64();
    println!("built {rows} outbox rows on PostgreSQL in {built_s:.1} s");
    let truth = || {
        let pool = pool.clone();
        async move {
            counts_of(
                sqlx::query_as::<_, (String, i64)>(GROUP_BY)
                    .fetch_all(&pool)
                    .await
                    .expect("GROUP BY"),
            )
        }
    };
    let s = db.storage();
    assert_eq!(
        s.counts().await.unwrap(),
        truth().await,
        "counts on PostgreSQL"
    );
    let counts_ms = median(20, || {
        let s = s.clone();
        async move { s.counts().await.unwrap() }
    })
    .await;
    // What a few seconds of a busy drain leave between two heartbeats' folds (a claim or a
    // group appends a row or two), netting to nothing so the counts stay checkable.
    pool.execute(
        "INSERT INTO digis_outbox_count_delta (state, n) \
         SELECT CASE i % 4 WHEN 0 THEN 'sending' WHEN 1 THEN 'sent' WHEN 2 THEN 'failed' \
             ELSE 'discarded' END, CASE WHEN i % 8 < 4 THEN 1 ELSE -1 END \
         FROM generate_series(0, 4999) AS i",
    )
    .await
    .expect("deltas");
    assert_eq!(
        s.counts().await.unwrap(),
        truth().await,
        "counts with deltas"
    );
    let counts_deltas_ms = median(20, || {
        let s = s.clone();
        async move { s.counts().await.unwrap() }
    })
    .await;
    let group_by_ms = median(3, truth).await;
    pool.close().await;
    drop(db);
    serde_json::json!({
        "rows": rows,
        "built_s": common::round(built_s, 1),
        "counts_ms": common::round(counts_ms, 2),
        "counts_deltas_ms": common::round(counts_deltas_ms, 2),
        "group_by_ms": common::round(group_by_ms, 2),
    })
}

fn db_path(rows: i64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    // v2: units, failure causes, sent times and attempts for the Failures and Stats reads.
    // v3: built with the counts table of migration 0015.
    dir.join(format!("tui-v3-{rows}.db"))
}

async fn count(s: &DynStorage) -> i64 {
    match s.counts().await {
        Ok(c) => c.total() as i64,
        Err(_) => -1,
    }
}

/// Host rows for half the members (so the card-number lookup does real joins) and `rows`
/// outbox rows in a realistic mix of states, each table in one statement. The filled tables'
/// indexes are dropped first and made again afterwards from their own SQL (sorted builds, not
/// ten million random inserts each); the triggers stay and keep the counts as they would.
async fn fill(path: &std::path::Path, rows: i64) {
    use sqlx::{AssertSqlSafe, Executor as _};
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw pool");
    // A throwaway file: no durability needed while it is built, and a large page cache.
    pool.execute("PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000")
        .await
        .expect("pragmas");
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('person', 'subscription', 'subscription_user', 'digis_outbox', 'digis_attempt')",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    let members = rows / 2;
    let mut statements: Vec<String> = indexes
        .iter()
        .map(|(name, _)| format!("DROP INDEX {name}"))
        .collect();
    statements.extend([
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
        // 70 % sent, 10 % each failed, pending, discarded; two rows per member (one was
        // resent). Saved over the 30 days before STATS_NOW, sent 0 to 119 s later; failed rows
        // in three causes. The ids are 1..=rows (a new table), so `i` is the id.
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}), \
             r(i, state, created) AS (SELECT i, \
                 CASE WHEN i % 10 = 3 THEN 'failed' WHEN i % 10 = 5 THEN 'pending' \
                      WHEN i % 10 = 7 THEN 'discarded' ELSE 'sent' END, \
                 '-' || (i % 2592000) || ' seconds' FROM n) \
             INSERT INTO digis_outbox (subscription_id, person_id, state, attempts, next_attempt_at, \
                 last_error, last_http_status, external_id, created_at, sent_at, reason, updated_at, \
                 fail_field, fail_rule) \
             SELECT 100000 + (i + 1) / 2, (i + 1) / 2, state, \
                 1 + i % 3, '2026-11-28T12:00:00.000Z', \
                 CASE WHEN state = 'failed' THEN 'HTTP 400: MobileNumber is not valid' END, \
                 CASE WHEN state = 'failed' THEN 400 WHEN state = 'sent' THEN 200 END, \
                 CASE WHEN state = 'sent' THEN 'DG-' || i END, \
                 strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-28T12:00:00', created), \
                 CASE WHEN state = 'sent' THEN strftime('%Y-%m-%dT%H:%M:%fZ', '2026-11-28T12:00:00', \
                     created, '+' || (i % 120) || ' seconds') END, \
                 CASE WHEN state = 'discarded' THEN 'subscription is ENDED' END, \
                 '2026-11-28T12:00:00.000Z', \
                 CASE WHEN state = 'failed' THEN CASE i % 3 WHEN 0 THEN 'MobileNumber' \
                     WHEN 1 THEN 'ExtInfo20' END END, \
                 CASE WHEN state = 'failed' THEN CASE i % 3 WHEN 0 THEN 'not a mobile number for region SE' \
                     WHEN 1 THEN 'no card number' ELSE 'Digis 400: Invalid mobile #' END END \
             FROM r"
        ),
        // One attempt per row, when it was saved.
        "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, outcome) \
         SELECT id, 1, created_at, 100, 'bench', CASE state WHEN 'sent' THEN 'sent' \
             WHEN 'failed' THEN 'failed' ELSE 'retry' END FROM digis_outbox"
            .to_string(),
    ]);
    statements.extend(indexes.iter().map(|(_, sql)| sql.clone()));
    // Sampled statistics, as `PRAGMA optimize` gathers them (a full ANALYZE reads every index).
    statements.push("PRAGMA analysis_limit = 1000; ANALYZE".to_string());
    for sql in statements {
        let t = Instant::now();
        pool.execute(AssertSqlSafe(sql.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
        let first = sql.split_whitespace().take(8).collect::<Vec<_>>().join(" ");
        println!("  {:>7.1} s  {first} ...", t.elapsed().as_secs_f64());
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
