//! Issue 25, item 1: a membership schema with other names is supported through a host adapter
//! (`[host] adapter`, docs/contracts.md, Host adapter), not by editing a checksummed migration.
//! On both databases, through the real binary: the example schema of assets/examples/ (every
//! table and column renamed) with its adapter, then delivery, search, export, preview and the
//! dashboard's reads; an edited adapter is applied again and an unchanged one is not; a failing
//! adapter names its file, statement and the database's error, and applies nothing.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use digis_relay::config::Config;
use digis_relay::domain::OutboxState;
use digis_relay::storage::adapter;
use digis_relay::tui::app::{App, Environment};
use digis_relay::tui::effects::{settle, Executor};
use digis_relay::tui::message::Msg;
use digis_relay::tui::screens::search::SearchResult;
use ratatui::crossterm::event::KeyCode;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{typed, with_config, Kind, Out, TestConfig, TestDb};

const TOKEN: &str = "HOSTADAPTERTOKEN";

fn club_schema(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../assets/examples/club-schema.sqlite.sql"),
        Kind::Postgres => include_str!("../../assets/examples/club-schema.postgres.sql"),
    }
}

fn club_adapter(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../assets/examples/club-adapter.sqlite.sql"),
        Kind::Postgres => include_str!("../../assets/examples/club-adapter.postgres.sql"),
    }
}

fn reference_adapter(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../assets/host-adapter.sqlite.sql"),
        Kind::Postgres => include_str!("../../assets/host-adapter.postgres.sql"),
    }
}

/// The operator's copy of an adapter, in the test's folder.
fn adapter_file(db: &TestDb, text: &str) -> PathBuf {
    let path = db.dir.path().join("my-adapter.sql");
    std::fs::write(&path, text).unwrap();
    path
}

fn write_config(db: &TestDb, digis_url: &str, adapter: Option<&Path>) -> PathBuf {
    let mut config = TestConfig {
        digis_url_postfix: Some(format!("brp?token={TOKEN}")),
        ..TestConfig::relay_to(db, digis_url)
    }
    .with("[relay]\nrelay_id = \"adapter-relay\"\n");
    if let Some(a) = adapter {
        config
            .host
            .insert("adapter".into(), a.display().to_string().into());
    }
    let path = config.write_in(db);
    // It holds the Digis token: doctor refuses a file others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn bin(config: &Path, args: &[&str]) -> Out {
    Out::of(
        with_config(config)
            .current_dir(config.parent().unwrap())
            .args(args),
    )
}

/// `migrate`, which must succeed and print `says`.
fn migrate_saying(config: &Path, says: &str) -> Out {
    let out = bin(config, &["migrate"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.both());
    assert!(
        out.stdout.contains(says),
        "migrate must say {says:?}:\n{}",
        out.both()
    );
    out
}

/// A bare database with the example schema, and the operator's copy of its adapter.
async fn club_database(kind: Kind) -> (TestDb, PathBuf) {
    let db = TestDb::bare(kind).await;
    db.exec(club_schema(kind)).await;
    let path = adapter_file(&db, club_adapter(kind));
    (db, path)
}

/// A Digis that accepts every member.
async fn digis_accepting() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"Id": "E-1"})))
        .mount(&server)
        .await;
    server
}

