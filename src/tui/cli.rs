//! `digis-relay tui [--no-relay]`.
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::service::{Service, ServiceError, ServiceOptions};
use crate::storage::DynStorage;

use super::TuiOptions;

/// Opens the dashboard on `storage`. Without `no_relay` a relay runs in this process for as long
/// as the dashboard is open (the embedded, zero-setup mode); with it, relays elsewhere on the
/// same database deliver and the dashboard only reads and writes rows.
pub async fn run(storage: DynStorage, config: &Config, no_relay: bool) -> anyhow::Result<ExitCode> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!("the dashboard needs a terminal; use `digis-relay status` in scripts");
    }
    let config = Arc::new(config.clone());
    // The dashboard handles its own keys and signals: the service stops when it closes.
    let service = Service::start(
        storage.clone(),
        config.clone(),
        ServiceOptions {
            relay: !no_relay,
            ..ServiceOptions::default()
        },
    )
    .await
    .map_err(|e| match e {
        ServiceError::Client(e) => anyhow::Error::new(e)
            .context("cannot run a relay in the dashboard (`tui --no-relay` opens it without one)"),
        e => e.into(),
    })?;
    let opts = TuiOptions {
        relay_running_here: service.relay().is_some(),
    };
    let shown = super::run(storage, config, opts).await;
    if opts.relay_running_here {
        // The terminal is back to normal here, so this can be said on stderr; unless it is
        // gone (a dropped SSH session), and then the relay is stopped all the same.
        say("stopping the relay: finishing requests in flight");
        match service.shutdown().await {
            Ok(_) => {}
            Err(ServiceError::RelayCrashed(e)) => {
                say(&format!("error: the relay in the dashboard crashed: {e}"))
            }
            Err(e) => say(&format!("error: the relay in the dashboard stopped: {e}")),
        }
    }
    shown?;
    Ok(ExitCode::SUCCESS)
}

/// One line on stderr, or nothing when it cannot be written: `eprintln!` panics on a terminal
/// that hung up, which would end the process before its relay gave its claims back.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
