//! Alerting that works on day one (docs/export-and-monitoring.md, Alerting): `assets/prometheus-rules.yml` passes
//! `promtool check rules`, and every rule is exercised against `/metrics` captured from the
//! real service (`digis-relay run --listen`) in the situation it is about, on both databases.
//!
//! How a capture becomes a rule test: each scrape's samples become `promtool test rules` input
//! series (with the `job` and `instance` labels Prometheus adds, and `up` 1, or `up` 0 alone when
//! the scrape failed). The series begin at simulated time [`T0_MIN`]; the first capture is
//! "now" there, a second one a minute later, and after the last one counters keep growing at
//! the pace seen between the two captures while gauges hold. Timestamp gauges (`*_timestamp_
//! seconds`, `process_start_time_seconds`) are moved to the simulated clock (value − time of
//! the last capture + its simulated time), so `time() - digis_last_success_timestamp_seconds`
//! means in the simulation what it meant when captured — a 0 ("never") stays far in the past,
//! as it is.
//! Promtool's simulated time then covers the rules' `for:` durations without waiting.
use crate::common::cli_ok as cli;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use digis_relay::fake_digis::{FakeHandle, FaultRule};

use crate::both_databases;
use crate::common::{
    both, command, eventually_ok, open_fake, parse_prometheus, write_config, RunningService,
    Sample, TestDb,
};

const JOB: &str = "digis-relay";
/// Simulated minutes of no data before the first capture: enough for every timestamp the
/// capture holds (the process start, the last success) to stay positive once moved.
const T0_MIN: u32 = 180;
/// Simulated minutes of data from the first capture on.
const SPAN_MIN: u32 = 90;
/// The rules as each rule test names them.
const ALERTS: [&str; 12] = [
    "DigisRelayDown",
    "DigisRelayHeartbeatLost",
    "DigisRelayClockOffset",
    "DigisConfigRejected",
    "DigisUnconfirmedAnswer",
    "DigisDeliveryPaused",
    "DigisCircuitOpen",
    "DigisRequestRateAtFloor",
    "DigisBacklogTooOld",
    "DigisHighFailureRate",
    "DigisNoRecentSuccess",
    "DigisHostAdapter",
];

fn rules_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prometheus-rules.yml")
}

/// `promtool`, or one clear line saying how to get it: a rule test that is skipped when the
/// tool is missing would let broken rules through.
fn promtool() -> &'static str {
    let ok = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "promtool is missing: `apt-get install prometheus` (Debian ships promtool in it; .ci/run installs it)"
    );
    "promtool"
}

#[test]
fn promtool_checks_the_rules() {
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(rules_path())
        .output()
        .unwrap();
    let text = both(&out);
    assert!(out.status.success(), "{text}");
    let text_of_rules = std::fs::read_to_string(rules_path()).unwrap();
    let named: Vec<&str> = text_of_rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(named, ALERTS, "every rule is exercised below");
    assert!(
        text.contains(&format!("SUCCESS: {} rules found", ALERTS.len())),
        "{text}"
    );
}

// --- the real service ---

/// `digis-relay run --listen 127.0.0.1:0` as relay `id` (the port it picks and reports);
/// killed when dropped.
struct RelayProcess {
    service: Option<RunningService>,
    addr: std::net::SocketAddr,
    id: &'static str,
}

impl RelayProcess {
    fn spawn(config: &Path, id: &'static str) -> RelayProcess {
        let mut cmd = command();
        cmd.args(["--config", config.to_str().unwrap(), "run"])
            .args(["--listen", "127.0.0.1:0"])
            .env("DIGIS_RELAY_RELAY__RELAY_ID", id);
        let service = RunningService::spawn(cmd);
        RelayProcess {
            addr: service.addr,
            service: Some(service),
            id,
        }
    }

    fn kill(&mut self) {
        self.service = None;
    }

