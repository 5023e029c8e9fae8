//! One service start (docs/delivery-path.md): the relay with its heartbeat, the HTTP
//! listener (export, `/healthz`, `/metrics`) and the stop signal, wired up once for `run`, `tui`,
//! `demo` and the tests, so the way a relay starts and stops cannot drift between them.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::digis::ClientError;
use crate::metrics::Metrics;
use crate::relay::{Relay, Tally};
use crate::storage::handshake::SchemaMismatch;
use crate::storage::{DynStorage, StorageError};
use crate::synclog::SyncLog;

/// What stops the service.
#[derive(Debug, Clone)]
pub enum StopOn {
    /// SIGTERM or Ctrl-C (the headless service).
    Signals,
    /// Only this token (or [`Service::shutdown`]): the dashboard has its own keys and signals,
    /// and tests stop the service themselves.
    Token(CancellationToken),
}

/// How to start the service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Where the HTTP listener binds; `None`: no listener.
    pub listen: Option<String>,
    /// Run a relay in this process (`tui --no-relay` does not).
    pub relay: bool,
    /// The relay stops once nothing is due (`run --once`).
    pub once: bool,
    /// Refuse to start if the sync log cannot be written. The service does: delivering without
    /// the audit line support greps for is worse than not starting. The dashboard's relay
    /// reports it as `degraded` instead, where the operator is looking.
    pub require_writable_log: bool,
    /// Say on stderr what was started (useDigis off, the listening address): the headless
    /// service's start-up lines.
    pub announce: bool,
    /// Tell systemd (`NOTIFY_SOCKET`, `Type=notify`) when the service is ready, its delivery
    /// state, that its relay's loop lives (the watchdog) and when it stops: the headless
    /// `run` does. The dashboard and the demo are not started by a service manager, and a
    /// dashboard's relay must not answer for a unit it does not belong to.
    pub notify: bool,
    pub stop_on: StopOn,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            listen: None,
            relay: true,
            once: false,
            require_writable_log: false,
            announce: false,
            notify: false,
            stop_on: StopOn::Token(CancellationToken::new()),
        }
    }
}

