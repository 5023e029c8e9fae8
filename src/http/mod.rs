//! The HTTP listener (docs/contracts.md, Export, health and metrics): `GET /export/DigisAllActive`,
//! `GET /healthz`, `GET /metrics`.
//!
//! Started by `run --listen ADDR` (or `export.listen`) through [`serve_with`]. The export token is
//! a secret: it is compared in constant time and never logged (request logs show `token=***`).
//!
//! Who may fetch the export, before its token is judged: a peer in `export.allow_from` (when
//! set), over TLS or on a loopback address unless `export.allow_plain_http` says plain HTTP
//! elsewhere is meant ([`Gate`]). `/metrics` needs `export.metrics_token` when it is set.
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Extension, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::export::{self, ExportFormat};
use crate::metrics::{self, Metrics};
use crate::storage::DynStorage;

mod listener;
pub mod tls;

pub use tls::Tls;

/// What every handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub storage: DynStorage,
    pub config: Arc<Config>,
    pub metrics: Metrics,
}

/// A `/healthz` database check that takes longer than this counts as unreachable.
const HEALTH_DB_TIMEOUT: Duration = Duration::from_secs(5);

/// What the listener itself decides about the export, from how it listens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gate {
    /// Plain HTTP on an address other than loopback, without `export.allow_plain_http`: the
    /// export is refused (the members' data would cross the network in clear).
    pub plain_http_refused: bool,
}

impl Gate {
    /// The gate for a listener bound to `bound`, with TLS or not.
    pub fn new(config: &Config, bound: std::net::SocketAddr, https: bool) -> Gate {
        Gate {
            plain_http_refused: !https
                && !config.export.allow_plain_http
                && !crate::config::is_loopback(bound.ip()),
        }
    }
}

/// Said when the export is refused for plain HTTP: at start, in the 403 and by `doctor`.
pub const PLAIN_HTTP_OFF: &str = "export off: plain HTTP on a non-loopback address (set [export] tls_cert_file/tls_key_file, or allow_plain_http = true)";

/// The routes, for [`serve`] and for tests that drive the router directly.
pub fn router(state: AppState) -> Router {
    router_with(state, Gate::default())
}

fn router_with(state: AppState, gate: Gate) -> Router {
    Router::new()
        .route(&format!("/export/{}", export::NAME), get(export_all_active))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard_export))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .layer(Extension(gate))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets requests in flight (an export being streamed)
/// finish. Header-read and idle timeouts and a connection cap apply (see `listener`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given (`Tls::load` of `[export]`).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Where it listens is said by whoever started it (`service`), once.
    // A short or blank token is refused by `Config::validate` (export.token).
    let limits = listener::Limits::from(&state.config.export);
    let gate = Gate::new(&state.config, listener.local_addr()?, tls.is_some());
    listener::serve(listener, router_with(state, gate), limits, tls, shutdown).await
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: try /export/DigisAllActive, /healthz or /metrics",
    )
}

/// `/export/...` for a peer outside `export.allow_from` (403, logged with its address), or
/// over plain HTTP on a non-loopback address ([`Gate`]). A peer outside the list learns
/// nothing else: this comes before the export's own answers.
async fn guard_export(
    State(st): State<AppState>,
    Extension(gate): Extension<Gate>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/export") {
        return next.run(req).await;
    }
    let allow = &st.config.export.allow_from;
    if !allow.is_empty() {
        let peer = req
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        // No address known (a router driven without the listener): refused, not guessed.
        if !peer.is_some_and(|p| allow.allows(p.ip())) {
            let shown = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
            tracing::warn!("export refused to {shown}: not in export.allow_from ({allow})");
            return error(
                StatusCode::FORBIDDEN,
                "your address is not allowed to fetch the export (export.allow_from)",
            );
        }
    }
    if gate.plain_http_refused {
        return error(
            StatusCode::FORBIDDEN,
            "the export is off: plain HTTP on a non-loopback address would send the members' data in clear; set [export] tls_cert_file and tls_key_file (HTTPS), or allow_plain_http = true",
        );
    }
    next.run(req).await
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    format: Option<String>,
    token: Option<String>,
}

async fn export_all_active(
    State(st): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Response {
    let expected = st.config.export.token.as_str();
    if expected.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "the DigisAllActive export is off: no export.token is configured",
        );
    }
    // Authorisation comes first, so that nothing about the request is judged for a stranger.
    let query_token = params.as_ref().ok().and_then(|q| q.token.as_deref());
    if !authorized(expected, &headers, query_token) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send `Authorization: Bearer TOKEN` or ?token=TOKEN",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let Ok(Query(params)) = params else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let format = match params.format.as_deref() {
        None => ExportFormat::Json,
        Some(f) => match ExportFormat::parse(f) {
            Some(f) => f,
            None => return error(StatusCode::BAD_REQUEST, "`format` must be json or csv"),
        },
    };
    // The first page is read before answering, so an unreachable database is a 503 and not a
    // 200 whose body breaks off at once.
    // Counted as each page is read: a stalled client holds the export back (hyper asks for
    // the next chunk only when it has room), which `digis_export_pages_total` shows.
    let pages = st.metrics.clone();
    let mut stream = Box::pin(
        export::export_stream(
            st.storage.clone(),
            &st.config.payload,
            &st.config.export,
            format,
        )
        .inspect_ok(move |_| pages.record_export_page()),
    );
    let first = match stream.next().await {
        Some(Ok(first)) => first,
        Some(Err(e)) => {
            tracing::error!("export {}: {e}", export::NAME);
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the export cannot read the database; see the relay's log",
            );
        }
        None => axum::body::Bytes::new(),
    };
    let body = Body::from_stream(futures::stream::once(async { Ok(first) }).chain(stream));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        // Personal data: no cache may keep a copy.
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}.{}\"",
                export::NAME,
                format.extension()
            ),
        )
        .body(body)
        .unwrap_or_else(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot build the response",
            )
        })
}

