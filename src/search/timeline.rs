//! Gathers what is known about one member into a [`Timeline`]: the facts the verdict is
//! decided on, and every event (database and sync log) in time order. No wording here.
use chrono::{DateTime, Utc};

use super::attribute::DatedHit;
use super::db::{Facts, Pair, SubscriptionFacts};
use super::logscan::LogHit;
use super::{Event, EventSource, TimelineEvent};
use crate::domain::{PersonId, SubscriptionId};
use crate::storage::{AttemptRow, DigisRow, OutboxRow, RowDefect};

/// Everything known about one (subscription, person).
#[derive(Debug)]
pub(super) struct Timeline<'a> {
    pub subscription: SubscriptionId,
    pub person: PersonId,
    /// The subscription's status now; `None`: there is no such subscription.
    pub status: Option<&'a str>,
    /// A user of the subscription now (a member row the relay cannot read counts).
    pub is_user: bool,
    /// Why the member row cannot be read, when it cannot.
    pub defect: Option<&'a RowDefect>,
    /// The card now, else the newest row's, else the last one a log line shows.
    pub card_number: Option<String>,
    /// The newest outbox row: the one the verdict is about.
    pub latest: Option<&'a OutboxRow>,
    /// When the newest row was last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The pair's `digis` row: Digis accepted a send.
    pub digis: Option<&'a DigisRow>,
    /// The member's last sync-log line in scan order (files oldest first): the only witness
    /// once the rows are pruned.
    pub last_log: Option<DatedHit<'a>>,
    /// Oldest first; database events before log lines at equal times.
    pub events: Vec<TimelineEvent>,
}

/// `hits` are the member's log lines in scan order. `since` drops older database events
/// (the log scan has already left out older files).
pub(super) fn build<'a>(
    pair: Pair,
    facts: &'a Facts,
    hits: &[DatedHit<'a>],
    since: Option<DateTime<Utc>>,
) -> Timeline<'a> {
    let (s, p) = pair;
    let sf = facts.subscriptions.get(&s);
    let member = sf.and_then(|f| f.members.iter().find(|m| m.person() == p));
    let defect = sf.and_then(|f| f.defect_of(p));
    let mut rows: Vec<&OutboxRow> = sf
        .map(|f| f.rows.iter().filter(|r| r.person_id == p).collect())
        .unwrap_or_default();
    rows.sort_by_key(|r| r.id);
    let digis = sf.and_then(|f| f.digis.iter().find(|d| d.person_id == p));
    let latest = rows.last().copied();
    let card_number = member
        .and_then(|m| m.card_number.clone())
        .or_else(|| latest.and_then(|r| r.card_number.clone()))
        .or_else(|| {
            hits.iter()
                .rev()
                .find_map(|h| h.hit.fields.card_number.clone())
        });
    let last_attempt_at = latest
        .and_then(|r| attempts(sf, r).last())
        .map(|a| a.started_at);

    let mut dated = database_events(sf, &rows, digis);
    if let Some(since) = since {
        dated.retain(|(at, _)| *at >= since);
    }
    dated.extend(hits.iter().map(|h| (h.at, log_event(h.hit))));
    // Stable: at equal times the database's events stay ahead of the log's view of them.
    dated.sort_by_key(|(at, _)| *at);

    Timeline {
        subscription: s,
        person: p,
        status: sf.and_then(|f| f.status.as_deref()),
        is_user: member.is_some() || defect.is_some(),
        defect,
        card_number,
        latest,
        last_attempt_at,
        digis,
        last_log: hits.last().copied(),
        events: dated.into_iter().map(|(_, e)| e).collect(),
    }
}

