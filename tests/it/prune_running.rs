//! Pruning by a running relay, through the real binary on both databases (docs/delivery-path.md: the
//! loop prunes at start and then every `prune_interval_ms`, `retention_days`): sent and
//! discarded rows older than the retention go; open, failed and recent rows stay, and so does
//! the record that Digis has a member.
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::OutboxState;
use digis_relay::storage_time_text;

use crate::both_databases;
use crate::common::{all_rows, eventually, fake, relay_config, RunningService, TestDb};

both_databases!(
    a_running_relay_prunes_old_finished_rows_only,
    a_running_relay_prunes_again_every_interval
);

async fn a_running_relay_prunes_old_finished_rows_only(db: TestDb) {
    for s in 1..=7 {
        db.active_with(s, &[s]).await;
    }
    let days_ago = |d: i64| storage_time_text(Utc::now() - chrono::Duration::days(d));
    let set = |sub: i64, state: &str, updated_days_ago: i64| {
        format!(
            "UPDATE digis_outbox SET state = '{state}', updated_at = '{}' WHERE subscription_id = {sub};",
            days_ago(updated_days_ago)
        )
    };
    let mut sql = String::new();
    sql.push_str(&set(1, "sent", 100)); // old and sent: goes
    sql.push_str(&set(2, "discarded", 31)); // old and discarded: goes
    sql.push_str(&set(3, "failed", 100)); // failed: stays, an operator has to see it
    sql.push_str(&set(4, "sent", 29)); // within the retention: stays
    sql.push_str(&set(5, "discarded", 1)); // recent: stays
                                           // Waiting for a retry far ahead, untouched for long: still open, stays.
    sql.push_str(&set(6, "pending", 100));
    sql.push_str("UPDATE digis_outbox SET next_attempt_at = '2099-01-01T00:00:00.000Z' WHERE subscription_id = 6;");
    // Row 7 stays pending and due: the relay sends it while it prunes.
    sql.push_str(
        "INSERT INTO digis (subscription_id, person_id, external_id) VALUES (1, 1, 'TE-OLD');",
    );
    db.exec(&sql).await;
    let before: Vec<(i64, OutboxState)> = all_rows(&db)
        .await
        .iter()
        .map(|r| (r.subscription_id.0, r.state))
        .collect();
    assert_eq!(before.len(), 7, "{before:?}");

    let fake = fake(&[]).await;
    let svc = RunningService::start(&relay_config(
        &db,
        "pruner",
        &fake.base_url(),
        "[relay]\nrelay_id = \"pruner\"\nretention_days = 30\npoll_interval_ms = 100\n\
         max_requests_per_second = 0\n",
    ));
    let subs = eventually(
        "the old finished rows were pruned and the due one sent",
        Duration::from_secs(60),
        || async {
            let rows = all_rows(&db).await;
            let subs: Vec<i64> = rows.iter().map(|r| r.subscription_id.0).collect();
            let sent7 = rows
                .iter()
                .any(|r| r.subscription_id.0 == 7 && r.state == OutboxState::Sent);
            (!subs.contains(&1) && !subs.contains(&2) && sent7).then_some(rows)
        },
    )
    .await;
    let kept: Vec<(i64, OutboxState)> = subs
        .iter()
        .map(|r| (r.subscription_id.0, r.state))
        .collect();
    assert_eq!(
        kept,
        [
            (3, OutboxState::Failed),
            (4, OutboxState::Sent),
            (5, OutboxState::Discarded),
            (6, OutboxState::Pending),
            (7, OutboxState::Sent),
        ]
    );
    assert_eq!(fake.received().len(), 1, "only the due row was sent");
    // The record that Digis has the member is not the outbox's to prune.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis WHERE subscription_id = 1")
            .await,
        1
    );
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("pruned 2 sent/discarded rows older than 30 days"),
        "{stderr}"
    );
}

/// Rows that grow old while the relay runs go at its next prune, not only at start (the interval
/// was a hard-coded hour before `prune_interval_ms`, so no test reached a second prune).
async fn a_running_relay_prunes_again_every_interval(db: TestDb) {
    for s in 1..=2 {
        db.active_with(s, &[s]).await;
    }
    let fake = fake(&[]).await;
    let svc = RunningService::start(&relay_config(
        &db,
        "repruner",
        &fake.base_url(),
        "[relay]\nrelay_id = \"repruner\"\nretention_days = 30\nprune_interval_ms = 200\n\
         poll_interval_ms = 100\nmax_requests_per_second = 0\n",
    ));
    // Both rows sent: the start-up prune is long over, and they are recent, so they stay.
    eventually("both rows were sent", Duration::from_secs(60), || async {
        let rows = all_rows(&db).await;
        (rows.len() == 2 && rows.iter().all(|r| r.state == OutboxState::Sent)).then_some(())
    })
    .await;
    // One of them now looks 100 days old: only a prune after the start-up one can take it.
    db.exec(&format!(
        "UPDATE digis_outbox SET updated_at = '{}' WHERE subscription_id = 1;",
        storage_time_text(Utc::now() - chrono::Duration::days(100))
    ))
    .await;
    eventually(
        "the row that grew old was pruned by a later prune",
        Duration::from_secs(60),
        || async {
            let subs: Vec<i64> = all_rows(&db)
                .await
                .iter()
                .map(|r| r.subscription_id.0)
                .collect();
            (subs == [2]).then_some(())
        },
    )
    .await;
    assert_eq!(fake.received().len(), 2, "each row was sent once");
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("pruned 1 sent/discarded rows older than 30 days"),
        "{stderr}"
    );
}
