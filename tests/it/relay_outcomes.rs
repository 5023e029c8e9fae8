//! The relay against an HTTP-level fake of Digis (wiremock, or a raw socket for a dropped
//! connection), on both databases: every outcome class in docs/contracts.md, Digis HTTP.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::{OutboxState, PersonId, RelayState, SubscriptionId};
use digis_relay::relay::Relay;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_databases;
use crate::common::{all_rows, config_for, once, relay, TestDb, TOKEN};

fn log_lines(db: &TestDb) -> Vec<String> {
    std::fs::read_to_string(db.dir.path().join("logs").join("scheduler_digis_sync.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

async fn ok_mock(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/import/single/brp"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"Success": true, "ExternalId": "TE-1"})),
        )
        .mount(server)
        .await;
}

both_databases!(
    delivers_exact_payloads_and_records_them,
    server_error_then_success_is_sent_once,
    timeout_is_retried_later,
    dropped_connection_is_retried_later,
    too_many_requests_obeys_retry_after,
    bad_request_fails_with_the_message,
    accepted_without_id_is_sent_and_not_retried,
    success_false_fails,
    unauthorized_pauses_without_charging_and_resumes,
    bad_phone_fails_that_row_only,
    subscription_ended_before_send_is_discarded,
);

async fn delivers_exact_payloads_and_records_them(db: TestDb) {
    db.active_with(863, &[1, 2]).await;
    db.active_with(864, &[3]).await;
    let server = MockServer::start().await;
    ok_mock(&server).await;
    let cfg = config_for(&server.uri(), &db);
    once(&relay(&db, cfg.clone())).await;

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let mut expected = Vec::new();
    for sub in [863, 864] {
        for m in db
            .storage
            .members_of_subscription(SubscriptionId(sub), None)
            .await
            .unwrap()
        {
            let m = m.unwrap();
            expected.push(
                serde_json::to_value(digis_relay::payload::build(&m, &cfg.payload).unwrap())
                    .unwrap(),
            );
        }
    }
    for r in &requests {
        assert_eq!(r.url.query(), Some(format!("token={TOKEN}").as_str()));
        assert_eq!(r.headers.get("authorization").unwrap(), "Legacy");
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(expected.contains(&body), "unexpected body {body}");
        // Key order is part of the contract.
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, digis_relay::payload::CSV_HEADER.to_vec());
    }
    let sent = all_rows(&db).await;
    assert_eq!(sent.len(), 3);
    assert!(sent
        .iter()
        .all(|r| r.state == OutboxState::Sent && r.external_id.as_deref() == Some("TE-1")));
    let digis = db.storage.digis_rows(None, None).await.unwrap();
    assert_eq!(digis.len(), 3);
    assert!(digis
        .iter()
        .all(|d| d.external_id.as_deref() == Some("TE-1")));
    let lines = log_lines(&db);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("ExtInfo1:863, ExtInfo20:34000001 ")));
    assert!(lines
        .iter()
        .any(|l| l.contains("ExtInfo1:864, ExtInfo20:34000003 ")));
    for l in &lines {
        for part in [
            "outbox=",
            "person=",
            "attempt=1",
            "outcome=sent",
            "status=200",
            "external_id=TE-1",
            "ms=",
        ] {
            assert!(l.contains(part), "{part} missing in {l}");
        }
    }
    let relays = db.storage.relays().await.unwrap();
    assert_eq!(relays[0].relay_id, "test-relay");
}

async fn run_until_settled(db: &TestDb, r: &Relay) {
    // A retry is due after a backoff of at most 2 ms: wait for it (a condition), then run.
    for _ in 0..50 {
        once(r).await;
        let rows = all_rows(db).await;
        if rows.iter().all(|r| r.state != OutboxState::Pending) {
            return;
        }
        let due = rows.iter().map(|r| r.next_attempt_at).max().unwrap();
        crate::common::eventually("the retry is due", Duration::from_secs(10), || async {
            (Utc::now() > due).then_some(())
        })
        .await;
    }
    panic!("rows never settled");
}

