//! The host adapter (docs/contracts.md, Host adapter; `[host] adapter`): the one SQL file
//! that names the membership system's tables. It defines the views the relay reads
//! ([`VIEWS`]) and the triggers that hand saved pairs to the relay-owned enqueue entry point
//! (PostgreSQL: `digis_enqueue(subscription, person)`; SQLite: an insert into the view
//! `digis_enqueue_request`). The relay's migrations and statements name only those views, so a
//! host with other table or column names writes an adapter instead of editing a checksummed
//! migration. `migrate` applies it after the migrations, in one transaction, and records its
//! source and SHA-384 in `digis_host_adapter` (migration 0010): an unchanged file is not applied
//! again, an edited one is.
pub mod split;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha384};

use super::Backend;
use crate::settings::HostSettings;

/// The views every adapter must define; the relay's statements read these and no host table.
pub const VIEWS: [&str; 3] = ["digis_member", "digis_person", "digis_subscription"];

/// The columns the relay reads from each of [`VIEWS`] (any order; more are allowed). `migrate`
/// selects them before it records an adapter: SQLite creates a view over a table or column that
/// does not exist and fails only when it is read.
pub const VIEW_COLUMNS: [(&str, &[&str]); 3] = [
    ("digis_member", &crate::domain::MEMBER_VIEW_COLUMNS),
    (
        "digis_person",
        &[
            "id",
            "first_name",
            "last_name",
            "email",
            "mobile_country_code",
            "mobile_number",
            "card_number",
            "country_alpha2",
        ],
    ),
    ("digis_subscription", &["id", "status"]),
];

/// A statement that reads every column the relay needs from `view` and returns no row.
pub fn view_probe(view: &str, columns: &[&str]) -> String {
    format!("SELECT {} FROM {view} WHERE 1 = 0", columns.join(", "))
}

/// The triggers an adapter's text creates, lower-cased (PostgreSQL folds unquoted names; SQLite
/// compares them without case). `migrate` applies an unchanged adapter again when one of them is
/// gone: a table rebuilt by the host (SQLite's ALTER recipe) loses its triggers, and a save
/// would then queue nobody while everything else looked fine.
pub fn trigger_names(sql: &str) -> Vec<String> {
    static CREATE_TRIGGER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?"?([A-Za-z_][A-Za-z0-9_$]*)"?"#,
        )
        .expect("a valid pattern")
    });
    let mut names: Vec<String> = CREATE_TRIGGER
        .captures_iter(sql)
        .map(|c| c[1].to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The adapters for the reference host schema (`assets/host-schema.*.sql`), compiled in: an
/// empty `[host] adapter` means these.
pub const REFERENCE_POSTGRES: &str = include_str!("../../../assets/host-adapter.postgres.sql");
pub const REFERENCE_SQLITE: &str = include_str!("../../../assets/host-adapter.sqlite.sql");

/// An adapter file larger than this is not an adapter (a wrong path, a dump): refused before
/// it is read whole.
pub const MAX_ADAPTER_BYTES: u64 = 4 * 1024 * 1024;

/// Where the adapter's SQL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterSource {
    /// The compiled-in reference adapter for this database.
    Reference(Backend),
    /// The operator's file (`[host] adapter`).
    File(PathBuf),
}

impl AdapterSource {
    /// How it is named in `digis_host_adapter.source` and in messages.
    pub fn name(&self) -> String {
        match self {
            AdapterSource::Reference(b) => format!("reference ({})", reference_path(*b)),
            AdapterSource::File(p) => p.display().to_string(),
        }
    }
}

/// The repository path of the reference adapter, for messages.
pub fn reference_path(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "assets/host-adapter.sqlite.sql",
        Backend::Postgres => "assets/host-adapter.postgres.sql",
    }
}

/// An adapter, read and ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAdapter {
    pub source: AdapterSource,
    pub sql: String,
}

impl HostAdapter {
    /// The reference adapter for `backend`.
    pub fn reference(backend: Backend) -> HostAdapter {
        let sql = match backend {
            Backend::Sqlite => REFERENCE_SQLITE,
            Backend::Postgres => REFERENCE_POSTGRES,
        };
        HostAdapter {
            source: AdapterSource::Reference(backend),
            sql: sql.to_string(),
        }
    }

