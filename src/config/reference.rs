//! The configuration reference (docs/reference/configuration.md): every key the loader accepts,
//! read off the code rather than listed by hand. The keys are the fields serde's derive gives
//! [`Config`] and each table's settings type (what `deny_unknown_fields` accepts), the secrets'
//! `_file` keys ([`SECRET_KEYS`]) and the integration note's own spellings ([`NOTE_NAMES`]);
//! types and defaults come from [`Config::default`], environment variables from the rule the
//! loader applies (`DIGIS_RELAY_`, tables joined with `__`). Only the one-line meanings are
//! written here, in [`MEANINGS`], and [`keys`] refuses a key without one or a meaning without
//! a key. `tests/it/docs.rs` compares the committed page with [`markdown`].
use std::fmt::Write as _;

use serde::de::{self, Visitor};
use serde::Deserialize;

use super::secret_files::env_var;
use super::secrets::SECRET_KEYS;
use super::{Config, NOTE_NAMES};
use crate::settings::{ExportSettings, HostSettings, PayloadSettings, RelaySettings, SyncSettings};

/// The command that rewrites the generated reference pages (this one and the CLI's) from
/// their generators.
pub const REGENERATE: &str = "UPDATE_DOCS=1 cargo test --test it docs::";

/// One key of the configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Dotted snake case: `relay.batch_size`.
    pub key: String,
    /// The integration note's spelling, accepted in the file instead (`useDigis`).
    pub note_name: Option<&'static str>,
    pub kind: &'static str,
    /// As TOML writes it; `None` when the key is unset by default.
    pub default: Option<String>,
    pub env: Vec<String>,
    pub meaning: &'static str,
}

