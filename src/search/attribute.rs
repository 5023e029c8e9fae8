//! Places each matching sync-log line in time and on the member it speaks for.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::db::Pair;
use super::logscan::{LogFile, LogHit};
use super::SearchTerm;
use crate::domain::{PersonId, SubscriptionId};

/// A log line with the time it sorts at (its own, or the best guess when it has none).
#[derive(Debug, Clone, Copy)]
pub(super) struct DatedHit<'a> {
    pub hit: &'a LogHit,
    pub at: DateTime<Utc>,
}

/// The scan's lines, split by the member they belong to.
#[derive(Debug, Default)]
pub(super) struct Attribution<'a> {
    /// Each member's lines, in scan order.
    pub by_member: BTreeMap<Pair, Vec<DatedHit<'a>>>,
    /// Lines that name no member: shown beside the verdicts, never deciding one.
    pub unattributed: Vec<DatedHit<'a>>,
}

pub(super) fn attribute<'a>(
    term: &SearchTerm,
    log_dir: &Path,
    hits: &'a [LogHit],
    now: DateTime<Utc>,
) -> Attribution<'a> {
    let mut out = Attribution::default();
    for (hit, at) in hits.iter().zip(sort_times(log_dir, hits, now)) {
        let dated = DatedHit { hit, at };
        match member_of(term, hit) {
            Some(pair) => out.by_member.entry(pair).or_default().push(dated),
            None => out.unattributed.push(dated),
        }
    }
    out
}

/// A line without a readable time sorts right after the previous line of its file, or at its
/// file's day (a rotated file's name carries it), or at `now` (the current file, first line).
fn sort_times(log_dir: &Path, hits: &[LogHit], now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut times = Vec::with_capacity(hits.len());
    let mut last: Option<(&str, DateTime<Utc>)> = None;
    for h in hits {
        let prev = last.filter(|(f, _)| *f == h.file).map(|(_, t)| t);
        let at =
            h.at.or(prev)
                .or_else(|| {
                    LogFile::from_name(log_dir, &h.file)
                        .and_then(|f| f.date)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc())
                })
                .unwrap_or(now);
        last = Some((&h.file, at));
        times.push(at);
    }
    times
}

/// Only a line that parsed whole speaks for a member: a torn or foreign line could name
/// anyone. (A member search's scan kept only its persons' whole lines.)
fn member_of(term: &SearchTerm, h: &LogHit) -> Option<Pair> {
    let sub = match term {
        SearchTerm::Subscription(id) => Some(*id),
        SearchTerm::Card(_) | SearchTerm::Member(_) => h.fields.subscription_id.map(SubscriptionId),
    };
    match (sub, h.fields.person_id) {
        (Some(s), Some(p)) if h.fields.parsed => Some((s, PersonId(p))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::logscan::LineFields;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0).unwrap()
    }

    fn hit(file: &str, at: Option<DateTime<Utc>>, sub: i64, person: Option<i64>) -> LogHit {
        LogHit {
            file: file.into(),
            line: 1,
            text: String::new(),
            at,
            fields: LineFields {
                parsed: person.is_some(),
                subscription_id: Some(sub),
                person_id: person,
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_line_without_a_time_sorts_after_the_previous_line_of_its_file() {
        let dir = Path::new("/logs");
        let rotated = "scheduler_digis_sync.txt.2026-11-20";
        let hits = [
            hit("scheduler_digis_sync.txt", Some(t(9, 0)), 1, Some(7)),
            hit("scheduler_digis_sync.txt", None, 1, Some(7)),
            hit(rotated, None, 1, Some(7)),
            hit("scheduler_digis_sync.txt", None, 1, Some(7)),
        ];
        let now = t(12, 0);
        let times = sort_times(dir, &hits, now);
        let day = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        // The fourth line follows a line of another file: nothing of its own file to lean on.
        assert_eq!(times, vec![t(9, 0), t(9, 0), day, now]);
    }

    #[test]
    fn only_whole_lines_naming_a_person_go_on_a_member() {
        let hits = [
            hit("scheduler_digis_sync.txt", Some(t(9, 0)), 5, Some(7)),
            hit("scheduler_digis_sync.txt", Some(t(9, 1)), 5, None),
            hit("scheduler_digis_sync.txt", Some(t(9, 2)), 6, Some(8)),
        ];
        let by_sub = attribute(
            &SearchTerm::Subscription(SubscriptionId(5)),
            Path::new("/logs"),
            &hits,
            t(12, 0),
        );
        // A subscription search files every line under the searched subscription.
        let members: Vec<Pair> = by_sub.by_member.keys().copied().collect();
        assert_eq!(
            members,
            vec![
                (SubscriptionId(5), PersonId(7)),
                (SubscriptionId(5), PersonId(8))
            ]
        );
        assert_eq!(by_sub.unattributed.len(), 1);
        assert_eq!(by_sub.unattributed[0].at, t(9, 1));

        let by_card = attribute(
            &SearchTerm::Card("0034".parse().unwrap()),
            Path::new("/logs"),
            &hits,
            t(12, 0),
        );
        // A card search takes the subscription from the line itself.
        let members: Vec<Pair> = by_card.by_member.keys().copied().collect();
        assert_eq!(
            members,
            vec![
                (SubscriptionId(5), PersonId(7)),
                (SubscriptionId(6), PersonId(8))
            ]
        );
    }
}