/// The example schema's members: Åsa (7) and Bo (8) hold membership 863 (active), Cia (9)
/// holds 864 (paused).
async fn club_members(db: &TestDb) {
    db.exec(
        "INSERT INTO club (club_no, club_name) VALUES (1, 'Klubben Centrum');
         INSERT INTO member (member_no, home_club, given_name, family_name, born, gender, mail, mail_ok, sms_ok, phone_cc, phone, card)
         VALUES (7, 1, 'Åsa', 'Lindström', '1990-05-17', 'F', 'Asa.Lindstrom@Example.se', true, true, '46', '070-123 45 67', '0034231452'),
                (8, 1, 'Bo', 'Berg', '1985-01-02', 'M', 'bo@example.se', false, true, '46', '070-222 33 44', '0034231453'),
                (9, 1, 'Cia', 'Ek', '1970-03-04', NULL, 'cia@example.se', true, true, '46', '070-555 66 77', '0034231454');
         INSERT INTO member_address (member_no, street, zip, town, country)
         VALUES (7, 'Storgatan 1', '111 22', 'Stockholm', 'SE'), (8, 'Lillgatan 2', '222 33', 'Lund', 'SE');
         INSERT INTO membership (membership_no, state, valid_from, valid_to) VALUES (863, 'active', '2026-01-01', '2027-12-31');
         INSERT INTO membership (membership_no, state, valid_from) VALUES (864, 'paused', '2026-01-01');
         INSERT INTO membership_holder (membership_no, member_no) VALUES (863, 7), (863, 8), (864, 9);",
    )
    .await;
}

async fn pairs(db: &TestDb) -> Vec<(i64, i64, String)> {
    db.outbox().await
}

/// No table of the reference schema exists: whatever works below works through the adapter.
async fn no_reference_table(db: &TestDb) {
    for table in digis_relay::storage::HOST_TABLES {
        let n = match db.kind {
            Kind::Sqlite => {
                db.scalar(&format!(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name = '{table}'"
                ))
                .await
            }
            Kind::Postgres => {
                db.scalar(&format!(
                    "SELECT COUNT(*) FROM pg_class WHERE relname = '{table}'"
                ))
                .await
            }
        };
        assert_eq!(n, 0, "{table} exists");
    }
}

