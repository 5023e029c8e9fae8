//! What the bench targets share (`scripts/bench` runs them; BENCHMARKS.md says what they
//! measure): the release binary, fresh databases with members seeded in bulk, the fake Digis as
//! a process of its own, a child's CPU time and peak memory (`wait4`), and the figures files
//! the report collects.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The relay binary cargo built beside the bench (the release build); `BENCH_BIN` overrides.
pub fn bin() -> PathBuf {
    std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(test_db::BIN))
}

/// A whole number from the environment, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a whole number")),
        _ => default,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Where each measurement leaves its figures for the report: `BENCH_OUT`, else
/// `target/bench/out`.
pub fn out_dir() -> PathBuf {
    std::env::var_os("BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("bench")
                .join("out")
        })
}

/// Writes one measurement's figures to `out_dir()/NAME.json` and echoes them on stderr.
pub fn write_figures(name: &str, figures: &serde_json::Value) {
    eprintln!("figures {name}: {figures}");
    let dir = out_dir();
    std::fs::create_dir_all(&dir).expect("figures folder");
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(figures).unwrap(),
    )
    .expect("write figures");
}

/// The one-minute load average, to show how busy the shared machine was.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The value at quantile `q` (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Rounds for the figures files (the JSON stays readable).
pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

// --- databases ---

/// The test suite's databases (`tests/it/common`): a fresh SQLite file in a folder of its own or
/// a fresh PostgreSQL database of its own on the test server (named `drt_*`, so CI's clean-up
/// also finds a killed bench's leftovers, and dropped with the value), migrated with the
/// reference host schema. The folder also holds configuration, logs and processes' output.
#[path = "../../tests/it/common/mod.rs"]
pub mod test_db;
pub use test_db::{Kind, TestDb};

/// How often a bench looks again while it waits: ten times a second costs the measured
/// processes nothing.
pub const POLL: Duration = Duration::from_millis(100);

pub fn kind(s: &str) -> Kind {
    match s {
        "sqlite" => Kind::Sqlite,
        "postgres" | "postgresql" => Kind::Postgres,
        other => panic!("unknown database `{other}`: sqlite or postgres"),
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    }
}

/// What the benches do with a [`TestDb`] beyond what the tests do.
#[allow(async_fn_in_trait)]
pub trait BenchDb {
    /// Runs SQL in one write transaction, as the membership system would.
    async fn exec_tx(&self, sql: &str);
    /// The database engine's version (and PostgreSQL's durability settings), for the report.
    async fn version(&self) -> String;
    /// Members `1..=n`: a person with an address each, and (with `subscriptions`) two users per
    /// ACTIVE subscription, inserted the way a bulk load would (INSERT ... SELECT over a
    /// counter), so the triggers queue one outbox row per member. Every tenth last name holds
    /// a comma and quotes (CSV quoting); every fourth subscription is open-ended.
    async fn seed_members(&self, n: u64, subscriptions: bool);
    /// A `digis-relay` configuration file in the folder: `relay` settings as given, Digis at
    /// `digis_url`, the sync log in `logs/`, the HTTP listener on a free port.
    fn write_config(&self, digis_url: &str, relay: &str) -> PathBuf;
    /// A file for a process's output in the folder.
    fn output(&self, name: &str) -> std::fs::File;
}

impl BenchDb for TestDb {
    async fn exec_tx(&self, sql: &str) {
        self.storage
            .host_exec(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    async fn version(&self) -> String {
        let sql = match self.kind {
            Kind::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            Kind::Postgres => {
                "SELECT 'PostgreSQL ' || current_setting('server_version') || ' (fsync ' || \
                 current_setting('fsync') || ', synchronous_commit ' || \
                 current_setting('synchronous_commit') || ', shared_buffers ' || \
                 current_setting('shared_buffers') || ')'"
            }
        };
        let v: Result<String, sqlx::Error> = match self.kind {
            Kind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_one(&pool).await;
                pool.close().await;
                v
            }
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let v = sqlx::query_scalar(sql).fetch_one(&pool).await;
                pool.close().await;
                v
            }
        };
        v.expect("the database's version")
    }

    async fn seed_members(&self, n: u64, subscriptions: bool) {
        self.exec_tx(&seed_sql(self.kind, n, subscriptions)).await;
        // A schema variant to compare with, run after the seed (BENCH_AFTER_SEED_SQL: say,
        // an index a migration dropped, created again), so both run the same binaries.
        if let Ok(sql) = std::env::var("BENCH_AFTER_SEED_SQL") {
            self.exec_tx(&sql).await;
        }
        // Statistics as a database in service has them: the planner needs them for the claim.
        self.exec_tx("ANALYZE").await;
    }

