//! A database outage causes no second SMS (docs/delivery-path.md): an answer Digis gave
//! while the database was unreachable is held and committed once it is back, instead of being
//! dropped (which left the row `sending` until its lease expired and sent it again). The real
//! binary, a real outage of this test's own database only, the project's fake Digis.
use std::process::{Command, Stdio};
use std::time::Duration;

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::FakeHandle;
use sqlx::{Connection, Executor};

use crate::common::{
    all_rows, eventually, eventually_every, exit_of, pg_cut, pg_give_back, pg_outage as outage,
    poll_until, spawn_quiet, stale_attempts, with_config, write_config, TestDb,
};

/// A 4.5 s lease and a 4 s Digis timeout, with quick polls and heartbeats.
const SHORT_LEASE: &str =
    "digis_timeout_ms = 4000\n[relay]\nlease_ms = 4500\npoll_interval_ms = 200\n\
                           heartbeat_ms = 500\n[export]\nlisten = \"\"\n";

/// Every answer takes `delay_ms`: the window in which the test cuts the database.
async fn slow_fake(delay_ms: u64) -> FakeHandle {
    crate::common::fake(&[&format!("delay_ms={delay_ms}")]).await
}

/// Member 1 due, a fake Digis answering after `delay_ms`, and a relay's configuration with
/// [`SHORT_LEASE`].
async fn one_member_and_a_slow_fake(
    db: &TestDb,
    delay_ms: u64,
) -> (FakeHandle, std::path::PathBuf) {
    db.active_with(1, &[1]).await;
    let fake = slow_fake(delay_ms).await;
    let config = write_config(db, &fake.base_url(), SHORT_LEASE);
    (fake, config)
}

fn spawn_run(config: &std::path::Path) -> crate::common::KillOnDrop {
    spawn_quiet(config, &["run"])
}

async fn wait_for_requests(fake: &FakeHandle, n: usize) {
    eventually(
        &format!("request {n} at Digis"),
        Duration::from_secs(30),
        || async { (fake.received().len() >= n).then_some(()) },
    )
    .await
}

async fn wait_until_sent(db: &TestDb, n: usize, within: Duration) {
    eventually_every(
        &format!("{n} sent"),
        within,
        Duration::from_millis(100),
        || async {
            let sent = all_rows(db)
                .await
                .iter()
                .filter(|r| r.state == OutboxState::Sent)
                .count();
            if sent >= n {
                return Ok(());
            }
            Err(format!("only {sent}: {:?}", db.storage.counts().await))
        },
    )
    .await
}

/// The test database's name, and a connection to the server that can take it away.
async fn admin_of(db: &TestDb) -> (String, sqlx::PgConnection) {
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let admin = sqlx::PgConnection::connect(&crate::common::pg_admin_url())
        .await
        .unwrap();
    (name, admin)
}

/// `digis-relay ARGS` with its standard error written to `stderr`.
fn spawn_logged(
    config: &std::path::Path,
    args: &[&str],
    stderr: &std::path::Path,
) -> crate::common::KillOnDrop {
    crate::common::KillOnDrop::spawn(
        with_config(config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap()),
    )
}

/// Waits until the standard error written to `path` holds `text`.
async fn until_it_says(path: &std::path::Path, text: &str, what: &str, within: Duration) {
    crate::common::eventually(what, within, || async {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(text)
            .then_some(())
    })
    .await;
}

/// `run --once`, its standard error in `run-once.stderr`, once that says `text`.
async fn run_once_until_it_says(
    db: &TestDb,
    config: &std::path::Path,
    text: &str,
    what: &str,
) -> (crate::common::KillOnDrop, std::path::PathBuf) {
    let stderr_path = db.dir.path().join("run-once.stderr");
    let child = spawn_logged(config, &["run", "--once"], &stderr_path);
    until_it_says(&stderr_path, text, what, Duration::from_secs(60)).await;
    (child, stderr_path)
}

