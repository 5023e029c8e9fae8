//! `doctor`'s Digis checks beyond the URL's shape: the extra CA file, and whether Digis can be
//! reached — with the cause named when it cannot (DNS, refused, TLS, timeout), since each has
//! its own fix and "error sending request" helps with none.
use std::time::Duration;

use super::{check, Check, Level};
use crate::config::Config;
use crate::digis::transport::Cause;

/// The longest `doctor` waits for Digis, whatever `digis_timeout_ms` allows the relay.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// `digis_ca_file`, when set: PEM certificates a TLS client can trust.
pub fn ca_file(config: &Config) -> Option<Check> {
    let path = config
        .digis_ca_file
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty())?;
    Some(match crate::digis::ca::load(path) {
        Ok(certs) => check(
            "digis CA",
            Level::Ok,
            format!(
                "{}: {} certificate(s) trusted beside the bundled roots",
                path.display(),
                certs.len()
            ),
        ),
        Err(e) => check("digis CA", Level::Error, e.to_string()),
    })
}

/// Can we reach Digis and complete a TLS handshake (bundled roots and `digis_ca_file`)? Any
/// HTTP answer counts: the token is not sent (a HEAD of `digisUrl` alone).
pub async fn reachability(config: &Config) -> Check {
    const NAME: &str = "digis reachable";
    let Ok(base) = url::Url::parse(config.digis_url.trim()) else {
        return check(NAME, Level::Error, "digisUrl is not a URL");
    };
    let host = base.host_str().unwrap_or_default().to_string();
    let client = match crate::digis::client::http_client(&config.digis()) {
        Ok(c) => c,
        Err(e) => return check(NAME, Level::Error, e.to_string()),
    };
    let timeout = Duration::from_millis(config.digis_timeout_ms).min(PROBE_TIMEOUT);
    match client.head(base.clone()).timeout(timeout).send().await {
        Ok(r) => check(
            NAME,
            Level::Ok,
            format!(
                "{host} answered HTTP {}{}",
                r.status().as_u16(),
                if base.scheme() == "https" {
                    if config.digis_ca_file.is_some() {
                        " over TLS (certificate verified with the bundled roots and digis_ca_file)"
                    } else {
                        " over TLS (certificate verified with bundled roots)"
                    }
                } else {
                    " (plain http)"
                }
            ),
        ),
        Err(e) => {
            let cause = Cause::of(&e);
            let detail = crate::sanitize::clean_untrusted(&innermost(&e), &config.secrets());
            check(
                NAME,
                Level::Error,
                format!("cannot reach {host}: {} ({detail})", cause.words(&host)),
            )
        }
    }
}

/// The deepest message of the error's chain (reqwest's own text names the URL; its sources
/// do not).
fn innermost(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timeout".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        text = s.to_string();
        src = s.source();
    }
    text
}
