//! One host row that cannot be read fails only itself (issue 10 item 1, docs/untrusted-edges.md, Untrusted
//! edges): in a claim, on any export page, in the dashboard's listing, on both databases.
use chrono::Utc;
use digis_relay::config::Config;
use digis_relay::domain::SubscriptionId;
use digis_relay::export::{write_export, ExportFormat};
use std::time::Duration;

use crate::both_databases;
use crate::common::{Kind, TestDb};

/// Makes person `p`'s row unreadable in the way each database allows: invalid UTF-8 in the
/// first name on SQLite; on PostgreSQL (whose types forbid that) a host-adapted view whose
/// `allow_sms` is text and says `maybe` for that person.
async fn spoil(db: &TestDb, p: i64) -> &'static str {
    match db.kind {
        Kind::Sqlite => {
            db.exec(&format!(
                "UPDATE person SET first_name = CAST(X'4AF6726E' AS TEXT) WHERE id = {p}"
            ))
            .await;
            "column first_name is not valid UTF-8"
        }
        Kind::Postgres => {
            let view = include_str!("../../assets/host-adapter.postgres.sql");
            let start = view.find("CREATE VIEW digis_member").unwrap();
            let end = start + view[start..].find(';').unwrap();
            let adapted = view[start..end].replace(
                "p.allow_sms           AS allow_sms",
                &format!(
                    "CASE WHEN p.id = {p} THEN 'maybe' ELSE p.allow_sms::text END AS allow_sms"
                ),
            );
            db.exec(&format!("DROP VIEW digis_member; {adapted}")).await;
            "column allow_sms is not a boolean"
        }
    }
}

/// Subscriptions 1..=7 of one member each, person 6's row unreadable.
async fn seven_members_the_sixth_unreadable(db: &TestDb) {
    for s in 1..=7 {
        db.active_with(s, &[s]).await;
    }
    spoil(db, 6).await;
}

fn export_in_pages_of_2(db: &TestDb) -> Config {
    let mut cfg = Config {
        database_url: db.url.clone(),
        ..Config::default()
    };
    cfg.export.page_size = 2;
    cfg
}

/// The JSON export's outcome and the bytes it wrote.
async fn json_export(
    db: &TestDb,
    cfg: &Config,
) -> (
    Result<digis_relay::export::ExportSummary, digis_relay::export::ExportError>,
    Vec<u8>,
) {
    let mut out = Vec::new();
    let summary = write_export(
        db.storage.as_ref(),
        &cfg.payload,
        &cfg.export,
        ExportFormat::Json,
        &mut out,
        |_| {},
    )
    .await;
    (summary, out)
}

/// The persons of a JSON export, in its order.
fn people_in(json: &[u8]) -> Vec<i64> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(json).unwrap();
    rows.iter()
        .map(|r| r["ExtInfo4"].as_i64().unwrap())
        .collect()
}

both_databases!(
    unreadable_row_on_a_later_export_page_is_skipped,
    unreadable_row_on_a_later_page_of_the_http_export_is_skipped,
    unreadable_row_fails_alone_in_a_claim
);

async fn unreadable_row_on_a_later_export_page_is_skipped(db: TestDb) {
    seven_members_the_sixth_unreadable(&db).await;
    let (summary, out) = json_export(&db, &export_in_pages_of_2(&db)).await;
    let summary = summary.expect("one unreadable row does not fail the export");
    assert_eq!(
        people_in(&out),
        vec![1, 2, 3, 4, 5, 7],
        "the page after it is there too"
    );
    assert_eq!((summary.written, summary.skipped), (6, 1));
    assert_eq!(summary.skipped_examples[0].person_id, 6);
}

