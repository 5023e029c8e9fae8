//! `completions SHELL` and `man [--dir DIR]`: shell completions (`clap_complete`) and man pages
//! (`clap_mangen`) generated at run time from the same clap definitions as `--help`, so they
//! can never describe another version's commands. Neither reads the configuration.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

const BIN: &str = "digis-relay";

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = super::args::command();
    // Generated into memory first: clap_complete panics on a write error, and standard output
    // may be a closed pipe (`completions bash | head`; output::stdout).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut script);
    crate::output::stdout::write_bytes(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The top page on standard output, or every page (`digis-relay.1`, `digis-relay-search.1`,
/// ...) into `dir`.
pub fn man(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let cmd = super::args::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            eprintln!("man pages written to {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .context("writing the man page")?;
            crate::output::stdout::write_bytes(&page)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
