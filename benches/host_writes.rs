//! What the relay's triggers cost the membership system's own writes (issue 28, BENCHMARKS.md):
//! the same bulk statements timed on a database with the host schema alone ("without") and on
//! one after `migrate` (relay schema and the reference adapter, "with"), and the ratio.
//!
//! `cargo bench --bench host_writes -- --db sqlite|postgres` (`scripts/bench` steps
//! `host-writes-sqlite`, `host-writes-postgres`). Sizes: `BENCH_HOST_ROWS` (100000
//! subscriptions, two users each; as many persons), `BENCH_HOST_REPEATS` (3; the best is kept).
//!
//! Each repetition uses fresh databases (the test suite's: a SQLite file, a PostgreSQL database
//! `drt_*` dropped after), persons 1..2N seeded untimed, then, timed from this process, each
//! figure one bulk statement in one transaction on a connection of its own, as an import or a
//! nightly job would run it:
//! - `insert_persons`: N persons (whatever triggers the adapter puts on person);
//! - `insert_subscriptions`: N ACTIVE subscriptions, then their 2N users (the order the
//!   reference schema's foreign keys allow; the users' trigger queues the pairs);
//! - `update_subscriptions`: the nightly re-save of those N (max_end touched, still ACTIVE),
//!   half their rows sent by then, the other half still pending: nothing is queued again;
//! - `activate_subscriptions`: N PAUSED subscriptions whose users were added before, made
//!   ACTIVE in one UPDATE (the subscription's trigger queues the 2N pairs).
//!
//! The "with" database's outbox is checked after each figure (the rows the triggers must queue,
//! no more), so a fast trigger that queues wrongly fails the step. Also timed on "with": the
//! outbox INSERT alone of 2N rows, with all of digis_outbox's indexes and with only its primary
//! key and one-open index (the rest dropped inside a rolled-back transaction), which says what
//! share of the trigger cost is the outbox's index maintenance.
//!
//! `BENCH_HOST_BEFORE=1` measures the triggers as released before issue 28 instead (the
//! row-level reference adapter of tests/fixtures/pre-0012, SQLite's entry point as migration
//! 0010 made it), into `host-writes-{db}-before.json`, which the report does not read: the
//! decision record's "before" column (docs/decisions/0042).
#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{env_u64, kind, kind_name, load_average, round, runtime, write_figures, BenchDb};
use common::{Kind, TestDb};
use digis_relay::storage::adapter::{AdapterSource, HostAdapter};
use serde_json::json;

/// One timed statement.
struct Figure {
    key: &'static str,
    what: &'static str,
}

const FIGURES: [Figure; 4] = [
    Figure {
        key: "insert_persons",
        what: "INSERT of {n} persons",
    },
    Figure {
        key: "insert_subscriptions",
        what: "INSERT of {n} ACTIVE subscriptions, then of their users (2 each)",
    },
    Figure {
        key: "update_subscriptions",
        what: "UPDATE of those {n} subscriptions (nightly re-save, nothing to queue)",
    },
    Figure {
        key: "activate_subscriptions",
        what: "UPDATE of {n} PAUSED subscriptions with users to ACTIVE",
    },
];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let db = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1))
        .map(|s| kind(s))
        .expect("--db sqlite|postgres");
    let rows = env_u64("BENCH_HOST_ROWS", 100_000).max(1);
    let repeats = env_u64("BENCH_HOST_REPEATS", 3).max(1);
    let before = env_u64("BENCH_HOST_BEFORE", 0) != 0;
    runtime().block_on(host_writes(db, rows, repeats, before));
}

/// The host schema alone: what the membership system has before the relay is installed.
async fn without_relay(kind: Kind) -> TestDb {
    let db = TestDb::bare(kind).await;
    db.exec(match kind {
        Kind::Sqlite => include_str!("../assets/host-schema.sqlite.sql"),
        Kind::Postgres => include_str!("../assets/host-schema.postgres.sql"),
    })
    .await;
    db
}

