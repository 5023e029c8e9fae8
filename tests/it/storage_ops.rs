//! The storage trait against both databases: claims, leases, completions, operator actions,
//! listing and lookups.
use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use digis_relay::domain::{
    CardNumber, FailureCause, OutboxId, OutboxState, PausedBy, PersonId, RelayState, SubscriptionId,
};
use digis_relay::storage::{
    AttemptRecord, ClaimedRow, CompleteResult, Completion, CompletionItem, ListQuery, PersonFilter,
    RelayInfo,
};

use crate::both_databases;
use crate::common::TestDb;

/// A failure of no group in particular.
fn failed_other() -> Completion {
    Completion::Failed {
        cause: FailureCause::other(),
    }
}

fn attempt(relay: &str) -> AttemptRecord {
    AttemptRecord {
        started_at: Utc::now(),
        duration_ms: 3,
        relay_id: relay.into(),
        http_status: Some(200),
        error: None,
    }
}

/// Up to `limit` rows claimed by `relay` for a minute as of `now`.
async fn claim_for_a_minute(
    db: &TestDb,
    relay: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Vec<ClaimedRow> {
    crate::common::claim_rows(
        db.storage.as_ref(),
        relay,
        limit,
        Duration::from_secs(60),
        now,
    )
    .await
}

/// `row` completed as `completion` by `relay` with an ordinary attempt.
async fn complete_by(
    db: &TestDb,
    row: &ClaimedRow,
    completion: Completion,
    relay: &str,
    now: DateTime<Utc>,
) -> CompleteResult {
    db.storage
        .complete(row, &completion, &attempt(relay), now)
        .await
        .unwrap()
}

/// `row` sent, with Digis's id `external_id` when there is one.
fn sent(external_id: Option<&str>) -> Completion {
    Completion::Sent {
        external_id: external_id.map(Into::into),
    }
}

both_databases!(
    claim_hands_out_rows_with_their_member,
    concurrent_claimers_never_share_a_row,
    lease_renewal_and_completions_never_deadlock,
    expired_lease_is_claimed_again_and_stale_completion_refused,
    retry_and_released_and_attempt_history,
    operator_retry_discard_resend,
    pause_resume_and_sync_reconcile,
    counts_listing_and_lookups,
    removed_user_claims_with_no_member,
    prune_removes_only_old_finished_rows,
    relay_rows_round_trip_and_unknown_states_read_back,
    persons_matching_narrows_and_pages_by_id,
    pairs_of_persons_come_from_users_rows_and_digis,
    unconfirmed_rows_and_their_pause_wait_for_an_operator,
);

async fn claim_hands_out_rows_with_their_member(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    let claimed = claim_for_a_minute(&db, "relay-a", 10, Utc::now()).await;
    assert_eq!(claimed.len(), 2);
    for c in &claimed {
        assert_eq!(c.row.state, OutboxState::Sending);
        assert_eq!(c.row.attempts, 1);
        assert_eq!(c.row.locked_by.as_deref(), Some("relay-a"));
        let m = c.member.as_ref().expect("member from the view");
        assert_eq!(m.person_id, c.row.person_id.0);
        assert_eq!(
            m.card_number.as_deref(),
            Some(format!("{}", 34_000_000 + m.person_id).as_str())
        );
        assert!(m.is_active());
        assert!(c.synced.is_none());
    }
    // Nothing left to claim.
    assert!(claim_for_a_minute(&db, "relay-b", 10, Utc::now())
        .await
        .is_empty());
}

/// `subscriptions` ACTIVE subscriptions of 10 users each, in one batch: the triggers queue one
/// pending row per user.
async fn queue_subscriptions_of_ten(db: &TestDb, subscriptions: i64) {
    let mut sql = String::from("INSERT INTO business_unit (id, name) VALUES (1, 'U');");
    for p in 1..=subscriptions * 10 {
        sql.push_str(&format!(
            "INSERT INTO person (id, unit_id, mobile_number, card_number) VALUES ({p}, 1, '0701234567', '{p}');"
        ));
    }
    for s in 1..=subscriptions {
        sql.push_str(&format!("INSERT INTO subscription (id, status, start_date) VALUES ({s}, 'ACTIVE', '2026-01-01');"));
        for u in 0..10 {
            sql.push_str(&format!(
                "INSERT INTO subscription_user (subscription_id, person_id) VALUES ({s}, {});",
                (s - 1) * 10 + u + 1
            ));
        }
    }
    db.exec(&sql).await;
}

async fn concurrent_claimers_never_share_a_row(db: TestDb) {
    // 1,000 rows: 100 subscriptions of 10 users each.
    queue_subscriptions_of_ten(&db, 100).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'pending'")
            .await,
        1000
    );

    let mut tasks = Vec::new();
    for i in 0..4 {
        let s = db.storage();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = crate::common::claim_rows(
                    s.as_ref(),
                    &format!("claimer-{i}"),
                    25,
                    Duration::from_secs(60),
                    Utc::now(),
                )
                .await;
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|c| c.row.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut per_claimer = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        per_claimer.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<OutboxId> = all.iter().copied().collect();
    assert_eq!(all.len(), 1000, "claims per claimer: {per_claimer:?}");
    assert_eq!(unique.len(), 1000, "a row was handed to two claimers");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'sending' AND attempts = 1")
            .await,
        1000
    );
}

