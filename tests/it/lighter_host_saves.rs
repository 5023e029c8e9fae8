//! Issue 28 (docs/decisions/0048): SQLite's migration 0016 makes the host's saves cheaper
//! without changing what they queue or what the outbox accepts. The queueing itself is tested
//! unchanged by triggers.rs and bulk_triggers.rs; here: the outbox's state check after the
//! upgrade, the rows and attempts an upgrade keeps, the one instant a queued row's three times
//! hold, and the pairs SQLite's digis_pair_held names. Migration 0019 (docs/decisions/0058)
//! formats that instant by hand where the host's SQLite can: the same text as strftime's, and
//! strftime's on an older SQLite.
use std::process::Command;

use crate::common::{Kind, TestDb};
use crate::{both_databases, both_kinds};
use digis_relay::storage;

both_kinds!(an_upgrade_keeps_the_outbox_its_attempts_and_its_state_check);

both_databases!(a_queued_row_holds_one_instant_in_its_three_times);

/// Runs `sql` on a connection of its own: the error, if the database refused it.
async fn refusal(db: &TestDb, sql: &str) -> Option<String> {
    let r = match db.kind {
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&pool)
                .await;
            pool.close().await;
            r.map(|_| ())
        }
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let r = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&pool)
                .await;
            pool.close().await;
            r.map(|_| ())
        }
    };
    r.err().map(|e| e.to_string())
}

/// A database with rows in every state and their attempts (on SQLite as the release before 0016
/// left it), then `migrate`: every row and attempt is still there, the outbox still accepts
/// each of the five states and refuses any other, and SQLite's table is sound.
async fn an_upgrade_keeps_the_outbox_its_attempts_and_its_state_check(kind: Kind) {
    let db = match kind {
        Kind::Sqlite => TestDb::migrated_before(kind, 16).await,
        Kind::Postgres => TestDb::new(kind).await,
    };
    let states = ["pending", "sending", "sent", "failed", "discarded"];
    for (i, state) in states.iter().enumerate() {
        db.exec(&format!(
            "INSERT INTO digis_outbox (subscription_id, person_id, state) VALUES ({i}, 1, '{state}');
             INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, outcome)
             SELECT id, 1, '2026-12-06T10:00:00.000Z', 5, 'r', 'sent' FROM digis_outbox
             WHERE subscription_id = {i}"
        ))
        .await;
    }
    db.storage.migrate(false).await.expect("migrate to the end");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_outbox").await, 5);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 5);
    if kind == Kind::Sqlite {
        assert_eq!(
            db.scalar(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'digis_outbox' \
                 AND sql LIKE '%state = ''pending'' OR state = ''sending''%'"
            )
            .await,
            1,
            "the state check as comparisons"
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'")
                .await,
            0
        );
    }
    for (i, state) in states.iter().enumerate() {
        let sql = format!(
            "INSERT INTO digis_outbox (subscription_id, person_id, state) VALUES ({}, 2, '{state}')",
            i + 10
        );
        assert_eq!(refusal(&db, &sql).await, None, "{state}");
    }
    let bogus = refusal(
        &db,
        "INSERT INTO digis_outbox (subscription_id, person_id, state) VALUES (99, 1, 'queued')",
    )
    .await;
    assert!(
        bogus
            .as_deref()
            .is_some_and(|e| e.contains("check") || e.contains("CHECK")),
        "an unknown state is refused: {bogus:?}"
    );
}

/// A save queues rows whose next_attempt_at, created_at and updated_at are the same instant, in
/// the outbox's time format, as the columns' defaults gave them.
async fn a_queued_row_holds_one_instant_in_its_three_times(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM digis_outbox WHERE next_attempt_at = created_at \
             AND updated_at = created_at"
        )
        .await,
        2
    );
    if db.kind == Kind::Sqlite {
        assert_eq!(
            db.scalar(
                "SELECT COUNT(*) FROM digis_outbox WHERE created_at GLOB \
                 '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' \
                 AND julianday(created_at) BETWEEN julianday('now', '-1 minute') AND julianday('now')"
            )
            .await,
            2
        );
    }
}

