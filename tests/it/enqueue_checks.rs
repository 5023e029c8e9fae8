//! Issue 28 (docs/decisions/0049): migration 0017 reshapes PostgreSQL's set-based
//! `digis_enqueue(ids[], ids[])`: the pairs are checked before anything else and a pair named
//! twice is left to the one-open index's `ON CONFLICT DO NOTHING` instead of a DISTINCT. It must
//! queue what 0012's queued: each pair once whatever its rows, in (subscription, person) order,
//! also when two saves of the same pairs run at once, and on a database upgraded with rows.
//! Migration 0021 (docs/decisions/0063) keeps that and runs no INSERT, so no NOTIFY, when a save
//! queues nobody.
use std::time::Duration;

use crate::both_databases;
use crate::common::{Kind, TestDb};

both_databases!(pairs_named_again_and_again_are_queued_once_whatever_their_rows);

/// Subscriptions 1..=5 ACTIVE with one user each, queued by their triggers, then left as a
/// relay and the host leave them: (1, 1) pending, (2, 2) sent with a `digis` row, (3, 3)
/// failed, (4, 4) only in `digis` (its row pruned), (5, 5) sending.
async fn rows_in_every_state(db: &TestDb) {
    for id in 1..=5 {
        db.active_with(id, &[id]).await;
    }
    db.exec(
        "UPDATE digis_outbox SET state = 'sent' WHERE person_id = 2;
         INSERT INTO digis (subscription_id, person_id) VALUES (2, 2), (4, 4);
         UPDATE digis_outbox SET state = 'failed' WHERE person_id = 3;
         DELETE FROM digis_outbox WHERE person_id = 4;
         UPDATE digis_outbox SET state = 'sending', locked_by = 'r' WHERE person_id = 5;",
    )
    .await;
}

/// The entry point with every pair named two or three times, the new pairs first and out of
/// order: the failed pair and the two new ones are queued, once each, in (subscription, person)
/// order on PostgreSQL (SQLite's entry point takes its rows one by one, in the order given).
async fn pairs_named_again_and_again_are_queued_once_whatever_their_rows(db: TestDb) {
    rows_in_every_state(&db).await;
    let before = db.outbox().await;
    let pairs = [
        (6, 2),
        (6, 1),
        (3, 3),
        (1, 1),
        (6, 2),
        (2, 2),
        (4, 4),
        (5, 5),
        (3, 3),
        (1, 1),
        (2, 2),
        (4, 4),
        (5, 5),
        (6, 1),
        (3, 3),
    ];
    match db.kind {
        Kind::Sqlite => {
            let values: Vec<String> = pairs.iter().map(|(s, p)| format!("({s}, {p})")).collect();
            db.exec(&format!(
                "INSERT INTO digis_enqueue_request (subscription_id, person_id) VALUES {}",
                values.join(", ")
            ))
            .await;
        }
        Kind::Postgres => {
            let subs: Vec<String> = pairs.iter().map(|(s, _)| s.to_string()).collect();
            let pers: Vec<String> = pairs.iter().map(|(_, p)| p.to_string()).collect();
            assert_eq!(
                db.scalar(&format!(
                    "SELECT digis_enqueue(ARRAY[{}]::bigint[], ARRAY[{}]::bigint[])::bigint",
                    subs.join(", "),
                    pers.join(", ")
                ))
                .await,
                3,
                "rows queued"
            );
        }
    }
    let after = db.outbox().await;
    assert_eq!(after[..before.len()], before[..], "no row changed");
    let mut new: Vec<(i64, i64, String)> = after[before.len()..].to_vec();
    if db.kind == Kind::Sqlite {
        new.sort();
    }
    let pending = |s: i64, p: i64| (s, p, "pending".to_string());
    assert_eq!(new, vec![pending(3, 3), pending(6, 1), pending(6, 2)]);
}

