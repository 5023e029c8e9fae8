//! Issue 25, item 10: what `status`, `run`, `migrate` and `demo` say, through the real binary.
//! `status` reads one assessment (exit 0 healthy, 1 not, 2 bad arguments, 3 could not read);
//! `run --once` from cron leaves one relay row, not one a run; delays under a second read in
//! ms; `run` says where it listens once; a second `migrate` says nothing changed; `demo --help`
//! lists only what the demo uses.
use std::process::Output;

use crate::both_databases;
use crate::common::{cli, command, open_fake, write_config, Kind, TestDb};

both_databases!(
    run_once_leaves_one_relay_row_and_status_agrees_with_itself,
    a_second_migrate_says_nothing_changed
);

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Three `run --once` (cron) leave one relay row: the last one, stopped. `status` then says
/// delivery is not running beside `NO RELAY SEEN` (it said `delivery running`), exits 1 with
/// `unhealthy`, and shows a 107 ms delay as `107ms` (it said `0s`).
async fn run_once_leaves_one_relay_row_and_status_agrees_with_itself(db: TestDb) {
    db.active_with(1, &[1]).await;
    let fake = open_fake().await;
    let config = write_config(&db, &fake.base_url(), "[export]\nlisten = \"\"\n");
    for run in 0..3 {
        let out = cli(&config, &["run", "--once"]);
        assert!(out.status.success(), "run {run}: {:?}", text(&out));
    }
    let relays = db.storage().relays().await.unwrap();
    assert_eq!(relays.len(), 1, "{relays:?}");
    assert_eq!(relays[0].state.as_str(), "stopped");

    // The one sent row took 107 ms from save to sent.
    db.exec(match db.kind {
        Kind::Sqlite => {
            "UPDATE digis_outbox SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', sent_at, '-0.107 seconds') WHERE state = 'sent'"
        }
        Kind::Postgres => {
            "UPDATE digis_outbox SET created_at = sent_at - interval '107 milliseconds' WHERE state = 'sent'"
        }
    })
    .await;
    let out = cli(&config, &["status"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("health     unhealthy"), "{stdout}");
    assert!(stdout.contains("NO RELAY SEEN"), "{stdout}");
    assert!(!stdout.contains("delivery   running"), "{stdout}");
    assert!(stdout.contains("delivery   NOT RUNNING"), "{stdout}");
    assert!(stdout.contains("p50 107ms"), "{stdout}");
    assert!(!stdout.contains("p50 0s"), "{stdout}");
    let out = cli(&config, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), &v["health"]["healthy"]),
        (Some(1), &serde_json::json!(false))
    );
    assert_eq!(v["relays"].as_array().unwrap().len(), 1, "{v}");
}

/// The second `migrate` of a database says it is up to date, not `migrated` again.
async fn a_second_migrate_says_nothing_changed(db: TestDb) {
    let db = TestDb::bare(db.kind).await;
    let config = write_config(&db, "http://127.0.0.1:9", "");
    let first = cli(&config, &["migrate", "--host-schema"]);
    let (out1, err1) = text(&first);
    assert!(first.status.success(), "{out1}{err1}");
    assert!(out1.contains("migrated"), "{out1}");
    let second = cli(&config, &["migrate", "--host-schema"]);
    let (out2, err2) = text(&second);
    assert!(second.status.success(), "{out2}{err2}");
    assert_ne!(out1, out2);
    assert!(out2.contains("is up to date"), "{out2}");
    assert!(!out2.contains("migrated"), "{out2}");
    // The first run names what it applied.
    assert!(out1.contains("applied migration(s) 0001, 0002"), "{out1}");
}

/// `status`'s exit codes: 2 for bad arguments, 3 when it could not read (a configuration that
/// does not load, an unreachable database), never 1 (which means "not healthy").
#[test]
fn status_exits_2_for_bad_arguments_and_3_when_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[relay]\nbatch_size = \"lots\"\n").unwrap();
    let out = cli(&bad, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("relay.batch_size"),
        "{:?}",
        text(&out)
    );
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = cli(
        &empty,
        &[
            "--database-url",
            "postgres://postgres@127.0.0.1:1/none",
            "status",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let out = cli(&empty, &["status", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
}

/// `run` says where it listens once (it said it twice: on stderr and again in its log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_announces_its_listener_once() {
    let db = TestDb::sqlite().await;
    let config = write_config(&db, "http://127.0.0.1:9", "");
    let svc = crate::common::RunningService::start(&config);
    let addr = svc.addr.to_string();
    let (_, stderr) = svc.terminate();
    assert_eq!(stderr.matches(&addr).count(), 1, "{stderr}");
}

/// `demo --help` lists only what the demo uses: it makes its own database, logs and
/// configuration in --dir, so the global options are not listed, and given anyway they are
/// refused (exit 2) rather than silently ignored.
#[test]
fn demo_help_lists_only_what_the_demo_uses() {
    let help = command().args(["demo", "--help"]).output().unwrap();
    let (stdout, _) = text(&help);
    assert!(help.status.success());
    assert!(
        stdout.contains("--headless") && stdout.contains("--dir"),
        "{stdout}"
    );
    for ignored in ["--database-url", "--log-dir", "--config"] {
        assert!(!stdout.contains(ignored), "{ignored} in {stdout}");
    }
    // Commands that read the configuration still list them.
    let status = command().args(["status", "--help"]).output().unwrap();
    assert!(text(&status).0.contains("--database-url"));
    let dir = tempfile::tempdir().unwrap();
    let out = command()
        .current_dir(dir.path())
        .args(["demo", "--headless", "--database-url", "sqlite://x.db"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--database-url") && stderr.contains("demo"),
        "{stderr}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}
