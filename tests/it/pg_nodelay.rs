//! Every pooled PostgreSQL connection sends without Nagle's delay: sqlx 0.9.0 left it on, and a
//! statement written in two pieces then waited for the server's delayed ACK (stalls of about
//! 100 ms in member search at a million persons; the drain slower; decision 0055). sqlx 0.9.1
//! sets it on each socket it opens, and the JSON lists are no longer cut small for it (decision
//! 0060), so this guards what the relay now takes from sqlx. Read back from the sockets
//! themselves, with the ports the server reports for each connection.
use std::os::fd::RawFd;

use digis_relay::storage::postgres::PgStorage;

use crate::common::{Kind, TestDb};

/// TCP_NODELAY of the socket of this process with local port `local` and peer port `peer`.
fn nodelay_of(local: u16, peer: u16) -> Option<bool> {
    let port = |fd: RawFd, peer_side: bool| -> Option<u16> {
        let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let rc = unsafe {
            if peer_side {
                libc::getpeername(fd, (&raw mut addr).cast(), &mut len)
            } else {
                libc::getsockname(fd, (&raw mut addr).cast(), &mut len)
            }
        };
        if rc != 0 {
            return None;
        }
        match libc::c_int::from(addr.ss_family) {
            libc::AF_INET => {
                let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in>() };
                Some(u16::from_be(a.sin_port))
            }
            libc::AF_INET6 => {
                let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in6>() };
                Some(u16::from_be(a.sin6_port))
            }
            _ => None,
        }
    };
    let fd = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .find(|&fd| port(fd, false) == Some(local) && port(fd, true) == Some(peer))?;
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw mut on).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt on the connection's socket");
    Some(on != 0)
}

#[tokio::test]
async fn every_pooled_postgres_connection_sends_without_delay() {
    let db = TestDb::new(Kind::Postgres).await;
    let storage = PgStorage::connect(&db.url).await.unwrap();
    // Held at once, so each is a different connection: the kept-open ones and one more.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(storage.pool().acquire().await.unwrap());
    }
    for conn in &mut held {
        let (local, peer): (Option<i32>, Option<i32>) =
            sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
        let (Some(local), Some(peer)) = (local, peer) else {
            panic!(
                "the test server is reached over TCP ({}), not a Unix socket",
                db.url
            );
        };
        let on = nodelay_of(local as u16, peer as u16)
            .unwrap_or_else(|| panic!("no socket of this process on ports {local} → {peer}"));
        assert!(
            on,
            "the connection from port {local} still waits for ACKs (Nagle on)"
        );
    }
}