async fn a_schema_with_other_names_runs_every_surface(kind: Kind) {
    let (db, path) = club_database(kind).await;
    let server = digis_accepting().await;
    let config = write_config(&db, &server.uri(), Some(&path));

    migrate_saying(
        &config,
        &format!(
            "host adapter applied: {} (sha384 {})",
            path.display(),
            &adapter::checksum(club_adapter(kind))[..12]
        ),
    );
    no_reference_table(&db).await;
    // doctor judges the adapter by its views and triggers, not by the reference names: no
    // "host tables missing" or "triggers missing" for a schema with other names.
    let doctor = bin(&config, &["doctor", "--no-network"]);
    assert!(
        doctor.stdout.lines().any(|l| l.starts_with("0 error(s)")),
        "doctor on an adapted schema:\n{}",
        doctor.both()
    );

    // The triggers queue what the reference triggers would: the active membership's holders.
    club_members(&db).await;
    assert_eq!(
        pairs(&db).await,
        vec![(863, 7, "pending".into()), (863, 8, "pending".into())]
    );

    // preview: the payload, mapped from the renamed columns and translated values.
    let preview = bin(&config, &["preview", "--subscription", "863"]);
    assert_eq!(preview.status.code(), Some(0), "{}", preview.both());
    let payloads: Vec<Value> = preview
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(payloads.len(), 2, "{}", preview.stdout);
    let asa = &payloads[0];
    assert_eq!(asa["FirstName"], "Åsa");
    assert_eq!(asa["LastName"], "Lindström");
    assert_eq!(asa["Gender"], "Female");
    assert_eq!(asa["DOB"], "1990-05-17");
    assert_eq!(asa["MobileCountryCode"], "46");
    assert_eq!(asa["MobileNumber"], "701234567");
    assert_eq!(asa["ExtInfo1"], 863);
    assert_eq!(asa["ExtInfo2"], "Klubben Centrum");
    assert_eq!(asa["ExtInfo4"], 7);
    assert_eq!(asa["ExtInfo5"], "2027-12-31");
    assert_eq!(asa["ExtInfo20"], "0034231452");
    assert_eq!(asa["ISOCountryCode"], "SE");
    assert_eq!(asa["City"], "Stockholm");
    assert_eq!(payloads[1]["Gender"], "Male");
    assert_eq!(payloads[1]["IsEmailOptIn"], false);

    // Delivery through the real binary.
    let run = bin(&config, &["run", "--once"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.both());
    assert_eq!(
        pairs(&db).await,
        vec![(863, 7, "sent".into()), (863, 8, "sent".into())]
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["ExtInfo20"], "0034231452");

    // Saving again queues nothing (delivered); activating 864 queues its holder; a new holder
    // of an active membership is queued; a paused one's is not.
    db.exec("UPDATE membership SET note = 'saved' WHERE membership_no = 863")
        .await;
    assert_eq!(pairs(&db).await.len(), 2);
    db.exec("UPDATE membership SET state = 'active' WHERE membership_no = 864")
        .await;
    db.exec("INSERT INTO membership_holder (membership_no, member_no) VALUES (863, 9)")
        .await;
    db.exec("UPDATE membership SET state = 'paused' WHERE membership_no = 864")
        .await;
    assert_eq!(
        pairs(&db).await[2..],
        [(864, 9, "pending".into()), (863, 9, "pending".into())]
    );

    // search, by every key, reads the renamed tables through digis_person / digis_member.
    for (args, person) in [
        (vec!["--ext-info20", "0034231452"], 7),
        (vec!["--phone", "070-123 45 67"], 7),
        (vec!["--email", "asa.lindstrom@example.se"], 7),
        (vec!["--name", "Lindström"], 7),
        (vec!["--name", "bo berg"], 8),
    ] {
        let mut all = vec!["search"];
        all.extend(&args);
        all.push("--json");
        let out = bin(&config, &all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", out.both());
        let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        let verdicts = v["verdicts"].as_array().unwrap();
        assert!(
            verdicts
                .iter()
                .any(|x| x["person_id"] == person && x["verdict"] == "sent"),
            "{args:?}: {v}"
        );
    }
    let by_sub = bin(&config, &["search", "--ext-info1", "863", "--json"]);
    assert_eq!(by_sub.status.code(), Some(0), "{}", by_sub.both());
    let v: Value = serde_json::from_str(by_sub.stdout.trim()).unwrap();
    let mut people: Vec<i64> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["person_id"].as_i64().unwrap())
        .collect();
    people.sort();
    assert_eq!(people, vec![7, 8, 9], "{v}");

    // export DigisAllActive: every holder of an active membership.
    let export = bin(&config, &["export", "DigisAllActive", "--format", "json"]);
    assert_eq!(export.status.code(), Some(0), "{}", export.both());
    let all: Value = serde_json::from_str(export.stdout.trim()).unwrap();
    let mut exported: Vec<(i64, i64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["ExtInfo1"].as_i64().unwrap(),
                m["ExtInfo4"].as_i64().unwrap(),
            )
        })
        .collect();
    exported.sort();
    assert_eq!(exported, vec![(863, 7), (863, 8), (863, 9)]);

    // The dashboard's reads: the outbox page, a row's detail with its payload, the search view.
    let cfg = Arc::new(Config {
        database_url: db.url.clone(),
        log_dir: db.dir.path().join("logs"),
        ..Config::default()
    });
    let mut app = App::new(Environment::from_config(&cfg, false, true), Utc::now(), 30);
    let exec = Executor::new(db.storage(), cfg);
    settle(&mut app, &exec, Msg::Tick(Utc::now())).await;
    assert!(app.page.loaded);
    assert_eq!(app.page.rows.len(), 4);
    let counts = app.counts.unwrap();
    assert_eq!((counts.sent, counts.pending), (2, 2));
    let asa = app
        .page
        .rows
        .iter()
        .position(|r| r.person_id.0 == 7)
        .unwrap();
    assert_eq!(
        app.page.rows[asa].card_number.as_deref(),
        Some("0034231452")
    );
    app.selected = asa;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    match &app.detail.as_ref().expect("Enter opens the detail").data {
        Some(Ok(d)) => {
            let payload = d.payload.as_ref().expect("the payload builds");
            assert!(
                payload.contains(&("FirstName".to_string(), "\"Åsa\"".to_string())),
                "{payload:?}"
            );
            assert_eq!(d.row.state, OutboxState::Sent);
        }
        other => panic!("detail not loaded: {other:?}"),
    }
    settle(&mut app, &exec, Msg::key(KeyCode::Esc)).await;
    for input in ["0034231452", "070-123 45 67", "lindström"] {
        for msg in typed(input) {
            settle(&mut app, &exec, msg).await;
        }
        match &app.search.result {
            SearchResult::Done { lines, .. } => {
                let text = lines.join("\n");
                assert!(text.contains("person 7"), "{input}: {text}");
                assert!(text.contains("SENT"), "{input}: {text}");
            }
            other => panic!("{input}: no result: {other:?}"),
        }
    }
}

