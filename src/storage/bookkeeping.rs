//! The relay's migration bookkeeping (issue 25, item 4): which rows of which table say that a
//! relay migration is applied.
//!
//! The relay records its migrations in its own table, [`MIGRATIONS_TABLE`]. Releases before it
//! used sqlx's default, [`LEGACY_MIGRATIONS_TABLE`], which a host application that also uses
//! sqlx shares: its rows are not ours, and sqlx refuses to migrate beside versions it does not
//! know. So an installation that has only the old table is carried over row by row, taking only
//! the rows whose (version, checksum) is one of this binary's migrations (or a checksum the
//! migration had in an earlier release, [`superseded`](Embedded::superseded)), and leaving the
//! old table as it is: its owner may be a host application, and an older relay (a rollback)
//! still finds its own rows there instead of re-running every migration over the live schema.
//!
//! Everything here is pure: the storage backends read the rows and apply the [`Plan`].

/// The table the relay records its applied migrations in (sqlx's bookkeeping, under a name of
/// the relay's own so that it cannot collide with a host application that also uses sqlx;
/// releases before issue 25 used sqlx's default, carried over below).
/// Spelled here only: both backends' migrators are given it, and a test checks they use it.
pub const MIGRATIONS_TABLE: &str = "digis_relay_migrations";
use super::Backend;

/// sqlx's default bookkeeping table, where releases before the rename recorded the relay's
/// migrations (and where a host application using sqlx records its own).
pub const LEGACY_MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The PostgreSQL advisory lock held for the carry-over's transaction, so two processes that
/// start at once do not both copy (SQLite: the transaction's `BEGIN IMMEDIATE` does this).
pub const CARRY_OVER_LOCK_KEY: i64 = 0x6467_7372_6d69_6772;

/// Fills the table names into a bookkeeping statement (`sql/*migrations*.sql`): a table name
/// cannot be a bound parameter, and the names are spelled once, above.
pub fn statement(sql: &str) -> String {
    sql.replace("{migrations}", MIGRATIONS_TABLE)
        .replace("{legacy}", LEGACY_MIGRATIONS_TABLE)
}

/// A migration compiled into this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    /// Checksums (lower-case hex) this migration had in earlier releases, whose text changed
    /// without changing what an applied database holds (the backend's `SUPERSEDED_CHECKSUMS`).
    pub superseded: Vec<String>,
}

impl Embedded {
    /// This binary's migrations with their superseded checksums from `superseded`
    /// (version, hex), the form the backends declare them in.
    pub fn list<'a>(
        migrations: impl IntoIterator<Item = (i64, &'a str, &'a [u8])>,
        superseded: &[(i64, &str)],
    ) -> Vec<Embedded> {
        migrations
            .into_iter()
            .map(|(version, description, checksum)| Embedded {
                version,
                description: description.to_string(),
                checksum: checksum.to_vec(),
                superseded: superseded
                    .iter()
                    .filter(|(v, _)| *v == version)
                    .map(|(_, hex)| hex.trim().to_ascii_lowercase())
                    .collect(),
            })
            .collect()
    }
}

/// A row of a bookkeeping table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
}

/// What a recorded row is to this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// One of this binary's migrations, recorded with its checksum.
    Current,
    /// One of this binary's migrations, recorded with a checksum an earlier release gave it:
    /// recorded again with the current one.
    Superseded { current: Vec<u8> },
    /// One of this binary's migrations (same version and description) applied from a different
    /// text: not what this binary would have applied.
    Modified { expected: Vec<u8> },
    /// Not a migration this binary knows: in the relay's own table a newer release's, in the old
    /// table a host application's.
    Unknown,
}

/// What `row` is to a binary whose migrations are `known`.
pub fn fate(row: &Recorded, known: &[Embedded]) -> Fate {
    let Some(m) = known.iter().find(|m| m.version == row.version) else {
        return Fate::Unknown;
    };
    if row.checksum == m.checksum {
        Fate::Current
    } else if m.superseded.contains(&hex(&row.checksum)) {
        Fate::Superseded {
            current: m.checksum.clone(),
        }
    } else if row.description == m.description {
        Fate::Modified {
            expected: m.checksum.clone(),
        }
    } else {
        // Same number, another name: a host application's migration 1, say.
        Fate::Unknown
    }
}

