//! The counts by state (`Storage::counts`, the dashboard's header, `status`, `/metrics`) read
//! from digis_outbox_count and its triggers (migration 0015, docs/decisions/0046-outbox-counts.md)
//! instead of a GROUP BY over the outbox: after every kind of write, by the relay, the operator,
//! the host and a person with a SQL shell, they must equal that GROUP BY.
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};
use digis_relay::storage::{
    AttemptRecord, ClaimedRow, Completion, CompletionItem, Counts, Unconfirmed,
};
use tokio_util::sync::CancellationToken;

use crate::both_databases;
use crate::common::{self, Kind, TestDb};

both_databases!(
    counts_stay_exact_through_every_write,
    counts_stay_exact_while_two_relays_drain_and_the_host_saves,
    migration_0015_counts_the_rows_already_there,
);

/// The counts as a GROUP BY over the table says them.
async fn truth(db: &TestDb) -> Counts {
    let mut c = Counts::default();
    for state in OutboxState::ALL {
        let n = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM digis_outbox WHERE state = '{state}'"
            ))
            .await;
        c.set(state, n as u64);
    }
    c
}

/// `counts` equals the GROUP BY, before and after a fold (PostgreSQL adds deltas up until
/// then), and returns them.
async fn exact(db: &TestDb, after: &str) -> Counts {
    let s = db.storage();
    let want = truth(db).await;
    assert_eq!(s.counts().await.unwrap(), want, "after {after}");
    s.fold_counts().await.unwrap();
    assert_eq!(s.counts().await.unwrap(), want, "after {after}, folded");
    want
}

fn attempt() -> AttemptRecord {
    AttemptRecord {
        started_at: Utc::now(),
        duration_ms: 3,
        relay_id: "r".into(),
        http_status: Some(200),
        error: None,
    }
}

fn item(row: &ClaimedRow, completion: Completion) -> CompletionItem {
    CompletionItem::new(row, completion, attempt())
}

async fn claim(db: &TestDb, relay: &str, limit: u32) -> Vec<ClaimedRow> {
    common::claim_rows(
        db.storage.as_ref(),
        relay,
        limit,
        Duration::from_secs(60),
        Utc::now(),
    )
    .await
}

async fn ids_in(db: &TestDb, state: &str) -> Vec<OutboxId> {
    common::all_rows(db)
        .await
        .iter()
        .filter(|r| r.state.as_str() == state)
        .map(|r| r.id)
        .collect()
}

