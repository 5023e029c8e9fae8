//! The fake's soak faults do what they say: huge and slow bodies, faults by chance, and the
//! per-request record of `Retry-After` and delay the soak's checks rely on.
use std::time::{Duration, Instant};

use digis_relay::fake_digis::{self, FakeConfig};

fn member() -> serde_json::Value {
    serde_json::json!({"ExtInfo1": 1, "ExtInfo4": 2, "ExtInfo20": "0042", "MobileNumber": "701234567"})
}

async fn fake(rules: &[&str]) -> fake_digis::FakeHandle {
    fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: rules.iter().map(|r| r.parse().unwrap()).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn post(base: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/import/single/brp"))
        .json(&member())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_huge_body_is_that_large_and_still_carries_the_id() {
    let f = fake(&["body_bytes=3000000"]).await;
    let r = post(&f.base_url()).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 3_000_000);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["ExternalId"], "TE-000001");
    assert_eq!(f.accepted().len(), 1);
}

#[tokio::test]
async fn a_huge_error_body_keeps_its_status() {
    let f = fake(&["status=500,body_bytes=200000"]).await;
    let r = post(&f.base_url()).await;
    assert_eq!(r.status(), 500);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["Success"], false);
    assert!(v["Padding"].as_str().unwrap().len() > 190_000);
}

#[tokio::test]
async fn a_slow_body_arrives_over_the_time_given() {
    let f = fake(&["slow_body_ms=600"]).await;
    let start = Instant::now();
    let r = post(&f.base_url()).await;
    let head = start.elapsed();
    let v: serde_json::Value = r.json().await.unwrap();
    let whole = start.elapsed();
    assert_eq!(v["ExternalId"], "TE-000001");
    assert!(
        head < Duration::from_millis(300),
        "headers come first: {head:?}"
    );
    assert!(
        whole >= Duration::from_millis(500),
        "the body trickles: {whole:?}"
    );
}

#[tokio::test]
async fn percent_applies_a_rule_to_about_that_share() {
    let f = fake(&["status=503,percent=30"]).await;
    let client = reqwest::Client::new();
    let mut faulted = 0;
    for _ in 0..400 {
        let r = client
            .post(format!("{}/x", f.base_url()))
            .json(&member())
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            faulted += 1;
        }
    }
    // 30 % of 400 is 120; the bounds are more than 5 standard deviations (9.2) away.
    assert!((70..=170).contains(&faulted), "{faulted} of 400");
}

#[tokio::test]
async fn the_record_keeps_retry_after_and_delay() {
    let f = fake(&["status=429,retry_after=7,delay_ms=50"]).await;
    assert_eq!(post(&f.base_url()).await.status(), 429);
    let r = &f.received()[0];
    assert_eq!(r.retry_after.as_deref(), Some("7"));
    assert_eq!(r.delay_ms, Some(50));
    assert_eq!((r.answered_at() - r.at).num_milliseconds(), 50);
}
