//! `digis-relay export DigisAllActive [--format json|csv] [--output FILE]`: the same bytes as
//! `GET /export/DigisAllActive`, to standard output or a file.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::BufWriter;

use super::{write_export, ExportFormat, ExportSummary, NAME};
use crate::config::Config;
use crate::storage::DynStorage;

pub async fn run(
    storage: DynStorage,
    config: &Config,
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
        Some(path) => to_file(storage.as_ref(), config, format, path, tick).await?,
        None => {
            let out = BufWriter::with_capacity(256 * 1024, tokio::io::stdout());
            write_export(storage.as_ref(), config, format, out, tick)
                .await
                .context("export")?
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

/// Writes next to the target and renames at the end, so an interrupted export never leaves a
/// file that looks complete.
async fn to_file(
    storage: &dyn crate::storage::Storage,
    config: &Config,
    format: ExportFormat,
    path: &Path,
    tick: impl FnMut(u64),
) -> anyhow::Result<ExportSummary> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let result = write_export(storage, config, format, &mut out, tick).await;
    let result = match result {
        Ok(s) => out
            .into_inner()
            .sync_all()
            .await
            .map(|_| s)
            .map_err(Into::into),
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) => {
            tokio::fs::rename(&partial, path)
                .await
                .with_context(|| format!("cannot move the export to {}", path.display()))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(anyhow::Error::new(e).context(format!("export to {}", path.display())))
        }
    }
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
