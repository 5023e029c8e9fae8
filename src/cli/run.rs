//! `digis-relay run [--once] [--listen ADDR]`: the relay as a service, with the HTTP listener
//! (export, /healthz, /metrics) beside it unless `--once`.
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::setup::Context;
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::synclog::SyncLog;

pub async fn run(ctx: Context, once: bool, listen: Option<String>) -> anyhow::Result<ExitCode> {
    super::logging::init_stderr();
    let storage = ctx.storage().await?;
    let config = Arc::new(ctx.config);
    // Delivering without the audit line support greps for is worse than not starting: an
    // unwritable log folder is one line and a non-zero exit, before anything is claimed.
    let synclog = Arc::new(SyncLog::open(&config.log_dir)?);
    synclog.check_writable()?;
    let metrics = Metrics::new();
    let relay = Relay::new(storage.clone(), config.clone(), synclog)
        .context("digis client")?
        .with_observer(Arc::new(metrics.clone()));
    if !config.use_digis {
        eprintln!("useDigis is false: the relay runs but sends nothing");
    }
    let shutdown = super::logging::shutdown_on_signals();
    // `run --once` is a batch job: no listener unless asked for.
    let addr = listen.or_else(|| {
        (!once && !config.export.listen.is_empty()).then(|| config.export.listen.clone())
    });
    if addr.is_some() {
        // The first /healthz must already see this relay: a probe during start-up would
        // otherwise read "no live relay" and restart a service that is fine.
        relay.heartbeat().await.context("first heartbeat")?;
    }
    let server = match addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (export.listen / --listen)"))?;
            let bound = listener.local_addr()?;
            eprintln!(
                "listening on http://{bound} (/healthz, /metrics{})",
                if config.export.token.is_empty() {
                    "; export off: no export.token"
                } else {
                    ", /export/DigisAllActive"
                }
            );
            let state = crate::http::AppState {
                storage: storage.clone(),
                config: config.clone(),
                metrics,
            };
            let stop = shutdown.clone();
            Some(tokio::spawn(crate::http::serve(
                listener,
                state,
                async move { stop.cancelled().await },
            )))
        }
        None => None,
    };
    let tally = relay.run(shutdown.clone(), once).await;
    shutdown.cancel();
    if let Some(server) = server {
        server
            .await
            .context("HTTP listener")?
            .context("HTTP listener")?;
    }
    let tally = tally?;
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
                crate::sanitize::for_display(&control.pause_reason.unwrap_or_default())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
