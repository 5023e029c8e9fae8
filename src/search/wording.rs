//! The words of search: one sentence per member ("Sent on …, external id …"), what support
//! can do about it, and the "no match" sentence. It reads a [`Timeline`] and the
//! [`Delivery`] state and decides nothing else.
use chrono::{DateTime, Utc};

use super::db::Facts;
use super::delivery::Delivery;
use super::logscan::LogHit;
use super::member::{MemberQuery, MAX_PERSONS};
use super::phrases::{capitalised, due, ext_id, last_error, plural, when};
use super::timeline::Timeline;
use super::{MemberVerdict, SearchTerm, VerdictKind};
use crate::domain::OutboxState;
use crate::storage::{DigisRow, OutboxRow};

/// The answer for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub kind: VerdictKind,
    /// One sentence, the answer to "did they get the SMS?".
    pub summary: String,
    /// What support can do about it, when anything.
    pub advice: Option<String>,
}

/// A verdict's parts, as the per-case sentences build them.
type Words = (VerdictKind, String, Option<String>);

/// The newest row decides; without one the `digis` row, then the sync log's last word.
pub(super) fn verdict(t: &Timeline<'_>, d: &Delivery<'_>, now: DateTime<Utc>) -> Verdict {
    let (kind, summary, mut advice) = match t.latest {
        Some(r) => from_row(t, d, now, r),
        None => match t.digis {
            Some(row) => sent_from_digis(row, now),
            None => match t.last_log {
                Some(h) => from_log(t, now, h.hit, h.at),
                None => never_queued(t, d),
            },
        },
    };
    if let Some(defect) = t.defect {
        // The row the relay would read cannot be typed: say so first, whatever else is known.
        let fix = format!(
            "the membership system's row cannot be read ({defect}): correct it there, then save the subscription again"
        );
        advice = Some(match advice {
            Some(a) => format!("{fix}; {a}"),
            None => fix,
        });
    }
    Verdict {
        kind,
        summary,
        advice,
    }
}

/// Something that stops every delivery: what it is, and what to do about it.
pub(super) struct Blocker {
    pub what: String,
    pub fix: String,
}