    /// One scrape as Prometheus makes it: the samples, or `None` when nothing answered.
    async fn scrape(&self) -> Capture {
        let r = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await;
        let text = match r {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        };
        Capture {
            at: Utc::now().timestamp_millis() as f64 / 1000.0,
            samples: text.map(|t| parse_prometheus(&t)),
        }
    }

    /// The first scrape whose samples satisfy `ready` (the situation has set in).
    async fn capture_when(&self, what: &str, ready: impl Fn(&[Sample]) -> bool) -> Capture {
        let ready = &ready;
        eventually_ok(
            &format!("{what} at relay {}", self.id),
            Duration::from_secs(60),
            || async move {
                let c = self.scrape().await;
                if c.samples.as_deref().is_some_and(ready) {
                    return Ok(c);
                }
                Err(format!("last scrape: {:?}", c.samples))
            },
        )
        .await
    }
}

/// One scrape: when (Unix seconds) and what it returned (`None`: the scrape failed).
#[derive(Debug, Clone)]
struct Capture {
    at: f64,
    samples: Option<Vec<Sample>>,
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn is(samples: &[Sample], name: &str, labels: &[(&str, &str)], want: f64) -> bool {
    value(samples, name, labels) == Some(want)
}

fn at_least(samples: &[Sample], name: &str, labels: &[(&str, &str)], min: f64) -> bool {
    value(samples, name, labels).is_some_and(|v| v >= min)
}

// --- captures → promtool ---

/// A scraped target: its `instance` label and its captures, one simulated minute apart.
struct Target {
    instance: String,
    captures: Vec<Capture>,
}

fn target(relay: &RelayProcess, captures: Vec<Capture>) -> Target {
    Target {
        instance: relay.id.to_string(),
        captures,
    }
}

fn cumulative(name: &str) -> bool {
    ["_total", "_bucket", "_count", "_sum"]
        .iter()
        .any(|s| name.ends_with(s))
}

fn timestamp(name: &str) -> bool {
    name.ends_with("_timestamp_seconds") || name == "process_start_time_seconds"
}

/// `name{labels}` in PromQL series notation (label values keep the exposition's escapes,
/// which are PromQL's too).
fn series_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The input series of `targets` (see the module comment).
fn input_series(targets: &[Target]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in targets {
        let n = t.captures.len();
        assert!(n > 0);
        let base = |extra: &BTreeMap<String, String>| {
            let mut l = extra.clone();
            l.insert("job".into(), JOB.into());
            l.insert("instance".into(), t.instance.clone());
            l
        };
        // Each series' value per capture.
        let mut per: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let up = series_name("up", &base(&BTreeMap::new()));
        // One anchor for the target's clock: its last capture is simulated minute T0 + n - 1
        // (the real seconds between captures are not stretched into minutes for timestamps).
        let real_last = t.captures[n - 1].at;
        let sim_last = f64::from(T0_MIN + n as u32 - 1) * 60.0;
        for (i, c) in t.captures.iter().enumerate() {
            per.entry(up.clone()).or_insert_with(|| vec![None; n])[i] =
                Some(if c.samples.is_some() { 1.0 } else { 0.0 });
            for s in c.samples.iter().flatten() {
                let labels: BTreeMap<String, String> = s.labels.clone().into_iter().collect();
                let key = series_name(&s.name, &base(&labels));
                let v = if timestamp(&s.name) {
                    s.value - real_last + sim_last
                } else {
                    s.value
                };
                per.entry(key).or_insert_with(|| vec![None; n])[i] = Some(v);
            }
        }
        for (key, values) in per {
            let name = key.split('{').next().unwrap();
            let mut text = format!("_x{T0_MIN}");
            for v in &values {
                match v {
                    Some(v) => text.push_str(&format!(" {v}")),
                    None => text.push_str(" _"),
                }
            }
            // After the last capture: counters go on at the pace seen, gauges hold. A series
            // missing from the last capture is gone (as Prometheus marks it stale).
            if let Some(last) = values[n - 1] {
                let step = match (n, cumulative(name)) {
                    (2.., true) => values[n - 2].map_or(0.0, |prev| (last - prev).max(0.0)),
                    _ => 0.0,
                };
                let rest = SPAN_MIN - n as u32;
                text.push_str(&format!(" {}+{step}x{}", last + step, rest - 1));
            }
            out.push((key, text));
        }
    }
    out
}

/// What a rule must (not) do at a simulated minute after the first capture.
enum Expect {
    /// Firing, `count` times among the alerts whose labels match `matchers`.
    Fires {
        alert: &'static str,
        after_min: u32,
        matchers: &'static str,
        count: usize,
    },
    /// Not firing.
    Quiet { alert: &'static str, after_min: u32 },
    /// A PromQL expression has (`true`) or has no result (`false`): shows what a rule guards
    /// against in the same data.
    Expr {
        expr: &'static str,
        after_min: u32,
        has_result: bool,
    },
}

fn fires(alert: &'static str, after_min: u32) -> Expect {
    Expect::Fires {
        alert,
        after_min,
        matchers: "",
        count: 1,
    }
}

fn fires_for(alert: &'static str, after_min: u32, matchers: &'static str) -> Expect {
    Expect::Fires {
        alert,
        after_min,
        matchers,
        count: 1,
    }
}

fn quiet(alert: &'static str, after_min: u32) -> Expect {
    Expect::Quiet { alert, after_min }
}

/// Every rule not named in `firing` stays quiet at `after_min`.
fn others_quiet(firing: &[&str], after_min: u32) -> Vec<Expect> {
    ALERTS
        .iter()
        .filter(|a| !firing.contains(a))
        .map(|a| quiet(a, after_min))
        .collect()
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes a `promtool test rules` file for `targets` and `expects`, runs it, and fails with
/// promtool's own report (and the file) when any expectation does not hold.
fn promtool_test(dir: &Path, name: &str, targets: &[Target], expects: &[Expect]) {
    let mut y = String::new();
    y.push_str(&format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - name: {}\n    interval: 1m\n    input_series:\n",
        yaml_quote(rules_path().to_str().unwrap()),
        yaml_quote(name)
    ));
    for (series, values) in input_series(targets) {
        y.push_str(&format!(
            "      - series: {}\n        values: {}\n",
            yaml_quote(&series),
            yaml_quote(&values)
        ));
    }
    y.push_str("    promql_expr_test:\n");
    for e in expects {
        let (expr, at, samples) = match e {
            Expect::Fires {
                alert,
                after_min,
                matchers,
                count,
            } => {
                let m = if matchers.is_empty() {
                    String::new()
                } else {
                    format!(",{matchers}")
                };
                (
                    format!("count(ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"{m}}})"),
                    after_min,
                    format!("\n          - labels: '{{}}'\n            value: {count}"),
                )
            }
            Expect::Quiet { alert, after_min } => (
                format!("ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"}}"),
                after_min,
                " []".to_string(),
            ),
            Expect::Expr {
                expr,
                after_min,
                has_result,
            } => (
                format!("count({expr})"),
                after_min,
                if *has_result {
                    "\n          - labels: '{}'\n            value: 1".to_string()
                } else {
                    " []".to_string()
                },
            ),
        };
        y.push_str(&format!(
            "      - expr: {}\n        eval_time: {}m\n        exp_samples:{samples}\n",
            yaml_quote(&expr),
            T0_MIN + at
        ));
    }
    let file = dir.join(format!("{name}.test.yml"));
    std::fs::write(&file, &y).unwrap();
    let out = Command::new(promtool())
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules {name}:\n{}{}\n--- {} ---\n{y}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        file.display()
    );
}