/// The relay renews every held row's lease in one statement while its completer commits groups
/// of the same rows. On PostgreSQL the two once locked rows in opposite orders and deadlocked
/// (seen in the 20 ms drain bench: "deadlock detected", the completion held, and `run --once`
/// ended with most rows still due). Each round here renews all rows in descending id order
/// while groups complete in ascending order, as the two statements' plans did.
async fn lease_renewal_and_completions_never_deadlock(db: TestDb) {
    queue_subscriptions_of_ten(&db, 60).await;
    let s = db.storage();
    let lease = Duration::from_secs(60);
    let mut claimed = s.claim("relay-a", 600, lease, Utc::now()).await.unwrap();
    assert_eq!(claimed.len(), 600);
    claimed.sort_by_key(|c| c.row.id.0);
    let mut held: Vec<(OutboxId, String)> = claimed
        .iter()
        .map(|c| (c.row.id, c.claim_token.clone()))
        .collect();
    held.reverse();
    for (round, group) in claimed.chunks(20).enumerate() {
        let items: Vec<CompletionItem> = group
            .iter()
            .map(|c| {
                CompletionItem::new(
                    c,
                    Completion::Sent {
                        external_id: Some(format!("x{}", c.row.id.0)),
                    },
                    attempt("relay-a"),
                )
            })
            .collect();
        let renew = {
            let s = s.clone();
            let held = held.clone();
            tokio::spawn(async move {
                s.renew_lease(&held, Utc::now() + chrono::Duration::seconds(60))
                    .await
            })
        };
        let complete = {
            let s = s.clone();
            tokio::spawn(async move { s.complete_group(&items, &[], Utc::now()).await })
        };
        let (renewed, completed) = (renew.await.unwrap(), complete.await.unwrap());
        renewed.unwrap_or_else(|e| panic!("round {round}: renewal: {e}"));
        let results = completed.unwrap_or_else(|e| panic!("round {round}: completion: {e}"));
        assert!(
            results.iter().all(|r| *r == CompleteResult::Applied),
            "round {round}: {results:?}"
        );
        held.retain(|(id, _)| !group.iter().any(|c| c.row.id == *id));
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'sent'")
            .await,
        600
    );
}

