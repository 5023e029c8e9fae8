//! `run` under systemd's `Type=notify` (docs/systemd.md): `READY=1` once the database
//! answered the first heartbeat and the listener is bound, `STATUS=` with the delivery state when
//! it changes, `WATCHDOG=1` while the relay's loop beats (`crate::pulse`), `STOPPING=1` when a
//! stop begins. Without `NOTIFY_SOCKET` (a terminal, the dashboard, the demo, the tests of
//! everything else) nothing here runs.
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::pulse::Pulse;

/// How often the status line is looked at when no watchdog asks for more: a status changes
/// at most this often (not with every row sent).
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Longest status line: `systemctl status` shows one line; a long pause reason is cut.
const STATUS_MAX_CHARS: usize = 200;

/// The service manager's notification socket, read once from the environment.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: NotifySocket,
    /// `WATCHDOG_USEC` (for this process, `WATCHDOG_PID`): how often systemd wants a feed.
    watchdog: Option<Duration>,
}

#[derive(Debug, Clone)]
enum NotifySocket {
    Path(PathBuf),
    /// `@name`: a socket in the abstract namespace (systemd in a container can hand one).
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `NOTIFY_SOCKET` and `WATCHDOG_USEC`; `None` when there is no socket.
    pub fn from_env() -> Option<Notifier> {
        let socket = std::env::var_os("NOTIFY_SOCKET")?;
        Some(Notifier::new(socket.into(), sd_notify::watchdog_enabled()))
    }

    /// A notifier for `socket` (`@name` for the abstract namespace).
    pub fn new(socket: PathBuf, watchdog: Option<Duration>) -> Notifier {
        use std::os::unix::ffi::OsStrExt;
        let bytes = socket.as_os_str().as_bytes();
        let socket = match bytes.strip_prefix(b"@") {
            Some(name) => NotifySocket::Abstract(name.to_vec()),
            None => NotifySocket::Path(socket),
        };
        Notifier {
            socket,
            watchdog: watchdog.filter(|w| !w.is_zero()),
        }
    }

    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `states` in one datagram. A failure is logged and otherwise ignored: the relay's
    /// work does not depend on systemd hearing about it (a missed watchdog feed restarts it).
    pub fn send(&self, states: &[NotifyState]) {
        let mut msg = String::new();
        for s in states {
            msg.push_str(&s.to_string());
            msg.push('\n');
        }
        if let Err(e) = self.send_raw(msg.as_bytes()) {
            tracing::warn!("systemd notification failed: {e}");
        }
    }

    fn send_raw(&self, msg: &[u8]) -> std::io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        // Never blocks a runtime thread: with the manager's queue full (it is not reading),
        // the message is dropped and said in the log instead.
        sock.set_nonblocking(true)?;
        match &self.socket {
            NotifySocket::Path(p) => sock.send_to(msg, p)?,
            #[cfg(target_os = "linux")]
            NotifySocket::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(msg, &addr)?
            }
            #[cfg(not(target_os = "linux"))]
            NotifySocket::Abstract(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "abstract NOTIFY_SOCKET outside Linux",
                ))
            }
        };
        Ok(())
    }

    /// `READY=1` with the first status line.
    pub fn ready(&self, status: &str) {
        let status = cut(status, STATUS_MAX_CHARS);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// Feeds the watchdog and updates the status until the process ends: `WATCHDOG=1` every
    /// quarter of the interval while the pulse is fresh (its last beat at most half the
    /// interval ago), `STATUS=` when `status` says something new, `STOPPING=1` once `stop`
    /// fires. The relay's waits are set to wake every quarter interval to beat.
    ///
    /// A loop that beats at least every half interval is fed every quarter; a beat late by
    /// up to three quarters of the interval (a slow database call the loop cannot wake
    /// from) still leaves systemd's deadline met; a loop that stops beating goes unfed half an
    /// interval after its last beat, and systemd acts one interval later.
    pub fn spawn(
        self,
        pulse: Arc<Pulse>,
        status: impl Fn() -> String + Send + 'static,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let every = match self.watchdog {
            Some(w) => {
                pulse.set_every(w / 4);
                (w / 4).min(STATUS_EVERY)
            }
            None => STATUS_EVERY,
        };
        tokio::spawn(async move {
            let mut shown = String::new();
            let mut stopping = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.cancelled(), if !stopping => {
                        stopping = true;
                        self.send(&[
                            NotifyState::Stopping,
                            NotifyState::Status("stopping: finishing requests in flight"),
                        ]);
                    }
                }
                if let Some(w) = self.watchdog {
                    if feed_due(pulse.age(), w) {
                        self.send(&[NotifyState::Watchdog]);
                    }
                }
                if !stopping {
                    let now = cut(&status(), STATUS_MAX_CHARS);
                    if now != shown {
                        self.send(&[NotifyState::Status(&now)]);
                        shown = now;
                    }
                }
            }
        })
    }
}