// --- the situations ---

const QUICK: &str = "[relay]\npoll_interval_ms = 100\nheartbeat_ms = 200\n";

async fn fake() -> FakeHandle {
    open_fake().await
}

fn answer(status: u16) -> Vec<FaultRule> {
    vec![FaultRule {
        status: Some(status),
        ..FaultRule::default()
    }]
}

/// Every pending row due `secs` seconds ago.
async fn due_since(db: &TestDb, secs: i64) {
    db.exec(&format!(
        "UPDATE digis_outbox SET next_attempt_at = '{}' WHERE state = 'pending'",
        digis_relay::storage_time_text(Utc::now() - chrono::Duration::seconds(secs))
    ))
    .await;
}

both_databases!(
    healthy_relays_raise_nothing_and_a_dead_one_is_reported,
    digis_down_raises_circuit_failure_backlog_and_no_success_but_a_restart_does_not,
    a_pause_is_reported_late_and_a_rejected_configuration_at_once,
    an_unconfirmed_answer_is_reported_at_once,
    a_rate_held_at_its_floor_is_reported,
    a_relay_whose_clock_is_off_is_reported,
    a_missing_host_adapter_is_reported,
);

/// `migrate` never applied a host adapter (its record table is empty): saves queue nobody, so
/// no backlog or failure rule can see it. `DigisHostAdapter` fires after its `for:`, labelled
/// with the state, and no other rule does.
async fn a_missing_host_adapter_is_reported(db: TestDb) {
    crate::common::empty_record_table(&db).await;
    let fake = fake().await;
    let config = write_config(&db, &fake.base_url(), QUICK);
    let a = RelayProcess::spawn(&config, "relay-a");
    let c = a
        .capture_when("judged the adapter missing", |s| {
            is(s, "digis_host_adapter_state", &[("state", "missing")], 1.0)
                && is(s, "digis_host_adapter_state", &[("state", "ok")], 0.0)
                && is(s, "digis_relays_live", &[], 1.0)
        })
        .await;
    let missing = [target(&a, vec![c])];
    let mut expect = vec![
        quiet("DigisHostAdapter", 5),
        fires_for("DigisHostAdapter", 15, "state=\"missing\""),
    ];
    expect.extend(others_quiet(&["DigisHostAdapter"], 15));
    promtool_test(db.dir.path(), "adapter_missing", &missing, &expect);
}

