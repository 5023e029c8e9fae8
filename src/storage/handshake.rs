//! The schema and protocol handshake (docs/contracts.md, Schema and protocol handshake): before
//! a command works on the database, the migrations it has applied are compared with the ones
//! compiled into this binary, and the database's compatibility record (`digis_schema`, made by
//! migration 0007) with this binary's constants below. A database behind the binary is one line
//! that says to run `migrate` (instead of `no such column` from the first query that needs the
//! newer schema); one ahead is run beside only when its newer migrations are additive.
//!
//! The binary's side lives here and nowhere else: [`CLAIM_PROTOCOL`] and [`COMPAT_MIGRATION`],
//! with [`MIGRATIONS_TABLE`] from the bookkeeping that owns it. The migrations themselves are the backends' `MIGRATOR`s.

pub use super::bookkeeping::{Modified, Source, MIGRATIONS_TABLE};

/// The claim protocol this binary speaks: the rules by which relays claim, renew and complete
/// rows. A relay must never claim beside one whose rules differ, so a database whose protocol
/// is newer is refused. 2: leases and heartbeats judged by the database's clock, completions
/// per row (issue 24); 1 was every release before migration 0007 (which records none).
pub const CLAIM_PROTOCOL: i64 = 2;

/// The migration that creates `digis_schema`: from it on, a database says which claim protocol
/// its relays speak and which binaries may run against it.
pub const COMPAT_MIGRATION: i64 = 7;

/// What the database holds in `digis_schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaCompat {
    /// The claim protocol of the newest binary that migrated the database.
    pub claim_protocol: i64,
    /// The oldest migration a binary must know to run against the database: a migration that
    /// older binaries cannot run beside raises it to its own number.
    pub compatible_from: i64,
}

/// Both sides of the handshake, as read from one database by one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersions {
    /// The migrations compiled into this binary: version and description.
    pub known: Vec<(i64, String)>,
    /// The versions the database has applied.
    pub applied: Vec<i64>,
    /// `digis_schema`'s row, read when migration [`COMPAT_MIGRATION`] is applied.
    pub compat: Option<SchemaCompat>,
    /// Applied migrations recorded with a checksum that is neither this binary's nor one it
    /// superseded: applied from another text. `doctor` reports them; `migrate` refuses.
    pub modified: Vec<Modified>,
    /// Where `applied` was read: the relay's table, or an older release's `_sqlx_migrations`
    /// that `migrate` has not carried over yet (read as the carry-over would copy it).
    pub source: Source,
}

/// The binary and the database agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// The same migrations on both sides.
    Same,
    /// The database has migrations this binary does not know, and says they are additive (the
    /// compatibility floor and the claim protocol allow this binary).
    AheadAdditive { unknown: Vec<i64> },
}

/// Why a command must not work on the database. Each is one line, saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    #[error("the database is behind this digis-relay: {} not applied; run `digis-relay migrate` (stop older relays first)", missing_list(.missing))]
    Behind { missing: Vec<(i64, String)> },
    #[error("the database was migrated by a newer digis-relay (migration {newest}) that this version cannot run beside: it needs a digis-relay that knows migration {compatible_from} or later, this one knows up to {known}; upgrade digis-relay")]
    TooOld {
        newest: i64,
        compatible_from: i64,
        known: i64,
    },
    #[error("the database's claim protocol is {database}, this digis-relay speaks {CLAIM_PROTOCOL}: an older relay must not claim beside newer ones; upgrade digis-relay")]
    NewerProtocol { database: i64 },
    #[error("the database has migration {COMPAT_MIGRATION} applied but no row in digis_schema (deleted by hand?): restore it with INSERT INTO digis_schema (id, claim_protocol, compatible_from) VALUES (1, {CLAIM_PROTOCOL}, {COMPAT_MIGRATION}), or higher values if a newer release migrated the database")]
    NoRecord,
}

fn missing_list(missing: &[(i64, String)]) -> String {
    let named: Vec<String> = missing
        .iter()
        .map(|(v, d)| format!("{v:04} ({d})"))
        .collect();
    format!(
        "migration{} {}",
        if missing.len() == 1 { "" } else { "s" },
        named.join(", ")
    )
}

