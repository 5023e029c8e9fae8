//! Secrets never shown (issue 25, item 14), through the real binary: the export token sent as
//! `?%74oken=` (the query decoded, as the export reads it) is redacted from the request log;
//! a token given in the environment is taken as the text it is and never echoed in an error,
//! nor is one written with the wrong type in the file; and a duplicate key's error names the
//! duplicate's own line.
use std::time::Duration;

use crate::common::{command, eventually, RunningService, TestDb};

const EXPORT_TOKEN: &str = "12345678901234567890";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_token_key_is_redacted_wherever_it_authorises() {
    let db = TestDb::sqlite().await;
    db.active_with(5, &[1]).await;
    let cfg = db.dir.path().join("digis-relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "database_url = \"{}\"\nlog_dir = \"{}\"\nuseDigis = false\n[export]\ntoken = \"{EXPORT_TOKEN}\"\n",
            db.url,
            db.dir.path().join("logs").display()
        ),
    )
    .unwrap();
    let svc = RunningService::start(&cfg);
    let http = reqwest::Client::new();
    for query in [
        format!("%74oken={EXPORT_TOKEN}"),
        format!("format=json&to%6Ben={EXPORT_TOKEN}"),
    ] {
        let r = http
            .get(svc.url(&format!("/export/DigisAllActive?{query}")))
            .send()
            .await
            .unwrap();
        // The export decodes the query: the token authorises, however its key is spelled.
        assert_eq!(r.status(), 200, "{query}");
    }
    let logged = eventually("both requests logged", Duration::from_secs(30), || async {
        let e = svc.stderr();
        (e.matches("http request").count() >= 2).then_some(e)
    })
    .await;
    assert!(!logged.contains(EXPORT_TOKEN), "{logged}");
    assert!(
        logged.contains("%74oken=***") && logged.contains("to%6Ben=***"),
        "{logged}"
    );
    let (_, stderr) = svc.terminate();
    assert!(!stderr.contains(EXPORT_TOKEN), "{stderr}");
}

fn bin(cfg: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = command();
    cmd.args(["--config", cfg.to_str().unwrap()])
        .args(args)
        .env_remove("DIGIS_RELAY_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_secret_is_never_echoed_by_a_configuration_error() {
    let db = TestDb::sqlite().await;
    let cfg = db.dir.path().join("digis-relay.toml");
    std::fs::write(&cfg, format!("database_url = \"{}\"\n", db.url)).unwrap();
    // Digits only: still the token, as written.
    let (_, text) = bin(
        &cfg,
        &["doctor", "--no-network"],
        &[("DIGIS_RELAY_EXPORT__TOKEN", EXPORT_TOKEN)],
    );
    assert!(!text.contains(EXPORT_TOKEN), "{text}");
    let export = text
        .lines()
        .find(|l| l.contains(" export "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        export.starts_with("ok") && export.contains("with a token"),
        "{text}"
    );
    // Unquoted in the file: a type error that names the key and not the value.
    let digits = "1234567890123456";
    std::fs::write(
        &cfg,
        format!(
            "database_url = \"{}\"\n[export]\ntoken = {digits}\n",
            db.url
        ),
    )
    .unwrap();
    let (ok, text) = bin(&cfg, &["status"], &[]);
    assert!(!ok);
    assert!(text.contains("export.token"), "{text}");
    assert!(!text.contains(digits), "{text}");
    assert_eq!(text.trim().lines().count(), 1, "{text}");
}

#[tokio::test]
async fn a_duplicate_key_is_named_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("digis-relay.toml");
    std::fs::write(
        &cfg,
        "useDigis = false\nlog_dir = \"a\"\nlog_dir = \"b\"\n[relay]\nbatch_size = 1\n",
    )
    .unwrap();
    let (ok, text) = bin(&cfg, &["status"], &[]);
    assert!(!ok);
    assert!(
        text.contains(&format!("{}:3`", cfg.display())) && text.contains("duplicate"),
        "{text}"
    );
}