/// Whether a pulse whose last beat is `age` old still proves the loop alive under a watchdog
/// of `interval`.
pub fn feed_due(age: Duration, interval: Duration) -> bool {
    age <= interval / 2
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bound notification socket in a temp dir, read by a thread into a list of messages
    /// with the time each came.
    struct Socket {
        _dir: tempfile::TempDir,
        path: PathBuf,
        got: Arc<std::sync::Mutex<Vec<(std::time::Instant, String)>>>,
    }

    fn socket() -> Socket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                kept.lock().unwrap().push((std::time::Instant::now(), text));
            }
        });
        Socket {
            _dir: dir,
            path,
            got,
        }
    }

    impl Socket {
        fn feeds(&self) -> Vec<std::time::Instant> {
            let got = self.got.lock().unwrap();
            got.iter()
                .filter(|(_, m)| m.contains("WATCHDOG=1"))
                .map(|(at, _)| *at)
                .collect()
        }

        fn all(&self) -> Vec<String> {
            let got = self.got.lock().unwrap();
            got.iter().map(|(_, m)| m.clone()).collect()
        }
    }

    /// Only a wedged loop goes unfed: while the pulse beats the watchdog is fed; once it stops
    /// beating (a loop stuck where it cannot wake), the feed stops within half an interval and
    /// does not come back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wedged_loop_stops_the_feed() {
        let sock = socket();
        let interval = Duration::from_millis(400);
        let pulse = Arc::new(Pulse::default());
        let task = Notifier::new(sock.path.clone(), Some(interval)).spawn(
            pulse.clone(),
            || "idle".to_string(),
            CancellationToken::new(),
        );
        // A live loop: it beats through a wait far longer than the interval.
        pulse
            .through(tokio::time::sleep(Duration::from_millis(1_500)))
            .await;
        let wedged_at = std::time::Instant::now();
        let live = sock.feeds().len();
        assert!(live >= 5, "fed {live} times in 1.5 s: {:?}", sock.all());
        assert!(sock.all().iter().any(|m| m.contains("STATUS=idle")));
        // Wedged: no beat from here on. Nothing can signal "no more feeds", so this waits
        // three intervals, twice what systemd would allow, and looks at when the last came.
        tokio::time::sleep(interval * 3).await;
        let last = *sock.feeds().last().unwrap();
        let after = last.saturating_duration_since(wedged_at);
        assert!(
            after <= interval / 2 + interval / 4,
            "fed {after:?} after the last beat"
        );
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_is_said_once_and_the_status_no_longer_changes() {
        let sock = socket();
        let stop = CancellationToken::new();
        let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let task = Notifier::new(sock.path.clone(), None).spawn(
            Arc::new(Pulse::default()),
            {
                let n = n.clone();
                move || {
                    let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    format!("idle: {i}")
                }
            },
            stop.clone(),
        );
        stop.cancel();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !sock.all().iter().any(|m| m.contains("STOPPING=1")) {
            assert!(std::time::Instant::now() < deadline, "no STOPPING=1");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A status that still changed would be sent every second: none in the next 2.5 s.
        tokio::time::sleep(STATUS_EVERY * 5 / 2).await;
        task.abort();
        let all = sock.all();
        assert_eq!(
            all.iter().filter(|m| m.contains("STOPPING=1")).count(),
            1,
            "{all:?}"
        );
        let after = all
            .iter()
            .skip_while(|m| !m.contains("STOPPING=1"))
            .skip(1)
            .count();
        assert_eq!(after, 0, "{all:?}");
    }

    /// A manager that does not read (its queue full) must not block the runtime thread that
    /// notifies: the first version blocked in send(2) once ten datagrams waited, and the relay's
    /// timers on that thread stopped with it.
    #[test]
    fn a_full_socket_drops_messages_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _unread = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path, None);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..200 {
                n.send(&[NotifyState::Watchdog]);
            }
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("sending to a full socket blocked");
    }

    #[test]
    fn a_long_status_is_cut() {
        let long = "x".repeat(500);
        let got = cut(&long, STATUS_MAX_CHARS);
        assert_eq!(got.chars().count(), STATUS_MAX_CHARS + 1);
        assert_eq!(cut("short", STATUS_MAX_CHARS), "short");
    }

    #[test]
    fn the_feed_needs_a_beat_within_half_the_interval() {
        let w = Duration::from_secs(60);
        assert!(feed_due(Duration::from_secs(30), w));
        assert!(!feed_due(Duration::from_secs(31), w));
    }
}
