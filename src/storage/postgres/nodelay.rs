//! TCP_NODELAY on each pooled PostgreSQL connection. sqlx 0.9.0 connects with Nagle's algorithm
//! on (transact-rs/sqlx#4335, fixed upstream, not released) and gives no handle on its socket:
//! a message it writes in two pieces (a TLS record, a buffer's worth) then waits for the
//! server's delayed ACK, 40 ms or more (decision 0055). So after each connect the connection
//! asks the server which client port it sees, and the one socket of this process bound to that
//! port and connected to that server port gets TCP_NODELAY. Through a proxy, a Unix socket or
//! anything else that does not match, nothing is changed: the connection works as before.
use std::os::fd::RawFd;

use sqlx::postgres::PgConnection;

/// The ports the server sees: its client's (ours) and its own. NULL on a Unix socket.
/// Connection plumbing like the pool's ping, so here and not among the operation files.
const PORTS: &str = "SELECT inet_client_port(), inet_server_port()";

/// Sets TCP_NODELAY on `conn`'s socket when it can be found; says whether it was set.
pub(super) async fn set(conn: &mut PgConnection) -> bool {
    let ports: Result<(Option<i32>, Option<i32>), _> =
        sqlx::query_as(PORTS).fetch_one(&mut *conn).await;
    let Ok((Some(local), Some(peer))) = ports else {
        return false;
    };
    let (Ok(local), Ok(peer)) = (u16::try_from(local), u16::try_from(peer)) else {
        return false;
    };
    match socket_with_ports(local, peer) {
        Some(fd) => set_nodelay(fd),
        None => false,
    }
}

/// The open TCP socket of this process whose local port is `local` and peer port `peer`.
fn socket_with_ports(local: u16, peer: u16) -> Option<RawFd> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .find(|&fd| {
            port_of(fd, libc::getsockname) == Some(local)
                && port_of(fd, libc::getpeername) == Some(peer)
        })
}

type NameFn =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// The port of `fd`'s local or peer address (`name` is getsockname or getpeername), if `fd`
/// is an IPv4 or IPv6 socket.
fn port_of(fd: RawFd, name: NameFn) -> Option<u16> {
    // SAFETY: `addr` is a zeroed sockaddr_storage, large enough for any address, and `len`
    // says its size; the call only writes into them. On an fd that is not a socket (or was
    // closed meanwhile) it fails and nothing is read.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe { name(fd, (&raw mut addr).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in>() };
            Some(u16::from_be(a.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in6>() };
            Some(u16::from_be(a.sin6_port))
        }
        _ => None,
    }
}

fn set_nodelay(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt with a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// The socket is found by its two ports among this process's descriptors, and only it gets
    /// TCP_NODELAY.
    #[test]
    fn the_socket_with_both_ports_is_found_and_set() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server_port = listener.local_addr().unwrap().port();
        let ours = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let other = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        let local = ours.local_addr().unwrap().port();
        assert!(!ours.nodelay().unwrap() && !other.nodelay().unwrap());

        let fd = socket_with_ports(local, server_port).expect("the socket is found");
        assert_eq!(fd, std::os::fd::AsRawFd::as_raw_fd(&ours));
        assert!(set_nodelay(fd));
        assert!(ours.nodelay().unwrap());
        assert!(
            !other.nodelay().unwrap(),
            "another connection is left alone"
        );

        // Ports no socket of ours has: nothing is found.
        assert_eq!(socket_with_ports(local, server_port.wrapping_add(1)), None);
    }
}