    /// The adapter `[host] adapter` names (`configured`), or the reference adapter when it is
    /// empty. The path is used as given: the configuration resolves relative paths.
    pub fn load(backend: Backend, configured: &Path) -> Result<HostAdapter, AdapterError> {
        if configured.as_os_str().is_empty() {
            return Ok(HostAdapter::reference(backend));
        }
        let read_err = |source: std::io::Error| AdapterError::Read {
            path: configured.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(configured).map_err(read_err)?;
        if !meta.is_file() {
            return Err(AdapterError::NotAFile {
                path: configured.display().to_string(),
            });
        }
        if meta.len() > MAX_ADAPTER_BYTES {
            return Err(AdapterError::TooLarge {
                path: configured.display().to_string(),
                bytes: meta.len(),
            });
        }
        let bytes = std::fs::read(configured).map_err(read_err)?;
        let sql = String::from_utf8(bytes).map_err(|_| AdapterError::NotUtf8 {
            path: configured.display().to_string(),
        })?;
        Ok(HostAdapter {
            source: AdapterSource::File(configured.to_path_buf()),
            sql,
        })
    }

    /// The adapter `[host]` names, for the database at `database_url`.
    pub fn configured(
        host: &HostSettings,
        database_url: &str,
    ) -> Result<HostAdapter, AdapterError> {
        let backend = Backend::from_url(database_url).map_err(|e| AdapterError::Read {
            path: host.adapter.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        HostAdapter::load(backend, &host.adapter)
    }

    pub fn name(&self) -> String {
        self.source.name()
    }

    pub fn is_reference(&self) -> bool {
        matches!(self.source, AdapterSource::Reference(_))
    }

    /// Whether its triggers keep the search keys of persons (they hand saved persons to the
    /// relay-owned `digis_person_changed`, migration 0018): then `migrate` builds the keys of
    /// the persons already there and search narrows phone and e-mail through them. Only code
    /// counts: an adapter that names the function in a comment, or has its triggers commented
    /// out, keeps no keys, and search must then filter every person. Comments are cut without
    /// regard to quotes, so a `--` in a string can only make this say no: a slower search,
    /// never a missed person.
    pub fn keeps_person_keys(&self) -> bool {
        split::statements(&self.sql)
            .iter()
            .any(|s| without_comments(s.text).contains("digis_person_changed"))
    }

    /// What `digis_host_adapter.checksum` holds once this adapter is applied.
    pub fn checksum(&self) -> String {
        checksum(&self.sql)
    }

    /// Its statements, refusing transaction control: `migrate` runs the file in a transaction
    /// of its own, and a COMMIT inside would leave half an adapter applied.
    pub fn statements(&self) -> Result<Vec<split::Statement<'_>>, AdapterError> {
        let statements = split::statements(&self.sql);
        for (i, s) in statements.iter().enumerate() {
            if matches!(
                s.first_word.as_str(),
                "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "START" | "SAVEPOINT" | "RELEASE"
            ) {
                return Err(AdapterError::TransactionControl {
                    name: self.name(),
                    number: i + 1,
                    line: s.line,
                    word: s.first_word.clone(),
                });
            }
        }
        if statements.is_empty() {
            return Err(AdapterError::Empty { name: self.name() });
        }
        Ok(statements)
    }
}

/// The SHA-384 of an adapter's text, in lower-case hex (the hash sqlx gives migrations).
pub fn checksum(sql: &str) -> String {
    Sha384::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What `digis_host_adapter` holds: the adapter `migrate` last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedAdapter {
    /// [`AdapterSource::name`] of the file applied.
    pub source: String,
    /// [`checksum`] of its text.
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
}

/// What `migrate` did with the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterOutcome {
    /// Applied: none was recorded, its checksum differs from the recorded one, or a view it
    /// must define was missing. `previous` is the checksum recorded before.
    Applied {
        name: String,
        checksum: String,
        previous: Option<String>,
    },
    /// The recorded checksum is this file's and its views are there: nothing was run.
    Unchanged { name: String, checksum: String },
}

impl std::fmt::Display for AdapterOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterOutcome::Applied {
                name,
                checksum,
                previous,
            } => {
                write!(
                    f,
                    "host adapter applied: {name} (sha384 {})",
                    short(checksum)
                )?;
                match previous {
                    Some(p) => write!(f, ", replacing sha384 {}", short(p)),
                    None => Ok(()),
                }
            }
            AdapterOutcome::Unchanged { name, checksum } => {
                write!(
                    f,
                    "host adapter unchanged: {name} (sha384 {})",
                    short(checksum)
                )
            }
        }
    }
}

/// The first 12 hex digits: enough to tell two versions apart in a message.
pub fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

