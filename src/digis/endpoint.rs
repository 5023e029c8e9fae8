//! The Digis import URL, composed from the integration note's settings, and its redaction. The API key sits
//! in the query string, so the URL itself is a secret: `Display` and `Debug` hide it.
use std::fmt;

use url::Url;

use crate::settings::DigisSettings;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("`{0}` is not a URL (expected e.g. https://api.iqey.org)")]
    NotAUrl(String),
    #[error("scheme `{0}` is not supported: use https:// (or http:// on loopback)")]
    Scheme(String),
    #[error(
        "plain http:// to a host other than loopback; use https:// or set digis_allow_http = true"
    )]
    PlainHttp,
    #[error("digisUrlPostfix is not set (expected e.g. \"brp?token=APIKEY_FROM_WAYS\")")]
    MissingPostfix,
    #[error("the composed URL is not valid: {0}")]
    Composed(String),
}

impl EndpointError {
    /// The configuration key to blame.
    pub fn key(&self) -> &'static str {
        match self {
            EndpointError::MissingPostfix | EndpointError::Composed(_) => "digisUrlPostfix",
            _ => "digisUrl",
        }
    }
}

/// The full import URL. Only [`DigisEndpoint::expose`] gives the real one, for the request.
#[derive(Clone, PartialEq, Eq)]
pub struct DigisEndpoint(Url);

impl DigisEndpoint {
    /// The URL the settings name.
    pub fn of(s: &DigisSettings) -> Result<Self, EndpointError> {
        Self::compose(
            &s.url,
            &s.service_auth_token,
            &s.user_auth_token,
            &s.url_postfix,
            s.allow_http,
        )
    }

    /// `{digisUrl}/{service}/{user}/{postfix}` with exactly one slash between the parts.
    pub fn compose(
        base: &str,
        service: &str,
        user: &str,
        postfix: &str,
        allow_http: bool,
    ) -> Result<Self, EndpointError> {
        let base_url = Url::parse(base.trim()).map_err(|_| EndpointError::NotAUrl(base.into()))?;
        match base_url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match base_url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(d)) => d == "localhost",
                    None => false,
                };
                if !loopback && !allow_http {
                    return Err(EndpointError::PlainHttp);
                }
            }
            other => return Err(EndpointError::Scheme(other.into())),
        }
        if postfix.trim().is_empty() {
            return Err(EndpointError::MissingPostfix);
        }
        let parts: Vec<&str> = [base.trim(), service, user, postfix]
            .into_iter()
            .map(|p| p.trim().trim_matches('/'))
            .filter(|p| !p.is_empty())
            .collect();
        let joined = parts.join("/");
        let url = Url::parse(&joined).map_err(|e| EndpointError::Composed(e.to_string()))?;
        Ok(Self(url))
    }

    /// The real URL, for the HTTP request only.
    pub fn expose(&self) -> &Url {
        &self.0
    }

    /// The URL with secrets replaced by `***`, safe to show.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }

    /// The secret values in the URL (query parameters like `token`, a password), as written and
    /// as decoded, for redaction wherever a text could echo them.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let raw = self
            .0
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='));
        for (k, v) in raw {
            if is_secret_param(k) && !v.is_empty() {
                out.push(v.to_string());
            }
        }
        for (k, v) in self.0.query_pairs() {
            if is_secret_param(&k) && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
        if let Some(p) = self.0.password() {
            out.push(p.to_string());
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn has_token(&self) -> bool {
        self.0
            .query_pairs()
            .any(|(k, v)| is_secret_param(&k) && !v.is_empty())
    }
}

impl fmt::Display for DigisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DigisEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigisEndpoint({})", self.redacted())
    }
}

fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "token" || n.contains("key") || n.contains("secret") || n.contains("password")
}

/// Replaces the value of every secret-looking query parameter, and any password, with `***`.
pub fn redact_url(url: &Url) -> String {
    let mut out = url.clone();
    if out.password().is_some() {
        let _ = out.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        // Built by hand so `***` is not percent-encoded into something less readable.
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.set_query(None);
        return format!("{}?{}", out, q.join("&"));
    }
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_the_integration_notes_example() {
        let e = DigisEndpoint::compose(
            "https://api.iqey.org",
            "v1/import",
            "single",
            "brp?token=APIKEY",
            false,
        )
        .unwrap();
        assert_eq!(
            e.expose().as_str(),
            "https://api.iqey.org/v1/import/single/brp?token=APIKEY"
        );
        assert_eq!(
            e.to_string(),
            "https://api.iqey.org/v1/import/single/brp?token=***"
        );
        assert!(!format!("{e:?}").contains("APIKEY"));
        assert!(e.has_token());
        assert_eq!(e.secrets(), vec!["APIKEY".to_string()]);
    }

    #[test]
    fn one_slash_between_parts() {
        let e = DigisEndpoint::compose(
            "https://h.example/",
            "/v1/import/",
            "/single/",
            "/brp?token=K",
            false,
        )
        .unwrap();
        assert_eq!(
            e.expose().as_str(),
            "https://h.example/v1/import/single/brp?token=K"
        );
    }

    #[test]
    fn refuses_plain_http_off_loopback() {
        assert_eq!(
            DigisEndpoint::compose("http://example.org", "a", "b", "c?token=1", false),
            Err(EndpointError::PlainHttp)
        );
        assert!(
            DigisEndpoint::compose("http://127.0.0.1:8080", "a", "b", "c?token=1", false).is_ok()
        );
        assert!(DigisEndpoint::compose("http://example.org", "a", "b", "c?token=1", true).is_ok());
        assert_eq!(
            DigisEndpoint::compose("https://x.org", "a", "b", " ", false),
            Err(EndpointError::MissingPostfix)
        );
    }

    #[test]
    fn redacts_other_secret_params_and_text() {
        let u = Url::parse("https://u:pw@h/x?apikey=S3CRET&page=2").unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("S3CRET") && !r.contains("pw@"), "{r}");
        assert!(r.contains("page=2"));
    }
}
