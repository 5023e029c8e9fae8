//! Each database's SQL, one statement a file: `sqlite/sql/<operation>.sql` and
//! `postgres/sql/<operation>.sql`, the same names on both sides, each starting with a `-- `
//! line that says how it differs from the other database. The files are the one list of
//! statements: build.rs writes [`Sql`] (a field a file) and its `SQLITE` and `POSTGRES` consts
//! (each field the file's text, compiled in with `include_str!`), so adding a query is adding
//! the two files and using the field. The select lists that several reads share
//! (`outbox_select.sql`, `member_select.sql`, `person_select.sql`) are files of their own: a
//! file whose first line starts `-- After outbox_select.sql` is that fragment's text followed
//! by its own, and a file named so is a fragment, not a field. So are the `WITH`s that a
//! failure group's dry run and its retry share (`failure_group.sql`) and that a reconcile and
//! its preview share (`reconcile_pairs.sql`), so each pair selects the same rows.
//!
//! Policy is bound, not spelled: state lists come from `OutboxState` (`OPEN`, `RETRYABLE`,
//! ...) as one array parameter, and reason texts from `texts`. The exceptions are statements
//! that must repeat a partial index's predicate (prune, PostgreSQL's ON CONFLICT); the tests
//! below check those words are the rule's.

include!(concat!(env!("OUT_DIR"), "/sql.rs"));

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::domain::OutboxState;

    fn files(db: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/storage")
            .join(db)
            .join("sql");
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn both_databases_hold_the_same_operations_and_every_one_is_loaded() {
        let loaded: BTreeSet<String> = NAMES
            .iter()
            .chain(FRAGMENTS)
            .map(|n| format!("{n}.sql"))
            .collect();
        assert_eq!(
            files("sqlite"),
            loaded,
            "sqlite/sql/ against the operations loaded"
        );
        assert_eq!(
            files("postgres"),
            loaded,
            "postgres/sql/ against the operations loaded"
        );
    }

    #[test]
    fn every_file_starts_with_a_header_saying_how_it_differs() {
        for db in ["sqlite", "postgres"] {
            for name in files(db) {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("src/storage")
                    .join(db)
                    .join("sql")
                    .join(&name);
                let text = std::fs::read_to_string(&path).expect("readable SQL");
                let first = text.lines().next().unwrap_or_default();
                assert!(
                    first.starts_with("-- ") && first.len() > 10,
                    "{db}/sql/{name} must start with a `-- ` header"
                );
            }
        }
    }

    /// Where a state list must be spelled: a partial index is used (or inferred by ON
    /// CONFLICT) only when the statement repeats its predicate, which a bound list cannot.
    /// There the words must still be the rule's.
    fn spelled(states: &[OutboxState]) -> String {
        let words: Vec<String> = states.iter().map(|s| format!("'{s}'")).collect();
        format!("state IN ({})", words.join(", "))
    }

    #[test]
    fn state_lists_are_bound_except_where_a_partial_index_needs_them_spelled() {
        let open = spelled(&OutboxState::OPEN);
        let prunable = spelled(&OutboxState::PRUNABLE);
        for (db, sql) in [("sqlite", &SQLITE), ("postgres", &POSTGRES)] {
            for (name, text) in NAMES.iter().zip(sql.texts()) {
                let mut body: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                match (db, *name) {
                    ("postgres", "resend" | "sync_reconcile") => {
                        assert!(body.contains(&open), "{db}/sql/{name}.sql: {open}");
                        body = body.replace(&open, "");
                    }
                    (_, "prune_outbox") => {
                        assert!(body.contains(&prunable), "{db}/sql/{name}.sql: {prunable}");
                        body = body.replace(&prunable, "");
                    }
                    _ => {}
                }
                assert!(
                    !body.contains("state IN ('"),
                    "{db}/sql/{name}.sql spells a state list: bind it from OutboxState"
                );
            }
        }
    }

    /// Whole words of `text` outside `--` comments and quotes, upper-cased.
    fn words(text: &str) -> Vec<String> {
        let code: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let unquoted: String = code.split('\'').step_by(2).collect::<Vec<_>>().join(" ");
        unquoted
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(|w| w.to_ascii_uppercase())
            .collect()
    }

    /// Issue 25, item 1: only the host adapter names a membership table. A relay statement or
    /// migration that did would break on a host whose tables have other names, and could only
    /// be adapted by editing a checksummed file.
    #[test]
    fn no_relay_sql_names_a_host_table() {
        let host: Vec<String> = crate::storage::HOST_TABLES
            .iter()
            .map(|t| t.to_ascii_uppercase())
            .collect();
        let mut texts: Vec<(String, String)> = Vec::new();
        for (db, sql) in [("sqlite", &SQLITE), ("postgres", &POSTGRES)] {
            for (name, text) in NAMES.iter().zip(sql.texts()) {
                texts.push((format!("{db}/sql/{name}.sql"), text.to_string()));
            }
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(db);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                texts.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
        for (name, text) in texts {
            for w in words(&text) {
                assert!(!host.contains(&w), "{name} names the host table {w}");
            }
        }
    }

    /// The SQLite phone narrowing removes exactly the characters a typed number may hold
    /// between its digits (`payload::phone::SEPARATORS`, and the `+`), each with a replace():
    /// one missing would lose every number typed with it.
    #[test]
    fn phone_narrowing_removes_every_separator() {
        let sql: String = SQLITE
            .persons_by_phone
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect();
        for c in crate::payload::phone::SEPARATORS.iter().chain(&['+']) {
            let removed = if c.is_ascii() {
                format!("'{c}', '')")
            } else {
                format!("char({}), '')", *c as u32)
            };
            assert!(sql.contains(&removed), "persons_by_phone.sql keeps {c:?}");
        }
        assert_eq!(
            sql.matches("replace(").count(),
            crate::payload::phone::SEPARATORS.len() + 1
        );
    }

    /// The person keys (migration 0018's triggers and function, and the rebuild `migrate` runs)
    /// apply the same rule as the search's narrowing: on SQLite every separator and the `+`
    /// removed and the whitespace Rust trims cut, on PostgreSQL every non-digit removed; both
    /// keep the last `PHONE_KEY_DIGITS`. Four copies of one rule: one drifting would make search
    /// miss the persons it keys differently.
    #[test]
    fn the_person_keys_follow_the_phone_narrowing() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let code = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let migration = |db: &str| {
            code(
                &std::fs::read_to_string(
                    root.join(format!("migrations/{db}/0018_person_keys.sql")),
                )
                .unwrap(),
            )
        };
        let n = crate::storage::PHONE_KEY_DIGITS;
        // Rust's trim() cuts these; SQLite's trim() is told those no replace() removed.
        let whitespace: Vec<u32> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace() && !crate::payload::phone::SEPARATORS.contains(c))
            .map(|c| c as u32)
            .collect();
        for (name, sql) in [
            ("sqlite 0018", migration("sqlite")),
            (
                "sqlite person_keys_rebuild.sql",
                code(SQLITE.person_keys_rebuild),
            ),
        ] {
            for c in crate::payload::phone::SEPARATORS.iter().chain(&['+']) {
                let removed = if c.is_ascii() {
                    format!("'{c}', '')")
                } else {
                    format!("char({}), '')", *c as u32)
                };
                assert!(sql.contains(&removed), "{name} keeps {c:?}");
            }
            for w in &whitespace {
                assert!(
                    sql.contains(&format!(" {w},"))
                        || sql.contains(&format!(" {w})"))
                        || sql.contains(&format!("({w},")),
                    "{name}: trim() does not cut U+{w:04X}"
                );
            }
            assert!(
                sql.contains(&format!("length(d) >= {n} THEN substr(d, -{n})")),
                "{name}"
            );
        }
        for (name, sql) in [
            ("postgres 0018", migration("postgres")),
            (
                "postgres person_keys_rebuild.sql",
                code(POSTGRES.person_keys_rebuild),
            ),
        ] {
            assert!(
                sql.contains("regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g')"),
                "{name}"
            );
            assert!(
                sql.contains(&format!("length(n.d) >= {n} THEN right(n.d, {n})")),
                "{name}"
            );
        }
    }

    /// Both name narrowings, and the name keys the grams are cut from (migration 0018's
    /// SQLite trigger and PostgreSQL function, SQLite's rebuild), replace exactly the letters
    /// `search::member::SQL_FOLDS` lists, each as deunicode folds it (a wrong replacement would
    /// lose names), drop apostrophes and backquotes as `fold` does, and hand over every name
    /// holding any other non-ASCII letter (the character class lists the same letters).
    #[test]
    fn name_narrowing_folds_the_listed_letters() {
        let folds = crate::search::member::SQL_FOLDS;
        let class: String = folds.iter().map(|(c, _)| *c).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let migration = |db: &str| {
            std::fs::read_to_string(root.join(format!("migrations/{db}/0018_person_keys.sql")))
                .unwrap()
        };
        let (sqlite_keys, postgres_keys) = (migration("sqlite"), migration("postgres"));
        for (db, sql) in [
            ("sqlite", SQLITE.persons_by_name),
            ("postgres", POSTGRES.persons_by_name),
            ("sqlite 0018", sqlite_keys.as_str()),
            ("sqlite person_keys_rebuild", SQLITE.person_keys_rebuild),
            ("postgres 0018", postgres_keys.as_str()),
        ] {
            let body: String = sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            for (c, ascii) in folds {
                let replaced = format!("'{c}', '{ascii}')");
                assert_eq!(body.matches(&replaced).count(), 1, "{db}: {replaced}");
            }
            assert!(body.contains(&format!("[^ -~{class}]")), "{db}: the class");
            assert!(body.contains("'''', '')"), "{db}: apostrophes");
            assert!(body.contains("'`', '')"), "{db}: backquotes");
            let non_ascii = body.chars().filter(|c| !c.is_ascii()).count();
            assert_eq!(non_ascii, 2 * folds.len(), "{db}: letters besides the list");
        }
    }
}
