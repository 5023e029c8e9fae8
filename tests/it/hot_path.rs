//! The hot path (docs/delivery-path.md), on both databases: completions committed in
//! groups with each row still guarded by its own claim, rows kept in work continuously (no
//! batch barrier), sync-log lines only after their group committed, claims that never take back
//! a row the relay still holds, and SQLite wake-ups without polling.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use digis_relay::domain::FailureCause;
use digis_relay::domain::{OutboxId, OutboxState, SubscriptionId};
use digis_relay::fake_digis::{self, FakeConfig};
use digis_relay::storage::{CompleteResult, Completion, CompletionItem};
use sqlx::{Connection, Executor};

use crate::both_databases;
use crate::common::{
    all_rows, attempt, config_for, eventually, eventually_ok, members, once, open_fake, relay,
    service, with_config, write_config, Kind, TestDb, TOKEN,
};

both_databases!(
    a_group_completes_each_row_under_its_own_claim,
    a_claim_never_takes_back_a_row_its_relay_still_holds,
    completions_are_committed_in_groups,
    a_slow_answer_holds_only_its_own_slot,
    sync_log_lines_follow_the_commit_of_their_group,
);

/// One group of every kind of completion, one of whose rows another relay took over after its
/// lease ran out, plus a give-back: each row is decided by its own claim token.
async fn a_group_completes_each_row_under_its_own_claim(db: TestDb) {
    db.active_with(5, &[1, 2, 3, 4, 5, 6, 7]).await;
    let s = db.storage();
    // Whole milliseconds: SQLite stores no finer.
    // Rounded up: the trigger stamps rows with the database clock, finer than milliseconds.
    let t0 = (Utc::now() + chrono::Duration::milliseconds(1)).trunc_subsecs(3);
    let a = crate::common::claim_rows(s.as_ref(), "relay-a", 10, Duration::from_secs(30), t0).await;
    assert_eq!(a.len(), 7);
    let later = t0 + chrono::Duration::seconds(31);
    let b =
        crate::common::claim_rows(s.as_ref(), "relay-b", 1, Duration::from_secs(30), later).await;
    assert_eq!(b.len(), 1, "relay-b takes over one expired row");
    let stolen = b[0].row.id;
    let mine: Vec<_> = a.iter().filter(|c| c.row.id != stolen).collect();
    let retry_at = later + chrono::Duration::hours(1);
    let kinds = [
        Completion::Sent {
            external_id: Some("A-1".into()),
        },
        Completion::Retry {
            next_attempt_at: retry_at,
        },
        Completion::Failed {
            cause: FailureCause::other(),
        },
        Completion::Discarded {
            reason: "the member left".into(),
        },
        Completion::Released {
            next_attempt_at: later,
        },
    ];
    let mut items: Vec<CompletionItem> = mine
        .iter()
        .zip(kinds.iter())
        .map(|(c, k)| CompletionItem::new(c, k.clone(), attempt("relay-a", later)))
        .collect();
    let stale = a.iter().find(|c| c.row.id == stolen).unwrap();
    items.insert(
        2,
        CompletionItem::new(
            stale,
            Completion::Sent {
                external_id: Some("A-STALE".into()),
            },
            attempt("relay-a", later),
        ),
    );
    let give_back = mine[5];
    let results = s
        .complete_group(&items, &[crate::common::given_back(give_back)], later)
        .await
        .unwrap();
    use CompleteResult::{Applied, LeaseLost};
    assert_eq!(
        results,
        [Applied, Applied, LeaseLost, Applied, Applied, Applied],
        "in the order given; only the taken-over row is refused"
    );
    let row = |id: OutboxId| {
        let s = s.clone();
        async move { s.outbox_row(id).await.unwrap().unwrap() }
    };
    let sent = row(mine[0].row.id).await;
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.external_id.as_deref(), Some("A-1"));
    assert_eq!(sent.sent_at, Some(later));
    assert_eq!(sent.locked_by, None);
    let retried = row(mine[1].row.id).await;
    assert_eq!(
        (retried.state, retried.next_attempt_at, retried.attempts),
        (OutboxState::Pending, retry_at, 1)
    );
    assert_eq!(retried.last_http_status, Some(200));
    assert_eq!(row(mine[2].row.id).await.state, OutboxState::Failed);
    let discarded = row(mine[3].row.id).await;
    assert_eq!(discarded.state, OutboxState::Discarded);
    assert_eq!(discarded.reason.as_deref(), Some("the member left"));
    let released = row(mine[4].row.id).await;
    assert_eq!(
        (released.state, released.attempts, released.next_attempt_at),
        (OutboxState::Pending, 0, later),
        "given back after an answer: the attempt is refunded"
    );
    let given = row(give_back.row.id).await;
    assert_eq!((given.state, given.attempts), (OutboxState::Pending, 0));
    assert_eq!(given.last_http_status, None, "no answer: nothing recorded");
    let taken = row(stolen).await;
    assert_eq!(taken.state, OutboxState::Sending);
    assert_eq!(taken.locked_by.as_deref(), Some("relay-b"));
    assert_eq!(taken.external_id, None);
    // Only the applied Sent reached digis; every completion is in the attempt history.
    let digis = s.digis_rows(Some(SubscriptionId(5)), None).await.unwrap();
    assert_eq!(digis.len(), 1, "{digis:?}");
    assert_eq!(digis[0].person_id, mine[0].row.person_id);
    assert_eq!(digis[0].external_id.as_deref(), Some("A-1"));
    let outcome = |id: OutboxId| {
        let s = s.clone();
        async move {
            s.attempts(id)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.outcome.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(outcome(stolen).await, ["stale_sent"]);
    assert_eq!(outcome(mine[0].row.id).await, ["sent"]);
    assert_eq!(outcome(mine[1].row.id).await, ["retry"]);
    assert_eq!(outcome(mine[4].row.id).await, ["paused"]);
    assert!(outcome(give_back.row.id).await.is_empty(), "no attempt");
    let a_attempt = &s.attempts(mine[0].row.id).await.unwrap()[0];
    assert_eq!(
        (
            a_attempt.attempt,
            a_attempt.duration_ms,
            a_attempt.started_at
        ),
        (1, 7, later)
    );
}

/// A row whose lease ran out while its relay still holds it (in its buffer, or its completion
/// held through an outage) must not be claimed again by that relay: it would be sent twice.
async fn a_claim_never_takes_back_a_row_its_relay_still_holds(db: TestDb) {
    db.active_with(5, &[1]).await;
    let s = db.storage();
    let t0 = Utc::now();
    let a = crate::common::claim_rows(s.as_ref(), "relay-a", 10, Duration::from_secs(30), t0).await;
    let later = t0 + chrono::Duration::seconds(31);
    let again = s
        .claim_skipping(
            "relay-a",
            10,
            Duration::from_secs(30),
            later,
            &[a[0].claim_token.clone()],
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "taken back: {again:?}");
    // Whoever does not hold it takes it once the lease ran out.
    let b = s
        .claim_skipping(
            "relay-b",
            10,
            Duration::from_secs(30),
            later,
            &["another-claim".into()],
        )
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].row.id, a[0].row.id);
}

