//! The HTTP listener (export, healthz, metrics) and the `export` command, against both
//! databases, over real TCP and the real binary.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use digis_relay::config::Config;
use digis_relay::domain::FailureCause;
use digis_relay::export::{self, ExportFormat};
use digis_relay::http::{serve, AppState};
use digis_relay::metrics::Metrics;
use digis_relay::payload;
use digis_relay::storage::{AttemptRecord, Completion, Counts, MemberRow};

use crate::both_databases;
use crate::common::{parse_prometheus, Captured, Person, Sample, TestDb};

const TOKEN: &str = "export-s3cret-token";

struct Server {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn config(db: &TestDb, token: &str, page_size: u32) -> Config {
    let mut c = Config {
        database_url: db.url.clone(),
        ..Config::default()
    };
    c.export.token = token.to_string();
    c.export.page_size = page_size;
    c
}

async fn start(db: &TestDb, cfg: Config) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        storage: db.storage(),
        config: Arc::new(cfg),
        metrics: Metrics::new(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        _stop: tx,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A person with personal data that needs CSV quoting, and one with much left empty.
fn awkward(id: i64) -> Person {
    let mut p = Person::ordinary(id);
    p.first_name = Some("Anna, \"Annie\"".into());
    p.last_name = Some("Lind\nBerg".into());
    p.address = Some((
        "Storgatan 1, lgh 1101".into(),
        "111 22".into(),
        "Malmö \"C\"".into(),
        "se".into(),
    ));
    p
}

fn sparse(id: i64) -> Person {
    let mut p = Person::ordinary(id);
    p.sex = None;
    p.birth_date = None;
    p.email = None;
    p.address = None;
    p
}

/// Members of ACTIVE 100 (1, 2, awkward 3), ACTIVE 101 (sparse 4 and 1 again), and
/// subscriptions that must not be exported: PAUSED 200 (5), ENDED 201 (6), CANCELLED 202 (7).
async fn seed(db: &TestDb) {
    db.person(1).await;
    db.person(2).await;
    db.person_with(&awkward(3)).await;
    db.person_with(&sparse(4)).await;
    for p in 5..=7 {
        db.person(p).await;
    }
    db.active_with(100, &[1, 2, 3]).await;
    db.active_with(101, &[4, 1]).await;
    for (s, status, p) in [(200, "PAUSED", 5), (201, "ENDED", 6), (202, "CANCELLED", 7)] {
        db.subscription(s, status).await;
        db.add_user(s, p).await;
    }
}

/// Every active member as the storage gives them, for computing the expected export.
async fn active_members(db: &TestDb) -> Vec<MemberRow> {
    db.storage()
        .active_members_page(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// `url` asked with the bearer token `bearer`, if any.
async fn get_as(c: &reqwest::Client, url: &str, bearer: Option<&str>) -> reqwest::Response {
    let request = c.get(url);
    match bearer {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

/// The export as `write_export` writes it with pages of `page_size`.
async fn export_to_vec(
    db: &TestDb,
    page_size: u32,
    format: ExportFormat,
) -> (export::ExportSummary, Vec<u8>) {
    let mut buf: Vec<u8> = Vec::new();
    let cfg = config(db, TOKEN, page_size);
    let summary = export::write_export(
        db.storage().as_ref(),
        &cfg.payload,
        &cfg.export,
        format,
        &mut buf,
        |_| {},
    )
    .await
    .unwrap();
    (summary, buf)
}

/// Person 8, with the mobile number `number`, a member of ACTIVE 100.
async fn add_member_8_with_phone(db: &TestDb, number: &str) {
    let mut p = Person::ordinary(8);
    p.mobile_number = Some(number.into());
    db.person_with(&p).await;
    db.add_user(100, 8).await;
}

both_databases!(
    token_by_header_and_by_query,
    export_is_off_without_a_token,
    json_and_csv_agree_with_the_payload_builder,
    csv_escapes_commas_quotes_and_newlines,
    non_active_subscriptions_are_excluded,
    member_with_a_bad_phone_is_skipped_and_counted,
    page_size_does_not_change_the_bytes,
    metrics_parse_and_depth_matches_the_database,
    healthz_reports_database_pause_and_relays,
    export_command_writes_the_endpoints_bytes,
);

async fn token_by_header_and_by_query(db: TestDb) {
    seed(&db).await;
    let srv = start(&db, config(&db, TOKEN, 500)).await;
    let url = format!("{}/export/DigisAllActive", srv.base);
    let c = client();

    let r = get_as(&c, &url, None).await;
    assert_eq!(r.status(), 401, "missing token");
    assert_eq!(
        r.headers().get("www-authenticate").unwrap(),
        "Bearer",
        "401 says how to authenticate"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");

    let r = get_as(&c, &url, Some(TOKEN)).await;
    assert_eq!(r.status(), 200, "right bearer token");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let arr: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(arr.len(), 5);
    let r = get_as(&c, &format!("{url}?format=csv&token={TOKEN}"), None).await;
    assert_eq!(r.status(), 200, "right query token with csv");
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");

    let prefix = &TOKEN[..TOKEN.len() - 1];
    for (query, bearer, status, what) in [
        (String::new(), Some("wrong"), 401, "wrong bearer token"),
        (String::new(), Some(prefix), 401, "a prefix of the token"),
        ("?token=wrong".into(), None, 401, "wrong query token"),
        ("?token=".into(), None, 401, "empty query token"),
        (format!("?token={TOKEN}"), None, 200, "right query token"),
        (
            format!("?format=xml&token={TOKEN}"),
            None,
            400,
            "unknown format",
        ),
        // A wrong token never learns whether the format was right.
        (
            "?format=xml".into(),
            None,
            401,
            "an unknown format without a token",
        ),
        (
            "?format=csv&format=json".into(),
            None,
            401,
            "a malformed query without a token",
        ),
        (
            "?format=csv&format=json".into(),
            Some(TOKEN),
            400,
            "a malformed query with the token",
        ),
    ] {
        let r = get_as(&c, &format!("{url}{query}"), bearer).await;
        assert_eq!(r.status(), status, "{what}");
    }
}

async fn export_is_off_without_a_token(db: TestDb) {
    seed(&db).await;
    let srv = start(&db, config(&db, "", 500)).await;
    for url in [
        format!("{}/export/DigisAllActive", srv.base),
        format!("{}/export/DigisAllActive?token=", srv.base),
        format!("{}/export/DigisAllActive?token=anything", srv.base),
    ] {
        let r = get(&url).await;
        assert_eq!(r.status(), 404, "{url}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("off"),
            "says the export is off: {body}"
        );
    }
    // An empty bearer token must not match the empty configured token.
    let r = client()
        .get(format!("{}/export/DigisAllActive", srv.base))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn json_and_csv_agree_with_the_payload_builder(db: TestDb) {
    seed(&db).await;
    let cfg = config(&db, TOKEN, 500);
    let expected: Vec<payload::Payload> = active_members(&db)
        .await
        .iter()
        .map(|m| payload::build(m, &cfg.payload).unwrap())
        .collect();
    assert_eq!(expected.len(), 5);
    let srv = start(&db, cfg).await;

    let r = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base)).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let got: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let want: Vec<serde_json::Value> = expected
        .iter()
        .map(|p| serde_json::from_str(&p.to_json()).unwrap())
        .collect();
    assert_eq!(got, want);
    // Key order is the contract's (serde_json keeps it with preserve_order).
    let keys: Vec<&String> = got[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, payload::CSV_HEADER.to_vec());
    // Each object is byte for byte what `preview` prints.
    for p in &expected {
        assert!(text.contains(&p.to_json()), "{}", p.to_json());
    }
    // (subscription, person) order.
    let order: Vec<(i64, i64)> = got
        .iter()
        .map(|o| {
            (
                o["ExtInfo1"].as_i64().unwrap(),
                o["ExtInfo4"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![(100, 1), (100, 2), (100, 3), (101, 1), (101, 4)]
    );
    // The sparse member: nulls, never the string "null".
    let sparse = &got[4];
    assert!(sparse["Gender"].is_null() && sparse["DOB"].is_null() && sparse["Zip"].is_null());

    let r = get(&format!(
        "{}/export/DigisAllActive?format=csv&token={TOKEN}",
        srv.base
    ))
    .await;
    assert_eq!(r.status(), 200);
    let csv_text = r.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, payload::CSV_HEADER.to_vec());
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let want_rows: Vec<Vec<String>> = expected.iter().map(|p| p.csv_record()).collect();
    assert_eq!(rows, want_rows);
}

async fn csv_escapes_commas_quotes_and_newlines(db: TestDb) {
    db.person_with(&awkward(3)).await;
    db.active_with(100, &[3]).await;
    let srv = start(&db, config(&db, TOKEN, 500)).await;
    let r = client()
        .get(format!("{}/export/DigisAllActive?format=csv", srv.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"Anna, \"\"Annie\"\"\""), "{text}");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        records.len(),
        1,
        "the newline in a name does not split the record"
    );
    let rec = &records[0];
    let field = |name: &str| {
        let i = header.iter().position(|h| h == name).unwrap();
        rec.get(i).unwrap().to_string()
    };
    assert_eq!(field("FirstName"), "Anna, \"Annie\"");
    // A line break inside a value becomes a space (payload::text): the CSV writer would
    // quote it, but Digis's import and support's eyes read one line per member.
    assert_eq!(field("LastName"), "Lind Berg");
    assert_eq!(field("Address"), "Storgatan 1, lgh 1101");
    assert_eq!(field("City"), "Malmö \"C\"");
    assert_eq!(field("ISOCountryCode"), "SE");
    assert_eq!(field("ExtInfo1"), "100");
    assert_eq!(field("ExtInfo20"), "34000003");
    assert_eq!(field("Gender"), "Female");
    assert_eq!(rec.len(), payload::CSV_HEADER.len());
}

async fn non_active_subscriptions_are_excluded(db: TestDb) {
    seed(&db).await;
    // A subscription that was ACTIVE and has ended since.
    db.active_with(102, &[2]).await;
    db.set_status(102, "ENDED").await;
    let srv = start(&db, config(&db, TOKEN, 2)).await;
    let r = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base)).await;
    let got: Vec<serde_json::Value> = r.json().await.unwrap();
    let subs: std::collections::BTreeSet<i64> = got
        .iter()
        .map(|o| o["ExtInfo1"].as_i64().unwrap())
        .collect();
    assert_eq!(subs, [100, 101].into_iter().collect());
    let persons: std::collections::BTreeSet<i64> = got
        .iter()
        .map(|o| o["ExtInfo4"].as_i64().unwrap())
        .collect();
    assert!(!persons.contains(&5) && !persons.contains(&6) && !persons.contains(&7));
    assert_eq!(got.len(), 5);
    // Reactivated: back in the export.
    db.set_status(200, "ACTIVE").await;
    let r = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base)).await;
    let got: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(got.len(), 6);
    assert!(got
        .iter()
        .any(|o| o["ExtInfo1"] == 200 && o["ExtInfo4"] == 5));
}

async fn member_with_a_bad_phone_is_skipped_and_counted(db: TestDb) {
    seed(&db).await;
    let mut bad = Person::ordinary(8);
    bad.mobile_number = Some("12".into());
    db.person_with(&bad).await;
    let mut none = Person::ordinary(9);
    none.mobile_number = None;
    db.person_with(&none).await;
    db.add_user(100, 8).await;
    db.add_user(101, 9).await;
    let cfg = config(&db, TOKEN, 2);

    let mut buf: Vec<u8> = Vec::new();
    let mut seen = Vec::new();
    let summary = export::write_export(
        db.storage().as_ref(),
        &cfg.payload,
        &cfg.export,
        ExportFormat::Json,
        &mut buf,
        |n| seen.push(n),
    )
    .await
    .unwrap();
    assert_eq!(summary.written, 5);
    assert_eq!(summary.skipped, 2);
    let skipped: Vec<(i64, i64, &str)> = summary
        .skipped_examples
        .iter()
        .map(|s| (s.subscription_id, s.person_id, s.field))
        .collect();
    assert_eq!(
        skipped,
        vec![(100, 8, "MobileNumber"), (101, 9, "MobileNumber")]
    );
    assert_eq!(
        seen.last(),
        Some(&7),
        "progress counts every member looked at"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&buf).unwrap();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|o| o["ExtInfo4"] != 8 && o["ExtInfo4"] != 9));

    // The endpoint leaves them out too, and still answers 200 with valid JSON.
    let srv = start(&db, cfg).await;
    let r = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), buf.as_slice());
}

