//! The listener's HTTPS and its gates (issue 26, "TLS on the listener"), through the real
//! binary and real clients (`curl --cacert`, a rustls client that reads slowly), with
//! certificates and CAs made at test time (`rcgen`):
//! - HTTPS serves the export (both databases) and nothing over plain HTTP;
//! - a certificate rotated while a download runs: new connections get the new certificate,
//!   the download in flight completes with the whole body; SIGHUP reloads too; a broken
//!   replacement keeps the old certificate served and is warned about once;
//! - `allow_from` (403 to a peer outside), `metrics_token` (401 without it);
//! - plain HTTP on a non-loopback address: the export off with the reason, `/healthz` on;
//!   `allow_plain_http` serves it;
//! - configuration and certificate errors: one line naming the key, no key material.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_databases;
use crate::common::{
    command, dechunk, eventually, parse_prometheus, seed_members, with_config, RunningService,
    TestConfig, TestDb,
};

const TOKEN: &str = "export-tls-token-0123456789";
const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// A CA made for one test: its certificate (PEM) and what signs server certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, and its key (PEM).
    fn server(&self) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The CA's certificate in `dir`, for `curl --cacert`.
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.pem).unwrap();
        p
    }
}

/// Writes `content` to `path` as a rotation does: a temporary file beside it, renamed over it.
fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The server's files, in `tls/` beside the configuration (given relative in it).
fn install(db: &TestDb, (cert, key): &(String, String)) {
    let dir = db.dir.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    replace(&dir.join("cert.pem"), cert);
    replace(&dir.join("key.pem"), key);
}

const TLS_KEYS: &str = "tls_cert_file = \"tls/cert.pem\"\ntls_key_file = \"tls/key.pem\"\n";

/// A configuration that serves the export only (useDigis off), with `export` added to
/// `[export]`; an idle timeout far beyond a test's stall.
fn write_config(db: &TestDb, export: &str) -> PathBuf {
    TestConfig::export_only(db, TOKEN, 100)
        .with(&format!("[export]\n{export}"))
        .write_in(db)
}

/// What curl did: its exit code (0 = a response), the HTTP status and the body.
#[derive(Debug)]
struct Curl {
    exit: i32,
    status: u16,
    body: String,
    /// Shown (through `Debug`) when an assertion fails.
    #[allow(dead_code)]
    stderr: String,
}

/// `curl URL` with `args` before it; `https://localhost:PORT` is resolved to 127.0.0.1.
async fn curl(port: u16, url: &str, args: &[&str]) -> Curl {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "120", "-w", "\n%{http_code}"])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(args)
        .arg(url)
        .output()
        .await
        .expect("curl is missing: `apt-get install curl` (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `curl --cacert CA https://localhost:PORT/PATH`, with the export's token.
async fn https_get(svc: &RunningService, ca: &Path, path: &str) -> Curl {
    let port = svc.addr.port();
    let auth = format!("Authorization: Bearer {TOKEN}");
    curl(
        port,
        &format!("https://localhost:{port}{path}"),
        &["--cacert", ca.to_str().unwrap(), "-H", &auth],
    )
    .await
}

/// The members of an export's JSON body, by card number.
fn members(body: &[u8]) -> Vec<String> {
    let v: Vec<serde_json::Value> = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {}", String::from_utf8_lossy(body)));
    v.iter().map(|m| m.to_string()).collect()
}

/// Neither key material nor a token in what the service said.
fn assert_no_secrets(text: &str, keys: &[&str]) {
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert!(
        !text.contains(TOKEN) && !text.contains(METRICS_TOKEN),
        "{text}"
    );
    for key in keys {
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(line), "a line of a key in: {text}");
        }
    }
}

both_databases!(https_serves_the_export_and_refuses_plain_http);