/// A drain commits many rows per transaction (one `now`, so one `sent_at`, per group), and no
/// group is larger than `completion_group_rows`.
async fn completions_are_committed_in_groups(db: TestDb) {
    members(&db, 120).await;
    let fake = open_fake().await;
    let mut cfg = config_for(&fake.base_url(), &db);
    cfg.relay.concurrency = 8;
    cfg.relay.completion_group_rows = 50;
    // Long enough that a group closes by filling up, even on a slow machine.
    cfg.relay.completion_flush_ms = 1_000;
    once(&relay(&db, cfg)).await;
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
    let mut per_group = std::collections::BTreeMap::new();
    for r in &rows {
        *per_group.entry(r.sent_at.unwrap()).or_insert(0) += 1;
    }
    let largest = per_group.values().copied().max().unwrap();
    assert!(largest <= 50, "a group above its limit: {per_group:?}");
    assert!(
        per_group.len() <= 12,
        "120 rows in {} commits: not grouped ({per_group:?})",
        per_group.len()
    );
    assert_eq!(fake.received().len(), 120);
}

/// One member's answer takes 20 s. With a batch barrier (claim 5, wait for all 5) the other 29
/// would wait for it; here they are all sent while it is still in flight.
async fn a_slow_answer_holds_only_its_own_slot(db: TestDb) {
    members(&db, 30).await;
    let fake = crate::common::fake(&["card=34000001,delay_ms=20000"]).await;
    let mut cfg = config_for(&fake.base_url(), &db);
    cfg.relay.concurrency = 4;
    cfg.relay.batch_size = 5;
    cfg.digis_timeout_ms = 30_000;
    cfg.relay.lease_ms = 60_000;
    let svc = service(&db, cfg, false).await;
    eventually_ok("the others sent", Duration::from_secs(60), || async {
        let c = db.storage.counts().await.unwrap();
        if c.sent >= 29 {
            return Ok(());
        }
        Err(format!("{c:?}"))
    })
    .await;
    let received = fake.received();
    let slow_at = received
        .iter()
        .position(|r| r.ext_info20().as_deref() == Some("34000001"))
        .expect("the slow member was sent");
    assert!(
        received[slow_at].answered_at() > Utc::now(),
        "the slow answer is still to come"
    );
    let slow_row = all_rows(&db).await.remove(0);
    assert_eq!(
        slow_row.state,
        OutboxState::Sending,
        "the 29 others went through while the slow one was in flight"
    );
    // It went out among the first (it is the first row), and the rest followed while it hung.
    let after = received.len() - (slow_at + 1);
    assert!(
        after >= 25,
        "only {after} requests after the slow one went out"
    );
    // Closing the fake ends the slow request, so the stop does not wait 20 s for it.
    fake.shutdown().await;
    svc.shutdown().await.unwrap();
}