async fn page_size_does_not_change_the_bytes(db: TestDb) {
    seed(&db).await;
    for format in [ExportFormat::Json, ExportFormat::Csv] {
        let mut outputs = Vec::new();
        // 5 members: full pages, then the short (or empty) page that ends the export.
        for (page, pages) in [(1, 6), (2, 3), (3, 2), (5, 2), (6, 1), (500, 1)] {
            let (summary, buf) = export_to_vec(&db, page, format).await;
            assert_eq!(summary.pages, pages, "page size {page}");
            outputs.push((page, buf));
        }
        for (page, out) in &outputs[1..] {
            assert_eq!(
                out, &outputs[0].1,
                "{format:?} with page size {page} differs from page size 1"
            );
        }
    }
    // An empty export is still a valid document.
    db.exec("UPDATE subscription SET status = 'ENDED'").await;
    let (s, buf) = export_to_vec(&db, 2, ExportFormat::Json).await;
    assert_eq!(s.written, 0);
    let v: Vec<serde_json::Value> = serde_json::from_slice(&buf).unwrap();
    assert!(v.is_empty());
    let (_, buf) = export_to_vec(&db, 2, ExportFormat::Csv).await;
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        format!("{}\r\n", payload::CSV_HEADER.join(","))
    );
}

fn sample<'a>(samples: &'a [Sample], name: &str, label: Option<(&str, &str)>) -> &'a Sample {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && label
                    .map(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v))
                    .unwrap_or(true)
        })
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
}