/// The relay as released before issue 28: its row-level reference adapter recorded, and on
/// SQLite the entry point's trigger as migration 0010 made it.
async fn before_issue_28(db: &TestDb) {
    let storage = db.storage();
    let old = HostAdapter {
        source: AdapterSource::Reference(storage.backend()),
        sql: match db.kind {
            Kind::Sqlite => include_str!("../tests/fixtures/pre-0012/host-adapter.sqlite.sql"),
            Kind::Postgres => include_str!("../tests/fixtures/pre-0012/host-adapter.postgres.sql"),
        }
        .to_string(),
    };
    storage
        .migrate_with(false, &old)
        .await
        .expect("the old adapter");
    if db.kind == Kind::Sqlite {
        db.exec(
            "DROP TRIGGER digis_enqueue_request_insert;
             CREATE TRIGGER digis_enqueue_request_insert INSTEAD OF INSERT ON digis_enqueue_request
             BEGIN
                 INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
                 SELECT NEW.subscription_id, NEW.person_id
                 WHERE NOT EXISTS (SELECT 1 FROM digis d
                                   WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id)
                   AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                                   WHERE o.subscription_id = NEW.subscription_id AND o.person_id = NEW.person_id
                                     AND o.state IN ('pending', 'sending', 'sent'));
             END;",
        )
        .await;
    }
}

async fn host_writes(kind: Kind, n: u64, repeats: u64, before: bool) {
    let load_before = load_average();
    let name = kind_name(kind);
    eprintln!("host writes on {name}: {n} subscriptions, best of {repeats}");
    // best[variant][figure], seconds.
    let mut best = [[f64::INFINITY; FIGURES.len()]; 2];
    let mut outbox_all = f64::INFINITY;
    let mut outbox_two = f64::INFINITY;
    let mut version = String::new();
    for rep in 0..repeats {
        // Alternated, so the shared machine's load falls on both alike.
        for (variant, with) in [(0, false), (1, true)] {
            let db = if with {
                let db = TestDb::new(kind).await;
                if before {
                    before_issue_28(&db).await;
                }
                db
            } else {
                without_relay(kind).await
            };
            if version.is_empty() {
                version = db.version().await;
            }
            db.exec(&seed_persons(kind, n)).await;
            for (i, f) in FIGURES.iter().enumerate() {
                if f.key == "update_subscriptions" && with {
                    // By the nightly job, Digis has half of them.
                    db.exec(&mark_half_sent(kind)).await;
                }
                if f.key == "activate_subscriptions" {
                    db.exec(&tx(&paused_with_users(kind, n))).await;
                }
                let sql = tx(&statement(f.key, kind, n));
                let mut host = HostConnection::open(&db).await;
                let started = Instant::now();
                host.exec(&sql).await;
                let s = started.elapsed().as_secs_f64();
                host.close().await;
                eprintln!(
                    "rep {rep} {} {}: {s:.3} s",
                    if with { "with" } else { "without" },
                    f.key
                );
                best[variant][i] = best[variant][i].min(s);
                if with {
                    check_outbox(&db, f.key, n).await;
                }
            }
            if with {
                let (all, two) = outbox_insert_alone(&db, kind, n).await;
                outbox_all = outbox_all.min(all);
                outbox_two = outbox_two.min(two);
            }
        }
    }
    let mut figures = serde_json::Map::new();
    for (i, f) in FIGURES.iter().enumerate() {
        let (without, with) = (best[0][i], best[1][i]);
        figures.insert(
            f.key.into(),
            json!({
                "what": f.what,
                "without_s": round(without, 3),
                "with_s": round(with, 3),
                "ratio": round(with / without, 2),
            }),
        );
    }
    write_figures(
        &format!("host-writes-{name}{}", if before { "-before" } else { "" }),
        &json!({
            "database": name,
            "database_version": version,
            "triggers": if before { "before issue 28 (row-level)" } else { "this build's" },
            "rows": n,
            "repeats": repeats,
            "load_before": load_before,
            "figures": figures,
            "outbox_insert_alone": {
                "rows": 2 * n,
                "all_indexes_s": round(outbox_all, 3),
                "primary_and_one_open_only_s": round(outbox_two, 3),
            },
        }),
    );
}

