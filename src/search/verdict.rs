//! Turns the facts into one plain-language verdict per match, and the "no match" sentence.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::db::{Facts, Pair};
use super::logscan::{LogFile, LogHit, LogScan};
use super::{
    Event, EventSource, MemberVerdict, RelaySummary, SearchOptions, SearchReport, SearchTerm,
    TimelineEvent, VerdictKind,
};
use crate::domain::{OutboxState, SubscriptionId};
use crate::storage::{DigisRow, OutboxRow};

/// What holds every delivery back, whatever the row.
struct Env<'a> {
    now: DateTime<Utc>,
    use_digis: bool,
    paused: Option<&'a str>,
    relay_running: bool,
    stale_secs: u64,
    /// Alive relays that are not sending, with why.
    relays_idle: Vec<String>,
}

/// Something that stops every delivery: what it is, and what to do about it.
struct Blocker {
    what: String,
    fix: String,
}

impl Env<'_> {
    fn blockers(&self) -> Vec<Blocker> {
        let mut b = Vec::new();
        if !self.use_digis {
            b.push(Blocker {
                what: "useDigis is false in the configuration, so nothing is sent".into(),
                fix: "set useDigis = true in the configuration".into(),
            });
        }
        if let Some(reason) = self.paused {
            b.push(Blocker {
                what: format!("delivery is paused ({reason})"),
                fix: "`digis-relay resume` lets the relays send again".into(),
            });
        }
        if !self.relay_running {
            b.push(Blocker {
                what: format!(
                    "no relay is running (no heartbeat in the last {} s)",
                    self.stale_secs
                ),
                fix: "start `digis-relay run` or the dashboard (the seed's \"Digis sync must be activated\")".into(),
            });
        } else if self.use_digis && self.paused.is_none() {
            b.extend(self.relays_idle.iter().map(|r| Blocker {
                what: r.clone(),
                fix: "see `digis-relay status` and `digis-relay doctor`".into(),
            }));
        }
        b
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

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn report(
    term: &SearchTerm,
    log_dir: &Path,
    opts: &SearchOptions,
    facts: Facts,
    scan: LogScan,
) -> SearchReport {
    let now = opts.now;
    let relays: Vec<RelaySummary> = facts
        .relays
        .iter()
        .map(|r| RelaySummary {
            relay_id: r.relay_id.clone(),
            hostname: r.hostname.clone(),
            state: r.state.to_string(),
            detail: r.detail.clone(),
            heartbeat_at: r.heartbeat_at,
            alive: crate::health::is_live(r, now),
        })
        .collect();
    let alive: Vec<&RelaySummary> = relays.iter().filter(|r| r.alive).collect();
    let relays_idle = if alive.iter().any(|r| r.state == "running") {
        Vec::new()
    } else {
        alive
            .iter()
            .map(|r| {
                format!(
                    "relay {} is {}{}",
                    r.relay_id,
                    r.state.replace('_', " "),
                    r.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )
            })
            .collect()
    };
    let env = Env {
        now,
        use_digis: opts.use_digis,
        paused: facts.control.paused.then(|| {
            facts
                .control
                .pause_reason
                .as_deref()
                .unwrap_or("no reason given")
        }),
        relay_running: !alive.is_empty(),
        stale_secs: opts.relay_stale_after.as_secs(),
        relays_idle,
    };
    let since = opts
        .since
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());

    // Sort keys for log lines: a line without a readable time sorts after the previous line
    // of its file (or at its file's day).
    let mut keys = Vec::with_capacity(scan.hits.len());
    let mut last: Option<(String, DateTime<Utc>)> = None;
    for h in &scan.hits {
        let prev = last.as_ref().filter(|(f, _)| *f == h.file).map(|(_, t)| *t);
        let key =
            h.at.or(prev)
                .or_else(|| {
                    LogFile::from_name(log_dir, &h.file)
                        .and_then(|f| f.date)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc())
                })
                .unwrap_or(now);
        last = Some((h.file.clone(), key));
        keys.push(key);
    }

    // Put each line on its member's timeline.
    let mut by_pair: BTreeMap<Pair, Vec<usize>> = BTreeMap::new();
    let mut other = Vec::new();
    for (i, h) in scan.hits.iter().enumerate() {
        let sub = match term {
            SearchTerm::Subscription(id) => Some(*id),
            SearchTerm::Card(_) => h.fields.subscription_id.map(SubscriptionId),
        };
        // Only a line that parsed whole speaks for a member; any other line is shown beside
        // the verdicts and never decides one.
        let pair = match (sub, h.fields.person_id) {
            (Some(s), Some(p)) if h.fields.parsed => Some((s, crate::domain::PersonId(p))),
            _ => None,
        };
        match pair {
            Some(p) => by_pair.entry(p).or_default().push(i),
            None => other.push(i),
        }
    }

    let no_hits = Vec::new();
    let mut verdicts = Vec::new();
    for pair in &facts.pairs {
        let hits: Vec<(&LogHit, DateTime<Utc>)> = by_pair
            .get(pair)
            .unwrap_or(&no_hits)
            .iter()
            .map(|&i| (&scan.hits[i], keys[i]))
            .collect();
        verdicts.push(member(pair, &facts, &hits, &env, since));
    }

    let mut other_log_lines: Vec<(DateTime<Utc>, TimelineEvent)> = other
        .iter()
        .map(|&i| (keys[i], log_event(&scan.hits[i])))
        .collect();
    other_log_lines.sort_by_key(|(k, _)| *k);

    let log_files_note = if scan.dir_exists {
        format!("{} sync-log file(s) searched", scan.files.len())
    } else {
        format!("the log folder {} does not exist", log_dir.display())
    };
    let not_found = (other_log_lines.is_empty()
        && verdicts
            .iter()
            .all(|v| v.verdict == VerdictKind::NeverQueued))
    .then(|| no_match(term, &facts, &verdicts, &env, &log_files_note));

    SearchReport {
        term: term.clone(),
        searched_at: now,
        since: opts.since,
        verdicts,
        not_found,
        other_log_lines: other_log_lines.into_iter().map(|(_, e)| e).collect(),
        use_digis: opts.use_digis,
        paused: facts.control.paused,
        pause_reason: facts.control.pause_reason.clone(),
        relay_running: env.relay_running,
        relays,
        log_dir: log_dir.display().to_string(),
        log_dir_exists: scan.dir_exists,
        bytes_scanned: scan.files.iter().map(|f| f.bytes).sum(),
        log_files_scanned: scan.files,
        log_files_skipped: scan.skipped,
        warnings: scan.warnings,
    }
}

