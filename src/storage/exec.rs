//! The thin executor the storage operations run on, written once for both databases: a pool,
//! a connection and a transaction are each an enum over SQLite's and PostgreSQL's, a
//! [`Statement`] binds any value both databases encode ([`Bind`]) and picks its database once,
//! and a [`DbRow`] reads any value both decode ([`Read`]). Times ([`StoredTime`]) and lists
//! (`lists`) encode themselves per database, so an operation's Rust is the same text on both.
//!
//! Why not generic functions over `sqlx::Database`: sqlx's bounds for generic executors and
//! binds are not implied through a helper trait, so every generic operation would repeat a
//! dozen `where` lines. Here the two concrete databases are named in one bound each.
use sqlx::migrate::{Migrate as _, MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{
    Acquire as _, ColumnIndex, Decode, Encode, PgPool, Postgres, Row as _, SqlSafeStr, Sqlite,
    SqlitePool, Type,
};

use super::decode::{Cell, Cells};
use super::sql::Sql;
use super::{Backend, Context as _, Result};

/// A value both databases bind: the one bound a statement's `.bind` needs. (`'q` is the
/// borrow the value is encoded from: the statement copies it.)
pub(crate) trait Bind<'q>:
    Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Bind<'q> for T where
    T: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A value both databases decode: the one bound [`DbRow::get`] needs.
pub(crate) trait Read:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Read for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A column, by name or by position, on both databases.
pub(crate) trait Column: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> {}

impl<T> Column for T where T: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> {}

/// What a database is besides its connections: the parts that differ in kind, not in text.
/// Each backend module (`sqlite/`, `postgres/`) has one.
pub(crate) struct Profile {
    pub backend: Backend,
    pub sql: &'static Sql,
    /// The statement that opens a write transaction.
    pub begin_write: &'static str,
    /// The relay's migrations, recorded in its own table (`handshake::MIGRATIONS_TABLE`).
    pub migrator: &'static Migrator,
    /// (version, checksum in hex) a migration had in an earlier release (`bookkeeping`).
    pub superseded: &'static [(i64, &'static str)],
    /// The reference host schema from assets/, for the demo and tests.
    pub host_schema: &'static str,
    /// The triggers `doctor` expects.
    pub triggers: &'static [&'static str],
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A database: its pool and its [`Profile`].
pub(crate) struct Db {
    pool: Pool,
    profile: &'static Profile,
}

impl Db {
    pub fn new(pool: Pool, profile: &'static Profile) -> Db {
        Db { pool, profile }
    }

    pub fn backend(&self) -> Backend {
        self.profile.backend
    }

    pub fn sql(&self) -> &'static Sql {
        self.profile.sql
    }

    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// A statement of this database.
    pub fn query(&self, sql: impl SqlSafeStr) -> Statement {
        Statement(match self.pool {
            Pool::Sqlite(_) => Args::Sqlite(sqlx::query(sql)),
            Pool::Postgres(_) => Args::Postgres(sqlx::query(sql)),
        })
    }

    pub async fn acquire(&self) -> sqlx::Result<Conn> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await?),
            Pool::Postgres(p) => Conn::Postgres(p.acquire().await?),
        })
    }

    /// A write transaction, opened with the profile's `begin_write`.
    pub async fn write_tx(&self) -> Result<Tx<'static>> {
        let begin = self.profile.begin_write;
        match &self.pool {
            Pool::Sqlite(p) => p.begin_with(begin).await.map(Tx::Sqlite),
            Pool::Postgres(p) => p.begin_with(begin).await.map(Tx::Postgres),
        }
        .ctx("starting a write transaction")
    }

    /// Runs `statement` in a write transaction of its own: how many rows it changed.
    pub async fn write(
        &self,
        statement: Statement,
        doing: &'static str,
        committing: &'static str,
    ) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let n = statement.execute(&mut tx).await.ctx(doing)?;
        tx.commit().await.ctx(committing)?;
        Ok(n)
    }

    /// Runs the relay's migrations that are not applied yet.
    pub async fn run_migrations(&self) -> std::result::Result<(), MigrateError> {
        match &self.pool {
            Pool::Sqlite(p) => self.profile.migrator.run(p).await,
            Pool::Postgres(p) => self.profile.migrator.run(p).await,
        }
    }
}

pub(crate) enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

pub(crate) enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    Postgres(sqlx::Transaction<'c, Postgres>),
}

