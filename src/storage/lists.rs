//! Lists bound as one parameter, so no statement is built with `format!` for a variable
//! number of ids, state words or times: PostgreSQL receives an array (`= ANY($1)`, `unnest($1)`),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_cut_into_statements_under_the_limit_in_order() {
        let rows: Vec<HeldRow> = (0..100_000)
            .map(|id| HeldRow {
                id,
                token: "0b6c2f3e-4f0a-4a53-9b8e-2f1c7d9e8a10",
            })
            .collect();
        let chunks = json_chunks(&rows).unwrap();
        assert!(chunks.len() > 1);
        let mut ids = Vec::new();
        for c in &chunks {
            assert!(c.0.len() <= MAX_JSON_BYTES, "{}", c.0.len());
            let v: Vec<serde_json::Value> = serde_json::from_str(&c.0).unwrap();
            ids.extend(v.iter().map(|r| r["id"].as_i64().unwrap()));
        }
        assert_eq!(ids, (0..100_000).collect::<Vec<_>>());
        // A row larger than the limit is a statement of its own; nothing is empty.
        let big = "x".repeat(MAX_JSON_BYTES);
        let chunks = json_chunks([
            HeldRow { id: 1, token: "a" },
            HeldRow { id: 2, token: &big },
            HeldRow { id: 3, token: "b" },
        ])
        .unwrap();
        assert_eq!(chunks.len(), 3);
        assert!(json_chunks(Vec::<HeldRow>::new()).unwrap().is_empty());
    }
}

/// The most JSON text one statement binds: a completion group of the most rows the configuration
/// allows (5,000 of about 500 bytes) is one statement; an operator's list of tens of thousands
/// is cut, which bounds the text the server parses at once.
/// It was 12 KiB while sqlx left Nagle's algorithm on (a message over one TLS record waited
/// ~40 ms for the server's delayed ACK, decision 0010); sqlx 0.9.1 sets TCP_NODELAY on every
/// socket before TLS starts (decision 0060).
pub(crate) const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// Rows of several columns as one JSON array of objects (the field names are the SQL's
/// column names), already written, bound as text on both databases.
#[derive(Debug, Clone)]
pub(crate) struct JsonRows(String);

/// `rows` as JSON arrays of at most [`MAX_JSON_BYTES`] each (a single larger row is a chunk of
/// its own), in order.
/// One row as a list of one, for a statement written for a group.
pub(crate) fn json_one<T: serde::Serialize>(row: &T) -> Result<JsonRows, serde_json::Error> {
    Ok(JsonRows(format!("[{}]", serde_json::to_string(row)?)))
}

pub(crate) fn json_chunks<T: serde::Serialize>(
    rows: impl IntoIterator<Item = T>,
) -> Result<Vec<JsonRows>, serde_json::Error> {
    let mut chunks = Vec::new();
    let mut text = String::from("[");
    for row in rows {
        let one = serde_json::to_string(&row)?;
        if text.len() > 1 && text.len() + one.len() + 2 > MAX_JSON_BYTES {
            text.push(']');
            chunks.push(JsonRows(std::mem::replace(&mut text, String::from("["))));
        }
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&one);
    }
    if text.len() > 1 {
        text.push(']');
        chunks.push(JsonRows(text));
    }
    Ok(chunks)
}

/// `rows` as one JSON array however long, for a list a single statement must see whole (the
/// pairs a reconcile skips: its INSERT cannot be cut in parts).
pub(crate) fn json_whole<T: serde::Serialize>(
    rows: impl IntoIterator<Item = T>,
) -> Result<JsonRows, serde_json::Error> {
    let rows: Vec<T> = rows.into_iter().collect();
    Ok(JsonRows(serde_json::to_string(&rows)?))
}

impl Type<Sqlite> for JsonRows {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for JsonRows {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.clone(), buf)
    }
}

impl Type<Postgres> for JsonRows {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for JsonRows {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.0.as_str(), buf)
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
    pub fn chunks(rows: &'a [(OutboxId, String)]) -> Result<Vec<JsonRows>, serde_json::Error> {
        json_chunks(rows.iter().map(|(id, token)| HeldRow { id: id.0, token }))
    }
}

/// Our own rows failed to become JSON (they cannot: plain numbers and text).
pub(crate) fn json_err(e: serde_json::Error) -> super::StorageError {
    super::StorageError::Corrupt(format!("a list as JSON: {e}"))
}
