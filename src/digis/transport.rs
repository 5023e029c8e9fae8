//! Why a request to Digis got no HTTP answer, told apart (docs/contracts.md, Digis HTTP): the cause decides what
//! the relay does and what `doctor` says. A certificate that fails verification, or a server
//! that speaks plain HTTP where the URL says https, is the configuration's fault and would be
//! the same on every retry: the relay pauses with the reason, as for a 3xx or a 401. A name
//! that does not resolve, a refused port, a reset (also during the handshake) or a timeout
//! may pass: retried, and counted by the circuit.
//!
//! reqwest wraps the cause several layers deep (hyper-util's connector, `std::io::Error`,
//! rustls), and `io::Error::source` skips the error it wraps: the chain is walked by hand.
use std::error::Error as StdError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on the port.
    Refused,
    /// No answer within the configured time.
    Timeout,
    /// The server's certificate fails verification (unknown issuer, expired, wrong name).
    Certificate,
    /// The server answered in plain HTTP on an https URL.
    NotTls,
    /// Another TLS failure (an alert, no common protocol version).
    Tls,
    /// The connection was reset or closed before an answer, during the handshake or after.
    Reset,
    /// Anything else.
    Other,
}

impl Cause {
    pub fn of(e: &reqwest::Error) -> Cause {
        // A timeout first: the connector reports a connect timeout as a connect error too.
        if e.is_timeout() {
            return Cause::Timeout;
        }
        let mut found = Cause::Other;
        let mut next: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return of_tls(tls);
            }
            // An `io::Error` may wrap another (hyper-util wraps tokio-rustls's, which wraps
            // rustls's): its `source` would skip the wrapped error, `get_ref` does not.
            let io = err.downcast_ref::<std::io::Error>();
            if let Some(io) = io {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::ConnectionRefused => return Cause::Refused,
                    K::TimedOut => return Cause::Timeout,
                    K::ConnectionReset
                    | K::ConnectionAborted
                    | K::UnexpectedEof
                    | K::BrokenPipe => found = Cause::Reset,
                    _ => {}
                }
            }
            // hyper-util's connector error is not public: its words are all there is.
            let text = err.to_string();
            if text.starts_with("dns error") || text.contains("failed to lookup address") {
                return Cause::Dns;
            }
            if found == Cause::Other
                && (text.contains("connection closed before message completed")
                    || text.contains("connection reset"))
            {
                found = Cause::Reset;
            }
            next = match io.and_then(|io| io.get_ref()) {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => err.source(),
            };
        }
        found
    }

    /// The configuration is wrong, not the row nor the moment: retrying changes nothing.
    pub fn is_configuration(self) -> bool {
        matches!(self, Cause::Certificate | Cause::NotTls)
    }

    /// What happened, in words for an operator; `host` is Digis's host name.
    pub fn words(self, host: &str) -> String {
        match self {
            Cause::Dns => format!("the name {host} does not resolve (DNS): check digisUrl and this host's DNS"),
            Cause::Refused => format!("{host} refused the connection: nothing listens on that port (check digisUrl's port, a firewall, or whether Digis is down)"),
            Cause::Timeout => format!("{host} did not answer in time (timeout): a firewall dropping packets, or Digis overloaded"),
            Cause::Certificate => format!("TLS: {host}'s certificate fails verification: if a proxy or a private CA signs it, give its CA in digis_ca_file; else check digisUrl"),
            Cause::NotTls => format!("TLS: {host} answered in plain HTTP on an https:// URL: check digisUrl's scheme and port"),
            Cause::Tls => format!("TLS: the handshake with {host} failed"),
            Cause::Reset => format!("{host} closed or reset the connection before answering"),
            Cause::Other => format!("the request to {host} failed"),
        }
    }
}

fn of_tls(e: &rustls::Error) -> Cause {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_) | E::InvalidCertRevocationList(_) | E::UnsupportedNameType => {
            Cause::Certificate
        }
        // The first bytes back were not a TLS record: `HTTP/1.1 400 ...` from a plain server.
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
        | E::InvalidMessage(rustls::InvalidMessage::UnknownProtocolVersion) => Cause::NotTls,
        _ => Cause::Tls,
    }
}