async fn expired_lease_is_claimed_again_and_stale_completion_refused(db: TestDb) {
    db.active_with(5, &[1]).await;
    let s = db.storage();
    let t0 = Utc::now();
    let a = crate::common::claim_rows(s.as_ref(), "relay-a", 10, Duration::from_secs(30), t0).await;
    assert_eq!(a.len(), 1);
    // Within the lease nobody else gets it.
    assert!(crate::common::claim_rows(
        s.as_ref(),
        "relay-b",
        10,
        Duration::from_secs(30),
        t0 + chrono::Duration::seconds(10)
    )
    .await
    .is_empty());
    // After it expired, relay-b does.
    let later = t0 + chrono::Duration::seconds(31);
    let b =
        crate::common::claim_rows(s.as_ref(), "relay-b", 10, Duration::from_secs(30), later).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].row.id, a[0].row.id);
    assert_eq!(b[0].row.attempts, 2);
    // relay-a comes back late: refused, and recorded as stale.
    let r = complete_by(&db, &a[0], sent(Some("A")), "relay-a", later).await;
    assert_eq!(r, CompleteResult::LeaseLost);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis").await, 0);
    // relay-b's completion applies.
    let r = complete_by(&db, &b[0], sent(Some("B")), "relay-b", later).await;
    assert_eq!(r, CompleteResult::Applied);
    let row = s.outbox_row(a[0].row.id).await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Sent);
    assert_eq!(row.external_id.as_deref(), Some("B"));
    let digis = s.digis_rows(Some(SubscriptionId(5)), None).await.unwrap();
    assert_eq!(digis.len(), 1);
    assert_eq!(digis[0].external_id.as_deref(), Some("B"));
    let attempts = s.attempts(row.id).await.unwrap();
    let outcomes: Vec<String> = attempts.iter().map(|a| a.outcome.to_string()).collect();
    assert_eq!(outcomes, ["stale_sent", "sent"]);
    // A second completion by the winner is refused too (the row is no longer sending).
    let again = s
        .complete(&b[0], &failed_other(), &attempt("relay-b"), later)
        .await
        .unwrap();
    assert_eq!(again, CompleteResult::LeaseLost);
    assert_eq!(
        s.outbox_row(row.id).await.unwrap().unwrap().state,
        OutboxState::Sent
    );
}

async fn retry_and_released_and_attempt_history(db: TestDb) {
    db.active_with(5, &[1]).await;
    let s = db.storage();
    let now = Utc::now();
    let c = claim_for_a_minute(&db, "r", 1, now).await.remove(0);
    let next = now + chrono::Duration::seconds(120);
    let mut a = attempt("r");
    a.http_status = Some(503);
    a.error = Some("HTTP 503".into());
    assert_eq!(
        s.complete(
            &c,
            &Completion::Retry {
                next_attempt_at: next
            },
            &a,
            now
        )
        .await
        .unwrap(),
        CompleteResult::Applied
    );
    let row = s.outbox_row(c.row.id).await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Pending);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_http_status, Some(503));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 503"));
    assert!((row.next_attempt_at - next).num_milliseconds().abs() <= 1);
    // Not due yet.
    assert!(claim_for_a_minute(&db, "r", 1, now).await.is_empty());
    let c = claim_for_a_minute(&db, "r", 1, next).await.remove(0);
    assert_eq!(c.row.attempts, 2);
    // Released (relay paused): the attempt is not charged.
    let mut a = attempt("r");
    a.http_status = Some(401);
    s.complete(
        &c,
        &Completion::Released {
            next_attempt_at: next,
        },
        &a,
        next,
    )
    .await
    .unwrap();
    let row = s.outbox_row(c.row.id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 1));
    let outcomes: Vec<String> = s
        .attempts(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["retry", "paused"]);
    // Graceful-stop release gives back the attempt too.
    let c = claim_for_a_minute(&db, "r", 1, next).await.remove(0);
    assert_eq!(
        s.release(&[(c.row.id, c.claim_token.clone())], next)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.outbox_row(c.row.id).await.unwrap().unwrap().attempts, 1);
}

async fn operator_retry_discard_resend(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let s = db.storage();
    let now = Utc::now();
    let claimed = claim_for_a_minute(&db, "r", 10, now).await;
    s.complete(&claimed[0], &failed_other(), &attempt("r"), now)
        .await
        .unwrap();
    complete_by(&db, &claimed[1], sent(None), "r", now).await;
    let failed = claimed[0].row.id;
    let sent = claimed[1].row.id;
    // Retry: the failed row comes back, the sent one does not.
    let changed = s
        .retry(
            &[failed, sent, OutboxId(9999)],
            "test",
            now,
            digis_relay::storage::Unconfirmed::Skip,
        )
        .await
        .unwrap();
    assert_eq!(changed, vec![failed]);
    let row = s.outbox_row(failed).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 0));
    // Discard a pending row; a sent one cannot be discarded.
    let changed = s
        .discard(&[failed, sent], "member asked not to", "test", now)
        .await
        .unwrap();
    assert_eq!(changed, vec![failed]);
    let row = s.outbox_row(failed).await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Discarded);
    assert_eq!(row.reason.as_deref(), Some("member asked not to"));
    // Resend person 2 (already in digis): a new row flagged resend.
    let ids = s
        .resend(SubscriptionId(5), Some(PersonId(2)), "test", now)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    let row = s.outbox_row(ids[0]).await.unwrap().unwrap();
    assert!(row.resend);
    assert_eq!(
        (row.person_id, row.state),
        (PersonId(2), OutboxState::Pending)
    );
    // Who did what is on record, per row.
    let events = s.events(&[failed, ids[0]]).await.unwrap();
    let seen: Vec<(String, Option<OutboxId>, Option<String>)> = events
        .iter()
        .map(|e| (e.action.to_string(), e.outbox_id, e.detail.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("retry".to_string(), Some(failed), None),
            (
                "discard".to_string(),
                Some(failed),
                Some("member asked not to".to_string())
            ),
            ("resend".to_string(), Some(ids[0]), None),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.actor == "test" && e.person_id.is_some()));
    // Resending again while that row waits queues nothing.
    assert!(s
        .resend(SubscriptionId(5), Some(PersonId(2)), "test", now)
        .await
        .unwrap()
        .is_empty());
    // Retry all failed.
    let c = claim_for_a_minute(&db, "r", 10, now).await;
    for x in &c {
        s.complete(x, &failed_other(), &attempt("r"), now)
            .await
            .unwrap();
    }
    assert_eq!(
        s.retry_all_failed("test", now, digis_relay::storage::Unconfirmed::Skip)
            .await
            .unwrap(),
        c.len() as u64
    );
    assert_eq!(s.counts().await.unwrap().failed, 0);
}

