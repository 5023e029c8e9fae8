//! The accept loop: each connection served by hyper in its own task, with the limits a public
//! listener needs (issue 10, item 9):
//! - **header-read timeout**: the request line and headers must arrive within
//!   `export.header_read_timeout_ms` (hyper's own timer), so a client trickling a header line
//!   every few seconds (slowloris) is disconnected; hyper starts that timer as soon as a response
//!   is sent, so a keep-alive connection waiting for its next request is closed after it too;
//! - **idle timeout**: a connection with no byte read or written for `export.idle_timeout_ms`
//!   is closed — a download nobody reads (or an idle keep-alive, when it is the shorter). Every write counts
//!   as activity, so a slow but moving export is never cut (there is no total-time limit);
//! - **connection cap**: at most `export.max_connections` open at once. One more is *refused*,
//!   not queued: it gets a `503` with `Connection: close` (best effort, without waiting on the
//!   client) and is closed at once, so an attacker cannot hold the queue either, while the two
//!   timeouts above bound how long anyone keeps a slot.
//!
//! With TLS (`tls`) the same limits hold: the slot is taken before the handshake, the handshake
//! must end within the header-read timeout, and the idle timeout counts the encrypted bytes on
//! the socket. A client speaking plain HTTP to it gets a plain `400` saying to use https://.
//! Each request carries the peer's address (`ConnectInfo`), for `export.allow_from`.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tls::Tls;
use crate::settings::ExportSettings;

/// The listener's limits, from `[export]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&ExportSettings> for Limits {
    fn from(c: &ExportSettings) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms.max(1)),
            max_connections: (c.max_connections as usize).max(1),
        }
    }
}

const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 48\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{\"error\": \"too many connections: try it again\"}\n";

/// What a plain-HTTP request to the TLS listener gets (as nginx answers on its https port).
const PLAIN_TO_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 59\r\nConnection: close\r\n\r\n{\"error\": \"this listener speaks HTTPS only: use https://\"}\n";

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves `app` until `shutdown` completes, then lets requests in flight finish (idle
/// connections close at once; a stuck one at its idle timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let stop = CancellationToken::new();
    let refused = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("HTTP listener: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let _ = stream.try_write(REFUSED);
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at 1, 2, 4, 8... refusals: an attack cannot flood the log.
            if n.is_power_of_two() {
                tracing::warn!(
                    "HTTP listener: {} connections open, refused {peer} ({n} refused so far)",
                    limits.max_connections
                );
            }
            continue;
        };
        let app = app.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let activity = Activity::new();
            let tracked = Tracked {
                inner: stream,
                activity: activity.clone(),
            };
            match tls {
                None => serve_connection(tracked, activity, peer, app, limits, stop).await,
                Some(tls) => {
                    let accepted =
                        tokio::time::timeout(limits.header_read_timeout, handshake(&tls, tracked))
                            .await;
                    match accepted {
                        Ok(Ok(io)) => serve_connection(io, activity, peer, app, limits, stop).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!(
                            "TLS handshake with {peer} not done within {} ms: closed",
                            limits.header_read_timeout.as_millis()
                        ),
                    }
                }
            }
            drop(slot);
        });
    }
    stop.cancel();
    // Every connection task holds a slot: all slots back means all connections are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// The TLS handshake, after the files were looked at (a renewed certificate is served from
/// this connection on). A client that starts with anything but a TLS record is answered a plain
/// `400` and closed.
async fn handshake(
    tls: &Tls,
    mut io: Tracked,
) -> io::Result<tokio_rustls::server::TlsStream<Tracked>> {
    tls.reload_if_changed();
    let mut first = [0u8; 1];
    if io.inner.peek(&mut first).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before a handshake",
        ));
    }
    if first[0] != TLS_HANDSHAKE {
        // The request is read (bounded) before answering, so closing does not reset the
        // connection under the answer.
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match io.read(&mut buf).await? {
                0 => break,
                n => head.extend_from_slice(&buf[..n]),
            }
        }
        io.write_all(PLAIN_TO_TLS).await?;
        io.shutdown().await?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "plain HTTP sent to the HTTPS listener (answered 400)",
        ));
    }
    tls.acceptor().accept(io).await
}

async fn serve_connection<I>(
    io: I,
    activity: Activity,
    peer: std::net::SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut app = app.clone();
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        // Router is always ready: `poll_ready` need not be awaited.
        async move { tower::Service::call(&mut app, req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_until = activity.last() + limits.idle_timeout;
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("HTTP connection closed: {e}");
                }
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_until) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::debug!(
                        "HTTP connection idle for {} ms: closed",
                        limits.idle_timeout.as_millis()
                    );
                    // Dropping the connection closes the socket.
                    return;
                }
            }
        }
    }
}

/// When a byte last moved on a connection, in milliseconds since it was accepted.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The socket, noting every read and write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
