//! Issue 28 (docs/decisions/0048): SQLite's migration 0016 makes the host's saves cheaper
//! without changing what they queue or what the outbox accepts. The queueing itself is tested
//! unchanged by triggers.rs and bulk_triggers.rs; here: the outbox's state check after the
//! upgrade, the rows and attempts an upgrade keeps, the one instant a queued row's three times
//! hold, and the pairs SQLite's digis_pair_held names. Migration 0019 (docs/decisions/0058)
//! formats that instant by hand where the host's SQLite can: the same text as strftime's, and
//! strftime's on an older SQLite.
use std::ffi::c_int;

use libsqlite3_sys as ffi;

use crate::common::{Kind, TestDb};
use crate::{both_databases, both_kinds};

both_kinds!(an_upgrade_keeps_the_outbox_its_attempts_and_its_state_check);

both_databases!(a_queued_row_holds_one_instant_in_its_three_times);

/// A queued row's `created_at` in the outbox's time format (SQLite), within the last minute.
const CREATED_NOW_IN_TIME_FORMAT: &str = "created_at GLOB \
     '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' \
     AND julianday(created_at) BETWEEN julianday('now', '-1 minute') AND julianday('now')";

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
            db.scalar(&format!(
                "SELECT COUNT(*) FROM digis_outbox WHERE {CREATED_NOW_IN_TIME_FORMAT}"
            ))
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

/// Migration 0019's time, the entry point trigger's own expression as the database holds it
/// (`coalesce(replace(datetime('now', 'subsec'), …), strftime(…, 'now'))`, read with each
/// `'now'` replaced by an instant), is strftime's text for every millisecond of the last second of a year and of a leap day, and
/// for instants 997 ms apart across a whole day (997 and 60,000 share no factor: every
/// millisecond of a minute comes up). The instants are milliseconds since 1970 read with
/// 'unixepoch', so SQLite computes the fields from a whole number of milliseconds as it does
/// for 'now'. The bundled SQLite (3.51) knows 'subsec': the hand-formatted branch is compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_time_formatted_by_hand_is_strftimes_text() {
    let db = TestDb::new(Kind::Sqlite).await;
    // 1798761599000: 2026-12-31 23:59:59 UTC; 1835481599000: 2028-02-29 23:59:59 UTC;
    // 1781481600000: 2026-06-15 00:00:00 UTC.
    let instants =
        "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 86657),
         ms(t) AS (
             SELECT 1798761599000 + n FROM i WHERE n < 1000
             UNION ALL SELECT 1835481599000 + n FROM i WHERE n < 1000
             UNION ALL SELECT 1781481600000 + n * 997 FROM i),
         t(at) AS (SELECT t / 1000.0 FROM ms)";
    let trigger = db
        .id_texts(
            "SELECT 0, sql FROM sqlite_schema \
             WHERE type = 'trigger' AND name = 'digis_enqueue_request_insert'",
        )
        .await;
    let sql = &trigger.first().expect("the entry point's trigger").1;
    let expression = sql
        .find("coalesce(")
        .and_then(|start| Some(&sql[start..start + sql[start..].find(");\nEND")?]))
        .unwrap_or_else(|| panic!("no coalesce(…) time in the trigger:\n{sql}"));
    assert_eq!(expression.matches("'now'").count(), 2, "{expression}");
    let by_hand = expression.replace("'now'", "at, 'unixepoch'");
    let strftime = "strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch')";
    assert_eq!(
        db.scalar(&format!(
            "{instants} SELECT COUNT(*) FROM t WHERE datetime(at, 'unixepoch', 'subsec') IS NOT NULL"
        ))
        .await,
        88_658,
        "every instant read, and by the hand-formatted branch"
    );
    assert_eq!(
        db.id_texts(&format!(
            "{instants} SELECT 0, {by_hand} FROM t WHERE at = 1798761599.999"
        ))
        .await,
        vec![(0, "2026-12-31T23:59:59.999Z".to_string())]
    );
    let differ = db
        .id_texts(&format!(
            "{instants} SELECT 0, {strftime} || ' <> ' || {by_hand} FROM t
             WHERE {by_hand} IS NOT {strftime} LIMIT 5"
        ))
        .await;
    assert!(differ.is_empty(), "{differ:?}");
}

/// NULL, whatever it is given: `datetime` as an SQLite older than 3.42 answers
/// `datetime('now', 'subsec')` (an unknown modifier).
unsafe extern "C" fn null_datetime(
    ctx: *mut ffi::sqlite3_context,
    _n: c_int,
    _args: *mut *mut ffi::sqlite3_value,
) {
    unsafe { ffi::sqlite3_result_null(ctx) }
}

/// A membership system on an SQLite older than 3.42 saves a subscription and its users: there
/// `datetime('now', 'subsec')` is NULL, migration 0019's trigger falls back to strftime, and both
/// pairs are queued with one instant in the outbox's time format, as before. The host's
/// connection is given a two-argument `datetime` that answers NULL, as such an SQLite does (a
/// function registered on a connection replaces the built-in one there). Without the fallback
/// the time would be NULL and the entry point's OR IGNORE would drop both rows: nothing queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_on_sqlite_older_than_3_42_queues_with_strftimes_time() {
    let db = TestDb::new(Kind::Sqlite).await;
    db.person(1).await;
    db.person(2).await;
    let mut host = db.sqlite_connection().await;
    {
        let mut handle = host.lock_handle().await.expect("the connection's handle");
        let name = c"datetime";
        // SAFETY: the handle is this connection's, locked for the call; the function keeps no
        // state (no user data, no destructor) and only sets its result.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                handle.as_raw_handle().as_ptr(),
                name.as_ptr(),
                2,
                ffi::SQLITE_UTF8,
                std::ptr::null_mut(),
                Some(null_datetime),
                None,
                None,
                None,
            )
        };
        assert_eq!(rc, ffi::SQLITE_OK, "registering datetime");
    }
    let old: (Option<String>, String) =
        sqlx::query_as("SELECT datetime('now', 'subsec'), datetime('now')")
            .fetch_one(&mut host)
            .await
            .unwrap();
    assert_eq!(
        old.0, None,
        "this connection answers as an SQLite older than 3.42"
    );
    sqlx::raw_sql(
        "BEGIN;
         INSERT INTO subscription (id, status, start_date, max_end)
             VALUES (5, 'ACTIVE', '2026-01-01', '2027-12-31');
         INSERT INTO subscription_user (subscription_id, person_id) VALUES (5, 1), (5, 2);
         COMMIT;",
    )
    .execute(&mut host)
    .await
    .expect("the host's save");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM digis_outbox WHERE subscription_id = 5 AND state = 'pending' \
             AND next_attempt_at = created_at AND updated_at = created_at \
             AND {CREATED_NOW_IN_TIME_FORMAT}"
        ))
        .await,
        2
    );
}