fn attempts<'a>(sf: Option<&'a SubscriptionFacts>, r: &OutboxRow) -> &'a [AttemptRow] {
    sf.and_then(|f| f.attempts.get(&r.id))
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The rows (each followed by its attempts), the operators' actions on them, then the
/// `digis` row, in that order before sorting.
fn database_events(
    sf: Option<&SubscriptionFacts>,
    rows: &[&OutboxRow],
    digis: Option<&DigisRow>,
) -> Vec<(DateTime<Utc>, TimelineEvent)> {
    let db = |at: DateTime<Utc>, event: Event| {
        (
            at,
            TimelineEvent {
                at: Some(at),
                source: EventSource::Database,
                event,
            },
        )
    };
    let mut out = Vec::new();
    for r in rows {
        out.push(db(
            r.created_at,
            Event::Queued {
                outbox_id: r.id,
                state: r.state,
                resend: r.resend,
            },
        ));
        for a in attempts(sf, r) {
            out.push(db(
                a.started_at,
                Event::Attempt {
                    outbox_id: a.outbox_id,
                    attempt: a.attempt,
                    outcome: a.outcome.clone(),
                    http_status: a.http_status,
                    error: a.error.clone(),
                    relay_id: a.relay_id.clone(),
                    duration_ms: a.duration_ms,
                },
            ));
        }
    }
    let operator_events = sf
        .map(|f| f.events.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|e| rows.iter().any(|r| Some(r.id) == e.outbox_id));
    for e in operator_events {
        out.push(db(
            e.at,
            Event::Operator {
                outbox_id: e.outbox_id,
                action: e.action.clone(),
                actor: e.actor.clone(),
                detail: e.detail.clone(),
            },
        ));
    }
    if let Some(d) = digis {
        out.push(db(
            d.synced_at,
            Event::Synced {
                external_id: d.external_id.clone(),
            },
        ));
    }
    out
}

