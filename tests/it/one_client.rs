//! Several relays behave as one client towards Digis (docs/delivery-path.md: the
//! request rate, the circuit; issue 24, seen defect 8), through the real binary on both
//! databases: three relays share one `max_requests_per_second`, an open circuit stops all of
//! them and is probed once for all, and one relay prunes at a time.
use std::time::Duration;

use chrono::{DateTime, Utc};
use digis_relay::domain::{OutboxState, RelayState};
use digis_relay::fake_digis::Received;

use crate::both_databases;
use crate::common::{
    all_rows, cli_db, command, eventually, fake, members, relay_config, wait_heartbeat, Kind,
    RunningService, TestDb,
};

both_databases!(
    three_relays_share_one_request_budget,
    an_open_circuit_stops_every_relay_and_is_probed_once,
    one_relay_prunes_at_a_time,
    one_of_many_takes_a_due_probe,
);

/// The budget the three relays share, requests per second.
const BUDGET: usize = 9;
const HEARTBEAT_MS: u64 = 200;

fn start_relay(db: &TestDb, id: &str, fake_url: &str, extra: &str) -> RunningService {
    RunningService::start(&relay_config(
        db,
        id,
        fake_url,
        &format!("[relay]\nrelay_id = \"{id}\"\n{extra}"),
    ))
}

/// The most requests the fake received in any one-second window (both ends included) among
/// those that arrived from `from` on.
fn busiest_second(received: &[Received], from: DateTime<Utc>) -> (usize, Option<DateTime<Utc>>) {
    let at: Vec<DateTime<Utc>> = received
        .iter()
        .map(|r| r.at)
        .filter(|t| *t >= from)
        .collect();
    let mut best = (0, None);
    for (i, start) in at.iter().enumerate() {
        let n = at[i..]
            .iter()
            .filter(|t| **t - *start <= chrono::Duration::milliseconds(1000))
            .count();
        if n > best.0 {
            best = (n, Some(*start));
        }
    }
    best
}