pub(super) fn blockers(d: &Delivery<'_>) -> Vec<Blocker> {
    let mut b = Vec::new();
    if !d.use_digis {
        b.push(Blocker {
            what: "useDigis is false in the configuration, so nothing is sent".into(),
            fix: "set useDigis = true in the configuration".into(),
        });
    }
    if d.paused {
        let reason = d.pause_reason.unwrap_or("no reason given");
        b.push(Blocker {
            what: format!("delivery is paused ({reason})"),
            fix: said(
                d,
                "p resumes delivery",
                "`digis-relay resume` lets the relays send again",
            ),
        });
    }
    if !d.relay_running {
        let seen = match d.last_heartbeat_secs {
            Some(s) => format!("the last heartbeat was {s} s ago"),
            None => "none has ever run on this database".into(),
        };
        b.push(Blocker {
            what: format!("no relay is running ({seen})"),
            fix: "start `digis-relay run` or the dashboard (it does the work of the membership system's scheduled activity \"Digis sync\")".into(),
        });
    } else if d.use_digis && !d.paused {
        b.extend(d.idle_relays.iter().map(|r| Blocker {
            what: format!(
                "relay {} is {}{}",
                r.relay_id,
                r.state.replace('_', " "),
                r.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            fix: "see `digis-relay status` and `digis-relay doctor`".into(),
        }));
    }
    b
}

/// The way to do something where the report is read: a key in the dashboard, a command in a
/// shell.
fn said(d: &Delivery<'_>, dashboard: &str, cli: &str) -> String {
    match d.place {
        super::Place::Dashboard => dashboard.to_string(),
        super::Place::Cli => cli.to_string(),
    }
}

fn whats(b: &[Blocker]) -> String {
    b.iter()
        .map(|b| b.what.as_str())
        .collect::<Vec<_>>()
        .join("; and ")
}

fn fixes(b: &[Blocker]) -> String {
    b.iter()
        .map(|b| b.fix.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn from_row(t: &Timeline<'_>, d: &Delivery<'_>, now: DateTime<Utc>, r: &OutboxRow) -> Words {
    let last_attempt_at = t.last_attempt_at;
    let earlier = t.digis.map(|row| {
        format!(
            "Digis accepted an earlier send on {}{}",
            when(row.synced_at, now),
            ext_id(row.external_id.as_deref())
        )
    });
    match r.state {
        OutboxState::Sent => (
            VerdictKind::Sent,
            format!(
                "Sent on {}{} (outbox row {}, {}).",
                when(r.sent_at.or(last_attempt_at).unwrap_or(r.created_at), now),
                ext_id(r.external_id.as_deref()),
                r.id,
                plural(r.attempts, "attempt")
            ),
            None,
        ),
        OutboxState::Pending | OutboxState::Sending => {
            let lease_over = r.locked_until.filter(|u| *u < now);
            let mut s = if let (OutboxState::Sending, Some(until)) = (r.state, lease_over) {
                format!(
                    "Claimed by relay {} for attempt {}, but its lease ran out {} (the relay stopped mid-send?): the next relay to poll takes it over (outbox row {}).",
                    r.locked_by.as_deref().unwrap_or("?"),
                    r.attempts,
                    when(until, now),
                    r.id
                )
            } else if r.state == OutboxState::Sending {
                format!(
                    "Being sent now by relay {} (attempt {}, outbox row {}).",
                    r.locked_by.as_deref().unwrap_or("?"),
                    r.attempts,
                    r.id
                )
            } else if r.attempts == 0 {
                format!(
                    "Queued {} as outbox row {}{}, not tried yet; {}.",
                    when(r.created_at, now),
                    r.id,
                    if r.resend { " (a resend)" } else { "" },
                    due(r.next_attempt_at, now)
                )
            } else {
                format!(
                    "Waiting to retry after {}: {}; {} (outbox row {}).",
                    plural(r.attempts, "failed attempt"),
                    last_error(r),
                    due(r.next_attempt_at, now),
                    r.id
                )
            };
            if let Some(e) = &earlier {
                s.push_str(&format!(" {e}."));
            }
            if let Some(st) = t.status.filter(|st| *st != "ACTIVE") {
                s.push_str(&format!(
                    " The subscription is now {st}: the relay will discard this row instead of sending it."
                ));
            } else if !t.is_user {
                s.push_str(" The person is no longer a user of the subscription: the relay will discard this row.");
            }
            let held = blockers(d);
            let advice = if held.is_empty() {
                Some(format!(
                    "Nothing to do: a relay sends it when it is due ({} makes it due now).",
                    said(d, "the key s", "`digis-relay sync`")
                ))
            } else {
                s.push_str(&format!(" But {}.", whats(&held)));
                Some(format!("{}.", capitalised(&fixes(&held))))
            };
            (VerdictKind::Waiting, s, advice)
        }
        OutboxState::Failed => {
            let failed_at = last_attempt_at.unwrap_or(r.next_attempt_at);
            let summary = format!(
                "Failed on {} after {}: {} (outbox row {}).",
                when(failed_at, now),
                plural(r.attempts, "attempt"),
                last_error(r),
                r.id
            );
            if let Some(e) = earlier {
                return (
                    VerdictKind::Sent,
                    format!("{e}. A later send failed: {summary}"),
                    None,
                );
            }
            let err = r.last_error.as_deref().unwrap_or("").to_lowercase();
            let what = if err.contains("mobile") || err.contains("phone") || err.contains("person")
            {
                "correct the member's data in the membership system (the error names the field)"
            } else if r.last_http_status.is_some_and(|s| (400..500).contains(&s)) {
                "Digis rejected the data: correct it in the membership system"
            } else {
                "fix the cause named in the error"
            };
            (
                VerdictKind::Failed,
                summary,
                Some(format!(
                    "{}, then {} (or save the subscription again).",
                    capitalised(what),
                    said(
                        d,
                        &format!("press r on row {} in the Outbox view", r.id),
                        &format!("`digis-relay retry {}`", r.id)
                    )
                )),
            )
        }
        OutboxState::Discarded => {
            let reason = r.reason.as_deref().unwrap_or("no reason recorded");
            if let Some(e) = earlier {
                return (
                    VerdictKind::Sent,
                    format!("{e}. A later row ({}) was discarded: {reason}.", r.id),
                    None,
                );
            }
            (
                VerdictKind::Discarded,
                format!("Not sent: outbox row {} was discarded ({reason}).", r.id),
                Some(format!(
                    "If it should be sent anyway: {}.",
                    said(
                        d,
                        &format!("press e on row {} in the Outbox view", r.id),
                        &format!(
                            "`digis-relay resend --subscription {} --person {}`",
                            t.subscription, t.person
                        )
                    )
                )),
            )
        }
    }
}

fn sent_from_digis(d: &DigisRow, now: DateTime<Utc>) -> Words {
    (
        VerdictKind::Sent,
        format!(
            "Sent on {}{} (from the digis table; the outbox row is gone: pruned, or sent before the relay was installed).",
            when(d.synced_at, now),
            ext_id(d.external_id.as_deref())
        ),
        None,
    )
}

/// Only the logs remember this member (the database rows were pruned or deleted).
fn from_log(t: &Timeline<'_>, now: DateTime<Utc>, h: &LogHit, at: DateTime<Utc>) -> Words {
    let outcome = h.fields.outcome.as_deref().unwrap_or("unknown");
    let place = format!("{} line {}", h.file, h.line);
    let resend = format!(
        "`digis-relay resend --subscription {} --person {}`",
        t.subscription, t.person
    );
    match outcome {
        "sent" => (
            VerdictKind::Sent,
            format!(
                "Sent on {}{} according to the sync log ({place}); the database no longer has a record of it.",
                when(at, now),
                ext_id(h.fields.external_id.as_deref())
            ),
            None,
        ),
        "discarded" => (
            VerdictKind::Discarded,
            format!(
                "Not sent: discarded on {} according to the sync log ({place}){}.",
                when(at, now),
                h.fields
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            Some(format!("If it should be sent anyway: {resend}.")),
        ),
        _ => (
            VerdictKind::Failed,
            format!(
                "The sync log's last word ({place}, {}) is outcome {outcome}{}, but the database has no row for this member any more, so nothing more will happen.",
                when(at, now),
                h.fields
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
            Some(format!("Queue it again: {resend}.")),
        ),
    }
}

fn never_queued(t: &Timeline<'_>, d: &Delivery<'_>) -> Words {
    let (summary, mut advice) = match t.status {
        None => (
            format!("Never queued: there is no subscription {}.", t.subscription),
            None,
        ),
        Some(_) if !t.is_user => (
            format!(
                "Never queued: person {} is not a user of subscription {}.",
                t.person, t.subscription
            ),
            Some("Add the person as a user of the subscription.".to_string()),
        ),
        Some(st) if st != "ACTIVE" => (
            format!(
                "Never queued: subscription {} is {st}, and only ACTIVE subscriptions are sent.",
                t.subscription
            ),
            Some("It is queued when the subscription is saved as ACTIVE.".to_string()),
        ),
        Some(_) => (
            format!(
                "Never queued: subscription {} is ACTIVE but has not been saved since the relay was installed (no outbox row, digis row or log line exists).",
                t.subscription
            ),
            Some(
                "Save the subscription (change something, e.g. the message) or run `digis-relay sync --reconcile`."
                    .to_string(),
            ),
        ),
    };
    let held = blockers(d);
    if !held.is_empty() {
        let note = format!("Note: {}: {}.", whats(&held), fixes(&held));
        advice = Some(match advice {
            Some(a) => format!("{a} {note}"),
            None => note,
        });
    }
    (VerdictKind::NeverQueued, summary, advice)
}

/// The sentence for a search that found nothing: what the number is (or is not), and the
/// likely cause. `logs` says how much of the sync log was searched.
pub(super) fn no_match(
    term: &SearchTerm,
    facts: &Facts,
    verdicts: &[MemberVerdict],
    d: &Delivery<'_>,
    logs: &str,
) -> String {
    let mut s = match term {
        SearchTerm::Subscription(id) => {
            let sf = facts.subscriptions.get(id);
            match sf.and_then(|f| f.status.as_deref()) {
                None => format!(
                    "No match for {term}: there is no subscription {id} in the membership database, no outbox row, and no log line ({logs}). Check the number: ExtInfo1 is the subscription id, not the person id or the card number."
                ),
                Some(st) if verdicts.is_empty() => format!(
                    "No match for {term}: subscription {id} ({st}) has no users, so there is nobody to invite (a user was never added); no log line either ({logs})."
                ),
                Some(st) if st != "ACTIVE" => format!(
                    "Nothing was ever queued for {term}: subscription {id} is {st}, and only ACTIVE subscriptions are sent ({logs}, none matches)."
                ),
                Some(_) => format!(
                    "Nothing was ever queued for {term}: subscription {id} is ACTIVE with {} but has not been saved since the relay was installed ({logs}, none matches). Save it (change e.g. the message) or run `digis-relay sync --reconcile`.",
                    plural(verdicts.len() as i32, "user")
                ),
            }
        }
        SearchTerm::Card(card) => {
            let persons = facts.persons_with_card.as_deref().unwrap_or_default();
            if persons.is_empty() {
                let check = match facts.card_suggestions.as_slice() {
                    [] => "check them".to_string(),
                    cards => format!(
                        "did you mean {}?",
                        cards
                            .iter()
                            .map(|c| crate::sanitize::for_display(c))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                };
                format!(
                    "No match for {term}: no person has card number {card}, and there is no outbox row and no log line ({logs}). Card numbers match whole, leading zeros included: {check}"
                )
            } else if verdicts.is_empty() {
                format!(
                    "No match for {term}: person {} holds card {card} but is not a user of any subscription (the user was never added), so nothing is sent; no log line either ({logs}).",
                    persons
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "Nothing was ever queued for {term} ({logs}, none matches): {}",
                    never_queued_summaries(verdicts)
                )
            }
        }
        SearchTerm::Member(query) => {
            let persons = facts.found.as_ref().map(|f| f.ids()).unwrap_or_default();
            if persons.is_empty() {
                format!(
                    "No match for this {term}: no person in the membership database has it. {} (The sync log was not searched: it holds no phone numbers, e-mail addresses or names.)",
                    member_hint(query)
                )
            } else if verdicts.is_empty() {
                let (who, holds) = if persons.len() == 1 {
                    ("person", "has it but is")
                } else {
                    ("persons", "have it but are")
                };
                format!(
                    "No match for this {term}: {who} {} {holds} not a user of any subscription (the user was never added), so nothing is sent; no log line either ({logs}).",
                    persons.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
                )
            } else {
                format!(
                    "Nothing was ever queued for this {term} ({logs}, none matches): {}",
                    never_queued_summaries(verdicts)
                )
            }
        }
    };
    let exists = match term {
        SearchTerm::Subscription(id) => facts
            .subscriptions
            .get(id)
            .is_some_and(|f| f.status.is_some()),
        SearchTerm::Card(_) | SearchTerm::Member(_) => !verdicts.is_empty(),
    };
    // When the number itself is unknown, the relay's state is not the cause: leave it out.
    if exists {
        for b in blockers(d) {
            s.push_str(&format!(" Also: {}; {}.", b.what, b.fix));
        }
    }
    s
}

fn never_queued_summaries(verdicts: &[MemberVerdict]) -> String {
    verdicts
        .iter()
        .map(|v| v.summary.trim_start_matches("Never queued: ").to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a member key is compared, so support can tell a typing slip from an unknown member.
fn member_hint(query: &MemberQuery) -> String {
    match query {
        MemberQuery::Phone(q) => format!(
            "Numbers are compared as the payload reads them (with or without the country code, 00, the trunk 0 or separators, it is one number); a number typed without + or 00 is read as {}: type a foreign number with its country code.",
            q.default_region()
        ),
        MemberQuery::Email(_) => {
            "Addresses are compared whole, case aside: check the spelling, or search by phone number or name.".to_string()
        }
        MemberQuery::Name(_) => {
            "Names match in part, case and accents aside, and every word typed must occur in the first or last name: try fewer words.".to_string()
        }
    }
}

/// The warning when more persons matched than one search reports on.
pub(super) fn persons_cut(term: &SearchTerm) -> String {
    format!(
        "more than {MAX_PERSONS} persons match this {term}: only the first {MAX_PERSONS} (lowest person ids) are shown; narrow the search (more of the name, or the phone number or e-mail address)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::db::SubscriptionFacts;
    use crate::search::fixtures::{at, digis, facts, row, PERSON, SUB};
    use crate::search::RelaySummary;
    use crate::storage::{RowDefect, StoredId};

    /// A member of an ACTIVE subscription with nothing on record.
    fn timeline<'a>() -> Timeline<'a> {
        Timeline {
            subscription: SUB,
            person: PERSON,
            status: Some("ACTIVE"),
            is_user: true,
            defect: None,
            card_number: None,
            latest: None,
            last_attempt_at: None,
            digis: None,
            last_log: None,
            events: Vec::new(),
        }
    }

    fn delivering<'a>() -> Delivery<'a> {
        Delivery {
            use_digis: true,
            paused: false,
            pause_reason: None,
            relay_running: true,
            last_heartbeat_secs: Some(1),
            idle_relays: Vec::new(),
            place: crate::search::Place::Cli,
        }
    }

    #[test]
    fn a_failed_row_after_an_accepted_send_reads_as_sent() {
        let mut r = row(4, OutboxState::Failed, at(9, 0, 0));
        r.attempts = 2;
        r.last_error = Some("timeout".into());
        let d = digis(at(8, 0, 0), "X1");
        let t = Timeline {
            latest: Some(&r),
            last_attempt_at: Some(at(9, 1, 0)),
            digis: Some(&d),
            ..timeline()
        };
        let v = verdict(&t, &delivering(), at(10, 0, 0));
        assert_eq!(v.kind, VerdictKind::Sent);
        assert_eq!(
            v.summary,
            "Digis accepted an earlier send on 2026-11-28 08:00:00 UTC (2 h ago), external id X1. \
             A later send failed: Failed on 2026-11-28 09:01:00 UTC (59 min ago) after 2 attempts: \
             timeout (outbox row 4)."
        );
        assert_eq!(v.advice, None);
    }

    #[test]
    fn a_waiting_row_names_every_blocker_and_its_fix() {
        let r = row(4, OutboxState::Pending, at(9, 0, 0));
        let t = Timeline {
            latest: Some(&r),
            ..timeline()
        };
        let relay = RelaySummary {
            relay_id: "r1".into(),
            hostname: "h".into(),
            state: "circuit_open".into(),
            detail: Some("Digis answers 503".into()),
            heartbeat_at: at(9, 59, 59),
            alive: true,
        };
        let idle = Delivery {
            idle_relays: vec![&relay],
            ..delivering()
        };
        let v = verdict(&t, &idle, at(10, 0, 0));
        assert_eq!(v.kind, VerdictKind::Waiting);
        assert!(
            v.summary
                .ends_with(" But relay r1 is circuit open (Digis answers 503)."),
            "{}",
            v.summary
        );
        assert_eq!(
            v.advice.as_deref(),
            Some("See `digis-relay status` and `digis-relay doctor`.")
        );

        let stopped = Delivery {
            use_digis: false,
            paused: true,
            relay_running: false,
            last_heartbeat_secs: Some(30),
            ..delivering()
        };
        let b = blockers(&stopped);
        assert_eq!(
            whats(&b),
            "useDigis is false in the configuration, so nothing is sent; and delivery is paused \
             (no reason given); and no relay is running (the last heartbeat was 30 s ago)"
        );
    }

    #[test]
    fn an_unreadable_member_row_is_named_before_other_advice() {
        let defect = RowDefect {
            outbox_id: None,
            subscription: StoredId::Int(SUB.0),
            person: StoredId::Int(PERSON.0),
            column: "first_name",
            problem: "is not valid UTF-8".into(),
        };
        let t = Timeline {
            defect: Some(&defect),
            ..timeline()
        };
        let v = verdict(&t, &delivering(), at(10, 0, 0));
        assert_eq!(v.kind, VerdictKind::NeverQueued);
        let advice = v.advice.unwrap_or_default();
        assert!(
            advice.starts_with("the membership system's row cannot be read (subscription 863, person 7: column first_name is not valid UTF-8): correct it there"),
            "{advice}"
        );
        assert!(
            advice.ends_with("or run `digis-relay sync --reconcile`."),
            "{advice}"
        );
    }

    #[test]
    fn no_match_leaves_the_relays_out_when_the_number_is_unknown() {
        let nothing_runs = Delivery {
            relay_running: false,
            last_heartbeat_secs: Some(30),
            ..delivering()
        };
        let term = SearchTerm::Subscription(SUB);
        let unknown = facts(SubscriptionFacts::default());
        let s = no_match(
            &term,
            &unknown,
            &[],
            &nothing_runs,
            "2 sync-log file(s) searched",
        );
        assert!(
            s.starts_with("No match for ExtInfo1:863: there is no subscription 863"),
            "{s}"
        );
        assert!(!s.contains("Also:"), "{s}");

        let known = facts(SubscriptionFacts {
            status: Some("ACTIVE".into()),
            ..Default::default()
        });
        let s = no_match(
            &term,
            &known,
            &[],
            &nothing_runs,
            "2 sync-log file(s) searched",
        );
        assert!(s.contains("has no users"), "{s}");
        assert!(s.ends_with(" Also: no relay is running (the last heartbeat was 30 s ago); start `digis-relay run` or the dashboard (it does the work of the membership system's scheduled activity \"Digis sync\")."), "{s}");
    }
}
