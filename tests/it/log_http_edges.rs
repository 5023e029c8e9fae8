//! Issue 10, items 5, 8, 9 and part of 12, on the real binary: host data cannot forge the sync
//! log, a blank export token is a configuration error, slow clients cannot hold the listener,
//! and the CLI's small edges (config error lines, migrate without membership tables, resend of
//! nothing, an unwritable sync log, doctor's log-folder check).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_databases;
use crate::common::{cli_in, Out, Person, RunningService, TestConfig, TestDb};

const EXPORT_TOKEN: &str = "edge-export-token-0123456789";

fn write_config(db: &TestDb, extra: &str) -> PathBuf {
    TestConfig::base(db).with(extra).write_in(db)
}

fn with_config(config: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    cli_in(config.parent().unwrap(), &all)
}

fn one_line(s: &str) -> &str {
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {s}");
    lines[0]
}

// --- item 5: the sync log cannot be forged -------------------------------------------------

const FORGED: &str = "2026-11-28T12:00:00.000Z relay=x ExtInfo1:424242, ExtInfo20:31337 outbox=1 person=1 attempt=1 outcome=sent status=200 external_id=FORGED ms=1";

both_databases!(a_card_cannot_forge_a_sync_log_line);

async fn a_card_cannot_forge_a_sync_log_line(db: TestDb) {
    db.person_with(&Person {
        card_number: Some(format!("1\n{FORGED}")),
        ..Person::ordinary(1)
    })
    .await;
    db.person_with(&Person {
        card_number: Some("1234 5678".into()),
        ..Person::ordinary(2)
    })
    .await;
    db.active_with(863, &[1, 2, 3]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"Id": "E-1"})))
        .mount(&server)
        .await;
    let config = write_config(
        &db,
        &format!(
            "digisUrl = \"{}\"\ndigisUrlPostfix = \"brp?token=T\"\ndigis_timeout_ms = 10000\n",
            server.uri()
        ),
    );
    let run = with_config(&config, &["run", "--once"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // One line per attempt, each parsing whole; the forged text is inside one card value.
    let log = std::fs::read_to_string(db.dir.path().join("logs/scheduler_digis_sync.txt")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    let records: Vec<_> = lines
        .iter()
        .map(|l| digis_relay::synclog::parse_line(l).unwrap_or_else(|| panic!("unparsed: {l}")))
        .collect();
    assert!(records.iter().all(|r| r.subscription_id == 863), "{log}");
    assert!(!log.contains("ExtInfo20:31337") && !log.contains("ExtInfo1:424242"));
    let p1 = records.iter().find(|r| r.person_id == 1).unwrap();
    assert_eq!(
        p1.card_number.as_deref(),
        Some(format!("1\n{FORGED}").as_str())
    );
    let p2 = records.iter().find(|r| r.person_id == 2).unwrap();
    assert_eq!(p2.card_number.as_deref(), Some("1234 5678"));
    assert!(
        log.contains("ExtInfo1:863, ExtInfo20:1234%205678 "),
        "{log}"
    );
    // Ordinary cards are written exactly as before.
    assert!(log.contains("ExtInfo1:863, ExtInfo20:34000003 "), "{log}");

    // Support's searches see no subscription 424242 and no card 31337.
    for args in [
        ["search", "--ext-info20", "31337", "--json"],
        ["search", "--ext-info1", "424242", "--json"],
    ] {
        let out = with_config(&config, &args);
        assert_eq!(out.code, 1, "{args:?}: {}\n{}", out.stdout, out.stderr);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert!(v["verdicts"].as_array().unwrap().is_empty(), "{v}");
        assert!(v["not_found"].is_string(), "{v}");
    }
    let out = with_config(&config, &["search", "--ext-info1", "863", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let persons: Vec<i64> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person_id"].as_i64().unwrap())
        .collect();
    assert_eq!(persons, [1, 2, 3], "{v}");
}

// --- item 8: a blank export token ------------------------------------------------------------

#[test]
fn a_blank_or_short_export_token_stops_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for token in [" ", "\\t", "short"] {
        std::fs::write(
            dir.path().join("digis-relay.toml"),
            format!("[export]\ntoken = \"{token}\"\n"),
        )
        .unwrap();
        for cmd in [&["run", "--once"][..], &["doctor"], &["status"]] {
            let out = cli_in(dir.path(), cmd);
            assert_ne!(out.code, 0, "{cmd:?} with token {token:?}: {}", out.stdout);
            let line = one_line(&out.stderr);
            assert!(line.contains("`export.token`"), "{line}");
            assert!(!line.contains("(from"), "{line}");
        }
    }
}

// --- item 12: the CLI's small edges ----------------------------------------------------------

#[test]
fn a_config_error_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("digis-relay.toml"),
        "[relay]\nbatch_size = \"many\"\n",
    )
    .unwrap();
    // `status` could not read: 3 (1 means "not healthy"; docs/contracts.md, CLI).
    let out = cli_in(dir.path(), &["status"]);
    assert_eq!(out.code, 3);
    let line = one_line(&out.stderr);
    assert!(line.contains("relay.batch_size"), "{line}");
    assert!(!line.contains("src/") && !line.contains("(from"), "{line}");
}

/// An empty database of its own (no host tables, nothing migrated), and how to drop it.
async fn empty_database(kind: crate::common::Kind, dir: &Path) -> (String, Option<String>) {
    match kind {
        crate::common::Kind::Sqlite => {
            (format!("sqlite://{}", dir.join("empty.db").display()), None)
        }
        crate::common::Kind::Postgres => {
            let admin = std::env::var("DIGIS_RELAY_TEST_PG")
                .unwrap_or_else(|_| crate::common::PG_ADMIN_DEFAULT.to_string());
            let name = format!("drt_edge_{}_{}", std::process::id(), rand::random::<u32>());
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            pool.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            pool.close().await;
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some(name))
        }
    }
}

