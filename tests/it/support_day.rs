//! Issue 25 items 7 and 9 through the real binary: what support reads in `search`, `status`
//! and the failure report on a real support day.
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use digis_relay::domain::FailureCause;
use digis_relay::storage::FailureGroupKey;
use serde_json::Value;

use crate::both_databases;
use crate::common::{member_with_card, operator, Person, TestDb};

both_databases!(
    search_names_the_http_status_once,
    a_card_without_its_leading_zeros_gets_a_suggestion,
    a_name_in_another_script_finds_its_person,
    failure_groups_come_in_the_order_of_their_keys,
);

fn digis_relay(db: &TestDb, args: &[&str]) -> Output {
    operator(db).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every due row fails with `error` and `status`, as the relay records it.
async fn fail_due_rows(db: &TestDb, now: DateTime<Utc>, status: Option<i32>, error: &str) {
    let cause = FailureCause::from_stored(Some(error), status);
    crate::common::fail_due_rows_as(db, "relay-t", now, status, error, cause).await;
}

/// Item 9: `Digis rejected the member (HTTP 400): ... (HTTP 400)` said the status twice.
async fn search_names_the_http_status_once(db: TestDb) {
    db.active_with(863, &[7]).await;
    fail_due_rows(
        &db,
        Utc::now(),
        Some(400),
        "Digis rejected the member (HTTP 400): MobileNumber invalid",
    )
    .await;
    let out = digis_relay(&db, &["search", "--ext-info1", "863"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let failed = text
        .lines()
        .find(|l| l.contains("Failed on"))
        .unwrap_or_else(|| panic!("no failed verdict:\n{text}"));
    assert_eq!(failed.matches("HTTP 400").count(), 1, "{failed}");
}

/// Item 7: `search --ext-info20 34231452` for card `0034231452` matches nothing (cards match
/// whole) but suggests the card, in text and in JSON.
async fn a_card_without_its_leading_zeros_gets_a_suggestion(db: TestDb) {
    member_with_card(&db, 863, 7, "0034231452").await;
    let out = digis_relay(&db, &["search", "--ext-info20", "34231452"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "no match: {text}");
    assert!(text.contains("did you mean 0034231452?"), "{text}");

    let out = digis_relay(&db, &["search", "--ext-info20", "34231452", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["verdicts"], serde_json::json!([]));
    assert_eq!(v["did_you_mean"], serde_json::json!(["0034231452"]));

    // The card itself still matches, and suggests nothing.
    let out = digis_relay(&db, &["search", "--ext-info20", "0034231452", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["did_you_mean"], serde_json::json!([]));
}

/// Item 9: `--name 李` folded to `li` and returned the first 50 persons with "li" in their
/// name, never the one named 李.
async fn a_name_in_another_script_finds_its_person(db: TestDb) {
    db.unit(1, "Stamina Centrum").await;
    for id in 1..=60 {
        db.person_with(&Person {
            first_name: Some("Lina".into()),
            last_name: Some(format!("Lindqvist{id}")),
            ..Person::ordinary(id)
        })
        .await;
    }
    db.person_with(&Person {
        first_name: Some("小龍".into()),
        last_name: Some("李".into()),
        ..Person::ordinary(9_000)
    })
    .await;
    db.active_with(863, &[9_000]).await;
    let out = digis_relay(&db, &["search", "--name", "李", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["matched_persons"], serde_json::json!([9000]), "{v:#}");
    assert_eq!(v["persons_truncated"], false);
    // A Latin name is still folded: `lindqvist1` finds persons 1 and 10..19.
    let out = digis_relay(&db, &["search", "--name", "LINDQVIST1", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["matched_persons"].as_array().unwrap().len(), 11, "{v:#}");
}

/// Item 9: the Failures groups changed order on refresh when one grew past another; they come
/// in the order of their keys (unit, then cause), on both databases.
async fn failure_groups_come_in_the_order_of_their_keys(db: TestDb) {
    db.unit(1, "Stamina Centrum").await;
    db.unit(2, "Stamina Lund").await;
    for (id, unit) in [(1, 1), (2, 2)] {
        db.person_with(&Person {
            unit_id: unit,
            ..Person::ordinary(id)
        })
        .await;
    }
    db.active_with(861, &[1]).await;
    db.active_with(862, &[2]).await;
    // Failed rows inserted set-based: two in unit 1, three in unit 2.
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, attempts, last_error, fail_field, fail_rule) \
         SELECT s, p, 'failed', 1, 'x', 'MobileNumber', 'contains a letter' FROM \
         (SELECT 861 AS s, 1 AS p UNION ALL SELECT 861, 1 UNION ALL SELECT 862, 2 \
          UNION ALL SELECT 862, 2 UNION ALL SELECT 862, 2) AS v",
    )
    .await;
    let keys = |groups: &[digis_relay::storage::FailureGroup]| -> Vec<FailureGroupKey> {
        groups.iter().map(|g| g.key.clone()).collect()
    };
    let groups = db.storage().failure_groups(None, 500).await.unwrap();
    let mut sorted = keys(&groups);
    sorted.sort_by(|a, b| a.unit_id.cmp(&b.unit_id).then(a.cause.cmp(&b.cause)));
    assert_eq!(keys(&groups), sorted, "{groups:#?}");
    assert_eq!(
        groups.iter().map(|g| g.rows).collect::<Vec<_>>(),
        [2, 3],
        "{groups:#?}"
    );
}

/// Item 9: the actor read `unknown@host` when `$USER` was unset (a cron job, `env -i`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_is_the_user_ids_name_without_user() {
    let db = TestDb::sqlite().await;
    let me = Command::new("id").arg("-un").output().unwrap();
    let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
    assert!(!me.is_empty());
    let out = crate::common::command()
        .current_dir(db.dir.path())
        .env_remove("USER")
        .env_remove("USERNAME")
        .env_remove("LOGNAME")
        .args([
            "--database-url",
            &db.url,
            "pause",
            "--reason",
            "maintenance",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = digis_relay(&db, &["status", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let by = v["paused_by"].as_str().unwrap_or_default().to_string();
    assert!(by.starts_with(&format!("{me}@")), "{by:?}");
}