/// Two transactions save overlapping pairs through the set-based entry point at once: the
/// second waits on the first's rows in the one-open index, then skips them; both commit, and
/// each pair has one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_saves_of_the_same_pairs_at_once_both_commit() {
    let db = TestDb::postgres().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await
        .unwrap();
    let enqueue = |subs: &str, pers: &str| {
        format!("SELECT digis_enqueue(ARRAY[{subs}]::bigint[], ARRAY[{pers}]::bigint[])")
    };
    let mut first = pool.begin().await.unwrap();
    let queued: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(enqueue("1, 1, 2", "1, 2, 1")))
        .fetch_one(&mut *first)
        .await
        .unwrap();
    assert_eq!(queued, 3);
    let second = {
        let pool = pool.clone();
        let sql = enqueue("2, 1, 3, 1", "1, 2, 1, 1");
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let queued: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            queued
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second save waits for the first");
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), 1, "only (3, 1) is new to the second");
    pool.close().await;
    let mut rows = db.outbox().await;
    rows.sort();
    let pending = |s: i64, p: i64| (s, p, "pending".to_string());
    assert_eq!(
        rows,
        vec![pending(1, 1), pending(1, 2), pending(2, 1), pending(3, 1)]
    );
}

/// A database with rows in every state before migration 0017, then `migrate` (the migration and
/// the reference adapter): a nightly re-save queues only the failed pair, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_0017_queues_what_0012_queued() {
    let db = TestDb::migrated_before(Kind::Postgres, 17).await;
    for id in 1..=5 {
        db.person(id).await;
        db.subscription(id, "ACTIVE").await;
        db.add_user(id, id).await;
    }
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, locked_by) VALUES
             (1, 1, 'pending', NULL), (2, 2, 'sent', NULL), (3, 3, 'failed', NULL),
             (5, 5, 'sending', 'r');
         INSERT INTO digis (subscription_id, person_id) VALUES (2, 2), (4, 4);",
    )
    .await;
    db.storage.migrate(false).await.expect("migrate to the end");
    let before = db.outbox().await;
    db.exec("UPDATE subscription SET message = 'nightly'").await;
    let after = db.outbox().await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        after[before.len()..],
        [(3, 3, "pending".to_string())],
        "only the failed pair is queued again"
    );
}

/// The next notification on the outbox's channel, as a test waits for it.
async fn next_wakeup(listener: &mut sqlx::postgres::PgListener) -> String {
    tokio::time::timeout(Duration::from_secs(30), listener.recv())
        .await
        .expect("a notification within 30 s")
        .expect("the listening connection")
        .payload()
        .to_string()
}

/// Migration 0021 (docs/decisions/0063): a save that queues nobody sends no NOTIFY. Saves of
/// pairs that are delivered or open, through the adapter's triggers and through both entry
/// points, are followed by a marker sent on the channel by hand: notifications arrive in
/// commit order, so the marker comes first only if none of those saves notified. A save that
/// queues a row still wakes the relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_save_that_queues_nobody_wakes_no_relay() {
    let db = TestDb::postgres().await;
    // (1, 1) delivered, (2, 2) pending: both held.
    db.active_with(1, &[1]).await;
    db.active_with(2, &[2]).await;
    db.exec(
        "UPDATE digis_outbox SET state = 'sent' WHERE person_id = 1;
         INSERT INTO digis (subscription_id, person_id) VALUES (1, 1);",
    )
    .await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url)
        .await
        .expect("a listening connection");
    listener.listen("digis_outbox").await.expect("LISTEN");
    let outbox = db.outbox().await;
    db.exec("UPDATE subscription SET status = 'ACTIVE' WHERE id IN (1, 2)")
        .await;
    db.exec("SELECT digis_enqueue(ARRAY[1, 2, 1]::bigint[], ARRAY[1, 2, 1]::bigint[])")
        .await;
    db.exec("SELECT digis_enqueue(1::bigint, 1::bigint)").await;
    db.exec("SELECT digis_enqueue(2::bigint, 2::bigint)").await;
    db.exec("SELECT pg_notify('digis_outbox', 'marker')").await;
    assert_eq!(
        next_wakeup(&mut listener).await,
        "marker",
        "a save that queued nobody sent a NOTIFY before the marker"
    );
    assert_eq!(db.outbox().await, outbox, "nothing was queued");
    // Something to queue: the wake-up comes, with the row.
    db.active_with(3, &[3]).await;
    assert_eq!(next_wakeup(&mut listener).await, "");
    // A subscription without users queues nobody either; then its first pair by hand.
    db.active_with(4, &[]).await;
    db.exec("SELECT digis_enqueue(4::bigint, 3::bigint)").await;
    assert_eq!(next_wakeup(&mut listener).await, "");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'pending' AND person_id = 3")
            .await,
        2
    );
}
