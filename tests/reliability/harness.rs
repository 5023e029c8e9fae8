//! What every reliability run shares: the binary under test, members with distinctive personal
//! data, a relay process whose output is kept for the leak scan, condition waits, RSS samples
//! and the figures file.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use digis_relay::storage::Counts;
use sqlx::AssertSqlSafe;

use crate::common::{command_for, eventually_every, KillOnDrop, Kind, TestConfig, TestDb};

/// The Digis token of every run: the leak scan looks for it everywhere.
pub const TOKEN: &str = "RELIABILITY-SECRET-9d41c7e2";

/// The relay binary: `RELIABILITY_BIN` (the script points it at the release build), else the
/// one cargo built for these tests.
pub fn bin() -> PathBuf {
    std::env::var_os("RELIABILITY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(crate::common::BIN))
}

/// A size from the environment (`RELIABILITY_ROWS`, ...), else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a whole number")),
        Err(_) => default,
    }
}

pub fn db_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    }
}

/// Personal data of member `id`, each value unlike anything the relay writes of its own, so a
/// hit in the leak scan is a leak and never a coincidence.
pub struct Member {
    pub first: String,
    pub last: String,
    pub email: String,
    pub birth: String,
    /// As the host stores it, formatted.
    pub phone: String,
}

pub fn member(id: usize) -> Member {
    Member {
        first: format!("Qwynth{id}"),
        last: format!("Vrakstad{id}"),
        email: format!("qz.leak{id}@example.se"),
        birth: format!("1931-{:02}-{:02}", 1 + id % 12, 1 + id % 28),
        phone: format!("073-99{:05}", id % 100_000),
    }
}

/// `rows` outbox rows: subscriptions of 10 users each (the last one smaller), all ACTIVE, saved
/// the way the membership system saves them, so the triggers queue them.
pub async fn seed(db: &TestDb, rows: usize) {
    let mut sql = String::from(
        "BEGIN;\nINSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum');\n",
    );
    for chunk in (1..=rows).collect::<Vec<_>>().chunks(500) {
        sql.push_str(
            "INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, \
             allow_email, allow_sms, mobile_country_code, mobile_number, card_number) VALUES ",
        );
        let values: Vec<String> = chunk
            .iter()
            .map(|&id| {
                let m = member(id);
                format!(
                    "({id}, 1, '{}', '{}', '{}', 'MALE', '{}', true, true, '46', '{}', '{}')",
                    m.first,
                    m.last,
                    m.birth,
                    m.email,
                    m.phone,
                    34_000_000 + id
                )
            })
            .collect();
        sql.push_str(&values.join(","));
        sql.push_str(";\n");
    }
    let subs = rows.div_ceil(10);
    for s in 1..=subs {
        sql.push_str(&format!(
            "INSERT INTO subscription (id, status, start_date, max_end) VALUES ({s}, 'ACTIVE', '2026-01-01', '2027-12-31');\n"
        ));
        let users: Vec<String> = ((s - 1) * 10 + 1..=(s * 10).min(rows))
            .map(|p| format!("({s}, {p})"))
            .collect();
        sql.push_str(&format!(
            "INSERT INTO subscription_user (subscription_id, person_id) VALUES {};\n",
            users.join(",")
        ));
    }
    sql.push_str("COMMIT;\n");
    db.exec(&sql).await;
    let queued = db.scalar("SELECT COUNT(*) FROM digis_outbox").await;
    assert_eq!(queued, rows as i64, "the triggers queued every user");
}

/// A relay configuration file in the test's folder; `extra` is appended (sections last).
pub fn write_config(db: &TestDb, digis_url: &str, extra: &str) -> PathBuf {
    TestConfig {
        digis_url_postfix: Some(format!("brp?token={TOKEN}")),
        // The binary's own Digis timeout: the runs measure the relay as it ships.
        digis_timeout_ms: None,
        ..TestConfig::relay_to(db, digis_url)
    }
    .with(extra)
    .write_in(db)
}

