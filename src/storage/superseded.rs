//! Checksums of migrations as earlier releases shipped them, for migrations that were rewritten
//! since. A migration is checksummed (SHA-384 of its text, as sqlx records it) and a database
//! that applied the old text must not be told it "was modified": the bookkeeping carry-over
//! (`storage::bookkeeping`) accepts a recorded checksum listed here for that version as the
//! current one. Nothing else may be listed: a migration is rewritten only when what it did is
//! done elsewhere for databases that applied the old text.
//!
//! Rewritten for issue 25 (the host adapter): 0001 and 0006 created the `digis_member` view and
//! the triggers on the membership tables, which now live in the host adapter
//! (`storage::adapter`). Databases that applied the old texts keep those objects until
//! `migrate` applies the adapter, which replaces them under the same names.

/// (version, hex SHA-384 of the old text) for PostgreSQL's migrations.
pub const SUPERSEDED_CHECKSUMS_POSTGRES: &[(i64, &str)] = &[
    (
        1,
        "4fc2b506256edaa958b08291b93015d29df13d53e3d1b4f374c7c45ccc7b85b35cc0978afc32bacb3fec7f3135d99d5e",
    ),
    (
        6,
        "e1a9afe4e46c2afbfbcaa8b1b8b49c57f26ce5752018767cbc520f07e9470cf155486b1ce99d166ff685181e160d9466",
    ),
];

/// (version, hex SHA-384 of the old text) for SQLite's migrations.
pub const SUPERSEDED_CHECKSUMS_SQLITE: &[(i64, &str)] = &[
    (
        1,
        "562c4dd898fa8c9d657fc14ae59056643462ee678cb1751261b543796f9ddff4977df50b1acdf69050dd2e3754224303",
    ),
    (
        6,
        "5a01f869963ed64656394838aee9cab1a5540044706544a5ccd22002fca025f5ce1695a5806fa04b87bb5008b94c4127",
    ),
];

/// The superseded checksums of `backend`'s migrations.
pub fn superseded_checksums(backend: super::Backend) -> &'static [(i64, &'static str)] {
    match backend {
        super::Backend::Sqlite => SUPERSEDED_CHECKSUMS_SQLITE,
        super::Backend::Postgres => SUPERSEDED_CHECKSUMS_POSTGRES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A superseded checksum is an older text's: never the current one (that would say nothing),
    /// and only for a version the migrator has.
    #[test]
    fn superseded_checksums_are_old_texts_of_known_migrations() {
        for (backend, migrator) in [
            (
                super::super::Backend::Sqlite,
                &crate::storage::sqlite::SqliteStorage::MIGRATOR,
            ),
            (
                super::super::Backend::Postgres,
                &crate::storage::postgres::PgStorage::MIGRATOR,
            ),
        ] {
            for (version, old) in superseded_checksums(backend) {
                let m = migrator
                    .iter()
                    .find(|m| m.version == *version)
                    .unwrap_or_else(|| panic!("{backend:?}: no migration {version}"));
                assert_ne!(&hex(&m.checksum), old, "{backend:?} {version}");
                assert_eq!(old.len(), 96, "{backend:?} {version}: SHA-384 in hex");
            }
        }
    }
}