/// The membership system's connection for one timed statement: opened untimed just before it,
/// with the driver's defaults, as an import or a nightly job opens its own. Not the test pool's:
/// a pooled SQLite connection that has just run the seed and the earlier bulk statements can
/// read the same statement's pages several times slower (measured: the nightly re-save with the
/// reference adapter's guard 0.9-1.0 s on the pooled connection, 0.21-0.23 s on a fresh one or
/// after `PRAGMA shrink_memory` on the pooled one), which would measure the pool's history, not
/// the triggers. BENCHMARKS.md ("the SQLite adapter's `WHEN` on the host's own connection") and
/// docs/decisions/0056 give both.
enum HostConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HostConnection {
    async fn open(db: &TestDb) -> Self {
        use sqlx::Connection;
        match db.kind {
            Kind::Sqlite => Self::Sqlite(db.sqlite_connection().await),
            Kind::Postgres => Self::Postgres(
                sqlx::PgConnection::connect(&db.url)
                    .await
                    .expect("a host connection"),
            ),
        }
    }

    async fn exec(&mut self, text: &str) {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(text.to_string()));
        let r = match self {
            Self::Sqlite(c) => sql.execute(c).await.map(drop),
            Self::Postgres(c) => sql.execute(c).await.map(drop),
        };
        r.unwrap_or_else(|e| panic!("{e}\n{text}"));
    }

    async fn close(self) {
        use sqlx::Connection;
        match self {
            Self::Sqlite(c) => c.close().await,
            Self::Postgres(c) => c.close().await,
        }
        .expect("closing the host connection");
    }
}

/// `sql` as one transaction.
fn tx(sql: &str) -> String {
    format!("BEGIN;\n{sql};\nCOMMIT;")
}

/// `SELECT`able counter `i` over `from..=to`.
fn counter(kind: Kind, from: u64, to: u64) -> (String, String) {
    match kind {
        Kind::Sqlite => (
            format!(
                "WITH RECURSIVE c(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM c WHERE i < {to}) "
            ),
            "c".into(),
        ),
        Kind::Postgres => (
            String::new(),
            format!("generate_series({from}::bigint, {to}) AS c(i)"),
        ),
    }
}

fn persons(kind: Kind, from: u64, to: u64) -> String {
    let (with, c) = counter(kind, from, to);
    let (date, yes) = match kind {
        Kind::Sqlite => ("'1980-01-01'", "1"),
        Kind::Postgres => ("DATE '1980-01-01'", "true"),
    };
    format!(
        "{with}INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, \
         allow_email, allow_sms, mobile_country_code, mobile_number, card_number) \
         SELECT i, 1, 'Förnamn' || i, 'Efternamn' || i, {date}, 'FEMALE', \
         'member' || i || '@example.se', {yes}, {yes}, '46', '070-' || i, \
         CAST(34000000 + i AS TEXT) FROM {c}"
    )
}

fn seed_persons(kind: Kind, n: u64) -> String {
    tx(&format!(
        "INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum');\n{}",
        persons(kind, 1, 2 * n)
    ))
}

fn subscriptions(kind: Kind, from: u64, to: u64, status: &str) -> String {
    let (with, c) = counter(kind, from, to);
    let (start, end) = match kind {
        Kind::Sqlite => ("'2026-01-01'", "'2027-12-31'"),
        Kind::Postgres => ("DATE '2026-01-01'", "DATE '2027-12-31'"),
    };
    format!(
        "{with}INSERT INTO subscription (id, status, start_date, max_end) \
         SELECT i, '{status}', {start}, {end} FROM {c}"
    )
}

/// Two users each for subscriptions `offset+1..=offset+n`: persons 1..2n.
fn users(kind: Kind, offset: u64, n: u64) -> String {
    let (with, c) = counter(kind, 1, 2 * n);
    format!(
        "{with}INSERT INTO subscription_user (subscription_id, person_id) \
         SELECT {offset} + (i + 1) / 2, i FROM {c}"
    )
}

