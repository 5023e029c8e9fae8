//! The relay's migration bookkeeping table (issue 25, item 4), through the real binary on both
//! databases. Seen: the relay recorded its migrations in sqlx's default `_sqlx_migrations`, the
//! table a host application that also uses sqlx records its own in, so `migrate` failed beside
//! it (`migration 20240101000000 was previously applied but is missing in the resolved
//! migrations`) and the two would have shared one table.
use std::path::Path;

use digis_relay::storage::handshake::MIGRATIONS_TABLE;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::common::{
    cli, folder, host_schema, pre_0010, run_default, said, write_config, Kind, TestDb,
};

const NO_DIGIS: &str = "http://127.0.0.1:9";
const LEGACY: &str = "_sqlx_migrations";
/// A host application's own sqlx migration, as its timestamped version.
const HOST_VERSION: i64 = 20240101000000;

/// This binary's migrations.
async fn current(kind: Kind) -> Migrator {
    Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder(kind)),
    )
    .await
    .unwrap()
}

/// A host application's migrations: one with a timestamp, one numbered 1 like the relay's first.
fn host_app_migrations() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "create users".into(),
            MigrationType::Simple,
            "CREATE TABLE host_app_users (id BIGINT PRIMARY KEY)".into_sql_str(),
            false,
        ),
        Migration::new(
            HOST_VERSION,
            "add a column".into(),
            MigrationType::Simple,
            "ALTER TABLE host_app_users ADD COLUMN note TEXT".into_sql_str(),
            false,
        ),
    ])
}

/// A bookkeeping row, every column as text or a number, comparable across reads.
type Row = (i64, String, Vec<u8>, String, i64, i64);

async fn rows(db: &TestDb, table: &str) -> Vec<Row> {
    let sql = format!(
        "SELECT version, description, checksum, CAST(installed_on AS TEXT), \
         CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT), execution_time FROM {table} ORDER BY version"
    );
    match db.kind {
        Kind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let r = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        }
        Kind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let r = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            r
        }
    }
}

async fn table_exists(db: &TestDb, table: &str) -> bool {
    let sql = match db.kind {
        Kind::Sqlite => {
            format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
        }
        Kind::Postgres => format!("SELECT COUNT(*) FROM pg_tables WHERE tablename = '{table}'"),
    };
    db.scalar(&sql).await == 1
}

/// (version, checksum) of every migration this binary has.
async fn expected(kind: Kind) -> Vec<(i64, Vec<u8>)> {
    current(kind)
        .await
        .iter()
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect()
}

fn versions_and_checksums(rows: &[Row]) -> Vec<(i64, Vec<u8>)> {
    rows.iter().map(|r| (r.0, r.2.clone())).collect()
}

/// An installation of the release before the rename, beside a host application that later
/// began to use sqlx too: `migrate` carries the relay's rows over and takes none of the host's.
async fn an_older_installation_is_carried_over(kind: Kind) {
    let db = TestDb::bare(kind).await;
    db.exec(host_schema(kind)).await;
    let released = Migrator::new(pre_0010(kind)).await.unwrap();
    run_default(&db, &released).await;
    db.exec(&format!(
        "INSERT INTO {LEGACY} (version, description, success, checksum, execution_time) \
         VALUES ({HOST_VERSION}, 'a host application', {}, {}, 0)",
        match kind {
            Kind::Sqlite => "1",
            Kind::Postgres => "true",
        },
        match kind {
            Kind::Sqlite => "X'0102'",
            Kind::Postgres => "'\\x0102'::bytea",
        }
    ))
    .await;
    let legacy_before = rows(&db, LEGACY).await;
    let config = write_config(&db, NO_DIGIS, "");

    // Before `migrate`, a command that only reads sees the relay's applied migrations: at most
    // the ones newer than the released ones are missing, never all of them.
    let status = cli(&config, &["status"]);
    assert!(
        !said(&status).contains("0001 ("),
        "status reads the old table as nothing applied: {}",
        said(&status)
    );
    if status.status.code() == Some(3) {
        assert!(said(&status).contains("not applied"), "{}", said(&status));
    }

    let migrate = cli(&config, &["migrate"]);
    assert!(migrate.status.success(), "migrate: {}", said(&migrate));
    assert!(
        table_exists(&db, MIGRATIONS_TABLE).await,
        "no {MIGRATIONS_TABLE}: {}",
        said(&migrate)
    );
    let own = rows(&db, MIGRATIONS_TABLE).await;
    assert_eq!(versions_and_checksums(&own), expected(kind).await);
    assert!(
        !own.iter().any(|r| r.0 == HOST_VERSION),
        "the host application's row was taken"
    );
    // The released rows were copied as they were (their time of installation too), with this
    // binary's checksum (the same, or the current one for a superseded checksum).
    for old in legacy_before.iter().filter(|r| r.0 != HOST_VERSION) {
        let copied = own.iter().find(|r| r.0 == old.0).expect("carried over");
        assert_eq!(
            (&copied.1, &copied.3, copied.4, copied.5),
            (&old.1, &old.3, old.4, old.5),
            "migration {} not carried over as it was",
            old.0
        );
    }
    assert_eq!(
        rows(&db, LEGACY).await,
        legacy_before,
        "the old table was changed"
    );

    let status = cli(&config, &["status"]);
    assert_ne!(status.status.code(), Some(3), "status: {}", said(&status));
    let again = cli(&config, &["migrate"]);
    assert!(again.status.success(), "second migrate: {}", said(&again));
    assert_eq!(
        rows(&db, MIGRATIONS_TABLE).await,
        own,
        "a second migrate wrote"
    );
    assert_eq!(rows(&db, LEGACY).await, legacy_before);
}