/// The fake Digis requiring this run's token, with these fault rules.
pub async fn fake(
    rules: Vec<digis_relay::fake_digis::FaultRule>,
) -> digis_relay::fake_digis::FakeHandle {
    let config = digis_relay::fake_digis::FakeConfig {
        token: Some(TOKEN.into()),
        rules,
        ..Default::default()
    };
    digis_relay::fake_digis::start("127.0.0.1:0", config)
        .await
        .unwrap()
}

/// Where the runs' stdout and stderr go (one file each per process), for the leak scan.
pub fn out_dir(db: &TestDb) -> PathBuf {
    let d = db.dir.path().join("out");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `digis-relay run` (the service) with this configuration, its output kept in `out/`.
pub fn spawn_run(db: &TestDb, config: &Path, tag: &str) -> KillOnDrop {
    let out = out_dir(db);
    let n = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    let stdout = std::fs::File::create(out.join(format!("{tag}-{n}.stdout"))).unwrap();
    let stderr = std::fs::File::create(out.join(format!("{tag}-{n}.stderr"))).unwrap();
    KillOnDrop::spawn(
        command_for(&bin())
            .args(["--config", config.to_str().unwrap(), "run"])
            .env("DIGIS_RELAY_LOG", "debug")
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr)),
    )
}

/// `digis-relay ARGS…` to completion, output kept in `out/`.
pub fn run_cli(db: &TestDb, config: &Path, args: &[&str], tag: &str) -> std::process::Output {
    let out = command_for(&bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run the relay cli");
    let dir = out_dir(db);
    let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    std::fs::write(dir.join(format!("{tag}-{n}.stdout")), &out.stdout).unwrap();
    std::fs::write(dir.join(format!("{tag}-{n}.stderr")), &out.stderr).unwrap();
    out
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Stops a service run with SIGTERM and checks it exits cleanly.
pub fn stop(mut child: KillOnDrop) {
    signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the relay did not stop cleanly: {status:?}"
    );
}

/// The outbox counts, riding out a database that is restarting (the test's own pool breaks too).
pub async fn counts(db: &TestDb) -> Counts {
    eventually_every(
        "the outbox counts readable",
        Duration::from_secs(60),
        Duration::from_millis(100),
        || db.storage.counts(),
    )
    .await
}

/// Waits until every row is `sent`, checking that the relay is still alive; fails early when a
/// row ends `failed` or `discarded` (nothing here may fail). Returns the time it took.
pub async fn wait_all_sent(
    db: &TestDb,
    rows: usize,
    child: &mut Child,
    timeout: Duration,
) -> Duration {
    let start = Instant::now();
    // The relay commits in batches; looking 5 times a second costs the database nothing.
    eventually_every("drained", timeout, Duration::from_millis(200), || {
        let exited = child.try_wait().unwrap();
        async move {
            let c = counts(db).await;
            if c.sent == rows as u64 {
                return Ok(());
            }
            assert!(
                c.failed == 0 && c.discarded == 0,
                "rows ended other than sent: {c:?}\n{}",
                failed_reasons(db).await.join("\n")
            );
            if let Some(status) = exited {
                panic!("the relay exited by itself ({status}) with {c:?}");
            }
            Err(format!("{c:?}"))
        }
    })
    .await;
    start.elapsed()
}

async fn failed_reasons(db: &TestDb) -> Vec<String> {
    strings(
        db,
        "SELECT 'outbox ' || CAST(id AS TEXT) || ': ' || COALESCE(last_error, reason, '?') FROM digis_outbox \
         WHERE state IN ('failed', 'discarded') ORDER BY id LIMIT 10",
    )
    .await
}

/// One text column of a query, read with a pool of its own.
pub async fn strings(db: &TestDb, sql: &str) -> Vec<String> {
    let r: Result<Vec<Option<String>>, sqlx::Error> = match db.kind {
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let r = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                .fetch_all(&pool)
                .await;
            pool.close().await;
            r
        }
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let r = sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                .fetch_all(&pool)
                .await;
            pool.close().await;
            r
        }
    };
    r.unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .flatten()
        .collect()
}