/// A migration applied from a text other than this binary's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modified {
    pub version: i64,
    pub description: String,
    /// The checksum recorded, and this binary's, in lower-case hex.
    pub recorded: String,
    pub expected: String,
}

/// Which table holds the relay's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// [`MIGRATIONS_TABLE`].
    Own,
    /// Only [`LEGACY_MIGRATIONS_TABLE`]: an installation `migrate` has not carried over yet.
    /// Read as the carry-over would copy it.
    Legacy,
    /// Neither table: nothing applied.
    None,
}

/// The relay's applied migrations as `rows` of `source` say, read the way `migrate` would
/// leave them: superseded checksums count as current; in the old table, rows that are not the
/// relay's are not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub versions: Vec<i64>,
    pub modified: Vec<Modified>,
}

pub fn applied(rows: &[Recorded], source: Source, known: &[Embedded]) -> Applied {
    let mut out = Applied {
        versions: Vec::new(),
        modified: Vec::new(),
    };
    for row in rows {
        match fate(row, known) {
            Fate::Current | Fate::Superseded { .. } => {}
            Fate::Modified { expected } => out.modified.push(Modified {
                version: row.version,
                description: row.description.clone(),
                recorded: hex(&row.checksum),
                expected: hex(&expected),
            }),
            Fate::Unknown if source == Source::Own => {}
            Fate::Unknown => continue,
        }
        out.versions.push(row.version);
    }
    out
}

/// What `migrate` writes before sqlx's migrator runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Rows to copy from the old table: version and the checksum to record.
    pub carry: Vec<(i64, Vec<u8>)>,
    /// Rows of the relay's table to record again with the current checksum: version, the
    /// recorded (superseded) checksum, the current one.
    pub translate: Vec<(i64, Vec<u8>, Vec<u8>)>,
}

/// The carry-over of the old table's `rows` into a relay table that does not exist yet.
/// A modified migration is not copied; it is refused before (see [`refusal`]).
pub fn carry_over(rows: &[Recorded], known: &[Embedded]) -> Plan {
    let carry = rows
        .iter()
        .filter_map(|r| match fate(r, known) {
            Fate::Current => Some((r.version, r.checksum.clone())),
            Fate::Superseded { current } => Some((r.version, current)),
            Fate::Modified { .. } | Fate::Unknown => None,
        })
        .collect();
    Plan {
        carry,
        translate: Vec::new(),
    }
}

/// The superseded checksums in the relay's own table, to record again as the current ones.
pub fn translate(rows: &[Recorded], known: &[Embedded]) -> Plan {
    let translate = rows
        .iter()
        .filter_map(|r| match fate(r, known) {
            Fate::Superseded { current } => Some((r.version, r.checksum.clone(), current)),
            _ => None,
        })
        .collect();
    Plan {
        carry: Vec::new(),
        translate,
    }
}

/// Why `migrate` must stop, and what to do: a relay migration applied from another text
/// (sqlx's own words were "migration 1 was previously applied but has been modified").
pub fn refusal(modified: &[Modified], source: Source, backend: Backend) -> Option<String> {
    let first = modified.first()?;
    let table = match source {
        Source::Legacy => LEGACY_MIGRATIONS_TABLE,
        Source::Own | Source::None => MIGRATIONS_TABLE,
    };
    let names: Vec<String> = modified
        .iter()
        .map(|m| format!("{:04} ({})", m.version, m.description))
        .collect();
    Some(format!(
        "migration{} {} {} applied from a text other than this digis-relay's (checksum differs: the relay's migrations/ files were edited, or another build migrated this database); `migrate` refuses to continue. The relay's migrations are never edited: host-specific SQL belongs in the host adapter ([host] adapter). If the applied text differed only in comments, record this binary's checksum: UPDATE {table} SET checksum = {} WHERE version = {}",
        if modified.len() == 1 { "" } else { "s" },
        names.join(", "),
        if modified.len() == 1 { "was" } else { "were" },
        first.expected_literal(backend),
        first.version,
    ))
}

