//! `digis-relay fake-digis`: serves the fake until SIGINT/SIGTERM.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{start, FakeConfig, FaultRule};

/// The `fake-digis` command: `--listen`, `--record`, `--fault`s and `--token` as given.
pub async fn run(
    listen: &str,
    record: Option<PathBuf>,
    faults: &[String],
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    let rules = faults
        .iter()
        .map(|s| s.parse::<FaultRule>())
        .collect::<Result<Vec<_>, _>>()
        .context("--fault")?;
    // One line per request on stderr (ids and card numbers only, never bodies or tokens);
    // RUST_LOG=fake_digis=warn silences it.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("fake_digis=info")),
        )
        .with_target(false)
        .try_init();
    // Before the address is printed: whoever reads it may send SIGTERM at once.
    let stop = stop_signal()?;
    let fake = start(
        listen,
        FakeConfig {
            token,
            rules: rules.clone(),
            record: record.clone(),
        },
    )
    .await?;
    crate::outln!("fake Digis listening on {}", fake.base_url())?;
    if let Some(path) = &record {
        crate::outln!("recording requests to {}", path.display())?;
    }
    for r in &rules {
        crate::outln!("fault rule: {r}")?;
    }
    stop.await?;
    let (received, accepted, duplicates) = (
        fake.received().len(),
        fake.accepted().len(),
        fake.duplicates(),
    );
    fake.shutdown().await;
    crate::outln!(
        "fake Digis stopped: {received} request(s) received, {accepted} accepted, {duplicates} duplicate(s)"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Registers the SIGINT/SIGTERM handlers now and returns the wait for either.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            Ok(())
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    })
}