/// Why an adapter could not be read or applied. Each names the file; a failed statement also
/// names its number and line, and what to do when the tables it names are missing.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("cannot read the host adapter {path} ([host] adapter): {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the host adapter {path} ([host] adapter) is not a regular file")]
    NotAFile { path: String },
    #[error("the host adapter {path} ([host] adapter) holds {bytes} bytes, more than an adapter ({MAX_ADAPTER_BYTES}): is the path right?")]
    TooLarge { path: String, bytes: u64 },
    #[error("the host adapter {path} ([host] adapter) is not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("the host adapter {name} holds no statement")]
    Empty { name: String },
    #[error("host adapter {name}, statement {number} (line {line}): `{word}`: remove it, `migrate` runs the adapter in one transaction of its own")]
    TransactionControl {
        name: String,
        number: usize,
        line: usize,
        word: String,
    },
    #[error("host adapter {name}, statement {number} (line {line}: `{excerpt}`) failed, nothing of the adapter was applied: {source}{hint}")]
    Statement {
        name: String,
        number: usize,
        line: usize,
        excerpt: String,
        hint: &'static str,
        #[source]
        source: Box<sqlx::Error>,
    },
    #[error("host adapter {name}: the view {view} cannot be read as the relay reads it ({}), nothing of the adapter was applied: {source}{hint}", .columns.join(", "))]
    BrokenView {
        name: String,
        view: &'static str,
        columns: &'static [&'static str],
        hint: &'static str,
        #[source]
        source: Box<sqlx::Error>,
    },
    #[error("host adapter {name} does not define {}: an adapter must create the views {} (docs/contracts.md, Host adapter); nothing of it was applied", .missing.join(", "), VIEWS.join(", "))]
    MissingViews { name: String, missing: Vec<String> },
}

/// Said after a failed statement that names a table the database lacks: the usual first
/// failure on a database that is not the membership system's, or whose tables have other names.
pub const MISSING_TABLE_HINT: &str = " (the membership tables it names are missing: point database_url at the membership database, write a host adapter for a schema with other names and set `[host] adapter`, or run `digis-relay migrate --host-schema` to create the reference tables for a demo or test database)";

impl AdapterError {
    /// The error for statement `number` (1-based) of `adapter` failing with `source`.
    pub fn statement(
        adapter: &HostAdapter,
        number: usize,
        statement: &split::Statement<'_>,
        source: sqlx::Error,
    ) -> AdapterError {
        AdapterError::Statement {
            name: adapter.name(),
            number,
            line: statement.line,
            excerpt: excerpt(statement.text),
            hint: if names_a_missing_table(&source) {
                MISSING_TABLE_HINT
            } else {
                ""
            },
            source: Box::new(source),
        }
    }
}

impl AdapterError {
    /// The error for `view` of `adapter` failing to be read with `source`.
    pub fn broken_view(
        adapter: &HostAdapter,
        view: &'static str,
        columns: &'static [&'static str],
        source: sqlx::Error,
    ) -> AdapterError {
        AdapterError::BrokenView {
            name: adapter.name(),
            view,
            columns,
            hint: if names_a_missing_table(&source) {
                MISSING_TABLE_HINT
            } else {
                ""
            },
            source: Box::new(source),
        }
    }
}

/// The statement's first line, cut to 80 characters: enough to find it in the file.
fn excerpt(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim();
    let cut: String = first.chars().take(80).collect();
    if cut.len() < first.len() || text.lines().nth(1).is_some() {
        format!("{cut} …")
    } else {
        cut
    }
}

/// Whether the database said a table (or view) does not exist: PostgreSQL's undefined_table
/// SQLSTATE; SQLite has no code for it, only its message.
fn names_a_missing_table(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    db.code().as_deref() == Some("42P01") || db.message().starts_with("no such table")
}

