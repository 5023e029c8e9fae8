//! Configuration: TOML file, overridden by environment variables, overridden by flags
//! (docs/contracts.md, Configuration). The integration note's own camelCase setting names are accepted beside
//! snake_case ones so a gym can copy its settings across.
//!
//! Components get the settings they use, not the whole [`Config`]: the settings types live in
//! the leaf module `settings`, and this module only assembles them ([`Config::digis`],
//! [`Config::relay_setup`], the `[payload]`, `[relay]`, `[export]`, `[sync]` and `[host]`
//! tables). The arrows point one way, from here down: checking a file needs the components' own
//! rules (the Digis endpoint's, the database backends', the phone regions'), so a component that
//! imported `config` for its settings would close a circle through them. What imports `config`
//! sits above those rules: the service, the CLI and its commands, `doctor`, the HTTP listener,
//! the demo and the dashboard.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Serialized};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::digis::endpoint::{DigisEndpoint, EndpointError};
use crate::settings::{
    DigisSettings, ExportSettings, HostSettings, PayloadSettings, RelaySettings, RelaySetup,
    SyncSettings,
};

pub mod paths;
pub mod reference;
pub mod secret_files;
pub mod secrets;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://digis-relay.db";
/// Looked for in the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "digis-relay.toml";

/// The longest duration any `*_ms` key may hold.
pub const MAX_DURATION_MS: u64 = 30 * 24 * 3_600_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A relative `sqlite:` file given in the configuration file is under the file's folder
    /// (`paths`), like every relative path the file gives.
    pub database_url: String,
    pub log_dir: PathBuf,
    /// Where the relay keeps what must outlive its process: the journal of answers Digis gave
    /// that a database outage kept from being committed when the relay stopped
    /// (`relay::journal`).
    pub state_dir: PathBuf,
    /// Rotated sync-log days older than this many days are gzip-compressed (`search` reads
    /// them); 0 = never.
    pub log_compress_after_days: u32,
    pub use_digis: bool,
    pub digis_url: String,
    pub digis_service_auth_token: String,
    pub digis_user_auth_token: String,
    /// Holds the API key (`brp?token=...`): a secret, never displayed unredacted.
    pub digis_url_postfix: String,
    pub digis_authorization_header: String,
    /// PEM file with an extra CA to trust beside the bundled roots.
    pub digis_ca_file: Option<PathBuf>,
    /// Allow plain http:// to a host other than loopback (staging only).
    pub digis_allow_http: bool,
    /// JSON pointer (RFC 6901) to the external id in Digis's answer, e.g. `/data/id`.
    pub digis_external_id_pointer: Option<String>,
    pub digis_connect_timeout_ms: u64,
    pub digis_timeout_ms: u64,
    pub payload: PayloadSettings,
    pub relay: RelaySettings,
    pub export: ExportSettings,
    pub sync: SyncSettings,
    pub host: HostSettings,
    /// Where the values came from, for `doctor` (never read from a file or the environment).
    #[serde(skip)]
    pub origin: Origin,
}

/// What `doctor` needs to know about the configuration file behind a [`Config`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// The file read, as an absolute path; `None` when there was none.
    pub file: Option<PathBuf>,
    /// The relative paths it gave, now under its folder.
    pub relative: Vec<paths::RelativePath>,
    /// The secrets it holds itself (by the names an operator knows), so its permissions matter.
    pub file_secrets: Vec<&'static str>,
    /// Where each secret that was given came from (a value, a file, a credential), never the
    /// value (`secret_files`).
    pub secrets: Vec<secret_files::SecretOrigin>,
}

/// A confirmation threshold above this many members guards nothing a gym chain has.
pub const MAX_RECONCILE_CONFIRM_ABOVE: u64 = 1_000_000;

/// The most completions one transaction commits: more gains nothing (a group of 100 already
/// costs a few µs a row) and widens the window in which a crash repeats accepted requests.
pub const MAX_COMPLETION_GROUP_ROWS: u32 = 5_000;
/// The longest a completion may wait for its group: beyond a second it is no longer a few
/// milliseconds' batching but a wider answer→commit window.
pub const MAX_COMPLETION_FLUSH_MS: u64 = 1_000;

