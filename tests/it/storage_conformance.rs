//! The storage conformance suite (like River's driver tests): one test per operation of the
//! four storage roles, each run on SQLite and on PostgreSQL and asserting the operation's
//! observable effect. An operation whose behaviour is proven at length elsewhere
//! (`storage_ops`, `leases`, `group_rows`, `failures`, `search`, `schema_handshake`,
//! `migrations_table`) gets a short test here of its plain effect, so that every operation of
//! every role is run on both databases in one place.
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use digis_relay::domain::{
    CardNumber, FailureCause, OutboxId, OutboxState, PausedBy, PersonId, RelayState, SubscriptionId,
};
use digis_relay::storage::adapter::{AdapterOutcome, HostAdapter};
use digis_relay::storage::{
    AttemptRecord, Backend, ClaimedRow, CompleteResult, Completion, CompletionItem, FailedQuery,
    ListQuery, PersonFilter, Reconcile, RelayInfo, Storage, Unconfirmed, UnitFilter,
};

use crate::both_databases;
use crate::common::{running_relay, Kind, TestDb};

const LEASE: Duration = Duration::from_secs(60);

/// Who holds the pause, as the stored text reads.
async fn paused_by(s: &dyn Storage) -> Option<String> {
    s.control().await.unwrap().paused_by.map(|p| p.to_string())
}

fn attempt(error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        started_at: Utc::now(),
        duration_ms: 3,
        relay_id: "relay-a".into(),
        http_status: error.map_or(Some(200), |_| Some(400)),
        error: error.map(String::from),
    }
}

fn relay(id: &str, state: RelayState) -> RelayInfo {
    RelayInfo {
        hostname: "host".into(),
        pid: 7,
        version: "0.1.0".into(),
        state,
        ..running_relay(id, Utc::now())
    }
}

/// Subscription 863 with `persons`, their pending rows claimed by relay-a.
async fn claimed(db: &TestDb, persons: &[i64]) -> Vec<ClaimedRow> {
    db.active_with(863, persons).await;
    let rows = db
        .storage
        .claim("relay-a", 100, LEASE, Utc::now())
        .await
        .unwrap();
    assert_eq!(rows.len(), persons.len());
    rows
}

async fn finish(s: &dyn Storage, row: &ClaimedRow, completion: Completion, error: Option<&str>) {
    let result = s
        .complete(row, &completion, &attempt(error), Utc::now())
        .await
        .unwrap();
    assert_eq!(result, CompleteResult::Applied);
}

/// One sent row (person 1) and one failed row (person 2) of subscription 863.
async fn sent_and_failed(db: &TestDb) -> (OutboxId, OutboxId) {
    let rows = claimed(db, &[1, 2]).await;
    let (sent, failed) = (&rows[0], &rows[1]);
    let s = db.storage();
    let external_id = Some("TE-1".to_string());
    finish(&*s, sent, Completion::Sent { external_id }, None).await;
    let error = Some("MobileNumber: not a mobile number for region SE");
    finish(
        &*s,
        failed,
        Completion::Failed {
            cause: FailureCause::other(),
        },
        error,
    )
    .await;
    (sent.row.id, failed.row.id)
}

/// The ids of the outbox's rows, newest first.
async fn queued(s: &dyn Storage) -> Vec<OutboxId> {
    let all = ListQuery {
        limit: 10,
        ..ListQuery::default()
    };
    s.list(&all).await.unwrap().iter().map(|r| r.id).collect()
}

async fn state_of(s: &dyn Storage, id: OutboxId) -> OutboxState {
    s.outbox_row(id).await.unwrap().expect("the row").state
}

