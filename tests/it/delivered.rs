//! Delivered means delivered (docs/contracts.md, Delivered means delivered): a pair with a `sent`
//! outbox row was accepted by Digis even when the host lost its `digis` row (a TRUNCATE, a
//! restore from an older backup). Seen: `sync --reconcile` then queued every member again,
//! 200 members, 200 new SMS, without a count or a question.
use std::process::Stdio;

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::FakeHandle;

use crate::both_databases;
use crate::common::{
    all_rows, command, config_for, once, open_fake, relay, Kind, Out, TestDb, BIN,
};

both_databases!(
    reconcile_after_digis_was_lost_queues_nobody,
    saving_again_after_digis_was_lost_queues_nobody,
    a_row_queued_by_hand_for_a_sent_pair_is_not_sent,
    reconcile_above_the_threshold_needs_a_yes,
    reconcile_on_a_terminal_asks_first,
    doctor_and_reconcile_know_what_only_the_sync_log_remembers,
);

/// The binary as support runs it from a script: no terminal on stdin, so it cannot ask.
fn cli(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> Out {
    Out::of(
        command()
            .current_dir(db.dir.path())
            .args(["--database-url", &db.url])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null()),
    )
}

/// Subscription 1 with `persons`, each sent once by a relay against a fake Digis.
async fn sent_to_digis(db: &TestDb, persons: &[i64]) -> FakeHandle {
    db.active_with(1, persons).await;
    let fake = open_fake().await;
    once(&relay(db, config_for(&fake.base_url(), db))).await;
    let rows = all_rows(db).await;
    assert_eq!(rows.len(), persons.len());
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
    assert_eq!(fake.received().len(), persons.len());
    fake
}

/// The host loses `digis` whole.
async fn lose_digis(db: &TestDb) {
    match db.kind {
        Kind::Sqlite => db.exec("DELETE FROM digis").await,
        Kind::Postgres => db.exec("TRUNCATE digis").await,
    }
    assert_eq!(db.scalar("SELECT count(*) FROM digis").await, 0);
}

async fn open_rows(db: &TestDb) -> i64 {
    db.scalar("SELECT count(*) FROM digis_outbox WHERE state IN ('pending', 'sending')")
        .await
}

