//! Configuration precedence through the real binary (docs/contracts.md, Configuration): defaults <
//! the file (`./digis-relay.toml` < `DIGIS_RELAY_CONFIG` < `--config`) < `DIGIS_RELAY_<KEY>` <
//! `DATABASE_URL` < flags. Each layer is shown to win over the one below it by what the
//! commands reveal of the effective value: which database `status --json` read (each candidate
//! database is paused with its layer's name as the reason), the Digis endpoint and `useDigis` it
//! prints, the log folder and export address `doctor` checks, and the address `run` listens on.
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::Utc;

use crate::both_databases;
use crate::common::{command, RunningService, TestDb};

both_databases!(each_layer_overrides_the_one_below);

/// `digis-relay ARGS` in `dir`, with `env` and none of the test's own configuration variables.
fn bin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.current_dir(dir)
        .args(args)
        .env_remove("DIGIS_RELAY_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn status(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["status", "--json"]);
    let out = bin(dir, &all, env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} {env:?}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // DESIGN §8: 0 when delivery is healthy, 1 when it is not (no relay runs here).
    let want = if v["health"]["healthy"] == true { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(want), "{args:?} {env:?}: {v}");
    v
}

fn doctor(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = args.to_vec();
    all.extend(["doctor", "--no-network"]);
    String::from_utf8(bin(dir, &all, env).stdout).unwrap()
}

/// The `doctor` line of one check.
fn check_line<'a>(doctor: &'a str, name: &str) -> &'a str {
    doctor
        .lines()
        .find(|l| {
            l.get(9..)
                .is_some_and(|rest| rest.starts_with(&format!("{name:<16} ")))
        })
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{doctor}"))
}

/// Which database a `status --json` read: the layer named by its pause reason.
fn layer(v: &serde_json::Value) -> &str {
    v["pause_reason"]
        .as_str()
        .and_then(|r| r.strip_prefix("layer "))
        .unwrap_or_else(|| panic!("{v}"))
}

fn write_file(path: &Path, database_url: &str, dir: &Path, tag: &str) {
    std::fs::write(
        path,
        format!(
            "database_url = \"{database_url}\"\nlog_dir = \"{}\"\nuseDigis = true\n\
             digisUrl = \"https://{tag}.digis.invalid\"\ndigisUrlPostfix = \"brp?token=T\"\n\
             [export]\nlisten = \"127.0.0.2:0\"\n",
            dir.join(format!("logs-{tag}")).display()
        ),
    )
    .unwrap();
}

