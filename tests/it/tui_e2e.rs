//! The real binary in a real terminal: scripts/tui-e2e.sh drives `digis-relay tui --no-relay`
//! in tmux (start, see counts, retry a failed row, quit) and checks the database and the
//! terminal afterwards.
use std::process::Command;

#[test]
fn tui_e2e() {
    let has = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    // No silent skip: a missing tool is a failed test that says what to install.
    assert!(
        has("tmux", "-V"),
        "tui_e2e needs tmux to drive the dashboard in a terminal: install it (apt-get install tmux)"
    );
    assert!(
        has("sqlite3", "-version"),
        "tui_e2e needs the sqlite3 command-line tool: install it (apt-get install sqlite3)"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tui-e2e.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("BIN", crate::common::BIN)
        .env_remove("NO_COLOR")
        .output()
        .expect("run scripts/tui-e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scripts/tui-e2e.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("tui-e2e: OK"), "{stdout}\n{stderr}");
}