async fn server_error_then_success_is_sent_once(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    ok_mock(&server).await;
    let r = relay(&db, config_for(&server.uri(), &db));
    run_until_settled(&db, &r).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let row = &all_rows(&db).await[0];
    assert_eq!((row.state, row.attempts), (OutboxState::Sent, 2));
    let outcomes: Vec<String> = db
        .storage
        .attempts(row.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome.to_string())
        .collect();
    assert_eq!(outcomes, ["retry", "sent"]);
    assert_eq!(db.storage.digis_rows(None, None).await.unwrap().len(), 1);
    let lines = log_lines(&db);
    assert!(
        lines[0].contains("outcome=retry status=500"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("outcome=sent status=200"), "{}", lines[1]);
}

async fn pending_row(db: &TestDb) -> digis_relay::storage::OutboxRow {
    let row = all_rows(db).await.remove(0);
    assert_eq!(row.state, OutboxState::Pending, "{row:?}");
    row
}

async fn timeout_is_retried_later(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    // Digis answers after 5 s, the relay gives up after 1 s: far apart either way.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut cfg = config_for(&server.uri(), &db);
    cfg.digis_timeout_ms = 1_000;
    cfg.relay.backoff_base_ms = 600_000;
    cfg.relay.backoff_max_ms = 600_000;
    once(&relay(&db, cfg)).await;
    let row = pending_row(&db).await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_http_status, None);
    assert!(
        row.last_error.as_deref().unwrap().contains("timeout"),
        "{:?}",
        row.last_error
    );
    assert!(!row.last_error.unwrap().contains(TOKEN));
}

async fn dropped_connection_is_retried_later(db: TestDb) {
    db.active_with(5, &[1]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock); // no HTTP answer at all
        }
    });
    let mut cfg = config_for(&format!("http://{addr}"), &db);
    cfg.relay.backoff_base_ms = 600_000;
    cfg.relay.backoff_max_ms = 600_000;
    once(&relay(&db, cfg)).await;
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let row = pending_row(&db).await;
    assert_eq!((row.attempts, row.last_http_status), (1, None));
    assert!(row.next_attempt_at > Utc::now());
    let line = &log_lines(&db)[0];
    assert!(line.contains("outcome=retry status=-"), "{line}");
}

async fn too_many_requests_obeys_retry_after(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    let before = Utc::now();
    let mut cfg = config_for(&server.uri(), &db);
    // Retry-After is obeyed up to backoff_max (docs/contracts.md, Digis HTTP).
    cfg.relay.backoff_max_ms = 3_600_000;
    let r = relay(&db, cfg);
    once(&r).await;
    let row = pending_row(&db).await;
    assert!(
        row.next_attempt_at >= before + chrono::Duration::seconds(120),
        "{row:?}"
    );
    assert_eq!(row.last_http_status, Some(429));
    // No request before it: another run sends nothing.
    once(&r).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

async fn bad_request_fails_with_the_message(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"Message": "MobileNumber 0701 is invalid"})),
        )
        .mount(&server)
        .await;
    let r = relay(&db, config_for(&server.uri(), &db));
    once(&r).await;
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Failed);
    assert_eq!(row.last_http_status, Some(400));
    assert!(row
        .last_error
        .unwrap()
        .contains("MobileNumber 0701 is invalid"));
    let line = &log_lines(&db)[0];
    assert!(line.contains("outcome=failed status=400"), "{line}");
    assert!(
        !line.contains("0701"),
        "Digis's message stays out of the log: {line}"
    );
    once(&r).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a failed row is not retried by itself"
    );
}

async fn accepted_without_id_is_sent_and_not_retried(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"Success": true})),
        )
        .mount(&server)
        .await;
    let r = relay(&db, config_for(&server.uri(), &db));
    once(&r).await;
    once(&r).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Sent);
    assert_eq!(row.external_id, None);
    assert!(row.last_error.unwrap().contains("no external id"));
    let d = db
        .storage
        .digis_rows(Some(SubscriptionId(5)), Some(PersonId(1)))
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].external_id, None);
}

