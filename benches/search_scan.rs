//! Throughput of the support search's log scanner beside `grep -F`, on one generated sync log.
//!
//! `cargo bench --bench search_scan` writes a ~1 GB `scheduler_digis_sync.txt` in a temporary
//! folder (`SEARCH_BENCH_MB` changes the size, `SEARCH_BENCH_DIR` the folder), then times, in
//! the same run and on the same file (already in the page cache after writing):
//! - our scanner (`digis_relay::search::logscan::scan_path`) for one ExtInfo20 term, whole-token,
//!   with line numbers and field parsing of each hit;
//! - `grep -F -n` for the same literal (no token boundary: the cheapest possible search).
//!
//! It checks that the scanner finds exactly the planted lines and none of the near misses.
use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use digis_relay::domain::AttemptOutcome;
use digis_relay::search::logscan;
use digis_relay::search::SearchTerm;
use digis_relay::synclog::{SyncLine, FILE_NAME};

const CARD: &str = "0034231451";
/// Lines that contain the card's digits but are other cards: must not match.
const NEAR_MISSES: [&str; 3] = ["00342314510", "034231451", "0034231451-2"];

fn main() {
    let mb: u64 = std::env::var("SEARCH_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let base = std::env::var_os("SEARCH_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let path = dir.path().join(FILE_NAME);

    let t = Instant::now();
    let (lines, planted) = generate(&path, mb * 1024 * 1024);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let size_mb = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "generated {} ({size_mb:.0} MB, {lines} lines, {planted} lines for ExtInfo20:{CARD}) in {:.1} s",
        path.display(),
        t.elapsed().as_secs_f64()
    );

    let term: SearchTerm = format!("ExtInfo20:{CARD}").parse().unwrap();
    let keys = logscan::LogKeys::of(&term);
    let mut best_ours = f64::MAX;
    let mut best_grep = f64::MAX;
    // Alternate the two, three rounds each, and keep the best of each: the machine is shared.
    for round in 1..=3 {
        let t = Instant::now();
        let mut hits = Vec::new();
        let scanned = logscan::scan_path(&path, &keys, None, &mut hits).expect("scan");
        let ours = t.elapsed().as_secs_f64();
        assert_eq!(hits.len() as u64, planted, "scanner hits");
        assert_eq!(scanned.matching_lines, planted);
        assert!(hits
            .iter()
            .all(|h| h.fields.card_number.as_deref() == Some(CARD)));

        let t = Instant::now();
        let out = Command::new("grep")
            .arg("-F")
            .arg("-n")
            .arg(format!("ExtInfo20:{CARD}"))
            .arg(&path)
            .output()
            .expect("grep runs");
        let grep = t.elapsed().as_secs_f64();
        // grep -F has no token boundary: it also finds the near misses that start alike.
        let grep_lines = out.stdout.iter().filter(|b| **b == b'\n').count();
        println!(
            "round {round}: search {ours:.3} s ({:.0} MB/s, {} hits) · grep -F -n {grep:.3} s ({:.0} MB/s, {grep_lines} lines)",
            size_mb / ours,
            hits.len(),
            size_mb / grep,
        );
        best_ours = best_ours.min(ours);
        best_grep = best_grep.min(grep);
    }
    println!(
        "best of 3 on {size_mb:.0} MB: digis-relay search {:.0} MB/s ({best_ours:.2} s) · grep -F {:.0} MB/s ({best_grep:.2} s)",
        size_mb / best_ours,
        size_mb / best_grep
    );
}

/// Writes realistic lines (the relay's own renderer) until `target` bytes; returns the number
/// of lines and of lines planted for [`CARD`].
fn generate(path: &std::path::Path, target: u64) -> (u64, u64) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*: deterministic, no dependency.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let (mut written, mut lines, mut planted) = (0u64, 0u64, 0u64);
    let outcomes = [
        AttemptOutcome::Sent,
        AttemptOutcome::Sent,
        AttemptOutcome::Sent,
        AttemptOutcome::Sent,
        AttemptOutcome::Retry,
        AttemptOutcome::Failed,
        AttemptOutcome::Discarded,
    ];
    while written < target {
        let r = next();
        let card = match lines % 50_000 {
            0 => {
                planted += 1;
                CARD.to_string()
            }
            1..=3 => NEAR_MISSES[(lines % 50_000 - 1) as usize].to_string(),
            _ => format!("{:010}", r % 10_000_000_000),
        };
        let outcome = outcomes[(r % 7) as usize];
        let sent = outcome == AttemptOutcome::Sent;
        let ext = format!("TE-{}", r % 100_000_000);
        let line = SyncLine {
            at: start + Duration::milliseconds((lines * 250) as i64),
            relay_id: "relay-a1b2c3",
            subscription_id: (r >> 20) as i64 % 2_000_000 + 1,
            card_number: Some(&card),
            outbox_id: lines as i64 + 1,
            person_id: (r >> 8) as i64 % 5_000_000 + 1,
            attempt: 1 + (r % 3) as i32,
            outcome,
            http_status: Some(if sent { 200 } else { 503 }),
            external_id: sent.then_some(ext.as_str()),
            ms: (r % 900) as i64,
            given_back: None,
            error: (outcome == AttemptOutcome::Retry)
                .then_some("Digis answered 503 Service Unavailable"),
        }
        .render();
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        written += line.len() as u64 + 1;
        lines += 1;
    }
    w.flush().unwrap();
    (lines, planted)
}