/// Why each key exists, one line each. `tests/it/docs.rs` fails naming a key the code accepts
/// that is missing here, or one here the code does not accept.
pub const MEANINGS: &[(&str, &str)] = &[
    ("database_url", "The database: `sqlite://FILE` (embedded, created if missing) or `postgres://USER@HOST/DB`. Also `DATABASE_URL` and `--database-url`. A secret when it holds a password."),
    ("database_url_file", "A file holding `database_url` on one line, instead of the value."),
    ("log_dir", "Folder of the sync log `scheduler_digis_sync.txt` and its rotated days. Also `--log-dir`."),
    ("state_dir", "Folder of what a relay keeps across a restart (answers Digis gave that a database outage kept from being committed)."),
    ("log_compress_after_days", "Rotated sync-log days older than this are gzip-compressed; 0 = never."),
    ("use_digis", "Send to Digis at all; with false nothing is sent and every surface says so."),
    ("digis_url", "Base URL of the Digis import API."),
    ("digis_service_auth_token", "Second part of the request URL (`{digisUrl}/{digisServiceAuthToken}/{digisUserAuthToken}/{digisUrlPostfix}`)."),
    ("digis_user_auth_token", "Third part of the request URL."),
    ("digis_url_postfix", "Last part of the request URL, holding the API key (`brp?token=...`). A secret, never shown."),
    ("digis_url_postfix_file", "A file holding `digis_url_postfix` on one line, instead of the value."),
    ("digis_authorization_header", "Value of the `Authorization` header sent to Digis (one line)."),
    ("digis_ca_file", "PEM file with extra CA certificates to trust beside the bundled roots."),
    ("digis_allow_http", "Allow plain `http://` to a Digis host other than loopback (staging only)."),
    ("digis_external_id_pointer", "JSON pointer to Digis's id in its answer (`/data/id`); unset = the usual top-level names."),
    ("digis_connect_timeout_ms", "Time to connect to Digis, in milliseconds."),
    ("digis_timeout_ms", "Total time for one request to Digis, in milliseconds; must be shorter than `relay.lease_ms`."),
    ("payload.template_id", "`TemplateId` of every request body."),
    ("payload.creation_type_id", "`CreationTypeId` of every request body."),
    ("payload.unique_url_type", "`UniqueURLType` of every request body."),
    ("payload.default_region", "ISO 3166-1 alpha-2 region for phone numbers with neither a calling code nor an address country."),
    ("relay.batch_size", "Rows claimed by one statement at most, and kept claimed ahead of the requests."),
    ("relay.concurrency", "Requests in flight at once per relay."),
    ("relay.max_requests_per_second", "Request starts per second for all live relays together (each takes its share); 0 = no limit."),
    ("relay.max_attempts", "Attempts before a retryable row becomes failed."),
    ("relay.backoff_base_ms", "First retry delay; it doubles with each attempt, with full jitter."),
    ("relay.backoff_max_ms", "Longest retry delay, and the longest `Retry-After` obeyed."),
    ("relay.lease_ms", "How long a claimed row belongs to one relay; longer than `digis_timeout_ms`."),
    ("relay.poll_interval_ms", "How often an idle relay looks for work when no wake-up came."),
    ("relay.retention_days", "Days to keep sent and discarded rows and their attempts; 0 = forever."),
    ("relay.prune_interval_ms", "How often a running relay prunes (and once at start)."),
    ("relay.circuit_failure_threshold", "Retryable failures in a row that open the circuit for all relays."),
    ("relay.circuit_open_ms", "How long the circuit stays open before one probe request."),
    ("relay.config_error_probe_ms", "How often a relay paused by a configuration error (401/403/404) probes again."),
    ("relay.heartbeat_ms", "How often a relay writes its heartbeat; liveness is judged by it."),
    ("relay.backlog_max_age_ms", "Health reports \"backlog too old\" once a due pending row waited longer; 0 = never."),
    ("relay.max_clock_offset_ms", "Largest offset between this relay's clock and the database's for it to claim."),
    ("relay.relay_id", "Name in the relays table; empty = hostname and process id."),
    ("relay.completion_group_rows", "Completions committed in one transaction at most (1 to 5000)."),
    ("relay.completion_flush_ms", "How long the first completion of a group waits for more (1 to 1000)."),
    ("export.listen", "Address of the HTTP listener (export, `/healthz`, `/metrics`); empty = none. Also `run --listen`."),
    ("export.token", "Bearer token of `/export/DigisAllActive`; empty = the export is off. A secret, at least 16 characters."),
    ("export.token_file", "A file holding `export.token` on one line, instead of the value."),
    ("export.page_size", "Members read from the database per page while streaming the export."),
    ("export.header_read_timeout_ms", "Time a client has to send its request head (and an idle keep-alive connection is kept)."),
    ("export.idle_timeout_ms", "A connection with nothing read or written for this long is closed."),
    ("export.max_connections", "Open connections at most; one more is answered 503."),
    ("export.metrics_token", "Non-empty = `/metrics` needs this bearer token. A secret, at least 16 characters."),
    ("export.metrics_token_file", "A file holding `export.metrics_token` on one line, instead of the value."),
    ("export.tls_cert_file", "PEM certificate chain for HTTPS (with `tls_key_file`); reloaded when it changes or on SIGHUP."),
    ("export.tls_key_file", "PEM private key of `tls_cert_file`."),
    ("export.allow_from", "CIDR ranges allowed to fetch `/export/...`; empty = any."),
    ("export.allow_plain_http", "Serve the export over plain HTTP on an address other than loopback."),
    ("sync.reconcile_confirm_above", "`sync --reconcile` queues more members than this only after a confirmation; 0 = always ask."),
    ("host.adapter", "The host adapter SQL file (views and triggers over the membership tables); empty = the built-in reference adapter."),
];

/// The tables of the file and the settings type each is read into.
fn table_fields(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "payload" => fields::<PayloadSettings>(),
        "relay" => fields::<RelaySettings>(),
        "export" => fields::<ExportSettings>(),
        "sync" => fields::<SyncSettings>(),
        "host" => fields::<HostSettings>(),
        _ => return None,
    })
}