/// What `digis_host_adapter` holds: (source, checksum, applied_at as text).
async fn record(db: &TestDb) -> (String, String) {
    let a = db
        .storage()
        .applied_adapter()
        .await
        .unwrap()
        .expect("an adapter is recorded");
    (a.source, a.checksum)
}

/// An unchanged adapter is not applied again; an edited one is, and its edit takes effect.
async fn an_edited_adapter_is_applied_again(kind: Kind) {
    let (db, path) = club_database(kind).await;
    let config = write_config(&db, "http://127.0.0.1:9", Some(&path));
    migrate_saying(&config, "host adapter applied");
    let recorded = record(&db).await;
    assert_eq!(
        recorded,
        (
            path.display().to_string(),
            adapter::checksum(club_adapter(kind))
        )
    );
    let applied_at = db
        .storage()
        .applied_adapter()
        .await
        .unwrap()
        .unwrap()
        .applied_at;

    migrate_saying(
        &config,
        &format!("host adapter unchanged: {}", path.display()),
    );
    let same = db.storage().applied_adapter().await.unwrap().unwrap();
    assert_eq!(
        (same.checksum.as_str(), same.applied_at),
        (recorded.1.as_str(), applied_at),
        "nothing was applied"
    );

    // The operator edits the adapter: the unit's name is shown upper-case.
    let edited = club_adapter(kind).replacen(
        "c.club_name          AS unit_name",
        "upper(c.club_name)   AS unit_name",
        1,
    );
    assert_ne!(edited, club_adapter(kind), "the line to edit was found");
    std::fs::write(&path, &edited).unwrap();
    migrate_saying(
        &config,
        &format!(
            "host adapter applied: {} (sha384 {}), replacing sha384 {}",
            path.display(),
            &adapter::checksum(&edited)[..12],
            &recorded.1[..12]
        ),
    );
    assert_eq!(record(&db).await.1, adapter::checksum(&edited));
    club_members(&db).await;
    let preview = bin(
        &config,
        &["preview", "--subscription", "863", "--person", "7"],
    );
    assert_eq!(preview.status.code(), Some(0), "{}", preview.both());
    let v: Value = serde_json::from_str(preview.stdout.trim()).unwrap();
    assert_eq!(v["ExtInfo2"], "KLUBBEN CENTRUM");
}

/// A trigger the adapter creates and the host dropped (an SQLite table rebuilt with the ALTER
/// recipe loses its triggers) is put back by the next `migrate`: before, an unchanged checksum
/// and present views said "unchanged" while saves queued nobody.
async fn a_dropped_trigger_is_put_back_by_migrate(kind: Kind) {
    let (db, path) = club_database(kind).await;
    let config = write_config(&db, "http://127.0.0.1:9", Some(&path));
    let first = bin(&config, &["migrate"]);
    assert_eq!(first.status.code(), Some(0), "{}", first.both());
    let (drop, count) = match kind {
        Kind::Sqlite => (
            "DROP TRIGGER digis_subscription_user_added",
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'digis_subscription_user_added'",
        ),
        Kind::Postgres => (
            "DROP TRIGGER digis_subscription_user_added ON membership_holder",
            "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'digis_subscription_user_added'",
        ),
    };
    db.exec(drop).await;
    assert_eq!(db.scalar(count).await, 0);
    // doctor names it (the metric's state follows the same verdict).
    let doctor = bin(&config, &["doctor", "--no-network"]);
    assert!(
        doctor.stdout.lines().any(|l| l.starts_with("error")
            && l.contains("adapter triggers")
            && l.contains("digis_subscription_user_added")),
        "doctor must name the missing trigger:\n{}",
        doctor.both()
    );
    // A missing trigger makes migrate apply the adapter again.
    migrate_saying(&config, "host adapter applied");
    assert_eq!(db.scalar(count).await, 1, "the trigger is back");
    // And once it is there, nothing is applied.
    migrate_saying(&config, "host adapter unchanged");
}

