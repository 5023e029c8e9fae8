//! The Digis HTTP client: rustls with bundled (webpki) roots, so TLS does not depend on the
//! host's CA store — the integration note's "needs Java 8u101 for the certificate" problem, solved once.
use std::time::Duration;

use chrono::Utc;

use super::answer::{classify, Answer, Response, Rules, BODY_LIMIT};
use super::ca::CaError;
use super::endpoint::{DigisEndpoint, EndpointError};
use super::transport::Cause;
use crate::payload::Payload;
use crate::settings::DigisSettings;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid configuration: `{key}`: {source}")]
    Endpoint {
        key: &'static str,
        #[source]
        source: EndpointError,
    },
    #[error("invalid configuration: {0}")]
    CaFile(#[from] CaError),
    #[error("invalid configuration: `digisAuthorizationHeader`: not a valid header value")]
    AuthHeader,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

#[derive(Clone)]
pub struct DigisClient {
    http: reqwest::Client,
    endpoint: DigisEndpoint,
    authorization: reqwest::header::HeaderValue,
    id_pointer: Option<String>,
    retry_cap: Duration,
    /// The configured tokens, redacted wherever Digis echoes them back.
    secrets: Vec<String>,
}

impl std::fmt::Debug for DigisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigisClient({})", self.endpoint)
    }
}

impl DigisClient {
    pub fn new(settings: &DigisSettings) -> Result<Self, ClientError> {
        let endpoint = DigisEndpoint::of(settings).map_err(|e| ClientError::Endpoint {
            key: e.key(),
            source: e,
        })?;
        let http = http_client(settings)?;
        let authorization = reqwest::header::HeaderValue::from_str(&settings.authorization_header)
            .map_err(|_| ClientError::AuthHeader)?;
        let mut secrets = endpoint.secrets();
        secrets.extend(settings.other_secrets.iter().cloned());
        Ok(Self {
            http,
            retry_cap: Duration::from_millis(settings.retry_cap_ms),
            secrets,
            endpoint,
            authorization,
            id_pointer: settings
                .external_id_pointer
                .clone()
                .filter(|p| !p.is_empty()),
        })
    }

    pub fn endpoint(&self) -> &DigisEndpoint {
        &self.endpoint
    }

    /// Posts one member. Never fails: every way a request can end is an [`Answer`].
    pub async fn send(&self, payload: &Payload) -> Answer {
        let result = self
            .http
            .post(self.endpoint.expose().clone())
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .json(payload)
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => return self.transport_failure(e),
        };
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let location = header(reqwest::header::LOCATION);
        let (body, cut) = match read_prefix(response, BODY_LIMIT).await {
            Ok(b) => b,
            Err(e) if (200..300).contains(&status) => {
                // Digis said yes before the body broke off: it has the member. Retrying could
                // send a second SMS, so this counts as accepted without an id.
                return Answer::Accepted {
                    status,
                    external_id: None,
                    warning: Some(format!(
                        "the answer's body could not be read: {}",
                        self.describe(&e)
                    )),
                };
            }
            // The status is Digis's word even when the body broke off: a 401 or a redirect
            // still pauses, a 400 still fails the row, a 503 still waits. Retrying them as a
            // network error would burn attempts and feed the circuit for no reason.
            Err(e) => {
                tracing::debug!(
                    "HTTP {status}: the answer's body could not be read: {}",
                    self.describe(&e)
                );
                (Vec::new(), false)
            }
        };
        classify(
            &Response {
                status,
                retry_after: retry_after.as_deref(),
                location: location.as_deref(),
                body: &body,
                cut,
            },
            &Rules {
                id_pointer: self.id_pointer.as_deref(),
                retry_cap: self.retry_cap,
                secrets: &self.secrets,
            },
            Utc::now(),
        )
    }

    /// No HTTP answer. A TLS failure the configuration causes (a certificate that fails
    /// verification, a plain-HTTP server on an https URL) pauses like a 3xx; DNS, refused,
    /// reset and timeouts are retried later. The URL (with its token) is stripped.
    fn transport_failure(&self, e: reqwest::Error) -> Answer {
        let cause = Cause::of(&e);
        let reason = format!(
            "{} ({})",
            cause.words(self.endpoint.expose().host_str().unwrap_or("Digis")),
            self.describe(&e)
        );
        if cause.is_configuration() {
            Answer::ConfigError {
                status: None,
                reason: format!("Digis could not be reached: {reason}"),
            }
        } else {
            Answer::RetryLater {
                status: None,
                reason,
                retry_after: None,
            }
        }
    }

    fn describe(&self, e: &reqwest::Error) -> String {
        crate::sanitize::clean_untrusted(&describe(e), &self.secrets)
    }
}

/// The HTTP client for Digis as the configuration says: rustls with the bundled roots and
/// `digis_ca_file`'s certificates, the timeouts, and no redirects (a redirect would carry the
/// token in the query to wherever it points). `doctor` probes with the same client.
pub fn http_client(settings: &DigisSettings) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .timeout(Duration::from_millis(settings.timeout_ms))
        .user_agent(concat!("digis-relay/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = settings
        .ca_file
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        // Checked here, naming the key: reqwest accepts a file without any certificate and
        // reports a broken one only as `builder error`.
        for cert in super::ca::load(path)? {
            let cert = reqwest::Certificate::from_der(&cert).map_err(|e| CaError {
                path: path.display().to_string(),
                problem: e.without_url().to_string(),
            })?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| {
        let e = e.without_url();
        let mut text = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            text = format!("{text}: {s}");
            src = s.source();
        }
        ClientError::Build(text)
    })
}

/// Reads at most `limit` bytes of the body and drops the rest unread: an answer of any size
/// costs at most `limit` bytes of memory, and dropping the response closes the connection
/// instead of waiting for the rest. The flag says whether there was more than `limit` (a body
/// of exactly `limit` bytes is whole).
pub async fn read_prefix(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "answer broken off"
    } else {
        "request failed"
    };
    // The source chain says what happened (refused, reset, ...) without the URL.
    let mut detail = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    let text = if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    };
    // Belt and braces: no query string may survive into a message.
    match text.find("token=") {
        Some(i) => format!("{}token=***", &text[..i]),
        None => text,
    }
}
