//! The human output of `search`: the verdicts first (what support was asked), then the
//! evidence, one timeline per match.
use std::fmt::Write;

use super::phrases::relative;
use super::{Event, EventSource, MemberVerdict, SearchReport, TimelineEvent, VerdictKind};
use crate::sanitize::for_display as d;

pub fn render_text(r: &SearchReport) -> String {
    let mut out = String::new();
    let o = &mut out;
    let now = r.searched_at;

    // The verdict comes first.
    if let Some(nf) = &r.not_found {
        let _ = writeln!(o, "{nf}");
    } else {
        let _ = writeln!(
            o,
            "{}: {}",
            r.term,
            match r.verdicts.len() {
                0 => "only log lines that name no member".to_string(),
                1 => "1 member".to_string(),
                n => format!("{n} members"),
            }
        );
        if let Some(persons) = &r.matched_persons {
            let ids: Vec<String> = persons.iter().map(|p| p.to_string()).collect();
            let _ = writeln!(
                o,
                "  found by {}: person{} {}{}",
                r.term,
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", "),
                if r.persons_truncated {
                    " (more match: only these are shown)"
                } else {
                    ""
                }
            );
        }
        for v in &r.verdicts {
            let _ = writeln!(o, "  {} {}: {}", label(v.verdict), who(v), d(&v.summary));
            if let Some(a) = &v.advice {
                let _ = writeln!(o, "      what to do: {}", d(a));
            }
        }
    }

    // The state of delivery, in one line.
    let relay = if r.relay_running {
        let alive: Vec<String> = r
            .relays
            .iter()
            .filter(|x| x.alive)
            .map(|x| {
                format!(
                    "{} {} (heartbeat {})",
                    d(&x.relay_id),
                    d(&x.state),
                    relative(x.heartbeat_at, now)
                )
            })
            .collect();
        format!("running: {}", alive.join(", "))
    } else if let Some(last) = r.relays.iter().max_by_key(|x| x.heartbeat_at) {
        format!(
            "NONE RUNNING (last heartbeat {} by {})",
            relative(last.heartbeat_at, now),
            d(&last.relay_id)
        )
    } else {
        "NONE has ever run against this database".to_string()
    };
    let _ = writeln!(
        o,
        "\nrelay: {relay} · useDigis: {} · delivery: {}",
        if r.use_digis { "on" } else { "OFF" },
        if r.paused {
            format!(
                "PAUSED ({})",
                d(r.pause_reason.as_deref().unwrap_or("no reason given"))
            )
        } else {
            "not paused".into()
        }
    );

    for v in &r.verdicts {
        let _ = writeln!(
            o,
            "\n── subscription {} ({}) · person {}{}{} ──",
            v.subscription_id,
            d(v.subscription_status
                .as_deref()
                .unwrap_or("no such subscription")),
            v.person_id,
            v.card_number
                .as_deref()
                .map(|c| format!(" · card {}", d(c)))
                .unwrap_or_default(),
            if v.is_user { "" } else { " · not a user now" }
        );
        if v.timeline.is_empty() {
            let _ = writeln!(o, "  (no event{})", since_note(r));
        }
        for e in &v.timeline {
            let _ = writeln!(o, "  {}", event_line(e));
        }
    }
    if !r.other_log_lines.is_empty() {
        let _ = writeln!(o, "\n── log lines that name no single member ──");
        for e in &r.other_log_lines {
            let _ = writeln!(o, "  {}", event_line(e));
        }
    }

    let _ = writeln!(o);
    let nobody = r.matched_persons.as_ref().is_some_and(|p| p.is_empty());
    if r.log_dir_exists && nobody {
        let _ = writeln!(
            o,
            "the sync log in {} was not searched: no person matched, and it holds no phone numbers, e-mail addresses or names",
            r.log_dir
        );
    } else if r.log_dir_exists {
        let names: Vec<&str> = r
            .log_files_scanned
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let _ = writeln!(
            o,
            "searched {} log file(s), {}, in {}{}{}",
            names.len(),
            size(r.bytes_scanned),
            r.log_dir,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            },
            if r.log_files_skipped.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} older file(s) skipped{})",
                    r.log_files_skipped.len(),
                    since_note(r)
                )
            }
        );
    } else {
        let _ = writeln!(
            o,
            "the log folder {} does not exist: searched the database only",
            r.log_dir
        );
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {}", d(w));
    }
    out
}

fn label(k: VerdictKind) -> &'static str {
    match k {
        VerdictKind::Sent => "SENT        ",
        VerdictKind::Waiting => "WAITING     ",
        VerdictKind::Failed => "FAILED      ",
        VerdictKind::Discarded => "DISCARDED   ",
        VerdictKind::NeverQueued => "NEVER QUEUED",
    }
}

fn who(v: &MemberVerdict) -> String {
    format!(
        "subscription {} person {}{}",
        v.subscription_id,
        v.person_id,
        v.card_number
            .as_deref()
            .map(|c| format!(" (card {})", d(c)))
            .unwrap_or_default()
    )
}

fn since_note(r: &SearchReport) -> String {
    r.since.map(|d| format!(" since {d}")).unwrap_or_default()
}

fn event_line(e: &TimelineEvent) -> String {
    let at =
        e.at.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| format!("{:23}", "(time unknown)"));
    let src = match e.source {
        EventSource::Database => "db ",
        EventSource::Log => "log",
    };
    let what = match &e.event {
        Event::Queued {
            outbox_id,
            state,
            resend,
        } => format!(
            "queued        outbox row {outbox_id}{} (now {state})",
            if *resend { ", resend" } else { "" }
        ),
        Event::Attempt {
            attempt,
            outcome,
            http_status,
            error,
            relay_id,
            duration_ms,
            ..
        } => format!(
            "attempt {attempt:<5} {}{}{} ({duration_ms} ms, relay {})",
            d(&outcome.to_string()),
            http_status
                .map(|s| format!(", HTTP {s}"))
                .unwrap_or_default(),
            error
                .as_deref()
                .map(|e| format!(": {}", d(e)))
                .unwrap_or_default(),
            d(relay_id)
        ),
        Event::Synced { external_id } => format!(
            "synced        digis row, external id {}",
            d(external_id.as_deref().unwrap_or("(none)"))
        ),
        Event::Operator {
            action,
            actor,
            detail,
            ..
        } => format!(
            "{:<13} by {}{}",
            d(&action.to_string()),
            d(actor),
            detail
                .as_deref()
                .map(|x| format!(": {}", d(x)))
                .unwrap_or_default()
        ),
        Event::LogLine {
            file, line, text, ..
        } => format!("{}:{line}  {}", d(file), d(text)),
    };
    format!("{at}  {src}  {what}")
}

fn size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MB {
        format!("{:.1} MB", bytes as f64 / MB)
    } else {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    }
}
