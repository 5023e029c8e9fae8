//! The DigisAllActive export at 10,000 and 100,000 members: time and peak memory.
//!
//! `cargo bench --bench export` (sizes: `EXPORT_BENCH_SIZES=10000,100000`). Each size is
//! generated into its own SQLite file by one child process and exported by others (JSON and
//! CSV through `write_export` into a sink, and JSON through the HTTP endpoint read by a client
//! that discards the body), so each peak (`VmHWM` from /proc/self/status) belongs to one
//! export alone. Peak memory must not grow with the number of members: the export is paged.
//! The figures also go to `target/bench/out/export.json` for `scripts/bench`'s report.
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use digis_relay::config::Config;
use digis_relay::export::{write_export, ExportFormat};
use digis_relay::http::{serve, AppState};
use digis_relay::metrics::Metrics;
use serde_json::json;

use common::{mib, round, runtime, seed_sql, vm_hwm_kib, write_figures, Kind};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(url) = arg("--generate") {
        let n: u64 = arg("--members").unwrap().parse().unwrap();
        return runtime().block_on(generate(&url, n));
    }
    if let Some(url) = arg("--export") {
        let mode = arg("--mode").unwrap();
        return runtime().block_on(export(&url, &mode));
    }
    parent();
}

fn parent() {
    let sizes: Vec<u64> = std::env::var("EXPORT_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("EXPORT_BENCH_SIZES: numbers"))
        .collect();
    let me = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{:>9}  {:<9} {:>9} {:>12} {:>10} {:>12} {:>13}",
        "members", "mode", "seconds", "members/s", "MiB out", "peak RSS MiB", "before MiB"
    );
    let mut peaks: Vec<(u64, String, f64)> = Vec::new();
    let mut figures = Vec::new();
    for &n in &sizes {
        let url = format!("sqlite://{}", dir.path().join(format!("m{n}.db")).display());
        let started = Instant::now();
        let st = Command::new(&me)
            .args(["--generate", &url, "--members", &n.to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "generating {n} members failed");
        eprintln!(
            "(generated {n} members in {:.1}s)",
            started.elapsed().as_secs_f64()
        );
        for mode in ["json", "csv", "http-json"] {
            let out = Command::new(&me)
                .args(["--export", &url, "--mode", mode])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8(out.stdout).unwrap();
            let f: Vec<f64> = line
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let (secs, written, bytes, peak_kib, before_kib) = (f[0], f[1], f[2], f[3], f[4]);
            assert_eq!(written as u64, n, "every member exported");
            println!(
                "{:>9}  {:<9} {:>9.2} {:>12.0} {:>10.1} {:>12.1} {:>13.1}",
                n,
                mode,
                secs,
                written / secs,
                bytes / 1048576.0,
                peak_kib / 1024.0,
                before_kib / 1024.0
            );
            peaks.push((n, mode.to_string(), peak_kib));
            figures.push(json!({
                "members": n,
                "mode": mode,
                "seconds": round(secs, 3),
                "members_per_s": round(written / secs, 0),
                "mib_out": round(bytes / 1048576.0, 1),
                "peak_rss_mib": round(mib(peak_kib as u64), 1),
                "rss_before_mib": round(mib(before_kib as u64), 1),
            }));
        }
    }
    write_figures("export", &json!({"step": "export", "rows": figures}));
    if sizes.len() >= 2 {
        let (small, large) = (sizes[0], sizes[sizes.len() - 1]);
        for mode in ["json", "csv", "http-json"] {
            let peak = |n: u64| {
                peaks
                    .iter()
                    .find(|(m, md, _)| *m == n && md == mode)
                    .unwrap()
                    .2
            };
            let (a, b) = (peak(small), peak(large));
            println!(
                "{mode}: peak RSS {:.1} MiB at {small} members, {:.1} MiB at {large} members ({:+.1}%)",
                a / 1024.0,
                b / 1024.0,
                (b - a) / a * 100.0
            );
        }
    }
}

/// `N` members, seeded as every bench seeds them (`common::seed_sql`: two users per ACTIVE
/// subscription, in one write transaction of INSERT ... SELECT over a counter).
async fn generate(url: &str, n: u64) {
    let storage = digis_relay::storage::connect(url).await.unwrap();
    storage.migrate(true).await.unwrap();
    storage
        .host_exec(&seed_sql(Kind::Sqlite, n, true))
        .await
        .unwrap();
}

/// One export; prints `seconds written bytes peak_kib before_kib` on one line.
async fn export(url: &str, mode: &str) {
    let mut cfg = Config {
        database_url: url.to_string(),
        ..Config::default()
    };
    cfg.export.token = "bench".into();
    let storage = digis_relay::storage::connect(url).await.unwrap();
    storage.ping().await.unwrap();
    let before = vm_hwm_kib();
    let started = Instant::now();
    let (written, bytes) = match mode {
        "json" | "csv" => {
            let format = if mode == "csv" {
                ExportFormat::Csv
            } else {
                ExportFormat::Json
            };
            let mut sink = CountingSink(0);
            let s = write_export(
                storage.as_ref(),
                &cfg.payload,
                &cfg.export,
                format,
                &mut sink,
                |_| {},
            )
            .await
            .unwrap();
            (s.written, sink.0)
        }
        "http-json" => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = AppState {
                storage: storage.clone(),
                config: Arc::new(cfg.clone()),
                metrics: Metrics::new(),
            };
            tokio::spawn(serve(listener, state, std::future::pending()));
            let mut resp = reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .unwrap()
                .get(format!("http://{addr}/export/DigisAllActive"))
                .bearer_auth("bench")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert!(
                resp.content_length().is_none(),
                "streamed, not sized in advance"
            );
            let (mut bytes, mut objects, mut depth) = (0u64, 0u64, 0i32);
            // Counts top-level objects without parsing (no string in the data holds braces).
            while let Some(chunk) = resp.chunk().await.unwrap() {
                bytes += chunk.len() as u64;
                for b in chunk.iter() {
                    match b {
                        b'{' => {
                            if depth == 0 {
                                objects += 1;
                            }
                            depth += 1;
                        }
                        b'}' => depth -= 1,
                        _ => {}
                    }
                }
            }
            (objects, bytes)
        }
        other => panic!("unknown mode {other}"),
    };
    let secs = started.elapsed().as_secs_f64();
    println!("{secs} {written} {bytes} {} {before}", vm_hwm_kib());
}

/// A sink that counts what it is given (tokio's `sink()` would hide the size).
struct CountingSink(u64);

impl tokio::io::AsyncWrite for CountingSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0 += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