/// `run --once` to its end: its standard error, once it succeeded.
fn run_once(config: &std::path::Path) -> String {
    let out = with_config(config)
        .args(["run", "--once"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "run --once: {stderr}");
    stderr
}

/// A trigger on `digis_attempt` that fails every insert with a deadlock's SQLSTATE (40P01, a
/// transient error) while `test_gate` has a row, counting its tries in `test_gate_tries` (a
/// sequence: not rolled back). `DELETE FROM test_gate` opens it.
async fn close_the_gate(db: &TestDb) {
    db.exec(
        "CREATE TABLE test_gate (closed INTEGER);
         INSERT INTO test_gate VALUES (1);
         CREATE SEQUENCE test_gate_tries;
         CREATE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF EXISTS (SELECT 1 FROM test_gate) THEN
                 PERFORM nextval('test_gate_tries');
                 RAISE EXCEPTION 'test gate closed' USING ERRCODE = '40P01';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER test_gate_attempts BEFORE INSERT ON digis_attempt
         FOR EACH ROW EXECUTE FUNCTION test_gate();",
    )
    .await;
}

fn stop(mut child: crate::common::KillOnDrop) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

/// After the outage, a new save is delivered too: the relay reconnected by itself.
async fn assert_delivers_again(db: &TestDb, fake: &FakeHandle, sent_before: usize) {
    db.active_with(2, &[2]).await;
    wait_until_sent(db, sent_before + 1, Duration::from_secs(60)).await;
    assert_eq!(fake.duplicates(), 0, "no member was sent twice");
    assert_eq!(fake.received().len(), sent_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_while_digis_answers_sends_no_second_sms() {
    let db = TestDb::postgres().await;
    // The outage (5 s) outlasts the lease (4.5 s): dropped, the answer would be sent again.
    // The 4 s timeout is far above the fake's 1.5 s delay.
    let (fake, config) = one_member_and_a_slow_fake(&db, 1_500).await;
    let (name, mut admin) = admin_of(&db).await;
    let child = spawn_run(&config);
    wait_for_requests(&fake, 1).await;
    // Digis is answering; the database goes away before the answer can be committed. Only
    // this test's database: the shared server keeps running.
    outage(&mut admin, &name, Duration::from_secs(5)).await;
    wait_until_sent(&db, 1, Duration::from_secs(60)).await;
    assert_eq!(
        fake.received().len(),
        1,
        "the held answer was not sent again"
    );
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.attempts, 1, "{row:?}");
    assert_delivers_again(&db, &fake, 1).await;
    stop(child);
}

/// A 401 that arrives while the database is away: the relay's own pause is held like a
/// completion. Dropped, the row stayed `sending` until its lease ran out and was sent again,
/// only to get the same 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_while_digis_says_401_still_pauses_once() {
    let db = TestDb::postgres().await;
    db.active_with(1, &[1]).await;
    let fake = crate::common::fake(&["status=401,delay_ms=1500"]).await;
    let config = write_config(&db, &fake.base_url(), SHORT_LEASE);
    let (name, mut admin) = admin_of(&db).await;
    let child = spawn_run(&config);
    wait_for_requests(&fake, 1).await;
    outage(&mut admin, &name, Duration::from_secs(5)).await;
    let row = eventually_every(
        "paused",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || async {
            let paused = db
                .storage
                .control()
                .await
                .map(|c| c.paused)
                .unwrap_or(false);
            let row = all_rows(&db).await.remove(0);
            if paused && row.state == OutboxState::Pending {
                return Ok(row);
            }
            Err(format!("{row:?}"))
        },
    )
    .await;
    assert_eq!(row.attempts, 0, "given back uncharged: {row:?}");
    assert_eq!(
        fake.received().len(),
        1,
        "paused by the first 401, not by a second request after the lease ran out"
    );
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_past_its_busy_timeout_while_digis_answers_sends_no_second_sms() {
    let db = TestDb::sqlite().await;
    let (fake, config) = one_member_and_a_slow_fake(&db, 1_000).await;
    let path = digis_relay::storage::sqlite::file_of(&db.url).unwrap();
    let mut locker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let child = spawn_run(&config);
    wait_for_requests(&fake, 1).await;
    // Another writer holds the database longer than the relay's 30 s busy timeout (and its
    // 4.5 s lease): the completion fails with "database is locked" instead of waiting.
    locker.execute("BEGIN EXCLUSIVE").await.unwrap();
    tokio::time::sleep(Duration::from_secs(36)).await;
    locker.execute("COMMIT").await.unwrap();
    drop(locker);
    wait_until_sent(&db, 1, Duration::from_secs(60)).await;
    assert_eq!(
        fake.received().len(),
        1,
        "the held answer was not sent again"
    );
    assert_delivers_again(&db, &fake, 1).await;
    stop(child);
}

/// The pid of the relay's LISTEN connection, once there is one other than `not`.
async fn wait_listening(admin: &mut sqlx::PgConnection, name: &str, not: Option<i32>) -> i32 {
    let admin = tokio::sync::Mutex::new(admin);
    eventually(
        "the relay LISTENing again",
        Duration::from_secs(30),
        || async {
            let mut admin = admin.lock().await;
            let pids: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
            )
            .bind(name)
            .fetch_all(&mut **admin)
            .await
            .unwrap();
            pids.into_iter().find(|p| Some(*p) != not)
        },
    )
    .await
}

/// Every connection to the database cut at once (what a server restart does to a relay): the
/// pool and the LISTEN connection come back by themselves, so a save afterwards is delivered
/// at once by NOTIFY, not at the next poll a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_cut_the_relay_and_its_wakeups_come_back() {
    let db = TestDb::postgres().await;
    let fake = slow_fake(0).await;
    let mut cfg = crate::common::config_for(&fake.base_url(), &db);
    cfg.relay.poll_interval_ms = 120_000;
    cfg.relay.heartbeat_ms = 100;
    let service = crate::common::service(&db, cfg, false).await;
    let (name, mut admin) = admin_of(&db).await;
    let first = wait_listening(&mut admin, &name, None).await;
    db.active_with(1, &[1]).await;
    wait_until_sent(&db, 1, Duration::from_secs(20)).await;

    pg_cut(&mut admin, &name).await;
    wait_listening(&mut admin, &name, Some(first)).await;
    let before = db.storage.relays().await.unwrap()[0].heartbeat_at;
    db.active_with(2, &[2]).await;
    // Far sooner than the two-minute poll: the wake-up came through the new LISTEN connection.
    wait_until_sent(&db, 2, Duration::from_secs(20)).await;
    eventually(
        "a heartbeat after the cut",
        Duration::from_secs(20),
        || async { (db.storage.relays().await.unwrap()[0].heartbeat_at > before).then_some(()) },
    )
    .await;
    assert_eq!(fake.duplicates(), 0);
    service.shutdown().await.unwrap();
}