impl Modified {
    /// This binary's checksum as an SQL literal of bytes (PostgreSQL reads X'..' as bits).
    fn expected_literal(&self, backend: Backend) -> String {
        match backend {
            Backend::Sqlite => format!("X'{}'", self.expected),
            Backend::Postgres => format!("'\\x{}'::bytea", self.expected),
        }
    }
}

/// Lower-case hex, the form checksums are written in (sqlx shows none).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<Embedded> {
        Embedded::list(
            [
                (1, "outbox", &[1u8, 1][..]),
                (2, "events", &[2u8, 2][..]),
                (3, "stats", &[3u8, 3][..]),
            ],
            &[(1, "0A0B"), (3, "0c0d")],
        )
    }

    fn row(version: i64, description: &str, checksum: &[u8]) -> Recorded {
        Recorded {
            version,
            description: description.into(),
            checksum: checksum.to_vec(),
        }
    }

    #[test]
    fn only_the_relays_rows_are_carried_and_superseded_ones_get_the_current_checksum() {
        let old = [
            row(1, "outbox", &[0x0a, 0x0b]),
            row(2, "events", &[2, 2]),
            // A host application's migrations: another checksum, or another version.
            row(3, "create users", &[9, 9]),
            row(20240101000000, "host app", &[7]),
        ];
        assert_eq!(
            carry_over(&old, &known()),
            Plan {
                carry: vec![(1, vec![1, 1]), (2, vec![2, 2])],
                translate: vec![],
            }
        );
        let seen = applied(&old, Source::Legacy, &known());
        assert_eq!(seen.versions, vec![1, 2]);
        assert!(seen.modified.is_empty());
    }

    #[test]
    fn the_relays_own_table_has_its_superseded_checksums_translated() {
        let own = [
            row(1, "outbox", &[1, 1]),
            row(3, "stats", &[0x0c, 0x0d]),
            row(9001, "newer", &[0]),
        ];
        assert_eq!(
            translate(&own, &known()).translate,
            vec![(3, vec![0x0c, 0x0d], vec![3, 3])]
        );
        // A newer release's migration counts as applied in the relay's own table.
        assert_eq!(
            applied(&own, Source::Own, &known()).versions,
            vec![1, 3, 9001]
        );
    }

    #[test]
    fn a_modified_migration_is_named_with_what_to_do() {
        let own = [row(1, "outbox", &[0xff]), row(2, "events", &[2, 2])];
        let seen = applied(&own, Source::Own, &known());
        assert_eq!(seen.versions, vec![1, 2], "applied, though modified");
        assert_eq!(
            seen.modified,
            vec![Modified {
                version: 1,
                description: "outbox".into(),
                recorded: "ff".into(),
                expected: "0101".into(),
            }]
        );
        let text = refusal(&seen.modified, Source::Own, Backend::Sqlite).unwrap();
        assert!(
            text.contains("migration 0001 (outbox) was applied"),
            "{text}"
        );
        assert!(text.contains("[host] adapter"), "{text}");
        assert!(
            text.contains("UPDATE digis_relay_migrations SET checksum = X'0101' WHERE version = 1"),
            "{text}"
        );
        let pg = refusal(&seen.modified, Source::Legacy, Backend::Postgres).unwrap();
        assert!(
            pg.contains(
                "UPDATE _sqlx_migrations SET checksum = '\\x0101'::bytea WHERE version = 1"
            ),
            "{pg}"
        );
        assert!(refusal(&[], Source::Own, Backend::Sqlite).is_none());
        // Not carried over from the old table: refused instead.
        assert!(carry_over(&own, &known()).carry == vec![(2, vec![2, 2])]);
    }

    #[test]
    fn statements_get_both_table_names() {
        assert_eq!(
            statement("INSERT INTO {migrations} SELECT * FROM {legacy}"),
            "INSERT INTO digis_relay_migrations SELECT * FROM _sqlx_migrations"
        );
    }
}
