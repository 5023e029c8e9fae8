//! Two real processes share one sync-log folder across forced day changes (docs/decisions/0036-log-folder-lock.md,
//! Decisions: the folder lock): every line lands exactly once, in the file named for its day.
//!
//! The processes are this test binary run again with only [`child_writer`] selected (an
//! ignored test that does nothing unless [`CHILD_ENV`] is set). They move from day to day in
//! step through marker files, so each new day is started by both at once, where the race was.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use digis_relay::domain::AttemptOutcome;
use digis_relay::synclog::{names, parse_line, SyncLine, SyncLog};

const CHILD_ENV: &str = "DIGIS_RELAY_TEST_SYNCLOG_CHILD";
const WRITERS: i64 = 2;
const DAYS: i64 = 12;
const PER_DAY: i64 = 200;

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Waits until `path` exists (the other process reached the same point).
fn wait_for(path: &Path) {
    crate::common::eventually_blocking(
        &format!("appeared: {}", path.display()),
        Duration::from_secs(60),
        Duration::from_millis(1),
        || path.exists().then_some(()),
    );
}

/// The child: writer `w` of `WRITERS` in the folder given by [`CHILD_ENV`] (`DIR|w`).
#[test]
#[ignore = "run by two_processes_share_a_log_folder_across_day_changes as a child process"]
fn child_writer() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, w) = arg.rsplit_once('|').unwrap();
    let (dir, w): (&Path, i64) = (Path::new(dir), w.parse().unwrap());
    let logs = dir.join("logs");
    // Where two writers without the lock would both rotate: wide open, so the test notices.
    digis_relay::synclog::pause_rotation_for_tests(3);
    let log = SyncLog::open(&logs).unwrap();
    for d in 0..DAYS {
        std::fs::write(dir.join(format!("ready-{w}-{d}")), "").unwrap();
        for other in 0..WRITERS {
            wait_for(&dir.join(format!("ready-{other}-{d}")));
        }
        for i in 0..PER_DAY {
            let at = start() + chrono::Duration::days(d) + chrono::Duration::milliseconds(i);
            log.write(&SyncLine {
                at,
                relay_id: "relay-t",
                subscription_id: 1,
                card_number: Some("1"),
                outbox_id: w * 1_000_000 + d * 1_000 + i,
                person_id: 1,
                attempt: 1,
                outcome: AttemptOutcome::Sent,
                http_status: Some(200),
                external_id: None,
                ms: 1,
                given_back: None,
                error: None,
            })
            .unwrap();
        }
    }
}

#[test]
fn two_processes_share_a_log_folder_across_day_changes() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "synclog_processes::child_writer",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_ENV, format!("{}|{w}", dir.path().display()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let logs = dir.path().join("logs");
    let mut seen = std::collections::HashMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(n) = names::parse(&name) else {
            continue;
        };
        files.push(name.clone());
        let text = std::fs::read_to_string(logs.join(&name)).unwrap();
        let file_day = n
            .date
            .unwrap_or((start() + chrono::Duration::days(DAYS - 1)).date_naive());
        for l in text.lines() {
            let r = parse_line(l).unwrap_or_else(|| panic!("a broken line in {name}: {l}"));
            assert_eq!(r.at.date_naive(), file_day, "{name}: {l}");
            *seen.entry(r.outbox_id).or_insert(0) += 1;
        }
    }
    files.sort();
    assert_eq!(files.len() as i64, DAYS, "one file per day: {files:?}");
    assert_eq!(seen.len() as i64, WRITERS * DAYS * PER_DAY, "lines lost");
    assert!(seen.values().all(|n| *n == 1), "lines duplicated");
}
