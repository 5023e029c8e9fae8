//! `report failures`: the fix list for the gyms. Failures are almost always bad data at one
//! gym's front desk, so the list is by business unit and cause, the same groups as the
//! dashboard's Failures view (`Storage::failure_groups`). The member list (names, cards: personal
//! data) goes to a CSV file only, never to a terminal or a log; without a file the command prints
//! the groups with their counts.
pub mod cli;

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::domain::UnitId;
use crate::storage::{FailedMember, FailedQuery, FailureGroup, ReadStore, UnitFilter};

/// The CSV header, in column order. `value today` is what the failing field holds in
/// `digis_member` when the report is written (`mobile_number today: 070-12`), read then and
/// never stored with the row.
pub const CSV_HEADER: [&str; 9] = [
    "person id",
    "card number",
    "name",
    "field",
    "what is wrong",
    "subscription id",
    "unit",
    "failed since",
    "value today",
];

/// Rows read from the database per round trip while writing the file. Kept small: SQLite reads
/// a page's members by zipping two JSON arrays (`members_of_pairs.sql`), which costs the square
/// of the page size.
const PAGE: u32 = 250;

/// At most this many groups are listed; a longer list is cut with a note.
pub const GROUP_LIMIT: u32 = 1_000;

/// Writes every failed row (of `unit`, or of every unit) as CSV with [`CSV_HEADER`], page by page
/// in id order, and returns how many rows were written.
pub async fn write_failures_csv<W: Write>(
    storage: &dyn ReadStore,
    unit: Option<UnitId>,
    out: W,
) -> anyhow::Result<u64> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(CSV_HEADER)?;
    let mut query = FailedQuery {
        unit: unit.map_or(UnitFilter::Any, |u| UnitFilter::Is(Some(u.get()))),
        cause: None,
        after: None,
        limit: PAGE,
    };
    let mut written = 0u64;
    loop {
        let page = storage.failed_members(&query).await?;
        for m in &page {
            csv.write_record(record(m))?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => query.after = Some(last.id),
            _ => break,
        }
    }
    csv.flush()?;
    Ok(written)
}

/// One member's line of the report.
pub fn record(m: &FailedMember) -> [String; 9] {
    let id = |v: i64| if v > 0 { v.to_string() } else { String::new() };
    [
        id(m.person_id.get()),
        cell(m.card_number.as_deref().unwrap_or_default()),
        cell(m.name.as_deref().unwrap_or_default()),
        cell(m.cause.field.as_deref().unwrap_or_default()),
        cell(&what_is_wrong(m)),
        id(m.subscription_id.get()),
        cell(&unit_text(m.unit_id, m.unit_name.as_deref())),
        time_text(m.failed_at),
        cell(&value_today_text(m)),
    ]
}

/// The failing field's value today, labelled (`mobile_number today: 070-12`), or empty.
fn value_today_text(m: &FailedMember) -> String {
    m.value_today
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The row's own failure, and why its member cannot be shown when that is so.
fn what_is_wrong(m: &FailedMember) -> String {
    match &m.member_problem {
        Some(p) if m.detail.is_empty() => p.clone(),
        Some(p) => format!("{} ({p})", m.detail),
        None => m.detail.clone(),
    }
}

/// `Stamina Centrum (1)`, `1`, or empty when the member has no unit now.
pub fn unit_text(id: Option<i64>, name: Option<&str>) -> String {
    match (id, name) {
        (Some(id), Some(name)) => format!("{name} ({id})"),
        (Some(id), None) => id.to_string(),
        (None, Some(name)) => name.to_string(),
        (None, None) => String::new(),
    }
}

/// A text cell as a spreadsheet should show it: control characters escaped (the values come
/// from the membership system and from Digis), and guarded so a spreadsheet does not run it as
/// a formula (CSV injection; the rule is `output::csv_cell`'s).
pub fn cell(text: &str) -> String {
    let shown = crate::sanitize::for_display(text);
    crate::output::csv_cell::guard(&shown).into_owned()
}

pub fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The groups as text for a terminal: counts and causes, no member.
pub fn render_groups(groups: &[FailureGroup], unit: Option<UnitId>) -> String {
    let mut out = String::new();
    if groups.is_empty() {
        return match unit {
            Some(u) => format!("no failed rows for unit {u}\n"),
            None => "no failed rows\n".to_string(),
        };
    }
    out.push_str(
        "Failed rows by business unit and cause. The members (names, cards) are written to a \
         file only: add --csv FILE.\n",
    );
    let mut last_unit: Option<(Option<i64>, Option<String>)> = None;
    let width = groups
        .iter()
        .map(|g| g.rows.to_string().len())
        .max()
        .unwrap_or(1);
    for g in groups_by_unit(groups) {
        let this = (g.key.unit_id, g.unit_name.clone());
        if last_unit.as_ref() != Some(&this) {
            let name = match unit_text(g.key.unit_id, g.unit_name.as_deref()) {
                s if s.is_empty() => {
                    "no unit (the member is no longer a user, or has no unit)".into()
                }
                s => crate::sanitize::for_display(&s),
            };
            out.push_str(&format!("\n{name}\n"));
            last_unit = Some(this);
        }
        out.push_str(&format!(
            "  {:>width$}  {}  (failed {} .. {})\n",
            g.rows,
            crate::sanitize::for_display(&g.key.cause.to_string()),
            time_text(g.oldest),
            time_text(g.newest),
        ));
    }
    let total: u64 = groups.iter().map(|g| g.rows).sum();
    out.push_str(&format!(
        "\n{total} failed row(s) in {} group(s)\n",
        groups.len()
    ));
    out
}

/// The groups ordered by unit (the unit with most failed rows first), then largest first within
/// the unit: a gym reads its own block.
pub fn groups_by_unit(groups: &[FailureGroup]) -> Vec<&FailureGroup> {
    let mut units: Vec<(Option<i64>, u64)> = Vec::new();
    for g in groups {
        match units.iter_mut().find(|(u, _)| *u == g.key.unit_id) {
            Some((_, n)) => *n += g.rows,
            None => units.push((g.key.unit_id, g.rows)),
        }
    }
    units.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<&FailureGroup> = groups.iter().collect();
    let rank = |u: Option<i64>| units.iter().position(|(x, _)| *x == u).unwrap_or(0);
    out.sort_by(|a, b| {
        rank(a.key.unit_id)
            .cmp(&rank(b.key.unit_id))
            .then(b.rows.cmp(&a.rows))
            .then(a.key.cause.cmp(&b.key.cause))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_and_cannot_be_formulas() {
        assert_eq!(cell("Anna"), "Anna");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+46 70"), "'+46 70");
        assert_eq!(cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(cell("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(cell("Anna;=2+5"), "Anna;'=2+5");
    }

    #[test]
    fn units_read_as_name_and_id() {
        assert_eq!(unit_text(Some(1), Some("Stamina")), "Stamina (1)");
        assert_eq!(unit_text(Some(1), None), "1");
        assert_eq!(unit_text(None, None), "");
    }
}
