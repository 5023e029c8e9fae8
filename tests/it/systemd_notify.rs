//! `run` under systemd's `Type=notify` (docs/systemd.md): the real binary with
//! `NOTIFY_SOCKET` pointing at a datagram socket the test binds and `WATCHDOG_USEC` = 1 s, a
//! poll interval of 5 s (an idle relay must wake to feed). READY=1 only once the listener is
//! bound and the database answered; STATUS= follows the delivery state; WATCHDOG=1 never
//! misses the 1 s deadline, idle, paused, sending, with the circuit open and holding an answer
//! through a real PostgreSQL outage; STOPPING=1 on SIGTERM.
use crate::common::cli_ok as cli;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digis_relay::fake_digis::{self, FakeConfig, FakeHandle};
use sqlx::Connection;

use crate::both_databases;
use crate::common::{eventually, exit_of, with_config, write_config, KillOnDrop, TestDb};

/// systemd's deadline in the tests: far below the 5 s poll interval.
const WATCHDOG: Duration = Duration::from_secs(1);
/// A feed may be this late after the one before and still meet the deadline on a loaded
/// machine: systemd acts only past `WATCHDOG`.
const MAX_FEED_GAP: Duration = Duration::from_millis(950);
const WITHIN: Duration = Duration::from_secs(60);

/// One datagram, and when it came.
#[derive(Clone, Debug)]
struct Msg {
    at: Instant,
    text: String,
    /// For READY=1: whether the port answered a TCP connect at that moment.
    port_open: Option<bool>,
}

/// The notification socket, read by a thread for the whole test.
struct Notify {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    got: Arc<Mutex<Vec<Msg>>>,
}

