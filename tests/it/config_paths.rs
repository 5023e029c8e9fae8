//! Relative paths written in a configuration file mean the file's folder (issue 25, item 2;
//! DESIGN §9), through the real binary on both databases: a relay run with `--config` from one
//! folder and a `search` from another read and write the same sync log and database, and
//! neither leaves files in its working directory. Flags keep meaning the working directory.
//! `run` says where it writes; `doctor` warns about a relative path whose meaning depends on it.
use std::path::Path;
use std::process::{Command, Output};

use crate::both_databases;
use crate::common::{command, fake, Kind, TestDb, BIN, TOKEN};

both_databases!(relative_paths_in_the_file_mean_its_folder_from_any_working_directory);

fn bin(cwd: &Path, args: &[&str]) -> Output {
    command().current_dir(cwd).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

async fn relative_paths_in_the_file_mean_its_folder_from_any_working_directory(db: TestDb) {
    db.active_with(5, &[1]).await;
    let fake = fake(&[]).await;
    let home = db.dir.path();
    // The SQLite test database is `test.db` in the config's folder: written relative.
    let database_url = match db.kind {
        Kind::Sqlite => "sqlite://test.db".to_string(),
        Kind::Postgres => db.url.clone(),
    };
    let cfg = home.join("digis-relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "database_url = \"{database_url}\"\nlog_dir = \"logs\"\nstate_dir = \"state\"\n\
             useDigis = true\ndigisUrl = \"{}\"\ndigisUrlPostfix = \"brp?token={TOKEN}\"\n\
             digis_timeout_ms = 10000\n[relay]\nrelay_id = \"paths\"\n[export]\nlisten = \"\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let search_dir = tempfile::tempdir().unwrap();

    let out = bin(run_dir.path(), &["--config", cfg, "run", "--once"]);
    assert!(out.status.success(), "{}", text(&out));
    let sync_log = home.join("logs").join("scheduler_digis_sync.txt");
    let logged = std::fs::read_to_string(&sync_log).unwrap_or_default();
    assert!(
        logged.contains("ExtInfo1:5") && logged.contains("outcome=sent"),
        "the sync log is in the config's folder: {logged:?}\n{}",
        text(&out)
    );
    assert_eq!(
        entries(run_dir.path()),
        Vec::<String>::new(),
        "nothing written in the working directory"
    );
    // `run` says where it writes, in full.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("the sync log {}", sync_log.display()))
            && said.contains(&format!("held answers in {}", home.join("state").display())),
        "{said}"
    );

    let out = bin(
        search_dir.path(),
        &["--config", cfg, "search", "--ext-info1", "5", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["log_dir"].as_str(),
        Some(home.join("logs").to_str().unwrap()),
        "{v}"
    );
    assert_eq!(v["log_dir_exists"], true, "{v}");
    assert_eq!(
        v["log_files_scanned"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    assert_eq!(v["verdicts"][0]["verdict"], "sent", "{v}");
    assert_eq!(entries(search_dir.path()), Vec::<String>::new());

    // doctor, from another folder: both relative paths now mean something else than the
    // working directory, and it says so; from the config's own folder they do not.
    let out = bin(run_dir.path(), &["--config", cfg, "doctor", "--no-network"]);
    let said = text(&out);
    let warned: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("warning") && l.contains("config paths"))
        .collect();
    let expected = if db.kind == Kind::Sqlite { 3 } else { 2 };
    assert_eq!(warned.len(), expected, "{said}");
    assert!(
        warned.iter().any(|l| l.contains("log_dir = \"logs\"")
            && l.contains(&home.join("logs").display().to_string())
            && l.contains(&run_dir.path().join("logs").display().to_string())),
        "{said}"
    );
    let out = bin(home, &["--config", cfg, "doctor", "--no-network"]);
    assert!(!text(&out).contains("config paths"), "{}", text(&out));

    // A relative path given as a flag means the working directory, as the shell does.
    let out = bin(
        run_dir.path(),
        &["--config", cfg, "--log-dir", "flagged", "run", "--once"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        run_dir
            .path()
            .join("flagged")
            .join("scheduler_digis_sync.txt")
            .is_file(),
        "{:?}",
        entries(run_dir.path())
    );
}

/// A tmux server of this test's own (its own socket), killed when dropped: the dashboard needs a
/// terminal.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.0, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("this test needs tmux (apt-get install tmux)")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// `tui` opened in another folder (a home folder) with `--config`: its relay writes the sync
/// log and opens the database in the config's folder, creates nothing where it was started,
/// and the dashboard says where the sync log is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_writes_in_the_configs_folder_and_says_so() {
    let db = TestDb::sqlite().await;
    db.active_with(5, &[1]).await;
    let fake = fake(&[]).await;
    let home = db.dir.path();
    let cfg = home.join("digis-relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "database_url = \"sqlite://test.db\"\nlog_dir = \"logs\"\nstate_dir = \"state\"\n\
             useDigis = true\ndigisUrl = \"{}\"\ndigisUrlPostfix = \"brp?token={TOKEN}\"\n\
             digis_timeout_ms = 10000\n[relay]\nrelay_id = \"dash\"\npoll_interval_ms = 50\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let tmux = Tmux(format!(
        "digis-paths-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let command = format!(
        "cd {} && exec env -u DATABASE_URL -u DIGIS_RELAY_CONFIG NO_COLOR=1 {BIN} --config {} tui",
        elsewhere.path().display(),
        cfg.display()
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        "200",
        "-y",
        "30",
        &command,
    ]);
    assert!(started.status.success(), "{}", text(&started));
    let sync_log = home.join("logs").join("scheduler_digis_sync.txt");
    crate::common::eventually(
        "the dashboard's relay sent the row",
        std::time::Duration::from_secs(60),
        || async {
            let logged = std::fs::read_to_string(&sync_log).unwrap_or_default();
            logged.contains("outcome=sent").then_some(())
        },
    )
    .await;
    let pane = String::from_utf8_lossy(&tmux.run(&["capture-pane", "-p", "-t", "dash"]).stdout)
        .into_owned();
    assert!(
        pane.contains(&format!("sync log in {}", home.join("logs").display())),
        "{pane}"
    );
    assert_eq!(
        entries(elsewhere.path()),
        Vec::<String>::new(),
        "no second sync log (or database) where the dashboard was opened"
    );
}
