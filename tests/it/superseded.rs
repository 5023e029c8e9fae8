//! Fix lists that shrink (issue 25 item 5): when Digis accepts a pair, the pair's earlier
//! `failed` rows become `discarded` ("superseded by outbox N") in the completion's own
//! transaction, so `report failures`, the Failures view, `status` and the metrics count only
//! what still needs a person. Migration 0011 does the same for rows failed before it. Both
//! databases; the support day itself through the real binary.
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use digis_relay::domain::FailureCause;
use digis_relay::domain::{OutboxState, PersonId, SubscriptionId};
use digis_relay::storage::{CompleteResult, Completion, CompletionItem};

use crate::both_databases;
use crate::common::{
    all_failed_members, fake, refuse_the_pair_of_person_2, relay_config, with_config, Kind, Out,
    Person, TestDb,
};

/// The time just past every row's due time, in the stored times' precision, and what
/// `relay-a` claims then.
async fn claim_everything_due(
    db: &TestDb,
) -> (chrono::DateTime<Utc>, Vec<digis_relay::storage::ClaimedRow>) {
    let t0 = (Utc::now() + chrono::Duration::seconds(1)).trunc_subsecs(3);
    let claimed = db
        .storage
        .claim("relay-a", 10, Duration::from_secs(30), t0)
        .await
        .unwrap();
    (t0, claimed)
}

/// A Stockholm landline: a valid number, but not a mobile one.
const LANDLINE: &str = "08-123 456 78";

fn bin(config: &std::path::Path, args: &[&str]) -> Out {
    Out::of(with_config(config).args(args))
}

/// (state, reason) of every outbox row, by id.
async fn states(db: &TestDb) -> Vec<(i64, OutboxState, Option<String>)> {
    crate::common::all_rows(db)
        .await
        .into_iter()
        .map(|r| (r.id.0, r.state, r.reason))
        .collect()
}

both_databases!(
    a_member_fixed_and_sent_leaves_every_fix_list,
    only_earlier_failed_rows_of_the_accepted_pair_are_superseded,
    rows_written_one_by_one_supersede_too,
    migration_0011_supersedes_rows_failed_before_it,
);

/// The support day: a landline fails; the gym fixes the number and saves; the fresh row is
/// sent. The old failed row then leaves `report failures` (text and CSV), the Failures view,
/// `status --json` and `digis_outbox_depth{state="failed"}`.
async fn a_member_fixed_and_sent_leaves_every_fix_list(db: TestDb) {
    let mut p = Person::ordinary(1);
    p.mobile_number = Some(LANDLINE.into());
    db.person_with(&p).await;
    db.person(2).await;
    db.active_with(863, &[1, 2]).await;
    let fake = fake(&[]).await;
    let config = relay_config(&db, "relay", &fake.base_url(), "");

    let run = bin(&config, &["run", "--once"]);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    let failed_id = db
        .scalar("SELECT id FROM digis_outbox WHERE person_id = 1 AND state = 'failed'")
        .await;
    let report = bin(&config, &["report", "failures"]);
    assert!(
        report.stdout.contains("1 failed row(s)"),
        "the landline is on the fix list first: {}",
        report.stdout
    );

    // The gym fixes the number and saves the subscription: a fresh row is queued and sent.
    db.exec("UPDATE person SET mobile_number = '070-123 45 67' WHERE id = 1")
        .await;
    db.save(863).await;
    let run = bin(&config, &["run", "--once"]);
    assert_eq!(run.status.code(), Some(0), "{}\n{}", run.stdout, run.stderr);
    let sent_id = db
        .scalar("SELECT id FROM digis_outbox WHERE person_id = 1 AND state = 'sent'")
        .await;
    assert!(sent_id > failed_id);
    let rows = states(&db).await;
    let old = rows.iter().find(|r| r.0 == failed_id).unwrap();
    assert_eq!(
        (old.1, old.2.as_deref()),
        (
            OutboxState::Discarded,
            Some(format!("superseded by outbox {sent_id}").as_str())
        ),
        "{rows:?}"
    );

    // `report failures`, as text and as CSV.
    let report = bin(&config, &["report", "failures"]);
    assert_eq!(report.status.code(), Some(0), "{}", report.stderr);
    assert_eq!(report.stdout.trim(), "no failed rows", "{}", report.stdout);
    let csv = db.dir.path().join("failures.csv");
    let report = bin(
        &config,
        &["report", "failures", "--csv", csv.to_str().unwrap()],
    );
    assert_eq!(report.status.code(), Some(0), "{}", report.stderr);
    assert!(
        report.stderr.starts_with("0 rows written"),
        "{}",
        report.stderr
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1, "the header only:\n{text}");

    // `status --json` counts (exit 1 is fine: no relay runs now).
    let status = bin(&config, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", status.stdout, status.stderr));
    assert_eq!(json["counts"]["failed"], 0, "{json}");
    assert_eq!(json["counts"]["discarded"], 1, "{json}");
    assert_eq!(json["counts"]["sent"], 2, "{json}");

    // The metric and the dashboard's Failures view read the same storage.
    let metrics = digis_relay::metrics::Metrics::new()
        .render(&*db.storage())
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "digis_outbox_depth{state=\"failed\"} 0"),
        "{metrics}"
    );
    let s = db.storage();
    assert!(s.failure_groups(None, 100).await.unwrap().is_empty());
    let members = all_failed_members(s.as_ref()).await;
    assert!(members.is_empty(), "{members:?}");

    // Search still tells the whole story: sent.
    let search = bin(&config, &["search", "--ext-info1", "863", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&search.stdout).unwrap();
    let verdicts = json["verdicts"].as_array().unwrap();
    assert!(verdicts.iter().all(|v| v["verdict"] == "sent"), "{json}");
}

