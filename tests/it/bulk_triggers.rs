//! Issue 28 (docs/decisions/0042): the triggers in their cheaper form queue what the row-level
//! ones did, also for statements that save many rows at once: each qualifying pair once, none
//! already open or delivered, a pair named twice once; and an installation upgrading from the
//! row-level adapter gets the new triggers and queues the same.
use crate::common::{Kind, TestDb};
use crate::{both_databases, both_kinds};
use digis_relay::storage::adapter::{AdapterSource, HostAdapter};

both_databases!(
    one_insert_of_many_users_queues_each_active_pair_once,
    one_update_activating_many_queues_each_pair_once,
    a_bulk_resave_queues_only_pairs_neither_open_nor_delivered,
    a_pair_named_twice_in_one_request_is_queued_once,
    a_statement_concerning_nobody_queues_nothing,
    users_saved_before_their_active_subscription_are_queued,
    a_resave_finds_the_one_unheld_user_behind_held_ones,
);

both_kinds!(an_installation_with_the_row_level_triggers_is_upgraded);

async fn pairs(db: &TestDb) -> Vec<(i64, i64, String)> {
    let mut p = db.outbox().await;
    p.sort();
    p
}

fn pending(pairs: &[(i64, i64)]) -> Vec<(i64, i64, String)> {
    let mut p: Vec<_> = pairs
        .iter()
        .map(|(s, p)| (*s, *p, "pending".to_string()))
        .collect();
    p.sort();
    p
}

async fn persons(db: &TestDb, ids: std::ops::RangeInclusive<i64>) {
    for id in ids {
        db.person(id).await;
    }
}

/// Subscriptions 1 (ACTIVE), 2 (PAUSED), 3 (ACTIVE) in one INSERT, then their users in one.
async fn one_insert_of_many_users_queues_each_active_pair_once(db: TestDb) {
    persons(&db, 1..=6).await;
    db.exec(
        "INSERT INTO subscription (id, status, start_date) VALUES \
         (1, 'ACTIVE', '2026-01-01'), (2, 'PAUSED', '2026-01-01'), (3, 'ACTIVE', '2026-01-01')",
    )
    .await;
    assert!(db.outbox().await.is_empty(), "no users yet");
    db.exec(
        "INSERT INTO subscription_user (subscription_id, person_id) VALUES \
         (3, 6), (1, 1), (2, 3), (1, 2), (3, 5), (2, 4)",
    )
    .await;
    assert_eq!(pairs(&db).await, pending(&[(1, 1), (1, 2), (3, 5), (3, 6)]));
    if db.kind == Kind::Postgres {
        // A subscription and its users in one statement (a writable CTE): no INSERT trigger on
        // subscription, the users' trigger sees it ACTIVE.
        db.exec(
            "WITH s AS (INSERT INTO subscription (id, status, start_date) \
                        VALUES (4, 'ACTIVE', '2026-01-01') RETURNING id) \
             INSERT INTO subscription_user (subscription_id, person_id) \
             SELECT s.id, p.id FROM s, (VALUES (1), (2)) AS p(id)",
        )
        .await;
        assert_eq!(
            pairs(&db).await,
            pending(&[(1, 1), (1, 2), (3, 5), (3, 6), (4, 1), (4, 2)])
        );
    }
}

/// Subscriptions saved PAUSED with their users, then one UPDATE makes some ACTIVE and another
/// ENDED: the ACTIVE ones' users are queued, once each.
async fn one_update_activating_many_queues_each_pair_once(db: TestDb) {
    persons(&db, 1..=6).await;
    for (sub, users) in [(1, [1, 2]), (2, [3, 4]), (3, [5, 6])] {
        db.subscription(sub, "PAUSED").await;
        for u in users {
            db.add_user(sub, u).await;
        }
    }
    assert!(db.outbox().await.is_empty());
    db.exec("UPDATE subscription SET status = CASE id WHEN 2 THEN 'ENDED' ELSE 'ACTIVE' END")
        .await;
    assert_eq!(pairs(&db).await, pending(&[(1, 1), (1, 2), (3, 5), (3, 6)]));
    // The same UPDATE again: everything is open already.
    db.exec("UPDATE subscription SET status = CASE id WHEN 2 THEN 'ENDED' ELSE 'ACTIVE' END")
        .await;
    assert_eq!(db.outbox().await.len(), 4);
}

