//! Installing and inspecting the schema: migrations and the host adapter, the schema
//! handshake, what `doctor` checks, and the demo's writes to host tables. Used by `setup`,
//! `migrate`, `doctor`, the service's start (the handshake) and the demo.
use async_trait::async_trait;
use chrono::Utc;

use super::engine::Engine;
use super::exec::{raw_execute, Db, On};
use super::time::StoredTime;
use super::{
    adapter, handshake, host_objects, Backend, Context as _, Result, SchemaReport, StorageError,
    HOST_TABLES, RELAY_TABLES,
};

/// The schema: what is installed and how to install it.
#[async_trait]
pub trait SchemaStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies the relay-owned migrations and then the reference host adapter; with
    /// `host_schema`, first the reference host schema from assets/ (for the demo and tests; a
    /// real installation already has its tables, and may need an adapter of its own:
    /// [`Self::migrate_with`]).
    async fn migrate(&self, host_schema: bool) -> Result<()> {
        self.migrate_with(
            host_schema,
            &adapter::HostAdapter::reference(self.backend()),
        )
        .await
        .map(|_| ())
    }

    /// [`Self::migrate`] with the host adapter `adapter`, applied after the migrations in
    /// one transaction and recorded in `digis_host_adapter`, unless the recorded checksum is
    /// its own and its views are there ([`adapter::AdapterOutcome`]).
    async fn migrate_with(
        &self,
        host_schema: bool,
        adapter: &adapter::HostAdapter,
    ) -> Result<adapter::AdapterOutcome>;

    /// The adapter `migrate` last applied (`digis_host_adapter`), `None` before the first, or
    /// when migration 0010 is not applied yet.
    async fn applied_adapter(&self) -> Result<Option<adapter::AppliedAdapter>>;

    /// What is installed, for `doctor`.
    async fn schema_report(&self) -> Result<SchemaReport>;

    /// Both sides of the schema handshake: the migrations compiled into this binary, the ones
    /// the database has applied, and its compatibility record ([`handshake`]).
    async fn schema_versions(&self) -> Result<handshake::SchemaVersions>;

    /// What the database holds of the host adapter: the columns of `views`, the triggers and
    /// what they call, and `digis_host_adapter`'s record, for `doctor` and the metrics.
    async fn host_objects(&self, views: &[&str]) -> Result<host_objects::HostObjects>;

    /// Runs SQL against the membership tables as the membership system would. For the demo
    /// and staging only: the relay itself never writes host tables.
    async fn host_exec(&self, sql: &str) -> Result<()>;
}

#[async_trait]
impl<E: Engine> SchemaStore for E {
    fn backend(&self) -> Backend {
        self.db().backend()
    }

    async fn migrate_with(
        &self,
        host_schema: bool,
        adapter: &super::adapter::HostAdapter,
    ) -> Result<super::adapter::AdapterOutcome> {
        let db = self.db();
        // Read and checked before anything is applied: a file that cannot be run
        // (transaction control, nothing in it) leaves the database as it was.
        let statements = adapter.statements()?;
        if host_schema {
            raw_execute(db, db.profile().host_schema)
                .await
                .ctx("applying the host schema")?;
        }
        // Before anything is created: the migrations create `digis` only if missing, so
        // a host's own table of other types would otherwise pass, and every pair the
        // relay records would then fail.
        if let Some(problem) = digis_problem(db).await? {
            return Err(StorageError::Refused(problem));
        }
        carry_over(db, &[]).await?;
        let versions = self.schema_versions().await?;
        if let Some(refusal) =
            super::bookkeeping::refusal(&versions.modified, versions.source, db.backend())
        {
            return Err(StorageError::Refused(refusal));
        }
        db.run_migrations().await?;
        apply_adapter(db, adapter, &statements).await
    }

    async fn applied_adapter(&self) -> Result<Option<super::adapter::AppliedAdapter>> {
        applied_adapter(self.db()).await
    }

