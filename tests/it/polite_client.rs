//! A polite client (docs/delivery-path.md: the request rate): against a Digis that
//! answers 429 above 20 requests a second, a relay allowed 60 halves its rate on each 429 and
//! climbs back slowly, so every row ends sent, it settles under Digis's limit, and few of its
//! requests are refused. The rate reaches the heartbeat (`status`) and `/metrics`. Both
//! databases, since the rate is stored in the heartbeat row.
use std::time::Duration;

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::{self, FakeConfig};

use crate::both_databases;
use crate::common::{all_rows, cli_db, config_for, eventually, members, service, TestDb};

both_databases!(the_relay_settles_under_digis_rate_limit);

const ROWS: usize = 300;
/// The fake's limit, requests per second.
const LIMIT: f64 = 20.0;
/// What the relay may send at most, three times the fake's limit.
const MAX_RATE: u32 = 60;

async fn the_relay_settles_under_digis_rate_limit(db: TestDb) {
    members(&db, ROWS as i64).await;
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: vec![format!("rate_limit={LIMIT}").parse().unwrap()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = config_for(&fake.base_url(), &db);
    cfg.relay.max_requests_per_second = MAX_RATE;
    cfg.relay.concurrency = 4;
    cfg.relay.heartbeat_ms = 200;
    // Regression: a relay at 60/s meets a Digis that refuses for a whole sliding second, and
    // about 9 refusals in a row came back before the cuts took hold; counted by the circuit
    // (default threshold 5) they opened it. With the circuit held open far past the deadline
    // below, a 429 that still fed the circuit would stall the drain and fail this test.
    cfg.relay.circuit_open_ms = 3_600_000;
    let svc = service(&db, cfg, false).await;
    // At about 15 requests a second the drain takes some 25 s; generous for a loaded machine.
    eventually("every row sent", Duration::from_secs(240), || async {
        let c = db.storage.counts().await.unwrap();
        (c.sent as usize == ROWS).then_some(())
    })
    .await;

    // The rate the relay allows itself now reaches its heartbeat, `status` and `/metrics`.
    // Below the maximum: after a 429 cut it to at most 30, climbing back to 60 would take
    // (60² - 30²) / 2 = 1350 successes, far more than the rows there are.
    let rate = eventually(
        "a heartbeat with the cut rate",
        Duration::from_secs(30),
        || async {
            let relays = db.storage.relays().await.unwrap();
            relays
                .iter()
                .find_map(|r| r.request_rate)
                .filter(|r| *r < f64::from(MAX_RATE))
        },
    )
    .await;
    assert!(rate >= digis_relay::relay::MIN_RATE, "{rate}");
    let status = cli_db(&db, &["status", "--json"]);
    assert!(status.ok, "{status:?}");
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let shown = json["relays"][0]["request_rate"].as_f64().expect("a rate");
    assert!(shown < f64::from(MAX_RATE), "{json}");
    let text = cli_db(&db, &["status"]).stdout;
    assert!(
        text.lines()
            .any(|l| l.starts_with("rate ") && l.contains("requests/s")),
        "{text}"
    );
    let metrics = svc.metrics().render(&*db.storage()).await.unwrap();
    let gauge: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("digis_relay_request_rate "))
        .expect("the rate gauge")
        .trim()
        .parse()
        .unwrap();
    assert!(gauge < f64::from(MAX_RATE), "{metrics}");
    svc.shutdown().await.unwrap();

    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "every row ends sent"
    );
    let received = fake.received();
    let refused = received.iter().filter(|r| r.status == 429).count();
    assert_eq!(received.len() - refused, ROWS, "one acceptance a row");
    // The limit was met, or this test would show nothing about it.
    assert!(refused > 0, "the relay never met the fake's limit");
    // Refused without Retry-After: only the relay's own rate kept it polite.
    assert!(received
        .iter()
        .filter(|r| r.status == 429)
        .all(|r| r.retry_after.is_none()));
    // Few refusals: the first burst (at most `concurrency` in flight, then one cut per refused
    // request sent after the last cut, about log2(60/1) = 6) plus a few at each crest of the
    // saw-tooth (one crest every ~10 s). 15 % leaves a wide margin over that.
    assert!(
        refused * 100 < received.len() * 15,
        "{refused} of {} requests refused",
        received.len()
    );
    // Settled: over the second half of the drain the relay sent (refused requests included)
    // at no more than Digis's limit, with 10 % for the edges of the window.
    let first = received.first().unwrap().at;
    let last = received.last().unwrap().at;
    let mid = first + (last - first) / 2;
    let second_half = received.iter().filter(|r| r.at >= mid).count();
    let secs = (last - mid).num_milliseconds().max(1) as f64 / 1000.0;
    let rate = second_half as f64 / secs;
    assert!(
        rate <= LIMIT * 1.1,
        "{second_half} requests in the last {secs:.1} s: {rate:.1}/s"
    );
}

/// Without a limit there is no rate to show: the gauge is left out rather than reading 0,
/// which would look like a relay that stopped sending.
#[tokio::test]
async fn the_rate_gauge_is_absent_without_a_limit() {
    let db = TestDb::sqlite().await;
    let metrics = digis_relay::metrics::Metrics::new();
    let gauge = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("digis_relay_request_rate "))
            .map(|v| v.trim().parse::<f64>().unwrap())
    };
    let text = metrics.render(&*db.storage()).await.unwrap();
    assert_eq!(gauge(&text), None, "{text}");
    metrics.set_request_rate(Some(12.5));
    let text = metrics.render(&*db.storage()).await.unwrap();
    assert_eq!(gauge(&text), Some(12.5), "{text}");
    metrics.set_request_rate(None);
    let text = metrics.render(&*db.storage()).await.unwrap();
    assert_eq!(gauge(&text), None, "{text}");
}