async fn each_layer_overrides_the_one_below(db: TestDb) {
    // One database per layer, told apart by the reason it is paused with. The flag's is the
    // test's own (SQLite or PostgreSQL); the rest are SQLite files.
    let file_db = TestDb::sqlite().await;
    let env_db = TestDb::sqlite().await;
    let url_db = TestDb::sqlite().await;
    for (d, name) in [
        (&file_db, "file"),
        (&env_db, "DIGIS_RELAY_DATABASE_URL"),
        (&url_db, "DATABASE_URL"),
        (&db, "--database-url"),
    ] {
        d.storage
            .pause(&format!("layer {name}"), "test", Utc::now())
            .await
            .unwrap();
    }
    let dir = db.dir.path();
    let file: PathBuf = dir.join("layers.toml");
    write_file(&file, &file_db.url, dir, "file");
    let f = file.to_str().unwrap();

    // database_url: the file < DIGIS_RELAY_DATABASE_URL < DATABASE_URL < --database-url.
    let v = status(dir, &["--config", f], &[]);
    assert_eq!(layer(&v), "file");
    assert_eq!(v["database"], file_db.url);
    assert_eq!(v["use_digis"], true);
    assert!(
        v["digis_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://file.digis.invalid/"),
        "{v}"
    );
    let env_url = [("DIGIS_RELAY_DATABASE_URL", env_db.url.as_str())];
    assert_eq!(
        layer(&status(dir, &["--config", f], &env_url)),
        "DIGIS_RELAY_DATABASE_URL"
    );
    let both_env = [
        ("DIGIS_RELAY_DATABASE_URL", env_db.url.as_str()),
        ("DATABASE_URL", url_db.url.as_str()),
    ];
    assert_eq!(
        layer(&status(dir, &["--config", f], &both_env)),
        "DATABASE_URL"
    );
    assert_eq!(
        layer(&status(
            dir,
            &["--config", f],
            &[("DATABASE_URL", &url_db.url)]
        )),
        "DATABASE_URL",
        "DATABASE_URL alone beats the file too"
    );
    let v = status(dir, &["--config", f, "--database-url", &db.url], &both_env);
    assert_eq!(layer(&v), "--database-url");
    assert_eq!(
        v["database"],
        digis_relay::util::redact_db_url(&db.url),
        "{v}"
    );

    // Keys without a flag: the environment beats the file (the integration note's camelCase name in the
    // file, the snake_case one in the environment).
    let env_keys = [
        ("DIGIS_RELAY_USE_DIGIS", "false"),
        ("DIGIS_RELAY_DIGIS_URL", "https://env.digis.invalid"),
    ];
    let v = status(dir, &["--config", f], &env_keys);
    assert_eq!(v["use_digis"], false, "{v}");
    assert!(
        v["digis_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://env.digis.invalid/"),
        "{v}"
    );

    // log_dir: the file < DIGIS_RELAY_LOG_DIR < --log-dir; export.listen: the file <
    // DIGIS_RELAY_EXPORT__LISTEN (nested keys joined by `__`).
    let logs = |tag: &str| dir.join(format!("logs-{tag}")).display().to_string();
    let d = doctor(dir, &["--config", f], &[]);
    assert!(check_line(&d, "log folder").contains(&logs("file")), "{d}");
    let env_logs = logs("env");
    let env_more = [
        ("DIGIS_RELAY_LOG_DIR", env_logs.as_str()),
        ("DIGIS_RELAY_EXPORT__LISTEN", "127.0.0.3:0"),
        ("DIGIS_RELAY_EXPORT__TOKEN", "env-export-token-0001"),
    ];
    let d = doctor(dir, &["--config", f], &env_more);
    assert!(check_line(&d, "log folder").contains(&env_logs), "{d}");
    assert!(
        check_line(&d, "export").contains("served on 127.0.0.3:0"),
        "{d}"
    );
    let flag_logs = logs("flag");
    let d = doctor(dir, &["--config", f, "--log-dir", &flag_logs], &env_more);
    assert!(check_line(&d, "log folder").contains(&flag_logs), "{d}");

    // The address `run` listens on: the file < the environment < `--listen`.
    let run = |extra_env: &[(&str, &str)], listen: Option<&str>| {
        let mut cmd = command();
        cmd.current_dir(dir)
            .args(["--config", f, "--database-url", &db.url, "run"])
            .env_remove("DIGIS_RELAY_CONFIG");
        if let Some(l) = listen {
            cmd.args(["--listen", l]);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        RunningService::spawn(cmd)
    };
    let svc = run(&[], None);
    assert_eq!(svc.addr.ip().to_string(), "127.0.0.2", "from the file");
    svc.stop_gracefully();
    let svc = run(&env_more, None);
    assert_eq!(
        svc.addr.ip().to_string(),
        "127.0.0.3",
        "from the environment"
    );
    svc.stop_gracefully();
    let svc = run(&env_more, Some("127.0.0.1:0"));
    assert_eq!(svc.addr.ip().to_string(), "127.0.0.1", "from --listen");
    // What it serves is the flag's database.
    let health: serde_json::Value = reqwest::get(svc.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["pause_reason"], "layer --database-url", "{health}");
    svc.stop_gracefully();

    // The file itself: ./digis-relay.toml < DIGIS_RELAY_CONFIG < --config.
    write_file(&dir.join("digis-relay.toml"), &file_db.url, dir, "cwd");
    let env_file = dir.join("from-env.toml");
    write_file(&env_file, &env_db.url, dir, "envfile");
    let flag_file = dir.join("from-flag.toml");
    write_file(&flag_file, &url_db.url, dir, "flagfile");
    let database = |v: serde_json::Value| v["database"].as_str().unwrap().to_string();
    assert_eq!(
        database(status(dir, &[], &[])),
        file_db.url,
        "./digis-relay.toml"
    );
    let env_config = [("DIGIS_RELAY_CONFIG", env_file.to_str().unwrap())];
    assert_eq!(
        database(status(dir, &[], &env_config)),
        env_db.url,
        "the file DIGIS_RELAY_CONFIG names"
    );
    assert_eq!(
        database(status(
            dir,
            &["--config", flag_file.to_str().unwrap()],
            &env_config
        )),
        url_db.url,
        "the file --config names"
    );
}
