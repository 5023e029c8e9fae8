//! The host adapter as `doctor` and the `digis_host_adapter_state` metric judge it (issue 25;
//! docs/contracts.md, Host adapter): the views the relay reads exist with the columns it reads
//! (and, on PostgreSQL, ids it can compare with its own), triggers on the host's tables hand
//! saves to the relay-owned enqueue entry point, and the adapter `migrate` recorded is the one
//! the configuration names now.
use std::collections::BTreeSet;

use super::{check, Check, Level};
pub use crate::domain::AdapterState;
use crate::storage::handshake::SchemaVersions;
use crate::storage::host_objects::{HostObjects, HostTrigger};
use crate::storage::{Backend, SchemaStore, StorageError};

/// The migration that creates `digis_host_adapter`: a binary that knows it reads only the
/// adapter's views, so it checks them on every database.
pub const ADAPTER_MIGRATION: i64 = 10;

// The views an adapter defines and the columns the relay reads from each: the list `migrate`
// checks before it records an adapter, so doctor and migrate never disagree.
use crate::storage::adapter::VIEW_COLUMNS as VIEWS;

/// Columns PostgreSQL's statements compare with `bigint` (`= ANY($1)`, row comparisons): a text
/// id there fails every such statement, not one row. Every other column is read as its text and
/// typed per row (`storage::decode`), so any type will do; SQLite types nothing.
const ID_COLUMNS: [(&str, &str); 5] = [
    ("digis_member", "subscription_id"),
    ("digis_member", "person_id"),
    ("digis_member", "unit_id"),
    ("digis_person", "id"),
    ("digis_subscription", "id"),
];

/// information_schema's names of the types PostgreSQL compares with `bigint` as they are.
const PG_ID_TYPES: [&str; 4] = ["smallint", "integer", "bigint", "numeric"];

/// The relay-owned entry point the triggers hand saves to: PostgreSQL's function
/// `digis_enqueue(subscription, person)`, SQLite's view `digis_enqueue_request` (its name
/// starts the same way).
pub const ENQUEUE: &str = "digis_enqueue";

/// The adapter the configuration names, as `migrate` would apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// As `digis_host_adapter.source` names it.
    pub name: String,
    /// SHA-384 of its text, lower-case hex.
    pub checksum: String,
    /// The triggers its text creates (`adapter::trigger_names`): each must exist, or some
    /// saves queue nobody.
    pub triggers: Vec<String>,
}

/// What the configuration says the adapter is: `Ok(None)` when this build has no `[host]
/// adapter` to read (the record is then checked for presence only), `Err` when the file cannot
/// be read.
pub type Configured = Result<Option<Expected>, String>;

/// The adapter the configuration names (`[host] adapter`, loaded as `migrate` loads it).
pub fn configured(config: &crate::config::Config) -> Configured {
    crate::storage::adapter::HostAdapter::configured(&config.host, &config.database_url)
        .map(|a| {
            Some(Expected {
                name: a.name(),
                checksum: a.checksum(),
                triggers: crate::storage::adapter::trigger_names(&a.sql),
            })
        })
        .map_err(|e| e.to_string())
}

/// The state and `doctor`'s lines.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub state: AdapterState,
    pub checks: Vec<Check>,
}

/// Whether the adapter is judged on this database: always by a binary that reads only the
/// adapter's views; by an older one when the database has an adapter record.
pub fn applies(versions: &SchemaVersions, objects: &HostObjects) -> bool {
    objects.record_table || versions.known.iter().any(|(v, _)| *v >= ADAPTER_MIGRATION)
}

/// Reads what the database holds and judges it; `None` when the adapter does not apply
/// ([`applies`]).
pub async fn inspect(
    db: &dyn SchemaStore,
    versions: &SchemaVersions,
    configured: &Configured,
) -> Result<Option<Verdict>, StorageError> {
    let names: Vec<&str> = VIEWS.iter().map(|(v, _)| *v).collect();
    let objects = db.host_objects(&names).await?;
    Ok(applies(versions, &objects).then(|| judge(&objects, configured, db.backend())))
}

/// `doctor`'s lines.
pub async fn checks(
    db: &dyn SchemaStore,
    versions: &SchemaVersions,
    config: &crate::config::Config,
) -> Vec<Check> {
    match inspect(db, versions, &configured(config)).await {
        Ok(Some(v)) => v.checks,
        Ok(None) => Vec::new(),
        Err(e) => vec![check("host adapter", Level::Error, e.to_string())],
    }
}

