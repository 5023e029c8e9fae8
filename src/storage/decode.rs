//! Reading host rows one column at a time. Host tables are untrusted input: SQLite keeps
//! whatever value was written into a column (text or a real in an INTEGER column, bytes that
//! are not UTF-8 in a TEXT one), and a host may adapt the PostgreSQL view with other types.
//! So every column is read as a [`Cell`] first and typed here, and a value that does not fit
//! becomes a [`RowDefect`] for that row alone, naming the column, instead of an error that
//! fails the whole result set (docs/untrusted-edges.md).
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, TypeInfo, ValueRef};

use super::{MemberRead, MemberRow, PersonRow, RowDefect, StoredId};
use crate::domain::{PersonId, SubscriptionId};

/// One column's value before it is typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    /// The value cannot even be read; the text says why (`is not valid UTF-8`).
    Bad(&'static str),
}

/// A row whose columns can be read as cells.
pub(crate) trait Cells {
    fn cell(&self, column: &str) -> Cell;
    /// A relay column holding an id copied from a host row (`digis_outbox.subscription_id`).
    fn id_cell(&self, column: &str) -> Cell {
        self.cell(column)
    }
}

impl Cells for SqliteRow {
    fn cell(&self, column: &str) -> Cell {
        let Ok(v) = self.try_get_raw(column) else {
            return Cell::Bad("is missing from the query");
        };
        if v.is_null() {
            return Cell::Null;
        }
        // The value's own storage class, not the column's declared type.
        let kind = v.type_info().name().to_string();
        match kind.as_str() {
            "INTEGER" => <i64 as Decode<sqlx::Sqlite>>::decode(v)
                .map(Cell::Int)
                .unwrap_or(Cell::Bad("cannot be read")),
            "REAL" => <f64 as Decode<sqlx::Sqlite>>::decode(v)
                .map(Cell::Real)
                .unwrap_or(Cell::Bad("cannot be read")),
            _ => match <&[u8] as Decode<sqlx::Sqlite>>::decode(v) {
                Ok(bytes) => match std::str::from_utf8(bytes) {
                    Ok(s) => Cell::Text(s.to_string()),
                    Err(_) if kind == "BLOB" => Cell::Bad("holds binary data, not UTF-8 text"),
                    Err(_) => Cell::Bad("is not valid UTF-8"),
                },
                Err(_) => Cell::Bad("cannot be read"),
            },
        }
    }
}

/// PostgreSQL's member query selects every column as the bytes of its text, so a value the
/// view's types allow but the relay does not (a text flag, a huge id) is typed here, per row,
/// and so are bytes that are not UTF-8 (a database in SQL_ASCII encoding stores any).
impl Cells for PgRow {
    fn cell(&self, column: &str) -> Cell {
        match self.try_get::<Option<Vec<u8>>, _>(column) {
            Ok(None) => Cell::Null,
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(s) => Cell::Text(s),
                Err(_) => Cell::Bad("is not valid UTF-8"),
            },
            Err(_) => Cell::Bad("cannot be read"),
        }
    }

    /// PostgreSQL's relay columns are typed (`bigint`): the value is a whole number.
    fn id_cell(&self, column: &str) -> Cell {
        match self.try_get::<Option<i64>, _>(column) {
            Ok(Some(v)) => Cell::Int(v),
            Ok(None) => Cell::Null,
            Err(_) => Cell::Bad("cannot be read"),
        }
    }
}

/// The id as stored, for messages.
pub(crate) fn stored(cell: &Cell) -> StoredId {
    match cell {
        Cell::Int(v) => StoredId::Int(*v),
        Cell::Text(s) => match s.trim().parse::<i64>() {
            Ok(v) => StoredId::Int(v),
            Err(_) => StoredId::describe("text", Some(s.trim())),
        },
        Cell::Real(v) => StoredId::describe("real", Some(&v.to_string())),
        Cell::Null => StoredId::Other("<none>".into()),
        Cell::Bad(_) => StoredId::Other("<unreadable>".into()),
    }
}

/// A whole number, or what is wrong with it.
pub(crate) fn int(cell: Cell) -> Result<Option<i64>, &'static str> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Int(v) => Ok(Some(v)),
        Cell::Text(s) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "is not an integer"),
        Cell::Real(_) => Err("is not an integer"),
        Cell::Bad(p) => Err(p),
    }
}

/// A whole number that must be there (an id), or what is wrong with it.
pub(crate) fn required_int(cell: Cell) -> Result<i64, &'static str> {
    int(cell)?.ok_or("is empty")
}

/// Text as stored; a number in a text column is its decimal form.
pub(crate) fn text(cell: Cell) -> Result<Option<String>, &'static str> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Text(s) => Ok(Some(s)),
        Cell::Int(v) => Ok(Some(v.to_string())),
        Cell::Real(v) => Ok(Some(v.to_string())),
        Cell::Bad(p) => Err(p),
    }
}