impl SchemaVersions {
    /// Whether this binary may work on this database. Behind wins over everything else: the
    /// answer to a database that lacks a migration is always `migrate`.
    pub fn judge(&self) -> Result<Agreement, SchemaMismatch> {
        let missing: Vec<(i64, String)> = self
            .known
            .iter()
            .filter(|(v, _)| !self.applied.contains(v))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(SchemaMismatch::Behind { missing });
        }
        let newest_known = self.known.iter().map(|(v, _)| *v).max().unwrap_or(0);
        let unknown: Vec<i64> = self
            .applied
            .iter()
            .copied()
            .filter(|v| !self.known.iter().any(|(k, _)| k == v))
            .collect();
        // Every known migration is applied, so the record is there when this binary knows it.
        let compat = match self.compat {
            Some(c) => c,
            None if newest_known >= COMPAT_MIGRATION => return Err(SchemaMismatch::NoRecord),
            None => {
                return Ok(if unknown.is_empty() {
                    Agreement::Same
                } else {
                    Agreement::AheadAdditive { unknown }
                })
            }
        };
        if compat.claim_protocol > CLAIM_PROTOCOL {
            return Err(SchemaMismatch::NewerProtocol {
                database: compat.claim_protocol,
            });
        }
        if compat.compatible_from > newest_known {
            return Err(SchemaMismatch::TooOld {
                newest: self.applied.iter().copied().max().unwrap_or(0),
                compatible_from: compat.compatible_from,
                known: newest_known,
            });
        }
        Ok(if unknown.is_empty() {
            Agreement::Same
        } else {
            Agreement::AheadAdditive { unknown }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(n: i64) -> Vec<(i64, String)> {
        (1..=n).map(|v| (v, format!("m{v}"))).collect()
    }

    fn db(applied: &[i64], compat: Option<(i64, i64)>) -> SchemaVersions {
        SchemaVersions {
            known: known(7),
            applied: applied.to_vec(),
            compat: compat.map(|(claim_protocol, compatible_from)| SchemaCompat {
                claim_protocol,
                compatible_from,
            }),
            modified: Vec::new(),
            source: Source::Own,
        }
    }

    #[test]
    fn the_same_migrations_agree() {
        assert_eq!(
            db(&[1, 2, 3, 4, 5, 6, 7], Some((2, 7))).judge(),
            Ok(Agreement::Same)
        );
    }

    #[test]
    fn a_database_behind_names_what_is_missing_and_migrate() {
        let e = db(&[1, 2, 3, 4, 5], None).judge().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the database is behind this digis-relay: migrations 0006 (m6), 0007 (m7) not applied; run `digis-relay migrate` (stop older relays first)"
        );
    }

    #[test]
    fn newer_additive_migrations_are_run_beside() {
        assert_eq!(
            db(&[1, 2, 3, 4, 5, 6, 7, 8, 9], Some((2, 7))).judge(),
            Ok(Agreement::AheadAdditive {
                unknown: vec![8, 9]
            })
        );
    }

    #[test]
    fn a_raised_floor_or_a_newer_protocol_is_refused() {
        let floor = db(&[1, 2, 3, 4, 5, 6, 7, 8], Some((2, 8)))
            .judge()
            .unwrap_err();
        assert!(matches!(
            floor,
            SchemaMismatch::TooOld {
                compatible_from: 8,
                known: 7,
                ..
            }
        ));
        let protocol = db(&[1, 2, 3, 4, 5, 6, 7, 8], Some((3, 7)))
            .judge()
            .unwrap_err();
        assert_eq!(protocol, SchemaMismatch::NewerProtocol { database: 3 });
        assert!(protocol.to_string().contains("upgrade digis-relay"));
    }

    #[test]
    fn a_missing_record_is_refused() {
        assert_eq!(
            db(&[1, 2, 3, 4, 5, 6, 7], None).judge(),
            Err(SchemaMismatch::NoRecord)
        );
    }

    /// The migrations table is named once: the migrators must use that name.
    #[test]
    fn both_migrators_use_the_named_table() {
        assert_eq!(
            crate::storage::sqlite::SqliteStorage::MIGRATOR.table_name,
            MIGRATIONS_TABLE
        );
        assert_eq!(
            crate::storage::postgres::PgStorage::MIGRATOR.table_name,
            MIGRATIONS_TABLE
        );
    }

    /// Migration 0007 records this binary's protocol: a binary that writes 0007 speaks it.
    #[test]
    fn migration_0007_records_this_protocol() {
        for db in ["sqlite", "postgres"] {
            let path = format!(
                "{}/migrations/{db}/0007_schema_compat.sql",
                env!("CARGO_MANIFEST_DIR")
            );
            let sql = std::fs::read_to_string(&path).unwrap();
            assert!(
                sql.contains(&format!("VALUES (1, {CLAIM_PROTOCOL}, {COMPAT_MIGRATION})")),
                "{path}"
            );
        }
    }
}