/// A relay on the database whose host clock is 90 s ahead (its heartbeat says so; such a
/// relay claims nothing): `DigisRelayClockOffset` fires for it alone, after its `for:`, from the
/// scrape of another relay; one 3 s off (within the limit) raises nothing.
async fn a_relay_whose_clock_is_off_is_reported(db: TestDb) {
    db.active_with(1, &[1]).await;
    let fake = fake().await;
    let config = write_config(&db, &fake.base_url(), QUICK);
    let a = RelayProcess::spawn(&config, "relay-a");
    let beat = |id: &str, offset_ms: i64| digis_relay::storage::RelayInfo {
        relay_id: id.into(),
        hostname: "skewed-host".into(),
        pid: 1,
        version: "x".into(),
        started_at: Utc::now(),
        heartbeat_at: Utc::now(),
        state: "degraded".into(),
        detail: Some("clock off".into()),
        // Live for the whole capture.
        heartbeat_ms: Some(3_600_000),
        request_rate: None,
        clock_offset_ms: Some(offset_ms),
        request_share: None,
    };
    db.storage
        .heartbeat(&beat("relay-ahead", -90_000))
        .await
        .unwrap();
    db.storage
        .heartbeat(&beat("relay-near", 3_000))
        .await
        .unwrap();
    let seen = |s: &[Sample]| {
        is(
            s,
            "digis_relay_clock_offset_seconds",
            &[("relay_id", "relay-ahead")],
            -90.0,
        ) && is(
            s,
            "digis_relay_clock_offset_seconds",
            &[("relay_id", "relay-near")],
            3.0,
        ) && is(s, "digis_outbox_depth", &[("state", "sent")], 1.0)
    };
    let a1 = a.capture_when("saw both offsets", seen).await;
    let a2 = a.capture_when("saw both offsets again", seen).await;
    let expect = {
        let mut e = vec![
            quiet("DigisRelayClockOffset", 1),
            fires_for("DigisRelayClockOffset", 10, "relay_id=\"relay-ahead\""),
            Expect::Fires {
                alert: "DigisRelayClockOffset",
                after_min: 10,
                matchers: "",
                count: 1,
            },
        ];
        e.extend(others_quiet(&["DigisRelayClockOffset"], 10));
        e
    };
    promtool_test(
        db.dir.path(),
        "clock_offset",
        &[target(&a, vec![a1, a2])],
        &expect,
    );
}

