//! `digis-relay export DigisAllActive [--format json|csv] [--output FILE]`: the same bytes as
//! `GET /export/DigisAllActive`, to standard output or a file.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::{AsyncWriteExt as _, BufWriter};

use super::{write_export, ExportError, ExportFormat, ExportSummary, NAME};
use crate::output::private_file::PrivateFile;
use crate::settings::{ExportSettings, PayloadSettings};
use crate::storage::DynStorage;

pub async fn run(
    storage: DynStorage,
    payload: &PayloadSettings,
    export: &ExportSettings,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let bar = progress_bar();
    let tick = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let summary = match &output {
        Some(path) => to_file(storage.as_ref(), payload, export, format, path, tick).await?,
        None => {
            let out = BufWriter::with_capacity(256 * 1024, tokio::io::stdout());
            match write_export(storage.as_ref(), payload, export, format, out, tick).await {
                Ok(s) => s,
                // The reader went away (`| head`): a quiet end, as `grep`'s (output::stdout).
                Err(ExportError::Io(e)) if crate::output::stdout::note_closed(&e) => {
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => return Err(anyhow::Error::new(e).context("export")),
            }
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    eprintln!("{}", summary_line(&summary, output.as_deref()));
    for s in &summary.skipped_examples {
        eprintln!(
            "  skipped person {} (subscription {}): {} (see `digis-relay preview --subscription {} --person {}`)",
            s.person_id, s.subscription_id, s.field, s.subscription_id, s.person_id
        );
    }
    if summary.skipped > summary.skipped_examples.len() as u64 {
        eprintln!(
            "  ... and {} more",
            summary.skipped - summary.skipped_examples.len() as u64
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Written through `output::private_file`: a new file of mode 0600 beside the target, renamed
/// over it when complete; a target that is not a regular file is refused, and a failure leaves
/// nothing behind.
async fn to_file(
    storage: &dyn crate::storage::Storage,
    payload: &PayloadSettings,
    export: &ExportSettings,
    format: ExportFormat,
    path: &Path,
    tick: impl FnMut(u64),
) -> anyhow::Result<ExportSummary> {
    let file = PrivateFile::create(path)?;
    let handle = file
        .handle()
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(handle));
    // Ctrl-C or SIGTERM midway: stop here, so dropping `file` removes what was written.
    let stop = crate::signals::stop_token();
    let summary = tokio::select! {
        s = write_export(storage, payload, export, format, &mut out, tick) => {
            s.with_context(|| format!("export to {}", path.display()))?
        }
        _ = stop.cancelled() => {
            anyhow::bail!("interrupted: {} was not written", path.display())
        }
    };
    out.flush()
        .await
        .with_context(|| format!("export to {}", path.display()))?;
    drop(out);
    file.commit()?;
    Ok(summary)
}

fn summary_line(s: &ExportSummary, output: Option<&Path>) -> String {
    let to = output
        .map(|p| format!(" to {}", p.display()))
        .unwrap_or_default();
    let skipped = if s.skipped == 0 {
        String::new()
    } else {
        format!(", {} skipped (no valid payload)", s.skipped)
    };
    format!(
        "export {NAME}: {} member(s) written{to}{skipped}; {} page(s) read",
        s.written, s.pages
    )
}

/// A counter on stderr, only when a person is watching it.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} members exported ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}
