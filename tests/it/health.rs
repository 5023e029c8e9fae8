//! Health tells the truth: one assessment behind `/healthz`, `status`, `doctor` and the
//! dashboard; liveness by each relay's own heartbeat interval; `degraded` for a relay that keeps
//! failing; the backlog age as a metric and a health input. Both databases, the real binary.
use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use digis_relay::storage::RelayInfo;

use crate::both_databases;
use crate::common::{
    eventually, eventually_ok, open_fake, with_config, write_config, Person, TestDb,
};

fn cli(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    with_config(config)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `run --listen 127.0.0.1:0` (the port it picks itself) with one row a batch and quick
/// heartbeats, so that three bad batches (degraded) come within a second or two.
fn spawn_listening_run(
    db: &TestDb,
    digis_url: &str,
) -> (crate::common::RunningService, std::path::PathBuf) {
    let config = write_config(
        db,
        digis_url,
        "[relay]\nbatch_size = 1\npoll_interval_ms = 100\nheartbeat_ms = 200\n",
    );
    (crate::common::RunningService::start(&config), config)
}

/// The first /healthz answer that says degraded (a 503).
async fn wait_degraded(http: &reqwest::Client, addr: SocketAddr) -> serde_json::Value {
    eventually("degraded", Duration::from_secs(60), || async {
        match get_health(http, addr).await {
            Some((503, v)) if v["degraded"] == true => Some(v),
            _ => None,
        }
    })
    .await
}

fn status_json(config: &std::path::Path, env: &[(&str, &str)]) -> serde_json::Value {
    let out = cli(config, &["status", "--json"], env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // DESIGN §8: 0 when delivery is healthy, 1 when it is not.
    let want = if v["health"]["healthy"] == true { 0 } else { 1 };
    assert_eq!(
        out.status.code(),
        Some(want),
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

fn relay_row(id: &str, age_s: i64, heartbeat_ms: Option<i64>) -> RelayInfo {
    let now = Utc::now();
    RelayInfo {
        relay_id: id.into(),
        hostname: "h".into(),
        pid: 1,
        version: "t".into(),
        started_at: now - chrono::Duration::hours(1),
        heartbeat_at: now - chrono::Duration::seconds(age_s),
        state: "running".into(),
        detail: None,
        request_share: None,
        heartbeat_ms,
        request_rate: None,
        clock_offset_ms: None,
    }
}

/// Sets when a member's outbox row is due (ISO text works for both databases).
async fn due_at(db: &TestDb, person: i64, at: chrono::DateTime<Utc>) {
    db.exec(&format!(
        "UPDATE digis_outbox SET next_attempt_at = '{}' WHERE person_id = {person}",
        digis_relay::storage_time_text(at)
    ))
    .await;
}

both_databases!(
    storage_keeps_the_heartbeat_interval_and_finds_the_oldest_due_row,
    metrics_show_the_backlog_age,
    status_judges_liveness_by_each_relays_own_interval,
    an_old_backlog_is_a_health_blocker,
    a_relay_that_keeps_failing_is_degraded_everywhere,
    digis_words_never_reach_the_degraded_reason
);

/// Digis's rejection messages can quote the member's own data ("Invalid phone 0701234567").
/// They are stored on the row (support reads them there) but the degraded reason goes to the
/// log, stderr and the unauthenticated /healthz: it must carry only the value-free summary.
async fn digis_words_never_reach_the_degraded_reason(db: TestDb) {
    use digis_relay::fake_digis::{self, FakeConfig, FaultRule};
    const QUOTED: &str = "0701234567";
    db.active_with(1, &[1, 2, 3, 4]).await;
    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            rules: vec![FaultRule {
                status: Some(400),
                message: Some(format!("Invalid phone {QUOTED}")),
                ..FaultRule::default()
            }],
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let (svc, _config) = spawn_listening_run(&db, &fake.base_url());
    let http = reqwest::Client::new();
    let health = wait_degraded(&http, svc.addr).await;
    let reason = health["reason"].as_str().unwrap();
    assert!(
        reason.contains("400"),
        "the reason still says what failed: {reason}"
    );
    assert!(!health.to_string().contains(QUOTED), "{health}");
    let rows = db.storage().relays().await.unwrap();
    assert!(
        rows.iter()
            .all(|r| !r.detail.clone().unwrap_or_default().contains(QUOTED)),
        "{rows:?}"
    );
    let (_, logs) = svc.terminate();
    assert!(
        logs.contains("DEGRADED") || logs.contains("degraded"),
        "{logs}"
    );
    assert!(!logs.contains(QUOTED), "{logs}");
}

async fn storage_keeps_the_heartbeat_interval_and_finds_the_oldest_due_row(db: TestDb) {
    let s = db.storage();
    s.heartbeat(&relay_row("r1", 0, Some(60_000)))
        .await
        .unwrap();
    s.heartbeat(&relay_row("r0", 0, None)).await.unwrap();
    let relays = s.relays().await.unwrap();
    let by_id = |id: &str| {
        relays
            .iter()
            .find(|r| r.relay_id == id)
            .unwrap()
            .heartbeat_ms
    };
    assert_eq!(by_id("r1"), Some(60_000));
    assert_eq!(by_id("r0"), None);

    let now = Utc::now();
    assert_eq!(s.oldest_due_pending(now).await.unwrap(), None);
    db.active_with(1, &[1, 2, 3]).await;
    let oldest = now - chrono::Duration::seconds(600);
    due_at(&db, 1, oldest).await;
    due_at(&db, 2, now + chrono::Duration::hours(1)).await;
    due_at(&db, 3, now - chrono::Duration::hours(2)).await;
    db.exec("UPDATE digis_outbox SET state = 'failed' WHERE person_id = 3")
        .await;
    let got = s.oldest_due_pending(now).await.unwrap().unwrap();
    assert_eq!(
        got.timestamp_millis(),
        oldest.timestamp_millis(),
        "a failed row and a row not yet due do not count"
    );
    db.exec("UPDATE digis_outbox SET state = 'sent' WHERE person_id = 1")
        .await;
    assert_eq!(s.oldest_due_pending(now).await.unwrap(), None);
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|v| v.parse().unwrap())
}

async fn metrics_show_the_backlog_age(db: TestDb) {
    let metrics = digis_relay::metrics::Metrics::new();
    let name = "digis_outbox_oldest_pending_age_seconds";
    let text = metrics.render(db.storage.as_ref()).await.unwrap();
    assert_eq!(gauge(&text, name), Some(0.0), "{text}");
    db.active_with(1, &[1, 2]).await;
    due_at(&db, 1, Utc::now() - chrono::Duration::seconds(120)).await;
    let text = metrics.render(db.storage.as_ref()).await.unwrap();
    let age = gauge(&text, name).unwrap();
    assert!((120.0..180.0).contains(&age), "{age}");
    assert!(text.contains("# HELP digis_outbox_oldest_pending_age_seconds"));
}

async fn status_judges_liveness_by_each_relays_own_interval(db: TestDb) {
    let s = db.storage();
    // 30 s since the last heartbeat: alive for a relay beating every 60 s, dead for one beating
    // every 5 s. The reader's own heartbeat_ms (default 5 s) must not matter.
    s.heartbeat(&relay_row("slow", 30, Some(60_000)))
        .await
        .unwrap();
    s.heartbeat(&relay_row("fast", 30, Some(5_000)))
        .await
        .unwrap();
    let config = write_config(&db, "http://127.0.0.1:9", "[export]\nlisten = \"\"\n");
    let v = status_json(&config, &[]);
    assert_eq!(
        v["health"]["live_relays"],
        serde_json::json!(["slow"]),
        "{v}"
    );
    assert_eq!(v["health"]["healthy"], true, "{v}");
    // The existing keys stay.
    for key in ["use_digis", "paused", "pause_reason", "counts", "relays"] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    let text = String::from_utf8(cli(&config, &["status"], &[]).stdout).unwrap();
    assert!(text.contains("health     ok"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("relay      fast") && l.contains("not alive")),
        "{text}"
    );
    // Search judges liveness by the same rule (it used the reader's heartbeat_ms).
    db.active_with(3, &[1]).await;
    let out = cli(&config, &["search", "--ext-info1", "3", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alive = |id: &str| {
        v["relays"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["relay_id"] == id)
            .map(|r| r["alive"].clone())
    };
    assert_eq!(alive("slow"), Some(serde_json::json!(true)), "{v}");
    assert_eq!(alive("fast"), Some(serde_json::json!(false)), "{v}");
    assert_eq!(v["relay_running"], true, "{v}");
    // Nobody alive: unhealthy, said the same way by status and doctor.
    s.heartbeat(&relay_row("slow", 200, Some(60_000)))
        .await
        .unwrap();
    let v = status_json(&config, &[]);
    assert_eq!(v["health"]["healthy"], false, "{v}");
    assert_eq!(v["health"]["blockers"][0]["kind"], "no_live_relay", "{v}");
}

async fn an_old_backlog_is_a_health_blocker(db: TestDb) {
    db.storage
        .heartbeat(&relay_row("r1", 0, Some(600_000)))
        .await
        .unwrap();
    db.active_with(1, &[1]).await;
    due_at(&db, 1, Utc::now() - chrono::Duration::seconds(120)).await;
    let config = write_config(&db, "http://127.0.0.1:9", "[export]\nlisten = \"\"\n");
    let v = status_json(&config, &[]);
    assert_eq!(
        v["health"]["healthy"], true,
        "below the default 15 min: {v}"
    );
    let age = v["health"]["oldest_pending_age_seconds"].as_i64().unwrap();
    assert!((120..180).contains(&age), "{v}");
    let tight = [("DIGIS_RELAY_RELAY__BACKLOG_MAX_AGE_MS", "60000")];
    let v = status_json(&config, &tight);
    assert_eq!(v["health"]["healthy"], false, "{v}");
    assert_eq!(v["health"]["blockers"][0]["kind"], "backlog_too_old", "{v}");
    let text = String::from_utf8(cli(&config, &["status"], &tight).stdout).unwrap();
    assert!(text.contains("BACKLOG TOO OLD"), "{text}");
    let out = cli(&config, &["doctor", "--no-network"], &tight);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("warning") && l.contains("delivery") && l.contains("BACKLOG")),
        "{text}"
    );
}

async fn get_health(http: &reqwest::Client, addr: SocketAddr) -> Option<(u16, serde_json::Value)> {
    let r = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    Some((code, r.json().await.ok()?))
}

/// Every row failing, batch after batch: `degraded` with the reason in `/healthz` (503),
/// `status`, `doctor` (error); a row that goes through again clears it.
async fn a_relay_that_keeps_failing_is_degraded_everywhere(db: TestDb) {
    db.subscription(1, "ACTIVE").await;
    for p in 1..=4 {
        let mut bad = Person::ordinary(p);
        bad.mobile_number = Some("12".into());
        db.person_with(&bad).await;
        db.add_user(1, p).await;
    }
    let fake = open_fake().await;
    let (svc, config) = spawn_listening_run(&db, &fake.base_url());
    let http = reqwest::Client::new();
    let health = wait_degraded(&http, svc.addr).await;
    assert_eq!(health["status"], "unhealthy", "{health}");
    let reason = health["reason"].as_str().unwrap();
    assert!(
        reason.contains("DEGRADED") && reason.contains("MobileNumber"),
        "the reason names the failure: {health}"
    );
    assert_eq!(fake.received().len(), 0);

    let v = status_json(&config, &[]);
    assert_eq!(v["health"]["blockers"][0]["kind"], "degraded", "{v}");
    assert_eq!(v["relays"][0]["state"], "degraded", "{v}");
    let text = String::from_utf8(cli(&config, &["status"], &[]).stdout).unwrap();
    assert!(text.contains("DEGRADED"), "{text}");
    let out = cli(&config, &["doctor", "--no-network"], &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("error") && l.contains("delivery") && l.contains("DEGRADED")),
        "{text}"
    );

    // A member who goes through clears it.
    db.active_with(2, &[5]).await;
    let v = eventually("recovered", Duration::from_secs(30), || async {
        match get_health(&http, svc.addr).await {
            Some((200, v)) => Some(v),
            _ => None,
        }
    })
    .await;
    assert_eq!(v["degraded"], false);
    assert_eq!(fake.received().len(), 1);
    svc.stop_gracefully();
}

both_databases!(a_relay_whose_batches_cannot_run_is_degraded_and_recovers);

async fn wait_for_state(db: &TestDb, state: &str) -> RelayInfo {
    eventually_ok(state, Duration::from_secs(30), || async {
        let relays = db.storage.relays().await.unwrap();
        match relays.iter().find(|r| r.state == state) {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{relays:?}")),
        }
    })
    .await
}

/// Database errors batch after batch (here: a relay table gone) make the relay `degraded`
/// with the error as the reason; once batches run again it says `running`.
async fn a_relay_whose_batches_cannot_run_is_degraded_and_recovers(db: TestDb) {
    let mut cfg = crate::common::config_for("http://127.0.0.1:9", &db);
    cfg.relay.poll_interval_ms = 20;
    cfg.relay.heartbeat_ms = 50;
    let service = crate::common::service(&db, cfg, false).await;
    wait_for_state(&db, "running").await;
    db.exec("ALTER TABLE digis_control RENAME TO digis_control_away")
        .await;
    let r = wait_for_state(&db, "degraded").await;
    let detail = r.detail.unwrap_or_default();
    assert!(
        detail.contains("could not run") && detail.contains("digis_control"),
        "{detail}"
    );
    let h = digis_relay::health::read(db.storage.as_ref(), true, 0, 5_000).await;
    assert!(
        !h.healthy && h.has(digis_relay::health::Kind::Degraded),
        "{h:?}"
    );
    db.exec("ALTER TABLE digis_control_away RENAME TO digis_control")
        .await;
    wait_for_state(&db, "running").await;
    service.shutdown().await.unwrap();
}

both_databases!(the_snapshot_reads_each_part_and_is_judged_by_the_readers_rules);

/// The one reader of delivery as a whole (`health::Snapshot::read`, behind `/healthz`,
/// `status`, `doctor`, search and the dashboard): every part read, judged by the reader's
/// rules (search's leave the backlog out), and a part that cannot be read leaves the others.
async fn the_snapshot_reads_each_part_and_is_judged_by_the_readers_rules(db: TestDb) {
    use digis_relay::health::{Backlog, Kind, Rules, Snapshot};
    let s = db.storage();
    s.heartbeat(&relay_row("r1", 0, Some(60_000)))
        .await
        .unwrap();
    db.active_with(1, &[1]).await;
    due_at(&db, 1, Utc::now() - chrono::Duration::seconds(120)).await;
    s.pause("maintenance", "alice@h", Utc::now()).await.unwrap();

    let snap = Snapshot::read(s.as_ref(), Some(Duration::from_secs(5))).await;
    assert_eq!(snap.backend, s.backend());
    assert!(snap.database.is_ok(), "{snap:?}");
    let (control, relays) = snap.whole().unwrap();
    assert!(control.paused, "{control:?}");
    assert_eq!(control.pause_reason.as_deref(), Some("maintenance"));
    let ids: Vec<&str> = relays.iter().map(|r| r.relay_id.as_str()).collect();
    assert_eq!(ids, ["r1"]);
    let oldest = snap.oldest_due_pending.clone().unwrap().unwrap();
    assert!(
        (120..180).contains(&(snap.now - oldest).num_seconds()),
        "{snap:?}"
    );
    // The test database runs on this host: its clock is this host's, give or take.
    assert!(
        snap.db_offset_ms.clone().unwrap().abs() < 60_000,
        "{snap:?}"
    );

    let h = snap.judge(&Rules::new(true, 60_000, 5_000));
    assert!(
        !h.healthy && h.has(Kind::BacklogTooOld) && h.has(Kind::Paused),
        "{h:?}"
    );
    assert_eq!(h.live_relays, ["r1"]);
    let search = Rules::for_one_member(true);
    assert_eq!(search.backlog, Backlog::NotJudged);
    let h = snap.judge(&search);
    assert!(
        h.healthy && !h.has(Kind::BacklogTooOld) && h.has(Kind::Paused),
        "{h:?}"
    );
    assert_eq!(h.oldest_pending_age_seconds, 0);

    // The pause flag cannot be read: the relays still are, and the rest is judged.
    db.exec("ALTER TABLE digis_control RENAME TO digis_control_away")
        .await;
    let snap = Snapshot::read(s.as_ref(), None).await;
    assert!(
        snap.database.is_ok() && snap.control.is_err() && snap.relays.is_ok(),
        "{snap:?}"
    );
    assert!(snap.whole().is_err());
    assert_eq!(snap.read_errors().count(), 1, "{snap:?}");
    assert_eq!(
        snap.judge(&Rules::new(true, 0, 0)).live_relays,
        ["r1"],
        "{snap:?}"
    );
    db.exec("ALTER TABLE digis_control_away RENAME TO digis_control")
        .await;
}
