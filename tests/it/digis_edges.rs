//! Digis's answers are untrusted (docs/contracts.md, Digis HTTP; issue 10 items 2, 3, 4, 6, 7, 11): a
//! huge `Retry-After`, the token echoed back, a body of any size, a redirect and terminal escapes,
//! through the relay and the real binary, on both databases.
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::OutboxState;
use digis_relay::storage::{AttemptRecord, CompleteResult, Completion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_databases;
use crate::common::{
    all_rows, config_for, once, relay, with_config, Out, TestConfig, TestDb, TOKEN,
};

both_databases!(
    binary_survives_a_huge_retry_after,
    far_future_retry_after_does_not_poison_the_table,
    far_future_time_is_stored_and_read_back,
    token_echoed_by_digis_is_shown_nowhere,
    huge_answers_are_read_through_a_cap,
    redirect_pauses_like_a_configuration_error,
    terminal_escapes_never_reach_the_screen,
    a_status_whose_body_breaks_off_still_counts,
    the_sync_log_names_the_card_as_it_was_sent,
);

/// A relay of the real binary named `edge-relay`, `relay_extra` added to its `[relay]`.
fn write_config(db: &TestDb, digis_url: &str, relay_extra: &str) -> std::path::PathBuf {
    TestConfig::relay_to(db, digis_url)
        .with("digis_timeout_ms = 5000\n[relay]\nrelay_id = \"edge-relay\"\n")
        .with(&format!("[relay]\n{relay_extra}"))
        .write_in(db)
}

/// Runs the binary with this configuration; (exit code, stdout, stderr).
fn bin(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    Out::of(with_config(config).args(args)).parts()
}

async fn answer(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// Item 2: `Retry-After: 10000000000000` panicked in `decide.rs` (exit 101, rows stuck in
/// `sending`). Now the wait is capped at `backoff_max_ms`.
async fn binary_survives_a_huge_retry_after(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "10000000000000"))
        .mount(&server)
        .await;
    let config = write_config(&db, &server.uri(), "backoff_max_ms = 60000\n");
    let before = Utc::now();
    let (code, out, err) = bin(&config, &["run", "--once"]);
    let after = Utc::now();
    assert_eq!(code, Some(0), "{out}\n{err}");
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Pending, "{row:?}");
    assert_eq!(row.attempts, 1);
    assert!(
        row.next_attempt_at <= after + chrono::Duration::seconds(60),
        "{row:?}"
    );
    assert!(
        row.next_attempt_at >= before + chrono::Duration::seconds(59),
        "Retry-After is obeyed up to the cap: {row:?}"
    );
}

/// Item 3: `Retry-After: 1000000000000` stored `+33715-…`, which SQLite sorted before every
/// real time and could not read back, so later rows were never sent.
async fn far_future_retry_after_does_not_poison_the_table(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1000000000000"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"Id": "E"})))
        .mount(&server)
        .await;
    let mut cfg = config_for(&server.uri(), &db);
    cfg.relay.backoff_max_ms = 60_000;
    let r = relay(&db, cfg);
    once(&r).await;
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Pending);
    assert!(row.next_attempt_at <= Utc::now() + chrono::Duration::seconds(61));
    // A row added afterwards is sent; the waiting one is not due yet and is not sent again.
    db.active_with(6, &[2]).await;
    once(&r).await;
    let rows = all_rows(&db).await;
    let states: Vec<_> = rows.iter().map(|r| r.state).collect();
    assert_eq!(states, vec![OutboxState::Pending, OutboxState::Sent]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// The storage side of item 3: whatever time a completion carries, it is stored so that it
/// sorts as a time and reads back, and the rows beside it are still claimed.
async fn far_future_time_is_stored_and_read_back(db: TestDb) {
    db.active_with(5, &[1]).await;
    let s = db.storage();
    let now = Utc::now();
    let claimed = s
        .claim("edge", 10, Duration::from_secs(60), now)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let far = chrono::DateTime::<Utc>::MAX_UTC;
    let attempt = AttemptRecord {
        started_at: now,
        duration_ms: 1,
        relay_id: "edge".into(),
        http_status: Some(429),
        error: Some("HTTP 429".into()),
    };
    let r = s
        .complete(
            &claimed[0],
            &Completion::Retry {
                next_attempt_at: far,
            },
            &attempt,
            now,
        )
        .await
        .unwrap();
    assert_eq!(r, CompleteResult::Applied);
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Pending);
    assert!(
        row.next_attempt_at
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap()
            >= 9999,
        "{row:?}"
    );
    db.active_with(6, &[2]).await;
    let later = s
        .claim("edge", 10, Duration::from_secs(60), Utc::now())
        .await
        .unwrap();
    let subs: Vec<i64> = later.iter().map(|c| c.row.subscription_id.0).collect();
    assert_eq!(
        subs,
        vec![6],
        "the far-future row is not due; the new one is"
    );
}