async fn counts_stay_exact_through_every_write(db: TestDb) {
    let s = db.storage();
    let c = exact(&db, "migrating an empty outbox").await;
    assert_eq!(c, Counts::default());

    // The host's saves queue pending rows (the count reads them live).
    for sub in 1..=30 {
        db.active_with(sub, &[sub]).await;
    }
    let c = exact(&db, "the host's saves").await;
    assert_eq!((c.pending, c.total()), (30, 30));

    // Two relays claim; one completes a group of every outcome and gives a row back.
    let a = claim(&db, "relay-a", 12).await;
    let b = claim(&db, "relay-b", 6).await;
    assert_eq!((a.len(), b.len()), (12, 6));
    let c = exact(&db, "two claims").await;
    assert_eq!((c.pending, c.sending), (12, 18));
    let now = Utc::now();
    let later = now + chrono::Duration::minutes(5);
    let mut group = Vec::new();
    for row in &a[..6] {
        group.push(item(
            row,
            Completion::Sent {
                external_id: Some(format!("DG-{}", row.row.id.0)),
            },
        ));
    }
    for row in &a[6..9] {
        group.push(item(
            row,
            Completion::Failed {
                cause: digis_relay::domain::FailureCause::other(),
            },
        ));
    }
    group.push(item(
        &a[9],
        Completion::Discarded {
            reason: "subscription is ENDED".into(),
        },
    ));
    group.push(item(
        &a[10],
        Completion::Retry {
            next_attempt_at: later,
        },
    ));
    let released = [common::given_back(&a[11])];
    s.complete_group(&group, &released, now).await.unwrap();
    let c = exact(&db, "a completion group").await;
    assert_eq!(
        (c.pending, c.sending, c.sent, c.failed, c.discarded),
        (14, 6, 6, 3, 1)
    );
    // The other relay's rows: released, and a lease renewal that changes no state.
    s.renew_lease(
        &b.iter().map(common::given_back).collect::<Vec<_>>(),
        now + chrono::Duration::minutes(2),
    )
    .await
    .unwrap();
    exact(&db, "a lease renewal").await;
    s.release(&b.iter().map(common::given_back).collect::<Vec<_>>(), now)
        .await
        .unwrap();
    let c = exact(&db, "a release").await;
    assert_eq!((c.pending, c.sending), (20, 0));

    // The operator: retry the failed rows, discard some pending ones.
    let failed = ids_in(&db, "failed").await;
    let retried = s
        .retry(&failed, "test", now, Unconfirmed::Include)
        .await
        .unwrap();
    assert_eq!(retried.len(), 3);
    let c = exact(&db, "retry").await;
    assert_eq!((c.failed, c.pending), (0, 23));
    let pending = ids_in(&db, "pending").await;
    let discarded = s
        .discard(&pending[..4], "a person said so", "test", now)
        .await
        .unwrap();
    assert_eq!(discarded.len(), 4);
    let c = exact(&db, "discard").await;
    assert_eq!((c.discarded, c.pending), (5, 19));

    // A failed row whose pair is resent and then accepted: the resend queues a row, the
    // completion sends it and supersedes the failure (failed to discarded in one commit).
    let row = claim(&db, "relay-a", 1).await.remove(0);
    let pair = (row.row.subscription_id, row.row.person_id);
    s.complete(
        &row,
        &Completion::Failed {
            cause: digis_relay::domain::FailureCause::other(),
        },
        &attempt(),
        now,
    )
    .await
    .unwrap();
    exact(&db, "a failure").await;
    let resent = s
        .resend(
            SubscriptionId(pair.0 .0),
            Some(PersonId(pair.1 .0)),
            "test",
            now,
        )
        .await
        .unwrap();
    assert_eq!(resent.len(), 1);
    exact(&db, "resend").await;
    let mut got = claim(&db, "relay-a", 100).await;
    let i = got
        .iter()
        .position(|r| r.row.id == resent[0])
        .expect("the resent row is due");
    let again = got.remove(i);
    s.release(&got.iter().map(common::given_back).collect::<Vec<_>>(), now)
        .await
        .unwrap();
    s.complete(
        &again,
        &Completion::Sent {
            external_id: Some("DG-again".into()),
        },
        &attempt(),
        now,
    )
    .await
    .unwrap();
    let c = exact(&db, "a sent row superseding a failure").await;
    assert_eq!(c.failed, 0, "the failure was superseded");

    // A person with a SQL shell: rows inserted in any state, changed and deleted by hand.
    db.exec(
        "INSERT INTO digis_outbox (subscription_id, person_id, state) \
         VALUES (901, 1, 'sent'), (902, 1, 'failed'), (903, 1, 'discarded'), (904, 1, 'pending')",
    )
    .await;
    exact(&db, "inserts by hand").await;
    db.exec("UPDATE digis_outbox SET state = 'failed' WHERE subscription_id IN (901, 904)")
        .await;
    exact(&db, "an update by hand").await;
    db.exec("UPDATE digis_outbox SET state = state, attempts = attempts + 1")
        .await;
    exact(&db, "an update by hand that changes no state").await;
    db.exec("DELETE FROM digis_outbox WHERE subscription_id IN (902, 903)")
        .await;
    exact(&db, "a delete by hand").await;

    // Prune deletes sent and discarded rows (and the events; none are older here).
    let pruned = s
        .prune(Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert!(pruned > 0);
    let c = exact(&db, "prune").await;
    assert_eq!((c.sent, c.discarded), (0, 0));

    // Everything at once: TRUNCATE on PostgreSQL fires no delete trigger of its own.
    match db.kind {
        Kind::Postgres => db.exec("TRUNCATE digis_outbox CASCADE").await,
        Kind::Sqlite => db.exec("DELETE FROM digis_outbox").await,
    }
    assert_eq!(exact(&db, "emptying the table").await, Counts::default());
}

/// Several relays claim, complete and fold (their heartbeats, every 50 ms) at once while the
/// host keeps saving: the counts at the end are the GROUP BY's, every member sent once.
async fn counts_stay_exact_while_two_relays_drain_and_the_host_saves(db: TestDb) {
    const MEMBERS: i64 = 120;
    // The first two requests are retried (503), the next seven fail for good (400).
    let fake = common::fake(&["status=503,times=2", "status=400,times=7"]).await;
    for sub in 1..=MEMBERS / 2 {
        db.active_with(sub, &[sub]).await;
    }
    let relays: Vec<_> = ["count-a", "count-b"]
        .iter()
        .map(|id| {
            let mut cfg = common::config_for(&fake.base_url(), &db);
            cfg.relay.relay_id = id.to_string();
            cfg.relay.heartbeat_ms = 50;
            cfg.relay.batch_size = 7;
            cfg.relay.concurrency = 3;
            common::relay(&db, cfg)
        })
        .collect();
    let stop = CancellationToken::new();
    let run = |i: usize| {
        let stop = stop.clone();
        let r = &relays[i];
        async move { r.run(stop, false).await.unwrap() }
    };
    let host = async {
        for sub in MEMBERS / 2 + 1..=MEMBERS {
            db.active_with(sub, &[sub]).await;
        }
        common::eventually(
            "every member sent or failed",
            Duration::from_secs(60),
            || async {
                let c = truth(&db).await;
                (c.sent + c.failed == MEMBERS as u64).then_some(())
            },
        )
        .await;
        stop.cancel();
    };
    tokio::join!(run(0), run(1), host);
    let c = exact(&db, "two relays' drain beside the host's saves").await;
    assert_eq!(
        (c.sent, c.failed, c.total()),
        (MEMBERS as u64 - 7, 7, MEMBERS as u64)
    );
    assert_eq!(fake.accepted().len() as u64, c.sent);
    assert_eq!(fake.duplicates(), 0, "a member was accepted twice");
}

/// A database with rows in every state before migration 0015: the migration counts them, and
/// the triggers go on from there.
async fn migration_0015_counts_the_rows_already_there(db: TestDb) {
    let kind = db.kind;
    let db = TestDb::migrated_before(kind, 15).await;
    let states = ["pending", "sending", "sent", "failed", "discarded"];
    for (i, state) in states.iter().cycle().take(23).enumerate() {
        db.exec(&format!(
            "INSERT INTO digis_outbox (subscription_id, person_id, state) VALUES ({i}, 1, '{state}')"
        ))
        .await;
    }
    db.storage.migrate(false).await.expect("migrate to the end");
    let c = exact(&db, "migration 0015").await;
    assert_eq!(
        (c.pending, c.sending, c.sent, c.failed, c.discarded),
        (5, 5, 5, 4, 4)
    );
    db.exec("UPDATE digis_outbox SET state = 'sent' WHERE state = 'failed'")
        .await;
    let c = exact(&db, "an update after the migration").await;
    assert_eq!((c.sent, c.failed), (9, 0));
}
