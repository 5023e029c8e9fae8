//! The schema and protocol handshake (docs/contracts.md), through the real binary on both
//! databases. Seen: a binary one migration ahead of its database failed with `no such column:
//! request_rate_milli` in `run`, `status` and `doctor` and never said to run `migrate`; and
//! nothing stopped an older relay from claiming beside a newer one.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use digis_relay::storage::handshake::MIGRATIONS_TABLE;
use sqlx::migrate::Migrator;

use crate::common::{cli, said, write_config, Kind, TestDb};

/// Every command here must fail with one line rather than a raw SQL error, so none needs Digis.
const NO_DIGIS: &str = "http://127.0.0.1:9";

fn migrations_dir(kind: Kind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(match kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        })
}

/// A database with the host schema and every relay migration but the last, applied by sqlx's
/// own migrator with its default table (so `_sqlx_migrations` is what an older release's
/// `migrate` left, read as `migrate` would carry it over). The last migration's version and
/// description.
async fn one_behind(kind: Kind) -> (TestDb, i64, String) {
    let all = Migrator::new(migrations_dir(kind)).await.unwrap();
    let last = all.iter().max_by_key(|m| m.version).unwrap();
    let (version, description) = (last.version, last.description.to_string());
    (
        TestDb::migrated_before(kind, version).await,
        version,
        description,
    )
}

/// The line a command must give for a database behind it: what is missing, and `migrate`.
fn says_behind(o: &Output, last: i64, description: &str) {
    let all = said(o);
    let line = all
        .lines()
        .find(|l| l.contains("not applied"))
        .unwrap_or_else(|| panic!("no line saying what is not applied:\n{all}"));
    assert!(
        line.contains(&format!("{last:04} ({description})")),
        "the line does not name migration {last}: {line}"
    );
    assert!(line.contains("digis-relay migrate"), "{line}");
    assert!(!all.contains("no such "), "a raw SQL error:\n{all}");
    assert!(
        !all.contains("error returned from database"),
        "a raw SQL error:\n{all}"
    );
}

async fn database_behind(kind: Kind) {
    let (db, last, description) = one_behind(kind).await;
    let config = write_config(&db, NO_DIGIS, "");

    let run = cli(&config, &["run", "--once"]);
    assert!(!run.status.success(), "run --once: {}", said(&run));
    says_behind(&run, last, &description);
    assert_eq!(
        String::from_utf8_lossy(&run.stderr).trim().lines().count(),
        1,
        "one line: {}",
        said(&run)
    );

    // `status`: 3, its "could not read".
    let status = cli(&config, &["status"]);
    assert_eq!(status.status.code(), Some(3), "status: {}", said(&status));
    says_behind(&status, last, &description);

    let doctor = cli(&config, &["doctor", "--no-network"]);
    assert!(!doctor.status.success(), "doctor: {}", said(&doctor));
    says_behind(&doctor, last, &description);

    let retry = cli(&config, &["retry", "--all-failed"]);
    assert!(!retry.status.success(), "retry: {}", said(&retry));
    says_behind(&retry, last, &description);

    // `migrate` is what it said, and then the same commands work.
    let migrate = cli(&config, &["migrate"]);
    assert!(migrate.status.success(), "migrate: {}", said(&migrate));
    let status = cli(&config, &["status"]);
    assert_ne!(status.status.code(), Some(3), "status: {}", said(&status));
    assert!(!said(&status).contains("not applied"), "{}", said(&status));
    let run = cli(&config, &["run", "--once"]);
    assert!(run.status.success(), "run --once: {}", said(&run));
}

/// Records a migration this binary does not know as applied, as a newer release's `migrate`
/// would.
async fn apply_fake_newer_migration(db: &TestDb, version: i64) {
    db.exec(&match db.kind {
        Kind::Sqlite => format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, description, success, checksum, execution_time) \
             VALUES ({version}, 'from a newer release', 1, X'00', 0)"
        ),
        Kind::Postgres => format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, description, success, checksum, execution_time) \
             VALUES ({version}, 'from a newer release', true, '\\x00'::bytea, 0)"
        ),
    })
    .await;
}

