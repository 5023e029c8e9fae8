//! An outbox row's attempts go with it and no attempt outlives its row (docs/contracts.md,
//! `digis_attempt`). SQLite keeps the foreign key that says so; PostgreSQL's migration 0020
//! replaced it with statement-level triggers (docs/decisions/0059), tested here: a host's
//! DELETE, a prune, TRUNCATE, an upgrade from a database that had the key, and a DELETE that
//! meets a relay recording an attempt of the same row.
use std::time::Duration;

use chrono::Utc;
use sqlx::Connection;

use crate::common::{eventually, Kind, TestDb};
use crate::{both_databases, both_kinds};

both_databases!(deleted_rows_take_their_attempts_and_no_others);

both_kinds!(an_upgrade_keeps_the_attempts_and_their_tie_to_the_rows);

/// Rows 1..=n for subscription 7 (persons 1..=n), each with two attempts.
async fn rows_with_attempts(db: &TestDb, n: i64) {
    db.exec(&format!(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, updated_at)
         SELECT 7, p, 'sent', '2026-01-01T00:00:00.000Z' FROM ({}) s",
        series(db.kind, n)
    ))
    .await;
    for attempt in [1, 2] {
        db.exec(&format!(
            "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, outcome)
             SELECT id, {attempt}, '2026-01-01T00:00:00.000Z', 5, 'r', 'sent' FROM digis_outbox"
        ))
        .await;
    }
}

/// `SELECT`able `p` over 1..=n.
fn series(kind: Kind, n: i64) -> String {
    match kind {
        Kind::Sqlite => format!(
            "WITH RECURSIVE c(p) AS (SELECT 1 UNION ALL SELECT p + 1 FROM c WHERE p < {n}) \
             SELECT p FROM c"
        ),
        Kind::Postgres => format!("SELECT generate_series(1, {n}) AS p"),
    }
}

async fn attempts_of_person(db: &TestDb, person: i64) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM digis_attempt a WHERE a.outbox_id IN \
         (SELECT id FROM digis_outbox WHERE person_id = {person})"
    ))
    .await
}

/// A host's DELETE of some rows, then of one more in a statement of its own, then the relay's
/// prune: each time exactly the deleted rows' attempts go. On PostgreSQL TRUNCATE (which fires
/// no delete trigger) empties the attempts too.
async fn deleted_rows_take_their_attempts_and_no_others(db: TestDb) {
    rows_with_attempts(&db, 10).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 20);
    db.exec("DELETE FROM digis_outbox WHERE person_id IN (2, 3, 4)")
        .await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_attempt").await,
        14,
        "three rows' two attempts each went"
    );
    db.exec("DELETE FROM digis_outbox WHERE person_id = 9")
        .await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 12);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM digis_attempt a \
             WHERE NOT EXISTS (SELECT 1 FROM digis_outbox o WHERE o.id = a.outbox_id)"
        )
        .await,
        0,
        "no attempt without its row"
    );
    for person in [1, 5, 10] {
        assert_eq!(attempts_of_person(&db, person).await, 2, "person {person}");
    }
    // Rows 1, 5 and 6 stay finished recently; the prune takes the other three.
    db.exec(&format!(
        "UPDATE digis_outbox SET updated_at = {} WHERE person_id IN (1, 5, 6)",
        match db.kind {
            Kind::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Kind::Postgres => "now()",
        }
    ))
    .await;
    let pruned = db
        .storage()
        .prune(Utc::now() - chrono::Duration::days(1))
        .await
        .expect("prune");
    assert_eq!(pruned, 3, "persons 7, 8 and 10");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 6);
    for person in [1, 5, 6] {
        assert_eq!(attempts_of_person(&db, person).await, 2, "person {person}");
    }
    if db.kind == Kind::Postgres {
        db.exec("TRUNCATE digis_outbox").await;
        assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 0);
    }
}