/// Every key the loader accepts, dotted and in snake case, in the structs' order, with the
/// secrets' `_file` keys after their secrets. Without the integration note's spellings.
pub fn accepted_keys() -> Vec<String> {
    let defaults = toml::Table::try_from(Config::default()).expect("the defaults serialize");
    let mut out = Vec::new();
    let push = |key: String, out: &mut Vec<String>| {
        let secret = SECRET_KEYS.contains(&key.as_str());
        out.push(key.clone());
        if secret {
            out.push(format!("{key}_file"));
        }
    };
    for field in fields::<Config>() {
        match defaults.get(*field) {
            Some(toml::Value::Table(_)) => {
                let inner = table_fields(field)
                    .unwrap_or_else(|| panic!("[{field}]: no settings type named for it"));
                for k in inner {
                    push(format!("{field}.{k}"), &mut out);
                }
            }
            _ => push(field.to_string(), &mut out),
        }
    }
    out
}

/// Every spelling a configuration file may use: [`accepted_keys`] and the integration note's
/// names (with `_file` for the secret one).
pub fn file_spellings() -> Vec<String> {
    let mut out = accepted_keys();
    for (note, snake) in NOTE_NAMES {
        out.push(note.to_string());
        if SECRET_KEYS.contains(&snake) {
            out.push(format!("{note}_file"));
        }
    }
    out
}