/// Peak resident memory (`VmHWM`) of a live process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Attempts per row: (max, mean).
pub async fn attempts(db: &TestDb) -> (i64, f64) {
    let max = db
        .scalar("SELECT CAST(COALESCE(MAX(attempts), 0) AS BIGINT) FROM digis_outbox")
        .await;
    let sum = db
        .scalar("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM digis_outbox")
        .await;
    let n = db.scalar("SELECT COUNT(*) FROM digis_outbox").await.max(1);
    (max, sum as f64 / n as f64)
}

/// What the leak scan found.
#[derive(Debug, Default)]
pub struct LeakScan {
    pub sources: usize,
    pub bytes: usize,
    pub findings: Vec<String>,
}

/// Searches everything the runs wrote (stdout, stderr, the log folder and the relay's own text
/// columns) for the token and for any member's name, e-mail, birth date or phone number.
/// The host's membership tables are where personal data belongs and are not scanned.
pub async fn leak_scan(db: &TestDb) -> LeakScan {
    // Phone numbers in every form the relay could print them: as stored, national digits and
    // international. A digit run after a '.' is a timestamp's fraction, not a phone number.
    let pattern = regex::Regex::new(&format!(
        r"(?i){}|Qwynth|Vrakstad|qz\.leak|1931-\d\d-\d\d|073-99\d{{5}}|(^|[^\d.])0?7399\d{{5}}(\D|$)|467399\d{{5}}",
        regex::escape(TOKEN)
    ))
    .unwrap();
    let mut texts: Vec<(String, String)> = Vec::new();
    for dir in [out_dir(db), db.dir.path().join("logs")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            texts.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    let columns = [
        ("digis_outbox", "locked_by"),
        ("digis_outbox", "claim_token"),
        ("digis_outbox", "last_error"),
        ("digis_outbox", "external_id"),
        ("digis_outbox", "reason"),
        ("digis_attempt", "relay_id"),
        ("digis_attempt", "outcome"),
        ("digis_attempt", "error"),
        ("digis_relay", "relay_id"),
        ("digis_relay", "hostname"),
        ("digis_relay", "state"),
        ("digis_relay", "detail"),
        ("digis_control", "pause_reason"),
        ("digis_control", "paused_by"),
        ("digis_event", "actor"),
        ("digis_event", "action"),
        ("digis_event", "detail"),
        ("digis", "external_id"),
    ];
    for (table, column) in columns {
        let values = strings(db, &format!("SELECT {column} FROM {table}")).await;
        texts.push((format!("{table}.{column}"), values.join("\n")));
    }
    let mut scan = LeakScan::default();
    for (source, text) in &texts {
        scan.sources += 1;
        scan.bytes += text.len();
        for m in pattern.find_iter(text).take(3) {
            // The finding names where and what matched; it is only printed by a failing test.
            scan.findings
                .push(format!("{source}: `{}`", m.as_str().trim()));
        }
    }
    scan
}

/// Writes one run's figures to `$RELIABILITY_OUT/NAME.json` (nothing without the variable), for
/// `scripts/reliability` to collect into RELIABILITY.md.
pub fn write_figures(name: &str, figures: serde_json::Value) {
    eprintln!("figures {name}: {figures}");
    let Some(dir) = std::env::var_os("RELIABILITY_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&figures).unwrap(),
    )
    .unwrap();
}

crate::both_databases!(the_leak_scan_finds_what_is_planted);

/// The scan is only worth its zero if it finds a leak: plant each kind where runs write.
async fn the_leak_scan_finds_what_is_planted(db: TestDb) {
    seed(&db, 3).await;
    assert!(leak_scan(&db).await.findings.is_empty(), "a clean start");
    let m = member(2);
    let national = m.phone.replace('-', "")[1..].to_string();
    std::fs::write(
        out_dir(&db).join("run-0.stderr"),
        format!("x {} y\nz={national} ok\n", m.first),
    )
    .unwrap();
    std::fs::create_dir_all(db.dir.path().join("logs")).unwrap();
    std::fs::write(
        db.dir.path().join("logs/scheduler_digis_sync.txt"),
        format!("born {} at 2026-12-02T01:02:03.739912345Z\n", m.birth),
    )
    .unwrap();
    db.exec(&format!(
        "UPDATE digis_outbox SET last_error = 'Cannot POST ?token={TOKEN} for {}' WHERE id = 1",
        m.email
    ))
    .await;
    let found = leak_scan(&db).await.findings;
    for what in ["Qwynth", &national, &m.birth, "qz.leak", TOKEN] {
        assert!(
            found.iter().any(|f| f.contains(what)),
            "`{what}` not found: {found:#?}"
        );
    }
    assert_eq!(
        found.len(),
        5,
        "a timestamp's fraction is not a phone: {found:#?}"
    );
}

/// Accepted answers the database never committed, and the kills they belong to.
pub struct Attribution<'a> {
    pub uncommitted: Vec<&'a digis_relay::fake_digis::Received>,
    /// Uncommitted answers by the kill they belong to.
    pub per_kill: Vec<usize>,
    /// Answers with no kill near them: each is a duplicate the answer→commit window cannot explain.
    pub outside: Vec<String>,
    /// The longest time from an answer to the kill after it.
    pub max_before_ms: i64,
    /// Answers the fake read just after a kill (the request was on the wire), and the longest gap.
    pub in_flight: usize,
    pub max_after_ms: i64,
}

