//! The storage methods both databases share, written once. A backend provides its pool, its
//! [`Sql`](super::sql::Sql), how a write transaction starts, and the few operations that truly
//! differ (the wake-up after an operator action, watching for commits); the
//! [`storage_impl!`] macro then writes its whole `Storage` impl from the code here.
//!
//! Why a macro and not generic functions over `sqlx::Database`: the bounds sqlx 0.9 needs for
//! generic executors and binds are not implied through a helper trait, so every generic
//! method would repeat a dozen `where` lines. Expanded per backend, the same code is checked
//! with concrete types, and binding is the same text on both sides because times
//! ([`StoredTime`](super::time::StoredTime)) and lists ([`IdList`](super::lists::IdList),
//! [`WordList`](super::lists::WordList)) encode themselves per database.
//!
//! What a backend type `$T` must have:
//! - fields `pool` (its sqlx pool) and `wake` (`Arc<Notify>`);
//! - associated consts `BACKEND`, `SQL: &'static Sql`, `BEGIN_WRITE` (the statement that opens a
//!   write transaction), `MIGRATOR`, `SUPERSEDED_CHECKSUMS` (`storage::bookkeeping`),
//!   `HOST_SCHEMA` and `TRIGGERS` (the names `doctor` expects);
//! - inherent async method `poke` (wake the relays after an operator action), and
//!   `watch_commits` (start whatever turns other processes' commits into wake-ups, called by
//!   `wakeup`).
//!
//! The hot path is set-based (ARCHITECTURE.md, Delivery path): a claim marks the rows in one
//! statement, then reads them with their member and `digis` rows in three statements whatever
//! their number (giving the rows back if that fails), and `complete_group` ends a whole group
//! of rows in one transaction of three statements (outbox rows, accepted pairs, attempts), each
//! row guarded by its claim token.
//! Lease renewal and release are one statement for every held row.