    async fn schema_report(&self) -> Result<SchemaReport> {
        let db = self.db();
        let sql = db.sql();
        let c = "reading the schema";
        let objects: Vec<(String, String)> = db
            .query(sql.schema_objects)
            .fetch_all(db)
            .await
            .ctx(c)?
            .iter()
            .map(|r| Ok((r.get("name")?, r.get("kind")?)))
            .collect::<Result<_, sqlx::Error>>()
            .ctx(c)?;
        let triggers: Vec<String> = db
            .query(sql.schema_triggers)
            .fetch_all(db)
            .await
            .ctx("reading triggers")?
            .iter()
            .map(|r| r.get("name"))
            .collect::<Result<_, _>>()
            .ctx("reading triggers")?;
        let has = |kind: &str, name: &str| objects.iter().any(|(n, k)| k == kind && n == name);
        let missing = |tables: &[&str]| -> Vec<String> {
            tables
                .iter()
                .filter(|t| !has("table", t))
                .map(|t| t.to_string())
                .collect()
        };
        let digis_problem = if has("table", "digis") {
            digis_problem(db).await?
        } else {
            None
        };
        Ok(SchemaReport {
            digis_problem,
            host_tables_missing: missing(&HOST_TABLES),
            relay_tables_missing: missing(&RELAY_TABLES),
            view_present: has("view", "digis_member"),
            triggers_missing: db
                .profile()
                .triggers
                .iter()
                .filter(|t| !triggers.iter().any(|x| x == *t))
                .map(|t| t.to_string())
                .collect(),
        })
    }

    async fn schema_versions(&self) -> Result<super::handshake::SchemaVersions> {
        let db = self.db();
        let sql = db.sql();
        use super::handshake::{SchemaCompat, SchemaVersions, COMPAT_MIGRATION};
        let c = "reading the applied migrations";
        let embedded = embedded(db, &[]);
        let known = embedded
            .iter()
            .map(|m| (m.version, m.description.clone()))
            .collect();
        let mut conn = db.acquire().await.ctx(c)?;
        // An installation not carried over yet is read as `migrate` would carry it, so
        // its commands say what is really missing (not "everything").
        let (source, rows) = bookkeeping_rows(db, (&mut conn).into()).await?;
        drop(conn);
        let seen = super::bookkeeping::applied(&rows, source, &embedded);
        let applied = seen.versions;
        let c = "reading digis_schema";
        let compat = if applied.contains(&COMPAT_MIGRATION) {
            db.query(sql.schema_compat)
                .fetch_optional(db)
                .await
                .ctx(c)?
                .map(|r| {
                    Ok(SchemaCompat {
                        claim_protocol: r.get("claim_protocol")?,
                        compatible_from: r.get("compatible_from")?,
                    })
                })
                .transpose()
                .ctx(c)?
        } else {
            None
        };
        Ok(SchemaVersions {
            known,
            applied,
            compat,
            modified: seen.modified,
            source,
        })
    }

