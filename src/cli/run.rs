//! `digis-relay run [--once] [--listen ADDR]`: the relay as a service, with the HTTP listener
//! (export, /healthz, /metrics) beside it unless `--once`.
use std::process::ExitCode;
use std::sync::Arc;

use super::setup::Context;
use crate::service::{Service, ServiceOptions, StopOn};

pub async fn run(ctx: Context, once: bool, listen: Option<String>) -> anyhow::Result<ExitCode> {
    crate::logging::init_stderr();
    let storage = ctx.storage().await?;
    let config = Arc::new(ctx.config);
    // `run --once` is a batch job: no listener unless asked for.
    let listen = listen.or_else(|| {
        (!once && !config.export.listen.is_empty()).then(|| config.export.listen.clone())
    });
    let service = Service::start(
        storage.clone(),
        config,
        ServiceOptions {
            listen,
            relay: true,
            once,
            require_writable_log: true,
            announce: true,
            notify: true,
            stop_on: StopOn::Signals,
        },
    )
    .await?;
    let tally = service.wait().await?.unwrap_or_default();
    if once {
        let control = storage.control().await?;
        crate::outln!(
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
        )?;
        if control.paused {
            crate::outln!(
                "delivery is paused: {}",
                crate::sanitize::for_display(&control.pause_reason.unwrap_or_default())
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
