//! `digis-relay demo [--headless] [--duration SECS]`.
use std::process::ExitCode;
use std::time::Duration;

use super::{run, DemoOptions};

pub async fn demo(
    headless: bool,
    duration: Option<u64>,
    dir: std::path::PathBuf,
    members: usize,
) -> anyhow::Result<ExitCode> {
    if headless {
        // The progress lines are the point here: one line per attempt would drown them (they
        // are in the sync log under --dir; failed ones, which are warnings, in the summary too).
        crate::logging::init_stderr_with(crate::logging::filter_or(
            "warn,digis_relay=info,digis_relay::sync=error",
        ));
    }
    let opts = DemoOptions {
        headless,
        duration: duration.map(Duration::from_secs),
        dir,
        members,
    };
    let s = run(opts).await?;
    crate::outln!("summary:")?;
    crate::outln!("  queued:    {}", s.queued)?;
    crate::outln!("  sent:      {}", s.sent)?;
    crate::outln!("  failed:    {}", s.failed)?;
    crate::outln!("  retried:   {}", s.retried)?;
    crate::outln!("  discarded: {}", s.discarded)?;
    crate::outln!("  waiting:   {}", s.pending)?;
    crate::outln!(
        "  fake Digis received {} request(s), {} duplicate(s)",
        s.digis_requests,
        s.duplicates
    )?;
    if let Some(card) = s.failed_cards.first() {
        // Without the log folder, search would find the database half only and say so.
        crate::outln!(
            "why did one fail? {} --database-url {} search --log-dir {} --ext-info20 {card}",
            program(),
            shell_word(&s.database_url),
            shell_word(&s.log_dir.display().to_string())
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How to name this binary in a command to paste: `digis-relay` when that is what the shell
/// finds on PATH (an installed package, `cargo install`), else the running binary's own path:
/// after `cargo run` the binary is not on PATH and a bare `digis-relay` answered
/// `command not found`.
fn program() -> String {
    match std::env::current_exe() {
        Ok(exe) => program_name(&exe, std::env::var_os("PATH").as_deref()),
        Err(_) => "digis-relay".into(),
    }
}

fn program_name(exe: &std::path::Path, path: Option<&std::ffi::OsStr>) -> String {
    let found = path.and_then(|p| {
        std::env::split_paths(p)
            .map(|dir| dir.join("digis-relay"))
            .find(|candidate| candidate.is_file())
    });
    let same = |a: &std::path::Path, b: &std::path::Path| match (
        std::fs::canonicalize(a),
        std::fs::canonicalize(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match found {
        Some(found) if same(&found, exe) => "digis-relay".into(),
        _ => shell_word(&exe.display().to_string()),
    }
}

/// `text` as one word for a POSIX shell, so the printed command can be pasted as it is.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:+=@%,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::{program_name, shell_word};

    #[test]
    fn shell_words_survive_spaces_and_quotes() {
        assert_eq!(
            shell_word("sqlite:///tmp/a/demo.db"),
            "sqlite:///tmp/a/demo.db"
        );
        assert_eq!(shell_word("/tmp/my demo/logs"), "'/tmp/my demo/logs'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_hint_names_digis_relay_only_when_the_shell_finds_this_binary_by_that_name() {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("target dir/release");
        std::fs::create_dir_all(&build).unwrap();
        let exe = build.join("digis-relay");
        std::fs::write(&exe, b"").unwrap();
        let quoted = format!("'{}'", exe.display());
        // `cargo run`: the build folder is not on PATH.
        let path = std::env::join_paths(["/usr/bin", "/bin"]).unwrap();
        assert_eq!(program_name(&exe, Some(&path)), quoted);
        assert_eq!(program_name(&exe, None), quoted);
        // Another digis-relay first on PATH (an older install) is not this one.
        let other = dir.path().join("bin");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("digis-relay"), b"").unwrap();
        let path = std::env::join_paths([&other, &build]).unwrap();
        assert_eq!(program_name(&exe, Some(&path)), quoted);
        // Installed: PATH finds it (through a link too, as /usr/bin -> /bin may be).
        let path = std::env::join_paths([&build]).unwrap();
        assert_eq!(program_name(&exe, Some(&path)), "digis-relay");
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&build, &linked).unwrap();
        let path = std::env::join_paths([&linked]).unwrap();
        assert_eq!(program_name(&exe, Some(&path)), "digis-relay");
    }
}