fn statement(key: &str, kind: Kind, n: u64) -> String {
    match key {
        "insert_persons" => persons(kind, 2 * n + 1, 3 * n),
        "insert_subscriptions" => format!(
            "{};\n{}",
            subscriptions(kind, 1, n, "ACTIVE"),
            users(kind, 0, n)
        ),
        "update_subscriptions" => {
            let next = match kind {
                Kind::Sqlite => "date(max_end, '+1 day')",
                Kind::Postgres => "max_end + 1",
            };
            format!("UPDATE subscription SET max_end = {next}, status = 'ACTIVE' WHERE id <= {n}")
        }
        "activate_subscriptions" => {
            format!("UPDATE subscription SET status = 'ACTIVE' WHERE id > {n}")
        }
        other => unreachable!("figure {other}"),
    }
}

/// Subscriptions n+1..2n, PAUSED, with the same persons as users (untimed).
fn paused_with_users(kind: Kind, n: u64) -> String {
    format!(
        "{};\n{}",
        subscriptions(kind, n + 1, 2 * n, "PAUSED"),
        users(kind, n, n)
    )
}

/// Every second queued row delivered, as the relay records it: `sent` and a `digis` row.
fn mark_half_sent(kind: Kind) -> String {
    let now = match kind {
        Kind::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        Kind::Postgres => "now()",
    };
    tx(&format!(
        "UPDATE digis_outbox SET state = 'sent', sent_at = {now} WHERE id % 2 = 0;\n\
         INSERT INTO digis (subscription_id, person_id) \
         SELECT subscription_id, person_id FROM digis_outbox WHERE state = 'sent'"
    ))
}

/// The rows the triggers must have queued by the end of `figure`, no more and no fewer.
async fn check_outbox(db: &TestDb, figure: &str, n: u64) {
    let expected = match figure {
        "insert_persons" => 0,
        "insert_subscriptions" | "update_subscriptions" => 2 * n,
        "activate_subscriptions" => 4 * n,
        other => unreachable!("figure {other}"),
    } as i64;
    let rows = db.scalar("SELECT COUNT(*) FROM digis_outbox").await;
    let pairs = db
        .scalar(
            "SELECT COUNT(*) FROM (SELECT DISTINCT subscription_id, person_id FROM digis_outbox) p",
        )
        .await;
    assert_eq!(
        (rows, pairs),
        (expected, expected),
        "outbox after {figure}: (rows, distinct pairs)"
    );
}

/// The outbox INSERT of 2n rows alone (no trigger), with all of digis_outbox's indexes, then
/// with only its primary key and the one-open index (the others dropped in the same
/// transaction); both rolled back.
async fn outbox_insert_alone(db: &TestDb, kind: Kind, n: u64) -> (f64, f64) {
    let (with, c) = counter(kind, 1, 2 * n);
    let insert = format!(
        "{with}INSERT INTO digis_outbox (subscription_id, person_id) \
         SELECT 10000000 + (i + 1) / 2, i FROM {c}"
    );
    let started = Instant::now();
    db.exec(&format!("BEGIN;\n{insert};\nROLLBACK;")).await;
    let all = started.elapsed().as_secs_f64();
    let drops: String = [
        "digis_outbox_due",
        "digis_outbox_lease",
        "digis_outbox_state_id",
        "digis_outbox_pair",
        "digis_outbox_person",
        "digis_outbox_finished",
        "digis_outbox_failed_cause",
        "digis_outbox_sent_at",
    ]
    .iter()
    .map(|i| format!("DROP INDEX IF EXISTS {i};\n"))
    .collect();
    // The drops in the same transaction (a pool gives no connection twice): milliseconds.
    let started = Instant::now();
    db.exec(&format!("BEGIN;\n{drops}{insert};\nROLLBACK;"))
        .await;
    let two = started.elapsed().as_secs_f64();
    (all, two)
}
