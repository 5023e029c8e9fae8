//! The settings each component is given: plain data, no behaviour beyond reading it. `config`
//! loads, layers and checks the file, the environment and the flags, then hands each component
//! its part (`Config::digis`, `Config::relay_setup`, `config.payload`, `config.export`,
//! `config.host`); a component imports its settings type from here and never `config`.
//!
//! This module is a leaf (it imports nothing of the crate): `config` needs the components'
//! own rules to check a file (the Digis endpoint, the database backends, the phone regions), so
//! a component that imported `config` would close a circle through them.
//!
//! The tables keep the file's shape: `[payload]`, `[relay]`, `[export]`, `[sync]` and `[host]`
//! are read straight into these types, so their keys and defaults are defined here once.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod allow_from;

pub use allow_from::AllowFrom;

/// How to reach Digis (`DigisClient::new`), from the file's top-level `digis*` keys.
#[derive(Clone)]
pub struct DigisSettings {
    pub url: String,
    pub service_auth_token: String,
    pub user_auth_token: String,
    /// Holds the API key (`brp?token=...`): a secret, never displayed unredacted.
    pub url_postfix: String,
    pub authorization_header: String,
    /// PEM file with an extra CA to trust beside the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// Allow plain http:// to a host other than loopback (staging only).
    pub allow_http: bool,
    /// JSON pointer (RFC 6901) to the external id in Digis's answer, e.g. `/data/id`.
    pub external_id_pointer: Option<String>,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    /// The longest `Retry-After` honoured: `[relay] backoff_max_ms`, so an answer cannot park a
    /// row longer than the relay's own backoff would.
    pub retry_cap_ms: u64,
    /// The configuration's secrets besides the URL's own (the export tokens): Digis may echo
    /// anything back, so they are redacted from its answers too.
    pub other_secrets: Vec<String>,
}

/// Everything one relay is set up with (`Relay::new`).
#[derive(Clone)]
pub struct RelaySetup {
    pub relay: RelaySettings,
    pub payload: PayloadSettings,
    /// Where the relay keeps what must outlive its process (`relay::journal`).
    pub state_dir: PathBuf,
    /// `None` when `useDigis` is false: nothing is sent.
    pub digis: Option<DigisSettings>,
}

/// `[host]`: the membership system's side (docs/contracts.md, Host adapter).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HostSettings {
    /// The SQL file mapping the host's tables onto the views the relay reads, with the
    /// triggers (`storage::adapter`); empty = the reference adapter for
    /// `assets/host-schema.*.sql`, compiled in. `migrate` applies it.
    pub adapter: PathBuf,
}

/// `[payload]`: what every request body carries besides the member (`payload::build`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PayloadSettings {
    pub template_id: i64,
    pub creation_type_id: i64,
    pub unique_url_type: i64,
    /// ISO 3166-1 alpha-2 region for phone numbers with neither a calling code nor an address
    /// country.
    pub default_region: String,
}

/// `[relay]`: how a relay claims, sends, backs off and completes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    pub batch_size: u32,
    pub concurrency: u32,
    /// For all live relays together (each takes its share, `relay::budget`); 0 = no limit.
    pub max_requests_per_second: u32,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub lease_ms: u64,
    pub poll_interval_ms: u64,
    pub retention_days: u32,
    /// A running relay prunes at start and then this often (when `retention_days` is not 0).
    pub prune_interval_ms: u64,
    /// Consecutive retryable failures that open the circuit.
    pub circuit_failure_threshold: u32,
    /// How long the circuit stays open before one probe request.
    pub circuit_open_ms: u64,
    /// How often a relay paused by a configuration error (401/403/404) probes again.
    pub config_error_probe_ms: u64,
    pub heartbeat_ms: u64,
    /// Health says "backlog too old" (and `/healthz` fails) once a due `pending` row has waited
    /// longer than this; 0 = never.
    pub backlog_max_age_ms: u64,
    /// The most this relay's clock may be off the database's (either way) for it to claim:
    /// beyond it the relay claims nothing and health has a blocker (docs/decisions/0025-one-clock.md, One
    /// clock). Times it writes are corrected by the offset whatever it is; a large one says
    /// the host's clock is broken or jumping, and the correction may be stale by the next beat.
    pub max_clock_offset_ms: u64,
    /// A stable name for this relay in the relays table; empty = hostname and process id.
    pub relay_id: String,
    /// Completions committed in one transaction at most (docs/delivery-path.md).
    pub completion_group_rows: u32,
    /// How long the first completion of a group waits for others before the group is
    /// committed: the answer→commit window grows by this much.
    pub completion_flush_ms: u64,
}