async fn database_ahead_additive(db: TestDb) {
    apply_fake_newer_migration(&db, 9001).await;
    let config = write_config(&db, NO_DIGIS, "");

    let run = cli(&config, &["run", "--once"]);
    assert!(run.status.success(), "run --once: {}", said(&run));
    let status = cli(&config, &["status"]);
    assert_ne!(status.status.code(), Some(3), "status: {}", said(&status));
    // An older binary's `migrate` has nothing to do (sqlx alone fails on a migration it does
    // not know).
    let migrate = cli(&config, &["migrate"]);
    assert!(migrate.status.success(), "migrate: {}", said(&migrate));
    assert!(
        said(&migrate).contains("nothing to migrate"),
        "{}",
        said(&migrate)
    );
    let doctor = cli(&config, &["doctor", "--no-network"]);
    let out = said(&doctor);
    let line = out
        .lines()
        .find(|l| l.contains("schema version"))
        .unwrap_or_else(|| panic!("no schema version check:\n{out}"));
    assert!(
        line.contains("9001") && line.contains("additive"),
        "doctor does not say the newer migration is additive: {line}"
    );
}

/// A raised compatibility floor or a newer claim protocol: every command refuses with one
/// line, and the relay claims nothing.
async fn refused(db: &TestDb, expect: &str) {
    db.active_with(1, &[1]).await;
    assert_eq!(db.outbox().await.len(), 1, "the trigger queued the member");
    let config = write_config(db, NO_DIGIS, "");
    let run = cli(&config, &["run", "--once"]);
    assert!(!run.status.success(), "run --once: {}", said(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{}", said(&run));
    assert!(stderr.contains(expect), "{}", said(&run));
    assert!(stderr.contains("upgrade digis-relay"), "{}", said(&run));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state <> 'pending' OR attempts > 0")
            .await,
        0,
        "a refused relay claimed a row"
    );
    let status = cli(&config, &["status"]);
    assert_eq!(status.status.code(), Some(3), "status: {}", said(&status));
    assert!(said(&status).contains(expect), "{}", said(&status));
    let doctor = cli(&config, &["doctor", "--no-network"]);
    assert!(!doctor.status.success(), "doctor: {}", said(&doctor));
    assert!(said(&doctor).contains(expect), "{}", said(&doctor));
    let migrate = cli(&config, &["migrate"]);
    assert!(!migrate.status.success(), "migrate: {}", said(&migrate));
    assert!(said(&migrate).contains(expect), "{}", said(&migrate));
}

async fn database_ahead_with_a_raised_floor(db: TestDb) {
    apply_fake_newer_migration(&db, 9001).await;
    db.exec("UPDATE digis_schema SET compatible_from = 9001")
        .await;
    refused(&db, "cannot run beside").await;
}

async fn database_with_a_newer_claim_protocol(db: TestDb) {
    apply_fake_newer_migration(&db, 9001).await;
    db.exec("UPDATE digis_schema SET claim_protocol = claim_protocol + 1")
        .await;
    refused(&db, "claim protocol").await;
}

/// A relay that runs while a newer release migrates the database and raises the claim
/// protocol stops by itself within a heartbeat or two, giving its claims back, with one line.
async fn a_running_relay_stops_beside_a_newer_claim_protocol(db: TestDb) {
    let config = write_config(&db, NO_DIGIS, "[relay]\nheartbeat_ms = 200\n");
    let mut relay = crate::common::RunningService::start(&config);
    crate::common::eventually("the relay's heartbeat", Duration::from_secs(30), || async {
        (db.scalar("SELECT COUNT(*) FROM digis_relay WHERE state <> 'stopped'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    apply_fake_newer_migration(&db, 9001).await;
    db.exec("UPDATE digis_schema SET claim_protocol = claim_protocol + 1")
        .await;
    crate::common::eventually("the relay stops", Duration::from_secs(30), || {
        let running = relay.is_running();
        async move { (!running).then_some(()) }
    })
    .await;
    crate::common::eventually("its line on stderr", Duration::from_secs(10), || {
        let stderr = relay.stderr();
        async move { stderr.contains("claim protocol").then_some(()) }
    })
    .await;
    assert!(
        relay.stderr().contains("upgrade digis-relay"),
        "{}",
        relay.stderr()
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_relay WHERE state = 'stopped'")
            .await,
        1,
        "the relay did not stop gracefully"
    );
}

mod behind {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::database_behind(crate::common::Kind::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::database_behind(crate::common::Kind::Postgres).await
    }
}

crate::both_databases!(
    database_ahead_additive,
    database_ahead_with_a_raised_floor,
    database_with_a_newer_claim_protocol,
    a_running_relay_stops_beside_a_newer_claim_protocol
);