/// True when the bearer token or the `token` query parameter equals `expected`. The query is
/// read decoded (`?%74oken=` is `token`, as any server reads it); the request log decodes keys
/// the same way before it redacts ([`redacted_target`]), so whatever authorises is never logged. Each candidate
/// is compared in constant time (only the length can be learnt from timing).
fn authorized(expected: &str, headers: &HeaderMap, query_token: Option<&str>) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    let matches = |given: &str| -> bool { bool::from(given.as_bytes().ct_eq(expected.as_bytes())) };
    // Both are compared whenever both are given, so timing does not tell which one was right.
    let by_header = bearer.map(matches).unwrap_or(false);
    let by_query = query_token.map(matches).unwrap_or(false);
    by_header | by_query
}

/// 200 while [`crate::health`] finds nothing a person must act on; otherwise 503 with the
/// reason. The body is the same either way ([`crate::health::HealthzJson`]), with the whole
/// assessment under `health`.
async fn healthz(State(st): State<AppState>, Extension(gate): Extension<Gate>) -> Response {
    use crate::health::{HealthzJson, Rules, Snapshot, Unread};
    let snapshot = Snapshot::read(st.storage.as_ref(), Some(HEALTH_DB_TIMEOUT)).await;
    match &snapshot.database {
        Ok(()) => {}
        Err(Unread::TimedOut(d)) => {
            tracing::warn!("healthz: database did not answer within {}s", d.as_secs())
        }
        Err(e) => tracing::warn!("healthz: database unreachable: {e}"),
    }
    let c = &st.config;
    let rules = Rules::new(
        c.use_digis,
        c.relay.backlog_max_age_ms,
        c.relay.max_clock_offset_ms,
    );
    let health = snapshot.judge(&rules);
    let export_enabled = !c.export.token.is_empty() && !gate.plain_http_refused;
    let status = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthzJson::new(&snapshot, &rules, &health, export_enabled);
    (status, Json(body)).into_response()
}

/// Open, or behind `export.metrics_token` (`Authorization: Bearer`, compared in constant time;
/// no `?token=`: Prometheus sends the header, and a query would land in proxies' logs).
async fn metrics_text(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let expected = st.config.export.metrics_token.as_str();
    if !expected.is_empty() && !authorized(expected, &headers, None) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: /metrics needs `Authorization: Bearer TOKEN` (export.metrics_token)",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    match st.metrics.render(st.storage.as_ref()).await {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// One line per request, the query's `token` shown as `***` (and the configured tokens
/// wherever else they appear). The export is logged at info, the frequent health and metrics
/// scrapes at debug.
async fn log_request(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let target =
        crate::sanitize::clean_untrusted(&redacted_target(req.uri()), &st.config.secrets());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if target.starts_with("/export") || status >= 400 {
        tracing::info!(%method, target = %target, status, ms, "http request");
    } else {
        tracing::debug!(%method, target = %target, status, ms, "http request");
    }
    response
}

/// Path and query with the value of every secret-named parameter (`token`, `access_token`, ...)
/// replaced by `***`, its name judged once percent-decoded, as the export's `Query` reads it.
pub fn redacted_target(uri: &Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map(|(k, _)| k).unwrap_or(pair);
            if crate::sanitize::is_secret_key(key) {
                format!("{key}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted_from_logged_targets() {
        let uri: Uri = "/export/DigisAllActive?format=csv&token=s3cret&x=1"
            .parse()
            .unwrap();
        let t = redacted_target(&uri);
        assert_eq!(t, "/export/DigisAllActive?format=csv&token=***&x=1");
        assert!(!t.contains("s3cret"));
        let uri: Uri = "/x?TOKEN=abc".parse().unwrap();
        assert_eq!(redacted_target(&uri), "/x?TOKEN=***");
        let uri: Uri = "/healthz".parse().unwrap();
        assert_eq!(redacted_target(&uri), "/healthz");
        // The key as the export's `Query` decodes it (issue 25, item 14).
        for (raw, want) in [
            ("/x?%74oken=abc&format=csv", "/x?%74oken=***&format=csv"),
            ("/x?%2574oken=abc", "/x?%2574oken=***"),
            ("/x?access%5Ftoken=abc", "/x?access%5Ftoken=***"),
        ] {
            let uri: Uri = raw.parse().unwrap();
            assert_eq!(redacted_target(&uri), want, "{raw}");
        }
    }

    #[test]
    fn bearer_or_query_token() {
        let mut h = HeaderMap::new();
        assert!(!authorized("abc", &h, None));
        assert!(authorized("abc", &h, Some("abc")));
        assert!(!authorized("abc", &h, Some("abd")));
        assert!(!authorized("abc", &h, Some("")));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(authorized("abc", &h, None));
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert!(authorized("abc", &h, None));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(!authorized("abc", &h, None));
        h.insert(header::AUTHORIZATION, "Bearer abcd".parse().unwrap());
        assert!(!authorized("abc", &h, None));
    }
}
