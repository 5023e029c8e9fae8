//! Fix lists for the gyms (issue 13): failed rows grouped by business unit and cause, a group's
//! members, the group retry with its dry run, and `report failures`, on both databases. The
//! failures are made by the real relay against a fake Digis, so the causes are read from the
//! texts the relay really stores.

use digis_relay::domain::{FailureCause, OutboxId, OutboxState, UnitId};
use digis_relay::operator::{self, Actor, Report};
use digis_relay::storage::{FailedQuery, FailureGroup, FailureGroupKey, UnitFilter};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_databases;
use crate::common::{
    all_failed_members, cli_db, config_for, failing_gyms, mobile_group, once, relay, TestDb,
    NOT_MOBILE,
};

fn summary(groups: &[FailureGroup]) -> Vec<(Option<i64>, String, u64)> {
    let mut v: Vec<_> = groups
        .iter()
        .map(|g| (g.key.unit_id, g.key.cause.to_string(), g.rows))
        .collect();
    v.sort();
    v
}

fn person_ids(members: &[digis_relay::storage::FailedMember]) -> Vec<i64> {
    members.iter().map(|m| m.person_id.get()).collect()
}

both_databases!(
    failures_group_by_unit_and_cause,
    group_retry_moves_what_its_dry_run_counted,
    report_failures_writes_the_members_to_a_private_file_only,
);