async fn metrics_parse_and_depth_matches_the_database(db: TestDb) {
    // Rows in every state: 6 pending from the triggers, then claim, complete and discard.
    db.active_with(100, &[1, 2, 3, 4, 5, 6]).await;
    let s = db.storage();
    let now = Utc::now();
    let claimed =
        crate::common::claim_rows(s.as_ref(), "relay-t", 3, Duration::from_secs(60), now).await;
    assert_eq!(claimed.len(), 3);
    let attempt = AttemptRecord {
        started_at: now,
        duration_ms: 12,
        relay_id: "relay-t".into(),
        http_status: Some(200),
        error: None,
    };
    s.complete(
        &claimed[0],
        &Completion::Sent {
            external_id: Some("x1".into()),
        },
        &attempt,
        now,
    )
    .await
    .unwrap();
    let failed = Completion::Failed {
        cause: FailureCause::other(),
    };
    s.complete(&claimed[1], &failed, &attempt, now)
        .await
        .unwrap();
    let pending: Vec<_> = db
        .storage()
        .list(&digis_relay::storage::ListQuery {
            state: Some(digis_relay::domain::OutboxState::Pending),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    s.discard(&[pending[0].id], "test", "test", now)
        .await
        .unwrap();
    let every_state = Counts {
        pending: 2,
        sending: 1,
        sent: 1,
        failed: 1,
        discarded: 1,
    };
    let counts = s.counts().await.unwrap();
    assert_eq!(counts, every_state);

    // What this process counts starts at zero; `metrics_count_what_the_service_did` has the
    // real service count real deliveries.
    let srv = start(&db, config(&db, "", 500)).await;
    s.pause("maintenance", "test", now).await.unwrap();

    let r = get(&format!("{}/metrics", srv.base)).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = r.text().await.unwrap();
    let samples = parse_prometheus(&text);
    for state in digis_relay::domain::OutboxState::ALL {
        assert_eq!(
            sample(
                &samples,
                "digis_outbox_depth",
                Some(("state", state.as_str()))
            )
            .value,
            counts.get(state) as f64,
            "depth of {state:?}"
        );
    }
    for o in digis_relay::domain::AttemptOutcome::ALL.map(|o| o.as_str()) {
        assert_eq!(
            sample(&samples, "digis_deliveries_total", Some(("outcome", o))).value,
            0.0,
            "every outcome is present from the start: {o}"
        );
    }
    for zero in [
        "digis_attempt_duration_seconds_count",
        "digis_last_success_timestamp_seconds",
        "digis_relay_circuit_open",
        "digis_export_pages_total",
    ] {
        assert_eq!(sample(&samples, zero, None).value, 0.0, "{zero}");
    }
    assert_eq!(
        sample(&samples, "digis_relay_paused", None).value,
        1.0,
        "the database's pause flag"
    );
    assert_eq!(sample(&samples, "digis_database_up", None).value, 1.0);

    // Read at scrape time: a change in the database shows in the next scrape.
    s.resume("test", Utc::now()).await.unwrap();
    s.retry_all_failed("test", Utc::now(), digis_relay::storage::Unconfirmed::Skip)
        .await
        .unwrap();
    let counts = s.counts().await.unwrap();
    let samples = metrics_of(&srv).await;
    assert_eq!(
        sample(&samples, "digis_outbox_depth", Some(("state", "pending"))).value,
        counts.pending as f64
    );
    assert_eq!(
        sample(&samples, "digis_outbox_depth", Some(("state", "failed"))).value,
        0.0
    );
    assert_eq!(sample(&samples, "digis_relay_paused", None).value, 0.0);
}

async fn healthz_reports_database_pause_and_relays(db: TestDb) {
    let srv = start(&db, config(&db, TOKEN, 500)).await;
    let r = get(&format!("{}/healthz", srv.base)).await;
    // No relay alive: nothing is delivered, which a probe must hear.
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert!(v["reason"].as_str().unwrap().contains("NO RELAY"), "{v}");
    assert_eq!(v["database"]["reachable"], true);
    assert_eq!(v["paused"], false);
    assert_eq!(v["use_digis"], true);
    assert_eq!(v["export_enabled"], true);
    assert_eq!(v["relays"].as_array().unwrap().len(), 0);
    assert_eq!(v["relays_alive"], 0);

    let s = db.storage();
    let now = Utc::now();
    s.pause("Digis answered 401", "relay-h", now).await.unwrap();
    s.heartbeat(&relay_h(
        now,
        "circuit_open",
        Some("5 failures in a row"),
        5_000,
    ))
    .await
    .unwrap();
    let r = get(&format!("{}/healthz", srv.base)).await;
    // An operator's pause and an open circuit block delivery but are not unhealthy.
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["paused"], true);
    assert_eq!(v["pause_reason"], "Digis answered 401");
    assert_eq!(v["circuit_open"], true);
    assert_eq!(v["relays_alive"], 1);
    let relay = &v["relays"][0];
    assert_eq!(relay["relay_id"], "relay-h");
    assert_eq!(relay["state"], "circuit_open");
    assert!(relay["heartbeat_age_seconds"].as_i64().unwrap() <= 5);
    // The token is nowhere in the answer.
    assert!(!v.to_string().contains(TOKEN));
}

async fn metrics_of(srv: &Server) -> Vec<Sample> {
    parse_prometheus(
        &get(&format!("{}/metrics", srv.base))
            .await
            .text()
            .await
            .unwrap(),
    )
}

/// Relay `relay-h`'s heartbeat at `now`.
fn relay_h(
    now: chrono::DateTime<Utc>,
    state: &str,
    detail: Option<&str>,
    heartbeat_ms: i64,
) -> digis_relay::storage::RelayInfo {
    digis_relay::storage::RelayInfo {
        relay_id: "relay-h".into(),
        hostname: "host-a".into(),
        pid: 42,
        version: "test".into(),
        started_at: now,
        heartbeat_at: now,
        state: state.into(),
        detail: detail.map(Into::into),
        request_share: None,
        heartbeat_ms: Some(heartbeat_ms),
        request_rate: None,
        clock_offset_ms: None,
    }
}

/// Runs the real binary against the test database.
async fn cli(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::from(crate::common::command());
    cmd.arg("--database-url")
        .arg(&db.url)
        .args(args)
        .current_dir(db.dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

async fn export_command_writes_the_endpoints_bytes(db: TestDb) {
    seed(&db).await;
    add_member_8_with_phone(&db, "12").await;
    let srv = start(&db, config(&db, TOKEN, 2)).await;
    for (format, query) in [("json", ""), ("csv", "&format=csv")] {
        let from_http = get(&format!(
            "{}/export/DigisAllActive?token={TOKEN}{query}",
            srv.base
        ))
        .await
        .bytes()
        .await
        .unwrap();

        // To standard output, with another page size.
        let out = cli(
            &db,
            &["export", "DigisAllActive", "--format", format],
            &[("DIGIS_RELAY_EXPORT__PAGE_SIZE", "3")],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(out.stdout, from_http.as_ref(), "{format}: stdout");
        assert!(
            stderr.contains("5 member(s) written") && stderr.contains("1 skipped"),
            "summary: {stderr}"
        );
        // The variable took effect: 6 members looked at in pages of 3, the last one empty.
        assert!(
            stderr.contains("; 3 page(s) read"),
            "DIGIS_RELAY_EXPORT__PAGE_SIZE=3: {stderr}"
        );
        assert!(
            stderr.contains("person 8 (subscription 100): MobileNumber"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("12"),
            "no phone number in the output: {stderr}"
        );

        // To a file.
        let path = db.dir.path().join(format!("all.{format}"));
        let out = cli(
            &db,
            &[
                "export",
                "DigisAllActive",
                "--format",
                format,
                "--output",
                path.to_str().unwrap(),
            ],
            &[],
        )
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("; 1 page(s) read"),
            "the default page_size (500) takes them in one: {stderr}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            from_http.as_ref(),
            "{format}: file"
        );
        assert!(!db.dir.path().join(format!("all.{format}.partial")).exists());
    }

    // The JSON objects are exactly what `preview` prints for each subscription.
    let from_http = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base))
        .await
        .text()
        .await
        .unwrap();
    let mut previewed = Vec::new();
    for sub in ["100", "101"] {
        let out = cli(&db, &["preview", "--subscription", sub], &[]).await;
        previewed.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>(),
        );
    }
    let exported: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&from_http)
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(exported, previewed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_when_the_database_is_gone() {
    let db = TestDb::postgres().await;
    let srv = start(&db, config(&db, TOKEN, 500)).await;
    let now = Utc::now();
    db.storage
        .heartbeat(&relay_h(now, "running", None, 60_000))
        .await
        .unwrap();
    assert_eq!(get(&format!("{}/healthz", srv.base)).await.status(), 200);
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let admin_url = std::env::var("DIGIS_RELAY_TEST_PG")
        .unwrap_or_else(|_| crate::common::PG_ADMIN_DEFAULT.to_string());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let r = get(&format!("{}/healthz", srv.base)).await;
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["database"]["reachable"], false);
    // The export says so instead of sending a 200 that breaks off.
    let r = get(&format!("{}/export/DigisAllActive?token={TOKEN}", srv.base)).await;
    assert_eq!(r.status(), 503);
    // Metrics still answer, saying the database is down.
    let samples = metrics_of(&srv).await;
    assert_eq!(sample(&samples, "digis_database_up", None).value, 0.0);
    assert!(!samples.iter().any(|s| s.name == "digis_outbox_depth"));
}

both_databases!(logs_hold_neither_the_token_nor_personal_data);

async fn logs_hold_neither_the_token_nor_personal_data(db: TestDb) {
    seed(&db).await;
    add_member_8_with_phone(&db, "555-31337").await;
    let url = db.url.clone();
    let cfg = config(&db, TOKEN, 2);
    let captured = Captured::default();
    let writer = captured.clone();
    // A subscriber of its own on a thread of its own, so no other test's logs mix in and no
    // global subscriber is taken from other tests.
    std::thread::spawn(move || {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let storage = digis_relay::storage::connect(&url).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = AppState {
                storage,
                config: Arc::new(cfg),
                metrics: Metrics::new(),
            };
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(serve(listener, state, async {
                let _ = rx.await;
            }));
            let c = client();
            let base = format!("http://{addr}/export/DigisAllActive");
            let r = get_as(&c, &format!("{base}?token={TOKEN}&format=csv"), None).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            let r = get_as(&c, &format!("{base}?token=not-{TOKEN}"), None).await;
            assert_eq!(r.status(), 401);
            let r = get_as(&c, &base, Some(TOKEN)).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            tx.send(()).unwrap();
            server.await.unwrap().unwrap();
        });
    })
    .join()
    .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("token=***"), "the request is logged: {log}");
    assert!(log.contains("status=401"), "{log}");
    assert!(
        log.contains("person=8") && log.contains("MobileNumber"),
        "the skip is logged with ids and field: {log}"
    );
    assert!(!log.contains(TOKEN), "token in the log: {log}");
    for personal in [
        "31337",
        "Förnamn",
        "Efternamn",
        "example.se",
        "1990-05-17",
        "Anna",
    ] {
        assert!(!log.contains(personal), "`{personal}` in the log: {log}");
    }
}

