//! What the membership system holds: members seeded in bulk, gyms with bad data, the host
//! schema, an adapter made by hand, the migrations of an older release.
use std::path::{Path, PathBuf};

use digis_relay::domain::FailureCause;
use digis_relay::storage::FailureGroupKey;
use sqlx::migrate::Migrator;
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{config_for, once, relay};
use super::{Kind, Person, TestDb};

/// Many subscriptions of `per` members each, `n` rows in all, in person order.
pub async fn members(db: &TestDb, n: i64) {
    let per = 10;
    for s in 0..(n + per - 1) / per {
        let persons: Vec<i64> = (s * per + 1..=((s + 1) * per).min(n)).collect();
        db.active_with(s + 1, &persons).await;
    }
}

/// `n` members (valid Swedish mobiles, cards `34000000 + id`, an address), ten to an ACTIVE
/// subscription, written in one statement per table so that tens of thousands take seconds.
/// Names, street and city are long (180 letters of padding, within the 200 allowed), so each
/// member is about 1.3 KB of JSON and the export outweighs the service's fixed memory. The triggers queue them; the service runs with `useDigis = false`, so nothing is
/// sent and the export has the database to itself.
pub async fn seed_members(db: &TestDb, n: u32) {
    let pg = db.kind == Kind::Postgres;
    let series = |n: u32| {
        if pg {
            format!("WITH s(i) AS (SELECT generate_series(1, {n}))")
        } else {
            format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})")
        }
    };
    let (phone, card, yes, date, pad) = if pg {
        (
            "'070' || lpad(i::text, 7, '0')",
            "(34000000 + i)::text",
            "true",
            "::date",
            "repeat('a', 180)",
        )
    } else {
        (
            "'070' || printf('%07d', i)",
            "CAST(34000000 + i AS TEXT)",
            "1",
            "",
            "replace(hex(zeroblob(90)), '0', 'a')",
        )
    };
    db.exec("INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum')")
        .await;
    db.exec(&format!(
        "{} INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, \
         allow_email, allow_sms, mobile_country_code, mobile_number, card_number) \
         SELECT i, 1, 'Förnamn' || i || {pad}, 'Efternamn' || i || {pad}, '1990-05-17'{date}, 'FEMALE', \
         'member' || i || '@example.se', {yes}, {yes}, '46', {phone}, {card} FROM s",
        series(n)
    ))
    .await;
    db.exec(&format!(
        "{} INSERT INTO address (person_id, street_address, postal_code, postal_city, country_alpha2) \
         SELECT i, 'Storgatan ' || i || {pad}, '111 22', 'Stockholm ' || {pad}, 'SE' FROM s",
        series(n)
    ))
    .await;
    db.exec(&format!(
        "{} INSERT INTO subscription (id, status, start_date, max_end) \
         SELECT i, 'ACTIVE', '2026-01-01'{date}, '2027-12-31'{date} FROM s",
        series(n.div_ceil(10))
    ))
    .await;
    db.exec(&format!(
        "{} INSERT INTO subscription_user (subscription_id, person_id) SELECT (i + 9) / 10, i FROM s",
        series(n)
    ))
    .await;
    if pg {
        // Statistics, as autovacuum keeps them: without any, the planner has each page of the
        // export scan every member (seconds a page at this size) instead of seeking.
        db.exec("ANALYZE").await;
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_member").await,
        n as i64
    );
}

/// A Stockholm landline: a valid number, but not a mobile one.
pub const LANDLINE: &str = "08-123 456 78";

pub const NOT_MOBILE: &str = "not a mobile number for region SE";

pub fn mobile_group(unit: i64) -> FailureGroupKey {
    FailureGroupKey {
        unit_id: Some(unit),
        cause: FailureCause {
            field: Some("MobileNumber".into()),
            rule: NOT_MOBILE.into(),
        },
    }
}

/// Two gyms with bad data, failed by the relay:
/// - unit 1 (Stamina Centrum), subscription 863: person 1 fine, persons 2 and 3 landlines;
/// - unit 2 (Stamina Väst), subscription 864: person 4 a landline, person 5 a card with a space,
///   person 6 rejected by Digis (HTTP 400, quoting the number), person 7 fine;
/// - and person 8 (unit 1, subscription 865) failed by hand with a text the relay does not
///   write: the "other" group.
pub async fn failing_gyms(db: &TestDb) {
    db.unit(2, "Stamina Väst").await;
    for id in 1..=8 {
        let mut p = Person::ordinary(id);
        p.unit_id = if (4..=7).contains(&id) { 2 } else { 1 };
        match id {
            2..=4 => p.mobile_number = Some(LANDLINE.into()),
            5 => p.card_number = Some("3400 0005".into()),
            _ => {}
        }
        db.person_with(&p).await;
    }
    db.active_with(863, &[1, 2, 3]).await;
    db.active_with(864, &[4, 5, 6, 7]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            serde_json::json!({"ExtInfo20": "34000006"}),
        ))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"Message": "Invalid mobile 0701234567"})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"Success": true, "ExternalId": "TE-1"})),
        )
        .mount(&server)
        .await;
    once(&relay(db, config_for(&server.uri(), db))).await;
    db.active_with(865, &[8]).await;
    db.exec(
        "UPDATE digis_outbox SET state = 'failed', attempts = 1, last_http_status = 400, \
         last_error = 'MobileNumber: not a valid mobile number' WHERE person_id = 8",
    )
    .await;
    let counts = db.storage.counts().await.unwrap();
    assert_eq!((counts.sent, counts.failed), (2, 6), "{counts:?}");
}