/// PostgreSQL only: the gate must be a transient error, and a PostgreSQL trigger can raise one
/// by its SQLSTATE, where an SQLite trigger can raise only a constraint error (never held, see
/// group_rows.rs). SQLite's hold is `sqlite_locked_past_its_busy_timeout_...` above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_run_once_waits_for_a_held_group_then_drains_the_rest() {
    run_once_waits_for_a_held_group_then_drains_the_rest(TestDb::postgres().await).await
}

/// `run --once` while a group's commit is held by a transient database error: the run goes on
/// once the group is committed and ends only when nothing is due. Before, a round blocked by
/// the held group ended the run with the backlog still pending (seen in the 20 ms drain bench,
/// where the error was a PostgreSQL deadlock). The error here is that deadlock's SQLSTATE
/// (40P01), raised by a trigger on `digis_attempt` for every insert while a gate row exists;
/// the test opens the gate once the relay says it holds the group.
async fn run_once_waits_for_a_held_group_then_drains_the_rest(db: TestDb) {
    const MEMBERS: i64 = 8;
    let persons: Vec<i64> = (1..=MEMBERS).collect();
    db.active_with(1, &persons).await;
    close_the_gate(&db).await;
    let fake = slow_fake(0).await;
    // Groups of 2 and 2 requests at a time: the first group is held while 6 rows wait.
    let config = write_config(
        &db,
        &fake.base_url(),
        "[relay]\nconcurrency = 2\nbatch_size = 2\ncompletion_group_rows = 2\n\
         max_requests_per_second = 0\n[export]\nlisten = \"\"\n",
    );
    let (mut child, stderr_path) = run_once_until_it_says(
        &db,
        &config,
        "held until the database answers again",
        "the relay holding a group",
    )
    .await;
    db.exec("DELETE FROM test_gate").await;
    let status = exit_of(
        &mut child,
        "the end of run --once",
        Duration::from_secs(120),
    )
    .await;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "run --once failed: {stderr}");
    let rows = all_rows(&db).await;
    assert_eq!(
        rows.iter().filter(|r| r.state == OutboxState::Sent).count(),
        MEMBERS as usize,
        "every row sent before the run ended: {rows:?}\n{stderr}"
    );
    assert_eq!(
        fake.received().len(),
        MEMBERS as usize,
        "one request a member"
    );
    assert_eq!(fake.duplicates(), 0);
}