both_databases!(
    // RelayStore
    db_now_is_the_databases_clock,
    claim_marks_due_rows_sending,
    claim_skipping_leaves_held_tokens,
    claim_after_waits_a_lease_after_reconnecting,
    renew_lease_extends_held_rows,
    complete_group_ends_rows_and_releases_others,
    complete_ends_one_row,
    release_gives_rows_back_uncharged,
    heartbeat_and_relays,
    forget_relays_deletes_silent_relays,
    oldest_due_pending_is_the_longest_waiting,
    prune_deletes_old_finished_rows,
    wakeup_is_woken_by_an_operator_action,
    pause_self_and_lift_self_pause,
    control_reads_the_pause,
    open_circuit_and_take_its_probe,
    close_circuit_closes_it,
    record_share_is_read_back,
    // OperatorStore
    retry_puts_failed_rows_back,
    retry_all_failed_puts_every_member_back,
    unconfirmed_rows_lists_unconfirmed_answers,
    discard_ends_pending_rows,
    resend_queues_a_subscription_again,
    pause_and_resume,
    sync_makes_rows_due_and_reconciles,
    reconcile_preview_counts_what_sync_would_queue,
    known_pairs_are_the_accepted_ones,
    count_and_retry_a_failure_group,
    // ReadStore
    ping_answers,
    events_record_who_did_what,
    failure_groups_and_failed_members,
    attempt_counts_by_outcome,
    sent_delays_sample_sent_rows,
    counts_by_state,
    list_pages_by_id,
    outbox_row_by_id,
    rows_for_subscription_and_card,
    attempts_are_history,
    digis_rows_are_the_accepted_pairs,
    members_of_subscription_and_by_card,
    subscription_status_reads_the_host,
    persons_by_card_and_cards_without_zeros,
    persons_matching_and_pairs_of_persons,
    active_members_page_pages_by_pair,
    // SchemaStore
    backend_and_schema_report,
    migrate_again_changes_nothing,
    schema_versions_and_applied_adapter,
    host_objects_show_the_adapter,
    host_exec_writes_host_tables,
);

async fn db_now_is_the_databases_clock(db: TestDb) {
    let before = Utc::now() - TimeDelta::seconds(5);
    let now = db.storage.db_now().await.unwrap();
    assert!(
        now > before && now < Utc::now() + TimeDelta::seconds(5),
        "{now}"
    );
}

async fn claim_marks_due_rows_sending(db: TestDb) {
    let rows = claimed(&db, &[1, 2]).await;
    for c in &rows {
        assert_eq!(c.row.state, OutboxState::Sending);
        assert_eq!(c.row.locked_by.as_deref(), Some("relay-a"));
        assert_eq!(c.attempt_no, 1);
        assert!(c.member.is_some());
    }
    let again = db.storage.claim("relay-b", 100, LEASE, Utc::now());
    assert!(
        again.await.unwrap().is_empty(),
        "a claimed row is not claimed twice"
    );
}

async fn claim_skipping_leaves_held_tokens(db: TestDb) {
    let rows = claimed(&db, &[1]).await;
    let later = Utc::now() + TimeDelta::seconds(120);
    let s = db.storage();
    let held = [rows[0].claim_token.clone()];
    let skipped = s.claim_skipping("relay-a", 10, LEASE, later, &held);
    assert!(
        skipped.await.unwrap().is_empty(),
        "a held token is not claimed again"
    );
    let taken = s
        .claim_skipping("relay-a", 10, LEASE, later, &[])
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "an expired lease is taken without it");
}

async fn claim_after_waits_a_lease_after_reconnecting(db: TestDb) {
    claimed(&db, &[1]).await;
    let later = Utc::now() + TimeDelta::seconds(120);
    let s = db.storage();
    let just_back = Some(later - TimeDelta::seconds(1));
    let early = s.claim_after("relay-b", 10, LEASE, later, &[], just_back);
    assert!(
        early.await.unwrap().is_empty(),
        "its holder gets a lease to beat again"
    );
    let long_back = Some(later - TimeDelta::seconds(600));
    let taken = s.claim_after("relay-b", 10, LEASE, later, &[], long_back);
    assert_eq!(taken.await.unwrap().len(), 1);
}

