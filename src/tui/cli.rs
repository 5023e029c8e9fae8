//! `digis-relay tui [--no-relay]`.
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::relay::Relay;
use crate::storage::DynStorage;
use crate::synclog::SyncLog;

use super::TuiOptions;

/// Opens the dashboard on `storage`. Without `no_relay` a relay runs in this process for as long
/// as the dashboard is open (the embedded, zero-setup mode); with it, relays elsewhere on the
/// same database deliver and the dashboard only reads and writes rows.
pub async fn run(storage: DynStorage, config: &Config, no_relay: bool) -> anyhow::Result<ExitCode> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!("the dashboard needs a terminal; use `digis-relay status` in scripts");
    }
    let config = Arc::new(config.clone());
    let relay = if no_relay {
        None
    } else {
        let synclog = Arc::new(SyncLog::open(&config.log_dir)?);
        let relay = Relay::new(storage.clone(), config.clone(), synclog).context(
            "cannot run a relay in the dashboard (`tui --no-relay` opens it without one)",
        )?;
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { relay.run(stop, false).await }
        });
        Some((stop, task))
    };
    let opts = TuiOptions {
        relay_running_here: relay.is_some(),
    };
    let shown = super::run(storage, config, opts).await;
    if let Some((stop, task)) = relay {
        // The terminal is back to normal here, so this can be said on stderr.
        eprintln!("stopping the relay: finishing requests in flight");
        stop.cancel();
        match task.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("error: the relay in the dashboard stopped: {e}"),
            Err(e) => eprintln!("error: the relay in the dashboard crashed: {e}"),
        }
    }
    shown?;
    Ok(ExitCode::SUCCESS)
}