/// PostgreSQL: a database migrated up to the release before 0020, with the foreign key (renamed,
/// as a database made by hand may name it) and attempts: `migrate` keeps every attempt and drops
/// the key. SQLite (no 0020): the key stays through a `migrate` again. Either way a DELETE
/// afterwards still takes a row's attempts.
async fn an_upgrade_keeps_the_attempts_and_their_tie_to_the_rows(kind: Kind) {
    let db = match kind {
        Kind::Sqlite => TestDb::new(kind).await,
        Kind::Postgres => TestDb::migrated_before(kind, 20).await,
    };
    assert_eq!(foreign_keys_to_outbox(&db).await, 1, "the key before");
    if kind == Kind::Postgres {
        db.exec(
            "ALTER TABLE digis_attempt RENAME CONSTRAINT digis_attempt_outbox_id_fkey \
             TO attempts_belong_to_rows",
        )
        .await;
    }
    rows_with_attempts(&db, 4).await;
    db.storage.migrate(false).await.expect("migrate to the end");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 8);
    let after = match kind {
        Kind::Sqlite => 1,
        Kind::Postgres => 0,
    };
    assert_eq!(foreign_keys_to_outbox(&db).await, after, "the key after");
    db.exec("DELETE FROM digis_outbox WHERE person_id = 2")
        .await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_attempt").await, 6);
    assert_eq!(attempts_of_person(&db, 1).await, 2);
}

async fn foreign_keys_to_outbox(db: &TestDb) -> i64 {
    db.scalar(match db.kind {
        Kind::Sqlite => {
            "SELECT COUNT(*) FROM pragma_foreign_key_list('digis_attempt') \
             WHERE \"table\" = 'digis_outbox'"
        }
        Kind::Postgres => {
            "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'digis_attempt'::regclass \
             AND confrelid = 'digis_outbox'::regclass AND contype = 'f'"
        }
    })
    .await
}

/// PostgreSQL, two connections: a relay records an attempt of a row with the relay's own
/// statement (record_attempts.sql: the row joined and locked FOR KEY SHARE) and has not
/// committed; the host's DELETE of that row waits for it; once the relay commits, the DELETE
/// goes through and its trigger, seeing the committed attempt, takes it along. Without the
/// foreign key nothing else would: an attempt left behind would be counted by the stats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_recorded_while_its_row_is_deleted_goes_with_it() {
    let db = TestDb::new(Kind::Postgres).await;
    rows_with_attempts(&db, 2).await;
    let id = db
        .scalar("SELECT id FROM digis_outbox WHERE person_id = 1")
        .await;
    let mut relay = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = relay.begin().await.unwrap();
    let attempt = serde_json::json!([{
        "outbox_id": id, "attempt": 3, "started_at": "2026-01-01T00:00:00Z", "duration_ms": 5,
        "relay_id": "r", "http_status": 200, "outcome": "sent", "error": null
    }]);
    let recorded = sqlx::query(include_str!(
        "../../src/storage/postgres/sql/record_attempts.sql"
    ))
    .bind(attempt.to_string())
    .execute(&mut *tx)
    .await
    .expect("the relay's attempt");
    assert_eq!(recorded.rows_affected(), 1);

    let url = db.url.clone();
    let host = tokio::spawn(async move {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM digis_outbox WHERE id = {id}"
        )))
        .execute(&mut c)
        .await
        .map(|r| r.rows_affected())
    });
    // The host's DELETE is waiting on the relay's lock before the relay commits.
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND query LIKE 'DELETE FROM digis_outbox%' \
                   AND wait_event_type = 'Lock'";
    eventually(
        "the host's DELETE waiting for the relay's lock",
        Duration::from_secs(30),
        || async { (db.scalar(waiting).await > 0).then_some(()) },
    )
    .await;
    tx.commit().await.unwrap();
    assert_eq!(host.await.unwrap().expect("the host's DELETE"), 1);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM digis_attempt WHERE outbox_id = {id}"
        ))
        .await,
        0,
        "the row's three attempts went with it, the one committed meanwhile too"
    );
    assert_eq!(attempts_of_person(&db, 2).await, 2, "the other row's stay");
}