/// True for an address only this host can reach: 127.0.0.0/8, ::1 (and ::ffff:127.x.y.z).
pub fn is_loopback(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The export hands out every member's personal data: a token shorter than this can be
/// guessed, so it is refused as a configuration error rather than warned about.
pub const MIN_EXPORT_TOKEN_CHARS: usize = 16;

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
            log_dir: PathBuf::from("logs"),
            state_dir: PathBuf::from("state"),
            log_compress_after_days: 7,
            use_digis: true,
            digis_url: "https://api.iqey.org".into(),
            digis_service_auth_token: "v1/import".into(),
            digis_user_auth_token: "single".into(),
            digis_url_postfix: String::new(),
            digis_authorization_header: "Legacy".into(),
            digis_ca_file: None,
            digis_allow_http: false,
            digis_external_id_pointer: None,
            digis_connect_timeout_ms: 5_000,
            digis_timeout_ms: 30_000,
            payload: PayloadSettings::default(),
            relay: RelaySettings::default(),
            export: ExportSettings::default(),
            sync: SyncSettings::default(),
            host: HostSettings::default(),
            origin: Origin::default(),
        }
    }
}

/// A configuration problem, always naming the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid configuration: `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Values given on the command line; `None` leaves the file's or environment's value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<PathBuf>,
}

impl Config {
    /// Loads defaults ← file ← environment ← flags. `file` of `None` reads
    /// `digis-relay.toml` from the working directory if there is one.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let path = match file {
            Some(path) if !path.is_file() => {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            Some(path) => Some(path),
            None => Some(Path::new(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let mut origin = Origin::default();
        // Secrets are resolved apart from figment (`secret_files`): they may come from files
        // and systemd credentials, and are taken as the text they are.
        let credentials = std::env::var_os(secret_files::CREDENTIALS_DIRECTORY).map(PathBuf::from);
        let mut secret_layers = vec![secret_files::from_credentials(credentials.as_deref())];
        if let Some(path) = path {
            let (mut table, relative) = read_file(path)?;
            origin = Origin {
                file: Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())),
                file_secrets: secrets_in(&table),
                relative,
                secrets: Vec::new(),
            };
            secret_layers.push(secret_files::take_from_table(
                &mut table,
                &paths::folder_of(path),
            )?);
            fig = fig.merge(Serialized::defaults(table));
        }
        // DIGIS_RELAY_RELAY__BATCH_SIZE=10 sets relay.batch_size; DATABASE_URL is the usual name.
        // DIGIS_RELAY_COMMIT is build.rs's input (the commit `--version` names), not a setting.
        let env = Env::prefixed("DIGIS_RELAY_")
            .split("__")
            .ignore(&["config", "log", "test_pg", "commit"]);
        fig = fig.merge(env.filter(|k| !secret_files::is_secret_or_file(k.as_str())));
        secret_layers.push(secret_files::from_env(std::env::vars_os())?);
        if let Some(url) = std::env::var_os("DATABASE_URL").filter(|u| !u.is_empty()) {
            secret_layers.push(vec![secret_files::value(
                "database_url",
                secret_files::Source::Env {
                    var: "DATABASE_URL".into(),
                },
                url.to_string_lossy().into_owned(),
            )]);
        }
        if let Some(url) = &overrides.database_url {
            secret_layers.push(vec![secret_files::value(
                "database_url",
                secret_files::Source::Flag {
                    flag: "--database-url",
                },
                url.clone(),
            )]);
        }
        fig = fig.merge(Serialized::defaults(overrides));
        let mut config: Config = fig.extract().map_err(from_figment)?;
        for (value, o) in secret_files::resolve(secret_layers)? {
            *config.secret_mut(o.key) = value;
            origin.secrets.push(o);
        }
        config.origin = origin;
        config
            .validate()
            .map_err(|e| secret_files::annotate(e, &config.origin.secrets))?;
        Ok(config)
    }

    /// The field holding secret `key` (one of [`secrets::SECRET_KEYS`]).
    fn secret_mut(&mut self, key: &str) -> &mut String {
        match key {
            "digis_url_postfix" => &mut self.digis_url_postfix,
            "export.token" => &mut self.export.token,
            "export.metrics_token" => &mut self.export.metrics_token,
            "database_url" => &mut self.database_url,
            _ => unreachable!("not a secret key: {key}"),
        }
    }