async fn renew_lease_extends_held_rows(db: TestDb) {
    let rows = claimed(&db, &[1, 2]).await;
    let held: Vec<_> = rows
        .iter()
        .map(|c| (c.row.id, c.claim_token.clone()))
        .collect();
    let until = Utc::now() + TimeDelta::seconds(3_600);
    assert_eq!(db.storage.renew_lease(&held, until).await.unwrap(), 2);
    let row = db
        .storage
        .outbox_row(rows[0].row.id)
        .await
        .unwrap()
        .unwrap();
    let locked_until = row.locked_until.expect("still leased");
    assert!((locked_until - until).num_milliseconds().abs() < 1_000);
    let foreign = [(rows[0].row.id, "not-the-token".to_string())];
    assert_eq!(db.storage.renew_lease(&foreign, until).await.unwrap(), 0);
}

async fn complete_group_ends_rows_and_releases_others(db: TestDb) {
    let rows = claimed(&db, &[1, 2, 3]).await;
    let items = [
        CompletionItem::new(
            &rows[0],
            Completion::Sent { external_id: None },
            attempt(None),
        ),
        CompletionItem::new(
            &rows[1],
            Completion::Failed {
                cause: FailureCause::other(),
            },
            attempt(Some("refused")),
        ),
    ];
    let releases = [(rows[2].row.id, rows[2].claim_token.clone())];
    let s = db.storage();
    let results = s
        .complete_group(&items, &releases, Utc::now())
        .await
        .unwrap();
    assert_eq!(results, [CompleteResult::Applied, CompleteResult::Applied]);
    assert_eq!(state_of(&*s, rows[0].row.id).await, OutboxState::Sent);
    assert_eq!(state_of(&*s, rows[1].row.id).await, OutboxState::Failed);
    let released = s.outbox_row(rows[2].row.id).await.unwrap().unwrap();
    assert_eq!(
        (released.state, released.attempts),
        (OutboxState::Pending, 0)
    );
    assert_eq!(
        s.digis_rows(Some(SubscriptionId(863)), None)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn complete_ends_one_row(db: TestDb) {
    let rows = claimed(&db, &[1]).await;
    let s = db.storage();
    let next = Utc::now() + TimeDelta::seconds(30);
    let retry = Completion::Retry {
        next_attempt_at: next,
    };
    finish(&*s, &rows[0], retry.clone(), Some("busy")).await;
    let row = s.outbox_row(rows[0].row.id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 1));
    // The claim is over: a second completion under it has lost its lease.
    let again = s
        .complete(&rows[0], &retry, &attempt(None), Utc::now())
        .await;
    assert_eq!(again.unwrap(), CompleteResult::LeaseLost);
}

async fn release_gives_rows_back_uncharged(db: TestDb) {
    let rows = claimed(&db, &[1]).await;
    let held = [(rows[0].row.id, rows[0].claim_token.clone())];
    assert_eq!(db.storage.release(&held, Utc::now()).await.unwrap(), 1);
    let row = db
        .storage
        .outbox_row(rows[0].row.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 0));
    assert_eq!(row.locked_by, None);
}

async fn heartbeat_and_relays(db: TestDb) {
    let s = db.storage();
    s.heartbeat(&relay("relay-a", RelayState::Running))
        .await
        .unwrap();
    s.heartbeat(&relay("relay-a", RelayState::Paused))
        .await
        .unwrap();
    let relays = s.relays().await.unwrap();
    assert_eq!(relays.len(), 1, "one row a relay");
    assert_eq!(relays[0].state, RelayState::Paused);
    assert_eq!(relays[0].heartbeat_ms, Some(5_000));
}

