//! The relay's delivery figures (BENCHMARKS.md): backlog drains of the real binary against the
//! fake Digis as a process of its own, the ceilings measured in the same run (the HTTP client
//! alone against the fake, the database alone doing claim + complete), and save → send latency
//! of a relay running as a service.
//!
//! `scripts/bench` runs each measurement as a step (`cargo bench --bench relay -- STEP ...`),
//! then `report`, which prints the one table, writes `target/bench/results.json` and the figures
//! in BENCHMARKS.md. `cargo bench --bench relay` alone runs every step here and prints the table.
//!
//! Steps: `drain --db sqlite|postgres --delay-ms MS`, `http-ceiling --delay-ms MS`,
//! `db-ceiling --db sqlite|postgres`, `latency --db sqlite|postgres`, `report`.
//! Sizes: `BENCH_ROWS` (100000), `BENCH_CEILING_REQUESTS` (20000), `BENCH_SAVES` (1000),
//! `BENCH_SAVE_RATE` (50 per second), `BENCH_CONCURRENCY` (32), `BENCH_BATCH` (500).
#[path = "../common/mod.rs"]
mod common;
mod drain;
mod latency;
mod report;

use common::{env_u64, kind, Kind};

/// The sizes and relay settings of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sizes {
    pub rows: u64,
    pub ceiling_requests: u64,
    pub saves: u64,
    pub save_rate: u64,
    pub concurrency: u64,
    pub batch: u64,
}

impl Sizes {
    fn from_env() -> Sizes {
        Sizes {
            rows: env_u64("BENCH_ROWS", 100_000),
            ceiling_requests: env_u64("BENCH_CEILING_REQUESTS", 20_000),
            saves: env_u64("BENCH_SAVES", 1_000),
            save_rate: env_u64("BENCH_SAVE_RATE", 50).max(1),
            concurrency: env_u64("BENCH_CONCURRENCY", 32).max(1),
            batch: env_u64("BENCH_BATCH", 500).max(1),
        }
    }

    /// The `[relay]` section every run uses: no rate limit, the default poll interval (5 s).
    pub fn relay_settings(&self) -> String {
        format!(
            "concurrency = {}\nbatch_size = {}\nmax_requests_per_second = 0",
            self.concurrency, self.batch
        )
    }
}

/// The fake's rule for answers that take `delay_ms` (none for instant answers).
pub fn answer_rules(delay_ms: u64) -> Vec<String> {
    if delay_ms == 0 {
        Vec::new()
    } else {
        vec![format!("delay_ms={delay_ms}")]
    }
}

fn main() {
    // `cargo bench` adds `--bench`; anything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let db = || kind(opt("--db").expect("--db sqlite|postgres"));
    let delay = || {
        opt("--delay-ms")
            .map(|v| v.parse().expect("--delay-ms: a number"))
            .unwrap_or(0)
    };
    let sizes = Sizes::from_env();
    match args.first().map(String::as_str) {
        Some("drain") => drain::drain(db(), delay(), &sizes),
        Some("http-ceiling") => drain::http_ceiling(delay(), &sizes),
        Some("db-ceiling") => drain::db_ceiling(db(), &sizes),
        Some("latency") => latency::latency(db(), &sizes),
        Some("report") => report::report(&sizes),
        Some(other) => panic!("unknown step `{other}`; see the header of benches/relay/main.rs"),
        None => {
            for kind in [Kind::Sqlite, Kind::Postgres] {
                drain::db_ceiling(kind, &sizes);
            }
            for delay in [0, 20] {
                drain::http_ceiling(delay, &sizes);
            }
            for kind in [Kind::Sqlite, Kind::Postgres] {
                for delay in [0, 20] {
                    drain::drain(kind, delay, &sizes);
                }
            }
            for kind in [Kind::Sqlite, Kind::Postgres] {
                latency::latency(kind, &sizes);
            }
            report::report(&sizes);
        }
    }
}