/// Two healthy relays: no rule fires. Then one is killed: `DigisRelayDown` (its scrape fails)
/// and `DigisRelayHeartbeatLost` (the other relay's scrape shows its heartbeat gone) fire for
/// it alone. The dashboard's queries name only metrics these captures hold.
async fn healthy_relays_raise_nothing_and_a_dead_one_is_reported(db: TestDb) {
    crate::common::adapter_by_hand(&db).await;
    db.active_with(1, &[1, 2, 3]).await;
    let fake = fake().await;
    let config = write_config(&db, &fake.base_url(), QUICK);
    let a = RelayProcess::spawn(&config, "relay-a");
    let mut b = RelayProcess::spawn(&config, "relay-b");
    let a1 = a
        .capture_when("sent 3 rows with both relays live", |s| {
            is(s, "digis_outbox_depth", &[("state", "sent")], 3.0)
                && is(s, "digis_relays_live", &[], 2.0)
        })
        .await;
    let b1 = b.scrape().await;
    db.active_with(2, &[4, 5]).await;
    let a2 = a
        .capture_when("sent 5 rows", |s| {
            is(s, "digis_outbox_depth", &[("state", "sent")], 5.0)
        })
        .await;
    let b2 = b.scrape().await;
    assert!(b1.samples.is_some() && b2.samples.is_some());
    let healthy = [target(&a, vec![a1, a2.clone()]), target(&b, vec![b1, b2])];
    let mut expect = others_quiet(&[], 60);
    expect.extend(others_quiet(&[], 5));
    promtool_test(db.dir.path(), "healthy", &healthy, &expect);
    dashboard_queries_only_exported_metrics(a2.samples.as_deref().unwrap());
    rules_name_only_exported_metrics(a2.samples.as_deref().unwrap());

    b.kill();
    let b_down = b.scrape().await;
    assert!(b_down.samples.is_none(), "the killed relay still answers");
    let a_sees = a
        .capture_when("saw relay-b's heartbeat lost", |s| {
            is(s, "digis_relay_alive", &[("relay_id", "relay-b")], 0.0)
                && is(s, "digis_relay_alive", &[("relay_id", "relay-a")], 1.0)
        })
        .await;
    let down = [target(&a, vec![a_sees]), target(&b, vec![b_down])];
    let mut expect = vec![
        // `for: 2m` / `for: 1m`: not at once.
        quiet("DigisRelayDown", 1),
        fires_for("DigisRelayDown", 10, "instance=\"relay-b\""),
        Expect::Fires {
            alert: "DigisRelayDown",
            after_min: 10,
            matchers: "",
            count: 1,
        },
        fires_for("DigisRelayHeartbeatLost", 10, "relay_id=\"relay-b\""),
        Expect::Fires {
            alert: "DigisRelayHeartbeatLost",
            after_min: 10,
            matchers: "",
            count: 1,
        },
    ];
    expect.extend(others_quiet(
        &["DigisRelayDown", "DigisRelayHeartbeatLost"],
        10,
    ));
    promtool_test(db.dir.path(), "relay_down", &down, &expect);
}

