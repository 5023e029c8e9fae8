//! The DigisAllActive export served by the real `run` to clients and databases that misbehave,
//! on both databases:
//! - a client that reads a few bytes and then stops: the service reads ahead only a bounded
//!   number of pages (`digis_export_pages_total` stops growing) and its memory stays bounded,
//!   and once the client reads again the rest follows, complete;
//! - the database lost in the middle of the stream: the response ends as a failure a client can
//!   tell (the chunked body breaks off without its last chunk, the JSON without its `]`), never
//!   as a short export that looks complete, and the service stays up and exports again once the
//!   database is back.
use std::cell::Cell;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_databases;
use crate::common::{
    dechunk, eventually, parse_prometheus, seed_members, Kind, RunningService, TestConfig, TestDb,
};

const TOKEN: &str = "export-stream-token-0123";

/// A configuration for `run` that only serves the export: useDigis off (nothing is claimed or
/// sent), `page_size` members a page, and an idle timeout far longer than the test's stall.
fn export_config(db: &TestDb, page_size: u32) -> std::path::PathBuf {
    TestConfig::export_only(db, TOKEN, page_size).write_in(db)
}

/// `digis_export_pages_total` on the service's `/metrics`.
async fn pages_read(http: &reqwest::Client, svc: &RunningService) -> u64 {
    let text = http
        .get(svc.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_prometheus(&text)
        .iter()
        .find(|s| s.name == "digis_export_pages_total")
        .unwrap_or_else(|| panic!("no digis_export_pages_total in {text}"))
        .value as u64
}

/// Polls the page counter until it has not moved for `quiet`: the export is waiting for the
/// client. The count then.
async fn pages_when_still(http: &reqwest::Client, svc: &RunningService, quiet: Duration) -> u64 {
    let last = Cell::new((u64::MAX, Instant::now()));
    let last = &last;
    eventually(
        "the export stops reading ahead of a stalled client",
        Duration::from_secs(120),
        move || async move {
            let now = pages_read(http, svc).await;
            let (before, since) = last.get();
            if now != before {
                last.set((now, Instant::now()));
                None
            } else {
                (since.elapsed() >= quiet).then_some(now)
            }
        },
    )
    .await
}

/// A client with a small receive buffer that sends the export request and reads just the
/// response head and a few bytes of the body, then stops reading. What it has read so far.
async fn stalled_client(svc: &RunningService) -> (TcpStream, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(svc.addr).await.unwrap();
    s.write_all(
        format!(
            "GET /export/DigisAllActive HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Connection: close\r\n\r\n",
            svc.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = crate::common::read_response_head(&mut s).await;
    let head = String::from_utf8_lossy(&got).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    (s, got)
}

/// Reads until the server closes the connection.
async fn read_to_end(s: &mut TcpStream, mut got: Vec<u8>) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf))
            .await
            .expect("the server ends the response within 120 s")
        {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

const MEMBERS: u32 = 40_000;
const PAGE_SIZE: u32 = 100;

both_databases!(
    a_stalled_client_holds_the_export_back,
    losing_the_database_mid_stream_cuts_the_response_off
);

/// The most a stalled client can make the service read ahead, in bytes: what the kernel's send
/// buffer for the connection may grow to (`tcp_wmem`'s maximum) plus hyper's write buffer
/// (about 400 KB) and the client's receive buffer, with room to spare. Past that hyper stops
/// asking for the next page.
fn read_ahead_bound_bytes() -> u64 {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap();
    let max: u64 = wmem.split_whitespace().nth(2).unwrap().parse().unwrap();
    max + 2 * 1024 * 1024
}

/// 40,000 members (about 50 MB of JSON) in pages of 100 (about 125 KB each). A client that
/// stops reading after the response head must not make the service read the whole table: it
/// reads ahead only as far as the socket and hyper's buffer hold, then waits, and its memory
/// stays far below the export's size. When the client reads again, the rest follows.
async fn a_stalled_client_holds_the_export_back(db: TestDb) {
    seed_members(&db, MEMBERS).await;
    let svc = RunningService::start(&export_config(&db, PAGE_SIZE));
    let http = reqwest::Client::new();
    assert_eq!(pages_read(&http, &svc).await, 0);
    let heap_before = svc.memory_kib("RssAnon");

    let (mut client, got) = stalled_client(&svc).await;
    let stalled_at = pages_when_still(&http, &svc, Duration::from_secs(2)).await;
    let heap_stalled = svc.memory_kib("RssAnon");
    let total_pages = (MEMBERS / PAGE_SIZE + 1) as u64;

    // The client reads again: the rest follows, every page read once, the document complete.
    let raw = read_to_end(&mut client, got).await;
    let (body, complete) = dechunk(&raw);
    assert!(complete, "the chunked body ends with its last chunk");
    let page_bytes = body.len() as u64 / total_pages;
    let bound_pages = read_ahead_bound_bytes() / page_bytes + 2;
    let grown_kib = heap_stalled.saturating_sub(heap_before);
    eprintln!(
        "{:?}: a stalled client held the export at page {stalled_at} of {total_pages} (bound \
         {bound_pages}); heap {heap_before} KiB before, {heap_stalled} KiB stalled; export {} KiB",
        db.kind,
        body.len() / 1024
    );
    assert!(stalled_at >= 1, "the first page is read before answering");
    assert!(
        stalled_at <= bound_pages && stalled_at < total_pages / 4,
        "read {stalled_at} of {total_pages} pages ({page_bytes} bytes each) ahead of a client \
         that reads nothing; the buffers hold {bound_pages}"
    );
    // Buffering the export would take its whole size (50 MB, and more as payloads). What the
    // service holds instead is a page or two, hyper's buffer and the database's own caches
    // (SQLite: 2 MB of page cache for each of up to 8 pooled connections), plus what malloc's
    // per-thread arenas keep: 21-31 MB measured on SQLite on a loaded 2-core machine, so the
    // bound is three quarters of the export, still far below the whole of it that buffering
    // costs (the page count above is the exact check).
    let export_kib = body.len() as u64 / 1024;
    assert!(
        grown_kib < export_kib * 3 / 4,
        "the service's heap grew by {grown_kib} KiB while a client stalled an export of {export_kib} KiB"
    );
    let members: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(members.len(), MEMBERS as usize);
    assert_eq!(members[0]["ExtInfo4"], 1);
    assert_eq!(members[MEMBERS as usize - 1]["ExtInfo4"], MEMBERS);
    assert_eq!(pages_read(&http, &svc).await, total_pages);
    assert!(svc.stderr().contains("export DigisAllActive served"));
}

/// How this test takes the database away from the running service, and gives it back.
enum Loss {
    /// This test's PostgreSQL database refuses connections and its connections are cut (as in
    /// `db_outage`): the next page finds no connection.
    Postgres {
        admin: sqlx::PgConnection,
        name: String,
    },
    /// SQLite is a file the service has open: what a process meets when it is "lost" is a
    /// query that fails. The reference view the export reads is dropped (a host migration gone
    /// wrong), which fails the next page at once instead of after the 30 s busy timeout a lock
    /// would take; it is put back afterwards.
    Sqlite { view_sql: String },
}

impl Loss {
    async fn take(db: &TestDb) -> Loss {
        use sqlx::{Connection, Executor};
        match db.kind {
            Kind::Postgres => {
                let name = db.url.rsplit('/').next().unwrap().to_string();
                let mut admin = sqlx::PgConnection::connect(&crate::common::pg_admin_url())
                    .await
                    .unwrap();
                crate::common::pg_take_away(&mut admin, &name).await;
                Loss::Postgres { admin, name }
            }
            Kind::Sqlite => {
                let mut c = db.sqlite_connection().await;
                let view_sql: String = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'digis_member'",
                )
                .fetch_one(&mut c)
                .await
                .unwrap();
                c.execute("DROP VIEW digis_member").await.unwrap();
                Loss::Sqlite { view_sql }
            }
        }
    }

    async fn give_back(self, db: &TestDb) {
        match self {
            Loss::Postgres { mut admin, name } => {
                crate::common::pg_give_back(&mut admin, &name).await;
            }
            Loss::Sqlite { view_sql } => db.exec(&view_sql).await,
        }
    }
}

/// 20,000 members in pages of 100: the client reads the head and stalls until the service
/// waits on it (some pages read ahead, most not), the database goes away, and the client reads
/// on.
async fn losing_the_database_mid_stream_cuts_the_response_off(db: TestDb) {
    const N: u32 = 20_000;
    seed_members(&db, N).await;
    let mut svc = RunningService::start(&export_config(&db, PAGE_SIZE));
    let http = reqwest::Client::new();
    let (mut client, got) = stalled_client(&svc).await;
    let read_ahead = pages_when_still(&http, &svc, Duration::from_secs(2)).await;
    let total_pages = (N / PAGE_SIZE + 1) as u64;
    assert!(
        read_ahead < total_pages / 2,
        "the stall holds the export back: {read_ahead} of {total_pages} pages"
    );

    let loss = Loss::take(&db).await;
    let raw = read_to_end(&mut client, got).await;
    let (body, complete) = dechunk(&raw);
    assert!(
        !complete,
        "a response cut off by the database must not end like a complete one"
    );
    assert!(
        body.len() > 1000,
        "the pages read before the loss arrived: {} bytes",
        body.len()
    );
    assert!(
        !body.trim_ascii_end().ends_with(b"]"),
        "the JSON array is left open: a client cannot take it for the whole export"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    let stderr = svc.stderr();
    assert!(
        stderr.contains("export DigisAllActive cut off"),
        "the service says why: {stderr}"
    );

    // The service is still up: it answers, and with the database back it exports in full.
    assert!(svc.is_running(), "{stderr}");
    let healthz = http.get(svc.url("/healthz")).send().await.unwrap();
    assert!([200, 503].contains(&healthz.status().as_u16()));
    loss.give_back(&db).await;
    let http = &http;
    let svc_ref = &svc;
    let full = eventually(
        "a complete export once the database is back",
        Duration::from_secs(60),
        move || async move {
            let r = http
                .get(svc_ref.url("/export/DigisAllActive"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?;
            if r.status() != 200 {
                return None;
            }
            let body = r.bytes().await.ok()?;
            serde_json::from_slice::<Vec<serde_json::Value>>(&body).ok()
        },
    )
    .await;
    assert_eq!(full.len(), N as usize);
    assert!(svc.is_running());
}