impl Tx<'_> {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }

    /// A savepoint inside this transaction.
    pub async fn savepoint(&mut self) -> sqlx::Result<Tx<'_>> {
        Ok(match self {
            Tx::Sqlite(t) => Tx::Sqlite((&mut **t).begin().await?),
            Tx::Postgres(t) => Tx::Postgres((&mut **t).begin().await?),
        })
    }

    /// Creates the relay's migrations table if it is not there (sqlx's own statement).
    pub async fn ensure_migrations_table(&mut self, table: &str) -> Result<(), MigrateError> {
        match self {
            Tx::Sqlite(t) => t.ensure_migrations_table(table).await,
            Tx::Postgres(t) => t.ensure_migrations_table(table).await,
        }
    }
}

/// Where a statement runs: a pool (a connection of it for the one statement), or a connection
/// or transaction held for several.
pub(crate) enum On<'e> {
    SqlitePool(&'e SqlitePool),
    Sqlite(&'e mut SqliteConnection),
    PgPool(&'e PgPool),
    Postgres(&'e mut PgConnection),
}

impl<'e> From<&'e Db> for On<'e> {
    fn from(db: &'e Db) -> On<'e> {
        match &db.pool {
            Pool::Sqlite(p) => On::SqlitePool(p),
            Pool::Postgres(p) => On::PgPool(p),
        }
    }
}

impl<'e> From<&'e mut Conn> for On<'e> {
    fn from(c: &'e mut Conn) -> On<'e> {
        match c {
            Conn::Sqlite(c) => On::Sqlite(c),
            Conn::Postgres(c) => On::Postgres(c),
        }
    }
}

impl<'e, 'c> From<&'e mut Tx<'c>> for On<'e> {
    fn from(t: &'e mut Tx<'c>) -> On<'e> {
        match t {
            Tx::Sqlite(t) => On::Sqlite(t),
            Tx::Postgres(t) => On::Postgres(t),
        }
    }
}

impl<'e, 'x> From<&'e mut On<'x>> for On<'e> {
    fn from(on: &'e mut On<'x>) -> On<'e> {
        match on {
            On::SqlitePool(p) => On::SqlitePool(p),
            On::Sqlite(c) => On::Sqlite(c),
            On::PgPool(p) => On::PgPool(p),
            On::Postgres(c) => On::Postgres(c),
        }
    }
}

/// A statement and its binds, for one database.
pub(crate) struct Statement(Args);

enum Args {
    Sqlite(Query<'static, Sqlite, SqliteArguments>),
    Postgres(Query<'static, Postgres, PgArguments>),
}

/// A statement built for one database and run on the other: a mistake in this module.
fn other_database() -> sqlx::Error {
    sqlx::Error::Configuration("a statement run on the other database".into())
}

impl Statement {
    pub fn bind<'q, T: Bind<'q>>(self, value: T) -> Statement {
        Statement(match self.0 {
            Args::Sqlite(q) => Args::Sqlite(q.bind(value)),
            Args::Postgres(q) => Args::Postgres(q.bind(value)),
        })
    }

    /// Whether the database keeps the statement's plan for the next run (default yes).
    pub fn persistent(self, keep: bool) -> Statement {
        Statement(match self.0 {
            Args::Sqlite(q) => Args::Sqlite(q.persistent(keep)),
            Args::Postgres(q) => Args::Postgres(q.persistent(keep)),
        })
    }

    pub async fn fetch_all<'e>(self, on: impl Into<On<'e>>) -> sqlx::Result<Vec<DbRow>> {
        fn rows<R>(rows: Vec<R>, f: fn(R) -> DbRow) -> Vec<DbRow> {
            rows.into_iter().map(f).collect()
        }
        Ok(match (self.0, on.into()) {
            (Args::Sqlite(q), On::SqlitePool(p)) => rows(q.fetch_all(p).await?, DbRow::Sqlite),
            (Args::Sqlite(q), On::Sqlite(c)) => rows(q.fetch_all(c).await?, DbRow::Sqlite),
            (Args::Postgres(q), On::PgPool(p)) => rows(q.fetch_all(p).await?, DbRow::Postgres),
            (Args::Postgres(q), On::Postgres(c)) => rows(q.fetch_all(c).await?, DbRow::Postgres),
            _ => return Err(other_database()),
        })
    }

    pub async fn fetch_optional<'e>(self, on: impl Into<On<'e>>) -> sqlx::Result<Option<DbRow>> {
        Ok(match (self.0, on.into()) {
            (Args::Sqlite(q), On::SqlitePool(p)) => q.fetch_optional(p).await?.map(DbRow::Sqlite),
            (Args::Sqlite(q), On::Sqlite(c)) => q.fetch_optional(c).await?.map(DbRow::Sqlite),
            (Args::Postgres(q), On::PgPool(p)) => q.fetch_optional(p).await?.map(DbRow::Postgres),
            (Args::Postgres(q), On::Postgres(c)) => q.fetch_optional(c).await?.map(DbRow::Postgres),
            _ => return Err(other_database()),
        })
    }

