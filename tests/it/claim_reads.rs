//! A claim marks its rows, then reads their member and `digis` rows (docs/delivery-path.md, Delivery
//! path). What it cannot read must neither strand rows `sending` under a lease no relay holds
//! (charged an attempt each time, never sent), nor stop the relay at a row it cannot read.
use digis_relay::domain::OutboxState;
use tokio_util::sync::CancellationToken;

use crate::both_databases;
use crate::common::{all_rows, config_for, once, open_fake, relay, Kind, TestDb};

both_databases!(
    a_claim_that_cannot_read_its_rows_takes_none,
    a_digis_row_the_relay_cannot_read_fails_only_its_own_row,
);

/// `digis` gone for a while (a host migration renaming it): the claim's reads fail, and the
/// claim must give its rows back as they were (due, attempt refunded), not leave them `sending`
/// for a lease (here ten minutes) with an attempt charged.
async fn a_claim_that_cannot_read_its_rows_takes_none(db: TestDb) {
    db.active_with(1, &[1, 2, 3]).await;
    let fake = open_fake().await;
    let mut cfg = config_for(&fake.base_url(), &db);
    cfg.relay.lease_ms = 600_000;
    let r = relay(&db, cfg);
    db.exec("ALTER TABLE digis RENAME TO digis_away").await;
    let err = r
        .run(CancellationToken::new(), true)
        .await
        .expect_err("a claim whose reads fail is an error");
    assert!(err.to_string().contains("digis"), "{err}");
    for row in all_rows(&db).await {
        assert_eq!(
            (row.state, row.attempts, row.locked_by.as_deref()),
            (OutboxState::Pending, 0, None),
            "row {} was left claimed by a claim that failed",
            row.id.0
        );
    }
    assert_eq!(fake.received().len(), 0);
    db.exec("ALTER TABLE digis_away RENAME TO digis").await;
    once(&r).await;
    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!((row.state, row.attempts), (OutboxState::Sent, 1));
    }
    assert_eq!(fake.received().len(), 3);
}

/// The membership system's own `digis` rows (the table is the integration note's, and a system that had it
/// keeps its rows): one whose `synced_at` the relay cannot read fails that member's row, naming
/// the column, and is not sent again; the rows beside it are sent or discarded as usual. Before,
/// every claim that took the row failed, so the relay stood still at it.
async fn a_digis_row_the_relay_cannot_read_fails_only_its_own_row(db: TestDb) {
    db.active_with(1, &[1, 2, 3, 4]).await;
    // The host's table, made before the relay with types of its own: the time as text, and on
    // SQLite the external id as a number.
    match db.kind {
        Kind::Sqlite => {
            db.exec(
                "DROP TABLE digis; CREATE TABLE digis (subscription_id INTEGER NOT NULL, \
                 person_id INTEGER NOT NULL, external_id INTEGER, synced_at TEXT NOT NULL, \
                 PRIMARY KEY (subscription_id, person_id))",
            )
            .await
        }
        Kind::Postgres => {
            db.exec("ALTER TABLE digis ALTER COLUMN synced_at TYPE text USING synced_at::text")
                .await
        }
    }
    // Written after the rows were queued, as the old integration still running would.
    db.exec("INSERT INTO digis (subscription_id, person_id, external_id, synced_at) VALUES (1, 2, 'E2', '04/01/2023 10:00')")
        .await;
    let (ext3, said3) = match db.kind {
        // Stored as a number, read as its digits.
        Kind::Sqlite => ("987654", "987654"),
        Kind::Postgres => ("'E3'", "E3"),
    };
    db.exec(&format!(
        "INSERT INTO digis (subscription_id, person_id, external_id, synced_at) VALUES (1, 3, {ext3}, '2023-04-01T10:00:00Z')"
    ))
    .await;
    let fake = open_fake().await;
    let r = relay(&db, config_for(&fake.base_url(), &db));
    once(&r).await;
    let rows = all_rows(&db).await;
    let of = |person: i64| rows.iter().find(|r| r.person_id.0 == person).unwrap();
    let bad = of(2);
    assert_eq!(bad.state, OutboxState::Failed);
    let why = bad.last_error.as_deref().unwrap_or_default();
    assert!(
        why.contains("person 2") && why.contains("digis.synced_at"),
        "{why}"
    );
    let synced = of(3);
    assert_eq!(synced.state, OutboxState::Discarded);
    let reason = synced.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("already synced") && reason.contains(said3),
        "{reason}"
    );
    for person in [1, 4] {
        assert_eq!(of(person).state, OutboxState::Sent, "person {person}");
    }
    assert_eq!(fake.received().len(), 2, "only persons 1 and 4 are sent");
    if db.kind == Kind::Sqlite {
        assert_eq!(
            db.scalar("SELECT count(*) FROM digis WHERE typeof(external_id) = 'integer'")
                .await,
            1,
            "the number stays a number: the test reads one"
        );
    }
    // The pairs the relay recorded read back through the host's types too.
    let one = queue_again_and_run(&db, &fake.base_url(), 1).await;
    assert!(
        one.reason
            .as_deref()
            .unwrap_or_default()
            .contains("already synced"),
        "{:?}",
        one.reason
    );
    if db.kind == Kind::Postgres {
        // A host's `timestamp` (without zone) column reads as UTC.
        db.exec(
            "ALTER TABLE digis ALTER COLUMN synced_at TYPE timestamp \
             USING synced_at::timestamptz AT TIME ZONE 'UTC'",
        )
        .await;
        let four = queue_again_and_run(&db, &fake.base_url(), 4).await;
        assert_eq!(four.state, OutboxState::Discarded, "{:?}", four.reason);
    }
}

/// The person's outbox row due again (as if saved again after it was sent), one `run --once`,
/// and the row as it ends.
async fn queue_again_and_run(
    db: &TestDb,
    digis_url: &str,
    person: i64,
) -> digis_relay::storage::OutboxRow {
    db.exec(&format!(
        "UPDATE digis_outbox SET state = 'pending', next_attempt_at = created_at \
         WHERE person_id = {person}"
    ))
    .await;
    once(&relay(db, config_for(digis_url, db))).await;
    all_rows(db)
        .await
        .into_iter()
        .find(|r| r.person_id.0 == person)
        .unwrap()
}

/// PostgreSQL plans the claim's read of sent rows per call, from statistics that lag behind a
/// drain: they were taken while every row was pending, so "state = 'sent'" looks rare, and the
/// partial index of finished rows looked cheapest. It read every sent row on every claim, and
/// the 100,000-row drain bench crawled (seen after delivered-means-delivered landed: minutes
/// instead of 20 s). Each pair's rows must be read through an index of the pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_the_sent_rows_of_claimed_pairs_through_their_pairs() {
    use sqlx::Row as _;
    let db = TestDb::postgres().await;
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id) \
         SELECT g, g FROM generate_series(1, 20000) g; ANALYZE digis_outbox; \
         UPDATE digis_outbox SET state = 'sent', sent_at = now(), external_id = 'TE-' || id",
    )
    .await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let sql = include_str!("../../src/storage/postgres/sql/sent_of_pairs.sql");
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .persistent(false)
        .bind(r#"[{"subscription_id": 7, "person_id": 7}, {"subscription_id": 9, "person_id": 9}]"#)
        .bind(OutboxState::Sent.as_str())
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    pool.close().await;
    let plan = plan.join("\n");
    assert!(
        !plan.contains("digis_outbox_finished") && !plan.contains("Seq Scan on digis_outbox"),
        "the sent rows of two pairs are read by scanning sent rows:\n{plan}"
    );
}
