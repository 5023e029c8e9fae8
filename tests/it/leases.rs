//! Leases under time pressure, through the real binary on both databases: two relays compete for
//! one outbox while rows wait in a relay's hands several times longer than the lease. Only
//! the renewal keeps the other relay off them; a lapse would show as a second request at the
//! fake and a `stale_*` attempt row.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::{self, FakeConfig};

use crate::both_databases;
use crate::common::{RunningService, TestDb};
use crate::relay_outcomes::{all_rows, TOKEN};

/// A configuration file `NAME.toml` in the test's folder for a relay of the real binary:
/// the test's database and log folder, Digis at `digis_url`, then `extra` (TOML; a
/// `digis_timeout_ms` there replaces the default 10 s).
pub fn relay_config(db: &TestDb, name: &str, digis_url: &str, extra: &str) -> std::path::PathBuf {
    let path = db.dir.path().join(format!("{name}.toml"));
    let timeout = if extra.contains("digis_timeout_ms") {
        ""
    } else {
        "digis_timeout_ms = 10000\n"
    };
    std::fs::write(
        &path,
        format!(
            "database_url = \"{}\"\nlog_dir = \"{}\"\nuseDigis = true\ndigisUrl = \"{digis_url}\"\n\
             digisUrlPostfix = \"brp?token={TOKEN}\"\n{timeout}{extra}",
            db.url,
            db.dir.path().join("logs").display()
        ),
    )
    .unwrap();
    path
}

/// A fake Digis requiring the test token, with these fault rules.
pub async fn fake(rules: &[&str]) -> fake_digis::FakeHandle {
    fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(TOKEN.into()),
            rules: rules.iter().map(|r| r.parse().unwrap()).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Requests per (ExtInfo1, ExtInfo20) pair that the fake saw more than once.
pub fn repeated_pairs(fake: &fake_digis::FakeHandle) -> Vec<((String, String), usize)> {
    let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
    for r in fake.received() {
        *per_pair
            .entry((
                r.ext_info1().unwrap_or_default(),
                r.ext_info20().unwrap_or_default(),
            ))
            .or_default() += 1;
    }
    per_pair.into_iter().filter(|(_, n)| *n > 1).collect()
}

both_databases!(leases_are_renewed_while_a_second_relay_competes);

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
    let mut seen: HashMap<i64, Seen> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let rows = all_rows(&db).await;
        let now = Instant::now();
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
            break;
        }
        if now > deadline {
            let stderr: Vec<String> = relays.iter().map(|r| r.stderr()).collect();
            panic!("rows still open after 180 s: {rows:?}\n{stderr:?}");
        }
        tokio::time::sleep(crate::common::POLL).await;
    }

    let repeated = repeated_pairs(&fake);
    let stale = db
        .scalar("SELECT COUNT(*) FROM digis_attempt WHERE outcome LIKE 'stale%'")
        .await;
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