both_databases!(metrics_report_each_relay_within_the_window);

/// `digis_relays_live` counts live relays; `digis_relay_alive` and
/// `digis_relay_heartbeat_age_seconds` name each relay that has not stopped cleanly and beat
/// within `RELAY_METRICS_WINDOW` (1 h): a relay that stopped, or vanished long ago, is left out
/// (the relays table keeps every relay ever seen). `digis_relay_self_paused` follows who paused.
async fn metrics_report_each_relay_within_the_window(db: TestDb) {
    let s = db.storage();
    let now = Utc::now();
    let row = |id: &str, age_s: i64, state: &str| digis_relay::storage::RelayInfo {
        relay_id: id.into(),
        hostname: "h".into(),
        pid: 1,
        version: "t".into(),
        started_at: now - chrono::Duration::hours(3),
        heartbeat_at: now - chrono::Duration::seconds(age_s),
        state: state.into(),
        detail: None,
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: None,
        clock_offset_ms: None,
    };
    for r in [
        row("fresh", 1, "running"),
        row("paused-fresh", 2, "paused"),
        row("hung", 600, "running"),
        row("stopped", 1, "stopped"),
        row("long-gone", 2 * 3600, "running"),
    ] {
        s.heartbeat(&r).await.unwrap();
    }
    let srv = start(&db, config(&db, "", 500)).await;
    let scrape = || metrics_of(&srv);
    let samples = scrape().await;
    assert_eq!(sample(&samples, "digis_relays_live", None).value, 2.0);
    let alive: std::collections::BTreeMap<String, f64> = samples
        .iter()
        .filter(|x| x.name == "digis_relay_alive")
        .map(|x| (x.labels["relay_id"].clone(), x.value))
        .collect();
    assert_eq!(
        alive,
        [
            ("fresh".to_string(), 1.0),
            ("hung".to_string(), 0.0),
            ("paused-fresh".to_string(), 1.0)
        ]
        .into()
    );
    let age = sample(
        &samples,
        "digis_relay_heartbeat_age_seconds",
        Some(("relay_id", "hung")),
    )
    .value;
    assert!((600.0..660.0).contains(&age), "{age}");
    assert_eq!(
        samples
            .iter()
            .filter(|x| x.name == "digis_relay_heartbeat_age_seconds")
            .count(),
        3
    );
    let started = sample(&samples, "process_start_time_seconds", None).value;
    let now_s = Utc::now().timestamp() as f64;
    assert!(
        started <= now_s + 1.0 && started > now_s - 600.0,
        "{started}"
    );
    assert_eq!(sample(&samples, "digis_relay_self_paused", None).value, 0.0);

    // A relay that stops cleanly leaves the per-relay series at the next scrape.
    s.heartbeat(&row("hung", 0, "stopped")).await.unwrap();
    // A relay's own pause (Digis rejected the configuration) against an operator's.
    s.pause(
        "Digis answered 401",
        &digis_relay::domain::PausedBy::relay("fresh").to_string(),
        now,
    )
    .await
    .unwrap();
    let samples = scrape().await;
    assert!(!samples
        .iter()
        .any(|x| x.labels.get("relay_id").map(String::as_str) == Some("hung")));
    assert_eq!(sample(&samples, "digis_relay_self_paused", None).value, 1.0);
    assert_eq!(sample(&samples, "digis_relay_paused", None).value, 1.0);
    s.resume("test", Utc::now()).await.unwrap();
    s.pause("maintenance", "operator", Utc::now())
        .await
        .unwrap();
    let samples = scrape().await;
    assert_eq!(sample(&samples, "digis_relay_self_paused", None).value, 0.0);
    assert_eq!(sample(&samples, "digis_relay_paused", None).value, 1.0);
}

