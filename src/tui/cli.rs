//! `digis-relay tui [--no-relay]`.
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::storage::DynStorage;

use super::TuiOptions;

/// Opens the dashboard on `storage`. The relay inside the dashboard (without `--no-relay`) is
/// started by the relay module's wiring; until then relays on the database deliver.
pub async fn run(storage: DynStorage, config: &Config, no_relay: bool) -> anyhow::Result<ExitCode> {
    let _ = no_relay;
    let opts = TuiOptions {
        relay_running_here: false,
    };
    super::run(storage, Arc::new(config.clone()), opts).await?;
    Ok(ExitCode::SUCCESS)
}