async fn forget_relays_deletes_silent_relays(db: TestDb) {
    let s = db.storage();
    let mut old = relay("relay-old", RelayState::Running);
    old.heartbeat_at = Utc::now() - TimeDelta::hours(2);
    s.heartbeat(&old).await.unwrap();
    s.heartbeat(&relay("relay-a", RelayState::Running))
        .await
        .unwrap();
    let before = Utc::now() - TimeDelta::hours(1);
    assert_eq!(s.forget_relays("relay-a", before, false).await.unwrap(), 1);
    let relays = s.relays().await.unwrap();
    assert_eq!(relays.len(), 1);
    assert_eq!(relays[0].relay_id, "relay-a");
}

async fn oldest_due_pending_is_the_longest_waiting(db: TestDb) {
    let s = db.storage();
    assert_eq!(s.oldest_due_pending(Utc::now()).await.unwrap(), None);
    db.active_with(863, &[1]).await;
    let oldest = s
        .oldest_due_pending(Utc::now() + TimeDelta::seconds(1))
        .await
        .unwrap();
    let oldest = oldest.expect("a due row");
    assert!(oldest <= Utc::now() + TimeDelta::seconds(1));
}

async fn prune_deletes_old_finished_rows(db: TestDb) {
    let (sent, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    assert_eq!(s.prune(Utc::now() - TimeDelta::hours(1)).await.unwrap(), 0);
    assert_eq!(
        s.prune(Utc::now() + TimeDelta::seconds(5)).await.unwrap(),
        1
    );
    assert!(s.outbox_row(sent).await.unwrap().is_none(), "sent rows go");
    assert!(
        s.outbox_row(failed).await.unwrap().is_some(),
        "failed rows need a person"
    );
}

async fn wakeup_is_woken_by_an_operator_action(db: TestDb) {
    let s = db.storage();
    let wake = s.wakeup();
    let woken = wake.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    s.resume("alice", Utc::now()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("resume wakes the relays of this process");
}

async fn pause_self_and_lift_self_pause(db: TestDb) {
    let s = db.storage();
    let set = s
        .pause_self("HTTP 401", &PausedBy::relay("relay-a"), Utc::now())
        .await
        .unwrap();
    assert!(set);
    assert_eq!(
        paused_by(s.as_ref()).await.as_deref(),
        Some("relay:relay-a")
    );
    assert!(s
        .lift_self_pause(&PausedBy::relay("relay-a"), Utc::now())
        .await
        .unwrap());
    assert!(!s.control().await.unwrap().paused);
    // An operator's pause is never the relay's to take over or lift.
    s.pause("maintenance", "alice", Utc::now()).await.unwrap();
    assert!(!s
        .pause_self("HTTP 401", &PausedBy::relay("relay-a"), Utc::now())
        .await
        .unwrap());
    assert!(!s
        .lift_self_pause(&PausedBy::relay("relay-a"), Utc::now())
        .await
        .unwrap());
    assert_eq!(paused_by(s.as_ref()).await.as_deref(), Some("alice"));
}

async fn control_reads_the_pause(db: TestDb) {
    let s = db.storage();
    let control = s.control().await.unwrap();
    assert!(!control.paused);
    assert_eq!(control.circuit.open_until, None);
    s.pause("maintenance", "alice", Utc::now()).await.unwrap();
    let control = s.control().await.unwrap();
    assert!(control.paused);
    assert_eq!(control.pause_reason.as_deref(), Some("maintenance"));
    assert!(control.paused_at.is_some());
}

async fn open_circuit_and_take_its_probe(db: TestDb) {
    let s = db.storage();
    let until = s.open_circuit("HTTP 503", "relay-a", Duration::from_secs(60));
    let until = until.await.unwrap().expect("open until");
    assert!(until > Utc::now());
    let circuit = s.control().await.unwrap().circuit;
    assert_eq!(circuit.reason.as_deref(), Some("HTTP 503"));
    assert_eq!(circuit.opened_by.as_deref(), Some("relay-a"));
    assert!(
        !s.take_circuit_probe("relay-b", Duration::from_secs(60))
            .await
            .unwrap(),
        "no probe before its time is up"
    );
    s.open_circuit("HTTP 503", "relay-a", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let probe = |by: &'static str| s.take_circuit_probe(by, Duration::from_secs(60));
    assert!(probe("relay-b").await.unwrap(), "one relay wins the probe");
    assert!(!probe("relay-c").await.unwrap(), "and only one");
}

async fn close_circuit_closes_it(db: TestDb) {
    let s = db.storage();
    assert!(!s.close_circuit().await.unwrap(), "nothing to close");
    s.open_circuit("HTTP 503", "relay-a", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(s.close_circuit().await.unwrap());
    assert_eq!(s.control().await.unwrap().circuit.open_until, None);
}

async fn record_share_is_read_back(db: TestDb) {
    let s = db.storage();
    s.heartbeat(&relay("relay-a", RelayState::Running))
        .await
        .unwrap();
    s.record_share("relay-a", Some(0.5)).await.unwrap();
    assert_eq!(s.relays().await.unwrap()[0].request_share, Some(0.5));
    s.record_share("relay-a", None).await.unwrap();
    assert_eq!(s.relays().await.unwrap()[0].request_share, None);
}

async fn retry_puts_failed_rows_back(db: TestDb) {
    let (sent, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    let both = [sent, failed];
    let changed = s.retry(&both, "alice", Utc::now(), Unconfirmed::Skip);
    assert_eq!(
        changed.await.unwrap(),
        [failed],
        "a sent row is not retried"
    );
    let row = s.outbox_row(failed).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 0));
}

async fn retry_all_failed_puts_every_member_back(db: TestDb) {
    let (_, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    let n = s
        .retry_all_failed("alice", Utc::now(), Unconfirmed::Skip)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(state_of(&*s, failed).await, OutboxState::Pending);
}

async fn unconfirmed_rows_lists_unconfirmed_answers(db: TestDb) {
    let (_, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    assert!(
        s.unconfirmed_rows(None).await.unwrap().is_empty(),
        "a plain failure"
    );
    assert!(s
        .unconfirmed_rows(Some(&[failed]))
        .await
        .unwrap()
        .is_empty());
}

async fn discard_ends_pending_rows(db: TestDb) {
    db.active_with(863, &[1]).await;
    let s = db.storage();
    let id = queued(&*s).await[0];
    let changed = s
        .discard(&[id], "left the gym", "alice", Utc::now())
        .await
        .unwrap();
    assert_eq!(changed, [id]);
    let row = s.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Discarded);
    assert_eq!(row.reason.as_deref(), Some("left the gym"));
    assert!(s
        .discard(&[id], "again", "alice", Utc::now())
        .await
        .unwrap()
        .is_empty());
}

async fn resend_queues_a_subscription_again(db: TestDb) {
    sent_and_failed(&db).await;
    let s = db.storage();
    let queued = s.resend(SubscriptionId(863), Some(PersonId(1)), "alice", Utc::now());
    let queued = queued.await.unwrap();
    assert_eq!(queued.len(), 1);
    let row = s.outbox_row(queued[0]).await.unwrap().unwrap();
    assert!(row.resend);
    assert_eq!(
        (row.state, row.person_id),
        (OutboxState::Pending, PersonId(1))
    );
}

async fn pause_and_resume(db: TestDb) {
    let s = db.storage();
    s.pause("maintenance", "alice", Utc::now()).await.unwrap();
    assert_eq!(paused_by(s.as_ref()).await.as_deref(), Some("alice"));
    s.resume("bob", Utc::now()).await.unwrap();
    assert!(!s.control().await.unwrap().paused);
}

async fn sync_makes_rows_due_and_reconciles(db: TestDb) {
    db.active_with(863, &[1]).await;
    let s = db.storage();
    let id = queued(&*s).await[0];
    s.discard(&[id], "by hand", "alice", Utc::now())
        .await
        .unwrap();
    let plain = s.sync(None, "alice", Utc::now()).await.unwrap();
    assert_eq!(plain.queued, 0);
    let reconcile = Reconcile::default();
    let r = s.sync(Some(&reconcile), "alice", Utc::now()).await.unwrap();
    assert_eq!(
        r.queued, 1,
        "the member Digis does not have is queued again"
    );
    assert!(s.control().await.unwrap().sync_requested_at.is_some());
}

async fn reconcile_preview_counts_what_sync_would_queue(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    let s = db.storage();
    let ids = queued(&*s).await;
    s.discard(&ids, "by hand", "alice", Utc::now())
        .await
        .unwrap();
    assert_eq!(s.reconcile_preview(&[]).await.unwrap().would_queue, 2);
    let skip = [(SubscriptionId(863), PersonId(1))];
    let preview = s.reconcile_preview(&skip).await.unwrap();
    assert_eq!((preview.would_queue, preview.lost_digis), (1, 0));
}

async fn known_pairs_are_the_accepted_ones(db: TestDb) {
    sent_and_failed(&db).await;
    let pairs = [
        (SubscriptionId(863), PersonId(1)),
        (SubscriptionId(863), PersonId(2)),
    ];
    let known = db.storage.known_pairs(&pairs).await.unwrap();
    assert_eq!(known.into_iter().collect::<Vec<_>>(), [pairs[0]]);
}

async fn count_and_retry_a_failure_group(db: TestDb) {
    let (_, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    let group = s.failure_groups(None, 10).await.unwrap().remove(0).key;
    assert_eq!(s.count_failure_group(&group).await.unwrap(), 1);
    let changed = s
        .retry_failure_group(&group, "alice", Utc::now())
        .await
        .unwrap();
    assert_eq!(changed, [failed]);
    assert_eq!(s.count_failure_group(&group).await.unwrap(), 0);
    assert_eq!(state_of(&*s, failed).await, OutboxState::Pending);
}

async fn ping_answers(db: TestDb) {
    db.storage.ping().await.unwrap();
}

async fn events_record_who_did_what(db: TestDb) {
    let (_, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    s.retry(&[failed], "alice", Utc::now(), Unconfirmed::Skip)
        .await
        .unwrap();
    let events = s.events(&[failed]).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].actor.as_str(), events[0].outbox_id),
        ("alice", Some(failed))
    );
    assert_eq!(events[0].person_id, Some(PersonId(2)));
    assert!(s.events(&[]).await.unwrap().is_empty());
}

async fn failure_groups_and_failed_members(db: TestDb) {
    let (_, failed) = sent_and_failed(&db).await;
    let s = db.storage();
    let groups = s.failure_groups(None, 10).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].rows, groups[0].key.unit_id), (1, Some(1)));
    let query = FailedQuery {
        unit: UnitFilter::Any,
        cause: Some(groups[0].key.cause.clone()),
        after: None,
        limit: 10,
    };
    let members = s.failed_members(&query).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].id, members[0].person_id), (failed, PersonId(2)));
    assert!(members[0].name.is_some(), "with the member's name");
}

