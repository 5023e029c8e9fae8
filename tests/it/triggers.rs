//! docs/contracts.md, Relay-owned schema (triggers): what a save in the membership system queues.
use crate::both_databases;
use crate::common::TestDb;
use chrono::Utc;
use digis_relay::domain::FailureCause;
use digis_relay::storage::{AttemptRecord, Completion};
use std::time::Duration;

both_databases!(
    new_active_subscription_with_two_users_queues_two_rows,
    users_added_before_activation_are_queued_on_activation,
    non_active_save_queues_nothing,
    adding_a_user_to_an_active_subscription_queues_that_user,
    saving_again_while_open_queues_no_duplicate,
    saving_again_after_sent_queues_nothing,
    saving_again_after_failed_queues_a_fresh_row,
    migrate_twice_changes_nothing,
);

async fn new_active_subscription_with_two_users_queues_two_rows(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    assert_eq!(
        db.outbox().await,
        vec![
            (863, 1, "pending".to_string()),
            (863, 2, "pending".to_string())
        ]
    );
}

async fn users_added_before_activation_are_queued_on_activation(db: TestDb) {
    db.person(1).await;
    db.person(2).await;
    db.subscription(10, "PAUSED").await;
    db.add_user(10, 1).await;
    db.add_user(10, 2).await;
    assert!(db.outbox().await.is_empty());
    db.set_status(10, "ACTIVE").await;
    assert_eq!(db.outbox().await.len(), 2);
}

async fn non_active_save_queues_nothing(db: TestDb) {
    db.person(1).await;
    for (id, status) in [(1, "PAUSED"), (2, "ENDED"), (3, "CANCELLED")] {
        db.subscription(id, status).await;
        db.add_user(id, 1).await;
        db.save(id).await;
    }
    assert!(db.outbox().await.is_empty());
}

async fn adding_a_user_to_an_active_subscription_queues_that_user(db: TestDb) {
    db.active_with(5, &[1]).await;
    db.person(7).await;
    db.add_user(5, 7).await;
    assert_eq!(
        db.outbox().await,
        vec![(5, 1, "pending".into()), (5, 7, "pending".into())]
    );
}

async fn saving_again_while_open_queues_no_duplicate(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    db.save(5).await;
    db.save(5).await;
    assert_eq!(db.outbox().await.len(), 2);
    // A claimed (sending) row is open too.
    db.storage
        .claim("r", 1, Duration::from_secs(60), Utc::now())
        .await
        .unwrap();
    db.save(5).await;
    assert_eq!(db.outbox().await.len(), 2);
}

async fn finish(db: &TestDb, completion: Completion) {
    let s = db.storage();
    let claimed = s
        .claim("r", 10, Duration::from_secs(60), Utc::now())
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    for c in &claimed {
        let a = AttemptRecord {
            started_at: Utc::now(),
            duration_ms: 5,
            relay_id: "r".into(),
            http_status: Some(200),
            error: None,
        };
        s.complete(c, &completion, &a, Utc::now()).await.unwrap();
    }
}

async fn saving_again_after_sent_queues_nothing(db: TestDb) {
    db.active_with(5, &[1]).await;
    finish(
        &db,
        Completion::Sent {
            external_id: Some("X1".into()),
        },
    )
    .await;
    db.save(5).await;
    assert_eq!(db.outbox().await, vec![(5, 1, "sent".into())]);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis WHERE subscription_id = 5 AND person_id = 1")
            .await,
        1
    );
}

async fn saving_again_after_failed_queues_a_fresh_row(db: TestDb) {
    db.active_with(5, &[1]).await;
    let failed = Completion::Failed {
        cause: FailureCause::other(),
    };
    finish(&db, failed).await;
    db.save(5).await;
    assert_eq!(
        db.outbox().await,
        vec![(5, 1, "failed".into()), (5, 1, "pending".into())]
    );
}

async fn migrate_twice_changes_nothing(db: TestDb) {
    db.active_with(5, &[1]).await;
    let before = db.scalar("SELECT COUNT(*) FROM digis_outbox").await;
    db.storage.migrate(true).await.unwrap();
    db.storage.migrate(false).await.unwrap();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_outbox").await, before);
    assert!(db.storage.schema_report().await.unwrap().is_complete());
    // Still exactly one set of triggers: a save queues one row per user, not two.
    db.person(2).await;
    db.add_user(5, 2).await;
    assert_eq!(db.outbox().await.len(), 2);
}
