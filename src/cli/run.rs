//! `digis-relay run [--once] [--listen ADDR]`: the relay as a service.
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::setup::Context;
use crate::relay::Relay;
use crate::synclog::SyncLog;

pub async fn run(ctx: Context, once: bool, listen: Option<String>) -> anyhow::Result<ExitCode> {
    super::logging::init_stderr();
    let storage = ctx.storage().await?;
    let config = Arc::new(ctx.config);
    let synclog = Arc::new(SyncLog::open(&config.log_dir)?);
    let relay = Relay::new(storage.clone(), config.clone(), synclog).context("digis client")?;
    if !config.use_digis {
        eprintln!("useDigis is false: the relay runs but sends nothing");
    }
    let shutdown = super::logging::shutdown_on_signals();
    let _ = &listen;
    let tally = relay.run(shutdown, once).await?;
    if once {
        let control = storage.control().await?;
        println!(
            "sent {}, retry later {}, failed {}, discarded {}, paused {}{}",
            tally.sent,
            tally.retried,
            tally.failed,
            tally.discarded,
            tally.paused,
            if tally.lease_lost > 0 {
                format!(", lease lost {}", tally.lease_lost)
            } else {
                String::new()
            }
        );
        if control.paused {
            println!(
                "delivery is paused: {}",
                control.pause_reason.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