/// A fresh database whose host application already records its migrations with sqlx, under
/// sqlx's default name: `migrate` leaves that table alone.
async fn a_host_applications_sqlx_table_is_left_alone(kind: Kind) {
    let db = TestDb::bare(kind).await;
    db.exec(host_schema(kind)).await;
    run_default(&db, &host_app_migrations()).await;
    let host_before = rows(&db, LEGACY).await;
    assert_eq!(host_before.len(), 2);
    let config = write_config(&db, NO_DIGIS, "");

    let migrate = cli(&config, &["migrate"]);
    assert!(migrate.status.success(), "migrate: {}", said(&migrate));
    assert_eq!(
        rows(&db, LEGACY).await,
        host_before,
        "the host's table changed"
    );
    assert_eq!(
        versions_and_checksums(&rows(&db, MIGRATIONS_TABLE).await),
        expected(kind).await
    );
    // The relay's migrations ran (its first one is not the host's migration 1).
    assert_eq!(db.scalar("SELECT COUNT(*) FROM digis_outbox").await, 0);
    let status = cli(&config, &["status"]);
    assert_ne!(status.status.code(), Some(3), "status: {}", said(&status));
    // And the host application still migrates beside the relay.
    run_default(&db, &host_app_migrations()).await;
}

mod carried_over {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_older_installation_is_carried_over(crate::common::Kind::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::an_older_installation_is_carried_over(crate::common::Kind::Postgres).await
    }
}

mod host_table_left_alone {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_host_applications_sqlx_table_is_left_alone(crate::common::Kind::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_host_applications_sqlx_table_is_left_alone(crate::common::Kind::Postgres).await
    }
}

/// A checksum migration 0001 had in an imagined earlier release (its text changed, what it
/// creates did not).
const OLD_HEX: &str = "abababababababababababababababababababababababababababababababababababababababababababababababab";