impl Notify {
    fn bind(port: u16) -> Notify {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let port_open = text.lines().any(|l| l == "READY=1").then(|| {
                    std::net::TcpStream::connect_timeout(
                        &([127, 0, 0, 1], port).into(),
                        Duration::from_secs(2),
                    )
                    .is_ok()
                });
                kept.lock().unwrap().push(Msg {
                    at: Instant::now(),
                    text,
                    port_open,
                });
            }
        });
        Notify {
            _dir: dir,
            path,
            got,
        }
    }

    fn all(&self) -> Vec<Msg> {
        self.got.lock().unwrap().clone()
    }

    /// The first message with a line `line` (or starting with it, for `STATUS=...`).
    async fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> Msg {
        eventually(what, WITHIN, || async {
            self.all().into_iter().find(|m| m.text.lines().any(&pred))
        })
        .await
    }

    async fn wait_status(&self, contains: &str) -> Msg {
        self.wait_line(&format!("a STATUS= with {contains:?}"), |l| {
            l.starts_with("STATUS=") && l.contains(contains)
        })
        .await
    }

    /// Waits for `n` feeds after `from`; asserts none came later than [`MAX_FEED_GAP`] after
    /// the one before (or after `from`).
    async fn fed_through(&self, what: &str, from: Instant, n: usize) {
        let feeds = eventually(
            &format!("{n} watchdog feeds while {what}"),
            WITHIN,
            || async {
                let feeds: Vec<Instant> = self
                    .all()
                    .into_iter()
                    .filter(|m| m.at >= from && m.text.lines().any(|l| l == "WATCHDOG=1"))
                    .map(|m| m.at)
                    .collect();
                (feeds.len() >= n).then_some(feeds)
            },
        )
        .await;
        let mut before = from;
        for at in feeds {
            assert!(
                at - before <= MAX_FEED_GAP,
                "while {what}: {:?} without a feed",
                at - before
            );
            before = at;
        }
    }

    /// The longest gap between consecutive feeds from the first one on.
    fn longest_gap(&self) -> Duration {
        let feeds: Vec<Instant> = self
            .all()
            .into_iter()
            .filter(|m| m.text.lines().any(|l| l == "WATCHDOG=1"))
            .map(|m| m.at)
            .collect();
        feeds
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    fn statuses(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .flat_map(|m| {
                m.text
                    .lines()
                    .filter_map(|l| l.strip_prefix("STATUS=").map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `run` on `port` with the notification socket and a 1 s watchdog.
fn spawn_run(config: &std::path::Path, port: u16, notify: &Notify) -> KillOnDrop {
    KillOnDrop::spawn(
        with_config(config)
            .args(["run"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("NOTIFY_SOCKET", &notify.path)
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// SIGTERM: STOPPING=1 arrives and the process exits 0.
async fn stop(mut child: KillOnDrop, notify: &Notify) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    notify.wait_line("STOPPING=1", |l| l == "STOPPING=1").await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

async fn fake(rules: &[&str]) -> FakeHandle {
    fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(crate::common::TOKEN.into()),
            rules: rules.iter().map(|r| r.parse().unwrap()).collect(),
            record: None,
        },
    )
    .await
    .unwrap()
}

/// Slow polls and heartbeats: an idle relay must wake to feed. (On SQLite every commit, a
/// heartbeat too, wakes the loop through the WAL watch: quick heartbeats would hide an idle
/// wait that does not wake by itself.)
const RELAY: &str = "[relay]\npoll_interval_ms = 5000\nheartbeat_ms = 4000\n\
                     max_requests_per_second = 0\n";

both_databases!(
    ready_once_listening_then_status_and_feeds_idle_paused_and_sending,
    the_watchdog_is_fed_while_the_circuit_is_open
);

async fn ready_once_listening_then_status_and_feeds_idle_paused_and_sending(db: TestDb) {
    let fake = fake(&[]).await;
    let config = write_config(&db, &fake.base_url(), RELAY);
    let port = free_port();
    let notify = Notify::bind(port);
    let child = spawn_run(&config, port, &notify);

    let ready = notify.wait_line("READY=1", |l| l == "READY=1").await;
    assert_eq!(
        ready.port_open,
        Some(true),
        "READY=1 before the listener was bound"
    );
    // The first heartbeat came before READY=1: the database answered.
    let relays = db.storage().relays().await.unwrap();
    assert_eq!(relays.len(), 1, "{relays:?}");
    assert!(
        ready.text.lines().any(|l| l.starts_with("STATUS=idle")),
        "{ready:?}"
    );
    notify.fed_through("idle", ready.at, 5).await;

    cli(&config, &["pause", "--reason", "maintenance"]);
    let paused = notify.wait_status("paused: maintenance").await;
    notify.fed_through("paused", paused.at, 4).await;

    cli(&config, &["resume"]);
    db.active_with(1, &[1, 2]).await;
    let sent = notify.wait_status("2 sent, 0 failed").await;
    notify.fed_through("after sending", sent.at, 3).await;
    assert_eq!(fake.received().len(), 2);

    stop(child, &notify).await;
    let gap = notify.longest_gap();
    assert!(gap <= MAX_FEED_GAP, "{gap:?} without a feed");
    let statuses = notify.statuses();
    // Said when the state changed, not at every feed.
    assert!(statuses.len() < 30, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.contains("brp?token")),
        "{statuses:?}"
    );
}

async fn the_watchdog_is_fed_while_the_circuit_is_open(db: TestDb) {
    db.active_with(1, &[1, 2, 3]).await;
    let fake = fake(&["status=503"]).await;
    let config = write_config(
        &db,
        &fake.base_url(),
        &format!(
            "{RELAY}concurrency = 1\ncircuit_failure_threshold = 2\ncircuit_open_ms = 60000\n\
             backoff_base_ms = 1\nbackoff_max_ms = 2\n"
        ),
    );
    let port = free_port();
    let notify = Notify::bind(port);
    let child = spawn_run(&config, port, &notify);
    notify.wait_line("READY=1", |l| l == "READY=1").await;
    let open = notify.wait_status("circuit open: Digis unreachable").await;
    notify.fed_through("the circuit is open", open.at, 5).await;
    stop(child, &notify).await;
}

/// A real outage of this test's PostgreSQL database while Digis answers: the answer is held
/// (the status says so) and the watchdog is fed all along; once the database is back the
/// answer is committed. SQLite's only outage is a lock, which the relay waits out inside one
/// call for its 30 s busy timeout: the unit's WatchdogSec=60 covers it, a 1 s test watchdog
/// cannot (docs/systemd.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_watchdog_is_fed_while_an_answer_is_held_through_an_outage() {
    let db = TestDb::postgres().await;
    db.active_with(1, &[1]).await;
    let fake = fake(&["delay_ms=1500"]).await;
    let config = write_config(
        &db,
        &fake.base_url(),
        &format!("digis_timeout_ms = 8000\n{RELAY}lease_ms = 20000\n"),
    );
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&crate::common::pg_admin_url())
        .await
        .unwrap();
    let port = free_port();
    let notify = Notify::bind(port);
    let child = spawn_run(&config, port, &notify);
    notify.wait_line("READY=1", |l| l == "READY=1").await;
    assert!(fake.wait_for_requests(1, WITHIN).await);
    // Digis is answering; the database goes away before the answer can be committed.
    crate::common::pg_take_away(&mut admin, &name).await;
    let held = notify
        .wait_status("database unreachable, holding 1 answer")
        .await;
    notify.fed_through("holding an answer", held.at, 5).await;
    crate::common::pg_give_back(&mut admin, &name).await;
    notify.wait_status("1 sent, 0 failed").await;
    assert_eq!(
        fake.received().len(),
        1,
        "the held answer was not sent again"
    );
    stop(child, &notify).await;
    // The 1.5 s request to Digis, the hold and the commit: all turns of a live loop.
    let gap = notify.longest_gap();
    assert!(gap <= MAX_FEED_GAP, "{gap:?} without a feed");
}

/// No database, no READY=1: `run` ends with its error and systemd sees the start fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_no_ready_while_the_database_refuses() {
    let db = TestDb::postgres().await;
    let fake = fake(&[]).await;
    let config = write_config(&db, &fake.base_url(), RELAY);
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&crate::common::pg_admin_url())
        .await
        .unwrap();
    crate::common::pg_take_away(&mut admin, &name).await;
    let port = free_port();
    let notify = Notify::bind(port);
    let mut child = spawn_run(&config, port, &notify);
    let status = exit_of(&mut child, "the end of run without its database", WITHIN).await;
    assert!(!status.success());
    let msgs = notify.all();
    assert!(msgs.iter().all(|m| !m.text.contains("READY=1")), "{msgs:?}");
    crate::common::pg_give_back(&mut admin, &name).await;
}
