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
        crate::cli::logging::init_stderr_with(crate::cli::logging::filter_or(
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
            "why did one fail? digis-relay --database-url {} search --log-dir {} --ext-info20 {card}",
            shell_word(&s.database_url),
            shell_word(&s.log_dir.display().to_string())
        )?;
    }
    Ok(ExitCode::SUCCESS)
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
    use super::shell_word;

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
}