async fn allow_connections(admin: &mut sqlx::PgConnection, name: &str, allow: bool) {
    if allow {
        crate::common::pg_give_back(admin, name).await;
    } else {
        crate::common::pg_take_away(admin, name).await;
    }
}

fn journals(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("held-") && n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default()
}

/// SIGTERM while answers are held through an outage: the relay ends within 30 s and leaves the
/// answers in its journal, and the next run commits them under their claim tokens before it
/// claims anything. Before, `run` kept holding them for up to 10 minutes after SIGTERM (and the
/// unit's stop timeout had to be longer than that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_during_a_hold_journals_the_answers_and_the_next_run_commits_them() {
    let db = TestDb::postgres().await;
    db.active_with(1, &[1, 2, 3]).await;
    let fake = slow_fake(1_500).await;
    let config = write_config(&db, &fake.base_url(), SHORT_LEASE);
    let state = db.dir.path().join("state");
    let (name, mut admin) = admin_of(&db).await;
    let stderr_path = db.dir.path().join("run.stderr");
    let mut child = spawn_logged(&config, &["run"], &stderr_path);
    wait_for_requests(&fake, 3).await;
    // Digis is answering all three; the database goes away before the answers are committed.
    allow_connections(&mut admin, &name, false).await;
    until_it_says(
        &stderr_path,
        "held until the database answers again",
        "the relay holding the answers",
        Duration::from_secs(30),
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let ended = poll_until(Duration::from_secs(30), crate::common::POLL, || {
        let status = child.try_wait().unwrap();
        async move { status.ok_or(()) }
    })
    .await;
    let Ok(status) = ended else {
        pg_give_back(&mut admin, &name).await;
        panic!(
            "run did not end within 30 s of SIGTERM while the database was away:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(journals(&state).len(), 1, "{stderr}");
    let accepted: std::collections::BTreeSet<String> = fake
        .received()
        .iter()
        .map(|r| r.external_id.clone().expect("accepted with an id"))
        .collect();
    assert_eq!(accepted.len(), 3);

    // A start while the database is still away keeps the journal and claims nothing: it
    // either cannot start at all or waits for the database to commit the journal first.
    let early_path = db.dir.path().join("early.stderr");
    let mut early = spawn_logged(&config, &["run", "--once"], &early_path);
    let waiting = eventually(
        "the early start to end or wait",
        Duration::from_secs(30),
        || {
            let ended = early.try_wait().unwrap().is_some();
            let text = std::fs::read_to_string(&early_path).unwrap_or_default();
            async move {
                if ended {
                    Some(false)
                } else {
                    text.contains("nothing is claimed before them")
                        .then_some(true)
                }
            }
        },
    )
    .await;
    assert_eq!(
        journals(&state).len(),
        1,
        "the journal is kept while the database is away"
    );
    assert_eq!(fake.received().len(), 3);
    pg_give_back(&mut admin, &name).await;
    if waiting {
        let status = early.wait().unwrap();
        let text = std::fs::read_to_string(&early_path).unwrap_or_default();
        assert!(status.success(), "the waiting start: {text}");
    } else {
        let rows = all_rows(&db).await;
        assert!(
            rows.iter().all(|r| r.state == OutboxState::Sending),
            "nothing committed yet: {rows:?}"
        );
    }
    // The leases have run out, so the answered rows are due again: only the journal keeps
    // them from being claimed and sent a second time.
    eventually("the leases to run out", Duration::from_secs(30), || async {
        (db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE locked_until < now()")
            .await
            == 3)
            .then_some(())
    })
    .await;
    let stderr = run_once(&config);
    let rows = all_rows(&db).await;
    let ids: std::collections::BTreeSet<String> = rows
        .iter()
        .filter(|r| r.state == OutboxState::Sent)
        .filter_map(|r| r.external_id.clone())
        .collect();
    assert_eq!(
        ids, accepted,
        "every member sent with Digis's first id: {rows:?}\n{stderr}"
    );
    assert_eq!(fake.received().len(), 3, "one request a member: {stderr}");
    assert_eq!(fake.duplicates(), 0);
    assert_eq!(stale_attempts(&db).await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis").await, 3);
    assert!(
        journals(&state).is_empty(),
        "the journal is deleted once committed"
    );
}

/// A journal as a relay stopped during an outage leaves it, written through the journal
/// module: member 1's row claimed by `old-relay` and answered `external_id`.
async fn leave_a_journal(db: &TestDb, external_id: &str) -> std::path::PathBuf {
    use digis_relay::relay::journal;
    use digis_relay::storage::{AttemptRecord, Completion, CompletionItem};
    let claimed = db
        .storage
        .claim(
            "old-relay",
            10,
            Duration::from_secs(3600),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let item = CompletionItem::new(
        &claimed[0],
        Completion::Sent {
            external_id: Some(external_id.into()),
        },
        AttemptRecord {
            started_at: chrono::Utc::now(),
            duration_ms: 120,
            relay_id: "old-relay".into(),
            http_status: Some(200),
            error: None,
        },
    );
    let state = db.dir.path().join("state");
    let j = journal::Journal {
        version: journal::VERSION,
        relay_id: "old-relay".into(),
        completions: vec![journal::HeldCompletion::new(&item, Some(200), None, None)],
        releases: vec![],
    };
    journal::write(&journal::path_for(&state, "old-relay", 1), &j).unwrap();
    state
}

/// Member 1 due and answered `external_id` in the journal `old-relay` left, a fake Digis and a
/// relay's configuration: the fake, the configuration and the relay's state folder.
async fn a_journal_left_behind(
    db: &TestDb,
    external_id: &str,
) -> (FakeHandle, std::path::PathBuf, std::path::PathBuf) {
    db.active_with(1, &[1]).await;
    let fake = slow_fake(0).await;
    let config = write_config(db, &fake.base_url(), "[export]\nlisten = \"\"\n");
    let state = leave_a_journal(db, external_id).await;
    (fake, config, state)
}

/// A journal left by a relay stopped during an outage (SQLite: written here through the
/// journal module) is committed by the next `run --once` before it claims: the row is `sent`
/// with the journal's external id and Digis is not asked again. Before, the journal was not
/// read: the row stayed `sending` until its lease ran out and was then sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_journal_left_behind_is_committed_at_start() {
    let db = TestDb::sqlite().await;
    let (fake, config, state) = a_journal_left_behind(&db, "TE-424242").await;
    let stderr = run_once(&config);
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Sent, "{row:?}\n{stderr}");
    assert_eq!(row.external_id.as_deref(), Some("TE-424242"));
    assert_eq!(fake.received().len(), 0, "Digis was not asked again");
    assert!(
        journals(&state).is_empty(),
        "the journal is deleted once committed"
    );
    let log = std::fs::read_to_string(db.dir.path().join("logs/scheduler_digis_sync.txt"))
        .unwrap_or_default();
    assert!(log.contains("TE-424242"), "its sync-log line: {log}");
}

/// While the journal cannot be committed (a transient error: the deadlock SQLSTATE raised by a
/// trigger on `digis_attempt`, as in the held-group test above), the relay waits and claims
/// nothing, though another member is due; once the database takes the journal, the relay
/// commits it and then sends the other member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_relay_claims_nothing_until_its_journal_is_committed() {
    let db = TestDb::postgres().await;
    let (fake, config, state) = a_journal_left_behind(&db, "TE-434343").await;
    db.active_with(2, &[2]).await;
    close_the_gate(&db).await;
    let (mut child, stderr_path) = run_once_until_it_says(
        &db,
        &config,
        "nothing is claimed before them",
        "the relay waiting for its journal",
    )
    .await;
    // Several of its backoff waits (a sequence counts the tries: it is not rolled back): a
    // relay that went on would have claimed and sent member 2 meanwhile.
    eventually("a few retries", Duration::from_secs(30), || async {
        (db.scalar("SELECT last_value FROM test_gate_tries").await >= 5).then_some(())
    })
    .await;
    assert_eq!(
        fake.received().len(),
        0,
        "nothing claimed while the journal waits"
    );
    assert_eq!(journals(&state).len(), 1);
    db.exec("DELETE FROM test_gate").await;
    let status = exit_of(&mut child, "the end of run --once", Duration::from_secs(60)).await;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "run --once failed: {stderr}");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}\n{stderr}"
    );
    assert!(
        rows.iter()
            .any(|r| r.external_id.as_deref() == Some("TE-434343")),
        "{rows:?}"
    );
    assert_eq!(fake.received().len(), 1, "only member 2 was sent");
    assert!(journals(&state).is_empty());
}
