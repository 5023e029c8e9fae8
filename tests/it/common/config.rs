//! The configuration a test's relay reads: [`TestConfig`], typed where the tests set the same
//! keys, written out as TOML by [`TestConfig::write`] (the one writer); [`config_for`] is the
//! same for a relay in process.
use std::path::{Path, PathBuf};

use digis_relay::config::Config;

use super::TestDb;

/// The Digis token of the tests: the fakes require it, the leak checks look for it.
pub const TOKEN: &str = "SECRET-TOKEN-4711";

/// A `digis-relay.toml` as the tests write it. Keys left `None` (or sections left empty) are
/// not written, so the binary's own default (or the environment) decides them.
#[derive(Clone, Debug, Default)]
pub struct TestConfig {
    pub database_url: String,
    pub log_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub use_digis: Option<bool>,
    pub digis_url: Option<String>,
    pub digis_url_postfix: Option<String>,
    pub digis_timeout_ms: Option<u64>,
    pub relay: toml::Table,
    pub export: toml::Table,
    pub host: toml::Table,
    /// Any other key or section, as given.
    pub other: toml::Table,
}

impl TestConfig {
    /// The test's database, the sync log in its folder's `logs/`; nothing else.
    pub fn base(db: &TestDb) -> TestConfig {
        TestConfig {
            database_url: db.url.clone(),
            log_dir: Some(db.dir.path().join("logs")),
            ..TestConfig::default()
        }
    }

    /// A relay sending to `digis_url` with the test token. The held answers' journal stays with
    /// the test's database, never in the checkout. `digis_timeout_ms` is 10 s: far above
    /// anything the fakes take to answer, so a loaded machine does not turn an answer into a
    /// timeout (tests that want a timeout set it, and keep the fake's delay far from it).
    pub fn relay_to(db: &TestDb, digis_url: &str) -> TestConfig {
        TestConfig {
            state_dir: Some(db.dir.path().join("state")),
            use_digis: Some(true),
            digis_url: Some(digis_url.to_string()),
            digis_url_postfix: Some(format!("brp?token={TOKEN}")),
            digis_timeout_ms: Some(10_000),
            ..TestConfig::base(db)
        }
    }

    /// Only the export is served (`useDigis = false`): `token`, `page_size` members a page and
    /// an idle timeout far beyond any test's stall; quick heartbeats.
    pub fn export_only(db: &TestDb, token: &str, page_size: u32) -> TestConfig {
        TestConfig {
            state_dir: Some(db.dir.path().join("state")),
            use_digis: Some(false),
            ..TestConfig::base(db)
        }
        .with("[relay]\nheartbeat_ms = 500\n")
        .with(&format!(
            "[export]\ntoken = \"{token}\"\npage_size = {page_size}\nidle_timeout_ms = 600000\n"
        ))
    }

    /// These settings (TOML) on top: a key given here replaces the same key above, a section's
    /// keys join that section's.
    pub fn with(mut self, toml_text: &str) -> TestConfig {
        let given: toml::Table = toml_text
            .parse()
            .unwrap_or_else(|e| panic!("test configuration `{toml_text}`: {e}"));
        for (key, value) in given {
            let text = |v: &toml::Value| v.as_str().map(str::to_string).unwrap_or_default();
            match (key.as_str(), value) {
                ("database_url", v) => self.database_url = text(&v),
                ("log_dir", v) => self.log_dir = Some(text(&v).into()),
                ("state_dir", v) => self.state_dir = Some(text(&v).into()),
                ("useDigis" | "use_digis", v) => self.use_digis = v.as_bool(),
                ("digisUrl" | "digis_url", v) => self.digis_url = Some(text(&v)),
                ("digisUrlPostfix" | "digis_url_postfix", v) => {
                    self.digis_url_postfix = Some(text(&v))
                }
                ("digis_timeout_ms", v) => self.digis_timeout_ms = v.as_integer().map(|n| n as u64),
                ("relay", toml::Value::Table(t)) => self.relay.extend(t),
                ("export", toml::Value::Table(t)) => self.export.extend(t),
                ("host", toml::Value::Table(t)) => self.host.extend(t),
                (_, v) => {
                    self.other.insert(key, v);
                }
            }
        }
        self
    }

    /// The TOML text: the integration note's camelCase names where the integration note has them, as an operator's
    /// file does.
    pub fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        let mut put = |k: &str, v: Option<toml::Value>| {
            if let Some(v) = v {
                t.insert(k.to_string(), v);
            }
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string().into());
        put("database_url", Some(self.database_url.clone().into()));
        put("log_dir", path(&self.log_dir));
        put("state_dir", path(&self.state_dir));
        put("useDigis", self.use_digis.map(Into::into));
        put("digisUrl", self.digis_url.clone().map(Into::into));
        put(
            "digisUrlPostfix",
            self.digis_url_postfix.clone().map(Into::into),
        );
        put(
            "digis_timeout_ms",
            self.digis_timeout_ms.map(|n| (n as i64).into()),
        );
        for (name, section) in [
            ("relay", &self.relay),
            ("export", &self.export),
            ("host", &self.host),
        ] {
            if !section.is_empty() {
                put(name, Some(toml::Value::Table(section.clone())));
            }
        }
        t.extend(self.other.clone());
        toml::to_string(&t).expect("a test configuration as TOML")
    }

    /// Writes the file at `path` (replacing it) and returns the path.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.to_toml())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path.to_path_buf()
    }

    /// Writes `digis-relay.toml` in the test's folder.
    pub fn write_in(&self, db: &TestDb) -> PathBuf {
        self.write(&db.dir.path().join("digis-relay.toml"))
    }
}

/// `digis-relay.toml` in the test's folder: a relay sending to `digis_url`
/// ([`TestConfig::relay_to`]), then `extra` (TOML).
pub fn write_config(db: &TestDb, digis_url: &str, extra: &str) -> PathBuf {
    TestConfig::relay_to(db, digis_url).with(extra).write_in(db)
}

/// `NAME.toml` in the test's folder, for one of several relays of the real binary on the same
/// database: as [`write_config`].
pub fn relay_config(db: &TestDb, name: &str, digis_url: &str, extra: &str) -> PathBuf {
    TestConfig::relay_to(db, digis_url)
        .with(extra)
        .write(&db.dir.path().join(format!("{name}.toml")))
}

/// The same relay as [`TestConfig::relay_to`] for a relay in process, with quick retries, no
/// rate limit and quick polls.
pub fn config_for(base_url: &str, db: &TestDb) -> Config {
    let mut c = Config {
        database_url: db.url.clone(),
        log_dir: db.dir.path().join("logs"),
        state_dir: db.dir.path().join("state"),
        digis_url: base_url.to_string(),
        digis_url_postfix: format!("brp?token={TOKEN}"),
        // Far above what a local fake takes, even on a loaded machine: an answer must not
        // turn into a timeout. The test that wants a timeout sets its own, far from its delay.
        digis_timeout_ms: 10_000,
        digis_connect_timeout_ms: 5_000,
        ..Config::default()
    };
    c.relay.backoff_base_ms = 1;
    c.relay.backoff_max_ms = 2;
    c.relay.lease_ms = 30_000;
    c.relay.max_requests_per_second = 0;
    c.relay.poll_interval_ms = 50;
    c.relay.relay_id = "test-relay".into();
    c
}