/// Digis accepts one member, then answers 503: the circuit opens, the failure rate climbs, a
/// backlog two hours old builds up, and nothing is delivered while rows are due. Then the relay
/// is restarted: its last success is 0 again, and `DigisNoRecentSuccess` must not take that for
/// "never" (a naive rule would fire at once), yet still fire once 30 minutes pass.
async fn digis_down_raises_circuit_failure_backlog_and_no_success_but_a_restart_does_not(
    db: TestDb,
) {
    db.active_with(1, &[1]).await;
    let fake = fake().await;
    let config = write_config(
        &db,
        &fake.base_url(),
        &format!(
            "{QUICK}circuit_failure_threshold = 3\ncircuit_open_ms = 600000\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n"
        ),
    );
    let mut a = RelayProcess::spawn(&config, "relay-a");
    let c1 = a
        .capture_when("sent the first member", |s| {
            is(s, "digis_deliveries_total", &[("outcome", "sent")], 1.0)
        })
        .await;
    fake.set_rules(answer(503));
    db.active_with(2, &[2, 3, 4, 5, 6]).await;
    a.capture_when("opened the circuit", |s| {
        is(s, "digis_relay_circuit_open", &[], 1.0)
    })
    .await;
    // The circuit stays open (10 minutes): the rows wait, due for two hours.
    due_since(&db, 7200).await;
    let c2 = a
        .capture_when("shows the old backlog", |s| {
            is(s, "digis_relay_circuit_open", &[], 1.0)
                && at_least(s, "digis_outbox_oldest_pending_age_seconds", &[], 7000.0)
                && at_least(s, "digis_deliveries_total", &[("outcome", "retry")], 3.0)
        })
        .await;
    let down = [target(&a, vec![c1, c2])];
    let firing = [
        "DigisCircuitOpen",
        "DigisHighFailureRate",
        "DigisBacklogTooOld",
        "DigisNoRecentSuccess",
    ];
    let mut expect = vec![
        fires_for("DigisCircuitOpen", 60, "instance=\"relay-a\""),
        fires("DigisHighFailureRate", 60),
        fires("DigisBacklogTooOld", 60),
        fires("DigisNoRecentSuccess", 60),
        // Delivered 20 minutes ago: not yet "no success for 30 minutes".
        quiet("DigisNoRecentSuccess", 20),
        // `for:` holds the circuit alert back for 5 minutes.
        quiet("DigisCircuitOpen", 3),
    ];
    expect.extend(others_quiet(&firing, 60));
    promtool_test(db.dir.path(), "digis_down", &down, &expect);

    // A restart: the new process has had no success yet (0) while rows are due.
    a.kill();
    let a = RelayProcess::spawn(&config, "relay-a");
    a.capture_when("opened the circuit again", |s| {
        is(s, "digis_relay_circuit_open", &[], 1.0)
    })
    .await;
    due_since(&db, 60).await;
    let r = a
        .capture_when("restarted with rows due", |s| {
            is(s, "digis_last_success_timestamp_seconds", &[], 0.0)
                && at_least(s, "digis_outbox_oldest_pending_age_seconds", &[], 50.0)
        })
        .await;
    let restarted = [target(&a, vec![r])];
    let expect = vec![
        quiet("DigisNoRecentSuccess", 20),
        // What the rule guards against: the last success alone says "never" (0).
        Expect::Expr {
            expr: "time() - max(digis_last_success_timestamp_seconds) > 1800",
            after_min: 20,
            has_result: true,
        },
        fires("DigisNoRecentSuccess", 45),
    ];
    promtool_test(db.dir.path(), "restarted", &restarted, &expect);
}