/// A nightly job re-saves every subscription in one UPDATE: a pair with an open row (pending or
/// sending), a delivered pair (sent outbox row, or only a `digis` row) queue nothing; a pair
/// whose row failed queues a fresh one; a subscription no longer ACTIVE queues nothing.
async fn a_bulk_resave_queues_only_pairs_neither_open_nor_delivered(db: TestDb) {
    persons(&db, 1..=6).await;
    for (sub, user) in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)] {
        db.active_with(sub, &[user]).await;
    }
    // Users 1 pending; 2 sending; 3 sent; 4 failed; 5 in `digis` only (its row pruned).
    db.exec(
        "UPDATE digis_outbox SET state = 'sending', locked_by = 'r' WHERE person_id = 2;
         UPDATE digis_outbox SET state = 'sent' WHERE person_id = 3;
         INSERT INTO digis (subscription_id, person_id) VALUES (3, 3), (5, 5);
         UPDATE digis_outbox SET state = 'failed' WHERE person_id = 4;
         DELETE FROM digis_outbox WHERE person_id = 5;",
    )
    .await;
    db.subscription(6, "ENDED").await;
    db.add_user(6, 6).await;
    let before = pairs(&db).await;
    db.exec("UPDATE subscription SET message = 'nightly'").await;
    let mut expected = before.clone();
    expected.push((4, 4, "pending".into()));
    expected.sort();
    assert_eq!(pairs(&db).await, expected);
    // Again: the fresh row is open now.
    db.exec("UPDATE subscription SET message = 'nightly again'")
        .await;
    assert_eq!(pairs(&db).await, expected);
}

/// The SQLite reference adapter's subscription triggers stop early when every user's pair is
/// held (decision 0056): a subscription whose first users are held (open, sent, in `digis`) and
/// whose last one failed must still queue that one, in a single-row save and in a bulk re-save,
/// and nothing for the others. PostgreSQL's statement-level trigger must queue the same.
async fn a_resave_finds_the_one_unheld_user_behind_held_ones(db: TestDb) {
    persons(&db, 1..=9).await;
    db.active_with(1, &[1, 2, 3, 4, 9]).await;
    db.active_with(2, &[5, 6, 7, 8]).await;
    db.active_with(3, &[9]).await;
    // Users 1 and 5 pending, 2 and 6 sent, 3 and 7 in `digis` only; 4 and 8 failed. Person 9:
    // delivered through subscription 1, failed through 3 (a guard that matched the person
    // without the subscription would skip 3).
    db.exec(
        "UPDATE digis_outbox SET state = 'sent' WHERE person_id IN (2, 6)
             OR (subscription_id, person_id) = (1, 9);
         INSERT INTO digis (subscription_id, person_id) VALUES (1, 2), (2, 6), (1, 3), (2, 7), (1, 9);
         DELETE FROM digis_outbox WHERE person_id IN (3, 7);
         UPDATE digis_outbox SET state = 'failed'
             WHERE person_id IN (4, 8) OR (subscription_id, person_id) = (3, 9);",
    )
    .await;
    let before = pairs(&db).await;
    db.exec("UPDATE subscription SET message = 'one' WHERE id = 1")
        .await;
    let mut expected = before.clone();
    expected.push((1, 4, "pending".into()));
    expected.sort();
    assert_eq!(pairs(&db).await, expected, "a save of subscription 1");
    db.exec("UPDATE subscription SET message = 'nightly'").await;
    expected.push((2, 8, "pending".into()));
    expected.push((3, 9, "pending".into()));
    expected.sort();
    assert_eq!(pairs(&db).await, expected, "the nightly re-save of both");
}

/// The relay-owned entry point as a custom adapter may use it: the same pair twice in one call
/// (a trigger joining through two paths to one member) queues one row, and a NULL id nobody.
async fn a_pair_named_twice_in_one_request_is_queued_once(db: TestDb) {
    match db.kind {
        Kind::Sqlite => {
            db.exec(
                "INSERT INTO digis_enqueue_request (subscription_id, person_id) \
                 VALUES (5, 1), (5, 2), (5, 1), (6, 1), (5, 2)",
            )
            .await
        }
        Kind::Postgres => {
            assert_eq!(
                db.scalar(
                    "SELECT digis_enqueue(ARRAY[5, 5, 5, 6, 5, NULL, 7]::bigint[], \
                     ARRAY[1, 2, 1, 1, 2, 1, NULL]::bigint[])::bigint"
                )
                .await,
                3,
                "rows queued"
            );
            // The one-pair function is unchanged beside it.
            assert_eq!(
                db.scalar("SELECT (CASE WHEN digis_enqueue(5::bigint, 1::bigint) THEN 1 ELSE 0 END)::bigint")
                    .await,
                0
            );
        }
    }
    assert_eq!(pairs(&db).await, pending(&[(5, 1), (5, 2), (6, 1)]));
}

/// A bulk save of subscriptions that are not ACTIVE, or have no users, queues nothing.
async fn a_statement_concerning_nobody_queues_nothing(db: TestDb) {
    persons(&db, 1..=2).await;
    db.subscription(1, "PAUSED").await;
    db.add_user(1, 1).await;
    db.subscription(2, "ACTIVE").await;
    db.exec("UPDATE subscription SET message = 'x'").await;
    db.exec("UPDATE subscription SET status = 'ENDED' WHERE id = 1")
        .await;
    assert!(db.outbox().await.is_empty());
    db.add_user(2, 2).await;
    assert_eq!(pairs(&db).await, pending(&[(2, 2)]));
}

