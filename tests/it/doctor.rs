//! `doctor` against a good setup and each broken one, through the real binary.

use chrono::Utc;
use digis_relay::storage::RelayInfo;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::both_databases;
use crate::common::{both, cli, running_relay, Kind, TestDb};

fn doctor(dir: &std::path::Path, database_url: &str, toml: &str) -> (bool, String) {
    let cfg = dir.join("doctor.toml");
    std::fs::write(&cfg, format!("database_url = \"{database_url}\"\n{toml}")).unwrap();
    // It holds tokens: readable by others, doctor says so (tests/it/doctor_checks.rs).
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&cfg, private).unwrap();
    let out = cli(&cfg, &["doctor"]);
    (out.status.success(), both(&out))
}

async fn good_toml() -> (MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    let toml = format!(
        "digisUrl = \"{}\"\ndigisUrlPostfix = \"brp?token=DOCTOR-SECRET\"\n[export]\ntoken = \"EXPORT-SECRET-0123456789\"\n",
        server.uri()
    );
    (server, toml)
}

fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| {
            l.split_whitespace().nth(1) == Some(name.split_whitespace().next().unwrap())
                && l.contains(name)
        })
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
}

both_databases!(
    good_setup_is_all_ok,
    not_migrated_and_missing_triggers_are_errors
);

async fn good_setup_is_all_ok(db: TestDb) {
    db.storage
        .heartbeat(&RelayInfo {
            hostname: "h".into(),
            version: "x".into(),
            ..running_relay("r1", Utc::now())
        })
        .await
        .unwrap();
    let (_server, toml) = good_toml().await;
    let (ok, text) = doctor(db.dir.path(), &db.url, &toml);
    assert!(ok, "{text}");
    assert!(text.contains("0 error(s), 0 warning(s)"), "{text}");
    for name in [
        "useDigis",
        "digis url",
        "digis token",
        "database",
        "migrated",
        "view",
        "triggers",
        "clock",
        "relay",
        "digis reachable",
    ] {
        assert!(line(&text, name).starts_with("ok"), "{name}: {text}");
    }
    assert!(
        !text.contains("DOCTOR-SECRET") && !text.contains("EXPORT-SECRET"),
        "{text}"
    );
    assert!(text.contains("token=***"));
}

async fn not_migrated_and_missing_triggers_are_errors(db: TestDb) {
    let (_server, toml) = good_toml().await;
    let trigger = match db.kind {
        Kind::Sqlite => "DROP TRIGGER digis_subscription_user_added",
        Kind::Postgres => "DROP TRIGGER digis_subscription_user_added ON subscription_user",
    };
    db.exec(trigger).await;
    let (ok, text) = doctor(db.dir.path(), &db.url, &toml);
    assert!(!ok);
    assert!(line(&text, "triggers").starts_with("error"), "{text}");
    assert!(line(&text, "triggers").contains("digis_subscription_user_added"));
    // Relay tables gone: not migrated.
    db.exec("DROP VIEW digis_member").await;
    db.exec("DROP TABLE digis_attempt").await;
    let (ok, text) = doctor(db.dir.path(), &db.url, &toml);
    assert!(!ok);
    assert!(
        line(&text, "migrated").starts_with("error") && text.contains("digis-relay migrate"),
        "{text}"
    );
    assert!(line(&text, "view").starts_with("error"), "{text}");
}

#[tokio::test]
async fn no_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, toml) = good_toml().await;
    let missing = format!("sqlite://{}", dir.path().join("nope/x.db").display());
    let (ok, text) = doctor(dir.path(), &missing, &toml);
    assert!(!ok);
    assert!(
        line(&text, "database").starts_with("error") && text.contains("does not exist"),
        "{text}"
    );
    let (ok, text) = doctor(dir.path(), "postgres://postgres@127.0.0.1:1/nothing", &toml);
    assert!(!ok);
    assert!(line(&text, "database").contains("unreachable"), "{text}");
}

#[tokio::test]
async fn missing_token_and_invalid_url() {
    let db = TestDb::sqlite().await;
    let (server, _) = good_toml().await;
    let (ok, text) = doctor(
        db.dir.path(),
        &db.url,
        &format!(
            "digisUrl = \"{}\"\ndigisUrlPostfix = \"brp\"\n",
            server.uri()
        ),
    );
    assert!(!ok);
    assert!(line(&text, "digis token").starts_with("error"), "{text}");
    // An invalid URL is a configuration error: one line naming the key.
    let (ok, text) = doctor(
        db.dir.path(),
        &db.url,
        "digisUrl = \"not a url\"\ndigisUrlPostfix = \"brp?token=x\"\n",
    );
    assert!(!ok);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("`digisUrl`"), "{text}");
}
