//! Leases under time pressure, through the real binary on both databases: two relays compete for
//! one outbox while rows wait in a relay's hands several times longer than the lease. Only
//! the renewal keeps the other relay off them; a lapse would show as a second request at the
//! fake and a `stale_*` attempt row.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use digis_relay::domain::OutboxState;
use digis_relay::storage::RelayInfo;

use crate::both_databases;
use crate::common::{
    all_rows, fake, poll_until, relay_config, repeated_pairs, stale_attempts, RunningService,
    TestDb,
};

both_databases!(
    leases_are_renewed_while_a_second_relay_competes,
    an_expired_lease_is_taken_over_only_from_a_relay_that_stopped_beating,
);

const ROWS: i64 = 24;
const LEASE_MS: u64 = 3_000;

/// Two relays (two processes) on one database, one request at a time each, claiming 12 rows
/// at once with a lease of 3 s while every answer takes 0.8 s: a claimed row waits in its
/// relay's buffer up to ~10 s, three leases. The other relay claims every 50 ms and would
/// take any row whose lease ran out. Every member reaches Digis exactly once, no attempt is
/// recorded stale, and the test sees rows held past their first lease with the lease pushed
/// on (so it did exercise the renewal).
async fn leases_are_renewed_while_a_second_relay_competes(db: TestDb) {
    for s in 1..=ROWS {
        db.active_with(s, &[s]).await;
    }
    // 0.8 s is far from the 2.5 s timeout either way: an answer never turns into a timeout.
    let fake = fake(&["delay_ms=800"]).await;
    let relays: Vec<RunningService> = ["lease-a", "lease-b"]
        .into_iter()
        .map(|name| {
            RunningService::start(&relay_config(
                &db,
                name,
                &fake.base_url(),
                &format!(
                    "digis_timeout_ms = 2500\n[relay]\nrelay_id = \"{name}\"\nconcurrency = 1\n\
                     batch_size = 12\nlease_ms = {LEASE_MS}\npoll_interval_ms = 50\n\
                     max_requests_per_second = 0\nheartbeat_ms = 500\n"
                ),
            ))
        })
        .collect();

    // Watch the rows while they are worked: when each was first and last seen `sending`, and
    // the leases it was seen under.
    struct Seen {
        first: Instant,
        last: Instant,
        until: Vec<chrono::DateTime<chrono::Utc>>,
    }
    let seen: std::cell::RefCell<HashMap<i64, Seen>> = Default::default();
    let open = poll_until(Duration::from_secs(180), crate::common::POLL, || async {
        let rows = all_rows(&db).await;
        let now = Instant::now();
        let mut seen = seen.borrow_mut();
        for r in rows.iter().filter(|r| r.state == OutboxState::Sending) {
            let s = seen.entry(r.id.0).or_insert(Seen {
                first: now,
                last: now,
                until: Vec::new(),
            });
            s.last = now;
            if let Some(u) = r.locked_until {
                if !s.until.contains(&u) {
                    s.until.push(u);
                }
            }
        }
        // Done once nothing is open any more (a row failed by lapsed leases ends it too, and
        // the assertions below say why).
        if rows
            .iter()
            .all(|r| r.state != OutboxState::Pending && r.state != OutboxState::Sending)
        {
            return Ok(());
        }
        Err(rows)
    })
    .await;
    if let Err(rows) = open {
        let stderr: Vec<String> = relays.iter().map(|r| r.stderr()).collect();
        panic!("rows still open after 180 s: {rows:?}\n{stderr:?}");
    }
    let seen = seen.into_inner();

    let repeated = repeated_pairs(&fake);
    let stale = stale_attempts(&db).await;
    assert!(
        repeated.is_empty(),
        "a member reached Digis more than once: {repeated:?}"
    );
    assert_eq!(fake.received().len(), ROWS as usize);
    assert_eq!(fake.duplicates(), 0);
    assert_eq!(stale, 0, "a completion came after its lease was lost");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_attempt").await,
        ROWS,
        "one attempt a row"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis").await, ROWS);
    // Both relays were there to compete the whole time (who took how many depends on how
    // the machine schedules them, so the split is not asserted).
    let ids: Vec<String> = db
        .storage
        .relays()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.relay_id)
        .collect();
    assert!(
        ids.contains(&"lease-a".to_string()) && ids.contains(&"lease-b".to_string()),
        "{ids:?}"
    );
    // The situation the test is about did happen: some row stayed `sending` for longer than a
    // lease (it would have been up for grabs without a renewal), and its lease was pushed on.
    let longest = seen
        .values()
        .map(|s| s.last - s.first)
        .max()
        .unwrap_or_default();
    assert!(
        longest > Duration::from_millis(LEASE_MS),
        "no row was held past its lease ({longest:?}): the test proved nothing"
    );
    let renewed = seen.values().filter(|s| s.until.len() > 1).count();
    assert!(renewed > 0, "no lease was seen renewed");
    for r in relays {
        let (status, stderr) = r.terminate();
        assert!(status.success(), "{stderr}");
    }
}