/// Why the service could not start, or how it ended badly. The messages are the context the
/// CLI prints before the cause (`error: a: b`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The sync log folder cannot be opened or written.
    #[error(transparent)]
    SyncLog(std::io::Error),
    #[error("digis client")]
    Client(#[source] ClientError),
    #[error("first heartbeat")]
    FirstHeartbeat(#[source] StorageError),
    /// `[export] tls_cert_file`/`tls_key_file` cannot be served (the message names the key).
    #[error(transparent)]
    Tls(crate::http::tls::TlsError),
    #[error("cannot listen on {addr} (export.listen / --listen)")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    LocalAddr(std::io::Error),
    #[error("HTTP listener")]
    Listener(#[source] std::io::Error),
    #[error("HTTP listener")]
    ListenerCrashed(#[source] JoinError),
    /// The relay ended with an error (with `once`, a batch that could not run).
    #[error(transparent)]
    Relay(StorageError),
    #[error("relay task")]
    RelayCrashed(#[source] JoinError),
    /// A newer release migrated the database while the relay ran, and this binary must not
    /// claim beside it (docs/contracts.md, Schema and protocol handshake).
    #[error("stopped the relay: {0}")]
    Schema(SchemaMismatch),
}

/// Where a relay writes, as absolute paths: the sync log, the journal of held answers and the
/// database (its password hidden). Said at start by `run` (stderr) and the dashboard.
pub fn where_it_writes(config: &Config) -> String {
    let shown = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let database = match crate::storage::sqlite::file_of(&config.database_url) {
        Some(file) => shown(&file),
        None => crate::util::redact_db_url(&config.database_url),
    };
    format!(
        "the sync log {}, held answers in {}, the database {database}",
        shown(&config.sync_log_path()),
        shown(&config.state_dir)
    )
}

/// A started service. Dropping it does not stop it: call [`Service::shutdown`] (or let the stop
/// source fire and call [`Service::wait`]).
pub struct Service {
    relay: Option<Arc<Relay>>,
    relay_task: Option<JoinHandle<Result<Tally, StorageError>>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    stop: CancellationToken,
    local_addr: Option<SocketAddr>,
    metrics: Metrics,
    /// Set when the schema watch stopped the relay.
    refused: Arc<std::sync::OnceLock<SchemaMismatch>>,
}

impl Service {
    pub async fn start(
        storage: DynStorage,
        config: Arc<Config>,
        opts: ServiceOptions,
    ) -> Result<Service, ServiceError> {
        // Read first: a certificate that cannot be served stops the start with one line naming
        // the key, before anything else is said or opened.
        let tls = match &opts.listen {
            Some(_) if config.export.tls() => Some(Arc::new(
                crate::http::Tls::load(&config.export).map_err(ServiceError::Tls)?,
            )),
            _ => None,
        };
        let metrics = Metrics::new();
        let relay = if opts.relay {
            let synclog = Arc::new(
                SyncLog::open(&config.log_dir)
                    .map_err(ServiceError::SyncLog)?
                    .with_compression(config.log_compress_after_days),
            );
            if opts.require_writable_log {
                synclog.check_writable().map_err(ServiceError::SyncLog)?;
            }
            let relay = Relay::new(storage.clone(), config.relay_setup(), synclog)
                .map_err(ServiceError::Client)?
                .with_observer(Arc::new(metrics.clone()));
            if opts.announce && !config.use_digis {
                eprintln!("useDigis is false: the relay runs but sends nothing");
            }
            // Relative paths resolve against the config file's folder or the working
            // directory (docs/contracts.md, Configuration): where this relay writes is said once, in full.
            tracing::info!("the relay writes {}", where_it_writes(&config));
            Some(Arc::new(relay))
        } else {
            None
        };
        // The headless service (`run`; not the demo, which a closed terminal should end).
        let headless = matches!(opts.stop_on, StopOn::Signals) && opts.announce;
        let stop = match opts.stop_on {
            StopOn::Signals => crate::signals::stop_token(),
            StopOn::Token(t) => t,
        };
        if headless || tls.is_some() {
            on_sighup(tls.clone(), stop.clone());
        }
        #[cfg(unix)]
        let notifier = opts
            .notify
            .then(crate::systemd::Notifier::from_env)
            .flatten();
        #[cfg(unix)]
        if let (Some(relay), Some(Some(w))) = (&relay, notifier.as_ref().map(|n| n.watchdog())) {
            // Before the relay's loop starts: its first idle wait already wakes to beat.
            relay.pulse().set_every(w / 4);
        }
        #[cfg(unix)]
        if let (Some(relay), Some(_), None) = (&relay, &notifier, &opts.listen) {
            // READY=1 says the database answered: without a listener the first heartbeat is
            // written here too, not only by the relay's run.
            relay
                .heartbeat()
                .await
                .map_err(ServiceError::FirstHeartbeat)?;
        }
        let mut local_addr = None;
        let server = match opts.listen {
            Some(addr) => {
                if let Some(relay) = &relay {
                    // The first /healthz must already see this relay: a probe during start-up
                    // would otherwise read "no live relay" and restart a service that is fine.
                    relay
                        .heartbeat()
                        .await
                        .map_err(ServiceError::FirstHeartbeat)?;
                }
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|source| ServiceError::Bind {
                        addr: addr.clone(),
                        source,
                    })?;
                let bound = listener.local_addr().map_err(ServiceError::LocalAddr)?;
                local_addr = Some(bound);
                // Said once: on stderr for a headless `run` (a caller reads the port back from
                // it), else in the log (the dashboard's Log view).
                let gate = crate::http::Gate::new(&config, bound, tls.is_some());
                let what = if config.export.token.is_empty() {
                    "; export off: no export.token"
                } else if gate.plain_http_refused {
                    "; export off, see below"
                } else {
                    ", /export/DigisAllActive"
                };
                let scheme = if tls.is_some() { "https" } else { "http" };
                let mut lines = vec![format!(
                    "listening on {scheme}://{bound} (/healthz, /metrics{what})"
                )];
                if gate.plain_http_refused {
                    lines.push(crate::http::PLAIN_HTTP_OFF.to_string());
                }
                for line in lines {
                    if opts.announce {
                        eprintln!("{line}");
                    } else {
                        tracing::info!("{line}");
                    }
                }
                let state = crate::http::AppState {
                    storage: storage.clone(),
                    config: config.clone(),
                    metrics: metrics.clone(),
                };
                let stopped = stop.clone();
                Some(tokio::spawn(crate::http::serve_with(
                    listener,
                    state,
                    tls,
                    async move { stopped.cancelled().await },
                )))
            }
            None => None,
        };
        let relay_task = relay.clone().map(|relay| {
            let (stop, once) = (stop.clone(), opts.once);
            tokio::spawn(async move { relay.run(stop, once).await })
        });
        // The database answered (the first heartbeat) and the listener is bound: ready. The
        // feed and the status follow the relay's own loop from now on.
        #[cfg(unix)]
        if let Some(n) = notifier {
            match &relay {
                Some(relay) => {
                    n.ready(&relay.delivery_status());
                    let r = relay.clone();
                    n.spawn(
                        relay.pulse().clone(),
                        move || r.delivery_status(),
                        stop.clone(),
                    );
                }
                None => n.ready("listening; no relay in this process"),
            }
        }
        let refused = Arc::new(std::sync::OnceLock::new());
        if relay.is_some() {
            tokio::spawn(watch_adapter(
                storage.clone(),
                config.clone(),
                metrics.clone(),
                stop.clone(),
            ));
            tokio::spawn(watch_schema(
                storage,
                Duration::from_millis(config.relay.heartbeat_ms.max(100)),
                stop.clone(),
                refused.clone(),
            ));
        }
        Ok(Service {
            relay,
            relay_task,
            server,
            stop,
            local_addr,
            metrics,
            refused,
        })
    }

    /// The relay running in this process, if any (its tally, status and id).
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_deref()
    }

    /// Where the HTTP listener is bound (a `:0` port resolved), if there is one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Cancelled when the service starts to stop (a signal, the token, or [`Service::shutdown`]).
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Stops gracefully: requests in flight finish and are completed, claimed rows not yet sent
    /// are given back, the relay writes its `stopped` heartbeat, and the listener lets requests
    /// in flight (a streaming export) finish.
    pub async fn shutdown(self) -> Result<Option<Tally>, ServiceError> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until the relay ends (by itself with `once`, else when stopped), or until stopped
    /// when no relay runs here; then stops the listener. The relay's tally, if one ran.
    pub async fn wait(self) -> Result<Option<Tally>, ServiceError> {
        let ended = match self.relay_task {
            Some(task) => Some(task.await),
            None => {
                self.stop.cancelled().await;
                None
            }
        };
        self.stop.cancel();
        if let Some(server) = self.server {
            server
                .await
                .map_err(ServiceError::ListenerCrashed)?
                .map_err(ServiceError::Listener)?;
        }
        if let Some(e) = self.refused.get() {
            return Err(ServiceError::Schema(e.clone()));
        }
        match ended {
            None => Ok(None),
            Some(Ok(Ok(tally))) => Ok(Some(tally)),
            Some(Ok(Err(e))) => Err(ServiceError::Relay(e)),
            Some(Err(e)) => Err(ServiceError::RelayCrashed(e)),
        }
    }
}

/// The handshake again, once a heartbeat interval, while a relay runs: a newer release may
/// migrate the database under a running relay (the upgrade order says to stop relays first;
/// this is for the one that was forgotten). When this binary may no longer run beside the
/// database (a raised compatibility floor, a newer claim protocol) the relay stops gracefully,
/// giving its claims back. A database error is the relay's business, not this watch's.
async fn watch_schema(
    storage: DynStorage,
    every: Duration,
    stop: CancellationToken,
    refused: Arc<std::sync::OnceLock<SchemaMismatch>>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let Ok(versions) = storage.schema_versions().await else {
            continue;
        };
        // Behind or without a record while running happens only by hand: the start-up check
        // says so at the next start.
        if let Err(e @ (SchemaMismatch::TooOld { .. } | SchemaMismatch::NewerProtocol { .. })) =
            versions.judge()
        {
            tracing::error!("stopping the relay: {e}");
            let _ = refused.set(e);
            stop.cancel();
            return;
        }
    }
}

/// How often a relay judges the host adapter again for `digis_host_adapter_state`: a few reads
/// of the catalog and a hash of the adapter file, so an edited file or a dropped view shows
/// within a minute without costing the database anything that matters.
const ADAPTER_EVERY: Duration = Duration::from_secs(60);

/// The host adapter's state (`doctor::adapter`) into the metrics, at start and then every
/// [`ADAPTER_EVERY`]. An unreadable database leaves the series out rather than stale.
async fn watch_adapter(
    storage: DynStorage,
    config: Arc<Config>,
    metrics: Metrics,
    stop: CancellationToken,
) {
    use crate::doctor::adapter;
    loop {
        let state = match storage.schema_versions().await {
            Ok(versions) => {
                adapter::inspect(storage.as_ref(), &versions, &adapter::configured(&config))
                    .await
                    .map(|v| v.map(|v| v.state))
            }
            Err(e) => Err(e),
        };
        match state {
            Ok(state) => metrics.set_host_adapter_state(state),
            Err(e) => {
                tracing::debug!("metrics: cannot judge the host adapter: {e}");
                metrics.set_host_adapter_state(None);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ADAPTER_EVERY) => {}
        }
    }
}

/// SIGHUP until `stop`: reloads the listener's TLS certificate, and is otherwise only logged.
/// For the headless service a SIGHUP (`systemctl reload`, a closed terminal) must not end the
/// process, which is its default action; the handler is installed before this returns, so
/// one right after start-up is caught too.
fn on_sighup(tls: Option<Arc<crate::http::Tls>>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP ({e}): a TLS certificate reloads only when its files change");
                return;
            }
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    got = hup.recv() => match (got, &tls) {
                        (None, _) => return,
                        (Some(()), Some(tls)) => tls.reload(),
                        (Some(()), None) => {
                            tracing::info!("SIGHUP: nothing to reload (no [export] tls_cert_file)");
                        }
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (tls, stop);
}