/// `sql` lower-cased without its `--` and `/* */` comments.
fn without_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    loop {
        let next = [
            rest.find("--").map(|i| (i, true)),
            rest.find("/*").map(|i| (i, false)),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            None => {
                out.push_str(rest);
                break;
            }
            Some((i, true)) => {
                out.push_str(&rest[..i]);
                rest = rest[i..].find('\n').map_or("", |n| &rest[i + n..]);
            }
            Some((i, false)) => {
                out.push_str(&rest[..i]);
                rest = rest[i + 2..]
                    .find("*/")
                    .map_or("", |e| &rest[i + 2 + e + 2..]);
            }
        }
    }
    out.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_code_that_calls_digis_person_changed_keeps_person_keys() {
        let adapter = |sql: &str| HostAdapter {
            source: AdapterSource::Reference(Backend::Sqlite),
            sql: sql.into(),
        };
        let trigger = "CREATE TRIGGER t AFTER INSERT ON person BEGIN\n    INSERT INTO digis_person_changed (person_id) VALUES (NEW.id);\nEND;";
        assert!(adapter(trigger).keeps_person_keys());
        assert!(adapter(&format!("-- keys: see below\n{trigger}")).keeps_person_keys());
        assert!(
            !adapter("-- digis_person_changed is not used here\nSELECT 1;").keeps_person_keys()
        );
        assert!(!adapter(&format!("/* {trigger} */ SELECT 1;")).keeps_person_keys());
        let commented: String = trigger.lines().map(|l| format!("-- {l}\n")).collect();
        assert!(!adapter(&commented).keeps_person_keys());
        assert!(
            !adapter("CREATE VIEW v AS SELECT 1 /* digis_person_changed */;").keeps_person_keys()
        );
        assert!(
            adapter("SELECT 1; /* a */ SELECT digis_person_changed(ARRAY[1]::bigint[]); -- b")
                .keeps_person_keys()
        );
    }

    #[test]
    fn the_reference_adapters_name_their_triggers() {
        let want = [
            "digis_person_deleted",
            "digis_person_inserted",
            "digis_person_updated",
            "digis_subscription_inserted",
            "digis_subscription_updated",
            "digis_subscription_user_added",
        ];
        assert_eq!(trigger_names(REFERENCE_SQLITE), want);
        assert!(HostAdapter::reference(Backend::Sqlite).keeps_person_keys());
        assert!(HostAdapter::reference(Backend::Postgres).keeps_person_keys());
        assert_eq!(
            trigger_names("create or replace trigger \"Ab_1\" after insert on t\nCREATE TRIGGER IF NOT EXISTS b AFTER"),
            ["ab_1", "b"]
        );
    }

    #[test]
    fn checksum_is_sqlx_s_sha384_in_hex() {
        // sha384("") from FIPS 180-4's examples.
        assert_eq!(
            checksum(""),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
        );
        let reference = HostAdapter::reference(Backend::Sqlite);
        assert_eq!(reference.checksum(), checksum(REFERENCE_SQLITE));
        assert_ne!(
            reference.checksum(),
            HostAdapter::reference(Backend::Postgres).checksum()
        );
    }

    #[test]
    fn an_empty_setting_is_the_reference_and_a_file_is_read() {
        let r = HostAdapter::load(Backend::Postgres, Path::new("")).unwrap();
        assert!(r.is_reference());
        assert_eq!(r.name(), "reference (assets/host-adapter.postgres.sql)");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter.sql");
        std::fs::write(&path, "CREATE VIEW digis_member AS SELECT 1;").unwrap();
        let a = HostAdapter::load(Backend::Sqlite, &path).unwrap();
        assert_eq!(a.name(), path.display().to_string());
        assert_eq!(a.statements().unwrap().len(), 1);
        let missing = HostAdapter::load(Backend::Sqlite, &dir.path().join("nope.sql"));
        let text = missing.unwrap_err().to_string();
        assert!(
            text.contains("nope.sql") && text.contains("[host] adapter"),
            "{text}"
        );
        let folder = HostAdapter::load(Backend::Sqlite, dir.path()).unwrap_err();
        assert!(matches!(folder, AdapterError::NotAFile { .. }), "{folder}");
    }

    #[test]
    fn transaction_control_is_refused_with_its_line() {
        let a = HostAdapter {
            source: AdapterSource::File("x.sql".into()),
            sql: "DROP VIEW IF EXISTS digis_member;\n\nCOMMIT;\n".into(),
        };
        let e = a.statements().unwrap_err().to_string();
        assert_eq!(
            e,
            "host adapter x.sql, statement 2 (line 3): `COMMIT`: remove it, `migrate` runs the adapter in one transaction of its own"
        );
        let empty = HostAdapter {
            sql: "-- nothing\n".into(),
            ..a
        };
        assert!(matches!(
            empty.statements(),
            Err(AdapterError::Empty { .. })
        ));
    }

    /// The columns `migrate` checks are the ones the relay's statements read.
    #[test]
    fn the_checked_columns_are_the_ones_read() {
        let select_list = |sql: &str| -> Vec<String> {
            let body: String = sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ");
            let list = &body[body.find("SELECT").unwrap() + 6..body.find("FROM").unwrap()];
            list.split(',')
                .map(|c| c.split_whitespace().last().unwrap().to_string())
                .collect()
        };
        let sqlite = &super::super::sql::SQLITE;
        for (view, sql) in [
            ("digis_member", sqlite.members_by_card),
            ("digis_person", sqlite.persons_by_phone),
        ] {
            let checked = VIEW_COLUMNS.iter().find(|(v, _)| *v == view).unwrap().1;
            assert_eq!(select_list(sql), checked, "{view}");
        }
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt("DROP VIEW x"), "DROP VIEW x");
        assert_eq!(excerpt("CREATE VIEW x AS\nSELECT 1"), "CREATE VIEW x AS …");
        let long = "x".repeat(200);
        assert_eq!(excerpt(&long).chars().count(), 82);
    }
}