/// Item 4: Digis echoing our URL (with the token) in its message. Nothing shows it: not the
/// run's output, `status`, `doctor`, `search`, the sync log nor the database.
async fn token_echoed_by_digis_is_shown_nowhere(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = answer(
        404,
        serde_json::json!({
            "Message": format!("Cannot POST /v1/import/single/brp?token={TOKEN}"),
            "error": format!("bare {TOKEN} and %3D{TOKEN}")
        }),
    )
    .await;
    let config = write_config(&db, &server.uri(), "");
    let mut outputs = Vec::new();
    for args in [
        &["run", "--once"][..],
        &["status"],
        &["status", "--json"],
        &["doctor"],
        &["search", "--ext-info1", "5"],
        &["search", "--ext-info1", "5", "--json"],
    ] {
        let (_, out, err) = bin(&config, args);
        outputs.push((args.join(" "), out, err));
    }
    assert!(
        outputs[1].1.contains("PAUSED") && outputs[1].1.contains("404"),
        "the relay paused on the 404: {}",
        outputs[1].1
    );
    assert!(outputs[1].1.contains("token=***"), "{}", outputs[1].1);
    let control = db.storage.control().await.unwrap();
    let mut stored = vec![control.pause_reason.clone().unwrap_or_default()];
    for r in all_rows(&db).await {
        stored.push(r.last_error.clone().unwrap_or_default());
        for a in db.storage.attempts(r.id).await.unwrap() {
            stored.push(a.error.unwrap_or_default());
        }
    }
    for entry in std::fs::read_dir(db.dir.path().join("logs")).unwrap() {
        stored.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for (what, out, err) in &outputs {
        assert!(!out.contains(TOKEN), "`{what}` stdout: {out}");
        assert!(!err.contains(TOKEN), "`{what}` stderr: {err}");
    }
    for text in &stored {
        assert!(!text.contains(TOKEN), "stored: {text}");
    }
}

/// A hand-written Digis that answers `status` with a body claiming 200 MB and keeps writing
/// until the client stops reading; returns how many body bytes it got rid of.
async fn endless_answer(status: u16) -> (String, tokio::task::JoinHandle<u64>) {
    const CLAIMED: u64 = 200 * 1024 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        // Read the request: headers, then the body its Content-Length announces.
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending its request");
            req.extend_from_slice(&buf[..n]);
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {CLAIMED}\r\n\r\n{{\"Message\":\""
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut written = 0u64;
        while written < CLAIMED {
            match sock.write(&chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        written
    });
    (url, task)
}

/// Item 6: a 200 MB answer was buffered whole. Now at most 64 KiB is read and the connection
/// is dropped: the server cannot push more than what the socket buffers hold. A 2xx cut at the
/// cap confirms nothing (its end was never read): its row fails as unconfirmed, and the relay
/// pauses itself, so it comes last here.
async fn huge_answers_are_read_through_a_cap(db: TestDb) {
    for (status, want) in [(400, OutboxState::Failed), (200, OutboxState::Failed)] {
        let sub = status as i64;
        db.active_with(sub, &[sub]).await;
        let (url, server) = endless_answer(status).await;
        let mut cfg = config_for(&url, &db);
        cfg.digis_timeout_ms = 30_000;
        once(&relay(&db, cfg)).await;
        let written = tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("the client stopped reading and closed the connection")
            .unwrap();
        assert!(
            written < 32 * 1024 * 1024,
            "HTTP {status}: the server wrote {written} bytes before the client let go"
        );
        let row = all_rows(&db)
            .await
            .into_iter()
            .find(|r| r.subscription_id.0 == sub)
            .unwrap();
        assert_eq!(row.state, want, "{row:?}");
        let err = row.last_error.unwrap_or_default();
        assert!(
            err.len() < 1000,
            "the stored text is bounded: {}",
            err.len()
        );
        if status == 400 {
            assert!(err.contains("aaaa"), "{err}");
        } else {
            assert!(
                err.starts_with("unconfirmed: ") && err.contains("cut at 64 KiB"),
                "{err}"
            );
            assert!(db.storage.control().await.unwrap().paused);
        }
    }
}

/// Item 7: a 302/307 failed every row with an attempt charged. It is a configuration problem:
/// the relay pauses and gives the row back uncharged, as for 401/403/404.
async fn redirect_pauses_like_a_configuration_error(db: TestDb) {
    db.active_with(5, &[1, 2, 3]).await;
    for status in [302, 307] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).insert_header(
                "Location",
                format!("https://moved.example/v2/brp?token={TOKEN}").as_str(),
            ))
            .mount(&server)
            .await;
        let mut cfg = config_for(&server.uri(), &db);
        cfg.relay.concurrency = 1;
        once(&relay(&db, cfg)).await;
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
        let control = db.storage.control().await.unwrap();
        assert!(control.paused, "{status}: {control:?}");
        let reason = control.pause_reason.unwrap();
        assert!(
            reason.contains(&status.to_string()) && reason.contains("moved.example"),
            "{reason}"
        );
        assert!(!reason.contains(TOKEN), "{reason}");
        let rows = all_rows(&db).await;
        assert!(
            rows.iter()
                .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
            "{rows:?}"
        );
        db.storage.resume("test", Utc::now()).await.unwrap();
    }
}

