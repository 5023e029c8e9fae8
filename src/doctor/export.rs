//! `doctor`'s `export listener` line: how the listener of `export.listen` serves the export
//! (HTTPS, plain HTTP on loopback, or off for plain HTTP elsewhere), read with the code `run`
//! uses, and the certificate's expiry. The export hands out every member's personal data:
//! plain HTTP across a network is worth a warning even when allowed.
use chrono::Utc;

use super::{check, Check, Level};
use crate::config::Config;
use crate::http::tls;

const NAME: &str = "export listener";

/// A certificate that expires sooner than this is worth renewing now.
const EXPIRY_WARNING_DAYS: i64 = 30;

pub fn listener(config: &Config) -> Vec<Check> {
    let e = &config.export;
    if e.listen.is_empty() {
        return vec![check(
            NAME,
            Level::Ok,
            "no listener (export.listen is empty; `run --listen ADDR` starts one)",
        )];
    }
    let loopback = e
        .listen
        .parse::<std::net::SocketAddr>()
        .map(|a| crate::config::is_loopback(a.ip()))
        .unwrap_or_else(|_| e.listen.starts_with("localhost:"));
    let who = if e.allow_from.is_empty() {
        "/export from any address".to_string()
    } else {
        format!("/export only from {}", e.allow_from)
    };
    let metrics = if e.metrics_token.is_empty() {
        "/metrics open"
    } else {
        "/metrics behind export.metrics_token"
    };
    if e.tls() {
        let provider = rustls::crypto::ring::default_provider();
        if let Err(err) = tls::load_pair(&e.tls_cert_file, &e.tls_key_file, &provider) {
            return vec![check(
                NAME,
                Level::Error,
                format!("{err}: `run` refuses to start"),
            )];
        }
        let mut out = vec![check(
            NAME,
            Level::Ok,
            format!("https on {} ({who}; {metrics})", e.listen),
        )];
        let expires = tls::load_chain(&e.tls_cert_file)
            .ok()
            .and_then(|chain| tls::not_after(&chain[0]));
        if let Some(at) = expires {
            let days = (at - Utc::now()).num_days();
            let file = e.tls_cert_file.display();
            if at <= Utc::now() {
                out.push(check(
                    NAME,
                    Level::Error,
                    format!("the certificate in {file} expired on {}: clients refuse it; renew it (the relay reloads the files when they change)", at.format("%Y-%m-%d")),
                ));
            } else if days < EXPIRY_WARNING_DAYS {
                out.push(check(
                    NAME,
                    Level::Warning,
                    format!("the certificate in {file} expires in {days} day(s), on {}: renew it (the relay reloads the files when they change)", at.format("%Y-%m-%d")),
                ));
            }
        }
        return out;
    }
    let line = if loopback {
        check(
            NAME,
            Level::Ok,
            format!("plain http on loopback ({}; {who}; {metrics})", e.listen),
        )
    } else if e.allow_plain_http {
        check(
            NAME,
            Level::Warning,
            format!("plain http on {} with allow_plain_http = true: the members' data crosses the network in clear; set [export] tls_cert_file and tls_key_file", e.listen),
        )
    } else {
        check(
            NAME,
            Level::Warning,
            format!(
                "{} on {}: GET /export/DigisAllActive is refused (403); /healthz and /metrics still answer",
                crate::http::PLAIN_HTTP_OFF,
                e.listen
            ),
        )
    };
    vec![line]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(config: &Config) -> Vec<(Level, String)> {
        listener(config)
            .into_iter()
            .map(|c| (c.level, c.message))
            .collect()
    }

    #[test]
    fn plain_http_is_judged_by_the_address() {
        let mut c = Config::default();
        let got = levels(&c);
        assert_eq!(got[0].0, Level::Ok, "{got:?}");
        assert!(got[0].1.starts_with("plain http on loopback"), "{got:?}");
        c.export.listen = "0.0.0.0:9187".into();
        let got = levels(&c);
        assert_eq!(got[0].0, Level::Warning);
        assert!(got[0].1.starts_with("export off: plain HTTP"), "{got:?}");
        c.export.allow_plain_http = true;
        let got = levels(&c);
        assert_eq!(got[0].0, Level::Warning);
        assert!(got[0].1.contains("in clear"), "{got:?}");
        c.export.listen = "[::1]:9187".into();
        assert_eq!(levels(&c)[0].0, Level::Ok);
    }

    #[test]
    fn certificates_are_read_and_their_expiry_judged() {
        let dir = tempfile::tempdir().unwrap();
        let write = |days: u64| {
            let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            params.not_after = (std::time::SystemTime::now()
                + std::time::Duration::from_secs(days * 86_400))
            .into();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
        };
        let mut c = Config::default();
        c.export.listen = "0.0.0.0:9187".into();
        c.export.tls_cert_file = dir.path().join("c.pem");
        c.export.tls_key_file = dir.path().join("k.pem");
        write(400);
        let got = levels(&c);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, Level::Ok);
        assert!(got[0].1.starts_with("https on 0.0.0.0:9187"), "{got:?}");
        write(10);
        let got = levels(&c);
        assert_eq!(got[1].0, Level::Warning, "{got:?}");
        assert!(
            got[1].1.contains("expires in 9 day(s)") || got[1].1.contains("expires in 10 day(s)"),
            "{got:?}"
        );
        std::fs::write(dir.path().join("k.pem"), "not a key").unwrap();
        let got = levels(&c);
        assert_eq!(got[0].0, Level::Error, "{got:?}");
        assert!(got[0].1.contains("export.tls_key_file"), "{got:?}");
    }
}
