//! Secrets out of the configuration text (issue 26, DESIGN §9), through the real binary: each
//! secret read from a file named in the configuration file (`<key>_file`), in the environment
//! (`DIGIS_RELAY_<KEY>_FILE`) or found in systemd's credentials directory
//! (`$CREDENTIALS_DIRECTORY/<key>`); the layers' order; a value and its file together refused;
//! a missing, empty, too big or multi-line file refused in one line naming the key and path
//! without the content; a PostgreSQL password from a file that connects and never shows; and
//! `doctor`'s warning for a secret file others can read.
use crate::common::doctor_must as must;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{command, open_fake, RunningService, TestDb};

const EXPORT_TOKEN: &str = "file-export-token-0001";
/// Digis answers 401 to this one and `doctor` says so: proof that the file's content became
/// `digisUrlPostfix`, without a Digis.
const PLACEHOLDER_POSTFIX: &str = "brp?token=APIKEY_FROM_WAYS";

/// `digis-relay ARGS` in `dir` with `env` and none of the variables of the test's own
/// environment that would choose a configuration or a secret.
fn bin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command();
    cmd.current_dir(dir).args(args);
    clean(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn clean(cmd: &mut Command) {
    for var in [
        "DATABASE_URL",
        "DIGIS_RELAY_CONFIG",
        "CREDENTIALS_DIRECTORY",
        "DIGIS_RELAY_DATABASE_URL",
        "DIGIS_RELAY_DATABASE_URL_FILE",
        "DIGIS_RELAY_DIGIS_URL_POSTFIX",
        "DIGIS_RELAY_DIGIS_URL_POSTFIX_FILE",
        "DIGIS_RELAY_EXPORT__TOKEN",
        "DIGIS_RELAY_EXPORT__TOKEN_FILE",
        "DIGIS_RELAY_EXPORT__METRICS_TOKEN",
        "DIGIS_RELAY_EXPORT__METRICS_TOKEN_FILE",
    ] {
        cmd.env_remove(var);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A secret file with mode 0600, as an operator makes one.
fn secret(path: &Path, content: &str) -> PathBuf {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_path_buf()
}

/// A configuration file without secrets (mode 0600), in `dir`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("digis-relay.toml");
    std::fs::write(
        &path,
        format!(
            "log_dir = \"{}\"\nuseDigis = true\ndigisUrl = \"https://digis.invalid\"\n[export]\nlisten = \"127.0.0.1:0\"\n{extra}",
            dir.join("logs").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn status_database(dir: &Path, cfg: &Path, env: &[(&str, &str)]) -> String {
    let out = bin(
        dir,
        &["--config", cfg.to_str().unwrap(), "status", "--json"],
        env,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{env:?}: {e}: {}", text(&out)));
    v["database"].as_str().unwrap().to_string()
}

/// What `doctor` proves about the secrets read: the placeholder postfix from its file, an
/// export token present, and each secret's source named.
fn doctor_sees_the_secrets(dir: &Path, cfg: &Path, env: &[(&str, &str)], sources: &[&str]) {
    let out = bin(
        dir,
        &["--config", cfg.to_str().unwrap(), "doctor", "--no-network"],
        env,
    );
    let t = text(&out);
    let token = must(&t, "digis token");
    assert!(
        token.starts_with("error") && token.contains("placeholder"),
        "the postfix file's content is the postfix: {t}"
    );
    assert!(must(&t, "export").contains("with a token"), "{t}");
    let listed = must(&t, "secret sources");
    for s in sources {
        assert!(listed.contains(s), "`{s}` not in: {listed}");
    }
    assert!(!t.contains(EXPORT_TOKEN), "{t}");
}

/// `run` with `env`: the export answers the token read from a file, and only it.
async fn export_authorises(dir: &Path, cfg: &Path, env: &[(&str, &str)]) {
    let mut cmd = command();
    cmd.current_dir(dir).args([
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--listen",
        "127.0.0.1:0",
    ]);
    clean(&mut cmd);
    // Nothing to send to: the listener is what is tested.
    cmd.env("DIGIS_RELAY_USE_DIGIS", "false");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let svc = RunningService::spawn(cmd);
    let http = reqwest::Client::new();
    let get = |token: &str| {
        http.get(svc.url("/export/DigisAllActive"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get(EXPORT_TOKEN).await.unwrap().status(), 200);
    assert_eq!(get("another-token-of-22-ch").await.unwrap().status(), 401);
    let (_, stderr) = svc.terminate();
    assert!(!stderr.contains(EXPORT_TOKEN), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_secret_from_a_file_named_in_the_config_file() {
    let db = TestDb::sqlite().await;
    let dir = db.dir.path();
    std::fs::create_dir(dir.join("secrets")).unwrap();
    secret(
        &dir.join("secrets/postfix"),
        &format!("{PLACEHOLDER_POSTFIX}\n"),
    );
    // Written by an editor on Windows: the \r\n is trimmed too.
    secret(&dir.join("secrets/export"), &format!("{EXPORT_TOKEN}\r\n"));
    secret(&dir.join("secrets/metrics"), "metrics-token-0001\n");
    secret(&dir.join("secrets/db"), &format!("{}\n", db.url));
    // Relative, and the integration note's spelling: under the file's folder, whatever the working folder.
    let cfg = config(
        dir,
        "token_file = \"secrets/export\"\nmetrics_token_file = \"secrets/metrics\"\n",
    );
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.insert_str(
        0,
        "digisUrlPostfix_file = \"secrets/postfix\"\ndatabase_url_file = \"secrets/db\"\n",
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(status_database(elsewhere.path(), &cfg, &[]), db.url);
    let path = |n: &str| dir.join("secrets").join(n).display().to_string();
    doctor_sees_the_secrets(
        elsewhere.path(),
        &cfg,
        &[],
        &[
            &format!(
                "digis_url_postfix from {} (digis_url_postfix_file)",
                path("postfix")
            ),
            &format!("export.token from {} (export.token_file)", path("export")),
            &format!("export.metrics_token from {}", path("metrics")),
            &format!("database_url from {}", path("db")),
        ],
    );
    export_authorises(elsewhere.path(), &cfg, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_secret_from_a_file_named_in_the_environment() {
    let db = TestDb::sqlite().await;
    let dir = db.dir.path();
    let postfix = secret(&dir.join("postfix"), &format!("{PLACEHOLDER_POSTFIX}\n"));
    let export = secret(&dir.join("export"), &format!("{EXPORT_TOKEN}\n"));
    let metrics = secret(&dir.join("metrics"), "metrics-token-0001\n");
    let url = secret(&dir.join("db"), &db.url);
    let cfg = config(dir, "");
    let env = [
        (
            "DIGIS_RELAY_DIGIS_URL_POSTFIX_FILE",
            postfix.to_str().unwrap(),
        ),
        ("DIGIS_RELAY_EXPORT__TOKEN_FILE", export.to_str().unwrap()),
        (
            "DIGIS_RELAY_EXPORT__METRICS_TOKEN_FILE",
            metrics.to_str().unwrap(),
        ),
        ("DIGIS_RELAY_DATABASE_URL_FILE", url.to_str().unwrap()),
    ];
    assert_eq!(status_database(dir, &cfg, &env), db.url);
    doctor_sees_the_secrets(
        dir,
        &cfg,
        &env,
        &[
            "digis_url_postfix from",
            "(DIGIS_RELAY_DIGIS_URL_POSTFIX_FILE)",
            "(DIGIS_RELAY_EXPORT__TOKEN_FILE)",
            "(DIGIS_RELAY_EXPORT__METRICS_TOKEN_FILE)",
            "(DIGIS_RELAY_DATABASE_URL_FILE)",
        ],
    );
    export_authorises(dir, &cfg, &env).await;
    // DATABASE_URL keeps working, and beats DIGIS_RELAY_DATABASE_URL_FILE as it beats
    // DIGIS_RELAY_DATABASE_URL.
    let other = TestDb::sqlite().await;
    let mut with_url = env.to_vec();
    with_url.push(("DATABASE_URL", &other.url));
    assert_eq!(status_database(dir, &cfg, &with_url), other.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_secret_from_the_systemd_credentials_directory() {
    let db = TestDb::sqlite().await;
    let dir = db.dir.path();
    let creds = dir.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    secret(&creds.join("digis_url_postfix"), PLACEHOLDER_POSTFIX);
    secret(&creds.join("export.token"), &format!("{EXPORT_TOKEN}\n"));
    secret(&creds.join("export.metrics_token"), "metrics-token-0001");
    secret(&creds.join("database_url"), &db.url);
    // The example's empty token does not hide the credential.
    let cfg = config(dir, "token = \"\"\n");
    let env = [("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())];
    assert_eq!(status_database(dir, &cfg, &env), db.url);
    let cred = |n: &str| format!("{n} from credential {}", creds.join(n).display());
    doctor_sees_the_secrets(
        dir,
        &cfg,
        &env,
        &[
            &cred("digis_url_postfix"),
            &cred("export.token"),
            &cred("export.metrics_token"),
            &cred("database_url"),
        ],
    );
    export_authorises(dir, &cfg, &env).await;

    // A value in the configuration file beats the credential, and `doctor` says the
    // credential is not used.
    let cfg = config(dir, "token = \"config-file-token-0001\"\n");
    let t = text(&bin(
        dir,
        &["--config", cfg.to_str().unwrap(), "doctor", "--no-network"],
        &env,
    ));
    let unused = t
        .lines()
        .find(|l| l.contains("secret sources") && l.starts_with("warning"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        unused.contains(&creds.join("export.token").display().to_string())
            && unused.contains("is not used"),
        "{unused}"
    );
    assert!(
        !t.contains("config-file-token-0001") && !t.contains(EXPORT_TOKEN),
        "{t}"
    );
}

#[tokio::test]
async fn a_value_and_its_file_in_one_place_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tok = secret(&d.join("tok"), EXPORT_TOKEN);
    let cfg = config(
        d,
        &format!(
            "token = \"config-file-token-0001\"\ntoken_file = \"{}\"\n",
            tok.display()
        ),
    );
    let out = bin(d, &["--config", cfg.to_str().unwrap(), "status"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: invalid configuration: `export.token`: both export.token and export.token_file are set; keep one",
    );
    assert!(!out.status.success());
    let cfg = config(d, "");
    let out = bin(
        d,
        &["--config", cfg.to_str().unwrap(), "status"],
        &[
            ("DIGIS_RELAY_EXPORT__TOKEN", "env-export-token-0001"),
            ("DIGIS_RELAY_EXPORT__TOKEN_FILE", tok.to_str().unwrap()),
        ],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("`export.token`: both DIGIS_RELAY_EXPORT__TOKEN and DIGIS_RELAY_EXPORT__TOKEN_FILE are set; keep one"),
        "{t}"
    );
    assert!(
        !t.contains("env-export-token-0001") && !t.contains(EXPORT_TOKEN),
        "{t}"
    );
}

/// A file that cannot be the secret: one line naming what to fix and the file, never its
/// content, and a non-zero exit before anything runs.
#[tokio::test]
async fn a_missing_empty_too_big_or_multiline_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    const CONTENT: &str = "SECRETCONTENT";
    let big = secret(
        &d.join("big"),
        &CONTENT.repeat(64 * 1024 / CONTENT.len() + 1),
    );
    let empty = secret(&d.join("empty"), "\n");
    let two = secret(&d.join("two"), &format!("{CONTENT}0001\n{CONTENT}0002\n"));
    let missing = d.join("missing");
    let creds = d.join("creds");
    std::fs::create_dir(&creds).unwrap();
    secret(&creds.join("export.token"), "");
    let path = |p: &Path| p.display().to_string();
    // (the configuration file's [export] lines, the environment, what the error names, the
    // file it names, why)
    let cases = [
        (
            format!("token_file = \"{}\"\n", path(&missing)),
            None,
            "`export.token_file`",
            path(&missing),
            "does not exist",
        ),
        (
            String::new(),
            Some(("DIGIS_RELAY_DATABASE_URL_FILE", path(&big))),
            "`DIGIS_RELAY_DATABASE_URL_FILE`",
            path(&big),
            "larger than 64 KiB",
        ),
        (
            String::new(),
            Some(("DIGIS_RELAY_DIGIS_URL_POSTFIX_FILE", path(&empty))),
            "`DIGIS_RELAY_DIGIS_URL_POSTFIX_FILE`",
            path(&empty),
            "is empty",
        ),
        (
            format!("metrics_token_file = \"{}\"\n", path(&two)),
            None,
            "`export.metrics_token_file`",
            path(&two),
            "line break",
        ),
        (
            String::new(),
            Some(("CREDENTIALS_DIRECTORY", path(&creds))),
            "`export.token`: the systemd credential",
            path(&creds.join("export.token")),
            "is empty",
        ),
    ];
    for (toml, env, key, file, why) in cases {
        let cfg = config(d, &toml);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for args in [
            &["status"][..],
            &["doctor", "--no-network"],
            &["run", "--once"],
        ] {
            let mut all = vec!["--config", cfg.to_str().unwrap()];
            all.extend(args);
            let out = bin(d, &all, &env);
            let t = text(&out);
            assert!(!out.status.success(), "{args:?} {env:?}: {t}");
            assert_eq!(t.trim().lines().count(), 1, "{t}");
            assert!(
                t.starts_with("error: invalid configuration: ")
                    && t.contains(key)
                    && t.contains(&file)
                    && t.contains(why),
                "{key}: {t}"
            );
            assert!(!t.contains(CONTENT), "{t}");
        }
    }
}

/// The validation a value gets applies to a value read from a file, and says which file.
#[tokio::test]
async fn a_short_token_from_a_file_is_refused_like_a_value_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let short = secret(&d.join("short"), "shorttok\n");
    let cfg = config(d, "");
    let out = bin(
        d,
        &["--config", cfg.to_str().unwrap(), "status"],
        &[("DIGIS_RELAY_EXPORT__TOKEN_FILE", short.to_str().unwrap())],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("`export.token`: has only 8 characters")
            && t.contains(&short.display().to_string()),
        "{t}"
    );
    assert!(!t.contains("shorttok"), "{t}");
}

/// The PostgreSQL password from a file: it connects (the local server trusts, so the password
/// is carried but not checked), and it appears in no output and no log. The Digis token from a
/// credential is the one Digis receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_password_from_a_file_connects_and_never_shows() {
    const PASSWORD: &str = "SECRETPW";
    const DIGIS_TOKEN: &str = "8f3c2a1e9b7d4c60";
    let db = TestDb::postgres().await;
    db.active_with(5, &[1]).await;
    let fake = open_fake().await;
    let dir = db.dir.path();
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_password(Some(PASSWORD)).unwrap();
    let url_file = secret(&dir.join("database_url"), &format!("{url}\n"));
    let creds = dir.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    secret(
        &creds.join("digis_url_postfix"),
        &format!("brp?token={DIGIS_TOKEN}\n"),
    );
    let cfg = config(dir, "");
    let base = fake.base_url();
    let env = [
        ("DIGIS_RELAY_DATABASE_URL_FILE", url_file.to_str().unwrap()),
        ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ("DIGIS_RELAY_DIGIS_URL", base.as_str()),
    ];
    let cfg_s = cfg.to_str().unwrap();
    let mut seen = String::new();
    let out = bin(dir, &["--config", cfg_s, "status", "--json"], &env);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(v["counts"]["pending"], 1, "connected: {v}");
    seen += &text(&out);
    for args in [
        &["run", "--once"][..],
        &["status"],
        &["doctor", "--no-network"],
        &["search", "--ext-info1", "5"],
    ] {
        let mut all = vec!["--config", cfg_s];
        all.extend(args);
        let out = bin(dir, &all, &env);
        seen += &text(&out);
    }
    let received = fake.received();
    assert_eq!(received.len(), 1, "{seen}");
    assert_eq!(received[0].query_token.as_deref(), Some(DIGIS_TOKEN));
    assert_eq!(db.scalar("SELECT count(*) FROM digis").await, 1, "{seen}");
    let dead = secret(
        &dir.join("dead_url"),
        &format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/nowhere"),
    );
    let out = bin(
        dir,
        &["--config", cfg_s, "status"],
        &[("DIGIS_RELAY_DATABASE_URL_FILE", dead.to_str().unwrap())],
    );
    assert!(!out.status.success());
    seen += &text(&out);
    assert!(!seen.contains(PASSWORD), "{seen}");
    assert!(!seen.contains(DIGIS_TOKEN), "{seen}");
    let logs = walk(&dir.join("logs"));
    assert!(!logs.is_empty(), "the run left a sync log");
    for f in logs {
        let content = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(
            !content.contains(PASSWORD) && !content.contains(DIGIS_TOKEN),
            "{}",
            f.display()
        );
    }
    fake.shutdown().await;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn doctor_warns_for_a_secret_file_others_can_read() {
    let db = TestDb::sqlite().await;
    let dir = db.dir.path();
    let tok = secret(&dir.join("export-token"), EXPORT_TOKEN);
    let cfg = config(dir, &format!("token_file = \"{}\"\n", tok.display()));
    let env = [("DATABASE_URL", db.url.as_str())];
    let doctor = || {
        text(&bin(
            dir,
            &["--config", cfg.to_str().unwrap(), "doctor", "--no-network"],
            &env,
        ))
    };
    for (mode, what) in [
        (0o644, "readable by everyone"),
        (0o606, "writable by everyone"),
    ] {
        std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(mode)).unwrap();
        let t = doctor();
        let l = must(&t, "secret files");
        assert!(
            l.starts_with("warning")
                && l.contains(what)
                && l.contains("export.token")
                && l.contains(&format!("chmod 600 {}", tok.display())),
            "{mode:o}: {l}"
        );
        assert!(!t.contains(EXPORT_TOKEN), "{t}");
    }
    for mode in [0o600, 0o640, 0o400] {
        std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(mode)).unwrap();
        let t = doctor();
        let l = must(&t, "secret files");
        assert!(l.starts_with("ok"), "{mode:o}: {t}");
        assert!(l.contains(&format!("mode {mode:04o}")), "{l}");
    }
}