both_databases!(metrics_count_what_the_service_did);

/// What this process counts (`digis_deliveries_total`, the attempt histogram, the last success,
/// the circuit gauge) comes from the real service delivering to the fake Digis, and is checked
/// against what the database recorded and what Digis saw: attempts are counted once each, by
/// their outcome, with their real duration.
async fn metrics_count_what_the_service_did(db: TestDb) {
    use digis_relay::fake_digis::{self, FakeConfig};
    db.active_with(1, &[1, 2, 3, 4]).await;
    // Every answer takes 150 ms. Person 2 is rejected, person 3 fails once and then goes
    // through; 1 and 4 are accepted.
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(crate::common::TOKEN.into()),
            rules: [
                "card=34000002,status=400,delay_ms=150",
                "card=34000003,status=503,times=1,delay_ms=150",
                "delay_ms=150",
            ]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect(),
            record: None,
        },
    )
    .await
    .unwrap();
    let config = crate::common::write_config(
        &db,
        &fake.base_url(),
        "digis_timeout_ms = 20000\n[relay]\npoll_interval_ms = 100\nbackoff_base_ms = 1\n\
         backoff_max_ms = 2\nmax_requests_per_second = 0\ncircuit_failure_threshold = 2\n\
         circuit_open_ms = 600000\n",
    );
    let svc = crate::common::RunningService::start(&config);
    let scrape =
        || async { parse_prometheus(&get(&svc.url("/metrics")).await.text().await.unwrap()) };
    let delivered = |samples: &[Sample], o: &str| {
        sample(samples, "digis_deliveries_total", Some(("outcome", o))).value
    };
    let samples = crate::common::eventually(
        "the metrics count 3 sent, 1 failed and 1 retry",
        Duration::from_secs(60),
        || async {
            let s = scrape().await;
            (delivered(&s, "sent") == 3.0 && delivered(&s, "failed") == 1.0).then_some(s)
        },
    )
    .await;
    // The database's record of the same attempts, and Digis's.
    let recorded = |outcome: &str| {
        let sql = format!("SELECT COUNT(*) FROM digis_attempt WHERE outcome = '{outcome}'");
        let db = &db;
        async move { db.scalar(&sql).await as f64 }
    };
    for o in digis_relay::domain::AttemptOutcome::ALL.map(|o| o.as_str()) {
        assert_eq!(delivered(&samples, o), recorded(o).await, "outcome {o}");
    }
    assert_eq!(delivered(&samples, "retry"), 1.0);
    let attempts = fake.received().len() as f64;
    assert_eq!(attempts, 5.0);
    assert_eq!(
        sample(&samples, "digis_attempt_duration_seconds_count", None).value,
        attempts
    );
    // Each attempt took at least the fake's 150 ms: none in a faster bucket.
    let sum = sample(&samples, "digis_attempt_duration_seconds_sum", None).value;
    assert!(sum >= attempts * 0.15, "{sum}");
    for b in samples
        .iter()
        .filter(|s| s.name == "digis_attempt_duration_seconds_bucket")
    {
        let le: f64 = b.labels["le"].parse().unwrap_or(f64::INFINITY);
        if le < 0.15 {
            assert_eq!(b.value, 0.0, "bucket le={le}");
        } else if le.is_infinite() {
            assert_eq!(b.value, attempts);
        }
    }
    // The last success is when Digis accepted the last member, by this machine's clock.
    let last_accepted = fake
        .accepted()
        .iter()
        .map(|r| r.answered_at())
        .max()
        .unwrap();
    let last = sample(&samples, "digis_last_success_timestamp_seconds", None).value;
    let accepted_s = last_accepted.timestamp_millis() as f64 / 1000.0;
    assert!(
        last >= accepted_s - 0.001 && last <= Utc::now().timestamp_millis() as f64 / 1000.0,
        "last success {last}, Digis accepted at {accepted_s}"
    );
    assert_eq!(
        sample(&samples, "digis_relay_circuit_open", None).value,
        0.0
    );

    // Digis goes down: two failures in a row open this relay's circuit, and the gauge says so.
    fake.set_rules(vec!["status=503".parse().unwrap()]);
    db.active_with(2, &[5, 6]).await;
    // Requests already in flight when it opens still finish and count: wait for the count to
    // settle with the database's.
    let retries = crate::common::eventually(
        "the circuit gauge shows the open circuit, the retries counted as recorded",
        Duration::from_secs(60),
        || async {
            let s = scrape().await;
            let open = sample(&s, "digis_relay_circuit_open", None).value == 1.0;
            let retries = delivered(&s, "retry");
            let seen_by_digis = fake.received().len() as f64;
            (open
                && retries == recorded("retry").await
                && seen_by_digis == attempts + retries - 1.0)
                .then_some(retries)
        },
    )
    .await;
    assert!(retries >= 3.0, "{retries}");
    svc.stop_gracefully();
}
