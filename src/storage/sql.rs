//! Each database's SQL, one statement a file: `sqlite/sql/<operation>.sql` and
//! `postgres/sql/<operation>.sql`, the same names on both sides, each starting with a `-- `
//! line that says how it differs from the other database. Both are compiled in with
//! `include_str!`; the shared code in `core` picks the backend's [`Sql`]. The select lists
//! that several reads share (`outbox_select.sql`, `member_select.sql`) are files of their own,
//! put in front of those reads' `WHERE` files at compile time; so is the `WITH` that a failure
//! group's dry run and its retry share (`failure_group.sql`), so both select the same rows.
//!
//! Policy is bound, not spelled: state lists come from `OutboxState` (`OPEN`, `RETRYABLE`,
//! ...) as one array parameter, and reason texts from `texts`. The exceptions are statements
//! that must repeat a partial index's predicate (prune, PostgreSQL's ON CONFLICT); the tests
//! below check those words are the rule's.

/// Declares [`Sql`] with one field an operation and fills it from both folders.
macro_rules! sql_files {
    (fragments: $($fragment:ident),*; $($name:ident $(after $prefix:ident)?),* $(,)?) => {
        /// One database's statements, one field an operation.
        pub(crate) struct Sql {
            $(pub $name: &'static str,)*
        }

        /// The operation names, for the test that both folders hold exactly these files.
        #[cfg(test)]
        pub(crate) const NAMES: &[&str] = &[$(stringify!($name)),*];
        /// Shared starts of statements (`after` in the list), files of their own.
        #[cfg(test)]
        pub(crate) const FRAGMENTS: &[&str] = &[$(stringify!($fragment)),*];

        pub(crate) const SQLITE: Sql = Sql {
            $($name: concat!(
                $(include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/src/storage/sqlite/sql/", stringify!($prefix), ".sql"
                )),)?
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/src/storage/sqlite/sql/", stringify!($name), ".sql"
                ))
            ),)*
        };

        pub(crate) const POSTGRES: Sql = Sql {
            $($name: concat!(
                $(include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/src/storage/postgres/sql/", stringify!($prefix), ".sql"
                )),)?
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/src/storage/postgres/sql/", stringify!($name), ".sql"
                ))
            ),)*
        };
    };
}

sql_files! {
    fragments: outbox_select, member_select, person_select, failure_group;
    outbox_by_ids after outbox_select,
    outbox_page_older after outbox_select,
    outbox_page_newer after outbox_select,
    outbox_page_older_in_state after outbox_select,
    outbox_page_newer_in_state after outbox_select,
    outbox_of_subscription after outbox_select,
    outbox_of_card after outbox_select,
    members_of_pairs after member_select,
    members_of_subscription after member_select,
    members_by_card after member_select,
    active_members_page after member_select,
    digis_of_pairs,
    sent_of_pairs,
    claim,
    renew_lease,
    release,
    complete_rows,
    record_pairs,
    record_attempts,
    supersede_failed,
    attempt_numbers,
    heartbeat,
    relays,
    forget_relays,
    db_now,
    oldest_due_pending,
    prune_outbox,
    prune_events,
    prune_lock,
    retry,
    retry_all_failed,
    unconfirmed_rows,
    discard,
    resend,
    sync_make_due,
    sync_reconcile,
    reconcile_count,
    lost_digis_count,
    restore_digis,
    known_pairs,
    sync_requested,
    pause,
    resume,
    pause_self,
    lift_self_pause,
    control,
    circuit_open,
    circuit_take_probe,
    circuit_close,
    record_share,
    record_row_events,
    record_event,
    events,
    counts,
    attempts,
    digis_rows,
    subscription_status,
    persons_by_card,
    schema_objects,
    schema_triggers,
    digis_external_id,
    persons_by_phone after person_select,
    persons_by_email after person_select,
    persons_by_name after person_select,
    cards_without_zeros after person_select,
    pairs_of_persons,
    failure_groups,
    failed_rows,
    failed_rows_of_cause,
    count_failure_group after failure_group,
    retry_failure_group after failure_group,
    attempt_counts,
    sent_count,
    sent_delays,
    schema_compat,
    migrations_tables,
    migrations_lock,
    recorded_migrations,
    legacy_migrations,
    carry_migration,
    translate_checksum,
    adapter_view_columns,
    adapter_triggers,
    adapter_functions,
    adapter_record_table,
    adapter_recorded,
    adapter_record,
    adapter_record_save,
}

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

    impl Sql {
        fn texts(&self) -> Vec<&'static str> {
            vec![
                self.outbox_by_ids,
                self.outbox_page_older,
                self.outbox_page_newer,
                self.outbox_page_older_in_state,
                self.outbox_page_newer_in_state,
                self.outbox_of_subscription,
                self.outbox_of_card,
                self.members_of_pairs,
                self.members_of_subscription,
                self.members_by_card,
                self.active_members_page,
                self.digis_of_pairs,
                self.sent_of_pairs,
                self.claim,
                self.renew_lease,
                self.release,
                self.complete_rows,
                self.record_pairs,
                self.record_attempts,
                self.supersede_failed,
                self.attempt_numbers,
                self.heartbeat,
                self.relays,
                self.forget_relays,
                self.db_now,
                self.oldest_due_pending,
                self.prune_outbox,
                self.prune_events,
                self.prune_lock,
                self.retry,
                self.retry_all_failed,
                self.unconfirmed_rows,
                self.discard,
                self.resend,
                self.sync_make_due,
                self.sync_reconcile,
                self.reconcile_count,
                self.lost_digis_count,
                self.restore_digis,
                self.known_pairs,
                self.sync_requested,
                self.pause,
                self.resume,
                self.pause_self,
                self.lift_self_pause,
                self.control,
                self.circuit_open,
                self.circuit_take_probe,
                self.circuit_close,
                self.record_share,
                self.record_row_events,
                self.record_event,
                self.events,
                self.counts,
                self.attempts,
                self.digis_rows,
                self.subscription_status,
                self.persons_by_card,
                self.schema_objects,
                self.schema_triggers,
                self.persons_by_phone,
                self.persons_by_email,
                self.persons_by_name,
                self.cards_without_zeros,
                self.pairs_of_persons,
                self.failure_groups,
                self.failed_rows,
                self.failed_rows_of_cause,
                self.count_failure_group,
                self.retry_failure_group,
                self.attempt_counts,
                self.sent_count,
                self.sent_delays,
                self.schema_compat,
                self.migrations_tables,
                self.migrations_lock,
                self.recorded_migrations,
                self.legacy_migrations,
                self.carry_migration,
                self.translate_checksum,
                self.adapter_view_columns,
                self.adapter_triggers,
                self.adapter_functions,
                self.adapter_record_table,
                self.adapter_recorded,
                self.adapter_record,
                self.adapter_record_save,
            ]
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

    /// Both name narrowings replace exactly the letters `search::member::SQL_FOLDS` lists, each
    /// as deunicode folds it (a wrong replacement would lose names), and hand over every name
    /// holding any other non-ASCII letter (the character class lists the same letters).
    #[test]
    fn name_narrowing_folds_the_listed_letters() {
        let folds = crate::search::member::SQL_FOLDS;
        let class: String = folds.iter().map(|(c, _)| *c).collect();
        for (db, sql) in [
            ("sqlite", SQLITE.persons_by_name),
            ("postgres", POSTGRES.persons_by_name),
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
            let non_ascii = body.chars().filter(|c| !c.is_ascii()).count();
            assert_eq!(non_ascii, 2 * folds.len(), "{db}: letters besides the list");
        }
    }
}