/// `[sync]`: the operator's `sync` command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSettings {
    /// `sync --reconcile` queues more members than this only after a confirmation (a y/N on a
    /// terminal, or `--yes`): each one is an SMS. 0 = always ask when it would queue any.
    pub reconcile_confirm_above: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            reconcile_confirm_above: 100,
        }
    }
}

/// `[export]`: the HTTP listener (`http`) and the export it serves (`export`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSettings {
    pub listen: String,
    /// Empty = `/export/DigisAllActive` is off. A secret: never displayed. When set, at least
    /// `config::MIN_EXPORT_TOKEN_CHARS` characters without spaces or control characters.
    pub token: String,
    pub page_size: u32,
    /// A client must send its whole request head within this time, or it is disconnected
    /// (a slow sender cannot hold a connection).
    pub header_read_timeout_ms: u64,
    /// A connection with no bytes read or written for this long is closed (between keep-alive
    /// requests, or a download nobody reads). A slow but moving export is not cut.
    pub idle_timeout_ms: u64,
    /// Open connections at most; one more is answered 503 and closed at once.
    pub max_connections: u32,
    /// Non-empty = `/metrics` needs `Authorization: Bearer` this token. A secret: never displayed.
    /// When set, the same rules as `token` (length, no spaces).
    pub metrics_token: String,
    /// PEM certificate chain (the server's certificate first). With `tls_key_file` the listener
    /// speaks HTTPS only, and reloads both files when they change or on SIGHUP (`http::tls`).
    /// Empty = plain HTTP.
    pub tls_cert_file: PathBuf,
    /// PEM private key of `tls_cert_file`'s first certificate.
    pub tls_key_file: PathBuf,
    /// Peers allowed to fetch `/export/...` (CIDR ranges); empty = any.
    pub allow_from: AllowFrom,
    /// Serve the export over plain HTTP on an address other than loopback. Without it (and
    /// without TLS) the export is off there: the members' data would cross the network in clear.
    pub allow_plain_http: bool,
}

impl ExportSettings {
    /// Both TLS files are given (`Config::validate` refuses one alone).
    pub fn tls(&self) -> bool {
        !self.tls_cert_file.as_os_str().is_empty() && !self.tls_key_file.as_os_str().is_empty()
    }
}

impl Default for PayloadSettings {
    fn default() -> Self {
        Self {
            template_id: 311,
            creation_type_id: 6,
            unique_url_type: 1,
            default_region: "SE".into(),
        }
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 4,
            max_requests_per_second: 10,
            max_attempts: 12,
            backoff_base_ms: 30_000,
            backoff_max_ms: 3_600_000,
            lease_ms: 60_000,
            poll_interval_ms: 5_000,
            retention_days: 90,
            prune_interval_ms: 3_600_000,
            circuit_failure_threshold: 5,
            circuit_open_ms: 60_000,
            config_error_probe_ms: 300_000,
            heartbeat_ms: 5_000,
            backlog_max_age_ms: 900_000,
            max_clock_offset_ms: 5_000,
            relay_id: String::new(),
            completion_group_rows: 100,
            completion_flush_ms: 5,
        }
    }
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9187".into(),
            token: String::new(),
            page_size: 500,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 64,
            metrics_token: String::new(),
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            allow_from: AllowFrom::default(),
            allow_plain_http: false,
        }
    }
}
