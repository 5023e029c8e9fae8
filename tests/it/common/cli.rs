//! The real binary as a command: run to completion, its output captured.
use std::path::Path;
use std::process::{Command, ExitStatus, Output};

use super::TestDb;

/// The program under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_digis-relay");

/// `digis-relay` without what the test's own environment would point it at (`DATABASE_URL`,
/// `DIGIS_RELAY_CONFIG`): the one way the suite starts the binary, as a command or a service.
pub fn command() -> Command {
    command_for(Path::new(BIN))
}

/// [`command`] for another build of the binary (the release build the reliability runs and
/// the benches measure).
pub fn command_for(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("DATABASE_URL")
        .env_remove("DIGIS_RELAY_CONFIG");
    cmd
}

/// [`command`] with `--config CONFIG`.
pub fn with_config(config: &Path) -> Command {
    let mut cmd = command();
    cmd.arg("--config").arg(config);
    cmd
}

/// What a finished command left, as text.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub ok: bool,
    /// The exit code, -1 for a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Runs `cmd` to completion, its output captured.
    pub fn of(cmd: &mut Command) -> Out {
        Out::from(cmd.output().expect("run digis-relay"))
    }

    /// Asserts the exit code (both streams in the message) and hands back stdout.
    pub fn stdout_of_code(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{}{}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Both streams, stdout first.
    pub fn both(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// (exit code, stdout, stderr).
    pub fn parts(self) -> (Option<i32>, String, String) {
        (self.status.code(), self.stdout, self.stderr)
    }
}

impl From<Output> for Out {
    fn from(out: Output) -> Out {
        Out {
            status: out.status,
            ok: out.status.success(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }
}

/// `digis-relay --config CONFIG ARGS` to completion.
pub fn cli(config: &Path, args: &[&str]) -> Output {
    with_config(config)
        .args(args)
        .output()
        .expect("run digis-relay")
}

/// `digis-relay --database-url URL ARGS` in the test's folder, as an operator types it.
pub fn cli_db(db: &TestDb, args: &[&str]) -> Out {
    Out::of(
        command()
            .current_dir(db.dir.path())
            .args(["--database-url", &db.url])
            .args(args),
    )
}

/// [`command`] as support runs it on the database's machine, in the test's folder:
/// `--database-url URL --log-dir LOGS` (the folder's `logs/`), no configuration file.
pub fn operator(db: &TestDb) -> Command {
    let mut cmd = command();
    cmd.current_dir(db.dir.path())
        .arg("--database-url")
        .arg(&db.url)
        .arg("--log-dir")
        .arg(db.dir.path().join("logs"));
    cmd
}

/// `digis-relay ARGS` in folder `dir`, with no configuration but what is found there.
pub fn cli_in(dir: &Path, args: &[&str]) -> Out {
    Out::of(command().current_dir(dir).args(args))
}

/// [`cli`], which must succeed.
pub fn cli_ok(config: &Path, args: &[&str]) {
    let out = cli(config, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The line of `doctor` check `name` (the name column is 16 wide after the 9-character level).
pub fn doctor_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.get(9..)
            .is_some_and(|rest| rest.starts_with(&format!("{name:<16} ")))
    })
}

/// [`doctor_line`], which must be there.
pub fn doctor_must<'a>(text: &'a str, name: &str) -> &'a str {
    doctor_line(text, name).unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
}

/// A finished command as text: its exit code, stdout and stderr, for a failure message or a
/// search over all it said.
pub fn said(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Both streams of a finished command, stdout first.
pub fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Shell command `line` run on a pseudo-terminal (util-linux `script`) in `dir` with `env`
/// added, `answer` typed on it: all the terminal showed.
pub fn on_terminal(dir: &Path, line: &str, env: &[(&str, &str)], answer: &str) -> String {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs the binary on a pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
