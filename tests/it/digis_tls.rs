//! Digis unreachable for a reason the configuration causes, or for one that passes (issue 25,
//! item 3; DESIGN §5): a certificate that fails verification and a plain-HTTP server on an
//! https URL pause the relay with the reason and put the row back without charging an attempt;
//! a reset during the handshake is retried like any connection error. On both databases,
//! against real local servers (a TLS server with a test CA's certificate, a plain one, one that
//! resets).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use digis_relay::domain::OutboxState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::both_databases;
use crate::common::TestDb;
use crate::relay_outcomes::{all_rows, config_for, once, relay, TOKEN};

/// The test CA and a certificate it signed for `localhost` and 127.0.0.1 (tests/it/tls/README).
pub fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/tls")
        .join(name)
}

/// A server answering like Digis would (`200 {"Id":"7"}`) over TLS with the test CA's
/// certificate: trusted only when `digis_ca_file` names the test CA. Counts the requests that
/// got through the handshake.
pub async fn tls_digis() -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls_file("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                count.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"Id":"7"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, served)
}

/// A plain-HTTP server (as nginx on its http port): whatever comes, `400 Bad Request`.
pub async fn plain_http() -> SocketAddr {
    serve_raw(|mut sock| async move {
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = sock
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n")
            .await;
        let _ = sock.shutdown().await;
    })
    .await
}

/// Reads the ClientHello and resets the connection (RST): a handshake cut by the network.
pub async fn resets_the_handshake() -> SocketAddr {
    serve_raw(|mut sock| async move {
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = sock.set_zero_linger();
        drop(sock);
    })
    .await
}

/// A port nothing listens on (bound, then closed).
pub async fn refused_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

async fn serve_raw<F, Fut>(each: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(each(sock));
        }
    });
    addr
}

both_databases!(
    a_certificate_that_fails_verification_pauses_the_relay,
    plain_http_on_an_https_url_pauses_the_relay,
    a_reset_during_the_handshake_is_retried,
);

async fn a_certificate_that_fails_verification_pauses_the_relay(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let (addr, served) = tls_digis().await;
    let url = format!("https://localhost:{}", addr.port());
    let mut cfg = config_for(&url, &db);
    cfg.relay.concurrency = 1;
    once(&relay(&db, cfg.clone())).await;
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "{control:?}");
    let reason = control.pause_reason.unwrap_or_default();
    assert!(
        reason.contains("certificate") && reason.contains("digis_ca_file"),
        "{reason}"
    );
    assert!(!reason.contains(TOKEN), "{reason}");
    assert!(control.paused_by.is_some_and(|b| b.is_relay()));
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "back to pending, nothing charged: {rows:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 0, "no request got through");

    // The same server trusted through digis_ca_file: the rows go.
    db.storage.resume("test", Utc::now()).await.unwrap();
    cfg.digis_ca_file = Some(tls_file("ca.pem"));
    once(&relay(&db, cfg)).await;
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

async fn plain_http_on_an_https_url_pauses_the_relay(db: TestDb) {
    db.active_with(5, &[1]).await;
    let addr = plain_http().await;
    let mut cfg = config_for(&format!("https://127.0.0.1:{}", addr.port()), &db);
    cfg.relay.concurrency = 1;
    once(&relay(&db, cfg)).await;
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "{control:?}");
    let reason = control.pause_reason.unwrap_or_default();
    assert!(reason.contains("plain HTTP"), "{reason}");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "{rows:?}"
    );
}

async fn a_reset_during_the_handshake_is_retried(db: TestDb) {
    db.active_with(5, &[1]).await;
    let addr = resets_the_handshake().await;
    let mut cfg = config_for(&format!("https://127.0.0.1:{}", addr.port()), &db);
    cfg.relay.concurrency = 1;
    // One attempt per row: the backoff (1 ms here) would otherwise retry it within `once`.
    cfg.relay.backoff_base_ms = 600_000;
    cfg.relay.backoff_max_ms = 600_000;
    once(&relay(&db, cfg)).await;
    let control = db.storage.control().await.unwrap();
    assert!(
        !control.paused,
        "a reset is not the configuration's fault: {control:?}"
    );
    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, OutboxState::Pending, "{rows:?}");
    assert_eq!(rows[0].attempts, 1, "retried later, charged: {rows:?}");
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("reset"), "{error}");
}