/// SQLite's digis_pair_held: the pairs the entry point would not queue, each kind once: an open
/// row (pending, sending), a sent row, a `digis` row alone; not a pair whose rows failed or were
/// discarded, nor one never queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pair_held_names_open_sent_and_delivered_pairs() {
    let db = TestDb::new(Kind::Sqlite).await;
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id, state) VALUES
             (1, 1, 'pending'), (2, 2, 'sending'), (3, 3, 'sent'), (4, 4, 'failed'),
             (5, 5, 'discarded'), (6, 6, 'failed'), (6, 6, 'pending');
         INSERT INTO digis (subscription_id, person_id) VALUES (7, 7);",
    )
    .await;
    let held = |s: i64| {
        format!(
            "SELECT COUNT(*) FROM digis_pair_held WHERE subscription_id = {s} AND person_id = {s}"
        )
    };
    for (pair, expected) in [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 0),
        (5, 0),
        (6, 1),
        (7, 1),
        (8, 0),
    ] {
        assert_eq!(db.scalar(&held(pair)).await, expected, "pair {pair}");
    }
}

/// Migration 0019's time, `coalesce(replace(datetime(t, 'subsec'), ' ', 'T') || 'Z', strftime(…))`,
/// is strftime's text for every millisecond of the last second of a year (and of a leap day's
/// last second) and for instants 997 ms apart across a whole day. The bundled SQLite (3.51) knows
/// 'subsec', so the hand-formatted branch is the one compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_time_formatted_by_hand_is_strftimes_text() {
    let db = TestDb::new(Kind::Sqlite).await;
    let instants =
        "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 86657),
         t(at) AS (
             SELECT printf('2026-12-31 23:59:59.%03d', n) FROM i WHERE n < 1000
             UNION ALL SELECT printf('2028-02-29 23:59:59.%03d', n) FROM i WHERE n < 1000
             UNION ALL SELECT printf('2026-06-15 %02d:%02d:%02d.%03d', n * 997 / 3600000,
                                     n * 997 / 60000 % 60, n * 997 / 1000 % 60, n * 997 % 1000)
                       FROM i)";
    assert_eq!(
        db.scalar(&format!(
            "{instants} SELECT COUNT(*) FROM t WHERE datetime(at, 'subsec') IS NOT NULL"
        ))
        .await,
        88_658,
        "every instant read, and by the hand-formatted branch"
    );
    let differ = db
        .id_texts(&format!(
            "{instants} SELECT 0, at || ': ' || strftime('%Y-%m-%dT%H:%M:%fZ', at) || ' <> ' ||
                 coalesce(replace(datetime(at, 'subsec'), ' ', 'T') || 'Z',
                          strftime('%Y-%m-%dT%H:%M:%fZ', at))
             FROM t
             WHERE coalesce(replace(datetime(at, 'subsec'), ' ', 'T') || 'Z',
                            strftime('%Y-%m-%dT%H:%M:%fZ', at))
                   IS NOT strftime('%Y-%m-%dT%H:%M:%fZ', at)
             LIMIT 5"
        ))
        .await;
    assert!(differ.is_empty(), "{differ:?}");
}

/// A membership system on SQLite older than 3.42 (the sqlite3 command-line tool, 3.40 on Debian
/// 12, standing in for the host's own library) saves a subscription and its users: 'subsec' is
/// unknown there, migration 0019's trigger falls back to strftime, and both pairs are queued with
/// one instant in the outbox's time format, as before. Without the fallback the time would be
/// NULL and OR IGNORE would drop the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_sqlite_older_than_3_42_queues_with_strftimes_time() {
    let db = TestDb::new(Kind::Sqlite).await;
    db.person(1).await;
    db.person(2).await;
    let path = storage::sqlite::file_of(&db.url).expect("an SQLite test database");
    let out = Command::new("sqlite3")
        .arg(&path)
        .arg(
            "SELECT sqlite_version() || ' subsec:' || (datetime('now', 'subsec') IS NOT NULL);
             BEGIN;
             INSERT INTO subscription (id, status, start_date, max_end)
                 VALUES (5, 'ACTIVE', '2026-01-01', '2027-12-31');
             INSERT INTO subscription_user (subscription_id, person_id) VALUES (5, 1), (5, 2);
             COMMIT;",
        )
        .output()
        .expect(
            "this test needs the sqlite3 command-line tool: install it (apt-get install sqlite3)",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sqlite3: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No silent pass: on a sqlite3 that knows 'subsec' this would test the other branch again.
    assert!(
        stdout.trim().ends_with("subsec:0"),
        "this test needs a sqlite3 older than 3.42 (Debian 12's 3.40) to exercise the fallback; \
         this one is {}",
        stdout.trim()
    );
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM digis_outbox WHERE subscription_id = 5 AND state = 'pending' \
             AND next_attempt_at = created_at AND updated_at = created_at \
             AND created_at GLOB \
             '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' \
             AND julianday(created_at) BETWEEN julianday('now', '-1 minute') AND julianday('now')"
        )
        .await,
        2
    );
}