async fn https_serves_the_export_and_refuses_plain_http(db: TestDb) {
    seed_members(&db, 25).await;
    let ca = Ca::new("gym CA");
    let pair = ca.server();
    install(&db, &pair);
    let ca_file = ca.write(db.dir.path(), "ca.pem");
    let config = write_config(&db, TLS_KEYS);
    let svc = RunningService::start(&config);
    assert_eq!(svc.scheme, "https", "{}", svc.stderr());

    let got = https_get(&svc, &ca_file, "/export/DigisAllActive").await;
    assert_eq!((got.exit, got.status), (0, 200), "{got:?}");
    assert_eq!(members(got.body.as_bytes()).len(), 25);
    let csv = https_get(&svc, &ca_file, "/export/DigisAllActive?format=csv").await;
    assert_eq!(csv.status, 200, "{csv:?}");
    assert_eq!(csv.body.lines().count(), 26, "a header and 25 members");
    let health = https_get(&svc, &ca_file, "/healthz").await;
    assert_eq!(health.status, 200, "{health:?}");

    // Plain HTTP to the HTTPS port: a 400 saying so, never the export.
    let port = svc.addr.port();
    let auth = format!("Authorization: Bearer {TOKEN}");
    let plain = curl(
        port,
        &format!("http://127.0.0.1:{port}/export/DigisAllActive"),
        &["-H", &auth],
    )
    .await;
    assert_eq!(plain.status, 400, "{plain:?}");
    assert!(plain.body.contains("HTTPS only"), "{plain:?}");
    // A client that does not trust the gym's CA refuses the certificate (curl: 60).
    let other = Ca::new("someone else").write(db.dir.path(), "other.pem");
    let untrusted = https_get(&svc, &other, "/healthz").await;
    assert_eq!(untrusted.exit, 60, "{untrusted:?}");
    // The service is still serving after both.
    assert_eq!(https_get(&svc, &ca_file, "/healthz").await.status, 200);

    let stderr = svc.stderr();
    assert!(
        stderr.contains(&format!("listening on https://{}", svc.addr)),
        "{stderr}"
    );
    assert_no_secrets(&stderr, &[&pair.1]);
    svc.stop_gracefully();
}

/// A TLS client that trusts `ca_pem`, with a small receive buffer: sends the export request,
/// reads the response head and stops reading. The connection and what it read.
async fn stalled_download(
    port: u16,
    ca_pem: &str,
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
) {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the handshake with the first certificate");
    tls.write_all(
        format!(
            "GET /export/DigisAllActive HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = crate::common::read_response_head(&mut tls).await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    (tls, got)
}

/// `digis_export_pages_total` from `/metrics`.
fn pages_read(metrics: &str) -> f64 {
    parse_prometheus(metrics)
        .iter()
        .find(|s| s.name == "digis_export_pages_total")
        .unwrap_or_else(|| panic!("no digis_export_pages_total in {metrics}"))
        .value
}

both_databases!(a_certificate_rotated_while_a_download_runs);

async fn a_certificate_rotated_while_a_download_runs(db: TestDb) {
    const MEMBERS: u32 = 3000;
    seed_members(&db, MEMBERS).await;
    let (old, new) = (Ca::new("CA 2026"), Ca::new("CA 2027"));
    install(&db, &old.server());
    let (old_file, new_file) = (
        old.write(db.dir.path(), "old.pem"),
        new.write(db.dir.path(), "new.pem"),
    );
    let config = write_config(&db, TLS_KEYS);
    let svc = RunningService::start(&config);

    let (mut download, head) = stalled_download(svc.addr.port(), &old.pem).await;
    // The renewal: new files written beside the old ones and renamed over them.
    let renewed = new.server();
    install(&db, &renewed);
    // The next connection gets the new certificate (its files changed)...
    let fresh = https_get(&svc, &new_file, "/metrics").await;
    assert_eq!((fresh.exit, fresh.status), (0, 200), "{fresh:?}");
    // ... while the download is still in the middle of the export (100 members a page).
    assert!(
        pages_read(&fresh.body) < f64::from(MEMBERS / 100),
        "the export was already read whole: the download is not in flight"
    );
    let stale = https_get(&svc, &old_file, "/healthz").await;
    assert_eq!(
        stale.exit, 60,
        "the old certificate is no longer served: {stale:?}"
    );

    // The download in flight goes on with its session, to the end.
    let mut raw = head;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(120), download.read(&mut buf))
            .await
            .expect("the export ends within 120 s")
        {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // Closed without close_notify after the last chunk: what was read is judged.
            Err(_) => break,
        }
    }
    let (body, complete) = dechunk(&raw);
    assert!(complete, "the download in flight broke off");
    assert_eq!(members(&body).len(), MEMBERS as usize);

    let stderr = svc.stderr();
    assert!(
        stderr.contains("TLS certificate reloaded") && stderr.contains("(the files changed)"),
        "{stderr}"
    );
    assert_no_secrets(&stderr, &[&renewed.1]);
    svc.stop_gracefully();
}