/// A sync-log line as a timeline event (also used for lines that name no member).
pub(super) fn log_event(h: &LogHit) -> TimelineEvent {
    TimelineEvent {
        at: h.at,
        source: EventSource::Log,
        event: Event::LogLine {
            file: h.file.clone(),
            line: h.line,
            text: h.text.clone(),
            outbox_id: h.fields.outbox_id,
            attempt: h.fields.attempt,
            outcome: h.fields.outcome.clone(),
            http_status: h.fields.http_status,
            external_id: h.fields.external_id.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;
    use crate::domain::{OutboxId, OutboxState};
    use crate::search::fixtures::{at, attempt, digis, facts, row, PERSON, SUB};
    use crate::search::logscan::LineFields;
    use crate::storage::{EventRow, MemberRow};

    fn log_hit(at: DateTime<Utc>, card: Option<&str>) -> LogHit {
        LogHit {
            file: "scheduler_digis_sync.txt".into(),
            line: 3,
            text: "a line".into(),
            at: Some(at),
            fields: LineFields {
                parsed: true,
                card_number: card.map(Into::into),
                ..Default::default()
            },
        }
    }

    fn kinds(t: &Timeline<'_>) -> Vec<&'static str> {
        t.events
            .iter()
            .map(|e| match e.event {
                Event::Queued { .. } => "queued",
                Event::Attempt { .. } => "attempt",
                Event::Synced { .. } => "synced",
                Event::Operator { .. } => "operator",
                Event::LogLine { .. } => "log",
            })
            .collect()
    }

    fn operator(outbox_id: i64, at: DateTime<Utc>) -> EventRow {
        EventRow {
            at,
            actor: "support@host".into(),
            action: EventKind::Retry.into(),
            outbox_id: Some(OutboxId(outbox_id)),
            subscription_id: Some(SUB),
            person_id: Some(PERSON),
            detail: None,
        }
    }

    /// An ACTIVE subscription whose one row was queued at 9:00 and sent by the attempt at
    /// `attempted_at`.
    fn queued_at_9_and_sent(attempted_at: DateTime<Utc>) -> SubscriptionFacts {
        SubscriptionFacts {
            status: Some("ACTIVE".into()),
            rows: vec![row(1, OutboxState::Sent, at(9, 0, 0))],
            attempts: [(OutboxId(1), vec![attempt(1, 1, attempted_at)])].into(),
            ..Default::default()
        }
    }

    /// Each line at its own time.
    fn dated(log: &[LogHit]) -> Vec<DatedHit<'_>> {
        log.iter()
            .map(|h| DatedHit {
                hit: h,
                at: h.at.unwrap(),
            })
            .collect()
    }

    #[test]
    fn database_events_lead_at_equal_times_and_log_lines_follow_in_order() {
        let f = facts(SubscriptionFacts {
            digis: vec![digis(at(9, 0, 5), "X1")],
            ..queued_at_9_and_sent(at(9, 0, 5))
        });
        let log = [log_hit(at(9, 0, 5), None), log_hit(at(8, 0, 0), None)];
        let hits = dated(&log);
        let t = build((SUB, PERSON), &f, &hits, None);
        assert_eq!(t.events.len(), 5);
        assert_eq!(kinds(&t), ["log", "queued", "attempt", "synced", "log"]);
        assert_eq!(t.last_log.map(|h| h.at), Some(at(8, 0, 0)));
        assert_eq!(t.last_attempt_at, Some(at(9, 0, 5)));
    }

    #[test]
    fn since_leaves_out_older_database_events_only() {
        let f = facts(queued_at_9_and_sent(at(10, 0, 0)));
        let log = log_hit(at(8, 0, 0), None);
        let hits = [DatedHit {
            hit: &log,
            at: at(8, 0, 0),
        }];
        let t = build((SUB, PERSON), &f, &hits, Some(at(9, 30, 0)));
        assert_eq!(kinds(&t), ["log", "attempt"]);
        // The verdict still reads the whole record.
        assert_eq!(t.latest.map(|r| r.id), Some(OutboxId(1)));
    }

    #[test]
    fn the_newest_row_of_the_person_is_the_one_read_and_only_its_rows_show() {
        let mut other = row(9, OutboxState::Pending, at(11, 0, 0));
        other.person_id = PersonId(8);
        let f = facts(SubscriptionFacts {
            status: Some("ACTIVE".into()),
            rows: vec![
                row(3, OutboxState::Failed, at(10, 0, 0)),
                other,
                row(1, OutboxState::Sent, at(9, 0, 0)),
            ],
            attempts: [
                (
                    OutboxId(3),
                    vec![attempt(3, 1, at(10, 0, 1)), attempt(3, 2, at(10, 5, 0))],
                ),
                (OutboxId(9), vec![attempt(9, 1, at(11, 0, 1))]),
            ]
            .into(),
            events: vec![operator(3, at(10, 6, 0)), operator(9, at(11, 1, 0))],
            ..Default::default()
        });
        let t = build((SUB, PERSON), &f, &[], None);
        assert_eq!(t.latest.map(|r| r.id), Some(OutboxId(3)));
        assert_eq!(t.last_attempt_at, Some(at(10, 5, 0)));
        assert_eq!(
            kinds(&t),
            ["queued", "queued", "attempt", "attempt", "operator"]
        );
        assert!(!t.is_user, "no member row: no longer a user");
        assert_eq!(t.status, Some("ACTIVE"));
    }

    #[test]
    fn card_number_comes_from_the_member_then_the_row_then_the_log() {
        let log = [
            log_hit(at(8, 0, 0), Some("0001")),
            log_hit(at(8, 1, 0), None),
        ];
        let hits = dated(&log);
        let pair = (SUB, PERSON);

        let only_log = facts(SubscriptionFacts::default());
        let t = build(pair, &only_log, &hits, None);
        assert_eq!(t.card_number.as_deref(), Some("0001"));
        assert_eq!(t.status, None);

        let row_with_card = || {
            let mut r = row(1, OutboxState::Sent, at(9, 0, 0));
            r.card_number = Some("0002".into());
            r
        };
        let with_row = facts(SubscriptionFacts {
            rows: vec![row_with_card()],
            ..Default::default()
        });
        let t = build(pair, &with_row, &hits, None);
        assert_eq!(t.card_number.as_deref(), Some("0002"));

        let with_member = facts(SubscriptionFacts {
            members: vec![MemberRow {
                subscription_id: SUB.0,
                person_id: PERSON.0,
                card_number: Some("0003".into()),
                ..Default::default()
            }],
            rows: vec![row_with_card()],
            ..Default::default()
        });
        let t = build(pair, &with_member, &hits, None);
        assert_eq!(t.card_number.as_deref(), Some("0003"));
        assert!(t.is_user);
    }
}
