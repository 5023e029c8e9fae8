//! The indexes of `digis_outbox` after migration 0014 (issue 28, docs/decisions/0044): the
//! lease index gone on PostgreSQL, the sent-time index partial on both. A database migrated
//! with rows in every state answers the same afterwards, and the queries that used the changed
//! indexes are still read through an index at a size where a scan would show.
use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::both_databases;
use crate::common::{Kind, TestDb};

both_databases!(migration_0014_keeps_the_answers_of_a_populated_database);

fn at(h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, h, 0, 0).unwrap()
}

fn time_literal(kind: Kind, t: chrono::DateTime<Utc>) -> String {
    match kind {
        Kind::Sqlite => format!("'{}'", digis_relay::storage_time_text(t)),
        Kind::Postgres => format!("'{}'::timestamptz", t.to_rfc3339()),
    }
}

/// The names of digis_outbox's indexes and, for the sent-time one, whether it is partial.
async fn index_names(db: &TestDb) -> Vec<String> {
    let sql = match db.kind {
        Kind::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'digis_outbox' \
             AND sql IS NOT NULL ORDER BY name"
        }
        Kind::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = 'digis_outbox' ORDER BY indexname"
        }
    };
    let url = db.url.clone();
    match db.kind {
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let names = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            names
        }
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let names = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            names
        }
    }
}

/// Rows in every state written by a relay before 0014 (sent ones with their sent times, one
/// `sending` under a lease that ended, held by a relay long gone), then `migrate`: the counts,
/// the Stats view's sent count and delays of a range and the claim of the expired lease give
/// what they gave on the rows, through the new indexes.
async fn migration_0014_keeps_the_answers_of_a_populated_database(db: TestDb) {
    let kind = db.kind;
    let db = TestDb::migrated_before(kind, 14).await;
    let old = index_names(&db).await;
    assert!(old.contains(&"digis_outbox_lease".to_string()), "{old:?}");

    // (id, state, created, sent): three rows sent at 10, 11 and 13 o'clock, saved at 9.
    let long_ago = time_literal(kind, at(1));
    let rows: [(i64, &str, u32, Option<u32>); 7] = [
        (1, "sent", 9, Some(10)),
        (2, "sent", 9, Some(11)),
        (3, "sent", 9, Some(13)),
        (4, "failed", 9, None),
        (5, "discarded", 9, None),
        (6, "pending", 9, None),
        (7, "sending", 9, None),
    ];
    let overriding = match kind {
        Kind::Sqlite => "",
        Kind::Postgres => "OVERRIDING SYSTEM VALUE",
    };
    for (id, state, created, sent) in rows {
        let sent = sent.map_or("NULL".to_string(), |h| time_literal(kind, at(h)));
        let created = time_literal(kind, at(created));
        let lease = if state == "sending" {
            format!("'gone-relay', {long_ago}, 'old-token'")
        } else {
            "NULL, NULL, NULL".to_string()
        };
        db.exec(&format!(
            "INSERT INTO digis_outbox (id, subscription_id, person_id, state, created_at, \
             next_attempt_at, sent_at, locked_by, locked_until, claim_token) {overriding} \
             VALUES ({id}, 1, {id}, '{state}', {created}, {long_ago}, {sent}, {lease})"
        ))
        .await;
    }

    db.storage.migrate(false).await.expect("migrate to the end");

    let new = index_names(&db).await;
    assert_eq!(
        new.contains(&"digis_outbox_lease".to_string()),
        kind == Kind::Sqlite,
        "the lease index is dropped on PostgreSQL only: {new:?}"
    );
    assert!(new.contains(&"digis_outbox_sent_at".to_string()), "{new:?}");
    assert!(
        new.contains(&"digis_outbox_one_open".to_string()),
        "{new:?}"
    );

    let counts = db.storage.counts().await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.sending,
            counts.sent,
            counts.failed,
            counts.discarded
        ),
        (1, 1, 3, 1, 1)
    );
    let sample = db.storage.sent_delays(at(10), at(12), 10).await.unwrap();
    assert_eq!(sample.sent, 2, "rows 1 and 2 were sent in [10, 12)");
    let mut delays = sample.delays.clone();
    delays.sort();
    assert_eq!(delays, vec![(at(10), 3_600_000), (at(11), 7_200_000)]);

    // The claim takes the due row and the expired lease (no relay of that id is alive).
    let claimed = db
        .storage
        .claim("relay-new", 10, Duration::from_secs(30), Utc::now())
        .await
        .unwrap();
    let mut ids: Vec<i64> = claimed.iter().map(|c| c.row.id.0).collect();
    ids.sort();
    assert_eq!(ids, vec![6, 7]);
    let counts = db.storage.counts().await.unwrap();
    assert_eq!((counts.pending, counts.sending), (0, 2));
    let sending = db
        .scalar(
            "SELECT COUNT(*) FROM digis_outbox WHERE state = 'sending' AND locked_by = 'relay-new'",
        )
        .await;
    assert_eq!(sending, 2);
}