/// SIGHUP reloads the files without a connection to prompt it; a broken replacement keeps the
/// certificate served and is warned about once however many connections follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_broken_replacement_keeps_the_old_certificate() {
    let db = TestDb::sqlite().await;
    let (first, second) = (Ca::new("first"), Ca::new("second"));
    install(&db, &first.server());
    let (first_file, second_file) = (
        first.write(db.dir.path(), "first.pem"),
        second.write(db.dir.path(), "second.pem"),
    );
    let config = write_config(&db, TLS_KEYS);
    let svc = RunningService::start(&config);
    assert_eq!(https_get(&svc, &first_file, "/healthz").await.status, 200);

    // New files, then SIGHUP before any connection: reloaded by the signal.
    let pair = second.server();
    install(&db, &pair);
    let hup = Command::new("kill")
        .args(["-HUP", &svc.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("reloaded on SIGHUP", Duration::from_secs(30), || async {
        svc.stderr()
            .contains("TLS certificate reloaded from")
            .then_some(())
    })
    .await;
    assert!(svc.stderr().contains("(SIGHUP)"), "{}", svc.stderr());
    assert_eq!(https_get(&svc, &second_file, "/healthz").await.status, 200);
    assert_eq!(https_get(&svc, &first_file, "/healthz").await.exit, 60);

    // A key that is not a key, then a certificate of another CA with the old key: neither is
    // served; the current certificate is, and each change is warned about once.
    let tls_dir = db.dir.path().join("tls");
    replace(
        &tls_dir.join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA",
    );
    for _ in 0..3 {
        let got = https_get(&svc, &second_file, "/healthz").await;
        assert_eq!((got.exit, got.status), (0, 200), "{got:?}");
    }
    let warned = |s: &str| s.matches("TLS certificate not reloaded").count();
    assert_eq!(warned(&svc.stderr()), 1, "{}", svc.stderr());
    replace(&tls_dir.join("key.pem"), &pair.1);
    replace(&tls_dir.join("cert.pem"), &first.server().0);
    for _ in 0..2 {
        assert_eq!(https_get(&svc, &second_file, "/healthz").await.status, 200);
    }
    let stderr = svc.stderr();
    assert_eq!(warned(&stderr), 2, "{stderr}");
    assert!(
        stderr.contains("does not match the certificate"),
        "{stderr}"
    );
    assert!(stderr.contains("export.tls_key_file"), "{stderr}");
    assert_no_secrets(&stderr, &[&pair.1]);
    svc.stop_gracefully();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_and_the_metrics_token() {
    let db = TestDb::sqlite().await;
    seed_members(&db, 3).await;
    let auth = format!("Authorization: Bearer {TOKEN}");
    let metrics_auth = format!("Authorization: Bearer {METRICS_TOKEN}");

    let config = write_config(
        &db,
        &format!("allow_from = [\"10.0.0.0/8\", \"2001:db8::/32\"]\nmetrics_token = \"{METRICS_TOKEN}\"\n"),
    );
    let svc = RunningService::start(&config);
    let port = svc.addr.port();
    let export = svc.url("/export/DigisAllActive");
    let refused = curl(port, &export, &["-H", &auth]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let v: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("export.allow_from"),
        "{v}"
    );
    eventually("the refusal logged", Duration::from_secs(30), || async {
        svc.stderr()
            .contains("export refused to 127.0.0.1:")
            .then_some(())
    })
    .await;
    // /healthz is not behind allow_from; /metrics is behind its token.
    assert_eq!(curl(port, &svc.url("/healthz"), &[]).await.status, 200);
    let bare = curl(port, &svc.url("/metrics"), &["-i"]).await;
    assert_eq!(bare.status, 401, "{bare:?}");
    assert!(
        bare.body
            .to_lowercase()
            .contains("www-authenticate: bearer"),
        "{bare:?}"
    );
    let wrong = curl(port, &svc.url("/metrics"), &["-H", &auth]).await;
    assert_eq!(
        wrong.status, 401,
        "the export's token is not the metrics token"
    );
    let ok = curl(port, &svc.url("/metrics"), &["-H", &metrics_auth]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("digis_export_pages_total"), "{ok:?}");
    let stderr = svc.stderr();
    assert_no_secrets(&stderr, &[]);
    svc.stop_gracefully();

    let config = write_config(&db, "allow_from = [\"127.0.0.0/8\"]\n");
    let svc = RunningService::start(&config);
    let port = svc.addr.port();
    let got = curl(port, &svc.url("/export/DigisAllActive"), &["-H", &auth]).await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(members(got.body.as_bytes()).len(), 3);
    assert_eq!(
        curl(port, &svc.url("/metrics"), &[]).await.status,
        200,
        "no metrics_token: open"
    );
    // Without TLS a SIGHUP has nothing to reload, and does not end the service either.
    let hup = Command::new("kill")
        .args(["-HUP", &svc.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("SIGHUP logged", Duration::from_secs(30), || async {
        svc.stderr()
            .contains("SIGHUP: nothing to reload")
            .then_some(())
    })
    .await;
    assert_eq!(curl(port, &svc.url("/healthz"), &[]).await.status, 200);
    svc.stop_gracefully();
}

/// `run --listen 0.0.0.0:0` (reached through 127.0.0.1) without TLS.
fn start_on_all_addresses(config: &Path) -> RunningService {
    let mut cmd = command();
    cmd.args(["--config", config.to_str().unwrap(), "run"])
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("DIGIS_RELAY_CONFIG");
    RunningService::spawn(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_a_non_loopback_address_turns_the_export_off() {
    let db = TestDb::sqlite().await;
    seed_members(&db, 2).await;
    let auth = format!("Authorization: Bearer {TOKEN}");
    let config = write_config(&db, "");
    let svc = start_on_all_addresses(&config);
    let port = svc.addr.port();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let off = curl(port, &url("/export/DigisAllActive"), &["-H", &auth]).await;
    assert_eq!(off.status, 403, "{off:?}");
    let v: serde_json::Value = serde_json::from_str(&off.body).unwrap();
    let why = v["error"].as_str().unwrap();
    assert!(
        why.contains("plain HTTP")
            && why.contains("tls_cert_file")
            && why.contains("allow_plain_http = true"),
        "{why}"
    );
    let health = curl(port, &url("/healthz"), &[]).await;
    assert_eq!(health.status, 200, "{health:?}");
    let h: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(h["export_enabled"], false, "{h}");
    assert_eq!(curl(port, &url("/metrics"), &[]).await.status, 200);
    let stderr = svc.stderr();
    assert!(
        stderr.contains("\nexport off: plain HTTP on a non-loopback address (set [export] tls_cert_file/tls_key_file, or allow_plain_http = true)\n"),
        "{stderr}"
    );
    svc.stop_gracefully();

    let config = write_config(&db, "allow_plain_http = true\n");
    let svc = start_on_all_addresses(&config);
    let port = svc.addr.port();
    let got = curl(
        port,
        &format!("http://127.0.0.1:{port}/export/DigisAllActive"),
        &["-H", &auth],
    )
    .await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(members(got.body.as_bytes()).len(), 2);
    assert!(!svc.stderr().contains("export off"), "{}", svc.stderr());
    svc.stop_gracefully();
}

/// `run` with `export` in `[export]`: it must not start, and say why in one line naming `key`.
fn refused_at_start(db: &TestDb, export: &str, key: &str, keys: &[&str]) -> String {
    let config = write_config(db, export);
    let out = with_config(&config)
        .args(["run"])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{export}: started\n{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{export}: {stderr}");
    assert!(stderr.contains(&format!("`{key}`")), "{export}: {stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");
    assert_no_secrets(&stderr, keys);
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_certificates_are_one_line_naming_the_key() {
    let db = TestDb::sqlite().await;
    refused_at_start(
        &db,
        "tls_cert_file = \"tls/cert.pem\"\n",
        "export.tls_key_file",
        &[],
    );
    refused_at_start(
        &db,
        "tls_key_file = \"tls/key.pem\"\n",
        "export.tls_cert_file",
        &[],
    );
    let e = refused_at_start(
        &db,
        "allow_from = [\"10.0.0.0/8\", \"10.0.0.300/8\"]\n",
        "export.allow_from",
        &[],
    );
    assert!(e.contains("10.0.0.300/8"), "{e}");
    refused_at_start(
        &db,
        "metrics_token = \"short\"\n",
        "export.metrics_token",
        &[],
    );

    // The files: missing, swapped, a key of another certificate.
    let ca = Ca::new("gym CA");
    let pair = ca.server();
    let e = refused_at_start(&db, TLS_KEYS, "export.tls_cert_file", &[]);
    assert!(
        e.contains("tls/cert.pem") && e.contains("cannot read"),
        "{e}"
    );
    install(&db, &(pair.1.clone(), pair.0.clone()));
    let e = refused_at_start(&db, TLS_KEYS, "export.tls_cert_file", &[&pair.1]);
    assert!(e.contains("private key, not a certificate"), "{e}");
    let other = ca.server();
    install(&db, &(pair.0.clone(), other.1.clone()));
    let e = refused_at_start(&db, TLS_KEYS, "export.tls_key_file", &[&other.1]);
    assert!(e.contains("does not match"), "{e}");
    // And `doctor` says the same before anyone starts it.
    let config = write_config(&db, TLS_KEYS);
    let out = with_config(&config).args(["doctor"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("export listener"))
        .unwrap_or_else(|| panic!("no export listener line: {text}"));
    assert!(line.contains("does not match"), "{line}");
    assert_no_secrets(&text, &[&other.1]);
}

/// The listener's limits hold for TLS: a connection that never starts its handshake takes a
/// slot (one more is refused while the cap is reached) and is closed after the header-read
/// timeout, which frees the slot again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_obey_the_listener_limits() {
    let db = TestDb::sqlite().await;
    let ca = Ca::new("gym CA");
    install(&db, &ca.server());
    let ca_file = ca.write(db.dir.path(), "ca.pem");
    let config = write_config(
        &db,
        &format!("{TLS_KEYS}max_connections = 2\nheader_read_timeout_ms = 1500\n"),
    );
    let svc = RunningService::start(&config);
    let started = std::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(svc.addr).await.unwrap());
    }
    // Both slots held by connections that say nothing: a third is refused at once.
    let refused = https_get(&svc, &ca_file, "/healthz").await;
    assert_ne!(refused.exit, 0, "{refused:?}");
    // The header-read timeout closes the silent ones (they read EOF)...
    for mut s in silent {
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
            .await
            .expect("closed within the header-read timeout")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
    assert!(started.elapsed() >= Duration::from_millis(1400));
    // ... and their slots serve again.
    let got = eventually("a slot free again", Duration::from_secs(30), || async {
        let got = https_get(&svc, &ca_file, "/healthz").await;
        (got.exit == 0).then_some(got)
    })
    .await;
    assert_eq!(got.status, 200, "{got:?}");
    svc.stop_gracefully();
}