/// Which accepted answers the database never committed (by the external ids it holds), and
/// whether each lies at a kill: answered at most `window_ms` before it (the relay died before
/// its commit) or at most `in_flight_ms` after it (the request was on the wire when the relay
/// died and the fake read it a moment later). Either way it is the answer→commit window.
pub async fn attribute<'a>(
    db: &TestDb,
    accepted: &'a [digis_relay::fake_digis::Received],
    kills: &[chrono::DateTime<chrono::Utc>],
    window_ms: i64,
    in_flight_ms: i64,
) -> Attribution<'a> {
    let committed: std::collections::HashSet<String> = strings(
        db,
        "SELECT external_id FROM digis_outbox WHERE external_id IS NOT NULL \
         UNION SELECT external_id FROM digis WHERE external_id IS NOT NULL",
    )
    .await
    .into_iter()
    .collect();
    let mut a = Attribution {
        uncommitted: accepted
            .iter()
            .filter(|r| !committed.contains(r.external_id.as_deref().unwrap_or_default()))
            .collect(),
        per_kill: vec![0; kills.len()],
        outside: Vec::new(),
        max_before_ms: 0,
        in_flight: 0,
        max_after_ms: 0,
    };
    for r in &a.uncommitted {
        let answered = r.answered_at();
        let nearest = kills
            .iter()
            .enumerate()
            .map(|(i, k)| (i, (*k - answered).num_milliseconds()))
            .min_by_key(|(_, gap)| gap.abs());
        match nearest {
            Some((i, g)) if (0..=window_ms).contains(&g) => {
                a.per_kill[i] += 1;
                a.max_before_ms = a.max_before_ms.max(g);
            }
            Some((i, g)) if (-in_flight_ms..0).contains(&g) => {
                a.per_kill[i] += 1;
                a.in_flight += 1;
                a.max_after_ms = a.max_after_ms.max(-g);
            }
            _ => a.outside.push(format!(
                "ExtInfo1 {:?} ExtInfo4 {:?} answered {answered}, nearest kill {nearest:?} ms later",
                r.ext_info1(),
                r.body.get("ExtInfo4")
            )),
        }
    }
    a
}