fn bytes_literal(kind: Kind, hex: &str) -> String {
    match kind {
        Kind::Sqlite => format!("X'{hex}'"),
        Kind::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

async fn checksum_of(db: &TestDb, table: &str, version: i64) -> Vec<u8> {
    rows(db, table)
        .await
        .into_iter()
        .find(|r| r.0 == version)
        .unwrap_or_else(|| panic!("no migration {version} in {table}"))
        .2
}

/// The carry-over's two halves, in storage with a superseded checksum of its own besides the
/// binary's `SUPERSEDED_CHECKSUMS`: a row of the old table recorded
/// with it is carried with the current checksum, one of the relay's table is recorded again;
/// without the list the same row is a modified migration, and `migrate` refuses naming it.
/// Two processes starting at once carry over once.
async fn superseded_checksums_are_translated(kind: Kind) {
    use digis_relay::storage::handshake::Source;
    use digis_relay::storage::postgres::PgStorage;
    use digis_relay::storage::sqlite::SqliteStorage;

    let db = TestDb::bare(kind).await;
    db.exec(host_schema(kind)).await;
    run_default(&db, &Migrator::new(pre_0010(kind)).await.unwrap()).await;
    let current_1 = current(kind)
        .await
        .iter()
        .find(|m| m.version == 1)
        .unwrap()
        .checksum
        .to_vec();
    db.exec(&format!(
        "UPDATE {LEGACY} SET checksum = {} WHERE version = 1",
        bytes_literal(kind, OLD_HEX)
    ))
    .await;

    // Without the list: migration 1 looks edited, and `migrate` says so instead of sqlx's
    // "previously applied but has been modified".
    let versions = db.storage.schema_versions().await.unwrap();
    assert_eq!(versions.source, Source::Legacy);
    assert_eq!(
        versions
            .modified
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        vec![1]
    );
    let refused = db.storage.migrate(false).await.unwrap_err().to_string();
    assert!(
        refused.contains("0001 (outbox)") && refused.contains("[host] adapter"),
        "{refused}"
    );
    assert!(
        !table_exists(&db, MIGRATIONS_TABLE).await,
        "refused, yet wrote"
    );

    // With it, from two connections at once.
    let superseded: &[(i64, &str)] = &[(1, OLD_HEX)];
    match kind {
        Kind::Sqlite => {
            let (a, b) = (
                SqliteStorage::connect(&db.url).await.unwrap(),
                SqliteStorage::connect(&db.url).await.unwrap(),
            );
            let (ra, rb) =
                tokio::join!(a.carry_over_with(superseded), b.carry_over_with(superseded));
            ra.unwrap();
            rb.unwrap();
        }
        Kind::Postgres => {
            let (a, b) = (
                PgStorage::connect(&db.url).await.unwrap(),
                PgStorage::connect(&db.url).await.unwrap(),
            );
            let (ra, rb) =
                tokio::join!(a.carry_over_with(superseded), b.carry_over_with(superseded));
            ra.unwrap();
            rb.unwrap();
        }
    }
    let released: Vec<i64> = Migrator::new(pre_0010(kind))
        .await
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    let own = rows(&db, MIGRATIONS_TABLE).await;
    assert_eq!(own.iter().map(|r| r.0).collect::<Vec<_>>(), released);
    assert_eq!(checksum_of(&db, MIGRATIONS_TABLE, 1).await, current_1);
    let old_bytes: Vec<u8> = vec![0xab; 48];
    assert_eq!(
        checksum_of(&db, LEGACY, 1).await,
        old_bytes,
        "the old table changed"
    );
    let versions = db.storage.schema_versions().await.unwrap();
    assert_eq!(versions.source, Source::Own);
    assert!(versions.modified.is_empty(), "{:?}", versions.modified);

    // The relay's own table recording a superseded checksum is recorded again.
    db.exec(&format!(
        "UPDATE {MIGRATIONS_TABLE} SET checksum = {} WHERE version = 1",
        bytes_literal(kind, OLD_HEX)
    ))
    .await;
    let s = match kind {
        Kind::Sqlite => {
            SqliteStorage::connect(&db.url)
                .await
                .unwrap()
                .carry_over_with(superseded)
                .await
        }
        Kind::Postgres => {
            PgStorage::connect(&db.url)
                .await
                .unwrap()
                .carry_over_with(superseded)
                .await
        }
    };
    s.unwrap();
    assert_eq!(checksum_of(&db, MIGRATIONS_TABLE, 1).await, current_1);
}

mod superseded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::superseded_checksums_are_translated(crate::common::Kind::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::superseded_checksums_are_translated(crate::common::Kind::Postgres).await
    }
}

/// Issue 25, item 1: after an edit of a relay migration, `migrate` failed with `migration 1 was
/// previously applied but has been modified` while `doctor --no-network` said `0 error(s)`.
/// Simulated by changing the checksum recorded for migration 1.
async fn doctor_reports_a_modified_migration(db: TestDb) {
    db.exec(&format!(
        "UPDATE {MIGRATIONS_TABLE} SET checksum = {} WHERE version = 1",
        bytes_literal(db.kind, "00ff")
    ))
    .await;
    let config = write_config(&db, NO_DIGIS, "");
    let doctor = cli(&config, &["doctor", "--no-network"]);
    let out = said(&doctor);
    assert!(!doctor.status.success(), "doctor: {out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("error") && l.contains("0001 (outbox)"))
        .unwrap_or_else(|| panic!("no error naming migration 0001:\n{out}"));
    assert!(
        line.contains("digis-relay migrate") || line.contains("`migrate`"),
        "{line}"
    );
    assert!(line.contains("[host] adapter"), "{line}");
    assert!(
        !out.contains(" 0 error(s)") && !out.starts_with("0 error(s)"),
        "{out}"
    );

    // `migrate` says the same, not sqlx's words.
    let migrate = cli(&config, &["migrate"]);
    assert!(!migrate.status.success(), "migrate: {}", said(&migrate));
    assert!(
        said(&migrate).contains("0001 (outbox)"),
        "{}",
        said(&migrate)
    );

    // The fix it names works: record this binary's checksum, and both are content again.
    let hex: String = current(db.kind)
        .await
        .iter()
        .find(|m| m.version == 1)
        .unwrap()
        .checksum
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        line.contains(&hex),
        "the line does not give the checksum: {line}"
    );
    db.exec(&format!(
        "UPDATE {MIGRATIONS_TABLE} SET checksum = {} WHERE version = 1",
        bytes_literal(db.kind, &hex)
    ))
    .await;
    let migrate = cli(&config, &["migrate"]);
    assert!(migrate.status.success(), "migrate: {}", said(&migrate));
    let doctor = cli(&config, &["doctor", "--no-network"]);
    assert!(
        !said(&doctor).contains("0001 (outbox)"),
        "{}",
        said(&doctor)
    );
}

crate::both_databases!(doctor_reports_a_modified_migration);
