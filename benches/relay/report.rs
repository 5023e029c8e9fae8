//! Collects the figures every step wrote (`target/bench/out/*.json`) into one table, prints it,
//! writes its JSON copy (`target/bench/results.json`) and, with `BENCH_WRITE_DOCS=1`, the
//! figures block of BENCHMARKS.md. Figures live there and in RELIABILITY.md only (issue 29): the
//! README links them instead of quoting a summary that goes stale.
//!
//! Environment (set by `scripts/bench`): `BENCH_LABEL` (what this run is, e.g. "baseline
//! before the hot-path change"), `BENCH_COMMIT`, `BENCH_QUICK`, `BENCH_FAILED` (steps that
//! failed), `BENCH_WRITE_DOCS`.
use std::collections::BTreeMap;
use std::path::PathBuf;

use digis_relay::settings::RelaySettings;
use serde_json::{json, Value};

use crate::common::out_dir;
use crate::Sizes;

const FIGURES_BEGIN: &str = "<!-- figures:begin (written by scripts/bench) -->";
const FIGURES_END: &str = "<!-- figures:end -->";

/// Where a value stands against its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    GoalMet,
    FloorMet,
    Missed,
    NotMeasured,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::GoalMet => "goal met",
            Verdict::FloorMet => "floor met",
            Verdict::Missed => "MISSED",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// A target from issue 12: `goal`, and the `floor` below which the work is not done.
#[derive(Debug, Clone, Copy)]
struct Target {
    goal: f64,
    floor: Option<f64>,
    /// `true`: at least (rows/s); `false`: at most (µs, MiB, ms).
    at_least: bool,
    unit: &'static str,
}

impl Target {
    const fn at_least(goal: f64, floor: Option<f64>, unit: &'static str) -> Target {
        Target {
            goal,
            floor,
            at_least: true,
            unit,
        }
    }
    const fn at_most(goal: f64, floor: Option<f64>, unit: &'static str) -> Target {
        Target {
            goal,
            floor,
            at_least: false,
            unit,
        }
    }

    fn verdict(&self, value: Option<f64>) -> Verdict {
        let Some(v) = value.filter(|v| v.is_finite()) else {
            return Verdict::NotMeasured;
        };
        let ok = |limit: f64| {
            if self.at_least {
                v >= limit
            } else {
                v <= limit
            }
        };
        if ok(self.goal) {
            Verdict::GoalMet
        } else if self.floor.is_some_and(ok) {
            Verdict::FloorMet
        } else {
            Verdict::Missed
        }
    }

    fn text(&self) -> String {
        let sign = if self.at_least { "≥" } else { "≤" };
        let n = |v: f64| fmt_num(v, if v.fract() == 0.0 { 0 } else { 1 });
        match self.floor {
            Some(f) => format!("{sign} {} {} (floor {})", n(self.goal), self.unit, n(f)),
            None => format!("{sign} {} {}", n(self.goal), self.unit),
        }
    }
}

// Issue 28 raised these two floors (issue 12: 5,000 rows/s and 50 MiB).
const DRAIN_PG: Target = Target::at_least(10_000.0, Some(7_000.0), "rows/s");
const DRAIN_SQLITE: Target = Target::at_least(5_000.0, Some(3_000.0), "rows/s");
const SHARE_OF_HTTP: Target = Target::at_least(50.0, None, "%");
const CPU_PER_ROW: Target = Target::at_most(100.0, Some(150.0), "µs");
const PEAK_RSS: Target = Target::at_most(30.0, Some(40.0), "MiB");
const PG_P50: Target = Target::at_most(10.0, None, "ms");
const PG_P99: Target = Target::at_most(50.0, None, "ms");
const SQLITE_P50: Target = Target::at_most(50.0, None, "ms");
const SQLITE_P99: Target = Target::at_most(250.0, None, "ms");
const FRAME: Target = Target::at_most(16.0, None, "ms");
/// Issue 28: the whole search command over a year of logs at most zgrep's time (a ratio).
const LOG_YEAR: Target = Target::at_most(1.0, None, "x");

/// One line of the table.
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    measurement: String,
    database: String,
    value: String,
    goal: String,
    verdict: String,
}

/// One goal of the issue with the value it is judged on.
#[derive(Debug, Clone, serde::Serialize)]
struct GoalLine {
    /// A few words naming the goal (results.json).
    short: String,
    goal: String,
    value: String,
    verdict: String,
}

