//! Issue 28 (docs/decisions/0048): SQLite's migration 0016 makes the host's saves cheaper
//! without changing what they queue or what the outbox accepts. The queueing itself is tested
//! unchanged by triggers.rs and bulk_triggers.rs; here: the outbox's state check after the
//! upgrade, the rows and attempts an upgrade keeps, the one instant a queued row's three times
//! hold, and the pairs SQLite's digis_pair_held names.
use crate::common::{Kind, TestDb};
use crate::{both_databases, both_kinds};

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
