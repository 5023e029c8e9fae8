//! Issue 25, item 13: `search` keeps a bounded number of bytes per log line, whatever a file
//! holds (a small `.gz` of one huge line took gigabytes of memory), and counts every file it
//! read, a `.gz` cut short included (it printed its lines but said `searched 0 log file(s)`).
//! The real binary, under a data limit far below the size of the line.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{command, TestDb};

const FILE: &str = "scheduler_digis_sync.txt";

fn line(day: &str, sub: i64, what: &str) -> String {
    format!(
        "{day}T12:00:00.000Z relay=r ExtInfo1:{sub}, ExtInfo20:34000001 outbox=1 person=1 attempt=1 outcome=retry status=503 external_id= ms=5 {what}\n"
    )
}

/// A data limit for the child (RLIMIT_DATA: its heap and other private writable memory).
/// Peak memory read back with `wait4(2)` would include this test process's own (a spawned
/// child inherits its parent's high-water mark across exec), so the bound is enforced instead:
/// past it an allocation fails and the binary aborts.
const DATA_LIMIT: u64 = 64 * 1024 * 1024;

fn limited(mut cmd: Command) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: DATA_LIMIT as libc::rlim_t,
                rlim_max: DATA_LIMIT as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn gzip_into(path: &Path, parts: &mut dyn FnMut(&mut dyn Write)) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    parts(&mut enc);
    enc.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_line_costs_no_memory_and_a_cut_gz_is_counted() {
    let db = TestDb::sqlite().await;
    db.active_with(7, &[1]).await;
    let logs = db.dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    // 128 MiB of one line without a newline, between two ordinary lines: ~130 KiB on disk.
    gzip_into(&logs.join(format!("{FILE}.2026-11-01.gz")), &mut |w| {
        w.write_all(line("2026-11-01", 7, "before").as_bytes())
            .unwrap();
        w.write_all(b"2026-11-01T12:00:00.000Z ExtInfo1:7, ")
            .unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..128 {
            w.write_all(&block).unwrap();
        }
        w.write_all(b"\n").unwrap();
        w.write_all(line("2026-11-01", 7, "after").as_bytes())
            .unwrap();
    });
    // A day whose .gz was cut short: its first lines are searched, and it counts.
    let mut whole = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut whole, flate2::Compression::default());
        for i in 0..2000 {
            enc.write_all(line("2026-11-02", 7, &format!("cut{i}")).as_bytes())
                .unwrap();
        }
        enc.finish().unwrap();
    }
    whole.truncate(whole.len() / 2);
    std::fs::write(logs.join(format!("{FILE}.2026-11-02.gz")), &whole).unwrap();
    std::fs::write(logs.join(FILE), line("2026-11-03", 7, "today")).unwrap();

    let mut cmd = command();
    cmd.current_dir(db.dir.path())
        .args(["--database-url", &db.url, "--log-dir"])
        .arg(&logs)
        .args(["search", "--ext-info1", "7", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Before, the whole line was kept: the search aborted at this limit (it needs over 400 MiB).
    let out = limited(cmd).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let files = v["log_files_scanned"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{}", v["log_files_scanned"]);
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("1 overlong line(s) skipped"),
        "{warnings}"
    );
    assert!(
        warnings.contains("2026-11-02.gz could not be read to its end"),
        "{warnings}"
    );
    assert_eq!(files[0]["overlong_lines"], 1, "{}", files[0]);
    assert!(files[1]["cut_short"].is_string(), "{}", files[1]);
    // The lines around the huge one, and the cut file's first lines, are all found.
    let all = stdout.as_ref();
    for seen in ["before", "after", "cut0", "today"] {
        assert!(all.contains(seen), "{seen} missing: {all}");
    }

    // The text output counts the cut file too.
    let out = command()
        .current_dir(db.dir.path())
        .args(["--database-url", &db.url, "--log-dir"])
        .arg(&logs)
        .args(["search", "--ext-info1", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("searched 3 log file(s)"), "{text}");
    assert!(text.contains("overlong line(s) skipped"), "{text}");
}