pub fn judge(objects: &HostObjects, configured: &Configured, backend: Backend) -> Verdict {
    let (record_state, record) = record_check(objects, configured);
    let views = views_check(objects, backend);
    let triggers = triggers_check(objects, configured);
    let broken = views.level == Level::Error || triggers.level == Level::Error;
    let state = match record_state {
        AdapterState::Ok if broken => AdapterState::Invalid,
        s => s,
    };
    Verdict {
        state,
        checks: vec![record, views, triggers],
    }
}

fn record_check(objects: &HostObjects, configured: &Configured) -> (AdapterState, Check) {
    const NAME: &str = "host adapter";
    let Some(record) = objects.record.as_ref().filter(|_| objects.record_table) else {
        return (
            AdapterState::Missing,
            check(
                NAME,
                Level::Error,
                "missing: `migrate` never applied a host adapter (digis_host_adapter is empty): run `digis-relay migrate`",
            ),
        );
    };
    let short = |c: &str| c.chars().take(12).collect::<String>();
    match configured {
        Err(e) => (
            AdapterState::Invalid,
            check(
                NAME,
                Level::Error,
                format!("the configured adapter cannot be read ({e}); the database holds {} (sha384 {}…) applied at {}", record.source, short(&record.checksum), record.applied_at),
            ),
        ),
        Ok(Some(expected)) if !expected.checksum.eq_ignore_ascii_case(&record.checksum) => (
            AdapterState::Changed,
            check(
                NAME,
                Level::Error,
                format!(
                    "changed: {} (sha384 {}…) differs from what `migrate` applied ({}, sha384 {}…, at {}): run `digis-relay migrate`",
                    expected.name,
                    short(&expected.checksum),
                    record.source,
                    short(&record.checksum),
                    record.applied_at
                ),
            ),
        ),
        Ok(expected) => (
            AdapterState::Ok,
            check(
                NAME,
                Level::Ok,
                format!(
                    "{} (sha384 {}…) applied at {}{}",
                    record.source,
                    short(&record.checksum),
                    record.applied_at,
                    if expected.is_some() { ", as configured" } else { "" }
                ),
            ),
        ),
    }
}