/// Three relays allowed 9 requests a second together, against a Digis that takes everything:
/// once all three are live, no second at the fake holds more than 10 requests. Before the
/// budget was shared, each relay sent 9 a second on its own, 27 together.
async fn three_relays_share_one_request_budget(db: TestDb) {
    const ROWS: i64 = 60;
    members(&db, ROWS).await;
    let fake = fake(&[]).await;
    let extra = format!(
        "max_requests_per_second = {BUDGET}\nheartbeat_ms = {HEARTBEAT_MS}\npoll_interval_ms = 100\n\
         concurrency = 3\nbatch_size = 3\n"
    );
    let ids = ["share-a", "share-b", "share-c"];
    let relays: Vec<RunningService> = ids
        .iter()
        .map(|id| start_relay(&db, id, &fake.base_url(), &extra))
        .collect();
    // All three have joined: each has written a heartbeat as a live, running relay.
    eventually("three live relays", Duration::from_secs(30), || async {
        let relays = db.storage.relays().await.unwrap();
        let now = Utc::now();
        let live = relays
            .iter()
            .filter(|r| ids.contains(&r.relay_id.as_str()))
            .filter(|r| digis_relay::health::is_live(r, now))
            .count();
        (live == 3).then_some(())
    })
    .await;
    let joined = Utc::now();
    eventually("every row sent", Duration::from_secs(60), || async {
        (db.storage.counts().await.unwrap().sent == ROWS as u64).then_some(())
    })
    .await;
    let received = fake.received();
    // Every relay took part (small batches: one relay cannot claim the whole backlog at once).
    let attempts = digis_relay_attempts_by_relay(&db).await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    let (busiest, at) = busiest_second(&received, joined);
    let after: Vec<_> = received.iter().filter(|r| r.at >= joined).collect();
    assert!(
        after.len() >= 2 * BUDGET,
        "too few requests after all joined to judge the rate: {}",
        after.len()
    );
    assert!(
        busiest <= BUDGET + 1,
        "{busiest} requests in the second from {at:?} with {BUDGET} allowed to the three relays; \
         arrivals: {:?}",
        after
            .iter()
            .map(|r| r.at.format("%S%.3f").to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(fake.duplicates(), 0);

    // Each relay shows its share: `status --json` per relay, and the text.
    let status = cli_db(&db, &["status", "--json"]);
    assert!(status.ok, "{status:?}");
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let shares: Vec<f64> = json["relays"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["request_share"].as_f64())
        .collect();
    assert_eq!(shares.len(), 3, "{json}");
    let total: f64 = shares.iter().sum();
    assert!(
        total <= BUDGET as f64 && total > BUDGET as f64 * 0.9,
        "shares {shares:?} of a budget of {BUDGET}"
    );
    let text = command()
        .args(["--database-url", &db.url, "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("relay ") && l.contains(", share 2.9 requests/s"))
            .count(),
        3,
        "{text}"
    );
    drop(relays);
}

/// How many attempts each relay made, by `digis_attempt.relay_id`.
async fn digis_relay_attempts_by_relay(db: &TestDb) -> std::collections::BTreeMap<String, usize> {
    let mut by = std::collections::BTreeMap::new();
    for r in all_rows(db).await {
        for a in db.storage.attempts(r.id).await.unwrap() {
            *by.entry(a.relay_id).or_default() += 1;
        }
    }
    by
}

const THRESHOLD: usize = 3;
const OPEN_MS: i64 = 4_000;

/// Digis is down: relay A's run of failures opens the circuit, and relays B and C, started
/// while it is open, send nothing at all (before, each needed its own run of failures). Once
/// the circuit's time is up exactly one probe reaches Digis, whichever relay wins it, and it
/// opens the circuit again for all; `sync` then probes at once, and the good probe closes it
/// for every relay.
async fn an_open_circuit_stops_every_relay_and_is_probed_once(db: TestDb) {
    members(&db, 12).await;
    let fake = fake(&["status=503"]).await;
    let extra = format!(
        "concurrency = 1\nbatch_size = 1\ncircuit_failure_threshold = {THRESHOLD}\n\
         circuit_open_ms = {OPEN_MS}\nbackoff_base_ms = 1\nbackoff_max_ms = 2\n\
         poll_interval_ms = 50\nheartbeat_ms = {HEARTBEAT_MS}\nmax_requests_per_second = 0\n"
    );
    let a = start_relay(&db, "circuit-a", &fake.base_url(), &extra);
    wait_heartbeat(&db, "circuit-a", RelayState::CircuitOpen).await;
    assert_eq!(fake.received().len(), THRESHOLD, "A's run of failures");

    let b = start_relay(&db, "circuit-b", &fake.base_url(), &extra);
    let c = start_relay(&db, "circuit-c", &fake.base_url(), &extra);
    for id in ["circuit-b", "circuit-c"] {
        wait_heartbeat(&db, id, RelayState::CircuitOpen).await;
    }
    assert_eq!(
        fake.received().len(),
        THRESHOLD,
        "B and C sent to a Digis whose circuit A had opened"
    );
    let opened = db.storage.control().await.unwrap().circuit;
    assert_eq!(opened.opened_by.as_deref(), Some("circuit-a"), "{opened:?}");
    let open_until = opened
        .open_until
        .expect("the circuit is open in the database");
    // One probe once the time is up, from whichever relay won it.
    assert!(
        fake.wait_for_requests(THRESHOLD + 1, Duration::from_secs(30))
            .await,
        "no probe after the circuit's time"
    );
    let got = fake.received();
    assert!(
        got[..THRESHOLD].iter().all(|r| r.at < open_until)
            && got[THRESHOLD].at >= open_until - chrono::Duration::milliseconds(50),
        "B and C sent while the circuit was open, or the probe came early: {:?} (open until {open_until})",
        got.iter().map(|r| r.at).collect::<Vec<_>>()
    );
    // The failed probe opened it again for all; by the time the database says so, every relay
    // has had its chance at the probe, and none other went out.
    let reopened = eventually(
        "the failed probe reopened it",
        Duration::from_secs(30),
        || async {
            let c = db.storage.control().await.unwrap().circuit;
            // A won probe names its relay; the failure that reopens it clears the name.
            c.open_until
                .filter(|until| *until > open_until && c.probe_by.is_none())
                .map(|_| c)
        },
    )
    .await;
    assert!(reopened.opened_by.is_some(), "{reopened:?}");
    assert_eq!(
        fake.received().len(),
        THRESHOLD + 1,
        "exactly one probe for the three relays"
    );

    // Digis is back; `sync` makes the open circuit due at once, and one good probe closes it
    // for every relay, far sooner than its time.
    fake.set_rules(Vec::new());
    let synced_at = Utc::now();
    let out = command()
        .args(["--database-url", &db.url, "sync"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    eventually("every row sent", Duration::from_secs(30), || async {
        (db.storage.counts().await.unwrap().sent == 12).then_some(())
    })
    .await;
    let got = fake.received();
    let first_good = got.iter().find(|r| r.status == 200).unwrap();
    assert!(
        first_good.at - synced_at < chrono::Duration::milliseconds(OPEN_MS / 2),
        "the probe after `sync` came {} after it",
        first_good.at - synced_at
    );
    assert_eq!(
        got.len(),
        THRESHOLD + 1 + 12,
        "{:?}",
        got.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(fake.duplicates(), 0);
    assert!(db
        .storage
        .control()
        .await
        .unwrap()
        .circuit
        .open_until
        .is_none());
    for id in ["circuit-a", "circuit-b", "circuit-c"] {
        wait_heartbeat(&db, id, RelayState::Running).await;
    }
    assert!(all_rows(&db)
        .await
        .iter()
        .all(|r| r.state == OutboxState::Sent));
    drop((a, b, c));
}

/// Two prunes at once delete each old row once; on PostgreSQL a prune that finds another
/// holding the prune lock leaves the work to it (SQLite has one writer: prunes are one after
/// the other there anyway).
async fn one_relay_prunes_at_a_time(db: TestDb) {
    for s in 1..=6 {
        db.active_with(s, &[s]).await;
    }
    let old = digis_relay::storage_time_text(Utc::now() - chrono::Duration::days(100));
    db.exec(&format!(
        "UPDATE digis_outbox SET state = 'sent', updated_at = '{old}' WHERE subscription_id <= 3"
    ))
    .await;
    let before = Utc::now() - chrono::Duration::days(30);
    if db.kind == Kind::Postgres {
        // Another relay is pruning: it holds the lock.
        use sqlx::Connection as _;
        let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(digis_relay::storage::PRUNE_LOCK_KEY)
            .execute(&mut other)
            .await
            .unwrap();
        assert_eq!(
            db.storage.prune(before).await.unwrap(),
            0,
            "pruned beside another prune"
        );
        assert_eq!(all_rows(&db).await.len(), 6);
        other.close().await.unwrap();
    }
    let (x, y) = tokio::join!(db.storage.prune(before), db.storage.prune(before));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x + y, 3, "two prunes at once: {x} and {y}");
    assert_eq!(all_rows(&db).await.len(), 3);
}

/// The shared circuit in the database: open, not due; due (open for 0 ms), and of eight relays
/// asking at once exactly one wins the probe; a failure opens it again, a success closes it.
async fn one_of_many_takes_a_due_probe(db: TestDb) {
    let s = db.storage();
    assert_eq!(s.control().await.unwrap().circuit.open_until, None);
    assert!(
        !s.take_circuit_probe("r0", Duration::from_secs(60))
            .await
            .unwrap(),
        "closed"
    );
    s.open_circuit("Digis answered HTTP 503", "r1", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("until when");
    let c = s.control().await.unwrap();
    assert!(c.circuit.open_until > c.db_now, "{c:?}");
    assert!(
        !s.take_circuit_probe("r0", Duration::from_secs(60))
            .await
            .unwrap(),
        "not due"
    );
    s.open_circuit("Digis answered HTTP 503", "r1", Duration::ZERO)
        .await
        .unwrap();
    let tries = (0..8).map(|i| {
        let s = s.clone();
        async move {
            s.take_circuit_probe(&format!("r{i}"), Duration::from_secs(60))
                .await
                .unwrap()
        }
    });
    let won = futures::future::join_all(tries).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let c = s.control().await.unwrap().circuit;
    assert!(c.probe_by.is_some() && c.open_until.is_some(), "{c:?}");
    assert!(s.close_circuit().await.unwrap());
    assert!(!s.close_circuit().await.unwrap(), "already closed");
    let c = s.control().await.unwrap().circuit;
    assert_eq!(c, Default::default());
}