/// An adapter whose tables are not there: one line naming the file, the statement, its line and
/// the database's error, with what to do; nothing of the adapter is applied.
async fn a_failing_adapter_names_its_statement(kind: Kind) {
    let db = TestDb::bare(kind).await;
    let path = adapter_file(&db, club_adapter(kind));
    let config = write_config(&db, "http://127.0.0.1:9", Some(&path));
    let out = bin(&config, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.both());
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.both());
    let line = lines[0];
    // PostgreSQL refuses the view over a missing table; SQLite creates it (a view is checked
    // when read) and refuses the first trigger on a missing table.
    let failing = match kind {
        Kind::Postgres => "statement 2 (line 8: `CREATE VIEW digis_member AS …`)".to_string(),
        Kind::Sqlite => {
            let text = club_adapter(kind);
            let at = text
                .find("CREATE TRIGGER digis_subscription_inserted")
                .unwrap();
            format!(
                "statement 8 (line {}: `CREATE TRIGGER digis_subscription_inserted AFTER INSERT ON membership …`)",
                text[..at].lines().count() + 1
            )
        }
    };
    for part in [
        &format!("host adapter {}", path.display()),
        failing.as_str(),
        "membership",
        "[host] adapter",
        "migrate --host-schema",
    ] {
        assert!(line.contains(part), "{part:?} not in: {line}");
    }
    assert!(db.storage().applied_adapter().await.unwrap().is_none());
    let report = db.storage().schema_report().await.unwrap();
    assert!(!report.view_present, "half an adapter was applied");
    // The relay's own tables are there: they name no host table.
    assert!(report.relay_tables_missing.is_empty(), "{report:?}");
}

/// The README's route (issue 25, item 1): on a database migrated with the reference adapter, the
/// operator copies it, edits it (a comment and the view) and points `[host] adapter` at the
/// copy. It used to be an edit of migration 0001, which `migrate` then refused ("migration 1
/// was previously applied but has been modified").
async fn the_readme_route_edits_a_copy_of_the_reference_adapter(kind: Kind) {
    let db = TestDb::new(kind).await;
    db.active_with(863, &[7]).await;
    let edited = reference_adapter(kind)
        .replacen(
            "-- The reference host adapter",
            "-- Our gym's adapter, from the reference host adapter",
            1,
        )
        .replacen(
            "u.name                AS unit_name",
            "'Gym ' || u.name      AS unit_name",
            1,
        );
    assert_ne!(edited, reference_adapter(kind));
    let path = adapter_file(&db, &edited);
    let server = digis_accepting().await;
    let config = write_config(&db, &server.uri(), Some(&path));
    migrate_saying(&config, "host adapter applied");
    let run = bin(&config, &["run", "--once"]);
    assert_eq!(run.status.code(), Some(0), "{}", run.both());
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["ExtInfo2"], "Gym Stamina Centrum");
    // The triggers of the copy queue a save as before.
    db.active_with(864, &[8]).await;
    assert_eq!(
        pairs(&db).await,
        vec![(863, 7, "sent".into()), (864, 8, "pending".into())]
    );
}

