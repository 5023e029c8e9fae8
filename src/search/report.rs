//! Assembles the [`SearchReport`]: the log lines attributed to members, one timeline and one
//! verdict per member, and the "no match" sentence when nothing was found.
use std::path::Path;

use super::attribute::attribute;
use super::db::Facts;
use super::delivery::{relay_summaries, Delivery};
use super::logscan::LogScan;
use super::timeline::{self, Timeline};
use super::wording::{self, Verdict};
use super::{MemberVerdict, SearchOptions, SearchReport, SearchTerm, VerdictKind};

pub(super) fn report(
    term: &SearchTerm,
    log_dir: &Path,
    opts: &SearchOptions,
    facts: Facts,
    scan: LogScan,
) -> SearchReport {
    let now = opts.now;
    let relays = relay_summaries(facts.delivery.relays.as_deref().unwrap_or_default(), now);
    let delivery = Delivery::new(opts, &facts.delivery, &relays);
    let since = opts
        .since
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());

    let lines = attribute(term, log_dir, &scan.hits, now);
    let verdicts: Vec<MemberVerdict> = facts
        .pairs
        .iter()
        .map(|pair| {
            let hits = lines
                .by_member
                .get(pair)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let t = timeline::build(*pair, &facts, hits, since);
            let v = wording::verdict(&t, &delivery, now);
            member_verdict(term, t, v)
        })
        .collect();

    let mut other_log_lines: Vec<_> = lines
        .unattributed
        .iter()
        .map(|h| (h.at, timeline::log_event(h.hit)))
        .collect();
    other_log_lines.sort_by_key(|(at, _)| *at);

    let log_files_note = if scan.dir_exists {
        format!("{} sync-log file(s) searched", scan.files.len())
    } else {
        format!("the log folder {} does not exist", log_dir.display())
    };
    let not_found = (other_log_lines.is_empty()
        && verdicts
            .iter()
            .all(|v| v.verdict == VerdictKind::NeverQueued))
    .then(|| wording::no_match(term, &facts, &verdicts, &delivery, &log_files_note));
    let relay_running = delivery.relay_running;
    // Read whole before the report is made (`db::seed`).
    let control = facts.delivery.control.as_ref().ok();
    let mut warnings = scan.warnings;
    let persons_truncated = facts.found.as_ref().is_some_and(|f| f.truncated);
    if persons_truncated {
        warnings.push(wording::persons_cut(term));
    }

    SearchReport {
        term: term.clone(),
        matched_by: term.kind(),
        matched_persons: facts.found.as_ref().map(|f| f.ids()),
        persons_truncated,
        searched_at: now,
        since: opts.since,
        verdicts,
        not_found,
        did_you_mean: facts.card_suggestions.clone(),
        other_log_lines: other_log_lines.into_iter().map(|(_, e)| e).collect(),
        use_digis: opts.use_digis,
        paused: control.is_some_and(|c| c.paused),
        pause_reason: control.and_then(|c| c.pause_reason.clone()),
        relay_running,
        relays,
        log_dir: log_dir.display().to_string(),
        log_dir_exists: scan.dir_exists,
        bytes_scanned: scan.files.iter().map(|f| f.bytes).sum(),
        log_files_scanned: scan.files,
        log_files_skipped: scan.skipped,
        warnings,
    }
}

/// The member's part of the report: the verdict, the newest row's figures, the timeline.
fn member_verdict(term: &SearchTerm, t: Timeline<'_>, v: Verdict) -> MemberVerdict {
    let latest = t.latest;
    let digis = t.digis;
    MemberVerdict {
        subscription_id: t.subscription,
        person_id: t.person,
        matched_on: term.kind(),
        card_number: t.card_number,
        subscription_status: t.status.map(str::to_string),
        is_user: t.is_user,
        verdict: v.kind,
        summary: v.summary,
        advice: v.advice,
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
        timeline: t.events,
    }
}