fn views_check(objects: &HostObjects, backend: Backend) -> Check {
    const NAME: &str = "adapter views";
    let mut problems = Vec::new();
    for (view, wanted) in VIEWS {
        let columns = objects
            .views
            .iter()
            .find(|(v, _)| v == view)
            .map(|(_, c)| c.as_slice())
            .unwrap_or_default();
        if columns.is_empty() {
            problems.push(format!("{view} is missing"));
            continue;
        }
        let has = |name: &str| columns.iter().find(|(c, _)| c.eq_ignore_ascii_case(name));
        let lacking: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| has(c).is_none())
            .collect();
        if !lacking.is_empty() {
            problems.push(format!("{view} lacks {}", lacking.join(", ")));
        }
        if backend == Backend::Postgres {
            for (_, column) in ID_COLUMNS.iter().filter(|(v, _)| *v == view) {
                if let Some((_, ty)) = has(column) {
                    if !PG_ID_TYPES.contains(&ty.as_str()) {
                        problems.push(format!(
                            "{view}.{column} is {ty}, not a whole number the relay can compare with its ids (cast it in the view: ::bigint)"
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        check(
            NAME,
            Level::Ok,
            format!(
                "{} with the columns the relay reads",
                VIEWS.map(|(v, _)| v).join(", ")
            ),
        )
    } else {
        check(
            NAME,
            Level::Error,
            format!(
                "{}: the adapter must define them (see assets/host-adapter.*.sql); fix it and run `digis-relay migrate`",
                problems.join("; ")
            ),
        )
    }
}

/// Whether `text` names `name` as a whole word (not as part of a longer identifier).
fn mentions(text: &str, name: &str) -> bool {
    let (text, name) = (text.to_ascii_lowercase(), name.to_ascii_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    text.match_indices(&name).any(|(i, _)| {
        !word(text[..i].chars().next_back()) && !word(text[i + name.len()..].chars().next())
    })
}

/// Whether `text` names the entry point ([`ENQUEUE`], or SQLite's view that starts with it).
fn names_entry_point(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower
        .match_indices(ENQUEUE)
        .any(|(i, _)| !lower[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// The triggers on the host's tables that reach the entry point, directly or through functions
/// that call it (PostgreSQL: a trigger function calling a helper that calls digis_enqueue).
fn queueing_triggers(objects: &HostObjects) -> Vec<&HostTrigger> {
    let mut reaching: BTreeSet<&str> = objects
        .functions
        .iter()
        .filter(|(n, body)| !n.eq_ignore_ascii_case(ENQUEUE) && names_entry_point(body))
        .map(|(n, _)| n.as_str())
        .collect();
    loop {
        let more: Vec<&str> = objects
            .functions
            .iter()
            .filter(|(n, body)| {
                !reaching.contains(n.as_str()) && reaching.iter().any(|r| mentions(body, r))
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if more.is_empty() {
            break;
        }
        reaching.extend(more);
    }
    objects
        .triggers
        .iter()
        // The relay's own tables (the outbox's NOTIFY, SQLite's entry point view) are not the
        // host's.
        .filter(|t| !t.table.to_ascii_lowercase().starts_with("digis_"))
        .filter(|t| {
            names_entry_point(&t.body)
                || reaching.contains(t.function.as_str())
                || reaching.iter().any(|r| mentions(&t.body, r))
        })
        .collect()
}

fn triggers_check(objects: &HostObjects, configured: &Configured) -> Check {
    const NAME: &str = "adapter triggers";
    if let Ok(Some(expected)) = configured {
        let present: Vec<String> = objects
            .triggers
            .iter()
            .map(|t| t.name.to_ascii_lowercase())
            .collect();
        let missing: Vec<&str> = expected
            .triggers
            .iter()
            .filter(|t| !present.contains(t))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return check(
                NAME,
                Level::Error,
                format!("missing {} (the adapter creates them to hand saves to {ENQUEUE}; a table rebuilt by the host loses its triggers): some saves queue nobody; run `digis-relay migrate`, which puts them back", missing.join(", ")),
            );
        }
    }
    let queueing = queueing_triggers(objects);
    if queueing.is_empty() {
        return check(
            NAME,
            Level::Error,
            format!("no trigger on a membership table hands saves to {ENQUEUE}: saving an ACTIVE subscription queues nobody; the adapter's triggers must call it (see assets/host-adapter.*.sql), then run `digis-relay migrate`"),
        );
    }
    let tables: BTreeSet<&str> = queueing.iter().map(|t| t.table.as_str()).collect();
    check(
        NAME,
        Level::Ok,
        format!(
            "{} trigger(s) on {} hand saves to {ENQUEUE}",
            queueing.len(),
            tables.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::host_objects::AdapterRecord;

    fn view(name: &str, columns: &[&str], ty: &str) -> (String, Vec<(String, String)>) {
        (
            name.to_string(),
            columns
                .iter()
                .map(|c| (c.to_string(), ty.to_string()))
                .collect(),
        )
    }

    fn trigger(table: &str, function: &str, body: &str) -> HostTrigger {
        HostTrigger {
            table: table.into(),
            name: format!("{table}_t"),
            function: function.into(),
            body: body.into(),
        }
    }

    /// A PostgreSQL database with the reference adapter applied, recorded with checksum "aa".
    fn good() -> HostObjects {
        HostObjects {
            views: VIEWS.iter().map(|(v, c)| view(v, c, "bigint")).collect(),
            triggers: vec![
                trigger(
                    "subscription",
                    "digis_subscription_saved",
                    "PERFORM digis_queue_subscription(NEW.id);",
                ),
                trigger(
                    "digis_outbox",
                    "digis_outbox_notify",
                    "PERFORM pg_notify('digis_outbox', '');",
                ),
            ],
            functions: vec![
                (
                    "digis_queue_subscription".into(),
                    "PERFORM digis_enqueue(su.subscription_id, su.person_id)".into(),
                ),
                (
                    "digis_subscription_saved".into(),
                    "PERFORM digis_queue_subscription(NEW.id);".into(),
                ),
                (
                    "digis_enqueue".into(),
                    "INSERT INTO digis_outbox ...".into(),
                ),
            ],
            record_table: true,
            record: Some(AdapterRecord {
                source: "reference (assets/host-adapter.postgres.sql)".into(),
                checksum: "aa".into(),
                applied_at: "2026-12-06T07:00:00Z".into(),
            }),
        }
    }

    fn expected(checksum: &str) -> Configured {
        Ok(Some(Expected {
            name: "/etc/digis-relay/adapter.sql".into(),
            checksum: checksum.into(),
            triggers: Vec::new(),
        }))
    }

    /// Asserts that check `i`'s message starts with `start`.
    fn starts(v: &Verdict, i: usize, start: &str) {
        assert!(v.checks[i].message.starts_with(start), "{:?}", v.checks[i]);
    }

    fn levels(v: &Verdict) -> Vec<Level> {
        v.checks.iter().map(|c| c.level).collect()
    }

    #[test]
    fn a_good_adapter_is_ok_and_a_trigger_reaching_enqueue_through_a_helper_counts() {
        let v = judge(&good(), &expected("AA"), Backend::Postgres);
        assert_eq!(v.state, AdapterState::Ok);
        assert_eq!(levels(&v), vec![Level::Ok; 3], "{:?}", v.checks);
        starts(&v, 2, "1 trigger(s) on subscription");
    }

    #[test]
    fn a_changed_file_and_a_missing_record_are_named() {
        let v = judge(&good(), &expected("bb"), Backend::Postgres);
        assert_eq!(v.state, AdapterState::Changed);
        starts(&v, 0, "changed: /etc/digis-relay/adapter.sql");
        assert!(v.checks[0].message.contains("run `digis-relay migrate`"));
        let mut none = good();
        none.record = None;
        let v = judge(&none, &expected("aa"), Backend::Postgres);
        assert_eq!(v.state, AdapterState::Missing);
        starts(&v, 0, "missing");
        let unreadable: Configured = Err("No such file or directory".into());
        assert_eq!(
            judge(&good(), &unreadable, Backend::Postgres).state,
            AdapterState::Invalid
        );
    }

    #[test]
    fn missing_views_columns_text_ids_and_triggers_are_errors() {
        let mut o = good();
        o.views.retain(|(v, _)| v != "digis_subscription");
        o.views[1].1.retain(|(c, _)| c != "card_number");
        o.views[0].1[1].1 = "text".into();
        o.triggers.retain(|t| t.table != "subscription");
        let v = judge(&o, &expected("aa"), Backend::Postgres);
        assert_eq!(v.state, AdapterState::Invalid);
        let views = &v.checks[1].message;
        assert!(views.contains("digis_subscription is missing"), "{views}");
        assert!(views.contains("digis_person lacks card_number"), "{views}");
        assert!(views.contains("digis_member.person_id is text"), "{views}");
        assert_eq!(v.checks[2].level, Level::Error);
        // SQLite types nothing: a text id is read per row there.
        let mut s = good();
        s.views[0].1[1].1 = "TEXT".into();
        assert_eq!(
            judge(&s, &expected("aa"), Backend::Sqlite).state,
            AdapterState::Ok
        );
    }

    #[test]
    fn sqlite_triggers_insert_into_the_entry_point_view() {
        let mut o = good();
        o.functions.clear();
        o.triggers = vec![
            trigger("subscription", "s", "CREATE TRIGGER s AFTER INSERT ON subscription BEGIN INSERT INTO digis_enqueue_request (subscription_id, person_id) SELECT 1, 2; END"),
            trigger("digis_enqueue_request", "i", "CREATE TRIGGER i INSTEAD OF INSERT ON digis_enqueue_request BEGIN INSERT INTO digis_outbox ...; END"),
            // Not the entry point: a name that merely contains it.
            trigger("person", "p", "INSERT INTO my_digis_enqueue_log VALUES (1)"),
        ];
        let v = judge(&o, &expected("aa"), Backend::Sqlite);
        assert_eq!(v.checks[2].level, Level::Ok, "{:?}", v.checks[2]);
        starts(&v, 2, "1 trigger(s) on subscription");
    }

    #[test]
    fn words_are_matched_whole() {
        assert!(mentions("PERFORM f_q(1)", "f_q"));
        assert!(!mentions("PERFORM f_q2(1)", "f_q"));
        assert!(!mentions("PERFORM xf_q(1)", "f_q"));
    }
}