/// What is superseded: the accepted pair's failed rows older than the sent row, nothing of a
/// pair that failed again, and nothing of a failure after an earlier acceptance (a failed
/// resend still needs a person).
async fn only_earlier_failed_rows_of_the_accepted_pair_are_superseded(db: TestDb) {
    use crate::common::{config_for, once, relay};
    for id in 1..=3 {
        let mut p = Person::ordinary(id);
        if id != 3 {
            p.mobile_number = Some(LANDLINE.into());
        }
        db.person_with(&p).await;
    }
    db.active_with(863, &[1, 2, 3]).await;
    let fake = fake(&[]).await;
    let cfg = || config_for(&fake.base_url(), &db);
    once(&relay(&db, cfg())).await;
    // Person 3 is sent; a resend of person 3 then fails (the number broke meanwhile).
    db.exec("UPDATE person SET mobile_number = '08-555 123 45' WHERE id = 3")
        .await;
    let queued = db
        .storage
        .resend(
            SubscriptionId(863),
            Some(PersonId(3)),
            "ann@desk",
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    once(&relay(&db, cfg())).await;
    // Only person 1 is fixed; persons 1 and 2 are saved again.
    db.exec("UPDATE person SET mobile_number = '070-123 45 67' WHERE id = 1")
        .await;
    db.save(863).await;
    once(&relay(&db, cfg())).await;

    let rows = crate::common::all_rows(&db).await;
    let of = |person: i64| -> Vec<(OutboxState, Option<String>)> {
        rows.iter()
            .filter(|r| r.person_id.0 == person)
            .map(|r| (r.state, r.reason.clone()))
            .collect()
    };
    let sent1 = rows
        .iter()
        .find(|r| r.person_id.0 == 1 && r.state == OutboxState::Sent)
        .unwrap()
        .id;
    assert_eq!(
        of(1),
        [
            (
                OutboxState::Discarded,
                Some(format!("superseded by outbox {sent1}"))
            ),
            (OutboxState::Sent, None),
        ]
    );
    assert_eq!(
        of(2),
        [(OutboxState::Failed, None), (OutboxState::Failed, None)],
        "failed twice, never accepted: both stay on the list"
    );
    let p3: Vec<OutboxState> = of(3).into_iter().map(|r| r.0).collect();
    assert_eq!(
        p3,
        [OutboxState::Sent, OutboxState::Failed],
        "a failure after the acceptance stays"
    );
    assert_eq!(db.storage.counts().await.unwrap().failed, 3);
}

/// The completion written one row at a time (issue 24's fallback, here because the host
/// refuses person 2's `digis` row) supersedes as the set-based one does: person 2's row is
/// `sent` (Digis has the member) even though `digis` could not take the pair.
async fn rows_written_one_by_one_supersede_too(db: TestDb) {
    db.active_with(1, &[1, 2, 3]).await;
    for person in [1, 2, 3] {
        db.exec(&format!(
            "UPDATE digis_outbox SET state = 'failed', attempts = 1, \
             last_error = 'person {person} (subscription 1): MobileNumber: not a mobile number for region SE' \
             WHERE person_id = {person}"
        ))
        .await;
    }
    db.save(1).await;
    refuse_the_pair_of_person_2(&db).await;
    let s = db.storage();
    let (t0, claimed) = claim_everything_due(&db).await;
    assert_eq!(claimed.len(), 3);
    let of = |person: i64| {
        claimed
            .iter()
            .find(|c| c.row.person_id.0 == person)
            .unwrap()
    };
    let attempt = digis_relay::storage::AttemptRecord {
        started_at: t0,
        duration_ms: 7,
        relay_id: "relay-a".into(),
        http_status: Some(200),
        error: None,
    };
    let items: Vec<CompletionItem> = [1, 2]
        .iter()
        .map(|p| {
            CompletionItem::new(
                of(*p),
                Completion::Sent {
                    external_id: Some(format!("TE-{p}")),
                },
                attempt.clone(),
            )
        })
        .chain(std::iter::once(CompletionItem::new(
            of(3),
            Completion::Failed {
                cause: FailureCause::payload_field(
                    "MobileNumber",
                    "not a mobile number for region SE",
                ),
            },
            digis_relay::storage::AttemptRecord {
                error: Some(
                    "person 3 (subscription 1): MobileNumber: not a mobile number for region SE"
                        .into(),
                ),
                http_status: None,
                ..attempt.clone()
            },
        )))
        .collect();
    let results = s.complete_group(&items, &[], t0).await.unwrap();
    assert_eq!(results[0], CompleteResult::Applied);
    assert!(
        matches!(results[1], CompleteResult::SentWithoutDigis(_)),
        "{:?}",
        results[1]
    );
    let rows = states(&db).await;
    for person in [1i64, 2] {
        let sent = of(person).row.id.0;
        let old = db
            .scalar(&format!(
                "SELECT MIN(id) FROM digis_outbox WHERE person_id = {person}"
            ))
            .await;
        let r = rows.iter().find(|r| r.0 == old).unwrap();
        assert_eq!(
            (r.1, r.2.clone()),
            (
                OutboxState::Discarded,
                Some(format!("superseded by outbox {sent}"))
            ),
            "person {person}: {rows:?}"
        );
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE person_id = 3 AND state = 'failed'")
            .await,
        2,
        "a row that failed again supersedes nothing"
    );
}

/// Rows failed before migration 0011 (by a relay without this fix): a failed row whose pair
/// has a later `sent` row is superseded by the first such row; every other failed row stays,
/// among them one whose pair is only in `digis` (the host writes that table, and it cannot say
/// whether the acceptance came before or after the failure).
async fn migration_0011_supersedes_rows_failed_before_it(db: TestDb) {
    let kind = db.kind;
    let db = TestDb::migrated_before(kind, 11).await;
    // (subscription, person, the states of the pair's rows): the ids count from 1 down the list.
    let pairs: [(i64, i64, &[&str]); 6] = [
        (1, 1, &["failed", "sent"]),                   // 1, 2
        (1, 2, &["failed", "failed", "sent", "sent"]), // 3 to 6
        (1, 3, &["sent", "failed"]),                   // 7, 8
        (1, 4, &["failed"]),                           // 9
        (2, 1, &["failed", "discarded"]),              // 10, 11
        (2, 2, &["failed", "pending"]),                // 12, 13
    ];
    let rows = pairs
        .iter()
        .flat_map(|&(sub, person, states)| states.iter().map(move |&state| (sub, person, state)));
    let overriding = match kind {
        Kind::Sqlite => "",
        Kind::Postgres => "OVERRIDING SYSTEM VALUE",
    };
    for (id, (sub, person, state)) in (1..).zip(rows) {
        db.exec(&format!(
            "INSERT INTO digis_outbox (id, subscription_id, person_id, state) {overriding} \
             VALUES ({id}, {sub}, {person}, '{state}')"
        ))
        .await;
    }
    db.exec("INSERT INTO digis (subscription_id, person_id, external_id) VALUES (1, 4, 'TE-4')")
        .await;

    db.storage.migrate(false).await.expect("migrate to the end");

    let got = states(&db).await;
    let expected: Vec<(i64, OutboxState, Option<String>)> = [
        (1, "discarded", Some(2)),
        (2, "sent", None),
        (3, "discarded", Some(5)),
        (4, "discarded", Some(5)),
        (5, "sent", None),
        (6, "sent", None),
        (7, "sent", None),
        (8, "failed", None),
        (9, "failed", None),
        (10, "failed", None),
        (11, "discarded", None),
        (12, "failed", None),
        (13, "pending", None),
    ]
    .into_iter()
    .map(|(id, state, by)| {
        (
            id,
            state.parse().unwrap(),
            by.map(|n| format!("superseded by outbox {n}")),
        )
    })
    .collect();
    assert_eq!(got, expected);
    assert_eq!(db.storage.counts().await.unwrap().failed, 4);
}

/// PostgreSQL: the completion never waits for a failed row another transaction holds. It
/// already holds its sending rows and the pairs' `digis` keys; an operator's `discard` of
/// several failed rows holds the first while it waits for the next, so a completion waiting
/// here could deadlock with it. The held row is skipped (the operator is changing it); the
/// others are superseded, and the completion commits at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_completion_skips_a_failed_row_an_operator_holds() {
    use sqlx::{Connection, Executor};
    let db = TestDb::postgres().await;
    db.active_with(1, &[1, 2]).await;
    db.exec("UPDATE digis_outbox SET state = 'failed', attempts = 1")
        .await;
    let failed = |person: i64| {
        let db = &db;
        async move {
            db.scalar(&format!(
                "SELECT id FROM digis_outbox WHERE person_id = {person} AND state = 'failed'"
            ))
            .await
        }
    };
    let (old1, old2) = (failed(1).await, failed(2).await);
    db.save(1).await;
    let s = db.storage();
    let (t0, claimed) = claim_everything_due(&db).await;
    assert_eq!(claimed.len(), 2);

    let mut operator = sqlx::PgConnection::connect(&db.url).await.unwrap();
    operator.execute("BEGIN").await.unwrap();
    operator
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE digis_outbox SET updated_at = updated_at WHERE id = {old2}"
        )))
        .await
        .unwrap();

    let items: Vec<CompletionItem> = claimed
        .iter()
        .map(|c| {
            CompletionItem::new(
                c,
                Completion::Sent {
                    external_id: Some(format!("TE-{}", c.row.person_id)),
                },
                digis_relay::storage::AttemptRecord {
                    started_at: t0,
                    duration_ms: 7,
                    relay_id: "relay-a".into(),
                    http_status: Some(200),
                    error: None,
                },
            )
        })
        .collect();
    let results = tokio::time::timeout(Duration::from_secs(20), s.complete_group(&items, &[], t0))
        .await
        .expect("the completion waited for the operator's lock")
        .unwrap();
    assert!(
        results.iter().all(|r| *r == CompleteResult::Applied),
        "{results:?}"
    );
    operator.execute("ROLLBACK").await.unwrap();

    let state = |id: i64| {
        let db = &db;
        async move {
            let rows = states(db).await;
            let r = rows.into_iter().find(|r| r.0 == id).unwrap();
            (r.1, r.2)
        }
    };
    let sent1 = claimed
        .iter()
        .find(|c| c.row.person_id.0 == 1)
        .unwrap()
        .row
        .id;
    assert_eq!(
        state(old1).await,
        (
            OutboxState::Discarded,
            Some(format!("superseded by outbox {sent1}"))
        )
    );
    assert_eq!(
        state(old2).await.0,
        OutboxState::Failed,
        "held by the operator at the time: skipped"
    );
}