/// An operator's pause is reported once it has lasted 30 minutes (and silences
/// `DigisNoRecentSuccess`); a relay that paused itself because Digis answered 401 is reported
/// at once as `DigisConfigRejected`, and not twice as a pause.
async fn a_pause_is_reported_late_and_a_rejected_configuration_at_once(db: TestDb) {
    db.active_with(1, &[1]).await;
    let fake = fake().await;
    let config = write_config(&db, &fake.base_url(), QUICK);
    let a = RelayProcess::spawn(&config, "relay-a");
    a.capture_when("sent the first member", |s| {
        is(s, "digis_outbox_depth", &[("state", "sent")], 1.0)
    })
    .await;
    cli(&config, &["pause", "--reason", "maintenance"]);
    db.active_with(2, &[2]).await;
    due_since(&db, 60).await;
    let p = a
        .capture_when("paused with a row due", |s| {
            is(s, "digis_relay_paused", &[], 1.0)
                && is(s, "digis_relay_self_paused", &[], 0.0)
                && at_least(s, "digis_outbox_oldest_pending_age_seconds", &[], 50.0)
        })
        .await;
    let paused = [target(&a, vec![p])];
    let mut expect = vec![
        quiet("DigisDeliveryPaused", 20),
        fires("DigisDeliveryPaused", 45),
    ];
    expect.extend(others_quiet(&["DigisDeliveryPaused"], 60));
    promtool_test(db.dir.path(), "paused", &paused, &expect);

    fake.set_rules(answer(401));
    cli(&config, &["resume"]);
    let r = a
        .capture_when("paused itself on Digis's 401", |s| {
            is(s, "digis_relay_self_paused", &[], 1.0) && is(s, "digis_relay_paused", &[], 1.0)
        })
        .await;
    let rejected = [target(&a, vec![r])];
    let mut expect = vec![
        fires("DigisConfigRejected", 5),
        quiet("DigisDeliveryPaused", 60),
    ];
    expect.extend(others_quiet(&["DigisConfigRejected"], 60));
    promtool_test(db.dir.path(), "config_rejected", &rejected, &expect);
}

/// Digis (or a page in front of it) answers 200 with HTML: the relay pauses itself, which is
/// reported at once as `DigisUnconfirmedAnswer`, not as a rejected configuration and not (30
/// minutes later) as a forgotten pause.
async fn an_unconfirmed_answer_is_reported_at_once(db: TestDb) {
    db.active_with(1, &[1]).await;
    let fake = fake().await;
    fake.set_rules(vec!["html".parse().unwrap()]);
    let config = write_config(&db, &fake.base_url(), QUICK);
    let a = RelayProcess::spawn(&config, "relay-a");
    let u = a
        .capture_when("paused itself on an unconfirmed answer", |s| {
            is(s, "digis_relay_unconfirmed_paused", &[], 1.0)
                && is(s, "digis_relay_paused", &[], 1.0)
                && is(s, "digis_relay_self_paused", &[], 0.0)
                && is(s, "digis_outbox_depth", &[("state", "failed")], 1.0)
        })
        .await;
    let unconfirmed = [target(&a, vec![u])];
    let mut expect = vec![
        fires("DigisUnconfirmedAnswer", 1),
        quiet("DigisDeliveryPaused", 60),
        quiet("DigisConfigRejected", 60),
    ];
    expect.extend(others_quiet(&["DigisUnconfirmedAnswer"], 60));
    promtool_test(db.dir.path(), "unconfirmed", &unconfirmed, &expect);
}

/// Digis answers 429 to every request: the relay halves its rate down to its floor (1 a
/// second) while its share of the budget allows 8, and the circuit stays closed (a 429 is not a
/// failure when there is a rate to cut). Sustained for 15 minutes, that is reported.
async fn a_rate_held_at_its_floor_is_reported(db: TestDb) {
    db.active_with(1, &[1, 2, 3, 4, 5, 6]).await;
    let fake = fake().await;
    fake.set_rules(answer(429));
    let config = write_config(
        &db,
        &fake.base_url(),
        &format!(
            "{QUICK}max_requests_per_second = 8
backoff_base_ms = 10
backoff_max_ms = 20
"
        ),
    );
    let a = RelayProcess::spawn(&config, "relay-a");
    let c = a
        .capture_when("held its rate at the floor", |s| {
            is(s, "digis_relay_request_rate", &[], 1.0)
                && is(s, "digis_relay_request_share", &[], 8.0)
                && is(s, "digis_relay_circuit_open", &[], 0.0)
        })
        .await;
    let floor = [target(&a, vec![c])];
    let expect = vec![
        quiet("DigisRequestRateAtFloor", 5),
        fires_for("DigisRequestRateAtFloor", 20, "instance=\"relay-a\""),
        quiet("DigisCircuitOpen", 20),
    ];
    promtool_test(db.dir.path(), "rate_at_floor", &floor, &expect);
}

// --- the dashboard ---

fn dashboard() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/grafana-dashboard.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("assets/grafana-dashboard.json is JSON")
}