    /// Checks that cannot be expressed by types alone. Each error names its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database_url.trim().is_empty() {
            return Err(ConfigError::new("database_url", "must not be empty"));
        }
        crate::storage::Backend::from_url(&self.database_url)
            .map_err(|e| ConfigError::new("database_url", e.to_string()))?;
        if self.use_digis {
            // Only the shape is checked here; a missing token is `doctor`'s business, so that
            // `preview`, `search` and the dashboard work before Digis is set up.
            match self.endpoint() {
                Ok(_) | Err(EndpointError::MissingPostfix) => {}
                Err(e) => return Err(ConfigError::new(e.key(), e.to_string())),
            }
        }
        if self.digis_authorization_header.contains(['\r', '\n']) {
            return Err(ConfigError::new(
                "digisAuthorizationHeader",
                "must be a single line",
            ));
        }
        if let Some(p) = &self.digis_external_id_pointer {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(ConfigError::new(
                    "digis_external_id_pointer",
                    "a JSON pointer starts with '/', e.g. \"/data/id\"",
                ));
            }
        }
        let p = &self.payload;
        for (key, v) in [
            ("payload.template_id", p.template_id),
            ("payload.creation_type_id", p.creation_type_id),
            ("payload.unique_url_type", p.unique_url_type),
        ] {
            if v < 0 {
                return Err(ConfigError::new(key, "must not be negative"));
            }
        }
        if crate::payload::phone::parse_region(&p.default_region).is_none() {
            return Err(ConfigError::new(
                "payload.default_region",
                format!(
                    "`{}` is not an ISO 3166-1 alpha-2 region such as SE",
                    p.default_region
                ),
            ));
        }
        let r = &self.relay;
        for (key, v) in [
            ("relay.batch_size", r.batch_size as u64),
            ("relay.concurrency", r.concurrency as u64),
            ("relay.max_attempts", r.max_attempts as u64),
            ("relay.backoff_base_ms", r.backoff_base_ms),
            ("relay.lease_ms", r.lease_ms),
            ("relay.poll_interval_ms", r.poll_interval_ms),
            ("relay.prune_interval_ms", r.prune_interval_ms),
            (
                "relay.circuit_failure_threshold",
                r.circuit_failure_threshold as u64,
            ),
            ("relay.heartbeat_ms", r.heartbeat_ms),
            (
                "relay.completion_group_rows",
                r.completion_group_rows as u64,
            ),
            ("relay.completion_flush_ms", r.completion_flush_ms),
            ("digis_timeout_ms", self.digis_timeout_ms),
            ("digis_connect_timeout_ms", self.digis_connect_timeout_ms),
            ("export.page_size", self.export.page_size as u64),
            (
                "export.header_read_timeout_ms",
                self.export.header_read_timeout_ms,
            ),
            ("export.idle_timeout_ms", self.export.idle_timeout_ms),
            ("export.max_connections", self.export.max_connections as u64),
        ] {
            if v == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        // Every duration is added to "now" somewhere (leases, circuit, probes, backoff): bounding
        // them here keeps that arithmetic far from overflow and catches a typo'd extra zero.
        for (key, v) in [
            ("relay.backoff_base_ms", r.backoff_base_ms),
            ("relay.backoff_max_ms", r.backoff_max_ms),
            ("relay.lease_ms", r.lease_ms),
            ("relay.poll_interval_ms", r.poll_interval_ms),
            ("relay.prune_interval_ms", r.prune_interval_ms),
            ("relay.circuit_open_ms", r.circuit_open_ms),
            ("relay.config_error_probe_ms", r.config_error_probe_ms),
            ("relay.heartbeat_ms", r.heartbeat_ms),
            ("relay.backlog_max_age_ms", r.backlog_max_age_ms),
            ("relay.max_clock_offset_ms", r.max_clock_offset_ms),
            ("digis_timeout_ms", self.digis_timeout_ms),
            ("digis_connect_timeout_ms", self.digis_connect_timeout_ms),
            (
                "export.header_read_timeout_ms",
                self.export.header_read_timeout_ms,
            ),
            ("export.idle_timeout_ms", self.export.idle_timeout_ms),
        ] {
            if v > MAX_DURATION_MS {
                return Err(ConfigError::new(
                    key,
                    format!("must be at most {MAX_DURATION_MS} ms (30 days)"),
                ));
            }
        }
        if r.completion_group_rows > MAX_COMPLETION_GROUP_ROWS {
            return Err(ConfigError::new(
                "relay.completion_group_rows",
                format!("must be at most {MAX_COMPLETION_GROUP_ROWS}"),
            ));
        }
        if r.completion_flush_ms > MAX_COMPLETION_FLUSH_MS {
            return Err(ConfigError::new(
                "relay.completion_flush_ms",
                format!("must be at most {MAX_COMPLETION_FLUSH_MS} ms"),
            ));
        }
        if r.max_clock_offset_ms == 0 {
            return Err(ConfigError::new(
                "relay.max_clock_offset_ms",
                "must be at least 1 (no two clocks agree to the millisecond)",
            ));
        }
        if r.backoff_max_ms < r.backoff_base_ms {
            return Err(ConfigError::new(
                "relay.backoff_max_ms",
                "must not be smaller than relay.backoff_base_ms",
            ));
        }
        if r.lease_ms <= self.digis_timeout_ms {
            // A lease shorter than a request could let a second relay claim a row that is still
            // in flight: that is a second SMS.
            return Err(ConfigError::new(
                "relay.lease_ms",
                format!(
                    "must be longer than digis_timeout_ms ({} ms) so a slow request is not claimed twice",
                    self.digis_timeout_ms
                ),
            ));
        }
        if self.sync.reconcile_confirm_above > MAX_RECONCILE_CONFIRM_ABOVE {
            return Err(ConfigError::new(
                "sync.reconcile_confirm_above",
                format!("must be at most {MAX_RECONCILE_CONFIRM_ABOVE} (0 = always ask)"),
            ));
        }
        export_token("export.token", &self.export.token)?;
        export_token("export.metrics_token", &self.export.metrics_token)?;
        let e = &self.export;
        let (cert, key) = (
            e.tls_cert_file.as_os_str().is_empty(),
            e.tls_key_file.as_os_str().is_empty(),
        );
        if cert != key {
            let (missing, given) = if cert {
                ("export.tls_cert_file", "export.tls_key_file")
            } else {
                ("export.tls_key_file", "export.tls_cert_file")
            };
            return Err(ConfigError::new(
                missing,
                format!("is empty while `{given}` is set: give both PEM files (certificate and key) for HTTPS, or neither"),
            ));
        }
        if !self.export.listen.is_empty() && self.export.listen.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "export.listen",
                format!(
                    "`{}` is not an address such as 127.0.0.1:9187",
                    self.export.listen
                ),
            ));
        }
        Ok(())
    }

    /// Every secret the configuration holds (the Digis URL's token values and the export token),
    /// for redacting them from any text that comes from outside before it is stored or shown.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.endpoint().map(|e| e.secrets()).unwrap_or_default();
        secrets.extend(self.export_secrets());
        secrets
    }

    /// The export's tokens that are set, trimmed as they are compared.
    fn export_secrets(&self) -> Vec<String> {
        [&self.export.token, &self.export.metrics_token]
            .into_iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The composed Digis import URL (docs/contracts.md, Digis HTTP).
    pub fn endpoint(&self) -> Result<DigisEndpoint, EndpointError> {
        DigisEndpoint::of(&self.digis())
    }

    /// What the Digis client is given: the top-level `digis*` keys, the relay's backoff cap
    /// for `Retry-After`, and the other secrets to redact from Digis's answers.
    pub fn digis(&self) -> DigisSettings {
        DigisSettings {
            url: self.digis_url.clone(),
            service_auth_token: self.digis_service_auth_token.clone(),
            user_auth_token: self.digis_user_auth_token.clone(),
            url_postfix: self.digis_url_postfix.clone(),
            authorization_header: self.digis_authorization_header.clone(),
            ca_file: self.digis_ca_file.clone(),
            allow_http: self.digis_allow_http,
            external_id_pointer: self.digis_external_id_pointer.clone(),
            connect_timeout_ms: self.digis_connect_timeout_ms,
            timeout_ms: self.digis_timeout_ms,
            retry_cap_ms: self.relay.backoff_max_ms,
            other_secrets: self.export_secrets(),
        }
    }

    /// What a relay is given (`Relay::new`); Digis only when `useDigis` is on.
    pub fn relay_setup(&self) -> RelaySetup {
        RelaySetup {
            relay: self.relay.clone(),
            payload: self.payload.clone(),
            state_dir: self.state_dir.clone(),
            digis: self.use_digis.then(|| self.digis()),
        }
    }

    pub fn sync_log_path(&self) -> PathBuf {
        self.log_dir.join(crate::synclog::FILE_NAME)
    }
}