/// An adapter applied, as far as this binary can: `migrate` (a binary with the host adapter
/// applies the configured one when none is recorded), then, where nothing is recorded still (a
/// binary before the adapter), what the adapter's migration and the reference adapter create,
/// made by hand: the record table with checksum `aa`, the views search reads, SQLite's enqueue
/// entry point and a host trigger that names it. Objects already there are kept.
pub async fn adapter_by_hand(db: &TestDb) {
    if record_rows(db).await > 0 {
        return;
    }
    let person = "SELECT p.id AS id, p.first_name AS first_name, p.last_name AS last_name, \
                  p.email AS email, p.mobile_country_code AS mobile_country_code, \
                  p.mobile_number AS mobile_number, p.card_number AS card_number, \
                  a.country_alpha2 AS country_alpha2 \
                  FROM person p LEFT JOIN address a ON a.person_id = p.id";
    let subscription = "SELECT id AS id, status AS status FROM subscription";
    db.exec(&match db.kind {
        Kind::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS digis_host_adapter (id INTEGER PRIMARY KEY CHECK (id = 1), \
               source TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL);
             INSERT OR IGNORE INTO digis_host_adapter VALUES (1, 'by hand', 'aa', '2026-12-06T07:00:00Z');
             CREATE VIEW IF NOT EXISTS digis_person AS {person};
             CREATE VIEW IF NOT EXISTS digis_subscription AS {subscription};
             CREATE VIEW IF NOT EXISTS digis_enqueue_request AS
               SELECT subscription_id, person_id FROM digis_outbox WHERE 0;
             CREATE TRIGGER IF NOT EXISTS digis_enqueue_request_insert
               INSTEAD OF INSERT ON digis_enqueue_request BEGIN SELECT 1; END;
             CREATE TRIGGER IF NOT EXISTS by_hand_user_added AFTER INSERT ON subscription_user WHEN 0
             BEGIN
               INSERT INTO digis_enqueue_request (subscription_id, person_id)
               VALUES (NEW.subscription_id, NEW.person_id);
             END;"
        ),
        Kind::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS digis_host_adapter (id INTEGER PRIMARY KEY CHECK (id = 1), \
               source TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL);
             INSERT INTO digis_host_adapter VALUES (1, 'by hand', 'aa', now()) ON CONFLICT DO NOTHING;
             DO $$ BEGIN
               IF to_regclass('digis_person') IS NULL THEN CREATE VIEW digis_person AS {person}; END IF;
               IF to_regclass('digis_subscription') IS NULL THEN
                 CREATE VIEW digis_subscription AS {subscription};
               END IF;
             END $$;"
        ),
    })
    .await;
}

/// `digis_host_adapter` as migration 0010 creates it, empty: an adapter never applied.
pub async fn empty_record_table(db: &TestDb) {
    if record_table(db).await {
        db.exec("DELETE FROM digis_host_adapter").await;
        return;
    }
    db.exec(match db.kind {
        Kind::Sqlite => {
            "CREATE TABLE digis_host_adapter (id INTEGER PRIMARY KEY CHECK (id = 1), \
             source TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        }
        Kind::Postgres => {
            "CREATE TABLE digis_host_adapter (id INTEGER PRIMARY KEY CHECK (id = 1), \
             source TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        }
    })
    .await;
}

async fn record_rows(db: &TestDb) -> i64 {
    if record_table(db).await {
        db.scalar("SELECT COUNT(*) FROM digis_host_adapter").await
    } else {
        0
    }
}

async fn record_table(db: &TestDb) -> bool {
    db.scalar(match db.kind {
        Kind::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'digis_host_adapter'"
        }
        Kind::Postgres => "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'digis_host_adapter'",
    })
    .await
        == 1
}

pub fn folder(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    }
}

/// The migrations of the last release that recorded them in `_sqlx_migrations` (ab1da59),
/// kept as they were released.
pub fn pre_0010(kind: Kind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pre-0010")
        .join(folder(kind))
}

/// Runs `migrator` with sqlx's defaults (`_sqlx_migrations`), as an older release or a host
/// application does.
pub async fn run_default(db: &TestDb, migrator: &Migrator) {
    match db.kind {
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

pub fn host_schema(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../../assets/host-schema.sqlite.sql"),
        Kind::Postgres => include_str!("../../../assets/host-schema.postgres.sql"),
    }
}

/// A host trigger that refuses the `digis` row of person 2 (one row that cannot be written).
pub async fn refuse_the_pair_of_person_2(db: &TestDb) {
    match db.kind {
        Kind::Sqlite => {
            db.exec(
                "CREATE TRIGGER host_refuses BEFORE INSERT ON digis WHEN NEW.person_id = 2 \
                 BEGIN SELECT RAISE(ABORT, 'the host refuses person 2'); END",
            )
            .await
        }
        Kind::Postgres => {
            db.exec(
                "CREATE FUNCTION host_refuses() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.person_id = 2 THEN RAISE EXCEPTION 'the host refuses person 2'; \
                 END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER host_refuses BEFORE INSERT ON digis \
                 FOR EACH ROW EXECUTE FUNCTION host_refuses()",
            )
            .await
        }
    }
}

/// Member `person` of active subscription `sub`, whose card is `card` (with its leading zeros,
/// as the cases about cards typed without them need).
pub async fn member_with_card(db: &TestDb, sub: i64, person: i64, card: &str) {
    db.person_with(&Person {
        card_number: Some(card.into()),
        ..Person::ordinary(person)
    })
    .await;
    db.active_with(sub, &[person]).await;
}