async fn success_false_fails(db: TestDb) {
    db.active_with(5, &[1]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"Success": false, "Message": "Duplicate contact"}),
            ),
        )
        .mount(&server)
        .await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Failed);
    assert!(row.last_error.unwrap().contains("Duplicate contact"));
    assert!(db.storage.digis_rows(None, None).await.unwrap().is_empty());
}

async fn unauthorized_pauses_without_charging_and_resumes(db: TestDb) {
    db.active_with(5, &[1, 2, 3]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    ok_mock(&server).await;
    let mut cfg = config_for(&server.uri(), &db);
    cfg.relay.concurrency = 1;
    cfg.relay.heartbeat_ms = 100;
    let r = Arc::new(relay(&db, cfg));
    once(&r).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "the rest of the batch was not sent"
    );
    let control = db.storage.control().await.unwrap();
    assert!(control.paused);
    assert!(
        control.pause_reason.as_deref().unwrap().contains("401"),
        "{control:?}"
    );
    assert!(control.paused_by.unwrap().is_relay());
    // Its heartbeat says so, with the reason.
    let detail = heartbeat_says(&db, &r, RelayState::Paused).await;
    assert!(
        detail.as_deref().unwrap_or("").contains("401"),
        "{detail:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "{rows:?}"
    );
    let lines = log_lines(&db);
    // The answered row keeps the contract word and says why it went back; the rest of the batch
    // went back unsent, which is no attempt and no line.
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.contains("outcome=paused status=401"), "{line}");
    assert!(line.contains(" given_back=config_error"), "{line}");
    // Support sees why in the search.
    let report = digis_relay::search::search(
        db.storage().as_ref(),
        &db.dir.path().join("logs"),
        &digis_relay::search::SearchTerm::Subscription(digis_relay::domain::SubscriptionId(5)),
        &digis_relay::search::SearchOptions::new(true, Utc::now()),
    )
    .await
    .unwrap();
    let text = digis_relay::search::render_text(&report);
    assert!(text.contains("given_back=config_error"), "{text}");
    // Paused: nothing is sent.
    once(&r).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // An operator fixed the token and resumes.
    db.storage.resume("test", Utc::now()).await.unwrap();
    once(&r).await;
    assert_eq!(db.storage.counts().await.unwrap().sent, 3);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

/// Runs `r` as a service until its heartbeat row says `state` (a `once` run ends by writing
/// `stopped`, so the state a relay is in shows only while it runs), then stops it; returns
/// the heartbeat's detail.
async fn heartbeat_says(db: &TestDb, r: &Arc<Relay>, state: RelayState) -> Option<String> {
    let stop = CancellationToken::new();
    let bg = {
        let (r, stop) = (r.clone(), stop.clone());
        tokio::spawn(async move { r.run(stop, false).await })
    };
    let detail = crate::common::eventually(
        &format!("the heartbeat said {state}"),
        Duration::from_secs(30),
        || async {
            db.storage
                .relays()
                .await
                .unwrap()
                .into_iter()
                .find(|i| i.relay_id == r.relay_id() && i.state == state)
                .map(|i| i.detail)
        },
    )
    .await;
    stop.cancel();
    bg.await.unwrap().unwrap();
    detail
}