    fn write_config(&self, digis_url: &str, relay: &str) -> PathBuf {
        test_db::TestConfig {
            use_digis: Some(true),
            digis_url: Some(digis_url.to_string()),
            digis_url_postfix: Some("brp?token=bench-token".into()),
            ..test_db::TestConfig::base(self)
        }
        .with(&format!(
            "[relay]\n{relay}\n[export]\nlisten = \"127.0.0.1:0\"\n"
        ))
        .write_in(self)
    }

    fn output(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.dir.path().join(name)).expect("output file")
    }
}

/// The SQL of [`BenchDb::seed_members`], for a database opened elsewhere.
pub fn seed_sql(kind: Kind, n: u64, subscriptions: bool) -> String {
    match kind {
        Kind::Sqlite => sqlite_seed(n, subscriptions),
        Kind::Postgres => postgres_seed(n, subscriptions),
    }
}

fn sqlite_seed(n: u64, subscriptions: bool) -> String {
    let mut sql = format!(
        "INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum'), (2, 'Stamina Syd, Malmö');
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n})
         INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, allow_email,
                             allow_sms, mobile_country_code, mobile_number, card_number)
         SELECT i, 1 + i % 2, 'Förnamn' || i, CASE WHEN i % 10 = 0 THEN 'Lind, \"Berg\"' ELSE 'Efternamn' || i END,
                printf('19%02d-%02d-%02d', 50 + i % 50, 1 + i % 12, 1 + i % 28),
                CASE i % 3 WHEN 0 THEN 'MALE' WHEN 1 THEN 'FEMALE' ELSE NULL END,
                'member' || i || '@example.se', i % 2, 1, '46',
                printf('070-%03d %02d %02d', i / 10000 % 1000, i / 100 % 100, i % 100),
                CAST(34000000 + i AS TEXT)
         FROM c;
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n})
         INSERT INTO address (person_id, street_address, postal_code, postal_city, country_alpha2)
         SELECT i, 'Storgatan ' || i, '111 22', 'Stockholm', 'SE' FROM c;"
    );
    if subscriptions {
        sql.push_str(&format!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ({n} + 1) / 2)
             INSERT INTO subscription (id, status, start_date, max_end)
             SELECT i, 'ACTIVE', '2026-01-01', CASE WHEN i % 4 = 0 THEN NULL ELSE '2027-12-31' END FROM c;
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n})
             INSERT INTO subscription_user (subscription_id, person_id) SELECT (i + 1) / 2, i FROM c;"
        ));
    }
    sql
}

fn postgres_seed(n: u64, subscriptions: bool) -> String {
    let mut sql = format!(
        "INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum'), (2, 'Stamina Syd, Malmö');
         INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, allow_email,
                             allow_sms, mobile_country_code, mobile_number, card_number)
         SELECT i, 1 + i % 2, 'Förnamn' || i, CASE WHEN i % 10 = 0 THEN 'Lind, \"Berg\"' ELSE 'Efternamn' || i END,
                make_date((1950 + i % 50)::int, (1 + i % 12)::int, (1 + i % 28)::int),
                CASE i % 3 WHEN 0 THEN 'MALE' WHEN 1 THEN 'FEMALE' END,
                'member' || i || '@example.se', i % 2 = 1, true, '46',
                format('070-%s %s %s', lpad((i / 10000 % 1000)::text, 3, '0'),
                       lpad((i / 100 % 100)::text, 2, '0'), lpad((i % 100)::text, 2, '0')),
                (34000000 + i)::text
         FROM generate_series(1::bigint, {n}) AS i;
         INSERT INTO address (person_id, street_address, postal_code, postal_city, country_alpha2)
         SELECT i, 'Storgatan ' || i, '111 22', 'Stockholm', 'SE' FROM generate_series(1::bigint, {n}) AS i;"
    );
    if subscriptions {
        sql.push_str(&format!(
            "INSERT INTO subscription (id, status, start_date, max_end)
             SELECT i, 'ACTIVE', DATE '2026-01-01', CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2027-12-31' END
             FROM generate_series(1::bigint, ({n} + 1) / 2) AS i;
             INSERT INTO subscription_user (subscription_id, person_id)
             SELECT (i + 1) / 2, i FROM generate_series(1::bigint, {n}) AS i;"
        ));
    }
    sql
}

// --- processes ---

/// How a child process ended and what it cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub status: ExitStatus,
    /// From spawn to exit.
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set size (`ru_maxrss`), KiB.
    pub max_rss_kib: u64,
}

