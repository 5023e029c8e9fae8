//! One host row that cannot be read fails only itself (issue 10 item 1, DESIGN §6): in a
//! claim, on any export page, in the dashboard's listing, on both databases.
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
            let view = include_str!("../../migrations/postgres/0001_outbox.sql");
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

both_databases!(
    unreadable_row_on_a_later_export_page_is_skipped,
    unreadable_row_fails_alone_in_a_claim
);

async fn unreadable_row_on_a_later_export_page_is_skipped(db: TestDb) {
    for s in 1..=7 {
        db.active_with(s, &[s]).await;
    }
    spoil(&db, 6).await;
    let mut cfg = Config {
        database_url: db.url.clone(),
        ..Config::default()
    };
    cfg.export.page_size = 2;
    let mut out = Vec::new();
    let summary = write_export(
        db.storage.as_ref(),
        &cfg,
        ExportFormat::Json,
        &mut out,
        |_| {},
    )
    .await
    .expect("one unreadable row does not fail the export");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    let people: Vec<i64> = rows
        .iter()
        .map(|r| r["ExtInfo4"].as_i64().unwrap())
        .collect();
    assert_eq!(
        people,
        vec![1, 2, 3, 4, 5, 7],
        "the page after it is there too"
    );
    assert_eq!((summary.written, summary.skipped), (6, 1));
    assert_eq!(summary.skipped_examples[0].person_id, 6);
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