async fn bad_phone_fails_that_row_only(db: TestDb) {
    let mut p = crate::common::Person::ordinary(2);
    p.mobile_number = Some("08-123 456 78".into()); // a Stockholm landline
    db.person_with(&p).await;
    db.active_with(5, &[1, 2, 3]).await;
    let server = MockServer::start().await;
    ok_mock(&server).await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let counts = db.storage.counts().await.unwrap();
    assert_eq!((counts.sent, counts.failed), (2, 1));
    let failed = db
        .storage
        .list(&digis_relay::storage::ListQuery {
            state: Some(OutboxState::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let err = failed[0].last_error.as_deref().unwrap();
    assert!(
        err.contains("person 2") && err.contains("MobileNumber"),
        "{err}"
    );
}

async fn subscription_ended_before_send_is_discarded(db: TestDb) {
    db.active_with(5, &[1]).await;
    db.set_status(5, "ENDED").await;
    let server = MockServer::start().await;
    ok_mock(&server).await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    assert!(server.received_requests().await.unwrap().is_empty());
    let row = all_rows(&db).await.remove(0);
    assert_eq!(row.state, OutboxState::Discarded);
    assert!(row.reason.unwrap().contains("ENDED"));
}

both_databases!(circuit_opens_instead_of_burning_attempts);

/// Digis down: after `circuit_failure_threshold` failures in a row the relay stops sending, gives
/// the rest of the batch back without charging attempts, and says so in its heartbeat.
async fn circuit_opens_instead_of_burning_attempts(db: TestDb) {
    db.active_with(5, &[1, 2, 3, 4, 5, 6]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut cfg = config_for(&server.uri(), &db);
    cfg.relay.concurrency = 1;
    cfg.relay.circuit_failure_threshold = 2;
    cfg.relay.circuit_open_ms = 600_000;
    cfg.relay.backoff_base_ms = 600_000;
    cfg.relay.backoff_max_ms = 600_000;
    cfg.relay.heartbeat_ms = 100;
    let r = Arc::new(relay(&db, cfg));
    once(&r).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "two failures open the circuit"
    );
    let rows = all_rows(&db).await;
    assert!(rows.iter().all(|r| r.state == OutboxState::Pending));
    assert_eq!(rows.iter().filter(|r| r.attempts == 1).count(), 2);
    assert_eq!(
        rows.iter().filter(|r| r.attempts == 0).count(),
        4,
        "the rest were not charged: {rows:?}"
    );
    // While open nothing is sent, even though the released rows are due now.
    once(&r).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let detail = heartbeat_says(&db, &r, RelayState::CircuitOpen).await;
    assert!(
        detail
            .as_deref()
            .unwrap_or("")
            .contains("Digis unreachable"),
        "{detail:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // An operator's "sync now" lets one probe through at once.
    db.storage.sync(None, "test", Utc::now()).await.unwrap();
    once(&r).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "exactly one probe"
    );
}

/// SQLite keeps whatever the membership system wrote, whatever the column's declared type. Odd
/// values fail only their own row (naming the field), and the rest of the batch is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_host_values_in_sqlite_fail_only_their_row() {
    let db = TestDb::sqlite().await;
    db.active_with(5, &[1, 2, 3]).await;
    // A number in a name column and a card stored as a number (read as their text), a birth
    // date typed as digits and "yes" in a flag (each fails its row, naming the column).
    db.exec("UPDATE person SET first_name = 42, card_number = 34000001 WHERE id = 1")
        .await;
    db.exec("UPDATE person SET allow_sms = 'yes' WHERE id = 3")
        .await;
    db.exec("UPDATE person SET birth_date = 19900517 WHERE id = 2")
        .await;
    let server = MockServer::start().await;
    ok_mock(&server).await;
    once(&relay(&db, config_for(&server.uri(), &db))).await;
    let counts = db.storage.counts().await.unwrap();
    assert_eq!(
        (counts.sent, counts.failed, counts.sending),
        (1, 2, 0),
        "{counts:?}"
    );
    let bodies: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let p1 = bodies
        .iter()
        .find(|b| b["ExtInfo4"] == 1)
        .expect("person 1 was sent");
    assert_eq!(p1["FirstName"], "42");
    assert_eq!(p1["ExtInfo20"], "34000001");
    let failed: Vec<String> = all_rows(&db)
        .await
        .into_iter()
        .filter(|r| r.state == OutboxState::Failed)
        .map(|r| r.last_error.unwrap())
        .collect();
    assert!(
        failed
            .iter()
            .any(|e| e.contains("person 2") && e.contains("DOB")),
        "{failed:?}"
    );
    // Guessing consent either way would be wrong: a flag that is not 0/1/true/false fails.
    assert!(
        failed
            .iter()
            .any(|e| e.contains("person 3") && e.contains("column allow_sms is not a boolean")),
        "{failed:?}"
    );
}