fn assert_plain(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "`{what}` printed a control character: {text:?}"
    );
    for line in text.lines() {
        assert!(
            !line.starts_with("FAKE") && !line.starts_with("forged"),
            "`{what}` printed a forged line: {text}"
        );
    }
}

/// Item 11: a Digis message or a pause reason with `ESC[2J` and newlines was printed raw by
/// `search` and `status`. New texts are cleaned at the edge; stored ones at display.
async fn terminal_escapes_never_reach_the_screen(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = answer(
        400,
        serde_json::json!({"Message": "bad\u{1b}[2J\u{1b}]0;owned\u{7}\nFAKE LINE outcome=sent"}),
    )
    .await;
    let config = write_config(&db, &server.uri(), "");
    let (code, out, err) = bin(&config, &["run", "--once"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_plain("run --once", &out);
    assert_plain("run --once (stderr)", &err);
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Failed);
    let stored = row.last_error.unwrap();
    assert!(
        !stored.contains('\u{1b}') && !stored.contains('\n'),
        "{stored:?}"
    );
    // Texts already stored (an operator's reason, an old row) are escaped when shown.
    let (code, _, err) = bin(
        &config,
        &["pause", "--reason", "maintenance\u{1b}[2J\nforged line"],
    );
    assert_eq!(code, Some(0), "{err}");
    let raw = "old\u{1b}[31m\nFAKE row";
    db.exec(&format!(
        "UPDATE digis_outbox SET last_error = 'old' || {esc} || '[31m' || {nl} || 'FAKE row'",
        esc = if db.kind == crate::common::Kind::Sqlite {
            "char(27)"
        } else {
            "chr(27)"
        },
        nl = if db.kind == crate::common::Kind::Sqlite {
            "char(10)"
        } else {
            "chr(10)"
        },
    ))
    .await;
    assert_eq!(
        all_rows(&db).await.remove(0).last_error.as_deref(),
        Some(raw)
    );
    for args in [
        &["status"][..],
        &["doctor"],
        &["search", "--ext-info1", "5"],
    ] {
        let (_, out, err) = bin(&config, args);
        assert_plain(&args.join(" "), &out);
        assert_plain(&args.join(" "), &err);
        if args[0] != "doctor" {
            assert!(out.contains("maintenance\\u{1b}[2J\\nforged"), "{out}");
        }
    }
}

/// A hand-written Digis that answers `status` (and `extra` header lines), announces a 1000-byte
/// body, sends 10 bytes of it and closes the connection.
async fn broken_answer(status: u16, extra: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let extra = extra.to_string();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 8192];
            let mut req = Vec::new();
            // The request head and its small JSON body arrive well within a few reads.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: 1000\r\n\r\n{{\"Message\""
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    url
}