async fn drop_database(name: Option<String>) {
    if let Some(name) = name {
        let admin = std::env::var("DIGIS_RELAY_TEST_PG")
            .unwrap_or_else(|_| crate::common::PG_ADMIN_DEFAULT.to_string());
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        let _ = pool
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

both_databases!(
    migrate_without_membership_tables_names_them,
    resend_of_nothing_exits_2_like_retry,
    run_refuses_an_unwritable_sync_log_and_doctor_says_so
);

async fn migrate_without_membership_tables_names_them(db: TestDb) {
    let (url, name) = empty_database(db.kind, db.dir.path()).await;
    let out = cli_in(db.dir.path(), &["--database-url", &url, "migrate"]);
    let line = one_line(&out.stderr).to_string();
    let report = digis_relay::storage::connect(&url)
        .await
        .unwrap()
        .schema_report()
        .await;
    drop_database(name).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(!line.contains("no such table"), "{line}");
    for table in ["subscription", "person", "subscription_user"] {
        assert!(line.contains(table), "{line}");
    }
    assert!(line.contains("migrate --host-schema"), "{line}");
    // Checked before anything was applied.
    assert!(!report.unwrap().relay_tables_missing.is_empty());
}

async fn resend_of_nothing_exits_2_like_retry(db: TestDb) {
    db.active_with(5, &[1]).await;
    let url = db.url.clone();
    let dir = db.dir.path();
    let out = cli_in(
        dir,
        &["--database-url", &url, "resend", "--subscription", "999"],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        one_line(&out.stderr).contains("no subscription 999"),
        "{}",
        out.stderr
    );
    let retry = cli_in(dir, &["--database-url", &url, "retry", "999"]);
    assert_eq!(retry.code, out.code, "retry and resend agree");
    let out = cli_in(
        dir,
        &[
            "--database-url",
            &url,
            "resend",
            "--subscription",
            "5",
            "--person",
            "7",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("person 7 is not a user"),
        "{}",
        out.stderr
    );
    // The member's first row is still waiting: nothing new to queue.
    let out = cli_in(
        dir,
        &["--database-url", &url, "resend", "--subscription", "5"],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already"), "{}", out.stderr);
    assert_eq!(db.outbox().await.len(), 1);
}

async fn run_refuses_an_unwritable_sync_log_and_doctor_says_so(db: TestDb) {
    db.active_with(5, &[1]).await;
    let config = write_config(&db, "useDigis = false\n");
    let doctor = with_config(&config, &["doctor", "--no-network"]);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("log folder")),
        "{}",
        doctor.stdout
    );
    // The file's place is taken by a folder: no write can succeed, even as root.
    std::fs::create_dir_all(db.dir.path().join("logs/scheduler_digis_sync.txt")).unwrap();
    let out = with_config(&config, &["run", "--once"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let line = one_line(&out.stderr);
    assert!(line.contains("cannot write the sync log"), "{line}");
    assert_eq!(db.outbox().await[0].2, "pending", "nothing was claimed");
    let doctor = with_config(&config, &["doctor", "--no-network"]);
    assert_ne!(doctor.code, 0);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("error") && l.contains("log folder")),
        "{}",
        doctor.stdout
    );
}

// --- item 9: slow clients cannot hold the listener -----------------------------------------

const HEADER_MS: u64 = 600;
const IDLE_MS: u64 = 1200;
const MAX_CONN: usize = 6;

/// `run --listen 127.0.0.1:0` with small limits; returns when it says where it listens.
fn spawn_listener(db: &TestDb) -> RunningService {
    let config = write_config(
        db,
        &format!(
            "useDigis = false\n[export]\ntoken = \"{EXPORT_TOKEN}\"\npage_size = 7\n\
             header_read_timeout_ms = {HEADER_MS}\nidle_timeout_ms = {IDLE_MS}\nmax_connections = {MAX_CONN}\n"
        ),
    );
    RunningService::start(&config)
}

/// Reads until the peer closes (Ok(bytes)) or `limit` passes (Err).
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return Err(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn get(addr: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("Authorization", format!("Bearer {EXPORT_TOKEN}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed_and_the_cap_refuses_without_starving() {
    let db = TestDb::sqlite().await;
    db.active_with(1, &[1]).await;
    let svc = spawn_listener(&db);
    let addr = svc.addr.to_string();
    assert_eq!(get(&addr, "/healthz").await.0, 200);

    // A slowloris: a header line every 200 ms, never the blank line that ends the head.
    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed_at = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break started.elapsed();
        }
        let mut b = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut b)).await {
            Ok(Ok(_)) | Ok(Err(_)) => break started.elapsed(),
            Err(_) => {}
        }
        assert!(
            started.elapsed() < Duration::from_millis(HEADER_MS * 5),
            "a client trickling headers is still connected after {:?}",
            started.elapsed()
        );
    };
    assert!(
        closed_at >= Duration::from_millis(HEADER_MS / 2),
        "closed after {closed_at:?}"
    );

    // A keep-alive connection that goes quiet after its request is closed: hyper times the wait
    // for the next request's head with the header-read timeout, the shorter of the two here.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    // The server's idle clock starts at its last byte, which is after this: measuring from here
    // cannot be fooled by this test reading the answer late on a loaded machine.
    let asked = Instant::now();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut b = vec![0u8; 4096];
    let n = idle.read(&mut b).await.unwrap();
    assert!(
        b[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&b[..n])
    );
    let rest = read_until_closed(&mut idle, Duration::from_millis(IDLE_MS * 4)).await;
    assert!(rest.is_ok(), "an idle keep-alive connection stays open");
    assert!(
        asked.elapsed() >= Duration::from_millis(HEADER_MS * 3 / 4),
        "closed {:?} after the request, before the header-read time",
        asked.elapsed()
    );

    // The cap: MAX_CONN silent connections fill it; one more is refused at once with a 503.
    let mut held = Vec::new();
    for _ in 0..MAX_CONN {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let answer = read_until_closed(&mut extra, Duration::from_millis(HEADER_MS / 2))
        .await
        .expect("a connection over the cap is closed at once");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    // ...and the silent ones time out, so the listener serves again without anyone's help.
    for h in &mut held {
        assert!(read_until_closed(h, Duration::from_millis(IDLE_MS * 4))
            .await
            .is_ok());
    }
    assert_eq!(get(&addr, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_moving_export_is_not_cut() {
    let db = TestDb::sqlite().await;
    let persons: Vec<i64> = (1..=400).collect();
    db.active_with(1, &persons).await;
    let svc = spawn_listener(&db);
    // A small receive window, read a little at a time: the download lasts several idle
    // timeouts while bytes keep moving.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut s = socket.connect(svc.addr).await.unwrap();
    s.write_all(
        format!(
            "GET /export/DigisAllActive HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {EXPORT_TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
            .await
            .expect("the export stalled")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    let body = text.split_once("\r\n\r\n").expect("a response").1;
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..80.min(text.len())]
    );
    // Chunked transfer: the members are all there, in order, the last one complete.
    let members = body.matches("\"ExtInfo4\"").count();
    assert_eq!(members, 400, "the export was cut after {took:?}");
    assert!(
        body.trim_end().ends_with("0"),
        "the chunked body has its end"
    );
    assert!(
        took > Duration::from_millis(IDLE_MS * 2),
        "the download took only {took:?}: not slow enough to prove anything"
    );
}

// --- item 5: search trusts only whole lines --------------------------------------------------

both_databases!(a_line_that_does_not_parse_whole_decides_no_verdict);

/// An old or hand-edited line with the right tokens in the wrong form (a second `person=`, a
/// broken card) is shown, never taken for a delivery: the member without any row stays "never
/// queued", and a card found inside another line's value makes no member.
async fn a_line_that_does_not_parse_whole_decides_no_verdict(db: TestDb) {
    use digis_relay::domain::SubscriptionId;
    use digis_relay::search::{search, SearchOptions, SearchTerm, VerdictKind};
    db.active_with(863, &[1]).await;
    // Pruned long ago: only the log could speak for person 1.
    db.exec("DELETE FROM digis_outbox").await;
    let dir = db.dir.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let good = |card: &str| {
        format!("2026-11-28T12:00:00.000Z relay=r ExtInfo1:863, ExtInfo20:{card} outbox=9 person=1 attempt=1 outcome=sent status=200 external_id=X ms=1")
    };
    let lines = [
        good("34000001").replace("person=1", "person=1 person=1"),
        good("3400 0001"),
        // Written before values were escaped: the card held `ExtInfo20:31337` (a raw `:`).
        good("1;ExtInfo20:31337").replace("person=1", "person=5"),
        good("34000001").replace("status=200", "status=+200"),
    ];
    std::fs::write(
        dir.join(digis_relay::synclog::FILE_NAME),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let now = chrono::Utc::now();
    let opts = SearchOptions::new(true, now);
    let r = search(
        db.storage().as_ref(),
        &dir,
        &SearchTerm::Subscription(SubscriptionId(863)),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(r.verdicts.len(), 1, "{r:#?}");
    assert_eq!(r.verdicts[0].verdict, VerdictKind::NeverQueued, "{r:#?}");
    // Every line is only shown.
    assert_eq!(r.other_log_lines.len(), 4, "{r:#?}");
    let r = search(
        db.storage().as_ref(),
        &dir,
        &"ExtInfo20:31337".parse().unwrap(),
        &opts,
    )
    .await
    .unwrap();
    assert!(r.verdicts.is_empty(), "{r:#?}");
    assert_eq!(r.other_log_lines.len(), 1, "{r:#?}");
}