/// The reference adapter as released before issue 28 (row-level triggers), kept as it was.
fn row_level_adapter(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../fixtures/pre-0012/host-adapter.sqlite.sql"),
        Kind::Postgres => include_str!("../fixtures/pre-0012/host-adapter.postgres.sql"),
    }
}

/// The triggers on the reference host tables that fire per row.
async fn row_level_triggers(db: &TestDb) -> i64 {
    match db.kind {
        // SQLite has no other kind; its adapter did not change (the relay's entry point did).
        Kind::Sqlite => 0,
        Kind::Postgres => {
            db.scalar(
                "SELECT COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 WHERE NOT t.tgisinternal AND c.relname IN ('subscription', 'subscription_user') \
                 AND t.tgtype & 1 = 1",
            )
            .await
        }
    }
}

/// A database that the previous release migrated: its migrations without 0012 and its
/// reference adapter recorded. The new `migrate` applies 0012 and, the reference adapter's text
/// having changed, the new adapter: the same saves queue the same rows.
async fn an_installation_with_the_row_level_triggers_is_upgraded(kind: Kind) {
    let db = TestDb::new(kind).await;
    let storage = db.storage();
    let old = HostAdapter {
        source: AdapterSource::Reference(storage.backend()),
        sql: row_level_adapter(kind).to_string(),
    };
    storage.migrate_with(false, &old).await.unwrap();
    // As the previous release left it: no 0012.
    let entry_point = match kind {
        Kind::Sqlite => {
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
             END;"
        }
        Kind::Postgres => {
            "DROP FUNCTION digis_enqueue(BIGINT[], BIGINT[]);
             DROP FUNCTION digis_queue_subscription(BIGINT[]);"
        }
    };
    db.exec(&format!(
        "{entry_point}\nDELETE FROM digis_relay_migrations WHERE version = 12;"
    ))
    .await;
    if kind == Kind::Postgres {
        assert_eq!(
            row_level_triggers(&db).await,
            2,
            "the old adapter's triggers"
        );
    }
    // Saved under the old triggers: one delivered, one open.
    db.active_with(1, &[1, 2]).await;
    db.exec("UPDATE digis_outbox SET state = 'sent' WHERE person_id = 1")
        .await;

    storage.migrate(false).await.unwrap();
    let applied = storage.applied_adapter().await.unwrap().unwrap();
    assert_eq!(
        applied.checksum,
        HostAdapter::reference(storage.backend()).checksum(),
        "the new reference adapter is recorded"
    );
    assert_eq!(
        row_level_triggers(&db).await,
        0,
        "no row-level trigger left"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_relay_migrations WHERE version = 12")
            .await,
        1
    );

    // The same saves queue the same rows: a resave, a new user, a pair activated by UPDATE.
    db.save(1).await;
    db.person(3).await;
    db.add_user(1, 3).await;
    db.person(4).await;
    db.subscription(2, "PAUSED").await;
    db.add_user(2, 4).await;
    db.set_status(2, "ACTIVE").await;
    assert_eq!(
        pairs(&db).await,
        vec![
            (1, 1, "sent".into()),
            (1, 2, "pending".into()),
            (1, 3, "pending".into()),
            (2, 4, "pending".into()),
        ]
    );
}

/// Users saved before their subscription in one transaction (a foreign key checked at commit):
/// the subscription's INSERT queues them. Found by review: the statement-level PostgreSQL
/// adapter first had no INSERT trigger on `subscription`, and these members were never queued.
async fn users_saved_before_their_active_subscription_are_queued(db: TestDb) {
    persons(&db, 1..=2).await;
    let users_first = "INSERT INTO subscription_user (subscription_id, person_id) VALUES (7, 1), (7, 2); \
         INSERT INTO subscription (id, status, start_date) VALUES (7, 'ACTIVE', '2026-01-01'); COMMIT";
    match db.kind {
        Kind::Postgres => {
            db.exec(
                "ALTER TABLE subscription_user ALTER CONSTRAINT \
                 subscription_user_subscription_id_fkey DEFERRABLE INITIALLY DEFERRED",
            )
            .await;
            db.exec(&format!("BEGIN; {users_first}")).await;
        }
        Kind::Sqlite => {
            db.exec(&format!(
                "BEGIN; PRAGMA defer_foreign_keys = ON; {users_first}"
            ))
            .await
        }
    }
    assert_eq!(pairs(&db).await, pending(&[(7, 1), (7, 2)]));
}