fn log_lines(db: &TestDb) -> Vec<digis_relay::synclog::SyncRecord> {
    std::fs::read_to_string(db.dir.path().join("logs/scheduler_digis_sync.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| digis_relay::synclog::parse_line(l).expect("a sync-log line"))
        .collect()
}

/// A database lock held while Digis answers: the answers wait for their commit, and so do their
/// sync-log lines. A line must never name a row whose state is not committed yet.
async fn sync_log_lines_follow_the_commit_of_their_group(db: TestDb) {
    db.active_with(1, &[1, 2, 3, 4]).await;
    let fake = crate::common::fake(&["delay_ms=3000"]).await;
    let mut cfg = config_for(&fake.base_url(), &db);
    cfg.relay.concurrency = 4;
    cfg.digis_timeout_ms = 10_000;
    cfg.relay.lease_ms = 60_000;
    let svc = service(&db, cfg, false).await;
    if !fake.wait_for_requests(4, Duration::from_secs(30)).await {
        // Seen once in a 2-core .ci/run (1 of 6): fewer than 4 requests in 30 s. Say where the
        // relay stood, so the next time names the stall instead of a bare timeout.
        let rows: Vec<_> = all_rows(&db)
            .await
            .into_iter()
            .map(|r| {
                format!(
                    "{} {:?} attempts={} next={} locked_by={:?} until={:?} err={:?}",
                    r.id.0,
                    r.state,
                    r.attempts,
                    r.next_attempt_at,
                    r.locked_by,
                    r.locked_until,
                    r.last_error
                )
            })
            .collect();
        let received: Vec<_> = fake.received().iter().map(|r| r.at).collect();
        panic!(
            "fewer than 4 requests in 30 s: received at {received:?}; relay {:?}, tally {:?}; \
             now {}; rows {rows:#?}",
            svc.relay().map(|r| r.status()),
            svc.relay().map(|r| r.tally()),
            Utc::now()
        );
    }
    // Every answer is 3 s away: hold the write the completions need before one comes.
    let mut lock = Lock::take(&db).await;
    assert_eq!(
        db.storage.counts().await.unwrap().sent,
        0,
        "too late to lock"
    );
    eventually("Digis answered", Duration::from_secs(30), || async {
        fake.received()
            .iter()
            .all(|r| r.answered_at() < Utc::now())
            .then_some(())
    })
    .await;
    lock.wait_for_the_relay(&db).await;
    // Watched for a while (not a wait for something to happen): no line may appear.
    let watch_until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < watch_until {
        let lines = log_lines(&db);
        assert!(
            lines.is_empty(),
            "a line was written before its group committed: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock.release().await;
    eventually(
        "committed after the lock",
        Duration::from_secs(60),
        || async { (db.storage.counts().await.unwrap().sent >= 4).then_some(()) },
    )
    .await;
    let rows = all_rows(&db).await;
    // Lines and committed rows agree now: every line's row is sent, as the line says.
    let lines = eventually_ok("4 lines", Duration::from_secs(10), || async {
        let lines = log_lines(&db);
        if lines.len() >= 4 {
            return Ok(lines);
        }
        Err(format!("{lines:?}"))
    })
    .await;
    assert_eq!(lines.len(), 4);
    for l in &lines {
        let row = rows.iter().find(|r| r.id.0 == l.outbox_id).unwrap();
        assert_eq!((l.outcome.as_str(), row.state), ("sent", OutboxState::Sent));
        assert_eq!(l.external_id, row.external_id);
    }
    svc.shutdown().await.unwrap();
}

/// A write lock on the test's database from a connection of its own.
enum Lock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Lock {
    async fn take(db: &TestDb) -> Lock {
        match db.kind {
            Kind::Sqlite => {
                let mut c = db.sqlite_connection().await;
                c.execute("BEGIN IMMEDIATE").await.unwrap();
                Lock::Sqlite(c)
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                // Claims do not touch the attempts; every completion writes one.
                c.execute("BEGIN").await.unwrap();
                c.execute("LOCK TABLE digis_attempt IN EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Lock::Postgres(c)
            }
        }
    }

    /// PostgreSQL shows the relay's completion waiting for the lock; SQLite shows nothing, so
    /// there the answers having come is all there is to wait for.
    async fn wait_for_the_relay(&mut self, db: &TestDb) {
        if db.kind != Kind::Postgres {
            return;
        }
        eventually(
            "the completion at the lock",
            Duration::from_secs(30),
            || async {
                let waiting = db
                    .scalar(
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                         AND wait_event_type = 'Lock'",
                    )
                    .await;
                (waiting > 0).then_some(())
            },
        )
        .await;
    }

    async fn release(self) {
        match self {
            Lock::Sqlite(mut c) => c.execute("ROLLBACK").await.map(drop).unwrap(),
            Lock::Postgres(mut c) => c.execute("ROLLBACK").await.map(drop).unwrap(),
        }
    }
}

/// How many times the relay went idle, from its debug log.
fn idle_waits(stderr: &std::path::Path) -> usize {
    std::fs::read_to_string(stderr)
        .unwrap_or_default()
        .matches("idle until a wake-up")
        .count()
}

async fn wait_idle(stderr: &std::path::Path, at_least: usize) {
    eventually("the relay idle", Duration::from_secs(30), || async {
        (idle_waits(stderr) >= at_least).then_some(())
    })
    .await;
}

/// The real binary on SQLite, polling only every 10 minutes (and writing its heartbeat only
/// every minute, whose own commit would wake it too): a save committed by another process
/// wakes it within moments, through the WAL watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_save_by_another_process_wakes_an_idle_relay() {
    let db = TestDb::sqlite().await;
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let config = write_config(
        &db,
        &fake.base_url(),
        "[relay]\npoll_interval_ms = 600000\nheartbeat_ms = 60000\n[export]\nlisten = \"\"\n",
    );
    let stderr = db.dir.path().join("relay.stderr");
    let mut child = crate::common::KillOnDrop::spawn(
        with_config(&config)
            .args(["run"])
            .env("DIGIS_RELAY_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap()),
    );
    for (n, sub) in [(1, 1), (2, 2)] {
        // Idle: its rounds are over and it waits (a save during a round would be found by the
        // round itself, proving nothing).
        wait_idle(&stderr, n).await;
        let saved = Instant::now();
        db.active_with(sub, &[sub]).await;
        let woke = fake.wait_for_requests(n, Duration::from_secs(20)).await;
        assert!(
            woke,
            "save {n} was not sent within 20 s (the poll is 10 min)"
        );
        eprintln!("save {n} → request in {} ms", saved.elapsed().as_millis());
        // Done with it: the next idle wait comes after this delivery's rounds.
        eventually(&format!("{n} sent"), Duration::from_secs(30), || async {
            (db.storage.counts().await.unwrap().sent >= n as u64).then_some(())
        })
        .await;
        wait_idle(&stderr, idle_waits(&stderr).max(n + 1)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}
