//! The fake Digis over loopback HTTP: answers, token, validation, every fault, recording, the
//! control endpoints and the real `fake-digis` binary.
use std::time::{Duration, Instant};

use digis_relay::fake_digis::{self, FakeConfig, FakeHandle, FaultRule};
use serde_json::{json, Value};

const IMPORT_PATH: &str = "/v1/import/single/brp";

fn client() -> reqwest::Client {
    // no_proxy: a proxy from the environment must not sit between the test and loopback.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn member(subscription: i64, person: i64, card: &str) -> Value {
    json!({
        "IsSendSMS": true,
        "FirstName": "Anna",
        "MobileCountryCode": "46",
        "MobileNumber": "701234567",
        "ExtInfo1": subscription,
        "ExtInfo4": person,
        "ExtInfo20": card,
    })
}

fn rules(list: &[&str]) -> Vec<FaultRule> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

async fn fake_with(rule_list: &[&str]) -> FakeHandle {
    fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: rules(rule_list),
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap()
}

async fn post(fake: &FakeHandle, body: &Value) -> reqwest::Result<reqwest::Response> {
    client()
        .post(format!("{}{IMPORT_PATH}?token=APIKEY", fake.base_url()))
        .header("Authorization", "Legacy")
        .json(body)
        .send()
        .await
}