/// The keys with their type, default, variables and meaning; an error names each key without a
/// meaning and each meaning without a key.
pub fn keys() -> Result<Vec<Key>, String> {
    let defaults = toml::Table::try_from(Config::default()).expect("the defaults serialize");
    let accepted = accepted_keys();
    let mut problems = Vec::new();
    for (k, _) in MEANINGS {
        if !accepted.iter().any(|a| a == k) {
            problems.push(format!(
                "`{k}` has a meaning in MEANINGS but the loader does not accept it"
            ));
        }
    }
    let mut out = Vec::new();
    for key in accepted {
        let Some((_, meaning)) = MEANINGS.iter().find(|(k, _)| *k == key) else {
            problems.push(format!(
                "`{key}` is accepted but has no meaning in MEANINGS"
            ));
            continue;
        };
        let file_of = key
            .strip_suffix("_file")
            .filter(|s| SECRET_KEYS.contains(s));
        let value = match key.split_once('.') {
            Some((t, k)) => defaults.get(t).and_then(|t| t.get(k)),
            None => defaults.get(&key),
        };
        let kind = match value {
            _ if file_of.is_some() => "path",
            _ if key == "database_url" => "URL",
            Some(toml::Value::Boolean(_)) => "boolean",
            Some(toml::Value::Integer(_)) if key.ends_with("_ms") => "integer (ms)",
            Some(toml::Value::Integer(_)) => "integer",
            Some(toml::Value::Array(_)) => "list of strings",
            _ if super::paths::is_path_key(&key) => "path",
            _ => "string",
        };
        let mut env = vec![env_var(&key)];
        if key == "database_url" {
            env.push("DATABASE_URL".into());
        }
        let snake_top = file_of.unwrap_or(&key);
        let note_name = NOTE_NAMES
            .iter()
            .find(|(_, s)| *s == key)
            .map(|(n, _)| *n)
            .or_else(|| {
                (file_of.is_some() && NOTE_NAMES.iter().any(|(_, s)| *s == snake_top))
                    .then_some("digisUrlPostfix_file")
            });
        out.push(Key {
            default: if file_of.is_some() {
                None
            } else {
                value.map(|v| v.to_string())
            },
            key,
            note_name,
            kind,
            env,
            meaning,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("\n"))
    }
}

/// The whole page.
pub fn markdown() -> Result<String, String> {
    let keys = keys()?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Configuration reference\n\n\
         Every key the configuration file accepts, read off the code (the settings types, their \
         defaults and the loader's rules): `{}` rewrites this page, and that test fails while it \
         differs. Any other key is refused, naming it. \
         [`assets/digis-relay.example.toml`](../../assets/digis-relay.example.toml) shows each \
         key with its default and more words.\n\n\
         Where a value comes from, lowest first: the default, the file (`--config FILE`, else \
         the file `DIGIS_RELAY_CONFIG` names, else `./digis-relay.toml` if present), the \
         environment, then the flags. An environment variable is `DIGIS_RELAY_` and the key in \
         capitals, a table's name joined to its key with `__` (`DIGIS_RELAY_RELAY__BATCH_SIZE=50`). \
         A list in the environment is written with commas (`DIGIS_RELAY_EXPORT__ALLOW_FROM=10.0.0.0/8,192.168.0.0/16`). \
         Relative paths written in the file mean the file's folder; given as flags or in the \
         environment, the working directory.\n\n\
         The keys marked with a second spelling are the membership system's integration note's \
         own setting names, accepted in the file as they are (not both spellings for one key).\n\n\
         The four secrets (`database_url`, `digis_url_postfix`, `export.token`, \
         `export.metrics_token`) may each come from a file instead: `KEY_file` in the file, \
         `DIGIS_RELAY_KEY_FILE` in the environment, or a systemd credential named as the key \
         (`$CREDENTIALS_DIRECTORY/export.token`). An empty value counts as not given.",
        REGENERATE
    );
    let mut table: Option<&str> = None;
    let mut first = true;
    for k in &keys {
        let (section, name) = match k.key.split_once('.') {
            Some((t, n)) => (Some(t), n),
            None => (None, k.key.as_str()),
        };
        if first || section != table {
            let title = match section {
                Some(t) => format!("`[{t}]`"),
                None => "Top level".to_string(),
            };
            let _ = writeln!(
                out,
                "\n## {title}\n\n| key | type | default | environment | meaning |\n|---|---|---|---|---|"
            );
            table = section;
            first = false;
        }
        let spelled = match k.note_name {
            Some(n) => format!("`{name}` or `{n}`"),
            None => format!("`{name}`"),
        };
        let default = match &k.default {
            Some(d) => format!("`{d}`"),
            None => "unset".to_string(),
        };
        let env: Vec<String> = k.env.iter().map(|e| format!("`{e}`")).collect();
        let _ = writeln!(
            out,
            "| {spelled} | {} | {default} | {} | {} |",
            k.kind,
            env.join(", "),
            k.meaning
        );
    }
    let _ = writeln!(
        out,
        "\n## Environment variables that are not keys\n\n\
         | variable | meaning |\n|---|---|\n\
         | `DIGIS_RELAY_CONFIG` | The configuration file, as `--config` names it. |\n\
         | `DATABASE_URL` | `database_url`, above the file and `DIGIS_RELAY_DATABASE_URL`, below `--database-url`. |\n\
         | `DIGIS_RELAY_LOG` (or `RUST_LOG`) | Which diagnostic log events are kept, a `tracing` filter (default `warn,digis_relay=info`); the sync log is not filtered. |\n\
         | `CREDENTIALS_DIRECTORY` | Set by systemd for `LoadCredential=`: the folder the secrets are read from. |\n\
         | `DIGIS_RELAY_TEST_PG` | The tests' PostgreSQL server (tests only). |\n\
         | `DIGIS_RELAY_COMMIT` | The commit `--version` names, for a build outside a git checkout (build time only). |"
    );
    Ok(out)
}

/// The fields serde's derive gives `T`'s `Deserialize`: what `deny_unknown_fields` accepts
/// (a field skipped by serde is not among them). Read by handing it a deserializer that records
/// the list `deserialize_struct` is called with and then stops.
fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut found));
    assert!(!found.is_empty(), "not a struct with named fields");
    found
}

struct Probe<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only structs are probed"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("probed"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