async fn reconcile_after_digis_was_lost_queues_nobody(db: TestDb) {
    let _fake = sent_to_digis(&db, &[1, 2, 3]).await;
    lose_digis(&db).await;
    let out = cli(&db, &[], &["sync", "--reconcile"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(open_rows(&db).await, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("reconcile would queue 0 member(s)")
            && out
                .stdout
                .contains("3 member(s) have a sent outbox row but no digis row")
            && out.stdout.contains("0 missing member(s) queued"),
        "{}",
        out.stdout
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM digis").await,
        0,
        "not asked"
    );

    // Written back when asked: Digis's id, synced when it was sent.
    let out = cli(&db, &[], &["sync", "--reconcile", "--restore-digis"]);
    let said = out.stdout_of_code(0);
    assert!(
        said.contains("3 digis row(s) written back from sent outbox rows"),
        "{said}"
    );
    assert_eq!(open_rows(&db).await, 0);
    let same = db
        .scalar(
            "SELECT count(*) FROM digis d JOIN digis_outbox o \
             ON o.subscription_id = d.subscription_id AND o.person_id = d.person_id \
             WHERE o.state = 'sent' AND d.external_id = o.external_id AND d.synced_at = o.sent_at",
        )
        .await;
    assert_eq!(same, 3);
    // A member Digis never had (the triggers never saw it) is still queued.
    db.person(4).await;
    db.add_user(1, 4).await;
    db.exec("DELETE FROM digis_outbox WHERE person_id = 4")
        .await;
    let out = cli(&db, &[], &["sync", "--reconcile"]);
    assert!(
        out.stdout.contains("1 missing member(s) queued"),
        "{}",
        out.stdout
    );
    assert_eq!(open_rows(&db).await, 1);
}

async fn saving_again_after_digis_was_lost_queues_nobody(db: TestDb) {
    let _fake = sent_to_digis(&db, &[1, 2]).await;
    lose_digis(&db).await;
    db.save(1).await;
    db.set_status(1, "ACTIVE").await;
    assert_eq!(open_rows(&db).await, 0, "{:?}", db.outbox().await);
    // A new user of the subscription is queued as before.
    db.person(3).await;
    db.add_user(1, 3).await;
    assert_eq!(open_rows(&db).await, 1, "{:?}", db.outbox().await);
}

async fn a_row_queued_by_hand_for_a_sent_pair_is_not_sent(db: TestDb) {
    let fake = sent_to_digis(&db, &[1, 2]).await;
    lose_digis(&db).await;
    db.exec("INSERT INTO digis_outbox (subscription_id, person_id) VALUES (1, 1)")
        .await;
    once(&relay(&db, config_for(&fake.base_url(), &db))).await;
    assert_eq!(fake.received().len(), 2, "no second request for person 1");
    let rows = all_rows(&db).await;
    let by_hand = rows.last().unwrap();
    assert_eq!(by_hand.state, OutboxState::Discarded);
    let reason = by_hand.reason.as_deref().unwrap_or_default();
    let first = rows.iter().find(|r| r.person_id.0 == 1).unwrap();
    assert!(
        reason.contains(&format!("already sent by outbox row {}", first.id.0))
            && reason.contains(first.external_id.as_deref().unwrap()),
        "{reason}"
    );
}

async fn reconcile_above_the_threshold_needs_a_yes(db: TestDb) {
    // Five members the triggers never saw (the relay was installed later).
    db.active_with(1, &[1, 2, 3, 4, 5]).await;
    db.exec("DELETE FROM digis_outbox").await;
    let limit = [("DIGIS_RELAY_SYNC__RECONCILE_CONFIRM_ABOVE", "4")];
    let out = cli(&db, &limit, &["sync", "--reconcile"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("reconcile would queue 5 member(s)"),
        "{}",
        out.stdout
    );
    let refusal: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(refusal.len(), 1, "one line: {}", out.stderr);
    assert!(
        refusal[0].contains("sync.reconcile_confirm_above (4)")
            && refusal[0].contains("nothing queued")
            && refusal[0].contains("--yes"),
        "{}",
        out.stderr
    );
    assert_eq!(db.scalar("SELECT count(*) FROM digis_outbox").await, 0);
    // At the threshold it needs no answer; above it --yes queues.
    let at = [("DIGIS_RELAY_SYNC__RECONCILE_CONFIRM_ABOVE", "5")];
    db.exec("DELETE FROM subscription_user WHERE person_id = 5")
        .await;
    let out = cli(&db, &at, &["sync", "--reconcile"]);
    assert!(
        out.code == 0 && out.stdout.contains("4 missing member(s) queued"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    db.exec("DELETE FROM digis_outbox").await;
    let below = [("DIGIS_RELAY_SYNC__RECONCILE_CONFIRM_ABOVE", "3")];
    let out = cli(&db, &below, &["sync", "--reconcile"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(open_rows(&db).await, 0);
    let out = cli(&db, &below, &["sync", "--reconcile", "--yes"]);
    assert!(
        out.code == 0 && out.stdout.contains("4 missing member(s) queued"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let one = [("DIGIS_RELAY_SYNC__RECONCILE_CONFIRM_ABOVE", "0")];
    db.exec("DELETE FROM digis_outbox").await;
    let out = cli(&db, &one, &["sync", "--reconcile"]);
    assert_eq!(out.code, 1, "0 asks for any: {}", out.stdout);
    assert_eq!(open_rows(&db).await, 0);
}

/// On a terminal (a pseudo-terminal from util-linux `script`) it asks; only a yes queues.
async fn reconcile_on_a_terminal_asks_first(db: TestDb) {
    db.active_with(1, &[1, 2, 3]).await;
    db.exec("DELETE FROM digis_outbox").await;
    let on_terminal = |answer: &str| {
        let line = format!("{BIN} --database-url '{}' sync --reconcile", db.url);
        let env = [("DIGIS_RELAY_SYNC__RECONCILE_CONFIRM_ABOVE", "2")];
        crate::common::on_terminal(db.dir.path(), &line, &env, answer)
    };
    let said = on_terminal("n\n");
    assert!(
        said.contains("Queue 3 member(s) for an SMS each? [y/N]")
            && said.contains("nothing queued"),
        "{said}"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM digis_outbox").await, 0);
    let said = on_terminal("y\n");
    assert!(said.contains("3 missing member(s) queued"), "{said}");
    assert_eq!(open_rows(&db).await, 3);
}

/// A restore from an older backup: the database forgot person 2 (neither `digis` nor the
/// outbox has it), the sync log remembers it was sent.
async fn doctor_and_reconcile_know_what_only_the_sync_log_remembers(db: TestDb) {
    let _fake = sent_to_digis(&db, &[1, 2, 3]).await;
    db.exec("DELETE FROM digis WHERE person_id = 2; DELETE FROM digis_outbox WHERE person_id = 2")
        .await;
    let out = cli(&db, &[], &["doctor", "--no-network"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("sync log") && l.contains("unknown to the database"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains("1 pair(s)") && line.contains("1/2"), "{line}");
    let out = cli(&db, &[], &["sync", "--reconcile"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("skipping 1 member(s) the sync log says were sent")
            && out.stdout.contains("0 missing member(s) queued"),
        "{}",
        out.stdout
    );
    assert_eq!(open_rows(&db).await, 0);
    // Without the log's word the pair would be queued: the skip is the log's doing.
    std::fs::remove_dir_all(db.dir.path().join("logs")).unwrap();
    let out = cli(&db, &[], &["sync", "--reconcile"]);
    assert!(
        out.stdout.contains("1 missing member(s) queued"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("warning: no sync log folder at logs"),
        "{}",
        out.stderr
    );
}
