//! `doctor`'s checks of the host adapter (issue 25: "doctor checks the adapter's views (columns,
//! types) and triggers and reports a changed or missing adapter"), on both databases: through
//! the real binary, and in storage for what needs a configured adapter file.
use std::process::{Command, Output};

use digis_relay::doctor::adapter::{self, Expected};
use digis_relay::domain::AdapterState;

use crate::common::{Kind, TestDb, BIN};
use crate::health::write_config;

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

async fn record_rows(db: &TestDb) -> i64 {
    if record_table(db).await {
        db.scalar("SELECT COUNT(*) FROM digis_host_adapter").await
    } else {
        0
    }
}

/// Drops every trigger on the membership tables a save queues from.
async fn drop_host_triggers(db: &TestDb) {
    match db.kind {
        Kind::Postgres => {
            db.exec(
                "DO $$ DECLARE t record; BEGIN
                   FOR t IN SELECT tg.tgname, c.relname FROM pg_trigger tg
                            JOIN pg_class c ON c.oid = tg.tgrelid
                            WHERE NOT tg.tgisinternal
                              AND c.relname IN ('subscription', 'subscription_user') LOOP
                     EXECUTE format('DROP TRIGGER %I ON %I', t.tgname, t.relname);
                   END LOOP;
                 END $$;",
            )
            .await
        }
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' \
                 AND tbl_name IN ('subscription', 'subscription_user')",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            for n in names {
                db.exec(&format!("DROP TRIGGER \"{n}\"")).await;
            }
        }
    }
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

fn doctor(db: &TestDb) -> (Output, String) {
    let config = write_config(db, "http://127.0.0.1:9", "");
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "doctor",
            "--no-network",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.get(9..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
}

async fn doctor_checks_the_adapter(db: TestDb) {
    // Never applied.
    empty_record_table(&db).await;
    let (out, text) = doctor(&db);
    assert!(!out.status.success(), "{text}");
    let record = line(&text, "host adapter");
    assert!(
        record.starts_with("error") && record.contains("missing") && record.contains("migrate"),
        "{text}"
    );

    // Applied: every part is there.
    let config = write_config(&db, "http://127.0.0.1:9", "");
    let migrate = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    adapter_by_hand(&db).await;
    let (_, text) = doctor(&db);
    for name in ["host adapter", "adapter views", "adapter triggers"] {
        assert!(line(&text, name).starts_with("ok"), "{name}:\n{text}");
    }

    // A view gone, and (PostgreSQL) an id the relay cannot compare.
    db.exec("DROP VIEW digis_person").await;
    if db.kind == Kind::Postgres {
        db.exec(
            "DROP VIEW digis_subscription; \
             CREATE VIEW digis_subscription AS SELECT id::text AS id, status FROM subscription",
        )
        .await;
    }
    let (out, text) = doctor(&db);
    assert!(!out.status.success(), "{text}");
    let views = line(&text, "adapter views");
    assert!(
        views.starts_with("error") && views.contains("digis_person is missing"),
        "{text}"
    );
    if db.kind == Kind::Postgres {
        assert!(views.contains("digis_subscription.id is text"), "{text}");
    }

    // No trigger hands saves to the entry point.
    drop_host_triggers(&db).await;
    let (_, text) = doctor(&db);
    let triggers = line(&text, "adapter triggers");
    assert!(
        triggers.starts_with("error") && triggers.contains("digis_enqueue"),
        "{text}"
    );
}

/// The configured file against the record: the same checksum is ok, another is `changed`, no
/// record is `missing` (the configuration's side comes from `[host] adapter`, which the binary
/// reads; here it is given).
async fn changed_and_missing_adapters_are_told_apart(db: TestDb) {
    adapter_by_hand(&db).await;
    db.exec("UPDATE digis_host_adapter SET checksum = 'aa'")
        .await;
    let expected = |checksum: &str| {
        Ok(Some(Expected {
            name: "/etc/digis-relay/adapter.sql".into(),
            checksum: checksum.into(),
            triggers: Vec::new(),
        }))
    };
    let versions = db.storage.schema_versions().await.unwrap();
    let same = adapter::inspect(db.storage.as_ref(), &versions, &expected("AA"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.state, AdapterState::Ok);
    let changed = adapter::inspect(db.storage.as_ref(), &versions, &expected("bb"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.state, AdapterState::Changed);
    assert!(
        changed.checks[0]
            .message
            .starts_with("changed: /etc/digis-relay/adapter.sql"),
        "{:?}",
        changed.checks[0]
    );
    db.exec("DELETE FROM digis_host_adapter").await;
    let missing = adapter::inspect(db.storage.as_ref(), &versions, &expected("aa"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(missing.state, AdapterState::Missing);
}

crate::both_databases!(
    doctor_checks_the_adapter,
    changed_and_missing_adapters_are_told_apart
);
