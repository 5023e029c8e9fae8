//! The real binary as a service: started, watched, stopped.
use std::sync::Arc;

use super::with_config;

/// `digis-relay run` as a service on a port it picked itself (`--listen 127.0.0.1:0`, or an
/// address ending in `:0` from the configuration), found from the `listening on http://ADDR`
/// (or `https://ADDR`) line it prints on stderr. Everything it writes to stderr is kept; it is
/// killed when dropped.
pub struct RunningService {
    child: Option<std::process::Child>,
    pub addr: std::net::SocketAddr,
    /// `http` or `https`, as it said.
    pub scheme: &'static str,
    stderr: Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl RunningService {
    /// `digis-relay --config CONFIG run --listen 127.0.0.1:0`, without `DATABASE_URL` or
    /// `DIGIS_RELAY_CONFIG` from the test's environment.
    pub fn start(config: &std::path::Path) -> RunningService {
        let mut cmd = with_config(config);
        cmd.args(["run", "--listen", "127.0.0.1:0"]);
        Self::spawn(cmd)
    }

    /// Spawns `cmd` (a `run` that will listen) and waits until it says where.
    pub fn spawn(mut cmd: std::process::Command) -> RunningService {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start digis-relay");
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let kept = stderr.clone();
        // Keeps the pipe drained for the whole run, so the service never blocks on its log.
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                for (prefix, scheme) in [
                    ("listening on http://", "http"),
                    ("listening on https://", "https"),
                ] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send((addr, scheme));
                    }
                }
                let mut all = kept.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let (addr, scheme) = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok((a, scheme)) => (
                a.parse()
                    .expect("a socket address after `listening on http://`"),
                scheme,
            ),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "`run` never said where it listens ({status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        RunningService {
            child: Some(child),
            addr,
            scheme,
            stderr,
            reader: Some(reader),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A memory figure of `/proc/PID/status` now, in KiB: `VmRSS` (all resident memory) or
    /// `RssAnon` (its heap and stacks, without the pages of the program file itself).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the service's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().unwrap().try_wait(), Ok(None))
    }

    /// SIGTERM, then waits for it to exit: its exit status and all it wrote to stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {}", child.id());
        let status = child.wait().unwrap();
        // The pipe closed with the process: the reader has everything once it ends.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.stderr())
    }

    /// SIGTERM, and it must exit 0 (its status and stderr in the message otherwise).
    pub fn stop_gracefully(self) {
        let (status, stderr) = self.terminate();
        assert!(
            status.success(),
            "SIGTERM ended it with {status}:\n{stderr}"
        );
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A process a test started itself, killed when the guard drops while it still runs: a test
/// that panics before stopping its relay would otherwise leave it holding its database and a
/// share of the CPU for the rest of the suite.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    pub fn spawn(cmd: &mut std::process::Command) -> KillOnDrop {
        KillOnDrop(cmd.spawn().expect("starting the binary"))
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits for `child` to exit by itself: its status; panics naming `what` after `within`.
pub async fn exit_of(
    child: &mut std::process::Child,
    what: &str,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    super::eventually(what, within, || {
        let status = child.try_wait().expect("the child's status");
        async move { status }
    })
    .await
}

/// `digis-relay --config CONFIG ARGS` in the background, its output discarded; killed when
/// dropped.
pub fn spawn_quiet(config: &std::path::Path, args: &[&str]) -> KillOnDrop {
    use std::process::Stdio;
    KillOnDrop::spawn(
        with_config(config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}