async fn failures_group_by_unit_and_cause(db: TestDb) {
    failing_gyms(&db).await;
    let s = db.storage();
    let groups = s.failure_groups(None, 100).await.unwrap();
    assert_eq!(
        summary(&groups),
        vec![
            (Some(1), format!("MobileNumber: {NOT_MOBILE}"), 2),
            (Some(1), "other".to_string(), 1),
            (Some(2), "Digis 400: Invalid mobile #".to_string(), 1),
            (
                Some(2),
                "ExtInfo20: card number contains a space".to_string(),
                1
            ),
            (Some(2), format!("MobileNumber: {NOT_MOBILE}"), 1),
        ]
    );
    // In the order of their keys (unit, then cause: a refresh never reorders them as groups
    // grow, issue 25 item 9); names and ages come along.
    assert_eq!(groups[1].key, mobile_group(1));
    assert_eq!(groups[1].unit_name.as_deref(), Some("Stamina Centrum"));
    assert!(groups[1].oldest <= groups[1].newest);
    let west: Vec<_> = groups.iter().filter(|g| g.key.unit_id == Some(2)).collect();
    assert!(west
        .iter()
        .all(|g| g.unit_name.as_deref() == Some("Stamina Väst")));

    // One unit only.
    let only = s.failure_groups(Some(UnitId(2)), 100).await.unwrap();
    assert_eq!(only.len(), 3);
    assert!(only.iter().all(|g| g.key.unit_id == Some(2)));
    // A limit bounds the answer.
    assert_eq!(s.failure_groups(None, 2).await.unwrap().len(), 2);

    // A group's members, with what a gym needs to fix the data.
    let members = s
        .failed_members(&FailedQuery {
            unit: UnitFilter::Is(Some(1)),
            cause: Some(mobile_group(1).cause),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(person_ids(&members), [2, 3]);
    let m = &members[0];
    assert_eq!(m.name.as_deref(), Some("Förnamn2 Efternamn2"));
    assert_eq!(m.card_number.as_deref(), Some("34000002"));
    assert_eq!(m.subscription_id.get(), 863);
    assert_eq!(m.detail, NOT_MOBILE);
    assert_eq!(
        (m.unit_id, m.unit_name.as_deref()),
        (Some(1), Some("Stamina Centrum"))
    );
    assert!(m.member_problem.is_none());
    // Debug output (what could reach a log by accident) leaves the member out.
    let debug = format!("{m:?}");
    assert!(
        !debug.contains("Förnamn") && !debug.contains("34000002"),
        "{debug}"
    );

    // Digis's own words are the row's detail (dashboard and report only).
    let digis = s
        .failed_members(&FailedQuery {
            unit: UnitFilter::Is(Some(2)),
            cause: Some(FailureCause {
                field: None,
                rule: "Digis 400: Invalid mobile #".into(),
            }),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(person_ids(&digis), [6]);
    assert_eq!(digis[0].detail, "Digis 400: Invalid mobile 0701234567");

    // The "other" group is the rows the relay's rules did not write.
    let other = s
        .failed_members(&FailedQuery {
            unit: UnitFilter::Is(Some(1)),
            cause: Some(FailureCause::other()),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(person_ids(&other), [8]);
    assert_eq!(other[0].detail, "MobileNumber: not a valid mobile number");

    // Keyset pages walk every failed row of a unit, in id order.
    let mut q = FailedQuery {
        unit: UnitFilter::Is(Some(2)),
        cause: None,
        after: None,
        limit: 1,
    };
    let mut seen = Vec::new();
    loop {
        let page = s.failed_members(&q).await.unwrap();
        let Some(last) = page.last() else { break };
        q.after = Some(last.id);
        seen.extend(person_ids(&page));
    }
    assert_eq!(seen, [4, 5, 6]);
    let all = all_failed_members(s.as_ref()).await;
    assert_eq!(all.len(), 6);

    // A member removed from the subscription: still listed, without a unit, and said so.
    db.exec("DELETE FROM subscription_user WHERE person_id = 3")
        .await;
    let groups = s.failure_groups(None, 100).await.unwrap();
    assert!(summary(&groups).contains(&(None, format!("MobileNumber: {NOT_MOBILE}"), 1)));
    let gone = s
        .failed_members(&FailedQuery {
            unit: UnitFilter::Is(None),
            cause: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(person_ids(&gone), [3]);
    assert!(gone[0].name.is_none());
    assert!(gone[0]
        .member_problem
        .as_deref()
        .unwrap()
        .contains("no longer a user"));
}

async fn group_retry_moves_what_its_dry_run_counted(db: TestDb) {
    failing_gyms(&db).await;
    let s = db.storage();
    let actor = Actor::named("ann@desk");
    let group = mobile_group(1);
    let dry = operator::retry_failure_group_dry_run(&*s, &group)
        .await
        .unwrap();
    assert_eq!(dry.would_queue, 2);

    // A new row waits for person 3 (queued again meanwhile), so person 3 is not retried.
    db.exec("INSERT INTO digis_outbox (subscription_id, person_id) VALUES (863, 3)")
        .await;
    assert_eq!(
        s.count_failure_group(&group).await.unwrap(),
        1,
        "a member with a row waiting is not counted"
    );
    let report = operator::retry_failure_group(&*s, &actor, &group, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        report.queued.len(),
        1,
        "the retry moves what the dry run counted"
    );
    assert!(report.succeeded());
    assert!(
        report
            .to_string()
            .starts_with("1 row(s) back to pending, due now (unit 1 · MobileNumber"),
        "{report}"
    );
    let id = report.queued[0];
    let row = s.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.person_id.get()),
        (OutboxState::Pending, 0, 2)
    );
    // Recorded like every other retry, with the group.
    let events = s.events(&[id]).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action.to_string(), "retry_failure_group");
    assert_eq!(events[0].actor, "ann@desk");
    let detail = events[0].detail.as_deref().unwrap();
    assert!(
        detail.contains("unit 1") && detail.contains("MobileNumber"),
        "{detail}"
    );
    // Nothing left to move; the other groups are untouched.
    assert_eq!(s.count_failure_group(&group).await.unwrap(), 0);
    let again = operator::retry_failure_group(&*s, &actor, &group, chrono::Utc::now())
        .await
        .unwrap();
    assert!(again.queued.is_empty() && !again.succeeded());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'failed'")
            .await,
        5
    );

    // The gym fixes person 2; person 3 is still a landline and fails again, so person 3 now has
    // two failed rows in the group: only the newest goes back.
    db.exec("UPDATE person SET mobile_number = '070-111 22 33' WHERE id = 2")
        .await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"Success": true, "ExternalId": "TE-2"})),
        )
        .mount(&server)
        .await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    assert_eq!(
        s.outbox_row(id).await.unwrap().unwrap().state,
        OutboxState::Sent
    );
    let groups = s.failure_groups(None, 100).await.unwrap();
    let g = groups.iter().find(|g| g.key == group).unwrap();
    assert_eq!(g.rows, 2, "person 3's old and new failed rows");
    assert_eq!(s.count_failure_group(&group).await.unwrap(), 1);
    let report = operator::retry_failure_group(&*s, &actor, &group, chrono::Utc::now())
        .await
        .unwrap();
    let newest: i64 = db
        .scalar("SELECT MAX(id) FROM digis_outbox WHERE person_id = 3")
        .await;
    assert_eq!(report.queued, [OutboxId(newest)]);

    // The "other" group is retried like any other.
    let other = FailureGroupKey {
        unit_id: Some(1),
        cause: FailureCause::other(),
    };
    assert_eq!(s.count_failure_group(&other).await.unwrap(), 1);
    let r = operator::retry_failure_group(&*s, &actor, &other, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(r.queued.len(), 1);
}

fn read_csv(path: &std::path::Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

async fn report_failures_writes_the_members_to_a_private_file_only(db: TestDb) {
    use std::os::unix::fs::PermissionsExt;
    failing_gyms(&db).await;
    let file = db.dir.path().join("failures.csv");
    // A file of the old temporary name, readable by everyone: neither reused nor touched
    // (the report's temporary file has a name of its own, output::private_file).
    let partial = db.dir.path().join("failures.csv.partial");
    std::fs::write(&partial, "old").unwrap();
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644)).unwrap();

    let out = cli_db(
        &db,
        &["report", "failures", "--csv", file.to_str().unwrap()],
    );
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim(),
        format!("6 rows written to {}", file.display())
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(&partial).unwrap(), "old");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the report holds personal data");
    let rows = read_csv(&file);
    assert_eq!(
        rows[0],
        [
            "person id",
            "card number",
            "name",
            "field",
            "what is wrong",
            "subscription id",
            "unit",
            "failed since",
            "value today"
        ]
    );
    assert_eq!(rows.len(), 7);
    let person = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no row for person {id}: {rows:?}"))
    };
    let p2 = person("2");
    assert_eq!(
        p2[..7],
        [
            "2",
            "34000002",
            "Förnamn2 Efternamn2",
            "MobileNumber",
            NOT_MOBILE,
            "863",
            "Stamina Centrum (1)"
        ]
    );
    assert!(
        p2[7].starts_with("20") && p2[7].ends_with('Z'),
        "{:?}",
        p2[7]
    );
    // The value that broke the rule, as the member row holds it now (issue 25 item 6).
    assert_eq!(p2[8], "mobile_number today: 08-123 456 78");
    assert_eq!(person("5")[8], "card_number today: 3400 0005");
    assert_eq!(person("6")[8], "", "Digis's rejection names no column");
    assert_eq!(person("5")[3], "ExtInfo20");
    assert!(person("5")[4].starts_with("card number contains a space at character 5"));
    assert_eq!(person("6")[3], "");
    assert_eq!(person("6")[4], "Digis 400: Invalid mobile 0701234567");
    assert_eq!(person("6")[6], "Stamina Väst (2)");

    // One gym's list.
    let west = db.dir.path().join("west.csv");
    let out = cli_db(
        &db,
        &[
            "report",
            "failures",
            "--unit",
            "2",
            "--csv",
            west.to_str().unwrap(),
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stderr.starts_with("3 rows written"), "{}", out.stderr);
    let rows = read_csv(&west);
    let mut ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["4", "5", "6"]);

    // Without a file: the groups and their counts, and no member's data.
    let out = cli_db(&db, &["report", "failures"]);
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("Stamina Centrum (1)"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("2  MobileNumber: {NOT_MOBILE}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("6 failed row(s) in 5 group(s)"),
        "{}",
        out.stdout
    );
    for personal in ["Förnamn", "Efternamn", "34000002", "0701234567"] {
        assert!(
            !out.stdout.contains(personal) && !out.stderr.contains(personal),
            "{personal} printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let out = cli_db(&db, &["report", "failures", "--unit", "2"]);
    assert!(
        out.stdout.contains("3 failed row(s) in 3 group(s)") && !out.stdout.contains("Centrum"),
        "{}",
        out.stdout
    );
    // Not to standard output, whatever is asked.
    let out = cli_db(&db, &["report", "failures", "--csv", "-"]);
    assert!(!out.ok);
    assert!(
        out.stderr.contains("written to a file only"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("Förnamn"));
    // The sync log never saw a name either.
    let logs = std::fs::read_to_string(db.dir.path().join("logs/scheduler_digis_sync.txt"))
        .unwrap_or_default();
    assert!(!logs.is_empty() && !logs.contains("Förnamn"), "{logs}");
}