/// Writes `impl Storage for $T` (and `$T`'s shared helpers) for the database `$db`.
macro_rules! storage_impl {
    ($T:ty, $db:ty) => {
        /// What an operator did, as `digis_event` records it.
        struct Event<'a> {
            kind: $crate::storage::texts::EventKind,
            actor: &'a str,
            detail: Option<String>,
            now: chrono::DateTime<chrono::Utc>,
        }

        type Tx = sqlx::Transaction<'static, $db>;

        /// Our own rows failed to become JSON (they cannot: plain numbers and text).
        fn json_err(e: serde_json::Error) -> $crate::storage::StorageError {
            $crate::storage::StorageError::Corrupt(format!("a list as JSON: {e}"))
        }

        /// The pairs a reconcile skips, as one JSON array of {subscription_id, person_id}.
        fn skip_json(
            skip: &[(SubscriptionId, PersonId)],
        ) -> $crate::storage::Result<$crate::storage::lists::JsonRows> {
            $crate::storage::lists::json_whole(skip.iter().map(|(s, p)| {
                $crate::storage::lists::PairKey {
                    subscription_id: s.0,
                    person_id: p.0,
                }
            }))
            .map_err(json_err)
        }

        fn ids_of(rows: &[<$db as sqlx::Database>::Row]) -> $crate::storage::Result<Vec<OutboxId>> {
            use sqlx::Row as _;
            rows.iter()
                .map(|r| r.try_get::<i64, _>(0).map(OutboxId))
                .collect::<Result<_, _>>()
                .ctx("reading ids")
        }

        impl $T {
            /// This binary's migrations, with the checksums they had in earlier releases.
            fn embedded() -> Vec<$crate::storage::bookkeeping::Embedded> {
                Self::embedded_with(Self::SUPERSEDED_CHECKSUMS)
            }

            fn embedded_with(
                superseded: &[(i64, &str)],
            ) -> Vec<$crate::storage::bookkeeping::Embedded> {
                $crate::storage::bookkeeping::Embedded::list(
                    Self::MIGRATOR
                        .iter()
                        .filter(|m| !m.migration_type.is_down_migration())
                        .map(|m| (m.version, &*m.description, &*m.checksum)),
                    superseded,
                )
            }

            /// Which bookkeeping table holds the relay's migrations, and its rows.
            async fn bookkeeping_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> $crate::storage::Result<(
                $crate::storage::bookkeeping::Source,
                Vec<$crate::storage::bookkeeping::Recorded>,
            )> {
                use sqlx::Row as _;
                use $crate::storage::bookkeeping::{statement, Recorded, Source};
                let c = "reading the migrations table";
                let tables = sqlx::query(sqlx::AssertSqlSafe(statement(
                    Self::SQL.migrations_tables,
                )))
                .fetch_one(&mut *conn)
                .await
                .ctx(c)?;
                let own: bool = tables.try_get("own").ctx(c)?;
                let legacy: bool = tables.try_get("legacy").ctx(c)?;
                let (source, sql) = match (own, legacy) {
                    (true, _) => (Source::Own, Self::SQL.recorded_migrations),
                    (false, true) => (Source::Legacy, Self::SQL.legacy_migrations),
                    (false, false) => return Ok((Source::None, Vec::new())),
                };
                let rows = sqlx::query(sqlx::AssertSqlSafe(statement(sql)))
                    .fetch_all(&mut *conn)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| {
                        Ok(Recorded {
                            version: r.try_get("version")?,
                            description: r.try_get("description")?,
                            checksum: r.try_get("checksum")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .ctx(c)?;
                Ok((source, rows))
            }

            /// Before sqlx's migrator runs: an installation of an older release has its
            /// migrations carried over from `_sqlx_migrations` (the relay's rows only), and the
            /// relay's table has superseded checksums recorded again as the current ones; in one
            /// transaction, one process at a time (`storage::bookkeeping`).
            async fn carry_over_migrations(&self) -> $crate::storage::Result<()> {
                self.carry_over_with(&[]).await
            }

            /// [`Self::carry_over_migrations`] with more superseded checksums than this
            /// binary's: the tests' way to try the mechanism with checksums of their own.
            #[doc(hidden)]
            pub async fn carry_over_with(
                &self,
                more_superseded: &[(i64, &str)],
            ) -> $crate::storage::Result<()> {
                use sqlx::migrate::Migrate as _;
                use $crate::storage::bookkeeping::{self as b, statement, Source};
                let c = "carrying over the migrations table";
                let superseded: Vec<(i64, &str)> = Self::SUPERSEDED_CHECKSUMS
                    .iter()
                    .chain(more_superseded)
                    .copied()
                    .collect();
                let known = Self::embedded_with(&superseded);
                let mut tx = self.write_tx().await?;
                sqlx::query(Self::SQL.migrations_lock)
                    .bind(b::CARRY_OVER_LOCK_KEY)
                    .execute(&mut *tx)
                    .await
                    .ctx(c)?;
                let (source, rows) = Self::bookkeeping_rows(&mut *tx).await?;
                let plan = match source {
                    Source::Own => b::translate(&rows, &known),
                    // A modified migration is refused by `migrate` before anything is written.
                    Source::Legacy if !b::applied(&rows, source, &known).modified.is_empty() => {
                        return Ok(())
                    }
                    Source::Legacy => {
                        tx.ensure_migrations_table(b::MIGRATIONS_TABLE).await?;
                        b::carry_over(&rows, &known)
                    }
                    Source::None => return Ok(()),
                };
                for (version, checksum) in &plan.carry {
                    sqlx::query(sqlx::AssertSqlSafe(statement(Self::SQL.carry_migration)))
                        .bind(*version)
                        .bind(checksum.as_slice())
                        .execute(&mut *tx)
                        .await
                        .ctx(c)?;
                }
                for (version, recorded, current) in &plan.translate {
                    sqlx::query(sqlx::AssertSqlSafe(statement(Self::SQL.translate_checksum)))
                        .bind(*version)
                        .bind(recorded.as_slice())
                        .bind(current.as_slice())
                        .execute(&mut *tx)
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

            async fn write_tx(&self) -> $crate::storage::Result<Tx> {
                self.pool
                    .begin_with(Self::BEGIN_WRITE)
                    .await
                    .ctx("starting a write transaction")
            }

            /// Which of `names` (tables or views) the database lacks, read through `conn`.
            async fn objects_present<'c, E>(
                &self,
                conn: E,
                names: &[&str],
            ) -> $crate::storage::Result<Vec<String>>
            where
                E: sqlx::Executor<'c, Database = $db>,
            {
                use sqlx::Row as _;
                let c = "reading the schema";
                let present: Vec<String> = sqlx::query(Self::SQL.schema_objects)
                    .fetch_all(conn)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| r.try_get("name"))
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
            async fn triggers_present(
                &self,
                adapter: &$crate::storage::adapter::HostAdapter,
            ) -> $crate::storage::Result<bool> {
                use sqlx::Row as _;
                let c = "reading triggers";
                let present: Vec<String> = sqlx::query(Self::SQL.schema_triggers)
                    .fetch_all(&self.pool)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| r.try_get::<String, _>("name").map(|n| n.to_ascii_lowercase()))
                    .collect::<Result<_, _>>()
                    .ctx(c)?;
                Ok($crate::storage::adapter::trigger_names(&adapter.sql)
                    .iter()
                    .all(|t| present.contains(t)))
            }

            /// Applies the host adapter in one transaction and records it, unless the recorded
            /// checksum is this text's and its views and triggers are all there (a view or
            /// trigger dropped by hand, or by a host rebuilding a table, is put back by the
            /// next `migrate`).
            async fn apply_adapter(
                &self,
                adapter: &$crate::storage::adapter::HostAdapter,
                statements: &[$crate::storage::adapter::split::Statement<'_>],
            ) -> $crate::storage::Result<$crate::storage::adapter::AdapterOutcome> {
                use $crate::storage::adapter::{AdapterError, AdapterOutcome, VIEWS};
                let checksum = adapter.checksum();
                let previous = self.applied_adapter().await?.map(|a| a.checksum);
                if previous.as_deref() == Some(checksum.as_str())
                    && self.objects_present(&self.pool, &VIEWS).await?.is_empty()
                    && self.triggers_present(adapter).await?
                {
                    return Ok(AdapterOutcome::Unchanged {
                        name: adapter.name(),
                        checksum,
                    });
                }
                let mut tx = self.write_tx().await?;
                for (i, statement) in statements.iter().enumerate() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.text.to_string()))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| AdapterError::statement(adapter, i + 1, statement, e))?;
                }
                let missing = self.objects_present(&mut *tx, &VIEWS).await?;
                if !missing.is_empty() {
                    return Err(AdapterError::MissingViews {
                        name: adapter.name(),
                        missing,
                    }
                    .into());
                }
                for (view, columns) in $crate::storage::adapter::VIEW_COLUMNS {
                    let probe = $crate::storage::adapter::view_probe(view, columns);
                    sqlx::raw_sql(sqlx::AssertSqlSafe(probe))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| AdapterError::broken_view(adapter, view, columns, e))?;
                }
                sqlx::query(Self::SQL.adapter_record_save)
                    .bind(adapter.name())
                    .bind(&checksum)
                    .bind(StoredTime(Utc::now()))
                    .execute(&mut *tx)
                    .await
                    .ctx("recording the host adapter")?;
                tx.commit().await.ctx("committing the host adapter")?;
                Ok(AdapterOutcome::Applied {
                    name: adapter.name(),
                    checksum,
                    previous,
                })
            }

            /// Why the host's `digis` table cannot take Digis's ids, if it cannot
            /// ([`digis_external_id_problem`]($crate::storage::digis_external_id_problem)).
            async fn digis_problem(&self) -> $crate::storage::Result<Option<String>> {
                use sqlx::Row as _;
                let c = "reading the digis table's columns";
                let found = sqlx::query(Self::SQL.digis_external_id)
                    .fetch_optional(&self.pool)
                    .await
                    .ctx(c)?
                    .map(|r| {
                        Ok::<_, sqlx::Error>((
                            r.try_get::<Option<String>, _>("declared")?,
                            r.try_get::<Option<String>, _>("category")?,
                        ))
                    })
                    .transpose()
                    .ctx(c)?;
                Ok($crate::storage::digis_external_id_problem(
                    Self::BACKEND,
                    found,
                ))
            }

            async fn rows_by_ids(&self, ids: &[i64]) -> $crate::storage::Result<Vec<OutboxRow>> {
                let mut conn = self.pool.acquire().await.ctx("reading outbox rows")?;
                Self::rows_by_ids_on(&mut conn, ids).await
            }

            async fn rows_by_ids_on(
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[i64],
            ) -> $crate::storage::Result<Vec<OutboxRow>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query(Self::SQL.outbox_by_ids)
                    .bind($crate::storage::lists::IdList(ids.to_vec()))
                    .fetch_all(&mut *conn)
                    .await
                    .ctx("reading outbox rows")?;
                rows.iter().map(rows::outbox_row).collect()
            }

            /// The member and `digis` rows of claimed rows, which the relay needs to send them.
            async fn claimed(
                &self,
                ids: &[i64],
                token: &str,
            ) -> $crate::storage::Result<Vec<ClaimedRow>> {
                use $crate::storage::lists::{json_chunks, PairKey};
                let mut conn = self.pool.acquire().await.ctx("reading claimed rows")?;
                let rows = Self::rows_by_ids_on(&mut conn, ids).await?;
                let pairs = rows.iter().filter(|r| r.defect.is_none()).map(|r| PairKey {
                    subscription_id: r.subscription_id.0,
                    person_id: r.person_id.0,
                });
                let chunks = json_chunks(pairs).map_err(json_err)?;
                let mut members = Vec::new();
                let mut synced = Vec::new();
                let mut sent = Vec::new();
                for pairs in chunks {
                    members.extend(
                        sqlx::query(Self::SQL.members_of_pairs)
                            .bind(pairs.clone())
                            .fetch_all(&mut *conn)
                            .await
                            .ctx("reading members of claimed rows")?
                            .iter()
                            .map(decode::member),
                    );
                    // Planned for each call, never from a cached plan: PostgreSQL's generic
                    // plan of this statement, made while `digis` was still empty (a first
                    // reconcile), scanned the whole table for every claim once it had grown
                    // (seen in the drain bench: 6 ms a claim at 100,000 rows, 0.7 s at 50,000
                    // in a nested loop). Planning it costs well under a millisecond.
                    let pairs_again = pairs.clone();
                    synced.extend(
                        sqlx::query(Self::SQL.digis_of_pairs)
                            .persistent(false)
                            .bind(pairs)
                            .fetch_all(&mut *conn)
                            .await
                            .ctx("reading digis rows")?
                            .iter()
                            .map(rows::digis_read),
                    );
                    // Delivered means delivered: a sent row of the pair stops a second SMS
                    // even when the host lost its `digis` row.
                    for r in sqlx::query(Self::SQL.sent_of_pairs)
                        .persistent(false)
                        .bind(pairs_again)
                        .bind(OutboxState::Sent.as_str())
                        .fetch_all(&mut *conn)
                        .await
                        .ctx("reading sent rows of claimed pairs")?
                    {
                        sent.push(rows::sent_row(&r)?);
                    }
                }
                let recorded: std::collections::HashMap<i64, i64> =
                    sqlx::query_as::<_, (i64, i64)>(Self::SQL.attempt_numbers)
                        .bind($crate::storage::lists::IdList(ids.to_vec()))
                        .fetch_all(&mut *conn)
                        .await
                        .ctx("numbering the attempts of claimed rows")?
                        .into_iter()
                        .collect();
                let mut claims = assemble_claims(rows, members, synced, sent, token);
                for c in &mut claims {
                    let before = recorded.get(&c.row.id.0).copied().unwrap_or(0);
                    c.attempt_no = i32::try_from(before).unwrap_or(i32::MAX - 1) + 1;
                }
                Ok(claims)
            }

            /// Completions inside `tx` (see `Storage::complete_group`): one set-based statement
            /// each for the outbox rows, the accepted pairs and the attempts. A row deleted
            /// meanwhile is no error here (its attempt is left out); any other statement error
            /// is the group's, and `complete_group` then writes its rows one by one.
            async fn complete_in(
                tx: &mut Tx,
                completions: &[CompletionItem],
                now: DateTime<Utc>,
            ) -> $crate::storage::Result<Vec<CompleteResult>> {
                use $crate::storage::group::{AttemptJson, CompleteJson, PairJson, SupersedeJson};
                use $crate::storage::lists::json_chunks;
                use std::collections::HashSet;
                if completions.is_empty() {
                    return Ok(Vec::new());
                }
                let at = StoredTime(now);
                let mut applied = HashSet::with_capacity(completions.len());
                let rows =
                    json_chunks(completions.iter().map(CompleteJson::of)).map_err(json_err)?;
                for chunk in rows {
                    let ids: Vec<i64> = sqlx::query_scalar(Self::SQL.complete_rows)
                        .bind(at)
                        .bind(chunk)
                        .fetch_all(&mut **tx)
                        .await
                        .ctx("completing outbox rows")?;
                    applied.extend(ids);
                }
                let pairs = completions
                    .iter()
                    .filter(|c| applied.contains(&c.id.0))
                    .filter_map(PairJson::of);
                for chunk in json_chunks(pairs).map_err(json_err)? {
                    sqlx::query(Self::SQL.record_pairs)
                        .bind(at)
                        .bind(chunk)
                        .execute(&mut **tx)
                        .await
                        .ctx("recording pairs in digis")?;
                }
                // The attempt is history even when the claim was lost: a stale 2xx may be a
                // second SMS.
                let attempts = completions
                    .iter()
                    .map(|c| AttemptJson::of(c, applied.contains(&c.id.0)));
                let mut recorded = HashSet::with_capacity(completions.len());
                for chunk in json_chunks(attempts).map_err(json_err)? {
                    let ids: Vec<i64> = sqlx::query_scalar(Self::SQL.record_attempts)
                        .bind(chunk)
                        .fetch_all(&mut **tx)
                        .await
                        .ctx("recording attempts")?;
                    recorded.extend(ids);
                }
                // A row the host deleted while Digis accepted it: the pair goes into digis all
                // the same (Digis has the member), or the next save would queue it again and
                // Digis would send a second SMS. Rare, so one more statement only then.
                let vanished = |c: &&CompletionItem| {
                    !applied.contains(&c.id.0) && !recorded.contains(&c.id.0)
                };
                let accepted_gone = completions.iter().filter(vanished).filter_map(PairJson::of);
                for chunk in json_chunks(accepted_gone).map_err(json_err)? {
                    sqlx::query(Self::SQL.record_pairs)
                        .bind(at)
                        .bind(chunk)
                        .execute(&mut **tx)
                        .await
                        .ctx("recording the pairs of deleted rows in digis")?;
                }
                // The accepted pairs' older failed rows leave the fix lists, in this same
                // transaction (issue 25 item 5). A deleted row's pair was accepted too.
                let accepted = completions
                    .iter()
                    .filter(|c| applied.contains(&c.id.0) || vanished(c))
                    .filter_map(SupersedeJson::of);
                for chunk in json_chunks(accepted).map_err(json_err)? {
                    Self::supersede_in(tx, chunk, at).await?;
                }
                Ok(completions
                    .iter()
                    .map(|c| {
                        if applied.contains(&c.id.0) {
                            CompleteResult::Applied
                        } else if recorded.contains(&c.id.0) {
                            CompleteResult::LeaseLost
                        } else {
                            CompleteResult::Vanished
                        }
                    })
                    .collect())
            }

            /// A group whose set-based statements failed (`complete_in`), written again one row
            /// at a time, each statement in a savepoint of its own: a row whose own update,
            /// pair or attempt cannot be written is left out alone, and the rest commit. A
            /// pair that cannot be written leaves its row `sent`: Digis accepted it. Only
            /// after a failure: the savepoints cost round trips the set-based path does not
            /// pay. A transient error still fails the whole group (it is held and run again).
            async fn complete_alone_in(
                tx: &mut Tx,
                completions: &[CompletionItem],
                releases: &[(OutboxId, String)],
                now: DateTime<Utc>,
            ) -> $crate::storage::Result<Vec<CompleteResult>> {
                use $crate::storage::group::{AttemptJson, CompleteJson, PairJson};
                use $crate::storage::lists::{json_one, HeldRow};
                let at = StoredTime(now);
                let mut results = Vec::with_capacity(completions.len());
                for c in completions {
                    let one = json_one(&CompleteJson::of(c)).map_err(json_err)?;
                    let q = sqlx::query(Self::SQL.complete_rows).bind(at).bind(one);
                    let mut result = match Self::in_savepoint(tx, q, "completing an outbox row")
                        .await?
                    {
                        Ok(ids) if ids.is_empty() => CompleteResult::LeaseLost,
                        Ok(_) => CompleteResult::Applied,
                        Err(why) => CompleteResult::Unwritten(why),
                    };
                    if result == CompleteResult::Applied {
                        if let Some(pair) = PairJson::of(c) {
                            let pair = json_one(&pair).map_err(json_err)?;
                            let q = sqlx::query(Self::SQL.record_pairs).bind(at).bind(pair);
                            if let Err(why) =
                                Self::in_savepoint(tx, q, "recording a pair in digis").await?
                            {
                                result = CompleteResult::SentWithoutDigis(why);
                            }
                            // Sent, with or without its digis row: Digis accepted the pair.
                            Self::supersede_alone_in(tx, c, at).await?;
                        }
                    }
                    let attempt =
                        json_one(&AttemptJson::of(c, result.applied())).map_err(json_err)?;
                    let q = sqlx::query(Self::SQL.record_attempts).bind(attempt);
                    match Self::in_savepoint(tx, q, "recording an attempt").await? {
                        Ok(ids) if ids.is_empty() && result == CompleteResult::LeaseLost => {
                            result = CompleteResult::Vanished;
                            // As in complete_in: Digis accepted a row the host deleted.
                            if let Some(pair) = PairJson::of(c) {
                                let pair = json_one(&pair).map_err(json_err)?;
                                let q = sqlx::query(Self::SQL.record_pairs).bind(at).bind(pair);
                                if let Err(why) =
                                    Self::in_savepoint(tx, q, "recording a pair in digis").await?
                                {
                                    tracing::error!(
                                        "outbox {} (deleted while in flight): subscription {} person {} accepted by Digis but not recorded in digis: {why}",
                                        c.id,
                                        c.subscription_id,
                                        c.person_id
                                    );
                                }
                                Self::supersede_alone_in(tx, c, at).await?;
                            }
                        }
                        Ok(_) => {}
                        Err(why) => tracing::error!(
                            "relay {}: outbox {}: attempt {} not recorded: {why}",
                            c.attempt.relay_id,
                            c.id,
                            c.attempt_no
                        ),
                    }
                    results.push(result);
                }
                for row in releases {
                    let held = json_one(&HeldRow {
                        id: row.0 .0,
                        token: &row.1,
                    })
                    .map_err(json_err)?;
                    let q = sqlx::query(Self::SQL.release)
                        .bind(StoredTime(now))
                        .bind(held);
                    if let Err(why) = Self::in_savepoint(tx, q, "releasing a claim").await? {
                        tracing::error!(
                            "outbox {}: not given back ({why}): it waits for its lease",
                            row.0
                        );
                    }
                }
                Ok(results)
            }

            /// Discards the failed rows older than the sent rows in `chunk` (a JSON array of
            /// [`SupersedeJson`](crate::storage::group::SupersedeJson)) inside `tx`: their
            /// pairs were accepted, so they no longer need a person. On PostgreSQL a failed row
            /// another transaction holds is skipped, never waited for (`supersede_failed.sql`).
            async fn supersede_in(
                tx: &mut Tx,
                chunk: $crate::storage::lists::JsonRows,
                at: StoredTime,
            ) -> $crate::storage::Result<u64> {
                let rows = sqlx::query(Self::SQL.supersede_failed)
                    .bind(at)
                    .bind(chunk)
                    .bind(OutboxState::Failed.as_str())
                    .bind(OutboxState::Discarded.as_str())
                    .fetch_all(&mut **tx)
                    .await
                    .ctx("discarding failed rows of accepted pairs")?;
                Ok(rows.len() as u64)
            }

            /// [`supersede_in`](Self::supersede_in) for one sent completion, in a savepoint of
            /// its own (the row-by-row path): if it cannot be written, the old failed rows stay
            /// listed and the completion still commits.
            async fn supersede_alone_in(
                tx: &mut Tx,
                c: &CompletionItem,
                at: StoredTime,
            ) -> $crate::storage::Result<()> {
                use $crate::storage::group::SupersedeJson;
                use $crate::storage::lists::json_one;
                let Some(one) = SupersedeJson::of(c) else {
                    return Ok(());
                };
                let one = json_one(&one).map_err(json_err)?;
                let q = sqlx::query(Self::SQL.supersede_failed)
                    .bind(at)
                    .bind(one)
                    .bind(OutboxState::Failed.as_str())
                    .bind(OutboxState::Discarded.as_str());
                if let Err(why) =
                    Self::in_savepoint(tx, q, "discarding failed rows of an accepted pair").await?
                {
                    tracing::error!(
                        "outbox {}: the older failed rows of subscription {} person {} stay listed: {why}",
                        c.id,
                        c.subscription_id,
                        c.person_id
                    );
                }
                Ok(())
            }

            /// Runs `q` in a savepoint of `tx`: its rows, or (inner `Err`) why it failed, the
            /// savepoint rolled back and `tx` usable again. The outer `Err` is what fails the
            /// whole group: a transient error, or the savepoint itself.
            async fn in_savepoint<'q>(
                tx: &mut Tx,
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                context: &'static str,
            ) -> $crate::storage::Result<std::result::Result<Vec<<$db as sqlx::Database>::Row>, String>>
            {
                use sqlx::Acquire as _;
                let mut sp = (&mut **tx).begin().await.ctx("starting a savepoint")?;
                match q.fetch_all(&mut *sp).await.ctx(context) {
                    Ok(rows) => {
                        sp.commit().await.ctx("releasing a savepoint")?;
                        Ok(Ok(rows))
                    }
                    Err(e) if e.is_transient() => Err(e),
                    Err(e) => {
                        sp.rollback()
                            .await
                            .ctx("rolling back to a savepoint")?;
                        Ok(Err(e.to_string()))
                    }
                }
            }

            /// Gives held rows back inside `tx`, attempt refunded.
            async fn release_in(
                tx: &mut Tx,
                rows: &[(OutboxId, String)],
                now: DateTime<Utc>,
            ) -> $crate::storage::Result<u64> {
                let mut n = 0;
                for chunk in $crate::storage::lists::HeldRow::chunks(rows).map_err(json_err)? {
                    n += sqlx::query(Self::SQL.release)
                        .bind(StoredTime(now))
                        .bind(chunk)
                        .execute(&mut **tx)
                        .await
                        .ctx("releasing claims")?
                        .rows_affected();
                }
                Ok(n)
            }

            /// One event per outbox row, carrying the row's pair so search finds it by member.
            async fn record_row_events(
                tx: &mut Tx,
                e: &Event<'_>,
                ids: &[OutboxId],
            ) -> $crate::storage::Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                sqlx::query(Self::SQL.record_row_events)
                    .bind(StoredTime(e.now))
                    .bind(e.actor)
                    .bind(e.kind.as_str())
                    .bind(e.detail.as_deref())
                    .bind($crate::storage::lists::IdList::of(ids))
                    .execute(&mut **tx)
                    .await
                    .ctx("recording the operator's action")?;
                Ok(())
            }

            /// An event about the whole relay (pause, resume, sync).
            async fn record_event(tx: &mut Tx, e: &Event<'_>) -> $crate::storage::Result<()> {
                sqlx::query(Self::SQL.record_event)
                    .bind(StoredTime(e.now))
                    .bind(e.actor)
                    .bind(e.kind.as_str())
                    .bind(e.detail.as_deref())
                    .execute(&mut **tx)
                    .await
                    .ctx("recording the operator's action")?;
                Ok(())
            }

            async fn outbox_rows<'q>(
                &self,
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                context: &'static str,
            ) -> $crate::storage::Result<Vec<OutboxRow>> {
                let rows = q.fetch_all(&self.pool).await.ctx(context)?;
                rows.iter().map(rows::outbox_row).collect()
            }

            async fn members<'q>(
                &self,
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                context: &'static str,
            ) -> $crate::storage::Result<Vec<MemberRead>> {
                let rows = q.fetch_all(&self.pool).await.ctx(context)?;
                Ok(rows.iter().map(decode::member).collect())
            }
        }

        #[async_trait::async_trait]
        impl Storage for $T {
            fn backend(&self) -> Backend {
                Self::BACKEND
            }

            async fn migrate_with(
                &self,
                host_schema: bool,
                adapter: &$crate::storage::adapter::HostAdapter,
            ) -> Result<$crate::storage::adapter::AdapterOutcome> {
                // Read and checked before anything is applied: a file that cannot be run
                // (transaction control, nothing in it) leaves the database as it was.
                let statements = adapter.statements()?;
                if host_schema {
                    sqlx::raw_sql(Self::HOST_SCHEMA)
                        .execute(&self.pool)
                        .await
                        .ctx("applying the host schema")?;
                }
                // Before anything is created: the migrations create `digis` only if missing, so
                // a host's own table of other types would otherwise pass, and every pair the
                // relay records would then fail.
                if let Some(problem) = self.digis_problem().await? {
                    return Err(StorageError::Refused(problem));
                }
                self.carry_over_migrations().await?;
                let versions = self.schema_versions().await?;
                if let Some(refusal) =
                    $crate::storage::bookkeeping::refusal(
                        &versions.modified,
                        versions.source,
                        Self::BACKEND,
                    )
                {
                    return Err(StorageError::Refused(refusal));
                }
                Self::MIGRATOR.run(&self.pool).await?;
                self.apply_adapter(adapter, &statements).await
            }

            async fn applied_adapter(
                &self,
            ) -> Result<Option<$crate::storage::adapter::AppliedAdapter>> {
                use sqlx::Row as _;
                if !self
                    .objects_present(&self.pool, &["digis_host_adapter"])
                    .await?
                    .is_empty()
                {
                    return Ok(None);
                }
                let c = "reading digis_host_adapter";
                sqlx::query(Self::SQL.adapter_record)
                    .fetch_optional(&self.pool)
                    .await
                    .ctx(c)?
                    .map(|r| {
                        Ok($crate::storage::adapter::AppliedAdapter {
                            source: r.try_get("source")?,
                            checksum: r.try_get("checksum")?,
                            applied_at: r.try_get::<StoredTime, _>("applied_at")?.0,
                        })
                    })
                    .transpose()
                    .ctx(c)
            }

            async fn schema_report(&self) -> Result<SchemaReport> {
                use sqlx::Row as _;
                let c = "reading the schema";
                let objects: Vec<(String, String)> = sqlx::query(Self::SQL.schema_objects)
                    .fetch_all(&self.pool)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| Ok((r.try_get("name")?, r.try_get("kind")?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .ctx(c)?;
                let triggers: Vec<String> = sqlx::query(Self::SQL.schema_triggers)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading triggers")?
                    .iter()
                    .map(|r| r.try_get("name"))
                    .collect::<Result<_, _>>()
                    .ctx("reading triggers")?;
                let has =
                    |kind: &str, name: &str| objects.iter().any(|(n, k)| k == kind && n == name);
                let missing = |tables: &[&str]| -> Vec<String> {
                    tables
                        .iter()
                        .filter(|t| !has("table", t))
                        .map(|t| t.to_string())
                        .collect()
                };
                let digis_problem = if has("table", "digis") {
                    self.digis_problem().await?
                } else {
                    None
                };
                Ok(SchemaReport {
                    digis_problem,
                    host_tables_missing: missing(&HOST_TABLES),
                    relay_tables_missing: missing(&RELAY_TABLES),
                    view_present: has("view", "digis_member"),
                    triggers_missing: Self::TRIGGERS
                        .iter()
                        .filter(|t| !triggers.iter().any(|x| x == *t))
                        .map(|t| t.to_string())
                        .collect(),
                })
            }

            async fn schema_versions(&self) -> Result<$crate::storage::handshake::SchemaVersions> {
                use sqlx::Row as _;
                use $crate::storage::handshake::{SchemaCompat, SchemaVersions, COMPAT_MIGRATION};
                let c = "reading the applied migrations";
                let embedded = Self::embedded();
                let known = embedded
                    .iter()
                    .map(|m| (m.version, m.description.clone()))
                    .collect();
                let mut conn = self.pool.acquire().await.ctx(c)?;
                // An installation not carried over yet is read as `migrate` would carry it, so
                // its commands say what is really missing (not "everything").
                let (source, rows) = Self::bookkeeping_rows(&mut *conn).await?;
                drop(conn);
                let seen = $crate::storage::bookkeeping::applied(&rows, source, &embedded);
                let applied = seen.versions;
                let c = "reading digis_schema";
                let compat = if applied.contains(&COMPAT_MIGRATION) {
                    sqlx::query(Self::SQL.schema_compat)
                        .fetch_optional(&self.pool)
                        .await
                        .ctx(c)?
                        .map(|r| {
                            Ok(SchemaCompat {
                                claim_protocol: r.try_get("claim_protocol")?,
                                compatible_from: r.try_get("compatible_from")?,
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

            async fn host_objects(
                &self,
                views: &[&str],
            ) -> Result<$crate::storage::host_objects::HostObjects> {
                use sqlx::Row as _;
                use $crate::storage::host_objects::{AdapterRecord, HostObjects, HostTrigger};
                let c = "reading the host adapter's objects";
                let mut out = HostObjects::default();
                for view in views {
                    let columns = sqlx::query(Self::SQL.adapter_view_columns)
                        .bind(*view)
                        .fetch_all(&self.pool)
                        .await
                        .ctx(c)?
                        .iter()
                        .map(|r| {
                            Ok((
                                r.try_get::<String, _>("column_name")?,
                                r.try_get::<Option<String>, _>("data_type")?
                                    .unwrap_or_default(),
                            ))
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                        .ctx(c)?;
                    out.views.push((view.to_string(), columns));
                }
                out.triggers = sqlx::query(Self::SQL.adapter_triggers)
                    .fetch_all(&self.pool)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| {
                        Ok(HostTrigger {
                            table: r.try_get("table_name")?,
                            name: r.try_get("name")?,
                            function: r.try_get("function_name")?,
                            body: r.try_get("body")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .ctx(c)?;
                out.functions = sqlx::query(Self::SQL.adapter_functions)
                    .fetch_all(&self.pool)
                    .await
                    .ctx(c)?
                    .iter()
                    .map(|r| Ok((r.try_get("name")?, r.try_get("body")?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .ctx(c)?;
                out.record_table = sqlx::query_scalar(Self::SQL.adapter_record_table)
                    .fetch_one(&self.pool)
                    .await
                    .ctx(c)?;
                if out.record_table {
                    out.record = sqlx::query(Self::SQL.adapter_recorded)
                        .fetch_optional(&self.pool)
                        .await
                        .ctx(c)?
                        .map(|r| {
                            Ok(AdapterRecord {
                                source: r.try_get("source")?,
                                checksum: r.try_get("checksum")?,
                                applied_at: r
                                    .try_get::<Option<String>, _>("applied_at")?
                                    .unwrap_or_default(),
                            })
                        })
                        .transpose()
                        .ctx(c)?;
                }
                Ok(out)
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .ctx("pinging the database")?;
                Ok(())
            }

            async fn db_now(&self) -> Result<DateTime<Utc>> {
                let now: StoredTime = sqlx::query_scalar(Self::SQL.db_now)
                    .fetch_one(&self.pool)
                    .await
                    .ctx("reading the database's clock")?;
                Ok(now.0)
            }

            async fn host_exec(&self, sql: &str) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut *tx)
                    .await
                    .ctx("writing host tables")?;
                tx.commit().await.ctx("committing a host write")?;
                Ok(())
            }

            async fn claim_after(
                &self,
                relay_id: &str,
                limit: u32,
                lease: Duration,
                now: DateTime<Utc>,
                held_tokens: &[String],
                connected_since: Option<DateTime<Utc>>,
            ) -> Result<Vec<ClaimedRow>> {
                let token = uuid::Uuid::new_v4().to_string();
                let until = $crate::storage::time::saturating_add(now, lease);
                let held = $crate::storage::lists::WordList(held_tokens.to_vec());
                // A heartbeat since then keeps its relay's expired leases; none is taken over
                // before this relay has had the database for a lease itself.
                let takeover_before = chrono::TimeDelta::from_std(lease)
                    .ok()
                    .and_then(|l| now.checked_sub_signed(l))
                    .filter(|cutoff| connected_since.is_none_or(|since| since <= *cutoff));
                let mut tx = self.write_tx().await?;
                // Marks due rows `sending` under `token`, charges each an attempt and returns
                // their ids (SQLite: `BEGIN IMMEDIATE` keeps a second claimer out; PostgreSQL:
                // `FOR UPDATE SKIP LOCKED` gives concurrent relays disjoint rows).
                let ids: Vec<i64> = sqlx::query_scalar(Self::SQL.claim)
                    .bind(relay_id)
                    .bind(StoredTime(until))
                    .bind(&token)
                    .bind(StoredTime(now))
                    .bind(limit as i64)
                    .bind(held)
                    .bind(takeover_before.map(StoredTime))
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("claiming outbox rows")?;
                tx.commit().await.ctx("committing a claim")?;
                // Read after the commit, not inside it: on SQLite the reads would hold the one
                // write lock, and every completion would wait behind them (the 0 ms SQLite
                // drain fell from ~6,300 to ~5,000 rows/s). So a read that fails gives the rows
                // back at once, their attempt refunded; only if that fails too (the database
                // is gone) do they wait for their lease.
                match self.claimed(&ids, &token).await {
                    Ok(claimed) => Ok(claimed),
                    Err(e) => {
                        let rows: Vec<_> = ids
                            .iter()
                            .map(|&id| (OutboxId(id), token.clone()))
                            .collect();
                        if let Err(r) = self.release(&rows, now).await {
                            tracing::warn!(
                                "relay {relay_id}: {} claimed row(s) wait for their lease: {r}",
                                rows.len()
                            );
                        }
                        Err(e)
                    }
                }
            }

            async fn renew_lease(
                &self,
                rows: &[(OutboxId, String)],
                until: DateTime<Utc>,
            ) -> Result<u64> {
                if rows.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.write_tx().await?;
                let mut n = 0;
                for chunk in $crate::storage::lists::HeldRow::chunks(rows).map_err(json_err)? {
                    n += sqlx::query(Self::SQL.renew_lease)
                        .bind(StoredTime(until))
                        .bind(chunk)
                        .execute(&mut *tx)
                        .await
                        .ctx("renewing leases")?
                        .rows_affected();
                }
                tx.commit().await.ctx("committing a lease renewal")?;
                Ok(n)
            }

            async fn complete_group(
                &self,
                completions: &[CompletionItem],
                releases: &[(OutboxId, String)],
                now: DateTime<Utc>,
            ) -> Result<Vec<CompleteResult>> {
                if completions.is_empty() && releases.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let set_based = async {
                    let results = Self::complete_in(&mut tx, completions, now).await?;
                    if !releases.is_empty() {
                        Self::release_in(&mut tx, releases, now).await?;
                    }
                    Ok::<_, StorageError>(results)
                }
                .await;
                let why = match set_based {
                    Ok(results) => {
                        tx.commit().await.ctx("committing completions")?;
                        return Ok(results);
                    }
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => e,
                };
                // One row's trouble (a host's `digis` of another type, a trigger refusing a
                // row) failed the statements of the whole group; before, the group rolled
                // back and every row in it was sent again when its lease ended.
                tx.rollback().await.ctx("rolling back completions")?;
                tracing::warn!(
                    "a group of {} completion(s) could not be written at once ({why}); writing its rows one by one",
                    completions.len()
                );
                let mut tx = self.write_tx().await?;
                let results = Self::complete_alone_in(&mut tx, completions, releases, now).await?;
                tx.commit().await.ctx("committing completions")?;
                Ok(results)
            }

            async fn release(
                &self,
                rows: &[(OutboxId, String)],
                now: DateTime<Utc>,
            ) -> Result<u64> {
                if rows.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.write_tx().await?;
                let n = Self::release_in(&mut tx, rows, now).await?;
                tx.commit().await.ctx("committing a release")?;
                Ok(n)
            }

            async fn heartbeat(&self, info: &RelayInfo) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(Self::SQL.heartbeat)
                    .bind(&info.relay_id)
                    .bind(&info.hostname)
                    .bind(info.pid)
                    .bind(&info.version)
                    .bind(StoredTime(info.started_at))
                    .bind(StoredTime(info.heartbeat_at))
                    .bind(info.state.as_str())
                    .bind(&info.detail)
                    .bind(info.heartbeat_ms)
                    .bind(info.request_rate.map(crate::storage::rows::rate_milli))
                    .bind(info.clock_offset_ms)
                    .execute(&mut *tx)
                    .await
                    .ctx("writing a heartbeat")?;
                tx.commit().await.ctx("committing a heartbeat")?;
                Ok(())
            }

            async fn relays(&self) -> Result<Vec<RelayInfo>> {
                sqlx::query(Self::SQL.relays)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading relays")?
                    .iter()
                    .map(rows::relay_info)
                    .collect()
            }

            async fn forget_relays(
                &self,
                keep: &str,
                before: DateTime<Utc>,
                stopped: bool,
            ) -> Result<u64> {
                let mut tx = self.write_tx().await?;
                let n = sqlx::query(Self::SQL.forget_relays)
                    .bind(keep)
                    .bind(StoredTime(before))
                    .bind(stopped)
                    .execute(&mut *tx)
                    .await
                    .ctx("forgetting old relays")?
                    .rows_affected();
                tx.commit().await.ctx("committing forgotten relays")?;
                Ok(n)
            }

            async fn oldest_due_pending(
                &self,
                now: DateTime<Utc>,
            ) -> Result<Option<DateTime<Utc>>> {
                let oldest: Option<StoredTime> = sqlx::query_scalar(Self::SQL.oldest_due_pending)
                    .bind(StoredTime(now))
                    .fetch_one(&self.pool)
                    .await
                    .ctx("reading the oldest due pending row")?;
                Ok(oldest.map(|t| t.0))
            }

            async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
                let mut tx = self.write_tx().await?;
                let mine: bool = sqlx::query_scalar(Self::SQL.prune_lock)
                    .bind($crate::storage::PRUNE_LOCK_KEY)
                    .fetch_one(&mut *tx)
                    .await
                    .ctx("taking the prune lock")?;
                if !mine {
                    // Another relay is pruning the same rows: its work is this one's.
                    tx.rollback()
                        .await
                        .ctx("leaving the prune to another relay")?;
                    return Ok(0);
                }
                // The states are spelled in the SQL to use the partial index (see its header).
                let n = sqlx::query(Self::SQL.prune_outbox)
                    .bind(StoredTime(before))
                    .execute(&mut *tx)
                    .await
                    .ctx("pruning old rows")?
                    .rows_affected();
                sqlx::query(Self::SQL.prune_events)
                    .bind(StoredTime(before))
                    .execute(&mut *tx)
                    .await
                    .ctx("pruning old operator events")?;
                tx.commit().await.ctx("committing a prune")?;
                Ok(n)
            }

            fn wakeup(&self) -> Arc<Notify> {
                self.watch_commits();
                self.wake.clone()
            }

            async fn retry(
                &self,
                ids: &[OutboxId],
                actor: &str,
                now: DateTime<Utc>,
                unconfirmed: $crate::storage::Unconfirmed,
            ) -> Result<Vec<OutboxId>> {
                use $crate::storage::lists::{IdList, WordList};
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let rows = sqlx::query(Self::SQL.retry)
                    .bind(StoredTime(now))
                    .bind(IdList::of(ids))
                    .bind(WordList::states(&OutboxState::RETRYABLE))
                    .bind(WordList::states(&OutboxState::OPEN))
                    .bind(unconfirmed.included())
                    .bind(WordList::states(&OutboxState::SETTLED_UNSENT))
                    .bind($crate::storage::texts::unconfirmed_error_pattern())
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("retrying rows")?;
                let mut changed = ids_of(&rows)?;
                changed.sort();
                let e = Event {
                    kind: EventKind::Retry,
                    actor,
                    detail: None,
                    now,
                };
                Self::record_row_events(&mut tx, &e, &changed).await?;
                tx.commit().await.ctx("committing a retry")?;
                self.poke().await?;
                Ok(changed)
            }

            async fn unconfirmed_rows(&self, ids: Option<&[OutboxId]>) -> Result<Vec<OutboxId>> {
                use $crate::storage::lists::{IdList, WordList};
                let states = match ids {
                    Some(_) => &OutboxState::SETTLED_UNSENT[..],
                    None => &[OutboxState::Failed][..],
                };
                let rows = sqlx::query(Self::SQL.unconfirmed_rows)
                    .bind(WordList::states(states))
                    .bind($crate::storage::texts::unconfirmed_error_pattern())
                    .bind(ids.is_none())
                    .bind(IdList::of(ids.unwrap_or_default()))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading unconfirmed rows")?;
                ids_of(&rows)
            }

            async fn retry_all_failed(
                &self,
                actor: &str,
                now: DateTime<Utc>,
                unconfirmed: $crate::storage::Unconfirmed,
            ) -> Result<u64> {
                let mut tx = self.write_tx().await?;
                let rows = sqlx::query(Self::SQL.retry_all_failed)
                    .bind(StoredTime(now))
                    .bind($crate::storage::lists::WordList::states(&OutboxState::OPEN))
                    .bind(unconfirmed.included())
                    .bind($crate::storage::texts::unconfirmed_error_pattern())
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("retrying failed rows")?;
                let ids = ids_of(&rows)?;
                let e = Event {
                    kind: EventKind::RetryAllFailed,
                    actor,
                    detail: None,
                    now,
                };
                Self::record_row_events(&mut tx, &e, &ids).await?;
                tx.commit().await.ctx("committing a retry")?;
                self.poke().await?;
                Ok(ids.len() as u64)
            }

            async fn discard(
                &self,
                ids: &[OutboxId],
                reason: &str,
                actor: &str,
                now: DateTime<Utc>,
            ) -> Result<Vec<OutboxId>> {
                use $crate::storage::lists::{IdList, WordList};
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let rows = sqlx::query(Self::SQL.discard)
                    .bind(reason)
                    .bind(StoredTime(now))
                    .bind(IdList::of(ids))
                    .bind(WordList::states(&OutboxState::DISCARDABLE))
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("discarding rows")?;
                let mut changed = ids_of(&rows)?;
                changed.sort();
                let e = Event {
                    kind: EventKind::Discard,
                    actor,
                    detail: Some(reason.to_string()),
                    now,
                };
                Self::record_row_events(&mut tx, &e, &changed).await?;
                tx.commit().await.ctx("committing a discard")?;
                Ok(changed)
            }

            async fn resend(
                &self,
                subscription: SubscriptionId,
                person: Option<PersonId>,
                actor: &str,
                now: DateTime<Utc>,
            ) -> Result<Vec<OutboxId>> {
                let mut tx = self.write_tx().await?;
                let rows = sqlx::query(Self::SQL.resend)
                    .bind(StoredTime(now))
                    .bind(subscription.0)
                    .bind(person.map(|p| p.0))
                    .bind(true)
                    .bind(texts::RESEND_REASON)
                    .bind($crate::storage::lists::WordList::states(&OutboxState::OPEN))
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("queueing a resend")?;
                let ids = ids_of(&rows)?;
                let e = Event {
                    kind: EventKind::Resend,
                    actor,
                    detail: None,
                    now,
                };
                Self::record_row_events(&mut tx, &e, &ids).await?;
                tx.commit().await.ctx("committing a resend")?;
                // The new rows' insert trigger already notifies other processes.
                self.wake.notify_waiters();
                Ok(ids)
            }

            async fn pause(&self, reason: &str, by: &str, now: DateTime<Utc>) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(Self::SQL.pause)
                    .bind(true)
                    .bind(reason)
                    .bind(by)
                    .bind(StoredTime(now))
                    .execute(&mut *tx)
                    .await
                    .ctx("pausing")?;
                let e = Event {
                    kind: EventKind::Pause,
                    actor: by,
                    detail: Some(reason.to_string()),
                    now,
                };
                Self::record_event(&mut tx, &e).await?;
                tx.commit().await.ctx("committing a pause")?;
                Ok(())
            }

            async fn resume(&self, actor: &str, now: DateTime<Utc>) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(Self::SQL.resume)
                    .bind(false)
                    .execute(&mut *tx)
                    .await
                    .ctx("resuming")?;
                let e = Event {
                    kind: EventKind::Resume,
                    actor,
                    detail: None,
                    now,
                };
                Self::record_event(&mut tx, &e).await?;
                tx.commit().await.ctx("committing a resume")?;
                self.poke().await
            }

            async fn pause_self(
                &self,
                reason: &str,
                by: &$crate::domain::PausedBy,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let by = &by.to_string();
                let mut tx = self.write_tx().await?;
                let set = sqlx::query(Self::SQL.pause_self)
                    .bind(true)
                    .bind(reason)
                    .bind(by)
                    .bind(StoredTime(now))
                    .bind($crate::storage::texts::self_pause_pattern())
                    .bind($crate::storage::texts::unconfirmed_pause_pattern())
                    .execute(&mut *tx)
                    .await
                    .ctx("pausing the relays")?
                    .rows_affected()
                    > 0;
                if set {
                    let e = Event {
                        kind: EventKind::Pause,
                        actor: by,
                        detail: Some(reason.to_string()),
                        now,
                    };
                    Self::record_event(&mut tx, &e).await?;
                }
                tx.commit().await.ctx("committing a relay's pause")?;
                Ok(set)
            }

            async fn lift_self_pause(
                &self,
                by: &$crate::domain::PausedBy,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let actor = &by.to_string();
                let mut tx = self.write_tx().await?;
                let lifted = sqlx::query(Self::SQL.lift_self_pause)
                    .bind(false)
                    .bind($crate::storage::texts::self_pause_pattern())
                    .bind($crate::storage::texts::unconfirmed_pause_pattern())
                    .execute(&mut *tx)
                    .await
                    .ctx("lifting a relay's pause")?
                    .rows_affected()
                    > 0;
                if lifted {
                    let e = Event {
                        kind: EventKind::Resume,
                        actor,
                        detail: None,
                        now,
                    };
                    Self::record_event(&mut tx, &e).await?;
                }
                tx.commit().await.ctx("committing a relay's resume")?;
                if lifted {
                    self.poke().await?;
                }
                Ok(lifted)
            }

            async fn control(&self) -> Result<Control> {
                let row = sqlx::query(Self::SQL.control)
                    .fetch_optional(&self.pool)
                    .await
                    .ctx("reading the pause flag")?;
                row.as_ref()
                    .map(rows::control)
                    .transpose()
                    .map(Option::unwrap_or_default)
            }

            async fn open_circuit(
                &self,
                reason: &str,
                by: &str,
                open_for: std::time::Duration,
            ) -> Result<Option<DateTime<Utc>>> {
                let ms = i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX);
                let mut tx = self.write_tx().await?;
                let until: Option<Option<StoredTime>> = sqlx::query_scalar(Self::SQL.circuit_open)
                    .bind(ms)
                    .bind(reason)
                    .bind(by)
                    .fetch_optional(&mut *tx)
                    .await
                    .ctx("opening the circuit")?;
                tx.commit().await.ctx("committing an open circuit")?;
                Ok(until.flatten().map(|t| t.0))
            }

            async fn take_circuit_probe(
                &self,
                by: &str,
                open_for: std::time::Duration,
            ) -> Result<bool> {
                let ms = i64::try_from(open_for.as_millis()).unwrap_or(i64::MAX);
                let mut tx = self.write_tx().await?;
                let won = sqlx::query(Self::SQL.circuit_take_probe)
                    .bind(ms)
                    .bind(by)
                    .execute(&mut *tx)
                    .await
                    .ctx("taking the circuit's probe")?
                    .rows_affected()
                    > 0;
                tx.commit().await.ctx("committing the circuit's probe")?;
                Ok(won)
            }

            async fn close_circuit(&self) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                let closed = sqlx::query(Self::SQL.circuit_close)
                    .execute(&mut *tx)
                    .await
                    .ctx("closing the circuit")?
                    .rows_affected()
                    > 0;
                tx.commit().await.ctx("committing a closed circuit")?;
                if closed {
                    // Relays waiting out the circuit take up the work at once.
                    self.poke().await?;
                }
                Ok(closed)
            }

            async fn record_share(&self, relay_id: &str, share: Option<f64>) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(Self::SQL.record_share)
                    .bind(relay_id)
                    .bind(share.map(crate::storage::rows::rate_milli))
                    .execute(&mut *tx)
                    .await
                    .ctx("recording the relay's share")?;
                tx.commit().await.ctx("committing the relay's share")?;
                Ok(())
            }

            async fn sync(
                &self,
                reconcile: Option<&$crate::storage::Reconcile>,
                actor: &str,
                now: DateTime<Utc>,
            ) -> Result<SyncResult> {
                let at = StoredTime(now);
                let mut tx = self.write_tx().await?;
                let made_due = sqlx::query(Self::SQL.sync_make_due)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .ctx("making pending rows due")?
                    .rows_affected();
                let (mut queued, mut restored) = (0, 0);
                if let Some(r) = reconcile {
                    if r.restore_digis {
                        restored = sqlx::query(Self::SQL.restore_digis)
                            .bind(OutboxState::Sent.as_str())
                            .execute(&mut *tx)
                            .await
                            .ctx("writing digis rows back from sent outbox rows")?
                            .rows_affected();
                    }
                    queued = sqlx::query(Self::SQL.sync_reconcile)
                        .bind(at)
                        .bind(texts::RECONCILE_REASON)
                        .bind($crate::storage::lists::WordList::states(
                            &OutboxState::OPEN_OR_SENT,
                        ))
                        .bind(skip_json(&r.skip)?)
                        .execute(&mut *tx)
                        .await
                        .ctx("reconciling")?
                        .rows_affected();
                }
                sqlx::query(Self::SQL.sync_requested)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .ctx("recording the sync request")?;
                let detail = texts::sync_detail(
                    made_due,
                    reconcile.map(|r| (queued, r.restore_digis.then_some(restored))),
                );
                let e = Event {
                    kind: EventKind::Sync,
                    actor,
                    detail: Some(detail),
                    now,
                };
                Self::record_event(&mut tx, &e).await?;
                tx.commit().await.ctx("committing a sync")?;
                self.poke().await?;
                Ok(SyncResult {
                    made_due,
                    queued,
                    restored,
                })
            }

            async fn reconcile_preview(
                &self,
                skip: &[(SubscriptionId, PersonId)],
            ) -> Result<$crate::storage::ReconcilePreview> {
                let would_queue: i64 = sqlx::query_scalar(Self::SQL.reconcile_count)
                    .bind($crate::storage::lists::WordList::states(
                        &OutboxState::OPEN_OR_SENT,
                    ))
                    .bind(skip_json(skip)?)
                    .fetch_one(&self.pool)
                    .await
                    .ctx("counting what a reconcile would queue")?;
                let lost_digis: i64 = sqlx::query_scalar(Self::SQL.lost_digis_count)
                    .bind(OutboxState::Sent.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .ctx("counting sent pairs missing from digis")?;
                Ok($crate::storage::ReconcilePreview {
                    would_queue: would_queue.max(0) as u64,
                    lost_digis: lost_digis.max(0) as u64,
                })
            }

            async fn known_pairs(
                &self,
                pairs: &[(SubscriptionId, PersonId)],
            ) -> Result<std::collections::HashSet<(SubscriptionId, PersonId)>> {
                use $crate::storage::lists::{json_chunks, PairKey};
                let mut known = std::collections::HashSet::new();
                let keys = pairs.iter().map(|(s, p)| PairKey {
                    subscription_id: s.0,
                    person_id: p.0,
                });
                for chunk in json_chunks(keys).map_err(json_err)? {
                    for r in sqlx::query(Self::SQL.known_pairs)
                        .persistent(false)
                        .bind(chunk)
                        .bind(OutboxState::Sent.as_str())
                        .fetch_all(&self.pool)
                        .await
                        .ctx("reading which logged pairs the database knows")?
                    {
                        let (s, p) =
                            rows::pair(&r, "reading which logged pairs the database knows")?;
                        known.insert((s, p));
                    }
                }
                Ok(known)
            }

            async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>> {
                if outbox_ids.is_empty() {
                    return Ok(Vec::new());
                }
                sqlx::query(Self::SQL.events)
                    .bind($crate::storage::lists::IdList::of(outbox_ids))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading operator events")?
                    .iter()
                    .map(rows::event_row)
                    .collect()
            }

            async fn counts(&self) -> Result<Counts> {
                let rows = sqlx::query(Self::SQL.counts)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("counting outbox rows")?;
                let mut counts = Counts::default();
                for r in &rows {
                    let (state, n) = rows::state_count(r)?;
                    counts.set(state, n);
                }
                Ok(counts)
            }

            async fn list(&self, query: &ListQuery) -> Result<Vec<OutboxRow>> {
                // Paging up reads the nearest rows above the cursor, then shows them newest
                // first. A missing cursor is the widest bound, so the id range stays indexable.
                let upward = query.after.is_some() && query.before.is_none();
                let sql = match (query.state, upward) {
                    (None, false) => Self::SQL.outbox_page_older,
                    (None, true) => Self::SQL.outbox_page_newer,
                    (Some(_), false) => Self::SQL.outbox_page_older_in_state,
                    (Some(_), true) => Self::SQL.outbox_page_newer_in_state,
                };
                let mut q = sqlx::query(sql);
                if let Some(state) = query.state {
                    q = q.bind(state.as_str());
                }
                let q = q
                    .bind(query.before.map_or(i64::MAX, |i| i.0))
                    .bind(query.after.map_or(i64::MIN, |i| i.0))
                    .bind(query.limit as i64);
                let mut out = self.outbox_rows(q, "listing the outbox").await?;
                if upward {
                    out.reverse();
                }
                Ok(out)
            }

            async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>> {
                Ok(self.rows_by_ids(&[id.0]).await?.pop())
            }

            async fn rows_for_subscription(&self, id: SubscriptionId) -> Result<Vec<OutboxRow>> {
                let q = sqlx::query(Self::SQL.outbox_of_subscription).bind(id.0);
                self.outbox_rows(q, "reading a subscription's rows").await
            }

            async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>> {
                let q = sqlx::query(Self::SQL.outbox_of_card).bind(card.as_str());
                self.outbox_rows(q, "reading a card's rows").await
            }

            async fn attempts(&self, id: OutboxId) -> Result<Vec<AttemptRow>> {
                sqlx::query(Self::SQL.attempts)
                    .bind(id.0)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading attempts")?
                    .iter()
                    .map(rows::attempt_row)
                    .collect()
            }

            async fn digis_rows(
                &self,
                subscription: Option<SubscriptionId>,
                person: Option<PersonId>,
            ) -> Result<Vec<DigisRow>> {
                sqlx::query(Self::SQL.digis_rows)
                    .bind(subscription.map(|s| s.0))
                    .bind(person.map(|p| p.0))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading digis")?
                    .iter()
                    .map(rows::digis_row)
                    .collect()
            }

            async fn members_of_subscription(
                &self,
                id: SubscriptionId,
                person: Option<PersonId>,
            ) -> Result<Vec<MemberRead>> {
                let q = sqlx::query(Self::SQL.members_of_subscription)
                    .bind(id.0)
                    .bind(person.map(|p| p.0));
                self.members(q, "reading a subscription's members").await
            }

            async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>> {
                let q = sqlx::query(Self::SQL.members_by_card).bind(card.as_str());
                self.members(q, "reading members by card").await
            }

            async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>> {
                sqlx::query_scalar(Self::SQL.subscription_status)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .ctx("reading a subscription")
            }

            async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>> {
                let ids: Vec<i64> = sqlx::query_scalar(Self::SQL.persons_by_card)
                    .bind(card.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading persons by card")?;
                Ok(ids.into_iter().map(PersonId).collect())
            }

            async fn cards_without_zeros(&self, card: &CardNumber) -> Result<Vec<String>> {
                // Only a card with digits left once its zeros are gone can have been meant.
                if card.as_str().trim_start_matches('0').is_empty() {
                    return Ok(Vec::new());
                }
                let mut cards: Vec<String> = sqlx::query(Self::SQL.cards_without_zeros)
                    .bind(card.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading cards like a card")?
                    .iter()
                    .filter_map(decode::person)
                    .filter_map(|p| p.card_number)
                    .collect();
                let mut seen = std::collections::HashSet::new();
                cards.retain(|c| seen.insert(c.clone()));
                Ok(cards)
            }

            async fn persons_matching(
                &self,
                filter: &PersonFilter,
                after: Option<PersonId>,
                limit: u32,
            ) -> Result<Vec<PersonRow>> {
                let (sql, arg) = match filter {
                    PersonFilter::PhoneDigits(d) => (Self::SQL.persons_by_phone, d.clone()),
                    PersonFilter::Email(e) => (Self::SQL.persons_by_email, e.clone()),
                    PersonFilter::NameWord(w) => {
                        (Self::SQL.persons_by_name, decode::like_containing(w))
                    }
                };
                Ok(sqlx::query(sql)
                    .bind(arg)
                    .bind(after.map_or(i64::MIN, |p| p.0))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("finding persons")?
                    .iter()
                    .filter_map(decode::person)
                    .collect())
            }

            async fn pairs_of_persons(
                &self,
                persons: &[PersonId],
            ) -> Result<Vec<(SubscriptionId, PersonId)>> {
                if persons.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = persons.iter().map(|p| p.0).collect();
                Ok(sqlx::query(Self::SQL.pairs_of_persons)
                    .bind($crate::storage::lists::IdList(ids))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading the persons' subscriptions")?
                    .iter()
                    .filter_map(decode::pair)
                    .collect())
            }

            async fn active_members_page(
                &self,
                after: Option<(SubscriptionId, PersonId)>,
                limit: u32,
            ) -> Result<Vec<MemberRead>> {
                let (s, p) = after
                    .map(|(s, p)| (s.0, p.0))
                    .unwrap_or((i64::MIN, i64::MIN));
                let q = sqlx::query(Self::SQL.active_members_page)
                    .bind(s)
                    .bind(p)
                    .bind(limit as i64);
                self.members(q, "reading active members").await
            }

            async fn failure_groups(
                &self,
                unit: Option<UnitId>,
                limit: u32,
            ) -> Result<Vec<FailureGroup>> {
                let rows = sqlx::query(Self::SQL.failure_groups)
                    .bind(unit.map(UnitId::get))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .ctx("grouping failed rows")?;
                let groups = rows
                    .iter()
                    .map(rows::failure_group)
                    .collect::<Result<Vec<_>>>()?;
                Ok($crate::storage::merge_failure_groups(groups))
            }

            async fn failed_members(&self, query: &FailedQuery) -> Result<Vec<FailedMember>> {
                let (all_units, unit) = match query.unit {
                    UnitFilter::Any => (true, None),
                    UnitFilter::Is(u) => (false, u),
                };
                let q = match &query.cause {
                    None => sqlx::query(Self::SQL.failed_rows),
                    Some(_) => sqlx::query(Self::SQL.failed_rows_of_cause),
                };
                let q = q
                    .bind(query.after.map_or(0, |i| i.0))
                    .bind(i64::from(query.limit))
                    .bind(all_units)
                    .bind(unit);
                let q = match &query.cause {
                    None => q,
                    Some(cause) => {
                        let (field, rule) = cause.columns();
                        q.bind(rule).bind(field)
                    }
                };
                let failed = q
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading failed rows")?
                    .iter()
                    .map(rows::failed_row)
                    .collect::<Result<Vec<_>>>()?;
                let pairs = failed
                    .iter()
                    .filter(|r| r.subscription_id != 0 && r.person_id != 0)
                    .map(|r| $crate::storage::lists::PairKey {
                        subscription_id: r.subscription_id,
                        person_id: r.person_id,
                    });
                let mut members: Vec<MemberRead> = Vec::new();
                for chunk in $crate::storage::lists::json_chunks(pairs).map_err(json_err)? {
                    members.extend(
                        sqlx::query(Self::SQL.members_of_pairs)
                            .bind(chunk)
                            .fetch_all(&self.pool)
                            .await
                            .ctx("reading members of failed rows")?
                            .iter()
                            .map(decode::member),
                    );
                }
                Ok($crate::storage::assemble_failed(failed, &members))
            }

            async fn count_failure_group(&self, group: &FailureGroupKey) -> Result<u64> {
                let (field, rule) = group.cause.columns();
                let n: i64 = sqlx::query_scalar(Self::SQL.count_failure_group)
                    .bind(group.unit_id)
                    .bind(field)
                    .bind(rule)
                    .bind($crate::storage::lists::WordList::states(&OutboxState::OPEN))
                    .fetch_one(&self.pool)
                    .await
                    .ctx("counting a failure group")?;
                Ok(n.max(0) as u64)
            }

            async fn retry_failure_group(
                &self,
                group: &FailureGroupKey,
                actor: &str,
                now: DateTime<Utc>,
            ) -> Result<Vec<OutboxId>> {
                let (field, rule) = group.cause.columns();
                let mut tx = self.write_tx().await?;
                let rows = sqlx::query(Self::SQL.retry_failure_group)
                    .bind(group.unit_id)
                    .bind(field)
                    .bind(rule)
                    .bind($crate::storage::lists::WordList::states(&OutboxState::OPEN))
                    .bind(StoredTime(now))
                    .fetch_all(&mut *tx)
                    .await
                    .ctx("retrying a failure group")?;
                let mut changed = ids_of(&rows)?;
                changed.sort();
                let e = Event {
                    kind: EventKind::RetryFailureGroup,
                    actor,
                    detail: Some(texts::failure_group_detail(group)),
                    now,
                };
                Self::record_row_events(&mut tx, &e, &changed).await?;
                tx.commit().await.ctx("committing a group retry")?;
                self.poke().await?;
                Ok(changed)
            }

            async fn attempt_counts(
                &self,
                ranges: &[(DateTime<Utc>, DateTime<Utc>)],
            ) -> Result<Vec<OutcomeCounts>> {
                use $crate::domain::AttemptOutcome;
                use $crate::storage::lists::TimeList;
                if ranges.is_empty() {
                    return Ok(Vec::new());
                }
                sqlx::query(Self::SQL.attempt_counts)
                    .bind(TimeList(ranges.iter().map(|r| r.0).collect()))
                    .bind(TimeList(ranges.iter().map(|r| r.1).collect()))
                    .bind(AttemptOutcome::Sent.as_str())
                    .bind(AttemptOutcome::Failed.as_str())
                    .bind(AttemptOutcome::Retry.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .ctx("counting attempts")?
                    .iter()
                    .map(rows::outcome_counts)
                    .collect()
            }

            async fn sent_delays(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
                max_rows: u32,
            ) -> Result<DelaySample> {
                let sent: i64 = sqlx::query_scalar(Self::SQL.sent_count)
                    .bind(StoredTime(from))
                    .bind(StoredTime(to))
                    .fetch_one(&self.pool)
                    .await
                    .ctx("counting sent rows")?;
                let sent = sent.max(0) as u64;
                let stride = sent.div_ceil(u64::from(max_rows.max(1))).max(1);
                let delays = sqlx::query(Self::SQL.sent_delays)
                    .bind(StoredTime(from))
                    .bind(StoredTime(to))
                    .bind(stride as i64)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading save-to-sent delays")?
                    .iter()
                    .map(rows::sent_delay)
                    .collect::<Result<Vec<_>>>()?;
                Ok(DelaySample {
                    sent,
                    stride,
                    delays,
                })
            }
        }
    };
}

pub(crate) use storage_impl;