async fn pause_resume_and_sync_reconcile(db: TestDb) {
    let s = db.storage();
    let now = Utc::now();
    assert!(!s.control().await.unwrap().paused);
    s.pause("Digis maintenance", "anna@support", now)
        .await
        .unwrap();
    let c = s.control().await.unwrap();
    assert!(c.paused);
    assert_eq!(c.pause_reason.as_deref(), Some("Digis maintenance"));
    assert_eq!(c.paused_by, Some(PausedBy::Operator("anna@support".into())));
    s.resume("test", Utc::now()).await.unwrap();
    let c = s.control().await.unwrap();
    assert!(!c.paused && c.pause_reason.is_none());

    // A member that the trigger never saw (the relay was installed later).
    db.active_with(5, &[1, 2]).await;
    db.exec("DELETE FROM digis_outbox").await;
    db.exec("INSERT INTO digis (subscription_id, person_id, external_id) VALUES (5, 1, 'old')")
        .await;
    // A waiting retry.
    db.active_with(6, &[3]).await;
    db.exec("UPDATE digis_outbox SET next_attempt_at = '2999-01-01T00:00:00.000Z' WHERE subscription_id = 6").await;
    let r = s
        .sync(Some(&Default::default()), "test", now)
        .await
        .unwrap();
    assert_eq!(r.made_due, 1);
    assert_eq!(
        r.queued, 1,
        "only person 2 of subscription 5 is missing from digis"
    );
    assert!(s.control().await.unwrap().sync_requested_at.is_some());
    let claimed = crate::common::claim_rows(
        s.as_ref(),
        "r",
        10,
        Duration::from_secs(60),
        now + chrono::Duration::seconds(1),
    )
    .await;
    let mut pairs: Vec<(i64, i64)> = claimed
        .iter()
        .map(|c| (c.row.subscription_id.0, c.row.person_id.0))
        .collect();
    pairs.sort();
    assert_eq!(pairs, vec![(5, 2), (6, 3)]);
}