struct Report {
    steps: BTreeMap<String, Value>,
    rows: Vec<Row>,
    goals: Vec<GoalLine>,
}

pub fn report(sizes: &Sizes) {
    let dir = out_dir();
    let mut steps = BTreeMap::new();
    // When the steps wrote their figures: the run's time, also when the report is made again.
    let mut written: Vec<chrono::DateTime<chrono::Utc>> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json") {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                steps.insert(name, serde_json::from_str(&text).unwrap());
                if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                    written.push(t.into());
                }
            }
        }
    }
    let mut r = Report {
        steps,
        rows: Vec::new(),
        goals: Vec::new(),
    };
    r.ceilings();
    r.drains();
    r.latency();
    r.export();
    r.search();
    r.search_year();
    r.tui();
    r.tui_counts();
    r.host_writes();
    r.member_search();

    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let quick = env("BENCH_QUICK").is_some_and(|v| v != "0");
    let failed: Vec<String> = env("BENCH_FAILED")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let measured = match (written.iter().min(), written.iter().max()) {
        (Some(first), Some(last)) => format!(
            "{}–{}",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%H:%M UTC")
        ),
        _ => chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let label = env("BENCH_LABEL").unwrap_or_else(|| "Latest run".into());
    let commit = env("BENCH_COMMIT").unwrap_or_else(|| "unknown".into());
    let machine = machine(&r.steps);

    let header = wrap(
        &header(&label, &measured, &commit, sizes, &machine, quick, &failed),
        99,
    );
    let table = table(&r.rows);
    let goals = goals_text(&r.goals);
    println!("{header}\n\n{table}\n{goals}");

    let results = json!({
        "label": label,
        "measured": measured,
        "commit": commit,
        "quick": quick,
        "failed_steps": failed,
        "sizes": sizes,
        "machine": machine,
        "table": r.rows,
        "goals": r.goals,
        "steps": r.steps,
    });
    let results_path = dir.parent().unwrap_or(&dir).join("results.json");
    std::fs::write(
        &results_path,
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .expect("write results.json");
    println!("JSON copy: {}", results_path.display());

    if env("BENCH_WRITE_DOCS").as_deref() == Some("1") {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let block = format!("{header}\n\n{table}\n{goals}");
        rewrite(
            &root.join("BENCHMARKS.md"),
            FIGURES_BEGIN,
            FIGURES_END,
            &block,
        );
        println!("figures written into BENCHMARKS.md");
    }
}

impl Report {
    fn step(&self, name: &str) -> Option<&Value> {
        self.steps.get(name)
    }

    fn num(&self, step: &str, key: &str) -> Option<f64> {
        self.step(step)?.get(key)?.as_f64()
    }

    fn row(&mut self, measurement: String, database: &str, value: String) {
        self.rows.push(Row {
            measurement,
            database: database.into(),
            value,
            goal: String::new(),
            verdict: String::new(),
        });
    }

    fn judged(
        &mut self,
        measurement: String,
        database: &str,
        value: Option<f64>,
        decimals: usize,
        target: Target,
    ) -> Verdict {
        let verdict = target.verdict(value);
        self.rows.push(Row {
            measurement,
            database: database.into(),
            value: shown(value, decimals, target.unit),
            goal: target.text(),
            verdict: verdict.text().into(),
        });
        verdict
    }

    fn goal(&mut self, short: String, goal: String, value: String, verdict: Verdict) {
        self.goals.push(GoalLine {
            short,
            goal,
            value,
            verdict: verdict.text().into(),
        });
    }

    fn ceilings(&mut self) {
        for db in ["sqlite", "postgres"] {
            let step = format!("db-ceiling-{db}");
            let rows = self.num(&step, "rows_per_s");
            let cpu = self.num(&step, "cpu_us_per_row");
            self.row(
                "database alone: claim + complete".into(),
                db_name(db),
                match (rows, cpu) {
                    (Some(r), Some(c)) => format!(
                        "{} rows/s ({} µs CPU/row in-process)",
                        fmt_num(r, 0),
                        fmt_num(c, 0)
                    ),
                    _ => "not measured".into(),
                },
            );
        }
        for delay in [0, 20] {
            let step = format!("http-ceiling-{delay}ms");
            let req = self.num(&step, "requests_per_s");
            let cpu = self.num(&step, "client_cpu_us_per_request");
            self.row(
                format!("HTTP alone: DigisClient → fake, {}", answers(delay)),
                "–",
                match (req, cpu) {
                    (Some(r), Some(c)) => format!(
                        "{} requests/s ({} µs client CPU/request)",
                        fmt_num(r, 0),
                        fmt_num(c, 0)
                    ),
                    _ => "not measured".into(),
                },
            );
        }
    }

    fn drains(&mut self) {
        let dbs = ["sqlite", "postgres"];
        let mut worst_cpu: Option<(f64, String)> = None;
        let mut worst_rss: Option<(f64, String)> = None;
        let mut all_measured = true;
        for delay in [0, 20] {
            let what = format!("drain, {}", answers(delay));
            let step = |db: &str| format!("drain-{db}-{delay}ms");
            for db in dbs {
                let rate = self.num(&step(db), "rows_per_s");
                let name = db_name(db);
                if delay == 0 {
                    let target = if db == "postgres" {
                        DRAIN_PG
                    } else {
                        DRAIN_SQLITE
                    };
                    let v = self.judged(format!("{what}: rows/s"), name, rate, 0, target);
                    self.goal(
                        format!("drain rate on {name}"),
                        format!("drain on {name}, instant answers: {}", target.text()),
                        shown(rate, 0, "rows/s"),
                        v,
                    );
                } else {
                    self.row(format!("{what}: rows/s"), name, shown(rate, 0, "rows/s"));
                }
            }
            let http = self.num(&format!("http-ceiling-{delay}ms"), "requests_per_s");
            for db in dbs {
                let name = db_name(db);
                let share = self
                    .num(&step(db), "rows_per_s")
                    .zip(http)
                    .map(|(r, h)| r / h * 100.0);
                let measurement = format!("{what}: share of the HTTP-alone ceiling");
                if delay == 0 {
                    let v = self.judged(measurement, name, share, 1, SHARE_OF_HTTP);
                    self.goal(
                        format!("drain share of the HTTP ceiling on {name}"),
                        format!(
                            "drain on {name}, instant answers: {} of the HTTP-alone ceiling",
                            SHARE_OF_HTTP.text()
                        ),
                        shown(share, 1, "%"),
                        v,
                    );
                } else {
                    self.row(measurement, name, shown(share, 1, "%"));
                }
            }
            for db in dbs {
                let share = self
                    .num(&step(db), "rows_per_s")
                    .zip(self.num(&format!("db-ceiling-{db}"), "rows_per_s"))
                    .map(|(r, d)| r / d * 100.0);
                self.row(
                    format!("{what}: share of the database-alone ceiling"),
                    db_name(db),
                    shown(share, 1, "%"),
                );
            }
            for db in dbs {
                let cpu = self.num(&step(db), "cpu_us_per_row");
                self.judged(
                    format!("{what}: relay CPU per sent row"),
                    db_name(db),
                    cpu,
                    0,
                    CPU_PER_ROW,
                );
                worse(&mut worst_cpu, cpu, db, delay, &mut all_measured);
            }
            for db in dbs {
                let rss = self.num(&step(db), "peak_rss_mib");
                self.judged(
                    format!("{what}: relay peak RSS"),
                    db_name(db),
                    rss,
                    1,
                    PEAK_RSS,
                );
                worse(&mut worst_rss, rss, db, delay, &mut all_measured);
            }
        }
        for (target, worst, what, short, decimals) in [
            (
                CPU_PER_ROW,
                worst_cpu,
                "relay CPU per delivered row",
                "relay CPU per row",
                0,
            ),
            (
                PEAK_RSS,
                worst_rss,
                "relay peak RSS while draining",
                "relay peak RSS",
                1,
            ),
        ] {
            let verdict = match &worst {
                Some((v, _)) if all_measured => target.verdict(Some(*v)),
                _ => Verdict::NotMeasured,
            };
            let value = match worst {
                Some((v, at)) => format!("{} (worst: {at})", shown(Some(v), decimals, target.unit)),
                None => "not measured".into(),
            };
            self.goal(
                short.into(),
                format!("{what}, all four drains: {}", target.text()),
                value,
                verdict,
            );
        }
    }

    fn latency(&mut self) {
        for (q, targets) in [("p50", [SQLITE_P50, PG_P50]), ("p99", [SQLITE_P99, PG_P99])] {
            for (db, target) in ["sqlite", "postgres"].into_iter().zip(targets) {
                let name = db_name(db);
                let v = self.num(&format!("latency-{db}"), &format!("{q}_ms"));
                let verdict = self.judged(format!("save → send: {q}"), name, v, 1, target);
                self.goal(
                    format!("save → send {q} on {name}"),
                    format!("save → send on {name}: {q} {}", target.text()),
                    shown(v, 1, "ms"),
                    verdict,
                );
            }
        }
        for db in ["sqlite", "postgres"] {
            let max = self.num(&format!("latency-{db}"), "max_ms");
            self.row("save → send: max".into(), db_name(db), shown(max, 1, "ms"));
        }
    }

    fn export(&mut self) {
        let Some(rows) = self
            .step("export")
            .and_then(|s| s["rows"].as_array())
            .cloned()
        else {
            self.row(
                "export DigisAllActive".into(),
                "SQLite",
                "not measured".into(),
            );
            return;
        };
        for r in rows {
            self.row(
                format!(
                    "export, {} members, {}",
                    fmt_num(r["members"].as_f64().unwrap_or(f64::NAN), 0),
                    r["mode"].as_str().unwrap_or("?")
                ),
                "SQLite",
                format!(
                    "{} s, {} members/s, {} MiB out, peak RSS {} MiB",
                    fmt_num(r["seconds"].as_f64().unwrap_or(f64::NAN), 2),
                    fmt_num(r["members_per_s"].as_f64().unwrap_or(f64::NAN), 0),
                    fmt_num(r["mib_out"].as_f64().unwrap_or(f64::NAN), 1),
                    fmt_num(r["peak_rss_mib"].as_f64().unwrap_or(f64::NAN), 1)
                ),
            );
        }
    }

    fn search(&mut self) {
        let Some(s) = self.step("search").cloned() else {
            self.row("support search".into(), "SQLite", "not measured".into());
            return;
        };
        let mb = s["size_mb"].as_f64().unwrap_or(f64::NAN);
        let card = s["card"].as_str().unwrap_or("?").to_string();
        let timed = |k: &str| {
            let secs = s[k]["best_s"].as_f64().unwrap_or(f64::NAN);
            format!("{} s ({} MB/s)", fmt_num(secs, 2), fmt_num(mb / secs, 0))
        };
        self.row(
            format!(
                "search, {} MB log: `digis-relay search --ext-info20 {card} > out`",
                fmt_num(mb, 0)
            ),
            "SQLite",
            format!(
                "{}, {} lines",
                timed("command"),
                s["command"]["lines"].as_u64().unwrap_or(0)
            ),
        );
        self.row(
            format!(
                "search, {} MB log: `grep -F -n ExtInfo20:{card} LOG > out`",
                fmt_num(mb, 0)
            ),
            "–",
            format!(
                "{}, {} lines (near misses too)",
                timed("grep"),
                s["grep"]["lines"].as_u64().unwrap_or(0)
            ),
        );
        self.row(
            format!(
                "search, {} MB log: in-process scanner only (no process, no database)",
                fmt_num(mb, 0)
            ),
            "–",
            format!(
                "{}, {} hits",
                timed("scanner"),
                s["scanner"]["hits"].as_u64().unwrap_or(0)
            ),
        );
    }

    /// Issue 28: a year of rotated logs, the whole command against `zgrep -F` on the same files.
    fn search_year(&mut self) {
        let Some(s) = self.step("search-year").cloned() else {
            self.row(
                "search over a year of logs".into(),
                "SQLite",
                "not measured".into(),
            );
            let verdict = LOG_YEAR.verdict(None);
            self.goal(
                "log search over a year vs zgrep".into(),
                format!(
                    "log search over a year: `digis-relay search` {} `zgrep -F`'s time",
                    LOG_YEAR.text()
                ),
                "not measured".into(),
                verdict,
            );
            return;
        };
        let mb = s["size_mb"].as_f64().unwrap_or(f64::NAN);
        let card = s["card"].as_str().unwrap_or("?").to_string();
        let what = format!(
            "search, a year ({} MB in {} files, {} gzip, {} MB on disk)",
            fmt_num(mb, 0),
            s["files"].as_u64().unwrap_or(0),
            s["gz_files"].as_u64().unwrap_or(0),
            fmt_num(s["disk_mb"].as_f64().unwrap_or(f64::NAN), 0)
        );
        let timed = |k: &str| {
            let secs = s[k]["best_s"].as_f64().unwrap_or(f64::NAN);
            format!("{} s ({} MB/s)", fmt_num(secs, 2), fmt_num(mb / secs, 0))
        };
        self.row(
            format!("{what}: `digis-relay search --ext-info20 {card} > out`"),
            "SQLite",
            format!(
                "{}, {} lines",
                timed("command"),
                s["command"]["lines"].as_u64().unwrap_or(0)
            ),
        );
        self.row(
            format!("{what}: `zgrep -F ExtInfo20:{card} FILES > out`"),
            "–",
            format!(
                "{}, {} lines (near misses too)",
                timed("zgrep"),
                s["zgrep"]["lines"].as_u64().unwrap_or(0)
            ),
        );
        self.row(
            format!("{what}: in-process scan only (no process, no database)"),
            "–",
            timed("scanner"),
        );
        let ratio = s["ratio"].as_f64();
        let verdict = self.judged(
            format!("{what}: `digis-relay search` time / `zgrep -F` time"),
            "SQLite",
            ratio,
            2,
            LOG_YEAR,
        );
        self.goal(
            "log search over a year vs zgrep".into(),
            format!(
                "log search over a year: `digis-relay search` {} `zgrep -F`'s time",
                LOG_YEAR.text()
            ),
            shown(ratio, 2, LOG_YEAR.unit),
            verdict,
        );
    }

    fn tui(&mut self) {
        let Some(t) = self.step("tui").cloned() else {
            self.row("dashboard".into(), "SQLite", "not measured".into());
            return;
        };
        let rows = fmt_num(t["rows"].as_f64().unwrap_or(f64::NAN), 0);
        let mut worst: Option<f64> = None;
        for m in t["medians"].as_array().cloned().unwrap_or_default() {
            let ms = m["ms"].as_f64();
            if let Some(v) = ms {
                worst = Some(worst.map_or(v, |w: f64| w.max(v)));
            }
            self.judged(
                format!(
                    "dashboard, {rows} rows: {}",
                    m["what"].as_str().unwrap_or("?")
                ),
                "SQLite",
                ms,
                2,
                FRAME,
            );
        }
        let verdict = FRAME.verdict(worst);
        self.goal(
            "dashboard page loads and frames".into(),
            format!("dashboard page loads and frames: {}", FRAME.text()),
            format!("{} (worst median)", shown(worst, 2, "ms")),
            verdict,
        );
    }
}

/// Keeps the larger of `worst` and `value` (measured at `db`, `delay`); notes a missing value.
fn worse(
    worst: &mut Option<(f64, String)>,
    value: Option<f64>,
    db: &str,
    delay: u64,
    all: &mut bool,
) {
    match value {
        Some(v) if worst.as_ref().is_none_or(|(w, _)| v > *w) => {
            *worst = Some((v, format!("{}, {}", db_name(db), answers(delay))))
        }
        Some(_) => {}
        None => *all = false,
    }
}

fn db_name(db: &str) -> &'static str {
    match db {
        "postgres" => "PostgreSQL",
        _ => "SQLite",
    }
}