async fn post_json(fake: &FakeHandle, body: &Value) -> (u16, Value) {
    let r = post(fake, body).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A member posted to `url` as it stands (token and all), without the fake's usual header.
async fn post_member(c: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    c.post(url).json(body).send().await.unwrap()
}

/// The status of a raw body posted with its own content type.
async fn post_raw(c: &reqwest::Client, url: &str, content_type: &str, body: String) -> u16 {
    c.post(url)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn accepts_members_with_unique_external_ids() {
    let fake = fake_with(&[]).await;
    assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    assert_ne!(fake.addr().port(), 0);
    let mut ids = Vec::new();
    for (i, card) in ["0042", "0043", "0044"].iter().enumerate() {
        let (status, body) = post_json(&fake, &member(10 + i as i64, 100, card)).await;
        assert_eq!(status, 200);
        assert_eq!(body["Success"], json!(true));
        assert_eq!(body["Message"], json!("Contact imported"));
        ids.push(body["ExternalId"].as_str().unwrap().to_string());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{ids:?}");
    let got = fake.received();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got.iter()
            .map(|r| r.external_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    let first = &got[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, IMPORT_PATH);
    assert_eq!(first.query_token.as_deref(), Some("APIKEY"));
    assert_eq!(first.authorization.as_deref(), Some("Legacy"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    assert_eq!(first.body, member(10, 100, "0042"));
    assert_eq!(first.ext_info20().as_deref(), Some("0042"));
    assert_eq!(fake.accepted().len(), 3);
    assert_eq!(fake.duplicates(), 0);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_pair_posted_again_succeeds_and_counts_as_a_duplicate() {
    let fake = fake_with(&[]).await;
    let (s1, b1) = post_json(&fake, &member(7, 70, "0042")).await;
    let (s2, b2) = post_json(&fake, &member(7, 70, "0042")).await;
    // Same subscription, another person: not a duplicate.
    let (s3, _) = post_json(&fake, &member(7, 71, "0042")).await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_ne!(b1["ExternalId"], b2["ExternalId"]);
    assert_eq!(fake.duplicates(), 1);
    assert_eq!(fake.accepted().len(), 3);
}

#[tokio::test]
async fn a_configured_token_is_checked() {
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some("right".into()),
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let c = client();
    let url = format!("{}{IMPORT_PATH}", fake.base_url());
    for query in ["?token=wrong", ""] {
        let r = post_member(&c, &format!("{url}{query}"), &member(1, 1, "1")).await;
        assert_eq!(r.status().as_u16(), 401, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"Success": false, "Message": "Invalid token"}));
    }
    let r = post_member(&c, &format!("{url}?token=right"), &member(1, 1, "1")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(fake.received().len(), 3);
    assert_eq!(fake.accepted().len(), 1);
    assert_eq!(fake.received()[0].status, 401);
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_reason() {
    let fake = fake_with(&[]).await;
    let mut body = member(1, 1, "1");
    body.as_object_mut().unwrap().remove("MobileNumber");
    body["ExtInfo20"] = Value::Null;
    let (status, answer) = post_json(&fake, &body).await;
    assert_eq!(status, 400);
    let msg = answer["Message"].as_str().unwrap();
    assert!(
        msg.contains("MobileNumber") && msg.contains("ExtInfo20") && !msg.contains("ExtInfo1,"),
        "{msg}"
    );

    let c = client();
    let url = format!("{}{IMPORT_PATH}", fake.base_url());
    let raw = [
        ("text/plain", member(1, 1, "1").to_string(), 415),
        ("application/json", "{not json".to_string(), 400),
        ("application/json", "[1]".to_string(), 400),
    ];
    for (content_type, body, status) in raw {
        let shown = format!("{content_type} {body}");
        assert_eq!(
            post_raw(&c, &url, content_type, body).await,
            status,
            "{shown}"
        );
    }
    assert_eq!(c.get(&url).send().await.unwrap().status().as_u16(), 405);
    let got = fake.received();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [400, 415, 400, 400, 405]
    );
    // A body that is not JSON is kept as text.
    assert_eq!(got[2].body, json!("{not json"));
    assert!(fake.accepted().is_empty());
}

#[tokio::test]
async fn a_status_rule_applies_to_its_card_only() {
    let fake = fake_with(&["card=0042,status=400,message=Invalid mobile"]).await;
    let (s, b) = post_json(&fake, &member(1, 1, "0042")).await;
    assert_eq!(s, 400);
    assert_eq!(b, json!({"Success": false, "Message": "Invalid mobile"}));
    // "42" is another card: leading zeros count.
    let (s, b) = post_json(&fake, &member(1, 2, "42")).await;
    assert_eq!(s, 200);
    assert!(b["ExternalId"].is_string());
    // The rule has no `times`: it keeps applying.
    let (s, _) = post_json(&fake, &member(1, 1, "0042")).await;
    assert_eq!(s, 400);
    assert_eq!(fake.accepted().len(), 1);
    assert_eq!(fake.received().len(), 3);
}

#[tokio::test]
async fn a_subscription_rule_applies_to_that_subscription_only() {
    let fake = fake_with(&["subscription=7,status=503"]).await;
    let (s, b) = post_json(&fake, &member(7, 1, "1")).await;
    assert_eq!(s, 503);
    assert_eq!(b["Success"], json!(false));
    assert_eq!(b["Message"], json!("Service Unavailable"));
    let (s, _) = post_json(&fake, &member(8, 1, "1")).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_rule_with_times_is_spent_after_that_many_requests() {
    let fake = fake_with(&["status=500,times=1", "card=9,no_id"]).await;
    let (s, _) = post_json(&fake, &member(1, 1, "9")).await;
    assert_eq!(s, 500);
    // First rule spent: the next matching rule answers.
    let (s, b) = post_json(&fake, &member(1, 1, "9")).await;
    assert_eq!((s, b), (200, json!({"Success": true})));
    let (s, _) = post_json(&fake, &member(1, 1, "1")).await;
    assert_eq!(s, 200);
    assert_eq!(
        fake.received().iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 200, 200]
    );
    assert_eq!(fake.accepted().len(), 1);
}

#[tokio::test]
async fn retry_after_is_sent_as_given() {
    let fake = fake_with(&["status=429,retry_after=5"]).await;
    let r = post(&fake, &member(1, 1, "1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "5");
    let date = "Wed, 21 Oct 2037 07:28:00 GMT";
    fake.set_rules(rules(&[&format!("status=503,retry_after={date}")]));
    let r = post(&fake, &member(1, 1, "1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], date);
    fake.set_rules(vec![]);
    let r = post(&fake, &member(1, 1, "1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("retry-after").is_none());
}

#[tokio::test]
async fn a_delay_holds_the_answer_back() {
    let fake = fake_with(&["delay_ms=2000,times=2"]).await;
    let t = Instant::now();
    let (s, b) = post_json(&fake, &member(1, 1, "1")).await;
    assert!(
        t.elapsed() >= Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(s, 200);
    assert!(b["ExternalId"].is_string());

    // A client that gives up first sees a timeout; the fake still saw the request.
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}{IMPORT_PATH}", fake.base_url()))
        .json(&member(1, 2, "2"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(fake.wait_for_requests(2, Duration::from_secs(5)).await);

    // The rule is spent: no delay now. The fake's record says so exactly; the clock only
    // bounds it by the delay itself (2 s against a loopback round trip of milliseconds).
    let t = Instant::now();
    let (s, _) = post_json(&fake, &member(1, 3, "3")).await;
    assert_eq!(s, 200);
    let got = fake.received();
    let delays: Vec<Option<u64>> = got.iter().map(|r| r.delay_ms).collect();
    assert_eq!(delays, [Some(2000), Some(2000), None]);
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_delay_combines_with_a_status() {
    let fake = fake_with(&["delay_ms=200,status=502"]).await;
    let t = Instant::now();
    let (s, _) = post_json(&fake, &member(1, 1, "1")).await;
    assert_eq!(s, 502);
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn drop_closes_the_connection_without_a_response() {
    let fake = fake_with(&["card=0042,drop,times=1"]).await;
    let err = post(&fake, &member(1, 1, "0042")).await.unwrap_err();
    assert!(err.status().is_none(), "{err}");
    assert!(!err.is_timeout(), "{err}");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    let got = fake.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, 0);
    assert!(got[0].external_id.is_none());
    // Spent: the same member goes through now, and the server still serves.
    let (s, _) = post_json(&fake, &member(1, 1, "0042")).await;
    assert_eq!(s, 200);
    assert_eq!(fake.accepted().len(), 1);
}

#[tokio::test]
async fn no_id_and_success_false_answer_200() {
    let fake = fake_with(&[
        "card=1,no_id",
        "card=2,success_false",
        "card=3,success_false,message=Blocked",
    ])
    .await;
    let (s, b) = post_json(&fake, &member(1, 1, "1")).await;
    assert_eq!((s, b), (200, json!({"Success": true})));
    let (s, b) = post_json(&fake, &member(1, 2, "2")).await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"Success": false, "Message": "Rejected by rule"})
        )
    );
    let (s, b) = post_json(&fake, &member(1, 3, "3")).await;
    assert_eq!(
        (s, b),
        (200, json!({"Success": false, "Message": "Blocked"}))
    );
    assert!(fake.accepted().is_empty());
    assert!(fake
        .received()
        .iter()
        .all(|r| r.status == 200 && r.external_id.is_none()));
}

#[tokio::test]
async fn the_record_file_has_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("received.jsonl");
    let cfg = FakeConfig {
        record: Some(path.clone()),
        rules: rules(&["status=500,times=1"]),
        ..FakeConfig::default()
    };
    let fake = fake_digis::start("127.0.0.1:0", cfg.clone()).await.unwrap();
    for p in 1..=3 {
        post(&fake, &member(5, p, "77")).await.unwrap();
    }
    fake.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], json!(500));
    assert_eq!(lines[1]["status"], json!(200));
    assert_eq!(lines[1]["body"]["ExtInfo4"], json!(2));
    assert_eq!(lines[2]["path"], json!(IMPORT_PATH));
    let last_id = lines[2]["external_id"].as_str().unwrap().to_string();

    // A restarted fake appends and does not hand out an id twice.
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: vec![],
            ..cfg
        },
    )
    .await
    .unwrap();
    let (_, b) = post_json(&fake, &member(5, 9, "77")).await;
    assert!(
        b["ExternalId"].as_str().unwrap() > last_id.as_str(),
        "{b} vs {last_id}"
    );
    fake.shutdown().await;
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
}

#[tokio::test]
async fn control_endpoints_read_and_set_state() {
    let fake = fake_with(&[]).await;
    let c = client();
    let base = fake.base_url();
    let put = |body: Value| c.put(format!("{base}/_fake/rules")).json(&body).send();
    let r = put(json!(["status=502,times=1", {"card": "9", "no_id": true}]))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set: Value = r.json().await.unwrap();
    assert_eq!(set[0]["rule"], json!("status=502,times=1"));
    assert_eq!(set[1]["rule"], json!("card=9,no_id"));
    let (s, _) = post_json(&fake, &member(1, 1, "1")).await;
    assert_eq!(s, 502);
    let (s, b) = post_json(&fake, &member(1, 1, "9")).await;
    assert_eq!((s, b), (200, json!({"Success": true})));
    let rules_now = get_json(&c, format!("{base}/_fake/rules")).await;
    assert_eq!(rules_now[0]["spent"], json!(true));

    // A bad rule is refused, naming it, and the rules in force stay.
    let r = put(json!(["status=500", "status=abc"])).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: Value = r.json().await.unwrap();
    let e = e["error"].as_str().unwrap();
    assert!(e.contains("rule 1") && e.contains("abc"), "{e}");

    let received = get_json(&c, format!("{base}/_fake/received")).await;
    let received = received.as_array().unwrap();
    assert_eq!(received.len(), 2, "control calls are not recorded");
    assert_eq!(received[0]["status"], json!(502));
    assert_eq!(received[1]["body"]["ExtInfo20"], json!("9"));
    let health = get_json(&c, format!("{base}/_fake/health")).await;
    assert_eq!(health["ok"], json!(true));
    assert_eq!(health["received"], json!(2));
    assert_eq!(health["accepted"], json!(0));
    assert_eq!(health["rules"], json!(2));
    let r = c.get(format!("{base}/_fake/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn wait_for_requests_times_out_when_nothing_comes() {
    let fake = fake_with(&[]).await;
    let t = Instant::now();
    assert!(!fake.wait_for_requests(1, Duration::from_millis(100)).await);
    assert!(t.elapsed() >= Duration::from_millis(100));
    let waiter = fake.wait_for_requests(2, Duration::from_secs(10));
    let sender = async {
        post(&fake, &member(1, 1, "1")).await.unwrap();
        post(&fake, &member(1, 2, "1")).await.unwrap();
    };
    let (seen, ()) = tokio::join!(waiter, sender);
    assert!(seen);
    fake.set_rules(rules(&["card=5,no_id"]));
    let accepted_three = fake.wait_until(Duration::from_secs(10), |r| {
        r.iter().filter(|r| r.is_accepted()).count() >= 3
    });
    let sender = async {
        // Not accepted (no id), then accepted.
        post(&fake, &member(2, 1, "5")).await.unwrap();
        post(&fake, &member(2, 2, "6")).await.unwrap();
    };
    let (seen, ()) = tokio::join!(accepted_three, sender);
    assert!(seen);
    assert_eq!(fake.received().len(), 4);
    assert!(
        !fake
            .wait_until(Duration::from_millis(50), |r| r.len() > 4)
            .await
    );
}

#[test]
fn rule_parser_errors_name_the_bad_part() {
    let cases = [
        ("status=abc", "status=`abc`"),
        ("status=700", "status 700"),
        ("colour=red", "unknown key `colour`"),
        ("", "empty"),
        ("status=500,,times=1", "empty part"),
        ("drop,status=500", "choose one"),
        ("message=oops", "message needs status"),
        ("times=0", "times=0"),
        ("delay_ms=-5", "delay_ms=`-5`"),
        ("card=", "`card` needs a value"),
        ("drop=maybe", "drop=`maybe`"),
        ("drop,retry_after=5", "drop sends no response"),
    ];
    for (input, expected) in cases {
        let e = input.parse::<FaultRule>().unwrap_err().to_string();
        assert!(e.contains(expected), "{input:?} gave {e:?}");
        assert!(e.starts_with(&format!("fault rule `{input}`")), "{e}");
    }
}

#[tokio::test]
async fn start_refuses_an_invalid_rule_and_a_busy_port() {
    let bad = FaultRule {
        drop: true,
        no_id: true,
        ..FaultRule::default()
    };
    let e = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: vec![bad],
            ..FakeConfig::default()
        },
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("choose one"), "{e}");
    let fake = fake_with(&[]).await;
    let e = fake_digis::start(&fake.addr().to_string(), FakeConfig::default())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("cannot listen on"), "{e}");
}

mod binary {
    use std::process::Stdio;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::Command;

    use super::*;

    fn command(dir: &std::path::Path) -> Command {
        let mut c = Command::from(crate::common::command());
        // A directory without digis-relay.toml and no inherited settings.
        c.current_dir(dir)
            .env("RUST_LOG", "fake_digis=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    #[tokio::test]
    async fn fake_digis_command_serves_records_and_stops_on_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("rec.jsonl");
        let mut child = command(dir.path())
            .args(["fake-digis", "--listen", "127.0.0.1:0", "--token", "T0K"])
            .args(["--fault", "status=500,times=1", "--record"])
            .arg(&record)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("the fake printed nothing in 30 s")
            .unwrap()
            .unwrap();
        let base = first
            .strip_prefix("fake Digis listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );

        let c = client();
        let url = format!("{base}{IMPORT_PATH}?token=T0K");
        let r = post_member(&c, &url, &member(3, 4, "0005")).await;
        assert_eq!(r.status().as_u16(), 500);
        let r = post_member(&c, &url, &member(3, 4, "0005")).await;
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["ExternalId"].as_str().unwrap().starts_with("TE-"));
        let nope = format!("{base}{IMPORT_PATH}?token=nope");
        let r = post_member(&c, &nope, &member(3, 4, "0005")).await;
        assert_eq!(r.status().as_u16(), 401);

        let pid = child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("the fake did not stop on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        let mut rest = Vec::new();
        while let Some(l) = out.next_line().await.unwrap() {
            rest.push(l);
        }
        assert!(
            rest.iter()
                .any(|l| l.contains("3 request(s) received, 1 accepted")),
            "{rest:?}"
        );
        let mut err = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut err)
            .await
            .unwrap();
        // Activity lines name ids and cards, never the body's personal data or the token.
        assert!(err.contains("ExtInfo20=0005"), "{err}");
        for secret in ["Anna", "701234567", "T0K"] {
            assert!(
                !err.contains(secret) && !rest.concat().contains(secret),
                "{secret} leaked"
            );
        }
        assert_eq!(std::fs::read_to_string(&record).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn fake_digis_command_rejects_a_bad_fault_rule() {
        let dir = tempfile::tempdir().unwrap();
        let out = command(dir.path())
            .args([
                "fake-digis",
                "--listen",
                "127.0.0.1:0",
                "--fault",
                "status=oops",
            ])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: --fault: fault rule `status=oops`: status=`oops`"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
