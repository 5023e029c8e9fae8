//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test, never a mock.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use digis_relay::storage::{self, DynStorage};
use sqlx::{AssertSqlSafe, Executor};

pub const PG_ADMIN_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    pub storage: DynStorage,
    raw: Raw,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The PostgreSQL server's admin URL (`DIGIS_RELAY_TEST_PG`, else the local default).
pub fn pg_admin_url() -> String {
    std::env::var("DIGIS_RELAY_TEST_PG").unwrap_or_else(|_| PG_ADMIN_DEFAULT.to_string())
}

impl TestDb {
    pub async fn new(kind: Kind) -> TestDb {
        match kind {
            Kind::Sqlite => Self::sqlite().await,
            Kind::Postgres => Self::postgres().await,
        }
    }

    /// A database without the host schema or any migration, for tests that migrate it their
    /// own way (part of the way, say).
    pub async fn bare(kind: Kind) -> TestDb {
        match kind {
            Kind::Sqlite => Self::sqlite_with(false).await,
            Kind::Postgres => Self::postgres_with(false).await,
        }
    }

    /// The reference host schema with the relay's migrations older than `version` applied (by
    /// sqlx's own migrator, as that release's `migrate` did), to test what migration `version`
    /// does to the rows already there.
    pub async fn migrated_before(kind: Kind, version: i64) -> TestDb {
        let db = Self::bare(kind).await;
        db.exec(super::host_schema(kind)).await;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(match kind {
                Kind::Sqlite => "sqlite",
                Kind::Postgres => "postgres",
            });
        let all = sqlx::migrate::Migrator::new(dir).await.unwrap();
        assert!(
            all.iter().any(|m| m.version == version),
            "migration {version:04} is missing"
        );
        let before = sqlx::migrate::Migrator::with_migrations(
            all.iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        );
        match kind {
            Kind::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
                before.run(&pool).await.unwrap();
                pool.close().await;
            }
            Kind::Postgres => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                before.run(&pool).await.unwrap();
                pool.close().await;
            }
        }
        db
    }

    /// A migrated SQLite database with the reference host schema, in its own folder.
    pub async fn sqlite() -> TestDb {
        Self::sqlite_with(true).await
    }

    async fn sqlite_with(migrate: bool) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let storage = storage::connect(&url).await.expect("open sqlite");
        if migrate {
            storage.migrate(true).await.expect("migrate sqlite");
        }
        let raw = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(
                url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .unwrap()
                    .busy_timeout(std::time::Duration::from_secs(30)),
            )
            .await
            .expect("raw sqlite pool");
        TestDb {
            kind: Kind::Sqlite,
            url,
            storage,
            raw: Raw::Sqlite(raw),
            dir,
            pg_name: None,
        }
    }

    /// A migrated PostgreSQL database of its own on the local server. Fails with one clear
    /// line when the server is unreachable: a skipped database test would hide a regression.
    pub async fn postgres() -> TestDb {
        Self::postgres_with(true).await
    }

    async fn postgres_with(migrate: bool) -> TestDb {
        let admin_url = pg_admin_url();
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(p) => p,
            Err(e) => panic!(
                "PostgreSQL is unreachable at {admin_url} ({e}); start it (see .ci/run) or set DIGIS_RELAY_TEST_PG"
            ),
        };
        let name = format!(
            "drt_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let storage = storage::connect(&url).await.expect("open postgres");
        if migrate {
            storage.migrate(true).await.expect("migrate postgres");
        }
        let raw = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("raw pg pool");
        TestDb {
            kind: Kind::Postgres,
            url,
            storage,
            raw: Raw::Pg(raw),
            dir: tempfile::tempdir().expect("temp dir"),
            pg_name: Some(name),
        }
    }

    /// A connection of its own to the SQLite file, as another process writing it has.
    pub async fn sqlite_connection(&self) -> sqlx::SqliteConnection {
        let path = storage::sqlite::file_of(&self.url).expect("an SQLite test database");
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            path.display()
        ))
        .await
        .expect("a connection of its own")
    }

    pub fn storage(&self) -> Arc<dyn storage::Storage> {
        self.storage.clone()
    }

    /// Runs SQL as the membership system would (host tables), one or more statements.
    pub async fn exec(&self, sql: &str) {
        let r = match &self.raw {
            Raw::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
            Raw::Pg(p) => sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One integer from a query.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let r: Result<i64, sqlx::Error> = match &self.raw {
            Raw::Sqlite(p) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await
            }
            Raw::Pg(p) => {
                sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await
            }
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Rows of (a whole number, a text) from a query.
    pub async fn id_texts(&self, sql: &str) -> Vec<(i64, String)> {
        let r: Result<Vec<(i64, String)>, sqlx::Error> = match &self.raw {
            Raw::Sqlite(p) => {
                sqlx::query_as(AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
            Raw::Pg(p) => {
                sqlx::query_as(AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Outbox rows as (subscription, person, state), ordered by id.
    pub async fn outbox(&self) -> Vec<(i64, i64, String)> {
        let sql = "SELECT subscription_id, person_id, state FROM digis_outbox ORDER BY id";
        let r: Result<Vec<(i64, i64, String)>, sqlx::Error> = match &self.raw {
            Raw::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await,
            Raw::Pg(p) => sqlx::query_as(sql).fetch_all(p).await,
        };
        r.expect("read outbox")
    }

    // --- the membership system's side ---

    pub async fn unit(&self, id: i64, name: &str) {
        self.exec(&format!(
            "INSERT INTO business_unit (id, name) VALUES ({id}, '{name}')"
        ))
        .await;
    }

    /// An ordinary member with a valid Swedish mobile number and card `CARD{id}`.
    pub async fn person(&self, id: i64) {
        self.person_with(&Person::ordinary(id)).await;
    }

    pub async fn person_with(&self, p: &Person) {
        if self
            .scalar(&format!(
                "SELECT COUNT(*) FROM business_unit WHERE id = {}",
                p.unit_id
            ))
            .await
            == 0
        {
            self.unit(p.unit_id, "Stamina Centrum").await;
        }
        let q = |v: &Option<String>| {
            v.as_ref()
                .map(|s| format!("'{}'", s.replace('\'', "''")))
                .unwrap_or("NULL".into())
        };
        self.exec(&format!(
            "INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, allow_email, allow_sms, \
             mobile_country_code, mobile_number, card_number) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            p.id,
            p.unit_id,
            q(&p.first_name),
            q(&p.last_name),
            q(&p.birth_date),
            q(&p.sex),
            q(&p.email),
            p.allow_email,
            p.allow_sms,
            q(&p.mobile_country_code),
            q(&p.mobile_number),
            q(&p.card_number),
        ))
        .await;
        if let Some(a) = &p.address {
            self.exec(&format!(
                "INSERT INTO address (person_id, street_address, postal_code, postal_city, country_alpha2) \
                 VALUES ({}, {}, {}, {}, {})",
                p.id,
                q(&Some(a.0.clone())),
                q(&Some(a.1.clone())),
                q(&Some(a.2.clone())),
                q(&Some(a.3.clone()))
            ))
            .await;
        }
    }

    pub async fn subscription(&self, id: i64, status: &str) {
        self.exec(&format!(
            "INSERT INTO subscription (id, status, start_date, max_end) VALUES ({id}, '{status}', '2026-01-01', '2027-12-31')"
        ))
        .await;
    }

    pub async fn add_user(&self, subscription: i64, person: i64) {
        self.exec(&format!("INSERT INTO subscription_user (subscription_id, person_id) VALUES ({subscription}, {person})"))
            .await;
    }

    /// Saves a subscription the way staff do: change something (the message) and save.
    pub async fn save(&self, subscription: i64) {
        self.exec(&format!(
            "UPDATE subscription SET message = 'saved ' || CAST({} AS TEXT) WHERE id = {subscription}",
            rand::random::<u16>()
        ))
        .await;
    }

    pub async fn set_status(&self, subscription: i64, status: &str) {
        self.exec(&format!(
            "UPDATE subscription SET status = '{status}' WHERE id = {subscription}"
        ))
        .await;
    }

    /// An ACTIVE subscription `sub` used by ordinary persons `persons`.
    pub async fn active_with(&self, sub: i64, persons: &[i64]) {
        for p in persons {
            if self
                .scalar(&format!("SELECT COUNT(*) FROM person WHERE id = {p}"))
                .await
                == 0
            {
                self.person(*p).await;
            }
        }
        self.subscription(sub, "ACTIVE").await;
        for p in persons {
            self.add_user(sub, *p).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort: .ci/run also removes leftovers of killed runs.
            let admin = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async move {
                    let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                    pool.execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// A person as the membership system stores it.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: i64,
    pub unit_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub email: Option<String>,
    pub allow_email: bool,
    pub allow_sms: bool,
    pub mobile_country_code: Option<String>,
    pub mobile_number: Option<String>,
    pub card_number: Option<String>,
    /// street, postal code, city, country
    pub address: Option<(String, String, String, String)>,
}

impl Person {
    pub fn ordinary(id: i64) -> Person {
        Person {
            id,
            unit_id: 1,
            first_name: Some(format!("Förnamn{id}")),
            last_name: Some(format!("Efternamn{id}")),
            birth_date: Some("1990-05-17".into()),
            sex: Some("FEMALE".into()),
            email: Some(format!("member{id}@example.se")),
            allow_email: true,
            allow_sms: true,
            mobile_country_code: Some("46".into()),
            mobile_number: Some(format!(
                "070-{:03} {:02} {:02}",
                100 + id % 900,
                id % 100,
                (id / 100) % 100
            )),
            card_number: Some(format!("{}", 34_000_000 + id)),
            address: Some((
                "Storgatan 1".into(),
                "111 22".into(),
                "Stockholm".into(),
                "SE".into(),
            )),
        }
    }
}

/// This test's PostgreSQL database (only) refuses connections for `length` and its connections
/// are cut; the shared server keeps running (`admin` is connected to another database). How the
/// suite takes a database away without restarting the server every test shares.
pub async fn pg_outage(admin: &mut sqlx::PgConnection, name: &str, length: std::time::Duration) {
    pg_take_away(admin, name).await;
    tokio::time::sleep(length).await;
    pg_give_back(admin, name).await;
}

/// The first half of [`pg_outage`], for a test that ends the outage on a condition: database
/// `name` refuses new connections and the open ones are cut.
pub async fn pg_take_away(admin: &mut sqlx::PgConnection, name: &str) {
    admin
        .execute(AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
        )))
        .await
        .unwrap();
    pg_cut(admin, name).await;
}

/// Every connection to database `name` cut at once, as a server restart cuts them.
pub async fn pg_cut(admin: &mut sqlx::PgConnection, name: &str) {
    admin
        .execute(AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )))
        .await
        .unwrap();
}

/// The second half of [`pg_outage`]: database `name` takes connections again.
pub async fn pg_give_back(admin: &mut sqlx::PgConnection, name: &str) {
    admin
        .execute(AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
        )))
        .await
        .unwrap();
}
