//! Digis for the relay to talk to: the project's fake, a TLS server with the test CA's
//! certificate, a plain-HTTP one, one that resets, a port nothing listens on.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use digis_relay::fake_digis::{self, FakeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::TOKEN;

/// The project's fake Digis taking any token, without faults.
pub async fn open_fake() -> fake_digis::FakeHandle {
    fake_digis::start("127.0.0.1:0", FakeConfig::default())
        .await
        .unwrap()
}

/// A fake Digis requiring the test token, with these fault rules.
pub async fn fake(rules: &[&str]) -> fake_digis::FakeHandle {
    fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(TOKEN.into()),
            rules: rules.iter().map(|r| r.parse().unwrap()).collect(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Requests per (ExtInfo1, ExtInfo20) pair that the fake saw more than once.
pub fn repeated_pairs(fake: &fake_digis::FakeHandle) -> Vec<((String, String), usize)> {
    let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
    for r in fake.received() {
        *per_pair
            .entry((
                r.ext_info1().unwrap_or_default(),
                r.ext_info20().unwrap_or_default(),
            ))
            .or_default() += 1;
    }
    per_pair.into_iter().filter(|(_, n)| *n > 1).collect()
}

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

/// A Digis that rejects the first request (HTTP 400, "invalid member") and accepts every other
/// one (as `E1`): one failed delivery beside sent ones.
pub async fn rejects_the_first_request() -> wiremock::MockServer {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"Message": "invalid member"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"Id": "E1"})))
        .mount(&server)
        .await;
    server
}
