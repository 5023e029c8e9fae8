//! The stop signals every long-running command obeys (the service, `export`, `report`): one
//! token, cancelled on Ctrl-C or SIGTERM.
use tokio_util::sync::CancellationToken;

/// Cancelled on Ctrl-C or SIGTERM. The handlers are in place when this returns, before the
/// service announces where it listens: installed inside the spawned task, they were not always
/// there yet, and a SIGTERM right after start-up killed the process with the signal's default
/// action instead of stopping it (seen under load in CI).
pub fn stop_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::spawn(async move {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                    tracing::info!("stopping: finishing requests in flight");
                    t.cancel();
                });
            }
            _ => {
                // No signal handling (no runtime driver for it): Ctrl-C as a last resort.
                tokio::spawn(async move {
                    let _ = tokio::signal::ctrl_c().await;
                    t.cancel();
                });
            }
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping: finishing requests in flight");
        t.cancel();
    });
    token
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The handlers are installed by `stop_token()` itself: on a single-threaded runtime no
    /// spawned task runs before the signal is raised, so a handler installed by the task would
    /// not be there and SIGTERM's default action would end this test process.
    #[tokio::test]
    async fn sigterm_raised_right_after_signals_cancels_the_token() {
        let token = stop_token();
        // SAFETY: raise(3) only sends a signal to this thread; a handler is installed.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        tokio::time::timeout(std::time::Duration::from_secs(30), token.cancelled())
            .await
            .expect("SIGTERM cancels the token");
    }
}