/// A view that lacks a column the relay reads: SQLite creates it, PostgreSQL too (the column is
/// only named by the relay's statements). `migrate` reads every column before it records the
/// adapter, so the error names the view and nothing is applied, instead of every claim failing.
async fn a_view_missing_a_column_is_refused(kind: Kind) {
    let db = TestDb::bare(kind).await;
    db.exec(club_schema(kind)).await;
    let broken = club_adapter(kind).replacen(
        "c.club_name          AS unit_name",
        "c.club_name          AS club",
        1,
    );
    assert_ne!(broken, club_adapter(kind));
    let path = adapter_file(&db, &broken);
    let config = write_config(&db, "http://127.0.0.1:9", Some(&path));
    let out = bin(&config, &["migrate"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.both());
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("the view digis_member cannot be read as the relay reads it"),
        "{line}"
    );
    assert!(line.contains("unit_name"), "{line}");
    assert!(
        line.contains("nothing of the adapter was applied"),
        "{line}"
    );
    assert!(db.storage().applied_adapter().await.unwrap().is_none());
    assert!(!db.storage().schema_report().await.unwrap().view_present);
}

/// An installation migrated before the host adapter: the migrations of the last release before
/// it (tests/fixtures/pre-0010, recorded in `_sqlx_migrations` as that release did), whose 0001
/// and 0006 made the view and the triggers. `migrate` carries the bookkeeping over and applies
/// the reference adapter over those objects: same names, no error, the triggers now the
/// adapter's (calling the enqueue entry point), queueing as before.
async fn an_installation_from_before_the_adapter_is_carried_over(kind: Kind) {
    use crate::common::{host_schema, pre_0010, run_default};
    let db = TestDb::bare(kind).await;
    db.exec(host_schema(kind)).await;
    let released = sqlx::migrate::Migrator::new(pre_0010(kind)).await.unwrap();
    run_default(&db, &released).await;
    // The old triggers queue; the pair is then delivered.
    db.active_with(863, &[7]).await;
    assert_eq!(pairs(&db).await, vec![(863, 7, "pending".into())]);
    db.exec("UPDATE digis_outbox SET state = 'sent'").await;

    let config = write_config(&db, "http://127.0.0.1:9", None);
    migrate_saying(
        &config,
        "host adapter applied: reference (assets/host-adapter.",
    );
    let (source, checksum) = record(&db).await;
    assert!(source.starts_with("reference"), "{source}");
    assert_eq!(checksum, adapter::checksum(reference_adapter(kind)));

    // The same triggers by name, now the adapter's bodies.
    let (triggers, adapted) = match kind {
        Kind::Sqlite => (
            db.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('subscription', 'subscription_user')",
            )
            .await,
            db.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%digis_enqueue_request%' AND tbl_name IN ('subscription', 'subscription_user')",
            )
            .await,
        ),
        Kind::Postgres => (
            db.scalar(
                "SELECT COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND c.relname IN ('subscription', 'subscription_user')",
            )
            .await,
            db.scalar(
                "SELECT COUNT(*) FROM pg_proc WHERE proname IN ('digis_subscription_user_added', 'digis_queue_subscription') AND prosrc LIKE '%digis_enqueue(%' AND prosrc NOT LIKE '%INSERT INTO digis_outbox%'",
            )
            .await,
        ),
    };
    // PostgreSQL since 0012: INSERT and UPDATE of subscription are two statement-level triggers
    // on one function (a transition table serves one event), beside the users' one.
    let (expected_triggers, expected_adapted) = match kind {
        Kind::Sqlite => (3, 3),
        Kind::Postgres => (3, 2),
    };
    assert_eq!(triggers, expected_triggers, "no trigger twice, none lost");
    assert_eq!(adapted, expected_adapted, "the adapter's bodies");

    // Queueing as before: a delivered pair is not queued again, a new user is.
    db.save(863).await;
    db.person(8).await;
    db.add_user(863, 8).await;
    assert_eq!(
        pairs(&db).await,
        vec![(863, 7, "sent".into()), (863, 8, "pending".into())]
    );
}

crate::both_kinds!(
    a_schema_with_other_names_runs_every_surface,
    a_dropped_trigger_is_put_back_by_migrate,
    an_edited_adapter_is_applied_again,
    a_failing_adapter_names_its_statement,
    the_readme_route_edits_a_copy_of_the_reference_adapter,
    a_view_missing_a_column_is_refused,
    an_installation_from_before_the_adapter_is_carried_over,
);