    /// Runs the statement; how many rows it changed.
    pub async fn execute<'e>(self, on: impl Into<On<'e>>) -> sqlx::Result<u64> {
        Ok(match (self.0, on.into()) {
            (Args::Sqlite(q), On::SqlitePool(p)) => q.execute(p).await?.rows_affected(),
            (Args::Sqlite(q), On::Sqlite(c)) => q.execute(c).await?.rows_affected(),
            (Args::Postgres(q), On::PgPool(p)) => q.execute(p).await?.rows_affected(),
            (Args::Postgres(q), On::Postgres(c)) => q.execute(c).await?.rows_affected(),
            _ => return Err(other_database()),
        })
    }

    /// The first row, or `RowNotFound`.
    pub async fn fetch_one<'e>(self, on: impl Into<On<'e>>) -> sqlx::Result<DbRow> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of every row.
    pub async fn scalars<'e, T: Read>(self, on: impl Into<On<'e>>) -> sqlx::Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(|r| r.get(0)).collect()
    }

    /// The first column of the first row, or `RowNotFound`.
    pub async fn scalar<'e, T: Read>(self, on: impl Into<On<'e>>) -> sqlx::Result<T> {
        self.fetch_one(on).await?.get(0)
    }

    /// The first column of the first row, if there is one.
    pub async fn opt_scalar<'e, T: Read>(self, on: impl Into<On<'e>>) -> sqlx::Result<Option<T>> {
        self.fetch_optional(on).await?.map(|r| r.get(0)).transpose()
    }
}

/// Runs `sql` as it is, any number of statements without binds (the host schema, an adapter's
/// statement, a demo's host write).
pub(crate) async fn raw_execute<'e>(
    on: impl Into<On<'e>>,
    sql: impl SqlSafeStr,
) -> sqlx::Result<()> {
    let sql = sqlx::raw_sql(sql);
    match on.into() {
        On::SqlitePool(p) => sql.execute(p).await.map(drop),
        On::Sqlite(c) => sql.execute(c).await.map(drop),
        On::PgPool(p) => sql.execute(p).await.map(drop),
        On::Postgres(c) => sql.execute(c).await.map(drop),
    }
}

/// A row of either database.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl DbRow {
    pub fn get<T: Read>(&self, column: impl Column) -> sqlx::Result<T> {
        match self {
            DbRow::Sqlite(r) => r.try_get(column),
            DbRow::Postgres(r) => r.try_get(column),
        }
    }
}

impl Cells for DbRow {
    fn cell(&self, column: &str) -> Cell {
        match self {
            DbRow::Sqlite(r) => r.cell(column),
            DbRow::Postgres(r) => r.cell(column),
        }
    }

    fn id_cell(&self, column: &str) -> Cell {
        match self {
            DbRow::Sqlite(r) => r.id_cell(column),
            DbRow::Postgres(r) => r.id_cell(column),
        }
    }
}

impl super::rows::StoredRow for DbRow {
    fn int(&self, column: &str) -> sqlx::Result<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> sqlx::Result<Option<i64>> {
        self.get(column)
    }
    fn int32(&self, column: &str) -> sqlx::Result<i32> {
        self.get(column)
    }
    fn opt_int32(&self, column: &str) -> sqlx::Result<Option<i32>> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> sqlx::Result<bool> {
        self.get(column)
    }
    fn text(&self, column: &str) -> sqlx::Result<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> sqlx::Result<Option<String>> {
        self.get(column)
    }
    fn time(&self, column: &str) -> sqlx::Result<chrono::DateTime<chrono::Utc>> {
        self.get::<super::time::StoredTime>(column).map(|t| t.0)
    }
    fn opt_time(&self, column: &str) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.get::<Option<super::time::StoredTime>>(column)
            .map(|t| t.map(|t| t.0))
    }
}