fn answers(delay_ms: u64) -> String {
    if delay_ms == 0 {
        "instant answers".into()
    } else {
        format!("{delay_ms} ms answers")
    }
}

/// `1234.5` → `1,235` (decimals 0) or `1,234.50` (decimals 2); `–` for no number.
fn fmt_num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let text = format!("{v:.decimals$}");
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

fn shown(v: Option<f64>, decimals: usize, unit: &str) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{} {unit}", fmt_num(v, decimals)),
        _ => "not measured".into(),
    }
}

/// The machine as the figures see it.
fn machine(steps: &BTreeMap<String, Value>) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut versions: Vec<String> = steps
        .values()
        .filter_map(|s| s["database_version"].as_str().map(String::from))
        .collect();
    versions.sort();
    versions.dedup();
    let loads: Vec<f64> = steps
        .values()
        .filter_map(|s| s["load_before"].as_f64())
        .collect();
    let min = loads.iter().copied().fold(f64::INFINITY, f64::min);
    let max = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({
        "cpu": cpu,
        "cores": cores,
        "memory_gib": mem_gib,
        "kernel": kernel,
        "databases": versions,
        // No step: infinite, written as null.
        "load_average_min": min,
        "load_average_max": max,
    })
}

fn header(
    label: &str,
    measured: &str,
    commit: &str,
    sizes: &Sizes,
    machine: &Value,
    quick: bool,
    failed: &[String],
) -> String {
    let mut h = format!(
        "**{label}** — measured {measured} on commit `{commit}`.\n\n\
         Sizes: drains (`run --once`) and the database ceiling over {} queued members; the HTTP \
         ceiling over {} requests; save → send over {} saves at {}/s to a relay running as a \
         service. Relay settings everywhere: `concurrency = {}`, `batch_size = {}`, \
         `max_requests_per_second = 0`, default `poll_interval_ms` ({} ms). Dashboard figures are \
         medians, search figures best of 3.\n\n\
         Machine: {} ({} cores), {} GiB RAM, Linux {}; {}. One-minute load average {}–{} at \
         the start of the steps (the bench's own earlier steps count in it; anything else \
         running on the machine makes the figures noisier).",
        fmt_num(sizes.rows as f64, 0),
        fmt_num(sizes.ceiling_requests as f64, 0),
        fmt_num(sizes.saves as f64, 0),
        sizes.save_rate,
        sizes.concurrency,
        sizes.batch,
        fmt_num(RelaySettings::default().poll_interval_ms as f64, 0),
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["memory_gib"],
        machine["kernel"].as_str().unwrap_or("?"),
        machine["databases"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        fmt_num(machine["load_average_min"].as_f64().unwrap_or(f64::NAN), 2),
        fmt_num(machine["load_average_max"].as_f64().unwrap_or(f64::NAN), 2),
    );
    if quick {
        h.push_str(
            "\n\n**Quick run** (`BENCH_QUICK=1`): sizes are below the goals' (100,000 rows, \
             1,000 saves), so the verdicts only hint.",
        );
    }
    if !failed.is_empty() {
        h.push_str(&format!(
            "\n\n**Steps that FAILED** (their figures are missing): {}.",
            failed.join(", ")
        ));
    }
    h
}

/// The rows as a Markdown table, padded so it also reads in a terminal.
fn table(rows: &[Row]) -> String {
    let head = [
        "measurement",
        "database",
        "value",
        "goal (floor)",
        "verdict",
    ];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.measurement.clone(),
                r.database.clone(),
                r.value.clone(),
                r.goal.clone(),
                r.verdict.clone(),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for c in &cells {
        for (w, cell) in width.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |c: [&str; 5]| {
        let padded: Vec<String> = c
            .iter()
            .zip(width)
            .map(|(s, w)| format!("{s}{}", " ".repeat(w - s.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut t = line(head);
    let dashes: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    t.push_str(&format!("|-{}-|\n", dashes.join("-|-")));
    for c in &cells {
        t.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4]]));
    }
    t
}

fn goals_text(goals: &[GoalLine]) -> String {
    let met = goals.iter().filter(|g| g.verdict == "goal met").count();
    let mut s = format!(
        "Goals (issues 12 and 28): {met} of {} met.\n\n",
        goals.len()
    );
    for g in goals {
        s.push_str(&format!("- {}: {} — **{}**\n", g.goal, g.value, g.verdict));
    }
    s
}

/// `text` broken into lines of at most `width` characters at spaces (paragraphs kept).
fn wrap(text: &str, width: usize) -> String {
    text.split("\n\n")
        .map(|para| {
            let mut lines: Vec<String> = Vec::new();
            let mut line = String::new();
            for word in para.split_whitespace() {
                if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
            lines.push(line);
            lines.join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Replaces what stands between `begin` and `end` in `path`.
fn rewrite(path: &std::path::Path, begin: &str, end: &str, block: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        panic!("{} lacks the markers {begin} … {end}", path.display());
    };
    let new = format!("{}{begin}\n{block}\n{}", &text[..b], &text[e..]);
    std::fs::write(path, new).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

// --- the dashboard's counts refresh (issue 28, docs/decisions/0046-outbox-counts.md) ---

/// The counts by state the dashboard reads every second, off the render path.
const COUNTS_REFRESH: Target = Target::at_most(100.0, None, "ms");

impl Report {
    /// The `tui` step's counts on SQLite and PostgreSQL at its size, judged, with the GROUP BY
    /// they replaced beside them; the goal line is the worse of the two.
    fn tui_counts(&mut self) {
        let Some(t) = self.step("tui").cloned() else {
            return;
        };
        let mut worst: Option<f64> = None;
        let mut all = true;
        let sides = [("SQLite", t.clone()), ("PostgreSQL", t["postgres"].clone())];
        for (db, side) in sides {
            if side.is_null() {
                all = false;
                continue;
            }
            let rows = fmt_num(side["rows"].as_f64().unwrap_or(f64::NAN), 0);
            let ms = side["counts_ms"].as_f64();
            match ms {
                Some(v) => worst = Some(worst.map_or(v, |w: f64| w.max(v))),
                None => all = false,
            }
            self.judged(
                format!("dashboard, {rows} rows: counts by state (1 s tick, off the render path)"),
                db,
                ms,
                2,
                COUNTS_REFRESH,
            );
            if let Some(v) = side["counts_deltas_ms"].as_f64() {
                worst = Some(worst.map_or(v, |w: f64| w.max(v)));
                self.judged(
                    format!(
                        "dashboard, {rows} rows: counts by state, 5,000 changes not folded yet"
                    ),
                    db,
                    Some(v),
                    2,
                    COUNTS_REFRESH,
                );
            }
            self.row(
                format!("dashboard, {rows} rows: the same by GROUP BY state (before 0046)"),
                db,
                shown(side["group_by_ms"].as_f64(), 1, "ms"),
            );
            if let Some(s) = side["built_s"].as_f64() {
                self.row(
                    format!("dashboard, {rows} rows: building the bench database"),
                    db,
                    shown(Some(s), 0, "s"),
                );
            }
        }
        let mut value = format!("{} (worse database)", shown(worst, 2, "ms"));
        if !all {
            value.push_str(", PostgreSQL not measured");
        }
        self.goal(
            "dashboard counts refresh".into(),
            format!("dashboard counts refresh: {}", COUNTS_REFRESH.text()),
            value,
            COUNTS_REFRESH.verdict(worst),
        );
    }
}

// --- host writes with and without the relay's triggers (issue 28) ---

const HOST_WRITES_PG: Target = Target::at_most(1.5, Some(2.0), "x");
const HOST_WRITES_SQLITE: Target = Target::at_most(3.0, Some(5.0), "x");

impl Report {
    /// `host-writes-{db}` (benches/host_writes.rs): each bulk statement with the triggers over
    /// without them; one goal line per database on the worst of the subscription writes.
    fn host_writes(&mut self) {
        // Activation is shown, not judged: the host's own UPDATE rewrites a column in place while
        // the triggers must write every pair's outbox row, so its ratio says little of the
        // triggers' cost; the goal is the import and the nightly re-save.
        const JUDGED: [&str; 2] = ["insert_subscriptions", "update_subscriptions"];
        for (db, target) in [("sqlite", HOST_WRITES_SQLITE), ("postgres", HOST_WRITES_PG)] {
            let name = db_name(db);
            let Some(step) = self.step(&format!("host-writes-{db}")).cloned() else {
                self.row(
                    "host writes with / without the triggers".into(),
                    name,
                    "not measured".into(),
                );
                self.goal(
                    format!("host writes on {name}"),
                    format!(
                        "host bulk writes on {name}, with / without the triggers: {}",
                        target.text()
                    ),
                    "not measured".into(),
                    Verdict::NotMeasured,
                );
                continue;
            };
            let rows = fmt_num(step["rows"].as_f64().unwrap_or(f64::NAN), 0);
            let mut worst: Option<(f64, String)> = None;
            let mut all = true;
            for (key, f) in step["figures"].as_object().cloned().unwrap_or_default() {
                let what = f["what"].as_str().unwrap_or("?").replace("{n}", &rows);
                let ratio = f["ratio"].as_f64();
                let value = format!(
                    "{} ({} s with, {} s without)",
                    shown(ratio, 2, "x"),
                    fmt_num(f["with_s"].as_f64().unwrap_or(f64::NAN), 2),
                    fmt_num(f["without_s"].as_f64().unwrap_or(f64::NAN), 2)
                );
                let verdict = target.verdict(ratio);
                let judged = JUDGED.contains(&key.as_str());
                self.rows.push(Row {
                    measurement: format!("host writes, with / without the triggers: {what}"),
                    database: name.into(),
                    value,
                    goal: if judged { target.text() } else { String::new() },
                    verdict: if judged {
                        verdict.text().into()
                    } else {
                        String::new()
                    },
                });
                if judged {
                    match ratio {
                        Some(v) if worst.as_ref().is_none_or(|(w, _)| v > *w) => {
                            worst = Some((v, key.replace('_', " ")))
                        }
                        Some(_) => {}
                        None => all = false,
                    }
                }
            }
            let alone = &step["outbox_insert_alone"];
            self.row(
                format!(
                    "outbox INSERT of {} rows alone: all indexes / primary key and one-open only",
                    fmt_num(alone["rows"].as_f64().unwrap_or(f64::NAN), 0)
                ),
                name,
                format!(
                    "{} s / {} s",
                    fmt_num(alone["all_indexes_s"].as_f64().unwrap_or(f64::NAN), 2),
                    fmt_num(
                        alone["primary_and_one_open_only_s"]
                            .as_f64()
                            .unwrap_or(f64::NAN),
                        2
                    )
                ),
            );
            let verdict = match &worst {
                Some((v, _)) if all => target.verdict(Some(*v)),
                _ => Verdict::NotMeasured,
            };
            let value = match worst {
                Some((v, at)) => format!("{} (worst: {at})", shown(Some(v), 2, "x")),
                None => "not measured".into(),
            };
            self.goal(
                format!("host writes on {name}"),
                format!(
                    "host bulk INSERT and UPDATE of subscriptions on {name}, with / without the triggers: {}",
                    target.text()
                ),
                value,
                verdict,
            );
        }
    }
}

// --- member search at 100,000 and 1,000,000 persons (issue 28) ---

const MEMBER_SEARCH: Target = Target::at_most(50.0, Some(200.0), "ms");

impl Report {
    /// `member-search` (benches/member_search.rs): p50 and p99 of whole searches of each kind,
    /// each size measured; one goal line per database on the worst p99 at the largest size.
    fn member_search(&mut self) {
        let runs: Vec<Value> = self
            .step("member-search")
            .and_then(|s| s["runs"].as_array().cloned())
            .unwrap_or_default();
        for db in ["sqlite", "postgres"] {
            let name = db_name(db);
            let mine: Vec<&Value> = runs
                .iter()
                .filter(|r| r["database"] == db && r["how"] == "keys")
                .collect();
            let largest = mine
                .iter()
                .filter_map(|r| r["persons"].as_f64())
                .fold(f64::NAN, f64::max);
            let goal_text = format!(
                "member search on {name}, p99 of whole searches, each kind: {}",
                MEMBER_SEARCH.text()
            );
            if mine.is_empty() {
                self.row("member search p99".into(), name, "not measured".into());
                self.goal(
                    format!("member search on {name}"),
                    goal_text,
                    "not measured".into(),
                    Verdict::NotMeasured,
                );
                continue;
            }
            let mut worst: Option<(f64, String)> = None;
            for r in &mine {
                let persons = r["persons"].as_f64().unwrap_or(f64::NAN);
                let kind = r["kind"].as_str().unwrap_or("?").to_string();
                let p99 = r["p99_ms"].as_f64();
                let judged = persons == largest;
                self.rows.push(Row {
                    measurement: format!(
                        "member search by {kind} at {} persons, p50 / p99 of whole searches",
                        fmt_num(persons, 0)
                    ),
                    database: name.into(),
                    value: format!(
                        "{} / {} (load {})",
                        shown(r["p50_ms"].as_f64(), 1, "ms"),
                        shown(p99, 1, "ms"),
                        fmt_num(r["load_average"].as_f64().unwrap_or(f64::NAN), 1)
                    ),
                    goal: if judged {
                        MEMBER_SEARCH.text()
                    } else {
                        String::new()
                    },
                    verdict: if judged {
                        MEMBER_SEARCH.verdict(p99).text().into()
                    } else {
                        String::new()
                    },
                });
                match p99 {
                    Some(v) if judged && worst.as_ref().is_none_or(|(w, _)| v > *w) => {
                        worst = Some((v, kind))
                    }
                    _ => {}
                }
            }
            let (verdict, value) = match worst {
                Some((v, kind)) => (
                    MEMBER_SEARCH.verdict(Some(v)),
                    format!(
                        "{} (worst: {kind}, at {} persons)",
                        shown(Some(v), 1, "ms"),
                        fmt_num(largest, 0)
                    ),
                ),
                None => (Verdict::NotMeasured, "not measured".into()),
            };
            self.goal(
                format!("member search on {name}"),
                goal_text,
                value,
                verdict,
            );
        }
    }
}
