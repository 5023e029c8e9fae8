//! Small pieces of text shared by the wording and the rendering: times, counts, errors.
use chrono::{DateTime, Utc};

use crate::storage::OutboxRow;

pub(super) fn last_error(r: &OutboxRow) -> String {
    match (&r.last_error, r.last_http_status) {
        // The relay's own texts often name the status already (`Digis rejected the member
        // (HTTP 400): …`, `gave up after …; last: HTTP 503 …`): said once.
        (Some(e), Some(st)) if e.contains(&format!("HTTP {st}")) => e.clone(),
        (Some(e), Some(st)) => format!("{e} (HTTP {st})"),
        (Some(e), None) => e.clone(),
        (None, Some(st)) => format!("HTTP {st}"),
        (None, None) => "no error recorded".into(),
    }
}

pub(super) fn ext_id(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(", external id {id}"),
        None => ", no external id returned".into(),
    }
}

pub(super) fn plural(n: i32, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

pub(super) fn due(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at <= now {
        "due now".into()
    } else {
        format!("next attempt {}", when(at, now))
    }
}

/// `2026-11-28 12:00:01 UTC (5 min ago)`.
pub(super) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "{} ({})",
        at.format("%Y-%m-%d %H:%M:%S UTC"),
        relative(at, now)
    )
}

/// `5 min ago`, `in 2 h`: the largest whole unit up to days.
pub(super) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (n, past) = (secs.unsigned_abs(), secs >= 0);
    let amount = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=172_799 => format!("{} h", n / 3600),
        _ => format!("{} days", n / 86_400),
    };
    if past {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::fixtures::at;

    #[test]
    fn relative_times_read_in_the_largest_whole_unit() {
        let now = at(12, 0, 0);
        assert_eq!(relative(at(11, 59, 1), now), "59 s ago");
        assert_eq!(relative(at(11, 0, 0), now), "1 h ago");
        assert_eq!(relative(at(12, 5, 0), now), "in 5 min");
        assert_eq!(relative(now - chrono::Duration::days(3), now), "3 days ago");
    }
}