/// The rule for host flags (`allow_email`, `allow_sms`): `0`, `1`, `true` or `false` (any
/// case); NULL is "not allowed". Anything else (`2`, `yes`) fails the row: guessing consent
/// either way would be wrong.
pub(crate) fn flag(cell: Cell) -> Result<bool, &'static str> {
    const BAD: &str = "is not a boolean (expected 0, 1, true or false)";
    match cell {
        Cell::Null => Ok(false),
        Cell::Int(0) => Ok(false),
        Cell::Int(1) => Ok(true),
        Cell::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "0" | "false" => Ok(false),
            "1" | "true" => Ok(true),
            _ => Err(BAD),
        },
        Cell::Bad(p) => Err(p),
        Cell::Int(_) | Cell::Real(_) => Err(BAD),
    }
}

/// One `person` row for search, or `None` when its id is not a whole number (such a row can
/// be neither named nor paged past). Any other column that cannot be read is `None`: that person
/// cannot match on it, and the search goes on for everyone else.
pub(crate) fn person(r: &impl Cells) -> Option<PersonRow> {
    let id = int(r.cell("id")).ok().flatten()?;
    let t = |column: &str| text(r.cell(column)).ok().flatten();
    Some(PersonRow {
        id: PersonId(id),
        first_name: t("first_name"),
        last_name: t("last_name"),
        email: t("email"),
        mobile_country_code: t("mobile_country_code"),
        mobile_number: t("mobile_number"),
        card_number: t("card_number"),
        country_alpha2: t("country_alpha2"),
    })
}

/// A (subscription, person) pair of ids, or `None` when either is not a whole number.
pub(crate) fn pair(r: &impl Cells) -> Option<(SubscriptionId, PersonId)> {
    let s = int(r.id_cell("subscription_id")).ok().flatten()?;
    let p = int(r.id_cell("person_id")).ok().flatten()?;
    Some((SubscriptionId(s), PersonId(p)))
}

/// `%word%` for `LIKE ... ESCAPE '\'`: the word's own `%`, `_` and `\` match themselves.
pub(crate) fn like_containing(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One `digis_member` row, or the first column that cannot be typed.
pub(crate) fn member(r: &impl Cells) -> MemberRead {
    let sub_cell = r.cell("subscription_id");
    let person_cell = r.cell("person_id");
    let subscription = stored(&sub_cell);
    let person = stored(&person_cell);
    let defect = |column: &'static str, problem: &str| RowDefect {
        outbox_id: None,
        subscription: subscription.clone(),
        person: person.clone(),
        column,
        problem: problem.to_string(),
    };
    let id = |column: &'static str, cell: Cell| -> Result<i64, RowDefect> {
        required_int(cell).map_err(|p| defect(column, p))
    };
    let t = |column: &'static str| text(r.cell(column)).map_err(|p| defect(column, p));
    let f = |column: &'static str| flag(r.cell(column)).map_err(|p| defect(column, p));
    Ok(MemberRow {
        subscription_id: id("subscription_id", sub_cell.clone())?,
        person_id: id("person_id", person_cell.clone())?,
        subscription_status: t("subscription_status")?.unwrap_or_default(),
        start_date: t("start_date")?,
        max_end: t("max_end")?,
        first_name: t("first_name")?,
        last_name: t("last_name")?,
        birth_date: t("birth_date")?,
        sex: t("sex")?,
        email: t("email")?,
        allow_email: f("allow_email")?,
        allow_sms: f("allow_sms")?,
        mobile_country_code: t("mobile_country_code")?,
        mobile_number: t("mobile_number")?,
        card_number: t("card_number")?,
        unit_id: int(r.cell("unit_id")).map_err(|p| defect("unit_id", p))?,
        unit_name: t("unit_name")?,
        street_address: t("street_address")?,
        postal_code: t("postal_code")?,
        postal_city: t("postal_city")?,
        country_alpha2: t("country_alpha2")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_accept_only_the_documented_spellings() {
        assert_eq!(flag(Cell::Int(1)), Ok(true));
        assert_eq!(flag(Cell::Text(" TRUE ".into())), Ok(true));
        assert_eq!(flag(Cell::Text("0".into())), Ok(false));
        assert_eq!(flag(Cell::Null), Ok(false));
        for bad in [Cell::Int(2), Cell::Text("yes".into()), Cell::Real(1.0)] {
            assert!(flag(bad).is_err());
        }
    }

    #[test]
    fn ids_must_be_whole_numbers() {
        assert_eq!(int(Cell::Text(" 42 ".into())), Ok(Some(42)));
        assert!(int(Cell::Text("abc".into())).is_err());
        assert!(int(Cell::Real(2000.5)).is_err());
        assert_eq!(required_int(Cell::Int(7)), Ok(7));
        assert_eq!(required_int(Cell::Null), Err("is empty"));
        assert_eq!(
            stored(&Cell::Real(2000.5)).to_string(),
            "2000.5 (as stored)"
        );
        // A name typed into an id column is not repeated.
        assert_eq!(
            stored(&Cell::Text("Anna Svensson".into())).to_string(),
            "<text> (as stored)"
        );
    }
}