impl Usage {
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

/// A child process (a relay or the fake). Dropped while still running (a step failed half-way)
/// it is killed and reaped, so a failing step leaves no process behind.
pub struct Proc {
    child: Option<Child>,
    spawned: Instant,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Proc> {
        let spawned = Instant::now();
        Ok(Proc {
            child: Some(cmd.spawn()?),
            spawned,
        })
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("a running child")
    }

    /// SIGTERM: a relay finishes what is in flight and stops; the fake stops.
    pub fn terminate(&mut self) {
        let pid = self.child().id();
        // SAFETY: kill(2) on our own child's pid (unreaped, so the pid is still ours).
        let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(r, 0, "SIGTERM to {pid}");
    }

    /// Waits for the exit; wall time since the spawn, CPU and peak memory.
    pub fn wait(mut self) -> Usage {
        let child = self.child.take().expect("a running child");
        wait_with_usage(child, self.spawned)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child` with `wait4(2)`, which reports that child's own CPU time and peak memory
/// (RUSAGE_CHILDREN would mix in every child reaped before).
fn wait_with_usage(child: Child, spawned: Instant) -> Usage {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals; the pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::Interrupted,
            "wait4({pid}): {e}"
        );
    }
    let wall = spawned.elapsed();
    // Reaped: `Child` must not wait again (dropping it does not).
    drop(child);
    Usage {
        status: ExitStatus::from_raw(status),
        wall,
        user: timeval(ru.ru_utime),
        sys: timeval(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss as u64,
    }
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn self_cpu() -> Duration {
    // SAFETY: a zeroed rusage is a valid value; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live local.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(r, 0, "getrusage");
    timeval(ru.ru_utime) + timeval(ru.ru_stime)
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// `digis-relay --config CONFIG ARGS…` as a child, its stdout and stderr in `db`'s folder
/// (`TAG.stdout`, `TAG.stderr`).
pub fn spawn_relay(db: &TestDb, config: &Path, args: &[&str], tag: &str) -> Proc {
    Proc::spawn(
        test_db::command_for(&bin())
            .arg("--config")
            .arg(config)
            .args(args)
            .current_dir(db.dir.path())
            // Its own log settings, whatever the bench was started with.
            .env_remove("RUST_LOG")
            .env_remove("DIGIS_RELAY_LOG")
            .stdout(db.output(&format!("{tag}.stdout")))
            .stderr(db.output(&format!("{tag}.stderr"))),
    )
    .expect("start digis-relay")
}

/// The text a relay child wrote to `TAG.stdout` / `TAG.stderr`.
pub fn relay_output(db: &TestDb, tag: &str, stream: &str) -> String {
    std::fs::read_to_string(db.dir.path().join(format!("{tag}.{stream}"))).unwrap_or_default()
}

/// `digis-relay fake-digis` as a process of its own on a free port, quiet (one line per request
/// on stderr would cost it CPU the relay is measured against).
pub struct FakeProcess {
    proc: Proc,
    stdout: BufReader<ChildStdout>,
    pub url: String,
}

impl FakeProcess {
    pub fn spawn(faults: &[String], record: Option<&Path>) -> FakeProcess {
        let mut cmd = test_db::command_for(&bin());
        cmd.args(["fake-digis", "--listen", "127.0.0.1:0"]);
        for f in faults {
            cmd.args(["--fault", f]);
        }
        if let Some(path) = record {
            cmd.arg("--record").arg(path);
        }
        let mut proc = Proc::spawn(
            cmd.env("RUST_LOG", "fake_digis=warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        )
        .expect("start the fake Digis");
        let mut stdout = BufReader::new(proc.child().stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the fake's first line");
        let url = line
            .trim()
            .strip_prefix("fake Digis listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the fake: {line:?}"))
            .to_string();
        FakeProcess { proc, stdout, url }
    }

    /// `GET /_fake/health`: `received`, `accepted`, `duplicates`.
    pub async fn health(&self) -> serde_json::Value {
        reqwest::get(format!("{}/_fake/health", self.url))
            .await
            .expect("fake health")
            .json()
            .await
            .expect("fake health JSON")
    }

    /// SIGTERM, then its cost (the fake prints a summary on the way out; it is read so the
    /// pipe never blocks it).
    pub fn stop(mut self) -> Usage {
        self.proc.terminate();
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let usage = self.proc.wait();
        assert!(
            usage.status.success(),
            "the fake Digis exited {:?}",
            usage.status
        );
        usage
    }
}

/// Peak resident memory (`VmHWM`) of this process so far, KiB (Linux).
pub fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status (Linux)")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