/// Empty turns the export off (the `/metrics` check, for `export.metrics_token`); anything
/// else must be a real secret. The messages never repeat the token.
fn export_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if token.is_empty() {
        return Ok(());
    }
    let err = |m: String| Err(ConfigError::new(key, m));
    let off = if key == "export.token" {
        "to turn the export off"
    } else {
        "to leave /metrics open"
    };
    if token.trim().is_empty() {
        return err(format!(
            "is blank (only spaces): leave it empty (\"\") {off}, or set a random token"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return err(
            "must not contain spaces or control characters (it is sent as `Authorization: Bearer TOKEN`)"
                .into(),
        );
    }
    let n = token.chars().count();
    if n < MIN_EXPORT_TOKEN_CHARS {
        return err(format!(
            "has only {n} characters: use at least {MIN_EXPORT_TOKEN_CHARS} random ones{}",
            if key == "export.token" {
                " (anyone who guesses it can download every member)"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// The integration note's setting names and their snake_case spellings.
const NOTE_NAMES: [(&str, &str); 6] = [
    ("useDigis", "use_digis"),
    ("digisUrl", "digis_url"),
    ("digisServiceAuthToken", "digis_service_auth_token"),
    ("digisUserAuthToken", "digis_user_auth_token"),
    ("digisUrlPostfix", "digis_url_postfix"),
    ("digisAuthorizationHeader", "digis_authorization_header"),
];

/// Reads the TOML file, renames the integration note's camelCase keys to snake_case, so that a value
/// given either way overrides the default (serde aliases would see a duplicate field), and
/// resolves its relative paths against its folder (`paths`).
fn read_file(path: &Path) -> Result<(toml::Table, Vec<paths::RelativePath>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|sp| line_of(&text, sp.start)).unwrap_or(0);
        ConfigError::new(
            &format!("{}:{line}", path.display()),
            e.message().replace('\n', " "),
        )
    })?;
    for (note, snake) in NOTE_NAMES {
        if let Some(v) = table.remove(note) {
            if table.contains_key(snake) {
                return Err(ConfigError::new(
                    note,
                    format!("given twice, also as `{snake}`"),
                ));
            }
            table.insert(snake.to_string(), v);
        }
    }
    let relative = paths::resolve(&mut table, &paths::folder_of(path));
    Ok((table, relative))
}

/// The 1-based line of byte `offset`. Counting the newlines before it, not the `lines()`: a
/// span starting a line (a duplicate key) is on the line after the last newline.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The secrets a configuration file's table holds a value for, by their names in the file.
fn secrets_in(table: &toml::Table) -> Vec<&'static str> {
    let text = |t: &toml::Table, k: &str| {
        t.get(k)
            .and_then(toml::Value::as_str)
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let export = table.get("export").and_then(toml::Value::as_table);
    let mut out = Vec::new();
    if !text(table, "digis_url_postfix").is_empty() {
        out.push("digisUrlPostfix");
    }
    for key in ["token", "metrics_token"] {
        if export.is_some_and(|e| !text(e, key).is_empty()) {
            out.push(if key == "token" {
                "export.token"
            } else {
                "export.metrics_token"
            });
        }
    }
    let has_password = url::Url::parse(&text(table, "database_url"))
        .ok()
        .is_some_and(|u| u.password().is_some_and(|p| !p.is_empty()));
    if has_password {
        out.push("database_url's password");
    }
    out
}

fn from_figment(err: figment::Error) -> ConfigError {
    let err = err
        .into_iter()
        .next()
        .expect("a figment error holds at least one error");
    let key = if err.path.is_empty() {
        match &err.kind {
            figment::error::Kind::UnknownField(f, _) => f.clone(),
            figment::error::Kind::MissingField(f) => f.to_string(),
            _ => "(file)".to_string(),
        }
    } else {
        let mut path = err.path.join(".");
        if let figment::error::Kind::UnknownField(f, _) = &err.kind {
            if err.path.last() != Some(f) {
                path = format!("{path}.{f}");
            }
        }
        path
    };
    let message = match &err.kind {
        figment::error::Kind::UnknownField(f, _) => format!("unknown key `{f}`"),
        kind if secrets::is_secret(&key) => secrets::message(kind),
        kind => kind.to_string(),
    };
    // figment's own origin (`from src/config.rs:190:33`: where the defaults were merged) is
    // about our code, not the user's file: the key names the place to fix.
    ConfigError {
        key,
        message: message.replace(['\n', '\r'], " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_str(toml: &str) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(toml.as_bytes()).unwrap();
        Config::load(Some(f.path()), &Overrides::default())
    }

    #[test]
    fn note_names_and_snake_case_both_work() {
        let c = load_str(
            "useDigis = false\ndigisUrl = \"https://example.org\"\ndigis_url_postfix = \"brp?token=K\"\n",
        )
        .unwrap();
        assert!(!c.use_digis);
        assert_eq!(c.digis_url, "https://example.org");
        assert_eq!(c.digis_url_postfix, "brp?token=K");
    }

    #[test]
    fn wrong_type_names_the_key_in_one_line() {
        let err = load_str("[relay]\nbatch_size = \"many\"\n").unwrap_err();
        assert_eq!(err.key, "relay.batch_size");
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_str("[relay]\nbatch_sise = 3\n").unwrap_err();
        assert!(err.to_string().contains("batch_sise"), "{err}");
    }

    /// A clock offset limit of 0 would stop every relay; one is a duration like the others.
    /// (It need not be shorter than a lease: times are corrected by the offset whatever it
    /// is, and tests run leases of a few seconds.)
    #[test]
    fn the_clock_offset_limit_is_above_zero() {
        assert_eq!(Config::default().relay.max_clock_offset_ms, 5_000);
        for text in [
            "max_clock_offset_ms = 0",
            "max_clock_offset_ms = 2592000001",
        ] {
            let err = load_str(&format!("[relay]\n{text}\n")).unwrap_err();
            assert_eq!(err.key, "relay.max_clock_offset_ms", "{text}: {err}");
        }
        let c = load_str("[relay]\nlease_ms = 40000\nmax_clock_offset_ms = 45000\n").unwrap();
        assert_eq!(c.relay.max_clock_offset_ms, 45_000);
    }

    /// A group of completions is a few milliseconds' batching: zero, a huge group or a long
    /// wait would stall completions or widen what a crash repeats.
    #[test]
    fn completion_groups_stay_small_and_short() {
        for (text, key) in [
            ("completion_group_rows = 0", "relay.completion_group_rows"),
            (
                "completion_group_rows = 5001",
                "relay.completion_group_rows",
            ),
            ("completion_flush_ms = 0", "relay.completion_flush_ms"),
            ("completion_flush_ms = 1001", "relay.completion_flush_ms"),
        ] {
            let err = load_str(&format!("[relay]\n{text}\n")).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err}");
        }
        let ok = load_str("[relay]\ncompletion_group_rows = 5000\ncompletion_flush_ms = 1000\n")
            .unwrap();
        assert_eq!(
            (ok.relay.completion_group_rows, ok.relay.completion_flush_ms),
            (5000, 1000)
        );
    }

    #[test]
    fn zero_and_contradictions_are_refused() {
        assert_eq!(
            load_str("[relay]\nconcurrency = 0\n").unwrap_err().key,
            "relay.concurrency"
        );
        assert_eq!(
            load_str("[payload]\ndefault_region = \"XX\"\n")
                .unwrap_err()
                .key,
            "payload.default_region"
        );
        assert_eq!(
            load_str("digisUrl = \"ftp://x\"\n").unwrap_err().key,
            "digisUrl"
        );
        assert_eq!(
            load_str("[relay]\nlease_ms = 1000\n").unwrap_err().key,
            "relay.lease_ms"
        );
        // Huge durations would overflow "now + lease" and panic the relay.
        for key in [
            "lease_ms",
            "circuit_open_ms",
            "config_error_probe_ms",
            "backoff_max_ms",
        ] {
            let err = load_str(&format!("[relay]\n{key} = 9223372036854775807\n")).unwrap_err();
            assert_eq!(err.key, format!("relay.{key}"), "{err}");
            assert!(err.to_string().contains("at most"), "{err}");
        }
    }

    #[test]
    fn the_reconcile_confirmation_threshold_is_checked() {
        assert_eq!(Config::default().sync.reconcile_confirm_above, 100);
        for bad in ["-1", "\"many\"", "1000001"] {
            let err = load_str(&format!("[sync]\nreconcile_confirm_above = {bad}\n")).unwrap_err();
            assert_eq!(err.key, "sync.reconcile_confirm_above", "{bad}: {err}");
        }
        let ok = load_str("[sync]\nreconcile_confirm_above = 0\n").unwrap();
        assert_eq!(ok.sync.reconcile_confirm_above, 0);
    }

    #[test]
    fn a_note_name_overrides_the_default_and_twice_is_refused() {
        let c = load_str("digisUrl = \"https://x.example\"\ndigisUrlPostfix = \"brp?token=K\"\n")
            .unwrap();
        assert_eq!(c.digis_url, "https://x.example");
        let err = load_str("digisUrl = \"https://a\"\ndigis_url = \"https://b\"\n").unwrap_err();
        assert_eq!(err.key, "digisUrl");
        let err = load_str("[relay\nbatch_size = 1\n").unwrap_err();
        assert!(err.key.ends_with(":1"), "{err}");
    }

    #[test]
    fn the_example_file_documents_every_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/digis-relay.example.toml");
        let loaded = Config::load(Some(&path), &Overrides::default()).unwrap();
        // Absolute paths (the systemd unit's folders) instead of the defaults, which are
        // relative to the working directory; the placeholder token `doctor` refuses.
        let expected = Config {
            database_url: "sqlite:///var/lib/digis-relay/digis-relay.db".into(),
            log_dir: "/var/log/digis-relay".into(),
            state_dir: "/var/lib/digis-relay/state".into(),
            digis_url_postfix: "brp?token=APIKEY_FROM_WAYS".into(),
            origin: loaded.origin.clone(),
            ..Config::default()
        };
        assert_eq!(loaded, expected);
        assert_eq!(
            loaded.origin.relative,
            [],
            "the example has no relative path"
        );
        // Every key of the defaults appears in the file (commented-out optional ones included).
        let text = std::fs::read_to_string(&path).unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let mut keys: Vec<String> = Vec::new();
        for (k, v) in &defaults {
            match v.as_table() {
                Some(t) => keys.extend(t.keys().cloned()),
                None => keys.push(k.clone()),
            }
        }
        for k in ["digis_ca_file", "digis_external_id_pointer"] {
            keys.push(k.into());
        }
        for k in keys {
            let seed = NOTE_NAMES.iter().find(|(_, s)| *s == k).map(|(c, _)| *c);
            let shown = text.contains(&format!("{k} ="))
                || seed.is_some_and(|c| text.contains(&format!("{c} =")));
            assert!(shown, "`{k}` is not documented in the example file");
        }
    }

    #[test]
    fn errors_name_the_key_and_not_our_source() {
        let err = load_str("[relay]\nbatch_size = \"many\"\n").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("src/") && !text.contains("(from"), "{text}");
        assert!(text.contains("relay.batch_size"), "{text}");
    }

    #[test]
    fn a_blank_or_short_export_token_is_refused() {
        for bad in [" ", "   \t ", "a token with spaces in it", "short-token"] {
            let err = load_str(&format!("[export]\ntoken = \"{bad}\"\n")).unwrap_err();
            assert_eq!(err.key, "export.token", "{bad:?}: {err}");
            assert!(!err.to_string().contains('\n'));
            if bad.trim().len() > 3 {
                assert!(
                    !err.to_string().contains(bad),
                    "the message repeats the token: {err}"
                );
            }
        }
        let ok = load_str("[export]\ntoken = \"0123456789abcdef\"\n").unwrap();
        assert_eq!(ok.export.token.len(), 16);
        assert!(load_str("[export]\ntoken = \"\"\n").is_ok());
    }

    /// Each secret's `_file` in the configuration file gives exactly the file's first line,
    /// relative paths under the file's folder; a flag above it means the file is not read.
    #[test]
    fn each_secret_from_a_file_named_in_the_config_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("s")).unwrap();
        for (name, content) in [
            ("postfix", "brp?token=K1\n"),
            ("token", "0123456789abcdef\r\n"),
            ("metrics", "m-token-0123456789"),
            ("db", "sqlite://rel.db\n"),
        ] {
            std::fs::write(d.path().join("s").join(name), content).unwrap();
        }
        let cfg = d.path().join("c.toml");
        std::fs::write(
            &cfg,
            "digisUrlPostfix_file = \"s/postfix\"\ndatabase_url_file = \"s/db\"\n\
             [export]\ntoken_file = \"s/token\"\nmetrics_token_file = \"s/metrics\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&cfg), &Overrides::default()).unwrap();
        assert_eq!(c.digis_url_postfix, "brp?token=K1");
        assert_eq!(c.export.token, "0123456789abcdef");
        assert_eq!(c.export.metrics_token, "m-token-0123456789");
        assert_eq!(
            c.database_url,
            format!("sqlite://{}/rel.db", d.path().display())
        );
        let sources: Vec<_> = c.origin.secrets.iter().map(|o| o.key).collect();
        assert_eq!(sources.len(), 4, "{sources:?}");
        assert!(
            c.origin.file_secrets.is_empty(),
            "the file holds none itself"
        );

        std::fs::remove_file(d.path().join("s/db")).unwrap();
        let err = Config::load(Some(&cfg), &Overrides::default()).unwrap_err();
        assert_eq!(err.key, "database_url_file");
        let flag = Overrides {
            database_url: Some("sqlite://flag.db".into()),
            ..Overrides::default()
        };
        let c = Config::load(Some(&cfg), &flag).unwrap();
        assert_eq!(c.database_url, "sqlite://flag.db");
    }

    #[test]
    fn listener_keys_are_checked_and_named() {
        for (text, key) in [
            ("tls_cert_file = \"cert.pem\"", "export.tls_key_file"),
            ("tls_key_file = \"key.pem\"", "export.tls_cert_file"),
            (
                "allow_from = [\"10.0.0.0/8\", \"10.0.0.0/33\"]",
                "export.allow_from",
            ),
            ("allow_from = \"office\"", "export.allow_from"),
            ("metrics_token = \"short\"", "export.metrics_token"),
            (
                "metrics_token = \"with spaces in the metrics token\"",
                "export.metrics_token",
            ),
        ] {
            let err = load_str(&format!("[export]\n{text}\n")).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err}");
            assert!(!err.to_string().contains('\n'), "{err}");
            assert!(!err.to_string().contains("short\""), "{err}");
        }
        let err = load_str("[export]\nallow_from = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(err.message.contains("`10.0.0.0/33`"), "{err}");
        let ok = load_str(
            "[export]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"/k.pem\"\n\
             allow_from = [\"10.0.0.0/8\", \"2001:db8::/32\"]\nallow_plain_http = true\n\
             metrics_token = \"0123456789abcdef\"\n",
        )
        .unwrap();
        assert!(ok.export.tls() && ok.export.allow_plain_http);
        assert!(
            ok.export.tls_cert_file.is_absolute(),
            "relative: the file's folder"
        );
        assert_eq!(
            ok.export.allow_from.to_string(),
            "10.0.0.0/8, 2001:db8::/32"
        );
        assert!(ok.secrets().contains(&"0123456789abcdef".to_string()));
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/x.toml")),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(err.key, "--config");
    }
}