/// A status whose body broke off was retried as a network error: a 401 or a redirect never
/// paused, a 400 never failed, and each charged an attempt. The status decides.
async fn a_status_whose_body_breaks_off_still_counts(db: TestDb) {
    db.active_with(41, &[41]).await;
    let mut cfg = config_for(&broken_answer(401, "").await, &db);
    cfg.relay.concurrency = 1;
    once(&relay(&db, cfg)).await;
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "401 pauses: {control:?}");
    let row = all_rows(&db).await.pop().unwrap();
    assert_eq!(
        (row.state, row.attempts),
        (OutboxState::Pending, 0),
        "{row:?}"
    );
    db.storage.resume("test", Utc::now()).await.unwrap();

    let cfg = config_for(&broken_answer(400, "").await, &db);
    once(&relay(&db, cfg)).await;
    let row = all_rows(&db).await.pop().unwrap();
    assert_eq!(row.state, OutboxState::Failed, "400 fails the row: {row:?}");
    assert_eq!(row.last_http_status, Some(400), "{row:?}");
}

/// Rows that an older version poisoned with `+33715-…` (item 3) blocked every claim after the
/// upgrade too: they now read back and are sent, and the rows beside them as well.
#[tokio::test]
async fn rows_poisoned_by_an_older_version_are_sent_after_the_upgrade() {
    let db = TestDb::sqlite().await;
    db.active_with(51, &[1, 2]).await;
    db.exec(
        "UPDATE digis_outbox SET next_attempt_at = '+33715-08-25T03:04:05.000Z' WHERE person_id = 1",
    )
    .await;
    let server = answer(200, serde_json::json!({"ExternalId": "x"})).await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
}

/// A card stored with a trailing space is sent trimmed; the sync log said
/// `ExtInfo20:0034231451%20`, so `search --ext-info20 0034231451` missed the line.
async fn the_sync_log_names_the_card_as_it_was_sent(db: TestDb) {
    let mut p = crate::common::Person::ordinary(1);
    p.card_number = Some("0034231451 ".into());
    db.person_with(&p).await;
    db.subscription(61, "ACTIVE").await;
    db.add_user(61, 1).await;
    let server = answer(200, serde_json::json!({"ExternalId": "x"})).await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    let log = std::fs::read_to_string(
        db.dir
            .path()
            .join("logs")
            .join(digis_relay::synclog::FILE_NAME),
    )
    .unwrap();
    assert!(
        log.contains("ExtInfo1:61, ExtInfo20:0034231451 outbox="),
        "{log}"
    );
}

both_databases!(a_failed_delivery_is_a_warning_with_one_timestamp);

/// Issue 25 item 8: the live log (stderr here, journald under systemd, the dashboard's Log view)
/// said every delivery at INFO, with a second timestamp inside the text. A failed delivery is a
/// warning now, each line has one time, and the sync log's lines are unchanged (no level, their
/// own time first).
async fn a_failed_delivery_is_a_warning_with_one_timestamp(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let server = crate::common::rejects_the_first_request().await;
    let config = write_config(&db, &server.uri(), "");
    let (code, out, err) = bin(&config, &["run", "--once"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let line = |outcome: &str| {
        err.lines()
            .find(|l| l.contains(&format!("outcome={outcome} ")))
            .unwrap_or_else(|| panic!("no outcome={outcome} on stderr:\n{err}"))
    };
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").unwrap();
    let failed = line("failed");
    assert!(
        failed.contains(" WARN "),
        "a failed delivery is a warning: {failed}"
    );
    let sent = line("sent");
    assert!(sent.contains(" INFO "), "{sent}");
    for l in [failed, sent] {
        assert_eq!(stamp.find_iter(l).count(), 1, "one timestamp: {l}");
    }
    let file = std::fs::read_to_string(
        db.dir
            .path()
            .join("logs")
            .join(digis_relay::synclog::FILE_NAME),
    )
    .unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 2, "{file}");
    for l in &lines {
        assert!(stamp.find(l).is_some_and(|m| m.start() == 0), "{l}");
        assert!(!l.contains("WARN") && !l.contains("INFO"), "{l}");
        assert!(digis_relay::synclog::parse_line(l).is_some(), "{l}");
    }
    assert!(
        file.contains("outcome=failed") && file.contains("outcome=sent"),
        "{file}"
    );
}