async fn counts_listing_and_lookups(db: TestDb) {
    for sub in 1..=30 {
        db.active_with(sub, &[sub]).await;
    }
    let s = db.storage();
    let now = Utc::now();
    let claimed = claim_for_a_minute(&db, "r", 5, now).await;
    for c in &claimed[..3] {
        s.complete(c, &failed_other(), &attempt("r"), now)
            .await
            .unwrap();
    }
    let counts = s.counts().await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.sending,
            counts.failed,
            counts.total()
        ),
        (25, 2, 3, 30)
    );

    // Keyset pages of 7, newest first, cover every row once.
    let page_of_7 = |before, after| {
        let s = s.clone();
        async move {
            s.list(&ListQuery {
                before,
                after,
                limit: 7,
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = page_of_7(before, None).await;
        if page.is_empty() {
            break;
        }
        assert!(page.windows(2).all(|w| w[0].id > w[1].id));
        before = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen.len(), 30);
    // Paging back up returns the page above, still newest first.
    let first = page_of_7(None, None).await;
    let second = page_of_7(first.last().map(|r| r.id), None).await;
    let up = page_of_7(None, second.first().map(|r| r.id)).await;
    assert_eq!(
        up.iter().map(|r| r.id).collect::<Vec<_>>(),
        first.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    // Filtered by state.
    let failed = s
        .list(&ListQuery {
            state: Some(OutboxState::Failed),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|r| r.state == OutboxState::Failed));

    // Lookups by subscription and by card (with the card number on the row).
    let rows = s.rows_for_subscription(SubscriptionId(7)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].card_number.as_deref(), Some("34000007"));
    let card: CardNumber = "34000007".parse().unwrap();
    assert_eq!(s.rows_for_card(&card).await.unwrap().len(), 1);
    assert_eq!(
        s.members_by_card(&card).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .subscription_id,
        7
    );
    assert_eq!(s.persons_by_card(&card).await.unwrap(), vec![PersonId(7)]);
    // SQL metacharacters are just text.
    let evil: CardNumber = "1-OR-1".parse().unwrap();
    assert!(s.rows_for_card(&evil).await.unwrap().is_empty());
    assert_eq!(
        s.subscription_status(SubscriptionId(7))
            .await
            .unwrap()
            .as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        s.subscription_status(SubscriptionId(999)).await.unwrap(),
        None
    );
    // Export pages: every active member once, in key order.
    let p1 = s.active_members_page(None, 20).await.unwrap();
    let last = p1.last().unwrap().as_ref().unwrap();
    let p2 = s
        .active_members_page(Some((last.subscription(), last.person())), 20)
        .await
        .unwrap();
    assert_eq!(p1.len() + p2.len(), 30);
}

async fn removed_user_claims_with_no_member(db: TestDb) {
    db.active_with(5, &[1]).await;
    db.exec("DELETE FROM subscription_user WHERE person_id = 1")
        .await;
    let c = claim_for_a_minute(&db, "r", 1, Utc::now()).await;
    assert_eq!(c.len(), 1);
    assert!(c[0].member.is_none());
}

async fn prune_removes_only_old_finished_rows(db: TestDb) {
    db.active_with(5, &[1, 2, 3]).await;
    let s = db.storage();
    let now = Utc::now();
    let c = claim_for_a_minute(&db, "r", 2, now).await;
    complete_by(&db, &c[0], sent(None), "r", now).await;
    s.complete(&c[1], &failed_other(), &attempt("r"), now)
        .await
        .unwrap();
    s.pause("old pause", "test", now - chrono::Duration::days(100))
        .await
        .unwrap();
    s.pause("recent pause", "test", now).await.unwrap();
    assert_eq!(s.prune(now - chrono::Duration::days(1)).await.unwrap(), 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_event").await,
        1,
        "the old event went, the recent one stays"
    );
    assert_eq!(
        s.prune(now + chrono::Duration::seconds(1)).await.unwrap(),
        1
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_outbox").await, 2);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_attempt").await,
        1,
        "the sent row's attempts went with it"
    );
    // The digis row stays: it is the record that the member got the SMS.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis").await, 1);
}

/// Relay rows keep their state words and times on both databases; a word written by a newer
/// version is listed as stored instead of failing the listing.
async fn relay_rows_round_trip_and_unknown_states_read_back(db: TestDb) {
    let s = db.storage();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-28T12:00:00.123Z")
        .unwrap()
        .with_timezone(&Utc);
    let info = |id: &str, state: RelayState, age_s: i64| RelayInfo {
        relay_id: id.into(),
        hostname: "host".into(),
        pid: 42,
        version: "0.1.0".into(),
        started_at: t0,
        heartbeat_at: t0 + chrono::Duration::seconds(100 - age_s),
        state,
        detail: Some("why".into()),
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: None,
        clock_offset_ms: None,
    };
    s.heartbeat(&info("relay-a", RelayState::CircuitOpen, 1))
        .await
        .unwrap();
    s.heartbeat(&info("relay-b", RelayState::Other("warming_up".into()), 2))
        .await
        .unwrap();
    let relays = s.relays().await.unwrap();
    assert_eq!(
        relays,
        vec![
            info("relay-a", RelayState::CircuitOpen, 1),
            info("relay-b", RelayState::Other("warming_up".into()), 2)
        ]
    );
    let json = serde_json::to_value(&relays[0]).unwrap();
    assert_eq!(json["state"], "circuit_open");
}

/// The coarse SQL filters of member search: every stored form the exact rule would accept is a
/// candidate, pages follow ids, and the row carries what the exact rule reads.
async fn persons_matching_narrows_and_pages_by_id(db: TestDb) {
    use crate::common::Person;
    for (id, number, first, last, email) in [
        (1, "070-123 45 67", "Åsa", "Lindström", "Asa@Example.se"),
        (
            2,
            "+46 (0)70 123 45 67",
            "Anna",
            "O'Brien",
            "anna@example.se",
        ),
        (3, "0046 70 1234567", "Bo", "Ek", " BO@EXAMPLE.SE"),
        (4, "070.123.45.67", "Kim", "Obrien", "kim@example.se"),
        (5, "070-765 43 21", "Per", "Berg", "per@example.se"),
    ] {
        db.person_with(&Person {
            mobile_number: Some(number.into()),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            ..Person::ordinary(id)
        })
        .await;
    }
    let s = db.storage();
    let ids = |rows: &[digis_relay::storage::PersonRow]| -> Vec<i64> {
        rows.iter().map(|p| p.id.0).collect()
    };
    let phone = PersonFilter::PhoneDigits("1234567".into());
    let all = s.persons_matching(&phone, None, 100).await.unwrap();
    assert_eq!(ids(&all), [1, 2, 3, 4]);
    assert_eq!(all[1].mobile_number.as_deref(), Some("+46 (0)70 123 45 67"));
    assert_eq!(all[0].mobile_country_code.as_deref(), Some("46"));
    assert_eq!(all[0].country_alpha2.as_deref(), Some("SE"));
    assert_eq!(all[0].card_number.as_deref(), Some("34000001"));
    // Pages of two, on from the last id.
    let first = s.persons_matching(&phone, None, 2).await.unwrap();
    assert_eq!(ids(&first), [1, 2]);
    let next = s
        .persons_matching(&phone, Some(PersonId(2)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&next), [3, 4]);
    assert!(s
        .persons_matching(&phone, Some(PersonId(4)), 2)
        .await
        .unwrap()
        .is_empty());

    // Names: any ASCII case, apostrophes dropped, the common accented letters folded; a name
    // holding any other non-ASCII letter is always a candidate (Rust folds it).
    db.person_with(&Person {
        first_name: Some("Łukasz".into()),
        last_name: Some("Nowak".into()),
        ..Person::ordinary(6)
    })
    .await;
    let matching = |filter: PersonFilter| {
        let s = s.clone();
        async move { ids(&s.persons_matching(&filter, None, 100).await.unwrap()) }
    };
    let by_name = |w: &str| matching(PersonFilter::NameWord(w.into()));
    assert_eq!(by_name("obrien").await, [2, 4, 6]);
    assert_eq!(by_name("lindstrom").await, [1, 6]);
    assert_eq!(by_name("asa").await, [1, 6]);
    assert_eq!(by_name("berg").await, [5, 6]);
    // LIKE's wildcards in a word are plain text.
    assert_eq!(by_name("b_rg").await, [6]);
    // Addresses: trimmed and lower-cased.
    let by_email = |e: &str| matching(PersonFilter::Email(e.into()));
    assert_eq!(by_email("bo@example.se").await, [3]);
    assert_eq!(by_email("asa@example.se").await, [1]);
}

async fn pairs_of_persons_come_from_users_rows_and_digis(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    db.active_with(864, &[1]).await;
    // Person 1 left 864: the outbox row still names the pair.
    db.exec("DELETE FROM subscription_user WHERE subscription_id = 864")
        .await;
    // A pair Digis has from before the relay (no row, no user).
    db.exec("INSERT INTO digis (subscription_id, person_id, external_id) VALUES (700, 1, 'X')")
        .await;
    let s = db.storage();
    let pairs = s
        .pairs_of_persons(&[PersonId(1), PersonId(99)])
        .await
        .unwrap();
    let pairs: Vec<(i64, i64)> = pairs.iter().map(|(s, p)| (s.0, p.0)).collect();
    assert_eq!(pairs, [(700, 1), (863, 1), (864, 1)]);
    assert!(s.pairs_of_persons(&[]).await.unwrap().is_empty());
}

/// A row whose last answer was unconfirmed (docs/contracts.md, Digis HTTP) goes back only when the
/// operator confirmed, whether it is failed or was discarded since; its cause is stored as
/// `unconfirmed`. The relay's pause for it is neither taken over by a configuration error's
/// pause nor lifted by a probe: only `resume` lifts it.
async fn unconfirmed_rows_and_their_pause_wait_for_an_operator(db: TestDb) {
    use digis_relay::domain::{unconfirmed_pause_reason, PauseKind};
    use digis_relay::relay::decide::unconfirmed_text;
    use digis_relay::storage::Unconfirmed;
    db.active_with(5, &[1, 2, 3]).await;
    let s = db.storage();
    let now = Utc::now();
    let claimed = claim_for_a_minute(&db, "r", 10, now).await;
    let unconfirmed = AttemptRecord {
        error: Some(unconfirmed_text(200, "not JSON", "<html>down</html>")),
        ..attempt("r")
    };
    let ordinary = AttemptRecord {
        error: Some("Digis rejected the member (HTTP 400): Invalid mobile".into()),
        http_status: Some(400),
        ..attempt("r")
    };
    for (c, a) in claimed.iter().zip([&unconfirmed, &unconfirmed, &ordinary]) {
        let failed = Completion::Failed {
            cause: FailureCause::from_stored(a.error.as_deref(), a.http_status),
        };
        s.complete(c, &failed, a, now).await.unwrap();
    }
    let [u1, u2, plain] = [0, 1, 2].map(|i| claimed[i].row.id);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE fail_rule = 'unconfirmed'")
            .await,
        2
    );
    assert_eq!(s.unconfirmed_rows(None).await.unwrap(), vec![u1, u2]);
    // Discarded by an operator, it may still have been sent.
    s.discard(&[u2], "later", "test", now).await.unwrap();
    assert_eq!(s.unconfirmed_rows(None).await.unwrap(), vec![u1]);
    assert_eq!(
        s.unconfirmed_rows(Some(&[u1, u2, plain])).await.unwrap(),
        vec![u1, u2]
    );
    let changed = s
        .retry(&[u1, u2, plain], "test", now, Unconfirmed::Skip)
        .await
        .unwrap();
    assert_eq!(changed, vec![plain]);
    assert_eq!(
        s.retry_all_failed("test", now, Unconfirmed::Skip)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.outbox_row(u1).await.unwrap().unwrap().state,
        OutboxState::Failed
    );
    assert_eq!(
        s.retry_all_failed("test", now, Unconfirmed::Include)
            .await
            .unwrap(),
        1
    );
    let changed = s
        .retry(&[u2], "test", now, Unconfirmed::Include)
        .await
        .unwrap();
    assert_eq!(changed, vec![u2]);
    assert!(s
        .unconfirmed_rows(Some(&[u1, u2]))
        .await
        .unwrap()
        .is_empty());
    // Retried once, a waiting row is not asked about again.
    assert_eq!(
        s.retry(&[u1], "test", now, Unconfirmed::Skip)
            .await
            .unwrap(),
        vec![u1]
    );

    // The pause.
    let reason = unconfirmed_pause_reason(200, "not JSON");
    assert!(s
        .pause_self(&reason, &PausedBy::relay("a"), now)
        .await
        .unwrap());
    assert!(!s
        .pause_self("Digis answered HTTP 401", &PausedBy::relay("b"), now)
        .await
        .unwrap());
    assert!(!s.lift_self_pause(&PausedBy::relay("b"), now).await.unwrap());
    let c = s.control().await.unwrap();
    assert!(c.paused);
    assert_eq!(c.pause_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(c.paused_by, Some(PausedBy::relay("a")));
    assert_eq!(c.pause(), Some(PauseKind::Unconfirmed));
    s.resume("test", now).await.unwrap();
    assert!(!s.control().await.unwrap().paused);
    // A configuration error's pause is still a relay's to take over and lift.
    assert!(s
        .pause_self("Digis answered HTTP 401", &PausedBy::relay("b"), now)
        .await
        .unwrap());
    assert!(s
        .pause_self(&reason, &PausedBy::relay("a"), now)
        .await
        .unwrap());
    s.resume("test", now).await.unwrap();
    assert!(s
        .pause_self("Digis answered HTTP 401", &PausedBy::relay("b"), now)
        .await
        .unwrap());
    assert!(s.lift_self_pause(&PausedBy::relay("b"), now).await.unwrap());
}
