//! `digis-relay report failures [--unit ID] [--csv FILE]`.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{render_groups, write_failures_csv, GROUP_LIMIT};
use crate::domain::UnitId;
use crate::output::private_file::PrivateFile;
use crate::storage::DynStorage;

/// Without `csv`: the groups and their counts on stdout (no member's data). With it: every
/// failed member to FILE (mode 0600, `output::private_file`), and `N rows written to FILE` on
/// stderr.
pub async fn failures(
    storage: DynStorage,
    unit: Option<UnitId>,
    csv: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let Some(path) = csv else {
        let groups = storage.failure_groups(unit, GROUP_LIMIT).await?;
        crate::out!("{}", render_groups(&groups, unit))?;
        if groups.len() as u32 >= GROUP_LIMIT {
            crate::outln!("(only the {GROUP_LIMIT} largest groups are listed)")?;
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

/// Written through `output::private_file`: a new file of mode 0600 beside the target, renamed
/// over it when complete; a target that is not a regular file is refused, and a failure leaves
/// nothing behind.
async fn to_file(
    storage: &dyn crate::storage::Storage,
    unit: Option<UnitId>,
    path: &Path,
) -> anyhow::Result<u64> {
    let mut file = PrivateFile::create(path)?;
    // Ctrl-C or SIGTERM midway: stop here, so dropping `file` removes what was written.
    let stop = crate::signals::stop_token();
    let written = {
        let mut out = std::io::BufWriter::new(file.file());
        let n = tokio::select! {
            n = write_failures_csv(storage, unit, &mut out) => n?,
            _ = stop.cancelled() => {
                anyhow::bail!("interrupted: {} was not written", path.display())
            }
        };
        out.flush()?;
        n
    };
    file.commit()?;
    Ok(written)
}
