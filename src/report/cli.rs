//! `digis-relay report failures [--unit ID] [--csv FILE]`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::{render_groups, write_failures_csv, GROUP_LIMIT};
use crate::domain::UnitId;
use crate::storage::DynStorage;

/// Without `csv`: the groups and their counts on stdout (no member's data). With it: every
/// failed member to FILE (mode 0600, written as FILE.partial and renamed when complete), and
/// `N rows written to FILE` on stderr.
pub async fn failures(
    storage: DynStorage,
    unit: Option<UnitId>,
    csv: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let Some(path) = csv else {
        let groups = storage.failure_groups(unit, GROUP_LIMIT).await?;
        print!("{}", render_groups(&groups, unit));
        if groups.len() as u32 >= GROUP_LIMIT {
            println!("(only the {GROUP_LIMIT} largest groups are listed)");
        }
        return Ok(ExitCode::SUCCESS);
    };
    if path.as_os_str() == "-" {
        anyhow::bail!(
            "the report holds members' names and cards: it is written to a file only (--csv FILE), not to standard output"
        );
    }
    let written = to_file(&*storage, unit, &path).await?;
    eprintln!("{written} rows written to {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes next to the target and renames at the end, so an interrupted report never leaves a
/// file that looks complete. The file is created readable by its owner only: it holds
/// personal data.
async fn to_file(
    storage: &dyn crate::storage::Storage,
    unit: Option<UnitId>,
    path: &Path,
) -> anyhow::Result<u64> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A leftover of an interrupted run keeps its own mode when opened again: start afresh.
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", partial.display())),
    }
    let file =
        private_file(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = write_failures_csv(storage, unit, &mut out)
        .await
        .and_then(|n| {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(n)
        });
    match result {
        Ok(n) => {
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot move the report to {}", path.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e.context(format!("report to {}", path.display())))
        }
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