fn log_event(h: &LogHit) -> TimelineEvent {
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

fn member(
    pair: &Pair,
    facts: &Facts,
    hits: &[(&LogHit, DateTime<Utc>)],
    env: &Env<'_>,
    since: Option<DateTime<Utc>>,
) -> MemberVerdict {
    let (s, p) = *pair;
    let empty = Default::default();
    let sf = facts.subscriptions.get(&s).unwrap_or(&empty);
    let m = sf.members.iter().find(|m| m.person() == p);
    let defect = sf.defect_of(p);
    let mut rows: Vec<&OutboxRow> = sf.rows.iter().filter(|r| r.person_id == p).collect();
    rows.sort_by_key(|r| r.id);
    let digis = sf.digis.iter().find(|d| d.person_id == p);
    let latest = rows.last().copied();
    let card_number = m
        .and_then(|m| m.card_number.clone())
        .or_else(|| latest.and_then(|r| r.card_number.clone()))
        .or_else(|| {
            hits.iter()
                .rev()
                .find_map(|(h, _)| h.fields.card_number.clone())
        });

    // The timeline: database events first at equal times, then the log's view of them.
    let mut timeline: Vec<(DateTime<Utc>, TimelineEvent)> = Vec::new();
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
    for r in &rows {
        timeline.push(db(
            r.created_at,
            Event::Queued {
                outbox_id: r.id,
                state: r.state,
                resend: r.resend,
            },
        ));
        for a in sf.attempts.get(&r.id).into_iter().flatten() {
            timeline.push(db(
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
    for e in sf
        .events
        .iter()
        .filter(|e| rows.iter().any(|r| Some(r.id) == e.outbox_id))
    {
        timeline.push(db(
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
        timeline.push(db(
            d.synced_at,
            Event::Synced {
                external_id: d.external_id.clone(),
            },
        ));
    }
    if let Some(since) = since {
        timeline.retain(|(at, _)| *at >= since);
    }
    timeline.extend(hits.iter().map(|(h, k)| (*k, log_event(h))));
    timeline.sort_by_key(|(k, _)| *k);

    let status = sf.status.clone();
    let ctx = Ctx {
        s,
        p,
        status: status.as_deref(),
        is_user: m.is_some() || defect.is_some(),
        env,
    };
    let last_attempt_at = latest.and_then(|r| {
        sf.attempts
            .get(&r.id)
            .and_then(|a| a.last())
            .map(|a| a.started_at)
    });
    let (verdict, summary, mut advice) = match latest {
        Some(r) => from_row(&ctx, r, last_attempt_at, digis),
        None => match digis {
            Some(d) => sent_from_digis(d, env.now),
            None => match hits.last() {
                Some((h, k)) => from_log(&ctx, h, *k),
                None => never_queued(&ctx),
            },
        },
    };
    if let Some(d) = defect {
        // The row the relay would read cannot be typed: say so first, whatever else is known.
        let fix = format!(
            "the membership system's row cannot be read ({d}): correct it there, then save the subscription again"
        );
        advice = Some(match advice {
            Some(a) => format!("{fix}; {a}"),
            None => fix,
        });
    }
    MemberVerdict {
        subscription_id: s,
        person_id: p,
        card_number,
        subscription_status: status,
        is_user: m.is_some() || defect.is_some(),
        verdict,
        summary,
        advice,
        outbox_id: latest.map(|r| r.id),
        state: latest.map(|r| r.state),
        attempts: latest.map(|r| r.attempts),
        sent_at: latest
            .and_then(|r| r.sent_at)
            .or_else(|| digis.map(|d| d.synced_at)),
        external_id: latest
            .and_then(|r| r.external_id.clone())
            .or_else(|| digis.and_then(|d| d.external_id.clone())),
        next_attempt_at: latest
            .filter(|r| r.state.is_open())
            .map(|r| r.next_attempt_at),
        last_error: latest.and_then(|r| r.last_error.clone()),
        last_http_status: latest.and_then(|r| r.last_http_status),
        reason: latest.and_then(|r| r.reason.clone()),
        timeline: timeline.into_iter().map(|(_, e)| e).collect(),
    }
}

struct Ctx<'a> {
    s: SubscriptionId,
    p: crate::domain::PersonId,
    status: Option<&'a str>,
    is_user: bool,
    env: &'a Env<'a>,
}

type Verdict = (VerdictKind, String, Option<String>);

fn from_row(
    ctx: &Ctx<'_>,
    r: &OutboxRow,
    last_attempt_at: Option<DateTime<Utc>>,
    digis: Option<&DigisRow>,
) -> Verdict {
    let now = ctx.env.now;
    let earlier = digis.map(|d| {
        format!(
            "Digis accepted an earlier send on {}{}",
            when(d.synced_at, now),
            ext_id(d.external_id.as_deref())
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
            if let Some(st) = ctx.status.filter(|st| *st != "ACTIVE") {
                s.push_str(&format!(
                    " The subscription is now {st}: the relay will discard this row instead of sending it."
                ));
            } else if !ctx.is_user {
                s.push_str(" The person is no longer a user of the subscription: the relay will discard this row.");
            }
            let blockers = ctx.env.blockers();
            let advice = if blockers.is_empty() {
                Some(
                    "Nothing to do: a relay sends it when it is due (`digis-relay sync` makes it due now)."
                        .to_string(),
                )
            } else {
                s.push_str(&format!(" But {}.", whats(&blockers)));
                Some(format!("{}.", capitalised(&fixes(&blockers))))
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
                    "{}, then `digis-relay retry {}` (or save the subscription again).",
                    capitalised(what),
                    r.id
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
                format!(
                    "Not sent: outbox row {} was discarded ({reason}).",
                    r.id
                ),
                Some(format!(
                    "If it should be sent anyway: `digis-relay resend --subscription {} --person {}`.",
                    ctx.s, ctx.p
                )),
            )
        }
    }
}

fn sent_from_digis(d: &DigisRow, now: DateTime<Utc>) -> Verdict {
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
fn from_log(ctx: &Ctx<'_>, h: &LogHit, at: DateTime<Utc>) -> Verdict {
    let now = ctx.env.now;
    let outcome = h.fields.outcome.as_deref().unwrap_or("unknown");
    let place = format!("{} line {}", h.file, h.line);
    let resend = format!(
        "`digis-relay resend --subscription {} --person {}`",
        ctx.s, ctx.p
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

fn never_queued(ctx: &Ctx<'_>) -> Verdict {
    let (summary, mut advice) = match ctx.status {
        None => (
            format!("Never queued: there is no subscription {}.", ctx.s),
            None,
        ),
        Some(_) if !ctx.is_user => (
            format!(
                "Never queued: person {} is not a user of subscription {}.",
                ctx.p, ctx.s
            ),
            Some("Add the person as a user of the subscription.".to_string()),
        ),
        Some(st) if st != "ACTIVE" => (
            format!(
                "Never queued: subscription {} is {st}, and only ACTIVE subscriptions are sent.",
                ctx.s
            ),
            Some("It is queued when the subscription is saved as ACTIVE.".to_string()),
        ),
        Some(_) => (
            format!(
                "Never queued: subscription {} is ACTIVE but has not been saved since the relay was installed (no outbox row, digis row or log line exists).",
                ctx.s
            ),
            Some(
                "Save the subscription (change something, e.g. the message) or run `digis-relay sync --reconcile`."
                    .to_string(),
            ),
        ),
    };
    let blockers = ctx.env.blockers();
    if !blockers.is_empty() {
        let note = format!("Note: {}: {}.", whats(&blockers), fixes(&blockers));
        advice = Some(match advice {
            Some(a) => format!("{a} {note}"),
            None => note,
        });
    }
    (VerdictKind::NeverQueued, summary, advice)
}

fn no_match(
    term: &SearchTerm,
    facts: &Facts,
    verdicts: &[MemberVerdict],
    env: &Env<'_>,
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
                format!(
                    "No match for {term}: no person has card number {card}, and there is no outbox row and no log line ({logs}). Card numbers match whole, leading zeros included: check them."
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
                    verdicts
                        .iter()
                        .map(|v| v.summary.trim_start_matches("Never queued: ").to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        }
    };
    let exists = match term {
        SearchTerm::Subscription(id) => facts
            .subscriptions
            .get(id)
            .is_some_and(|f| f.status.is_some()),
        SearchTerm::Card(_) => !verdicts.is_empty(),
    };
    // When the number itself is unknown, the relay's state is not the cause: leave it out.
    if exists {
        for b in env.blockers() {
            s.push_str(&format!(" Also: {}; {}.", b.what, b.fix));
        }
    }
    s
}

fn last_error(r: &OutboxRow) -> String {
    match (&r.last_error, r.last_http_status) {
        (Some(e), Some(st)) => format!("{e} (HTTP {st})"),
        (Some(e), None) => e.clone(),
        (None, Some(st)) => format!("HTTP {st}"),
        (None, None) => "no error recorded".into(),
    }
}

fn ext_id(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(", external id {id}"),
        None => ", no external id returned".into(),
    }
}

fn plural(n: i32, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn due(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
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