/// A heartbeat row of relay `id` written at `at`.
fn beat(id: &str, at: chrono::DateTime<chrono::Utc>, state: &str) -> RelayInfo {
    RelayInfo {
        relay_id: id.into(),
        hostname: "h".into(),
        pid: 1,
        version: "t".into(),
        started_at: at,
        heartbeat_at: at,
        state: state.into(),
        detail: None,
        heartbeat_ms: Some(5_000),
        request_rate: None,
        clock_offset_ms: Some(0),
        request_share: None,
    }
}

/// Issue 24 (Takeover after an outage): after an outage longer than the lease every lease has
/// run out, yet its holder may still hold Digis's answers for those rows. Another relay takes
/// a lease over only when the holder has not beaten for a lease, counted at the earliest from
/// when the taker itself got the database back; the holder takes its own rows back at once,
/// and a holder that stopped leaves them to anyone.
async fn an_expired_lease_is_taken_over_only_from_a_relay_that_stopped_beating(db: TestDb) {
    db.active_with(1, &[1]).await;
    db.active_with(2, &[2]).await;
    let s = db.storage();
    let lease = Duration::from_secs(30);
    let secs = chrono::Duration::seconds;
    let t0 = chrono::Utc::now();
    let a = s.claim("relay-a", 1, lease, t0).await.unwrap();
    let c = s.claim("relay-c", 1, lease, t0).await.unwrap();
    assert_eq!((a.len(), c.len()), (1, 1));
    // 31 s on, both leases ran out; relay-a beat again since (it is back and alive), relay-c
    // stopped cleanly.
    let later = t0 + secs(31);
    s.heartbeat(&beat("relay-a", later - secs(1), "running"))
        .await
        .unwrap();
    s.heartbeat(&beat("relay-c", later - secs(1), "stopped"))
        .await
        .unwrap();
    let b = s
        .claim_after("relay-b", 10, lease, later, &[], None)
        .await
        .unwrap();
    let taken: Vec<_> = b.iter().map(|r| r.row.id).collect();
    assert_eq!(
        taken,
        vec![c[0].row.id],
        "only the stopped relay's row is taken over, never the live relay's"
    );
    // The holder itself takes its own row back (under a new claim, its old one lost).
    let again = s
        .claim_after("relay-a", 10, lease, later, &[], None)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].row.id, a[0].row.id);
    // relay-a falls silent: 31 s after its last beat and its new lease, its row is up for
    // grabs, but not for a relay that got the database back only 10 s ago.
    let last = later + secs(31);
    s.heartbeat(&beat("relay-a", later, "running"))
        .await
        .unwrap();
    let b = s
        .claim_after("relay-b", 10, lease, last, &[], Some(last - secs(10)))
        .await
        .unwrap();
    assert!(
        b.is_empty(),
        "taken over within a lease of the outage: {b:?}"
    );
    let b = s
        .claim_after("relay-b", 10, lease, last, &[], Some(last - secs(30)))
        .await
        .unwrap();
    let mut taken: Vec<_> = b.iter().map(|r| r.row.id).collect();
    taken.sort();
    // (relay-b's own row from before, its lease out too, comes back to it as well.)
    assert_eq!(taken, vec![a[0].row.id, c[0].row.id]);
}
