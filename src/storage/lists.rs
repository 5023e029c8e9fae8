//! Lists bound as one parameter, so no statement is built with `format!` for a variable
//! number of ids, state words or times: PostgreSQL receives an array (`= ANY($1)`, `unnest($1)`),
//! SQLite a JSON array read with `json_each(?1)`.
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

/// Times as one parameter: on SQLite the stored text (`storage::time`, so text order is time
/// order), on PostgreSQL a `timestamptz[]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeList(pub Vec<chrono::DateTime<chrono::Utc>>);

impl Type<Sqlite> for TimeList {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for TimeList {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        let texts: Vec<String> = self.0.iter().map(|t| super::time::to_text(*t)).collect();
        <String as Encode<Sqlite>>::encode(json(&texts)?, buf)
    }
}

impl Type<Postgres> for TimeList {
    fn type_info() -> PgTypeInfo {
        <Vec<chrono::DateTime<chrono::Utc>> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for TimeList {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Vec<chrono::DateTime<chrono::Utc>> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
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