async fn attempt_counts_by_outcome(db: TestDb) {
    sent_and_failed(&db).await;
    let s = db.storage();
    let now = Utc::now();
    let ranges = [
        (now - TimeDelta::hours(1), now + TimeDelta::seconds(5)),
        (now - TimeDelta::hours(2), now - TimeDelta::hours(1)),
    ];
    let counts = s.attempt_counts(&ranges).await.unwrap();
    assert_eq!(
        (counts[0].sent, counts[0].failed, counts[0].retried),
        (1, 1, 0)
    );
    assert_eq!((counts[1].sent, counts[1].failed), (0, 0));
    assert!(s.attempt_counts(&[]).await.unwrap().is_empty());
}

async fn sent_delays_sample_sent_rows(db: TestDb) {
    sent_and_failed(&db).await;
    let now = Utc::now();
    let sample = db
        .storage
        .sent_delays(now - TimeDelta::hours(1), now + TimeDelta::seconds(5), 10);
    let sample = sample.await.unwrap();
    assert_eq!((sample.sent, sample.stride, sample.delays.len()), (1, 1, 1));
    assert!(sample.delays[0].1 >= 0);
}

async fn counts_by_state(db: TestDb) {
    sent_and_failed(&db).await;
    db.active_with(864, &[3]).await;
    let counts = db.storage.counts().await.unwrap();
    let by_state = (counts.pending, counts.sending, counts.sent, counts.failed);
    assert_eq!(by_state, (1, 0, 1, 1));
}

