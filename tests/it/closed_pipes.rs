//! Issue 25, item 12: standard output that goes away or fills up, through the real binary.
//! A closed pipe (`search ... | head -1`, `completions bash | head`) ends quietly, as `grep`
//! does: no panic, nothing on stderr, the exit status the command had anyway. Any other write
//! error (`status --json > /dev/full`) is one line on stderr and a non-zero exit, never a panic
//! (exit 101, `failed printing to stdout`).
use std::process::{Output, Stdio};

use crate::common::{command, TestDb};

/// A pipe whose reader is already gone: every write to it fails with EPIPE, deterministically
/// (a `| head -1` would race the writer).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

fn full_disk() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into()
}

fn run(db: Option<&TestDb>, args: &[&str], stdout: Stdio) -> (Option<i32>, String) {
    let mut cmd = command();
    if let Some(db) = db {
        cmd.current_dir(db.dir.path())
            .args(["--database-url", &db.url]);
    }
    let out: Output = cmd
        .args(args)
        .env("DIGIS_RELAY_LOG", "warn")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_quiet((code, stderr): (Option<i32>, String), want: i32, what: &str) {
    assert_eq!(code, Some(want), "{what}: {stderr}");
    assert_eq!(stderr.trim(), "", "{what}");
}

fn assert_one_line_error((code, stderr): (Option<i32>, String), what: &str) {
    assert!(
        !matches!(code, Some(0) | Some(101) | None),
        "{what}: exit {code:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{what}: {stderr}");
    assert!(
        stderr.contains("standard output") && stderr.contains("No space left"),
        "{what}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly_and_a_full_disk_is_one_line() {
    let db = TestDb::sqlite().await;
    db.active_with(7, &[1, 2]).await;
    // `search ... | head -1`: it matched, so 0, as grep.
    assert_quiet(
        run(Some(&db), &["search", "--ext-info1", "7"], closed_pipe()),
        0,
        "search",
    );
    assert_quiet(
        run(
            Some(&db),
            &["search", "--ext-info1", "7", "--json"],
            closed_pipe(),
        ),
        0,
        "search --json",
    );
    // No relay ran: not healthy, 1 whether or not anyone reads the output.
    assert_quiet(
        run(Some(&db), &["status", "--json"], closed_pipe()),
        1,
        "status",
    );
    assert_quiet(
        run(None, &["completions", "bash"], closed_pipe()),
        0,
        "completions",
    );
    assert_quiet(run(None, &["man"], closed_pipe()), 0, "man");
    assert_quiet(
        run(Some(&db), &["export", "DigisAllActive"], closed_pipe()),
        0,
        "export",
    );

    assert_one_line_error(
        run(Some(&db), &["status", "--json"], full_disk()),
        "status --json",
    );
    assert_one_line_error(run(Some(&db), &["status"], full_disk()), "status");
    assert_one_line_error(
        run(Some(&db), &["search", "--ext-info1", "7"], full_disk()),
        "search",
    );
    assert_one_line_error(
        run(None, &["completions", "bash"], full_disk()),
        "completions",
    );
    assert_one_line_error(
        run(Some(&db), &["report", "failures"], full_disk()),
        "report",
    );
}
