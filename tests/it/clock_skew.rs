//! Relays on hosts whose clocks disagree (issue 24, seen defect 3), through the real binary on
//! PostgreSQL: relay A on the real clock, relay B 90 s ahead under libfaketime. Judged by its
//! own clock, B took over every lease A still held (each member got two SMS) and wrote
//! heartbeats 90 s in the future, so `status` called it alive long after it died. Relays follow
//! the database's clock (docs/decisions/0025-one-clock.md): B measures its offset and, being further
//! off than `relay.max_clock_offset_ms`, claims nothing and says so.
//!
//! PostgreSQL only: SQLite is embedded, so its clock is the relay's own host's, and two
//! relays on one SQLite file share a host (and so a clock) unless a test fakes one.
use std::time::Duration;

use digis_relay::domain::OutboxState;

use crate::common::{
    all_rows, command, eventually, fake, relay_config, repeated_pairs, stale_attempts, with_config,
    RunningService, TestDb,
};

const MEMBERS: i64 = 20;
const AHEAD: &str = "+90s";

/// libfaketime's preload library (Debian's `faketime` package), or one line saying how to get
/// it: a skew test that is skipped when it is missing would let the defect back in.
fn libfaketime() -> &'static str {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libfaketime is missing: `apt-get install faketime` (.ci/run installs it)")
}

/// `status --json` against the test's database: its exit code and its object.
fn status(config: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let out = with_config(config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn live(v: &serde_json::Value) -> Vec<String> {
    v["health"]["live_relays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// A holds all 20 members, each answer taking 5 s; B starts 90 s ahead meanwhile. Each
/// member gets exactly one request and no attempt is stale; B's offset is measured and shown,
/// health fails while B is live and off; once B is killed, `status` does not call it alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_90_s_ahead_takes_no_lease_and_is_not_alive_after_it_died() {
    let preload = libfaketime();
    let db = TestDb::postgres().await;
    for s in 1..=MEMBERS {
        db.active_with(s, &[s]).await;
    }
    let fake = fake(&["delay_ms=5000"]).await;
    let extra = |id: &str| {
        format!(
            "[relay]\nrelay_id = \"{id}\"\nconcurrency = {MEMBERS}\nbatch_size = 100\n\
             poll_interval_ms = 100\nheartbeat_ms = 500\nmax_requests_per_second = 0\n"
        )
    };
    let a = RunningService::start(&relay_config(
        &db,
        "clock-a",
        &fake.base_url(),
        &extra("clock-a"),
    ));
    eventually(
        "relay A holds every member",
        Duration::from_secs(20),
        || async {
            let rows = all_rows(&db).await;
            rows.iter()
                .all(|r| r.state == OutboxState::Sending)
                .then_some(())
        },
    )
    .await;

    let b_config = relay_config(&db, "clock-b", &fake.base_url(), &extra("clock-b"));
    let mut cmd = command();
    cmd.args(["--config", b_config.to_str().unwrap(), "run"])
        .args(["--listen", "127.0.0.1:0"])
        .env("LD_PRELOAD", preload)
        .env("FAKETIME", AHEAD);
    let b = RunningService::spawn(cmd);
    // B has beaten (so it has claimed, or refused to, at least once) while A's answers are
    // still on their way: the rows were there for the taking.
    let held_when_b_came = eventually("relay B's heartbeat", Duration::from_secs(20), || async {
        let relays = db.storage.relays().await.unwrap();
        relays
            .iter()
            .any(|r| r.relay_id == "clock-b")
            .then_some(())?;
        Some(
            all_rows(&db)
                .await
                .iter()
                .filter(|r| r.state == OutboxState::Sending)
                .count(),
        )
    })
    .await;
    assert!(
        held_when_b_came > 0,
        "A's answers had all come before B started: the test proved nothing"
    );

    eventually("every member sent", Duration::from_secs(30), || async {
        let rows = all_rows(&db).await;
        rows.iter()
            .all(|r| r.state == OutboxState::Sent)
            .then_some(())
    })
    .await;
    let repeated = repeated_pairs(&fake);
    let stale = stale_attempts(&db).await;
    assert!(
        repeated.is_empty(),
        "{} member(s) got a second request ({} requests, {stale} stale attempts): {repeated:?}\nB: {}",
        repeated.len(),
        fake.received().len(),
        b.stderr()
    );
    assert_eq!(fake.received().len(), MEMBERS as usize);
    assert_eq!(stale, 0);

    // B measured how far ahead it is, says why it does not claim, and health fails for it.
    let (code, v) = status(&b_config);
    let b_row = v["relays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["relay_id"] == "clock-b")
        .cloned()
        .unwrap();
    let offset = b_row["clock_offset_ms"].as_i64().unwrap_or_default();
    assert!(
        (-95_000..=-85_000).contains(&offset),
        "B's offset {offset} (libfaketime {AHEAD}): {b_row}"
    );
    assert!(live(&v).contains(&"clock-b".to_string()), "{v}");
    assert_eq!(code, Some(1), "status exits 1 while B's clock is off: {v}");
    let kinds: Vec<&str> = v["health"]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"clock_offset"), "{kinds:?}");

    // Killed, B leaves a heartbeat in the database's time: it is dead 3 intervals later
    // (1.5 s), not 90 s later.
    let b_pid = b.pid();
    drop(b);
    let gone = eventually(
        "status no longer calls the killed relay B alive",
        Duration::from_secs(10),
        || async {
            let (code, v) = status(&b_config);
            (!live(&v).contains(&"clock-b".to_string())).then_some((code, v))
        },
    )
    .await;
    assert!(
        live(&gone.1).contains(&"clock-a".to_string()),
        "{} (B was pid {b_pid})",
        gone.1
    );
    assert_eq!(gone.0, Some(0), "healthy again without B: {}", gone.1);
    let (exit, stderr) = a.terminate();
    assert!(exit.success(), "{stderr}");
}