async fn list_pages_by_id(db: TestDb) {
    db.active_with(863, &[1, 2, 3]).await;
    let s = db.storage();
    let all = s
        .list(&ListQuery {
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<i64> = all.iter().map(|r| r.id.0).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let page = ListQuery {
        before: Some(all[0].id),
        limit: 1,
        ..ListQuery::default()
    };
    assert_eq!(s.list(&page).await.unwrap()[0].id, all[1].id);
    let up = ListQuery {
        after: Some(all[2].id),
        limit: 1,
        ..ListQuery::default()
    };
    assert_eq!(s.list(&up).await.unwrap()[0].id, all[1].id);
    let sending = ListQuery {
        state: Some(OutboxState::Sending),
        limit: 10,
        ..ListQuery::default()
    };
    assert!(s.list(&sending).await.unwrap().is_empty());
}

async fn outbox_row_by_id(db: TestDb) {
    let rows = claimed(&db, &[1]).await;
    let row = db
        .storage
        .outbox_row(rows[0].row.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.subscription_id, row.person_id),
        (SubscriptionId(863), PersonId(1))
    );
    assert_eq!(row.card_number.as_deref(), Some("34000001"));
    assert!(db
        .storage
        .outbox_row(OutboxId(999_999))
        .await
        .unwrap()
        .is_none());
}

async fn rows_for_subscription_and_card(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    let s = db.storage();
    assert_eq!(
        s.rows_for_subscription(SubscriptionId(863))
            .await
            .unwrap()
            .len(),
        2
    );
    let card = "34000002".parse::<CardNumber>().unwrap();
    let rows = s.rows_for_card(&card).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].person_id, PersonId(2));
}

