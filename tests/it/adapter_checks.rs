//! `doctor`'s checks of the host adapter (issue 25: "doctor checks the adapter's views (columns,
//! types) and triggers and reports a changed or missing adapter"), on both databases: through
//! the real binary, and in storage for what needs a configured adapter file.
use std::process::Output;

use digis_relay::doctor::adapter::{self, Expected};
use digis_relay::domain::AdapterState;

use crate::common::{
    adapter_by_hand, both, empty_record_table, with_config, write_config, Kind, TestDb,
};

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

fn doctor(db: &TestDb) -> (Output, String) {
    let config = write_config(db, "http://127.0.0.1:9", "");
    let out = with_config(&config)
        .args(["doctor", "--no-network"])
        .output()
        .unwrap();
    let text = both(&out);
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
    let migrate = with_config(&config).args(["migrate"]).output().unwrap();
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
