//! Lists bound as one parameter, so no statement is built with `format!` for a variable
//! number of ids or state words: PostgreSQL receives an array (`= ANY($1)`, `unnest($1)`),
//! SQLite a JSON array read with `json_each(?1)`. Rows of several columns (a group of
//! completions, the rows a relay holds) are one JSON array of objects on both databases
//! ([`JsonRows`]): PostgreSQL reads it with `json_to_recordset($1::json)`, SQLite with
//! `json_each(?1)` and `->>`, so the Rust that binds them is the same for both.
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo};
use sqlx::{Encode, Postgres, Sqlite, Type};

use crate::domain::{OutboxId, OutboxState};

/// Whole numbers (ids) as one parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdList(pub Vec<i64>);

impl IdList {
    pub fn of(ids: &[OutboxId]) -> IdList {
        IdList(ids.iter().map(|i| i.0).collect())
    }
}

/// Words (outbox states, claim tokens) as one parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct WordList(pub Vec<String>);

impl WordList {
    /// A state rule from [`OutboxState`] (`OPEN`, `RETRYABLE`, ...), bound instead of spelled
    /// in SQL so the rule lives in one place.
    pub fn states(states: &[OutboxState]) -> WordList {
        WordList(states.iter().map(|s| s.as_str().to_string()).collect())
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, BoxDynError> {
    Ok(serde_json::to_string(v)?)
}

macro_rules! list_type {
    ($list:ty, $item:ty) => {
        impl Type<Sqlite> for $list {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
        }

        impl Encode<'_, Sqlite> for $list {
            fn encode_by_ref(
                &self,
                buf: &mut SqliteArgumentsBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<Sqlite>>::encode(json(&self.0)?, buf)
            }
        }

        impl Type<Postgres> for $list {
            fn type_info() -> PgTypeInfo {
                <Vec<$item> as Type<Postgres>>::type_info()
            }
        }

        impl Encode<'_, Postgres> for $list {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <Vec<$item> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
            }
        }
    };
}

list_type!(IdList, i64);
list_type!(WordList, String);

/// Rows of several columns as one JSON array of objects (the field names are the SQL's
/// column names), bound as text on both databases.
#[derive(Debug, Clone)]
pub(crate) struct JsonRows<T>(pub Vec<T>);

impl<T> JsonRows<T> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: serde::Serialize> Type<Sqlite> for JsonRows<T> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<T: serde::Serialize> Encode<'_, Sqlite> for JsonRows<T> {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(json(&self.0)?, buf)
    }
}

impl<T: serde::Serialize> Type<Postgres> for JsonRows<T> {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
}

impl<T: serde::Serialize> Encode<'_, Postgres> for JsonRows<T> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Postgres>>::encode(json(&self.0)?, buf)
    }
}

/// A (subscription, person) pair, the key of a member and of its `digis` row.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct PairKey {
    pub subscription_id: i64,
    pub person_id: i64,
}

/// A row a relay holds under its claim: the key of lease renewal and release.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct HeldRow<'a> {
    pub id: i64,
    pub token: &'a str,
}

impl<'a> HeldRow<'a> {
    pub fn list(rows: &'a [(OutboxId, String)]) -> JsonRows<HeldRow<'a>> {
        JsonRows(
            rows.iter()
                .map(|(id, token)| HeldRow { id: id.0, token })
                .collect(),
        )
    }
}
