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
    /// The member's last sync-log line: the only witness once the rows are pruned.
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