async fn attempts_are_history(db: TestDb) {
    let (sent, _) = sent_and_failed(&db).await;
    let attempts = db.storage.attempts(sent).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].attempt, attempts[0].outcome.to_string()),
        (1, "sent".to_string())
    );
    assert_eq!(attempts[0].relay_id, "relay-a");
}

async fn digis_rows_are_the_accepted_pairs(db: TestDb) {
    sent_and_failed(&db).await;
    let s = db.storage();
    let rows = s.digis_rows(None, None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].person_id, rows[0].external_id.as_deref()),
        (PersonId(1), Some("TE-1"))
    );
    assert!(s
        .digis_rows(None, Some(PersonId(2)))
        .await
        .unwrap()
        .is_empty());
}

async fn members_of_subscription_and_by_card(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    let s = db.storage();
    let members = s
        .members_of_subscription(SubscriptionId(863), None)
        .await
        .unwrap();
    assert_eq!(members.len(), 2);
    let one = s
        .members_of_subscription(SubscriptionId(863), Some(PersonId(2)))
        .await
        .unwrap();
    assert_eq!(one[0].as_ref().unwrap().person_id, 2);
    let card = "34000001".parse::<CardNumber>().unwrap();
    let by_card = s.members_by_card(&card).await.unwrap();
    assert_eq!(by_card[0].as_ref().unwrap().person_id, 1);
}

async fn subscription_status_reads_the_host(db: TestDb) {
    db.active_with(863, &[1]).await;
    let s = db.storage();
    let status = s.subscription_status(SubscriptionId(863)).await.unwrap();
    assert_eq!(status.as_deref(), Some("ACTIVE"));
    assert_eq!(
        s.subscription_status(SubscriptionId(1)).await.unwrap(),
        None
    );
}