/// Every `expr` of the dashboard's panels, with its panel's title.
fn dashboard_exprs(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&serde_json::Value> = d["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((p["title"].as_str().unwrap_or("").to_string(), e.to_string()));
            }
        }
    }
    out
}

/// The metric names a PromQL expression selects (functions, keywords, label names, strings
/// and Grafana's `$variables` left out).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*""#).unwrap();
    let matchers = regex::Regex::new(r"\{[^}]*\}|\[[^\]]*\]").unwrap();
    let grouping =
        regex::Regex::new(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
            .unwrap();
    let vars = regex::Regex::new(r"\$\{?\w+\}?").unwrap();
    let e = strings.replace_all(expr, " ");
    let e = matchers.replace_all(&e, " ");
    let e = grouping.replace_all(&e, " ");
    let e = vars.replace_all(&e, " ");
    // Tokens of name characters, numbers included so that `1e3` is not read as `e3`.
    let token = regex::Regex::new(r"[a-zA-Z0-9_:.]+(\s*\()?").unwrap();
    let keywords = [
        "and", "or", "unless", "bool", "offset", "by", "without", "inf", "nan",
    ];
    token
        .captures_iter(&e)
        // A token followed by `(` is a function or an aggregation.
        .filter(|c| c.get(1).is_none())
        .map(|c| c[0].to_string())
        .filter(|t| !t.starts_with(|ch: char| ch.is_ascii_digit() || ch == '.'))
        .filter(|t| !keywords.contains(&t.to_lowercase().as_str()))
        .collect()
}

fn exported_names(samples: &[Sample]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = samples.iter().map(|s| s.name.clone()).collect();
    names.insert("up".into());
    names
}

fn dashboard_queries_only_exported_metrics(samples: &[Sample]) {
    let exported = exported_names(samples);
    let d = dashboard();
    let exprs = dashboard_exprs(&d);
    let mut used = BTreeSet::new();
    for (title, e) in &exprs {
        let names = metric_names(e);
        assert!(!names.is_empty(), "panel {title:?} queries no metric: {e}");
        for n in names {
            assert!(
                exported.contains(&n),
                "panel {title:?} queries {n}, which the relay does not export: {e}"
            );
            used.insert(n);
        }
    }
    // The panels the issue asks for.
    for n in [
        "digis_outbox_depth",
        "digis_deliveries_total",
        "digis_attempt_duration_seconds_bucket",
        "digis_relay_paused",
        "digis_relay_circuit_open",
        "digis_outbox_oldest_pending_age_seconds",
        "digis_last_success_timestamp_seconds",
        "digis_relay_request_rate",
    ] {
        assert!(used.contains(n), "no panel shows {n}");
    }
}

fn rules_name_only_exported_metrics(samples: &[Sample]) {
    let exported = exported_names(samples);
    let text = std::fs::read_to_string(rules_path()).unwrap();
    let names = regex::Regex::new(r"\b(?:digis_[a-z0-9_]+|process_start_time_seconds)\b").unwrap();
    for m in names.find_iter(&text) {
        assert!(
            exported.contains(m.as_str()),
            "the rules use {}, which the relay does not export",
            m.as_str()
        );
    }
}

#[test]
fn the_dashboard_is_a_grafana_dashboard() {
    let d = dashboard();
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["schemaVersion"].as_i64().is_some());
    let panels = d["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_i64().unwrap()),
            "panel ids are unique"
        );
        assert!(
            p["type"].as_str().is_some() && p["gridPos"].is_object(),
            "{p}"
        );
    }
    assert!(dashboard_exprs(&d).len() >= 8);
    // The reader of expressions finds what it should.
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(digis_attempt_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))"#
        ),
        ["digis_attempt_duration_seconds_bucket".to_string()].into()
    );
    assert_eq!(
        metric_names(
            r#"time() - max(digis_last_success_timestamp_seconds{job=~"$job"} > 0) or vector(1e3)"#
        ),
        ["digis_last_success_timestamp_seconds".to_string()].into()
    );
}