/// The same over HTTP, where it was seen: a 503, or an empty reply when the row sat on a later
/// page (the status line had already gone out).
async fn unreadable_row_on_a_later_page_of_the_http_export_is_skipped(db: TestDb) {
    const TOKEN: &str = "host-rows-export-token";
    seven_members_the_sixth_unreadable(&db).await;
    let mut cfg = export_in_pages_of_2(&db);
    cfg.export.token = TOKEN.into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = digis_relay::http::AppState {
        storage: db.storage(),
        config: std::sync::Arc::new(cfg),
        metrics: digis_relay::metrics::Metrics::new(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(digis_relay::http::serve(listener, state, async {
        let _ = stopped.await;
    }));
    for (format, people) in [("json", "1,2,3,4,5,7"), ("csv", "1,2,3,4,5,7")] {
        let r = reqwest::Client::new()
            .get(format!(
                "http://{addr}/export/DigisAllActive?format={format}"
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{format}");
        let body = r.text().await.expect("the whole body arrives");
        let got: Vec<i64> = if format == "json" {
            people_in(body.as_bytes())
        } else {
            let mut rd = csv::Reader::from_reader(body.as_bytes());
            let col = rd
                .headers()
                .unwrap()
                .iter()
                .position(|h| h == "ExtInfo4")
                .unwrap();
            rd.records()
                .map(|r| r.unwrap()[col].parse().unwrap())
                .collect()
        };
        let want: Vec<i64> = people.split(',').map(|p| p.parse().unwrap()).collect();
        assert_eq!(
            got, want,
            "{format}: the page after the unreadable row is there too"
        );
    }
    let _ = stop.send(());
}

/// A host-adapted view can give ids that are not numbers; SQLite sorts them after every number,
/// so a whole page of them gave the export no key to move on from and it read that page again
/// for ever. It ends there now, with those rows counted as skipped.
#[tokio::test]
async fn a_page_of_ids_that_are_not_numbers_ends_the_export() {
    let db = TestDb::sqlite().await;
    for s in 1..=5 {
        db.active_with(s, &[s]).await;
    }
    let view = include_str!("../../assets/host-adapter.sqlite.sql");
    let start = view.find("CREATE VIEW digis_member").unwrap();
    let end = start + view[start..].find(';').unwrap();
    let adapted = view[start..end].replace(
        "su.person_id          AS person_id",
        "CASE WHEN su.person_id > 2 THEN 'p' || su.person_id ELSE su.person_id END AS person_id",
    );
    assert_ne!(
        adapted,
        view[start..end],
        "the view's person_id line was found"
    );
    db.exec(&format!("DROP VIEW digis_member; {adapted}")).await;
    let cfg = export_in_pages_of_2(&db);
    let (summary, out) = tokio::time::timeout(Duration::from_secs(30), json_export(&db, &cfg))
        .await
        .expect("the export ends");
    let summary = summary.unwrap();
    assert_eq!(people_in(&out), vec![1, 2]);
    assert_eq!(summary.written, 2);
    assert!(summary.skipped >= 2, "{}", summary.skipped);
}

async fn unreadable_row_fails_alone_in_a_claim(db: TestDb) {
    db.active_with(10, &[1, 2, 3]).await;
    let want = spoil(&db, 2).await;
    let s = db.storage();
    let claimed = s
        .claim("t", 10, Duration::from_secs(60), Utc::now())
        .await
        .expect("the claim does not fail for everyone");
    assert_eq!(claimed.len(), 3);
    for c in &claimed {
        let p = c.row.person_id.0;
        match &c.row.defect {
            Some(d) if p == 2 => {
                let text = d.to_string();
                assert!(
                    text.starts_with(&format!(
                        "outbox {}, person 2 (subscription 10): ",
                        c.row.id
                    )) && text.contains(want),
                    "{text}"
                );
                assert!(c.member.is_none());
            }
            None if p != 2 => assert!(c.member.is_some()),
            other => panic!("person {p}: {other:?}"),
        }
    }
    // The listing (dashboard, status) and search's reads keep working.
    let members = s
        .members_of_subscription(SubscriptionId(10), None)
        .await
        .unwrap();
    assert_eq!(members.iter().filter(|m| m.is_ok()).count(), 2);
    assert!(members
        .iter()
        .any(|m| m.as_ref().is_err_and(|d| !d.column.is_empty())));
    let listed = s
        .list(&digis_relay::storage::ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

/// SQLite lets text and reals into INTEGER columns; the triggers copy them into the outbox.
/// The listing shows such a row with its defect instead of failing for every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outbox_row_with_a_text_person_id_is_listed_and_fails_alone() {
    let db = TestDb::sqlite().await;
    db.active_with(10, &[1]).await;
    db.exec(
        "PRAGMA foreign_keys = OFF; INSERT INTO subscription_user VALUES (10, 'abc'), (10, 2000.5)",
    )
    .await;
    let s = db.storage();
    let listed = s
        .list(&digis_relay::storage::ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("listing survives");
    assert_eq!(listed.len(), 3);
    let claimed = s
        .claim("t", 10, Duration::from_secs(60), Utc::now())
        .await
        .unwrap();
    let reasons: Vec<String> = claimed
        .iter()
        .filter_map(|c| c.row.defect.as_ref().map(|d| d.to_string()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons
        .iter()
        .any(|r| r.contains("person 2000.5 (as stored)")
            && r.contains("column person_id is not an integer")));
    assert!(reasons
        .iter()
        .any(|r| r.contains("person <text> (as stored)")));
    assert!(claimed
        .iter()
        .any(|c| c.member.as_ref().is_some_and(|m| m.person_id == 1)));
}

/// A PostgreSQL database in SQL_ASCII encoding stores bytes as given, so a name can hold
/// Latin-1 bytes that are not UTF-8 (older installations exist). That row fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sql_ascii_name_that_is_not_utf8_fails_alone() {
    use sqlx::Executor;
    let admin_url = std::env::var("DIGIS_RELAY_TEST_PG")
        .unwrap_or_else(|_| crate::common::PG_ADMIN_DEFAULT.to_string());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let name = format!("drt_ascii_{}_{}", std::process::id(), rand::random::<u32>());
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    let db_url = url.to_string();
    let result = async move {
        let s = digis_relay::storage::connect(&db_url).await.unwrap();
        s.migrate(true).await.unwrap();
        let mut sql = String::from("INSERT INTO business_unit VALUES (1, 'Gym');");
        for p in 1..=3 {
            sql.push_str(&format!(
                "INSERT INTO person (id, unit_id, first_name, mobile_number, card_number) \
                 VALUES ({p}, 1, 'Anna', '0701234567', '3400000{p}');"
            ));
        }
        sql.push_str(
            "UPDATE person SET first_name = 'J' || E'\\xF6' || 'rn' WHERE id = 2; \
             INSERT INTO subscription (id, status, start_date) VALUES (10, 'ACTIVE', '2026-01-01'); \
             INSERT INTO subscription_user VALUES (10, 1), (10, 2), (10, 3);",
        );
        s.host_exec(&sql).await.unwrap();
        let claimed = s
            .claim("t", 10, Duration::from_secs(60), Utc::now())
            .await
            .expect("the claim does not fail for everyone");
        let defects: Vec<String> = claimed
            .iter()
            .filter_map(|c| c.row.defect.as_ref().map(|d| d.to_string()))
            .collect();
        assert_eq!(defects.len(), 1, "{defects:?}");
        assert!(
            defects[0].contains("person 2 (subscription 10): column first_name"),
            "{defects:?}"
        );
        assert_eq!(claimed.iter().filter(|c| c.member.is_some()).count(), 2);
    };
    // Dropped whatever happened, then the outcome is reported.
    let outcome = tokio::spawn(result).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
    outcome.unwrap();
}