async fn persons_by_card_and_cards_without_zeros(db: TestDb) {
    db.active_with(863, &[1]).await;
    let s = db.storage();
    let card = "34000001".parse::<CardNumber>().unwrap();
    assert_eq!(s.persons_by_card(&card).await.unwrap(), [PersonId(1)]);
    let padded = "0034000001".parse::<CardNumber>().unwrap();
    assert_eq!(s.cards_without_zeros(&padded).await.unwrap(), ["34000001"]);
    assert!(s.cards_without_zeros(&card).await.unwrap().is_empty());
}

async fn persons_matching_and_pairs_of_persons(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    let s = db.storage();
    let email = PersonFilter::Email("member2@example.se".into());
    let found = s.persons_matching(&email, None, 10).await.unwrap();
    assert!(found.iter().any(|p| p.id == PersonId(2)), "{found:?}");
    let pairs = s.pairs_of_persons(&[PersonId(2)]).await.unwrap();
    assert_eq!(pairs, [(SubscriptionId(863), PersonId(2))]);
    assert!(s.pairs_of_persons(&[]).await.unwrap().is_empty());
}

async fn active_members_page_pages_by_pair(db: TestDb) {
    db.active_with(863, &[1, 2, 3]).await;
    let s = db.storage();
    let first = s.active_members_page(None, 2).await.unwrap();
    let pairs: Vec<i64> = first
        .iter()
        .map(|m| m.as_ref().unwrap().person_id)
        .collect();
    assert_eq!(pairs, [1, 2]);
    let after = Some((SubscriptionId(863), PersonId(2)));
    let rest = s.active_members_page(after, 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].as_ref().unwrap().person_id, 3);
}

async fn backend_and_schema_report(db: TestDb) {
    let s = db.storage();
    let backend = match db.kind {
        Kind::Sqlite => Backend::Sqlite,
        Kind::Postgres => Backend::Postgres,
    };
    assert_eq!(s.backend(), backend);
    let report = s.schema_report().await.unwrap();
    assert!(report.host_tables_missing.is_empty(), "{report:?}");
    assert!(report.relay_tables_missing.is_empty(), "{report:?}");
    assert!(report.triggers_missing.is_empty(), "{report:?}");
    assert!(report.view_present && report.digis_problem.is_none());
}

async fn migrate_again_changes_nothing(db: TestDb) {
    let s = db.storage();
    s.migrate(false).await.unwrap();
    let adapter = HostAdapter::reference(s.backend());
    let outcome = s.migrate_with(false, &adapter).await.unwrap();
    assert!(
        matches!(outcome, AdapterOutcome::Unchanged { .. }),
        "{outcome}"
    );
}

async fn schema_versions_and_applied_adapter(db: TestDb) {
    let s = db.storage();
    let versions = s.schema_versions().await.unwrap();
    let known: Vec<i64> = versions.known.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions.applied, known, "every migration applied");
    assert!(versions.compat.is_some() && versions.modified.is_empty());
    let applied = s
        .applied_adapter()
        .await
        .unwrap()
        .expect("recorded by migrate");
    assert_eq!(
        applied.checksum,
        HostAdapter::reference(s.backend()).checksum()
    );
}

async fn host_objects_show_the_adapter(db: TestDb) {
    let objects = db.storage.host_objects(&["digis_member"]).await.unwrap();
    let (view, columns) = &objects.views[0];
    assert_eq!(view, "digis_member");
    assert!(columns.iter().any(|(c, _)| c == "person_id"), "{columns:?}");
    assert!(!objects.triggers.is_empty());
    assert!(objects.record_table && objects.record.is_some());
}

async fn host_exec_writes_host_tables(db: TestDb) {
    db.storage
        .host_exec("INSERT INTO business_unit (id, name) VALUES (9, 'Nine')")
        .await
        .unwrap();
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM business_unit WHERE id = 9")
            .await,
        1
    );
}
