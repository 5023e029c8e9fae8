//! The dashboard ends with its terminal (docs/contracts.md, Dashboard). Seen: `tui` in tmux, then
//! `tmux kill-session`: the process spun at 45-70 % CPU, ignored SIGTERM (the main thread
//! joining the input thread, which looped in crossterm's reader on the terminal that was gone)
//! and its relay kept heartbeating and holding claims; only SIGKILL ended it.
//!
//! The real binary with its relay in a real terminal (tmux), a slow fake Digis so rows are
//! `sending` when the terminal goes: the process must exit within seconds and give its claims
//! back as `run` does (no row left `sending`, its heartbeat row `stopped`).
use std::process::Command;
use std::time::Duration;

use digis_relay::fake_digis::FakeHandle;

use crate::common::{eventually, write_config, TestDb, BIN};

/// How long the dashboard may take to exit: the relay finishes the requests in flight (the fake
/// answers within 2 s) and writes its `stopped` heartbeat.
const EXIT_WITHIN: Duration = Duration::from_secs(20);

/// A tmux server of this test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "this test needs tmux to give the dashboard a terminal: install it (apt-get install tmux)"
        );
        let socket = format!(
            "digis-hangup-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let t = Tmux { socket };
        // A session that outlives the dashboard's, so killing that one leaves the server (which
        // reaps the dashboard's process) running.
        t.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "keep",
            "sleep 600",
        ]);
        t
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn pane(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The dashboard's process, SIGKILLed when dropped while it still runs: one that failed to end
/// would otherwise spin on for the rest of the suite (tmux's server, its parent, is gone then).
struct Dashboard(u32);

impl Drop for Dashboard {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
}

/// True while `pid` runs (a zombie has exited: tmux reaps it when it gets to it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// What the process used of the CPU so far, in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted after the command's closing parenthesis.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Eight members queued, Digis answering each after 2 s; the dashboard with its relay started
/// in tmux session `dash` (the binary is the pane's process). Returns once rows are `sending`
/// and Digis has requests in flight: its pid.
async fn dashboard_with_claims(db: &TestDb, tmux: &Tmux) -> (Dashboard, FakeHandle) {
    let fake = crate::common::fake(&["delay_ms=2000"]).await;
    let config = write_config(
        db,
        &fake.base_url(),
        "[relay]\nconcurrency = 4\nheartbeat_ms = 200\n",
    );
    db.active_with(1, &[1, 2, 3, 4, 5, 6, 7, 8]).await;
    // `exec`, twice: the binary is the pane's process, so its pid is the pane's.
    let command = format!(
        "exec env -u DATABASE_URL -u DIGIS_RELAY_CONFIG NO_COLOR=1 {BIN} --config {} tui",
        config.display()
    );
    tmux.ok(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    let pid: u32 = tmux
        .ok(&["display-message", "-p", "-t", "dash", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("the pane's pid");
    let dashboard = Dashboard(pid);
    eventually(
        "rows claimed and requests in flight",
        Duration::from_secs(60),
        || async {
            let sending = db
                .scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'sending'")
                .await;
            (sending > 0 && !fake.received().is_empty()).then_some(())
        },
    )
    .await;
    assert!(
        tmux.pane("dash").contains("a relay runs in this dashboard"),
        "the dashboard does not say its relay runs:\n{}",
        tmux.pane("dash")
    );
    (dashboard, fake)
}

/// The relay gave its claims back as `run` does: nothing `sending`, its heartbeat `stopped`.
async fn claims_given_back(db: &TestDb) {
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'sending'")
            .await,
        0,
        "rows left sending: {:?}",
        db.outbox().await
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_relay WHERE state <> 'stopped'")
            .await,
        0,
        "a relay row not marked stopped"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_relay").await,
        1,
        "the dashboard's relay wrote no heartbeat row"
    );
}

async fn exits(pid: u32, what: &str) {
    let before = cpu_ticks(pid);
    eventually(what, EXIT_WITHIN, || async { (!alive(pid)).then_some(()) }).await;
    // A process that spun its way out would show it: 20 s at 50 % is 1,000 ticks.
    if let (Some(before), Some(after)) = (before, cpu_ticks(pid)) {
        assert!(
            after - before < 300,
            "it used {} ticks of CPU on its way out",
            after - before
        );
    }
}

/// `tmux kill-session`: the terminal hangs up under the dashboard (as when an SSH session
/// drops).
async fn terminal_gone_ends_the_dashboard_and_its_claims(db: TestDb) {
    let tmux = Tmux::start();
    let (dashboard, _fake) = dashboard_with_claims(&db, &tmux).await;
    tmux.ok(&["kill-session", "-t", "dash"]);
    exits(
        dashboard.0,
        "the dashboard exits after its terminal is gone",
    )
    .await;
    claims_given_back(&db).await;
}

/// SIGTERM (a service manager, `kill`) while its terminal is there.
async fn sigterm_ends_the_dashboard_and_its_claims(db: TestDb) {
    let tmux = Tmux::start();
    let (dashboard, _fake) = dashboard_with_claims(&db, &tmux).await;
    let pid = dashboard.0;
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
    exits(pid, "the dashboard exits on SIGTERM").await;
    claims_given_back(&db).await;
}

crate::both_databases!(
    terminal_gone_ends_the_dashboard_and_its_claims,
    sigterm_ends_the_dashboard_and_its_claims
);
