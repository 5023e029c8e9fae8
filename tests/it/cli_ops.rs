//! The operator commands through the real binary (docs/contracts.md, CLI): what support staff type.
use std::process::Command;

use chrono::Utc;
use digis_relay::domain::{FailureCause, OutboxState};
use digis_relay::storage::{AttemptRecord, Completion};

use crate::both_databases;
use crate::common::{cli_db, command, Person, TestDb};

both_databases!(
    status_json_has_the_contract_shape,
    operator_commands_change_the_database,
    preview_prints_the_payloads,
    operator_reasons_are_cleaned_before_they_are_stored
);

/// An operator's reason is shown to everyone else (dashboard header, status, search): escapes,
/// a pasted URL's token and a runaway paste are cleaned before it is stored.
async fn operator_reasons_are_cleaned_before_they_are_stored(db: TestDb) {
    db.active_with(7, &[1]).await;
    let s = db.storage();
    let id = s
        .rows_for_subscription(digis_relay::domain::SubscriptionId(7))
        .await
        .unwrap()[0]
        .id;
    let evil = format!(
        "moved\u{1b}[2J see https://x.example/brp?token=hunter2secret\n{}",
        "y".repeat(5000)
    );
    let out = cli_db(&db, &["pause", "--reason", &evil]);
    assert!(out.ok, "{}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    let control = s.control().await.unwrap();
    let reason = control.pause_reason.unwrap();
    assert!(
        !reason.contains('\u{1b}') && !reason.contains('\n'),
        "{reason:?}"
    );
    assert!(!reason.contains("hunter2secret"), "{reason}");
    assert!(reason.starts_with("moved\\u{1b}[2J see"), "{reason}");
    assert!(reason.chars().count() <= 500, "{}", reason.len());
    let out = cli_db(&db, &["discard", &id.0.to_string(), "--reason", &evil]);
    assert!(out.ok, "{} {}", out.stdout, out.stderr);
    let row = s.outbox_row(id).await.unwrap().unwrap();
    let reason = row.reason.unwrap();
    assert!(
        !reason.contains("hunter2secret") && !reason.contains('\u{1b}'),
        "{reason}"
    );
}

async fn status_json_has_the_contract_shape(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let out = cli_db(&db, &["status", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    // No relay has run: unhealthy, so 1 (DESIGN §8), with the object printed all the same.
    assert_eq!(v["health"]["healthy"], false, "{v}");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(v["use_digis"], true);
    assert_eq!(v["paused"], false);
    assert!(v["pause_reason"].is_null());
    for state in ["pending", "sending", "sent", "failed", "discarded"] {
        assert!(v["counts"][state].is_u64(), "{state}: {v}");
    }
    assert_eq!(v["counts"]["pending"], 2);
    assert!(v["relays"].is_array());
    let human = cli_db(&db, &["status"]);
    assert!(human.stdout.contains("pending 2"), "{}", human.stdout);
    assert!(
        human.stdout.contains("no relay has ever run")
            || human.stdout.contains("none has ever run"),
        "{}",
        human.stdout
    );
}

async fn operator_commands_change_the_database(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let s = db.storage();
    let now = Utc::now();
    let claimed = s
        .claim("r", 10, std::time::Duration::from_secs(60), now)
        .await
        .unwrap();
    let a = AttemptRecord {
        started_at: now,
        duration_ms: 1,
        relay_id: "r".into(),
        http_status: Some(400),
        error: Some("bad".into()),
    };
    let failed = Completion::Failed {
        cause: FailureCause::other(),
    };
    s.complete(&claimed[0], &failed, &a, now).await.unwrap();
    s.complete(
        &claimed[1],
        &Completion::Sent {
            external_id: Some("E".into()),
        },
        &a,
        now,
    )
    .await
    .unwrap();
    let failed = claimed[0].row.id.to_string();
    let sent = claimed[1].row.id.to_string();

    let out = cli_db(&db, &["pause", "--reason", "Digis maintenance tonight"]);
    assert!(out.ok, "{}", out.stderr);
    let v: serde_json::Value =
        serde_json::from_str(cli_db(&db, &["status", "--json"]).stdout.trim()).unwrap();
    assert_eq!(
        (v["paused"].as_bool(), v["pause_reason"].as_str()),
        (Some(true), Some("Digis maintenance tonight"))
    );
    assert!(cli_db(&db, &["resume"]).ok);
    assert!(!s.control().await.unwrap().paused);

    // Retrying a sent row is refused by name; the failed one goes back.
    let out = cli_db(&db, &["retry", &failed, &sent]);
    assert_eq!(
        out.code, 2,
        "partial success is not success: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("queued 1 of 2") && out.stdout.contains(&sent),
        "{}",
        out.stdout
    );
    assert_eq!(
        s.outbox_row(claimed[0].row.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        OutboxState::Pending
    );
    let out = cli_db(&db, &["discard", &failed, "--reason", "member left"]);
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    let row = s.outbox_row(claimed[0].row.id).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.reason.as_deref()),
        (OutboxState::Discarded, Some("member left"))
    );
    // Search shows who discarded it, and why.
    let out = cli_db(&db, &["search", "--ext-info1", "5", "--json"]);
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let timeline = report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["timeline"].as_array().unwrap().clone())
        .collect::<Vec<_>>();
    let discard = timeline
        .iter()
        .find(|e| e["kind"] == "operator" && e["action"] == "discard")
        .unwrap_or_else(|| panic!("no discard event in {report}"));
    assert_eq!(discard["detail"], "member left");
    assert!(
        discard["actor"].as_str().unwrap().contains('@'),
        "{discard}"
    );
    assert!(timeline
        .iter()
        .any(|e| e["kind"] == "operator" && e["action"] == "retry"));
    let text = cli_db(&db, &["search", "--ext-info1", "5"]).stdout;
    assert!(
        text.contains("discard") && text.contains("member left"),
        "{text}"
    );
    let out = cli_db(&db, &["resend", "--subscription", "5", "--person", "2"]);
    assert!(
        out.ok && out.stdout.contains("queued 1 row"),
        "{}",
        out.stdout
    );
    let out = cli_db(&db, &["sync", "--reconcile"]);
    assert!(
        out.ok && out.stdout.contains("1 missing member(s) queued"),
        "{}",
        out.stdout
    );
    assert_eq!(s.counts().await.unwrap().pending, 2);
    // Bad input is one clear line.
    let out = cli_db(&db, &["retry", "abc"]);
    assert!(
        !out.ok && out.stderr.contains("not a valid outbox id"),
        "{}",
        out.stderr
    );
}

async fn preview_prints_the_payloads(db: TestDb) {
    let mut bad = Person::ordinary(2);
    bad.mobile_number = Some("12".into());
    db.person_with(&bad).await;
    db.active_with(863, &[1, 2]).await;
    let out = cli_db(&db, &["preview", "--subscription", "863", "--person", "1"]);
    assert!(out.ok, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["ExtInfo1"], 863);
    assert_eq!(v["ExtInfo20"], "34000001");
    assert_eq!(v["MobileCountryCode"], "46");
    let out = cli_db(&db, &["preview", "--subscription", "863"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "the good member is still printed"
    );
    assert!(
        out.stderr.contains("person 2") && out.stderr.contains("MobileNumber"),
        "{}",
        out.stderr
    );
    let out = cli_db(&db, &["preview", "--subscription", "999"]);
    assert!(
        !out.ok && out.stderr.contains("no subscription 999"),
        "{}",
        out.stderr
    );
    // Nothing was sent or queued by previewing.
    assert_eq!(db.storage.counts().await.unwrap().sending, 0);
}

#[test]
fn bad_configuration_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("digis-relay.toml"),
        "[relay]\nbatch_size = \"lots\"\n",
    )
    .unwrap();
    // `digis-relay ARGS` in the folder: what it said, once it failed.
    let fails = |args: &[&str]| {
        let out = command()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?}: {err}");
        err
    };
    let status_of = |database_url: &str| {
        fails(&[
            "--config",
            "empty.toml",
            "--database-url",
            database_url,
            "status",
        ])
    };
    let err = fails(&["status"]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("`relay.batch_size`"), "{err}");
    // An unreachable database is one line too.
    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let err = status_of("postgres://postgres@127.0.0.1:1/none");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("database unreachable"), "{err}");
    // A missing SQLite file is named, and not created as an empty database.
    let err = status_of("sqlite://missing.db");
    assert!(err.contains("no database at missing.db"), "{err}");
    assert!(!dir.path().join("missing.db").exists());
}

/// The headless demo ends with a command to paste; pasted as printed it must search the
/// database and the demo's own log folder (it once left the folder out, so search said the log
/// folder did not exist and showed the database half only).
#[test]
fn headless_demo_prints_a_search_that_finds_the_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("my demo");
    let out = command()
        .args(["demo", "--headless", "--duration", "8", "--dir"])
        .arg(&demo_dir)
        .current_dir(dir.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("why did one fail? "))
        .unwrap_or_else(|| panic!("no search hint in:\n{stdout}"));
    // Run it as a user would: pasted into a shell, from another folder, as printed (it once
    // said `digis-relay`, which is not on PATH after `cargo run`: `command not found`).
    let pasted = line.to_string();
    let out = Command::new("sh")
        .args(["-c", &pasted])
        .env("PATH", "/usr/bin:/bin")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{pasted}\n{text}");
    assert!(!text.contains("does not exist"), "{pasted}\n{text}");
    assert!(text.contains("FAILED"), "{text}");
    assert!(
        text.contains(" log  scheduler_digis_sync.txt:"),
        "no log line in the timeline:\n{text}"
    );
}
