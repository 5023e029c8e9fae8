//! `doctor`'s checks of secrets, the CA file and why Digis cannot be reached (issue 25, item 3),
//! through the real binary: the example's placeholder token, a configuration file others can
//! read, a `digis_ca_file` that holds no certificate (also refused by `run`, naming the key),
//! and the cause of an unreachable Digis: DNS, refused, certificate, plain HTTP, timeout.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::{
    doctor_line as line, doctor_must as must, plain_http, refused_port, tls_digis, tls_file,
    with_config, Out, TestConfig, TestDb,
};

/// Writes `digis-relay.toml` in the test's folder with this mode.
fn config(db: &TestDb, toml: &str, mode: u32) -> PathBuf {
    let path = TestConfig::base(db).with(toml).write_in(db);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `digis-relay --config FILE ARGS`: (success, stdout and stderr).
fn bin(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Out::of(with_config(config).args(args));
    (out.ok, out.both())
}

const REAL_TOKEN: &str = "digisUrlPostfix = \"brp?token=8f3c2a1e9b7d4c60\"\n";

#[tokio::test]
async fn the_examples_placeholder_token_is_an_error() {
    let db = TestDb::sqlite().await;
    for placeholder in ["APIKEY_FROM_WAYS", "APIKEY"] {
        let cfg = config(
            &db,
            &format!("digisUrlPostfix = \"brp?token={placeholder}\"\n"),
            0o600,
        );
        let (ok, text) = bin(&cfg, &["doctor", "--no-network"]);
        assert!(!ok, "{text}");
        let l = must(&text, "digis token");
        assert!(l.starts_with("error") && l.contains("placeholder"), "{l}");
    }
    let cfg = config(&db, REAL_TOKEN, 0o600);
    let (_, text) = bin(&cfg, &["doctor", "--no-network"]);
    assert!(must(&text, "digis token").starts_with("ok"), "{text}");
}

#[tokio::test]
async fn a_config_file_others_can_read_is_refused_while_it_holds_secrets() {
    let db = TestDb::sqlite().await;
    for (mode, level, what) in [
        (0o644, "error", "readable by everyone"),
        (0o666, "error", "writable by everyone"),
        (0o660, "warning", "writable by its group"),
    ] {
        let cfg = config(&db, REAL_TOKEN, mode);
        let (_, text) = bin(&cfg, &["doctor", "--no-network"]);
        let l = must(&text, "config secrets");
        assert!(
            l.starts_with(level) && l.contains(what) && l.contains("digisUrlPostfix"),
            "{mode:o}: {l}"
        );
        assert!(
            l.contains(&format!("chmod 600 {}", cfg.display())),
            "the fix is named: {l}"
        );
        assert!(!text.contains("8f3c2a1e9b7d4c60"), "{text}");
    }
    let cfg = config(&db, REAL_TOKEN, 0o600);
    let (_, text) = bin(&cfg, &["doctor", "--no-network"]);
    assert!(must(&text, "config secrets").starts_with("ok"), "{text}");
    // The token from the environment: the file holds no secret, its mode does not matter.
    let cfg = config(&db, "", 0o644);
    let out = with_config(&cfg)
        .args(["doctor", "--no-network"])
        .env(
            "DIGIS_RELAY_DIGIS_URL_POSTFIX",
            "brp?token=8f3c2a1e9b7d4c60",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(line(&text, "config secrets").is_none(), "{text}");
    assert!(must(&text, "digis token").starts_with("ok"), "{text}");
}

#[tokio::test]
async fn a_ca_file_that_is_not_a_certificate_is_an_error_naming_the_key() {
    let db = TestDb::sqlite().await;
    db.active_with(5, &[1]).await;
    let garbage = db.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let broken = db.dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfp!!not-base64!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    // Nothing listens there: no request may leave the machine, whatever the relay does.
    let nowhere = format!(
        "digisUrl = \"http://127.0.0.1:{}\"\n",
        refused_port().await.port()
    );
    for (file, why) in [
        (&garbage, "no -----BEGIN CERTIFICATE-----"),
        (&broken, "base64"),
    ] {
        let cfg = config(
            &db,
            &format!(
                "{nowhere}{REAL_TOKEN}digis_ca_file = \"{}\"\n",
                file.display()
            ),
            0o600,
        );
        let (ok, text) = bin(&cfg, &["doctor", "--no-network"]);
        assert!(!ok, "{text}");
        let l = must(&text, "digis CA");
        assert!(
            l.starts_with("error") && l.contains("`digis_ca_file`") && l.contains(why),
            "{l}"
        );
        // The relay refuses to start with it, naming the key (not `builder error`).
        let (ok, text) = bin(&cfg, &["run", "--once"]);
        assert!(!ok, "{text}");
        assert!(
            text.contains("`digis_ca_file`") && text.contains(why),
            "{text}"
        );
        assert!(!text.contains("builder error"), "{text}");
    }
    let cfg = config(
        &db,
        &format!(
            "{REAL_TOKEN}digis_ca_file = \"{}\"\n",
            tls_file("ca.pem").display()
        ),
        0o600,
    );
    let (_, text) = bin(&cfg, &["doctor", "--no-network"]);
    assert!(must(&text, "digis CA").starts_with("ok"), "{text}");
}

/// A server that accepts connections and never answers.
async fn silent() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_why_digis_cannot_be_reached() {
    let db = TestDb::sqlite().await;
    let (tls, _) = tls_digis().await;
    let plain = plain_http().await;
    let refused = refused_port().await;
    let silent = silent().await;
    for (url, extra, want) in [
        ("https://digis.invalid".to_string(), "", "(DNS)"),
        (
            format!("http://127.0.0.1:{}", refused.port()),
            "",
            "refused the connection",
        ),
        (
            format!("https://localhost:{}", tls.port()),
            "",
            "certificate fails verification",
        ),
        (
            format!("https://127.0.0.1:{}", plain.port()),
            "",
            "plain HTTP on an https:// URL",
        ),
        (
            format!("http://127.0.0.1:{}", silent.port()),
            "digis_timeout_ms = 500\n",
            "(timeout)",
        ),
    ] {
        let cfg = config(
            &db,
            &format!("digisUrl = \"{url}\"\n{REAL_TOKEN}{extra}"),
            0o600,
        );
        let (ok, text) = bin(&cfg, &["doctor"]);
        assert!(!ok, "{url}: {text}");
        let l = must(&text, "digis reachable");
        assert!(l.starts_with("error") && l.contains(want), "{url}: {l}");
        assert!(!l.contains("error sending request"), "{l}");
    }
    // The TLS server's certificate, trusted through digis_ca_file: reachable.
    let cfg = config(
        &db,
        &format!(
            "digisUrl = \"https://localhost:{}\"\n{REAL_TOKEN}digis_ca_file = \"{}\"\n",
            tls.port(),
            tls_file("ca.pem").display()
        ),
        0o600,
    );
    let (_, text) = bin(&cfg, &["doctor"]);
    let l = must(&text, "digis reachable");
    assert!(l.starts_with("ok") && l.contains("HTTP 200"), "{l}");
}