    async fn host_objects(&self, views: &[&str]) -> Result<super::host_objects::HostObjects> {
        let db = self.db();
        let sql = db.sql();
        use super::host_objects::{AdapterRecord, HostObjects, HostTrigger};
        let c = "reading the host adapter's objects";
        let mut out = HostObjects::default();
        for view in views {
            let columns = db
                .query(sql.adapter_view_columns)
                .bind(*view)
                .fetch_all(db)
                .await
                .ctx(c)?
                .iter()
                .map(|r| {
                    Ok((
                        r.get::<String>("column_name")?,
                        r.get::<Option<String>>("data_type")?.unwrap_or_default(),
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .ctx(c)?;
            out.views.push((view.to_string(), columns));
        }
        out.triggers = db
            .query(sql.adapter_triggers)
            .fetch_all(db)
            .await
            .ctx(c)?
            .iter()
            .map(|r| {
                Ok(HostTrigger {
                    table: r.get("table_name")?,
                    name: r.get("name")?,
                    function: r.get("function_name")?,
                    body: r.get("body")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .ctx(c)?;
        out.functions = db
            .query(sql.adapter_functions)
            .fetch_all(db)
            .await
            .ctx(c)?
            .iter()
            .map(|r| Ok((r.get("name")?, r.get("body")?)))
            .collect::<Result<_, sqlx::Error>>()
            .ctx(c)?;
        out.record_table = db.query(sql.adapter_record_table).scalar(db).await.ctx(c)?;
        if out.record_table {
            out.record = db
                .query(sql.adapter_recorded)
                .fetch_optional(db)
                .await
                .ctx(c)?
                .map(|r| {
                    Ok(AdapterRecord {
                        source: r.get("source")?,
                        checksum: r.get("checksum")?,
                        applied_at: r.get::<Option<String>>("applied_at")?.unwrap_or_default(),
                    })
                })
                .transpose()
                .ctx(c)?;
        }
        Ok(out)
    }

    async fn host_exec(&self, sql: &str) -> Result<()> {
        let db = self.db();
        let mut tx = db.write_tx().await?;
        raw_execute(&mut tx, sqlx::AssertSqlSafe(sql.to_string()))
            .await
            .ctx("writing host tables")?;
        tx.commit().await.ctx("committing a host write")?;
        Ok(())
    }
}

/// The adapter `migrate` last applied (`SchemaStore::applied_adapter`).
async fn applied_adapter(db: &Db) -> Result<Option<super::adapter::AppliedAdapter>> {
    let sql = db.sql();
    if !objects_present(db, db, &["digis_host_adapter"])
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let c = "reading digis_host_adapter";
    db.query(sql.adapter_record)
        .fetch_optional(db)
        .await
        .ctx(c)?
        .map(|r| {
            Ok(super::adapter::AppliedAdapter {
                source: r.get("source")?,
                checksum: r.get("checksum")?,
                applied_at: r.get::<StoredTime>("applied_at")?.0,
            })
        })
        .transpose()
        .ctx(c)
}

/// This binary's migrations, with the checksums they had in earlier releases (and `more`).
fn embedded(db: &Db, more: &[(i64, &str)]) -> Vec<super::bookkeeping::Embedded> {
    let profile = db.profile();
    let superseded: Vec<(i64, &str)> = profile.superseded.iter().chain(more).copied().collect();
    super::bookkeeping::Embedded::list(
        profile
            .migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, &*m.description, &*m.checksum)),
        &superseded,
    )
}

/// Which bookkeeping table holds the relay's migrations, and its rows.
async fn bookkeeping_rows(
    db: &Db,
    mut on: On<'_>,
) -> Result<(
    super::bookkeeping::Source,
    Vec<super::bookkeeping::Recorded>,
)> {
    let sql = db.sql();
    use super::bookkeeping::{statement, Recorded, Source};
    let c = "reading the migrations table";
    let tables = db
        .query(sqlx::AssertSqlSafe(statement(sql.migrations_tables)))
        .fetch_one(&mut on)
        .await
        .ctx(c)?;
    let own: bool = tables.get("own").ctx(c)?;
    let legacy: bool = tables.get("legacy").ctx(c)?;
    let (source, recorded) = match (own, legacy) {
        (true, _) => (Source::Own, sql.recorded_migrations),
        (false, true) => (Source::Legacy, sql.legacy_migrations),
        (false, false) => return Ok((Source::None, Vec::new())),
    };
    let rows = db
        .query(sqlx::AssertSqlSafe(statement(recorded)))
        .fetch_all(&mut on)
        .await
        .ctx(c)?
        .iter()
        .map(|r| {
            Ok(Recorded {
                version: r.get("version")?,
                description: r.get("description")?,
                checksum: r.get("checksum")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .ctx(c)?;
    Ok((source, rows))
}

/// Before sqlx's migrator runs: an installation of an older release has its migrations
/// carried over from `_sqlx_migrations` (the relay's rows only), and the relay's table has
/// superseded checksums recorded again as the current ones; in one transaction, one process
/// at a time (`storage::bookkeeping`). `more_superseded` adds checksums to this binary's:
/// the tests' way to try the mechanism with checksums of their own.
pub(super) async fn carry_over(db: &Db, more_superseded: &[(i64, &str)]) -> Result<()> {
    let sql = db.sql();
    use super::bookkeeping::{self as b, statement, Source};
    let c = "carrying over the migrations table";
    let known = embedded(db, more_superseded);
    let mut tx = db.write_tx().await?;
    db.query(sql.migrations_lock)
        .bind(b::CARRY_OVER_LOCK_KEY)
        .execute(&mut tx)
        .await
        .ctx(c)?;
    let (source, rows) = bookkeeping_rows(db, (&mut tx).into()).await?;
    let plan = match source {
        Source::Own => b::translate(&rows, &known),
        // A modified migration is refused by `migrate` before anything is written.
        Source::Legacy if !b::applied(&rows, source, &known).modified.is_empty() => return Ok(()),
        Source::Legacy => {
            tx.ensure_migrations_table(b::MIGRATIONS_TABLE).await?;
            b::carry_over(&rows, &known)
        }
        Source::None => return Ok(()),
    };
    for (version, checksum) in &plan.carry {
        db.query(sqlx::AssertSqlSafe(statement(sql.carry_migration)))
            .bind(*version)
            .bind(checksum.as_slice())
            .execute(&mut tx)
            .await
            .ctx(c)?;
    }
    for (version, recorded, current) in &plan.translate {
        db.query(sqlx::AssertSqlSafe(statement(sql.translate_checksum)))
            .bind(*version)
            .bind(recorded.as_slice())
            .bind(current.as_slice())
            .execute(&mut tx)
            .await
            .ctx(c)?;
    }
    tx.commit().await.ctx(c)?;
    if !plan.carry.is_empty() {
        tracing::info!(
            "carried {} relay migration(s) over from {} to {}",
            plan.carry.len(),
            b::LEGACY_MIGRATIONS_TABLE,
            b::MIGRATIONS_TABLE
        );
    }
    Ok(())
}

/// Which of `names` (tables or views) the database lacks, read through `conn`.
async fn objects_present<'e>(
    db: &Db,
    on: impl Into<On<'e>>,
    names: &[&str],
) -> Result<Vec<String>> {
    let sql = db.sql();
    let c = "reading the schema";
    let present: Vec<String> = db
        .query(sql.schema_objects)
        .fetch_all(on)
        .await
        .ctx(c)?
        .iter()
        .map(|r| r.get("name"))
        .collect::<Result<_, _>>()
        .ctx(c)?;
    Ok(names
        .iter()
        .filter(|n| !present.iter().any(|p| p == *n))
        .map(|n| n.to_string())
        .collect())
}

/// Whether every trigger the adapter's text creates exists
/// (`adapter::trigger_names`).
async fn triggers_present(db: &Db, adapter: &super::adapter::HostAdapter) -> Result<bool> {
    let sql = db.sql();
    let c = "reading triggers";
    let present: Vec<String> = db
        .query(sql.schema_triggers)
        .fetch_all(db)
        .await
        .ctx(c)?
        .iter()
        .map(|r| r.get::<String>("name").map(|n| n.to_ascii_lowercase()))
        .collect::<Result<_, _>>()
        .ctx(c)?;
    Ok(super::adapter::trigger_names(&adapter.sql)
        .iter()
        .all(|t| present.contains(t)))
}

/// Applies the host adapter in one transaction and records it, unless the recorded
/// checksum is this text's and its views and triggers are all there (a view or
/// trigger dropped by hand, or by a host rebuilding a table, is put back by the
/// next `migrate`).
async fn apply_adapter(
    db: &Db,
    adapter: &super::adapter::HostAdapter,
    statements: &[super::adapter::split::Statement<'_>],
) -> Result<super::adapter::AdapterOutcome> {
    let sql = db.sql();
    use super::adapter::{AdapterError, AdapterOutcome, VIEWS};
    let checksum = adapter.checksum();
    let previous = applied_adapter(db).await?.map(|a| a.checksum);
    if previous.as_deref() == Some(checksum.as_str())
        && objects_present(db, db, &VIEWS).await?.is_empty()
        && triggers_present(db, adapter).await?
    {
        return Ok(AdapterOutcome::Unchanged {
            name: adapter.name(),
            checksum,
        });
    }
    let mut tx = db.write_tx().await?;
    for (i, statement) in statements.iter().enumerate() {
        raw_execute(&mut tx, sqlx::AssertSqlSafe(statement.text.to_string()))
            .await
            .map_err(|e| AdapterError::statement(adapter, i + 1, statement, e))?;
    }
    let missing = objects_present(db, &mut tx, &VIEWS).await?;
    if !missing.is_empty() {
        return Err(AdapterError::MissingViews {
            name: adapter.name(),
            missing,
        }
        .into());
    }
    for (view, columns) in super::adapter::VIEW_COLUMNS {
        let probe = super::adapter::view_probe(view, columns);
        raw_execute(&mut tx, sqlx::AssertSqlSafe(probe))
            .await
            .map_err(|e| AdapterError::broken_view(adapter, view, columns, e))?;
    }
    rebuild_person_keys(db, &mut tx, adapter).await?;
    db.query(sql.adapter_record_save)
        .bind(adapter.name())
        .bind(&checksum)
        .bind(StoredTime(Utc::now()))
        .execute(&mut tx)
        .await
        .ctx("recording the host adapter")?;
    tx.commit().await.ctx("committing the host adapter")?;
    Ok(AdapterOutcome::Applied {
        name: adapter.name(),
        checksum,
        previous,
    })
}

/// Builds every person's search keys (migration 0018) when the adapter's triggers keep them
/// (its text names the entry point `digis_person_changed`): the persons saved before it was
/// applied are found through them too. An adapter that does not leaves search filtering every
/// person, as before the keys.
async fn rebuild_person_keys(
    db: &Db,
    tx: &mut super::exec::Tx<'static>,
    adapter: &super::adapter::HostAdapter,
) -> Result<()> {
    let sql = db.sql();
    let c = "building the person keys for search";
    let keeps = adapter.keeps_person_keys();
    if keeps {
        // Prune and upsert rather than clear and fill: a person whose keys are unchanged
        // keeps them (and on SQLite their name's grams) untouched.
        db.query(sql.person_keys_prune)
            .execute(&mut *tx)
            .await
            .ctx(c)?;
        db.query(sql.person_keys_rebuild)
            .execute(&mut *tx)
            .await
            .ctx(c)?;
    } else {
        db.query(sql.person_keys_clear)
            .execute(&mut *tx)
            .await
            .ctx(c)?;
    }
    db.query(sql.person_keys_ready_save)
        .bind(keeps)
        .execute(&mut *tx)
        .await
        .ctx(c)?;
    Ok(())
}

/// Why the host's `digis` table cannot take Digis's ids, if it cannot
/// ([`digis_external_id_problem`](super::digis_external_id_problem)).
async fn digis_problem(db: &Db) -> Result<Option<String>> {
    let sql = db.sql();
    let c = "reading the digis table's columns";
    let found = db
        .query(sql.digis_external_id)
        .fetch_optional(db)
        .await
        .ctx(c)?
        .map(|r| {
            Ok::<_, sqlx::Error>((
                r.get::<Option<String>>("declared")?,
                r.get::<Option<String>>("category")?,
            ))
        })
        .transpose()
        .ctx(c)?;
    Ok(super::digis_external_id_problem(db.backend(), found))
}