/// The plan of `sql` with its parameters, as EXPLAIN (PostgreSQL) prints it.
async fn pg_plan(db: &TestDb, sql: &str, bind: impl FnOnce(PgQuery<'_>) -> PgQuery<'_>) -> String {
    use sqlx::Row as _;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let text = format!("EXPLAIN {sql}");
    let q = sqlx::query(sqlx::AssertSqlSafe(text)).persistent(false);
    let plan: Vec<String> = bind(q)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    pool.close().await;
    plan.join("\n")
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// PostgreSQL at 20,000 rows, most sent, 2,000 pending and 100 `sending`, analyzed: the claim
/// finds expired leases through the state index (the lease index is gone) and due rows through
/// the due index, and the Stats view's sent count reads a range of the partial sent-time index;
/// none of them scans digis_outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_leases_and_sent_times_through_indexes() {
    let db = TestDb::postgres().await;
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, sent_at) \
         SELECT g, g, 'sent', now() - g * interval '1 minute' FROM generate_series(1, 17900) g; \
         INSERT INTO digis_outbox (subscription_id, person_id) \
         SELECT g, g FROM generate_series(17901, 19900) g; \
         INSERT INTO digis_outbox (subscription_id, person_id, state, locked_by, locked_until) \
         SELECT g, g, 'sending', 'r', now() FROM generate_series(19901, 20000) g; \
         ANALYZE digis_outbox",
    )
    .await;
    let claim = include_str!("../../src/storage/postgres/sql/claim.sql");
    let plan = pg_plan(&db, claim, |q| {
        q.bind("relay-a")
            .bind(Utc::now())
            .bind("token")
            .bind(Utc::now())
            .bind(500_i64)
            .bind(Vec::<String>::new())
            .bind(Some(Utc::now()))
    })
    .await;
    assert!(
        !plan.contains("Seq Scan on digis_outbox")
            && plan.contains("digis_outbox_state_id")
            && plan.contains("digis_outbox_due"),
        "the claim scans the outbox:\n{plan}"
    );
    let sent_count = include_str!("../../src/storage/postgres/sql/sent_count.sql");
    let plan = pg_plan(&db, sent_count, |q| {
        q.bind(Utc::now() - chrono::Duration::days(1))
            .bind(Utc::now())
    })
    .await;
    assert!(
        plan.contains("digis_outbox_sent_at") && !plan.contains("Seq Scan on digis_outbox"),
        "the sent count scans the outbox:\n{plan}"
    );
}

/// SQLite: the Stats view's sent count and delays read a range of the partial sent-time index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_sent_times_through_the_partial_index() {
    use sqlx::Row as _;
    let db = TestDb::sqlite().await;
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    for (sql, stride) in [
        (
            include_str!("../../src/storage/sqlite/sql/sent_count.sql"),
            None,
        ),
        (
            include_str!("../../src/storage/sqlite/sql/sent_delays.sql"),
            Some(1_i64),
        ),
    ] {
        let q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .bind("2026-11-28T00:00:00.000Z")
            .bind("2026-11-29T00:00:00.000Z");
        let q = match stride {
            Some(n) => q.bind(n),
            None => q,
        };
        let plan: Vec<String> = q
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("digis_outbox_sent_at"),
            "{sql}\nis not read through the sent-time index:\n{plan}"
        );
    }
    pool.close().await;
}
