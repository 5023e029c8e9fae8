//! What every command needs: the configuration, and a database connection on demand.
use anyhow::Context as _;

use crate::config::{Config, Overrides};
use crate::storage::{self, DynStorage};

use super::Cli;

pub struct Context {
    pub config: Config,
}

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Self> {
        let overrides = Overrides {
            database_url: cli.database_url.clone(),
            log_dir: cli.log_dir.clone(),
        };
        let config = Config::load(cli.config.as_deref(), &overrides)?;
        Ok(Self { config })
    }

    /// Connects and checks that the relay's tables are there and that the database's migrations
    /// and claim protocol agree with this binary's (`storage::handshake`), so a forgotten
    /// `migrate` or an older binary is one clear line instead of an SQL error later.
    pub async fn storage(&self) -> anyhow::Result<DynStorage> {
        // Opening would create an empty SQLite file: say what is wrong instead.
        if let Some(path) = storage::sqlite::file_of(&self.config.database_url) {
            if !path.exists() {
                anyhow::bail!(
                    "no database at {}: run `digis-relay migrate` first (--host-schema for a demo database), or set database_url",
                    path.display()
                );
            }
        }
        let s = self.connect().await?;
        let report = s.schema_report().await?;
        if !report.relay_tables_missing.is_empty() {
            anyhow::bail!(
                "the database {} is not migrated (missing: {}); run `digis-relay migrate` first",
                crate::util::redact_db_url(&self.config.database_url),
                report.relay_tables_missing.join(", ")
            );
        }
        // A database migrated by another version: one line saying what to do, before any
        // query meets a column it lacks (or a claim rule it does not follow). Before the
        // view: a database behind this binary has no host adapter yet either, and `migrate`
        // is the answer to both.
        match s.schema_versions().await?.judge()? {
            storage::handshake::Agreement::Same => {}
            storage::handshake::Agreement::AheadAdditive { unknown } => tracing::debug!(
                ?unknown,
                "the database has newer additive migrations; running beside them"
            ),
        }
        if !report.view_present {
            anyhow::bail!(
                "the database {} has no host adapter applied (missing: digis_member view); run `digis-relay migrate` first",
                crate::util::redact_db_url(&self.config.database_url)
            );
        }
        Ok(s)
    }

    /// Connects without checking the schema (for `migrate` and `doctor`).
    pub async fn connect(&self) -> anyhow::Result<DynStorage> {
        storage::connect(&self.config.database_url)
            .await
            .with_context(|| "database unreachable".to_string())
    }
}
