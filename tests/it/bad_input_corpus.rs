//! The bad-input corpus (issue 10, docs/untrusted-edges.md): host records of our own
//! making, each an ordinary member with one odd value, through `run --once` (the real binary
//! against the project's fake Digis), `preview`, `export DigisAllActive` and `search`. Each gives a
//! valid payload or that row's clear error, and the good rows beside them are sent.
use std::collections::BTreeSet;

use digis_relay::domain::OutboxState;
use digis_relay::fake_digis::{self, FakeConfig};

use crate::both_databases;
use crate::common::{all_rows, with_config, Kind, Person, TestConfig, TestDb, TOKEN};

/// Every corpus member uses this subscription, so one preview and one search cover them.
const SUB: i64 = 5000;

#[derive(Debug, Clone)]
enum Expect {
    Good,
    /// Fails with an error containing this (a payload key or `column <name>`).
    Bad(&'static str),
}

struct Case {
    what: String,
    /// SQL run after the ordinary member `{P}` exists; `{P}` is replaced by the person id.
    sql: String,
    expect: Expect,
}

fn ctl(kind: Kind, n: u32) -> String {
    match kind {
        Kind::Sqlite => format!("char({n})"),
        Kind::Postgres => format!("chr({n})"),
    }
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The corpus: for each field, values that must pass and values that must fail.
fn corpus(kind: Kind) -> Vec<Case> {
    use Expect::*;
    let sqlite = kind == Kind::Sqlite;
    let mut cases = Vec::new();
    let mut add =
        |what: String, sql: String, expect: Expect| cases.push(Case { what, sql, expect });
    // (table, column, payload key, length cap)
    let texts = [
        ("person", "first_name", "FirstName", 200),
        ("person", "last_name", "LastName", 200),
        ("person", "email", "Email", 254),
        ("address", "street_address", "Address", 200),
        ("address", "postal_city", "City", 200),
        ("address", "postal_code", "Zip", 20),
    ];
    for (table, col, key, cap) in texts {
        let key_col = if table == "person" { "id" } else { "person_id" };
        let set = |v: String| format!("UPDATE {table} SET {col} = {v} WHERE {key_col} = {{P}}");
        let mut values: Vec<(String, String, Expect)> = vec![
            ("padded".into(), lit("  Anna  "), Good),
            ("quotes and å".into(), lit("Åsa \"K\" Ö'B"), Good),
            ("empty".into(), lit(""), Good),
            ("NULL".into(), "NULL".into(), Good),
            (
                "tab inside".into(),
                format!("'Ann' || {} || 'a'", ctl(kind, 9)),
                Good,
            ),
            (
                "line break inside".into(),
                format!("'Ann' || {} || 'a'", ctl(kind, 10)),
                Good,
            ),
            ("at the cap".into(), lit(&"a".repeat(cap)), Good),
            (
                "one over the cap".into(),
                lit(&"a".repeat(cap + 1)),
                Bad(key),
            ),
            (
                "10,000 characters".into(),
                lit(&"b".repeat(10_000)),
                Bad(key),
            ),
            (
                "ESC".into(),
                format!("'A' || {} || '[2J'", ctl(kind, 27)),
                Bad(key),
            ),
            ("DEL".into(), format!("'A' || {}", ctl(kind, 127)), Bad(key)),
            ("SOH".into(), format!("{} || 'A'", ctl(kind, 1)), Bad(key)),
            (
                "C1 CSI".into(),
                format!("'A' || {}", ctl(kind, 155)),
                Bad(key),
            ),
        ];
        if sqlite {
            values.push(("NUL".into(), format!("'A' || {}", ctl(kind, 0)), Bad(key)));
            values.push((
                "Latin-1 bytes as TEXT".into(),
                "CAST(X'4AF6726E' AS TEXT)".into(),
                Bad(col_name(col)),
            ));
            values.push(("a BLOB of UTF-8".into(), "X'416E6E61'".into(), Good));
        }
        for (what, v, e) in values {
            add(format!("{col}: {what}"), set(v), e);
        }
    }
    let phone = |v: String| format!("UPDATE person SET mobile_number = {v} WHERE id = {{P}}");
    for (v, e) in [
        ("'+46701234567'", Good),
        ("'0046 70 1234567'", Good),
        ("'070.123.45.67'", Good),
        ("'(070) 123 45 67'", Good),
        ("'07O1234008'", Bad("MobileNumber: contains a letter")),
        ("'n/a'", Bad("MobileNumber")),
        ("'08-123 456 78'", Bad("MobileNumber: not a mobile")),
        ("''", Bad("MobileNumber: no mobile number")),
        ("NULL", Bad("MobileNumber: no mobile number")),
    ] {
        add(format!("mobile_number = {v}"), phone(v.into()), e);
    }
    add(
        "mobile_number: 10,000 digits".into(),
        phone(lit(&"7".repeat(10_000))),
        Bad("MobileNumber: too long"),
    );
    add(
        "mobile_number: ESC".into(),
        phone(format!("'070' || {} || '1234567'", ctl(kind, 27))),
        Bad("MobileNumber: contains a character"),
    );
    let dob = |v: &str| format!("UPDATE person SET birth_date = {v} WHERE id = {{P}}");
    let mut dates = vec![
        ("'1990-05-17'", Good),
        ("NULL", Good),
        ("'2090-01-01'", Bad("DOB: a birth date in the future")),
        ("'1899-12-31'", Bad("DOB: a birth date before 1900")),
        ("'5874897-12-31'", Bad("DOB: not a date")),
    ];
    if sqlite {
        dates.extend([
            ("'1990-02-30'", Bad("DOB: not a calendar date")),
            ("'17/05/1990'", Bad("DOB: not a date")),
            ("'1990-05-17 00:00:00'", Good),
            ("19900517", Bad("DOB")),
        ]);
    }
    for (v, e) in dates {
        add(format!("birth_date = {v}"), dob(v), e);
    }
    for col in ["allow_sms", "allow_email"] {
        let flags: Vec<(&str, Expect)> = if sqlite {
            vec![
                ("0", Good),
                ("1", Good),
                ("'true'", Good),
                ("'FALSE'", Good),
                ("2", Bad(col_name(col))),
                ("'yes'", Bad(col_name(col))),
                ("0.5", Bad(col_name(col))),
            ]
        } else {
            vec![("true", Good), ("false", Good)]
        };
        for (v, e) in flags {
            add(
                format!("{col} = {v}"),
                format!("UPDATE person SET {col} = {v} WHERE id = {{P}}"),
                e,
            );
        }
    }
    let card = |v: String| format!("UPDATE person SET card_number = {v} WHERE id = {{P}}");
    for (v, e) in [
        (lit("00{P}"), Good),
        (lit("AB-{P}"), Good),
        (lit(&format!("{}{{P}}", "9".repeat(60))), Good),
        (
            lit("1234 5678"),
            Bad("ExtInfo20: card number contains a space"),
        ),
        (
            lit(&"9".repeat(65)),
            Bad("ExtInfo20: card number is too long"),
        ),
        (
            format!(
                "'1' || {} || 'ExtInfo1:424242, ExtInfo20:31337 outcome=sent'",
                ctl(kind, 10)
            ),
            Bad("ExtInfo20"),
        ),
        (lit(""), Bad("ExtInfo20: no card number")),
        ("NULL".into(), Bad("ExtInfo20: no card number")),
    ] {
        add(format!("card_number = {v}"), card(v), e);
    }
    for (v, e) in [("'male'", Good), ("'X'", Good), ("NULL", Good)] {
        add(
            format!("sex = {v}"),
            format!("UPDATE person SET sex = {v} WHERE id = {{P}}"),
            e,
        );
    }
    if sqlite {
        add(
            "unit_id = 'abc'".into(),
            "UPDATE person SET unit_id = 'abc' WHERE id = {P}".into(),
            Bad("column unit_id is not an integer"),
        );
        add(
            "mobile_number stored as a number".into(),
            phone("701234567".into()),
            Good,
        );
        add("card stored as a number".into(), card("34{P}".into()), Good);
    } else {
        add(
            "unit_id = -5".into(),
            "INSERT INTO business_unit (id, name) VALUES (-{P}, 'Minus'); \
             UPDATE person SET unit_id = -{P} WHERE id = {P}"
                .into(),
            Bad("ExtInfo3: the unit id is not positive"),
        );
    }
    cases
}

fn col_name(col: &str) -> &'static str {
    match col {
        "first_name" => "column first_name",
        "last_name" => "column last_name",
        "email" => "column email",
        "street_address" => "column street_address",
        "postal_city" => "column postal_city",
        "postal_code" => "column postal_code",
        "allow_sms" => "column allow_sms",
        "allow_email" => "column allow_email",
        _ => unreachable!("{col}"),
    }
}

/// Host writes as a membership system without foreign keys would make them (SQLite).
async fn host(db: &TestDb, sql: &str) {
    match db.kind {
        Kind::Sqlite => db.exec(&format!("PRAGMA foreign_keys = OFF; {sql}")).await,
        Kind::Postgres => db.exec(sql).await,
    }
}

fn write_config(db: &TestDb, digis_url: &str) -> std::path::PathBuf {
    TestConfig::relay_to(db, digis_url).write_in(db)
}

fn bin(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    with_config(config).args(args).output().unwrap()
}

both_databases!(bad_input_corpus);

async fn bad_input_corpus(db: TestDb) {
    let cases = corpus(db.kind);
    let first = 1000;
    db.subscription(SUB, "PAUSED").await;
    for (i, c) in cases.iter().enumerate() {
        let p = first + i as i64;
        db.person(p).await;
        host(&db, &c.sql.replace("{P}", &p.to_string())).await;
        db.add_user(SUB, p).await;
    }
    // Ids the type system lets through: a non-positive subscription and person, and on
    // SQLite text and a real in `subscription_user.person_id` (the outbox copies them).
    let mut special: Vec<(String, Expect)> = Vec::new();
    db.person(1).await;
    host(
        &db,
        "INSERT INTO subscription (id, status, start_date) VALUES (-7, 'ACTIVE', '2026-01-01'); \
               INSERT INTO subscription_user (subscription_id, person_id) VALUES (-7, 1)",
    )
    .await;
    special.push((
        "subscription -7".into(),
        Expect::Bad("ExtInfo1: the subscription id is not positive"),
    ));
    let mut minus = Person::ordinary(-3);
    minus.card_number = Some("34999997".into());
    minus.mobile_number = Some("070-123 45 67".into());
    db.person_with(&minus).await;
    db.active_with(6003, &[-3]).await;
    special.push((
        "person -3".into(),
        Expect::Bad("ExtInfo4: the person id is not positive"),
    ));
    if db.kind == Kind::Sqlite {
        db.subscription(6001, "ACTIVE").await;
        host(&db, "INSERT INTO subscription_user (subscription_id, person_id) VALUES (6001, 'abc'), (6001, 2000.5)").await;
        special.push((
            "person_id 'abc'".into(),
            Expect::Bad(
                "person <text> (as stored) (subscription 6001): column person_id is not an integer",
            ),
        ));
        special.push((
            "person_id 2000.5".into(),
            Expect::Bad(
                "person 2000.5 (as stored) (subscription 6001): column person_id is not an integer",
            ),
        ));
    }
    // Saving the subscription ACTIVE queues every user at once, as the membership system does.
    db.set_status(SUB, "ACTIVE").await;

    let good: BTreeSet<i64> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.expect, Expect::Good))
        .map(|(i, _)| first + i as i64)
        .collect();
    let inputs = cases.len() + special.len();

    let fake = fake_digis::start(
        "127.0.0.1:0",
        FakeConfig {
            token: Some(TOKEN.into()),
            rules: vec![],
            record: None,
        },
    )
    .await
    .unwrap();
    let config = write_config(&db, &fake.base_url());

    // run --once: the good ones are sent, each bad one fails alone, naming what is wrong.
    let out = bin(&config, &["run", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: BTreeSet<i64> = fake
        .received()
        .iter()
        .map(|r| r.body["ExtInfo4"].as_i64().unwrap())
        .collect();
    assert_eq!(sent, good, "Digis received exactly the good members");
    assert_eq!(fake.received().len(), good.len(), "each once");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| !r.state.is_open()),
        "nothing left pending or sending: {rows:?}"
    );
    let mut failed_unreadable = 0;
    let mut failed_payload = 0;
    for (i, c) in cases.iter().enumerate() {
        let p = first + i as i64;
        let row = rows
            .iter()
            .find(|r| r.person_id.0 == p)
            .unwrap_or_else(|| panic!("{}: no outbox row", c.what));
        match c.expect {
            Expect::Good => assert_eq!(row.state, OutboxState::Sent, "{}: {row:?}", c.what),
            Expect::Bad(want) => {
                assert_eq!(row.state, OutboxState::Failed, "{}", c.what);
                let err = row.last_error.clone().unwrap_or_default();
                assert!(
                    err.contains(want) && err.contains(&p.to_string()),
                    "{}: `{err}` should name person {p} and `{want}`",
                    c.what
                );
                if err.contains("column ") {
                    assert!(err.contains(&format!("outbox {}", row.id)), "{err}");
                    failed_unreadable += 1;
                } else {
                    failed_payload += 1;
                }
            }
        }
    }
    let special_failed: Vec<String> = rows
        .iter()
        .filter(|r| r.person_id.0 < first && r.state == OutboxState::Failed)
        .map(|r| r.last_error.clone().unwrap_or_default())
        .collect();
    for (what, e) in &special {
        let Expect::Bad(want) = e else { unreachable!() };
        assert!(
            special_failed.iter().any(|err| err.contains(want)),
            "{what}: no failed row says `{want}`: {special_failed:?}"
        );
        if want.contains("column") {
            failed_unreadable += 1;
        } else {
            failed_payload += 1;
        }
    }

    // preview: a payload line per good member, an error line naming each bad one.
    let out = bin(&config, &["preview", "--subscription", &SUB.to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let previewed: BTreeSet<i64> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["ExtInfo4"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(previewed, good);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), cases.len() - good.len(), "{stderr}");

    // export: the good members of active subscriptions, the rest skipped and counted.
    let out = bin(&config, &["export", "DigisAllActive", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let exported: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let exported: BTreeSet<i64> = exported
        .iter()
        .map(|v| v["ExtInfo4"].as_i64().unwrap())
        .collect();
    assert_eq!(exported, good);
    for v in serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap() {
        for (k, val) in v.as_object().unwrap() {
            if let Some(s) = val.as_str() {
                assert!(s != "null" && s.trim() == s, "{k}: {s:?}");
                assert!(!s.chars().any(char::is_control), "{k}: {s:?}");
            }
        }
    }

    // search: answers for the whole subscription, unreadable rows included.
    let out = bin(
        &config,
        &["search", "--ext-info1", &SUB.to_string(), "--json"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    if db.kind == Kind::Sqlite {
        assert!(
            stdout.contains("row cannot be read")
                && stdout.contains("column first_name is not valid UTF-8"),
            "{stdout}"
        );
    }
    assert!(report.to_string().contains(&first.to_string()));

    println!(
        "bad-input corpus ({:?}): {inputs} inputs tried: {} sent, {failed_payload} failed a payload check, {failed_unreadable} failed as unreadable host data",
        db.kind,
        good.len()
    );
    assert_eq!(good.len() + failed_payload + failed_unreadable, inputs);
}
