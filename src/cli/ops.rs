//! Routing, and the small commands: migrate, preview, status, and the operator actions (parsed
//! here, carried out and worded by `crate::operator`).
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;

use super::args::Command;
use super::setup::Context;
use crate::domain::OutboxId;
use crate::operator::{self, Report};
use crate::payload;

pub async fn dispatch(ctx: Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate { host_schema } => migrate(&ctx, host_schema).await,
        Command::Run { once, listen } => super::run::run(ctx, once, listen).await,
        Command::Preview {
            subscription,
            person,
        } => preview(&ctx, subscription, person).await,
        Command::Status { json } => status(&ctx, json).await,
        Command::Doctor { no_network } => {
            let checks = crate::doctor::run(&ctx.config, !no_network).await;
            print!("{}", crate::doctor::render(&checks));
            let failed = checks
                .iter()
                .any(|c| c.level == crate::doctor::Level::Error);
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Retry { ids, all_failed } => retry(&ctx, ids, all_failed).await,
        Command::Report {
            report: super::args::ReportCommand::Failures { unit, csv },
        } => crate::report::cli::failures(ctx.storage().await?, unit, csv).await,
        Command::Resend {
            subscription,
            person,
        } => resend(&ctx, subscription, person).await,
        Command::Discard { ids, reason } => discard(&ctx, ids, &reason).await,
        Command::Pause { reason } => {
            let reason = operator::Reason::clean(&reason, &ctx.config.secrets());
            let s = ctx.storage().await?;
            let report = operator::pause(
                &*s,
                &operator::Actor::current(),
                &reason,
                crate::clock::db_now_or_local(&*s).await,
            )
            .await?;
            println!("{report} (relays keep running and send nothing until `digis-relay resume`)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume => {
            let s = ctx.storage().await?;
            let report = operator::resume(
                &*s,
                &operator::Actor::current(),
                crate::clock::db_now_or_local(&*s).await,
            )
            .await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { reconcile } => {
            let s = ctx.storage().await?;
            let report = operator::sync(
                &*s,
                &operator::Actor::current(),
                reconcile,
                crate::clock::db_now_or_local(&*s).await,
            )
            .await?;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Tui { no_relay } => {
            crate::tui::cli::run(ctx.storage().await?, &ctx.config, no_relay).await
        }
        Command::Demo {
            headless,
            duration,
            dir,
            members,
        } => crate::demo::cli::demo(headless, duration, dir, members).await,
        Command::FakeDigis(_) => unreachable!("fake-digis runs before the configuration is loaded"),
        Command::Export { format, output, .. } => {
            let format = match format {
                super::args::ExportFormat::Json => crate::export::ExportFormat::Json,
                super::args::ExportFormat::Csv => crate::export::ExportFormat::Csv,
            };
            crate::export::cli::run(ctx.storage().await?, &ctx.config, format, output).await
        }
        Command::Search(a) => {
            let term = crate::search::cli::TermArgs {
                ext_info1: a.ext_info1,
                ext_info20: a.ext_info20,
                phone: a.phone,
                email: a.email,
                name: a.name,
            }
            .term(&ctx.config.payload.default_region);
            // A value that cannot be searched for is a bad argument: said before any connection.
            let term = match term {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            // Diagnostics (ids and counts only; never what was typed) on stderr, as `run` has.
            super::logging::init_stderr();
            crate::search::cli::run(&ctx.config, ctx.storage().await?, &term, a.json, a.since).await
        }
        Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("completions and man pages are written before the configuration is loaded")
        }
    }
}

/// Queues a member again. Nothing queued exits 2 with the reason, as `retry` and `discard` do
/// when an id does not apply.
async fn resend(
    ctx: &Context,
    subscription: crate::domain::SubscriptionId,
    person: Option<crate::domain::PersonId>,
) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    let report = operator::resend(
        &*s,
        &operator::Actor::current(),
        subscription,
        person,
        crate::clock::db_now_or_local(&*s).await,
    )
    .await?;
    if report.succeeded() {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("error: {report}");
    Ok(ExitCode::from(2))
}

async fn discard(ctx: &Context, ids: Vec<OutboxId>, reason: &str) -> anyhow::Result<ExitCode> {
    let reason = operator::Reason::clean(reason, &ctx.config.secrets());
    let s = ctx.storage().await?;
    let report = operator::discard(
        &*s,
        &operator::Actor::current(),
        &ids,
        &reason,
        crate::clock::db_now_or_local(&*s).await,
    )
    .await?;
    println!("{report}");
    Ok(exit_code(&report))
}

/// Partial success is not success: an id that did not apply exits 2.
fn exit_code(report: &impl Report) -> ExitCode {
    if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

async fn migrate(ctx: &Context, host_schema: bool) -> anyhow::Result<ExitCode> {
    let s = ctx.connect().await?;
    if !host_schema {
        // The triggers are created on the membership tables: without them the migration
        // would stop at an SQL error naming one table (`no such table: main.subscription`).
        let report = s.schema_report().await?;
        if !report.host_tables_missing.is_empty() {
            anyhow::bail!(
                "the membership tables {} are missing from {}, so the triggers cannot be created; point database_url at the membership database, or run `digis-relay migrate --host-schema` to create the reference tables (a demo or test database)",
                report.host_tables_missing.join(", "),
                crate::util::redact_db_url(&ctx.config.database_url)
            );
        }
    }
    s.migrate(host_schema).await.context("migrate")?;
    let report = s.schema_report().await?;
    if !report.host_tables_missing.is_empty() {
        anyhow::bail!(
            "migrated, but the membership tables {} are missing: the triggers cannot fire (use --host-schema for a demo database)",
            report.host_tables_missing.join(", ")
        );
    }
    println!(
        "migrated {}{}",
        crate::util::redact_db_url(&ctx.config.database_url),
        if host_schema {
            " (with the reference host schema)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn preview(
    ctx: &Context,
    subscription: crate::domain::SubscriptionId,
    person: Option<crate::domain::PersonId>,
) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    let members = s.members_of_subscription(subscription, person).await?;
    if members.is_empty() {
        let why = match s.subscription_status(subscription).await? {
            None => format!("there is no subscription {subscription}"),
            Some(_) if person.is_some() => {
                format!(
                    "person {} is not a user of subscription {subscription}",
                    person.map(|p| p.0).unwrap_or_default()
                )
            }
            Some(_) => format!("subscription {subscription} has no users"),
        };
        anyhow::bail!("nothing to preview: {why}");
    }
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for read in &members {
        let m = match read {
            Ok(m) => m,
            Err(d) => {
                failed += 1;
                eprintln!("error: {d}");
                continue;
            }
        };
        match payload::build(m, &ctx.config.payload) {
            Ok(p) => writeln!(out, "{}", p.to_json())?,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
        if !m.is_active() {
            eprintln!(
                "note: subscription {} is {}, so the relay would not send this (it sends only ACTIVE ones)",
                m.subscription_id, m.subscription_status
            );
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn status(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    use crate::sanitize::for_display;
    let s = ctx.storage().await?;
    let counts = s.counts().await?;
    let control = s.control().await?;
    let relays = s.relays().await?;
    // Heartbeats are in the database's time: so is every age shown here.
    let now = crate::clock::db_now_or_local(&*s).await;
    let health = crate::health::assess(&crate::health::Inputs {
        use_digis: ctx.config.use_digis,
        database_reachable: true,
        control: Some(&control),
        relays: Some(&relays),
        oldest_due_pending: s.oldest_due_pending(now).await?,
        backlog_max_age_ms: ctx.config.relay.backlog_max_age_ms,
        max_clock_offset_ms: ctx.config.relay.max_clock_offset_ms,
        now,
    });
    // DESIGN §8: 0 when delivery is healthy, 1 when it is not (what /healthz answers 503 for).
    let code = if health.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    let endpoint = ctx
        .config
        .endpoint()
        .map(|e| e.redacted())
        .unwrap_or_else(|e| format!("invalid: {e}"));
    let stats = crate::stats::collect(&*s, now).await?;
    if json {
        let v = serde_json::json!({
            "use_digis": ctx.config.use_digis,
            "paused": control.paused,
            "pause_reason": control.pause_reason,
            "paused_by": control.paused_by,
            "paused_at": control.paused_at,
            "counts": counts,
            "relays": relays,
            "digis_endpoint": endpoint,
            "database": crate::util::redact_db_url(&ctx.config.database_url),
            "health": health,
            "stats": stats,
        });
        println!("{v}");
        return Ok(code);
    }
    println!(
        "database   {}",
        crate::util::redact_db_url(&ctx.config.database_url)
    );
    println!(
        "digis      {}{}",
        endpoint,
        if ctx.config.use_digis {
            ""
        } else {
            " (useDigis is false: nothing is sent)"
        }
    );
    if control.paused {
        println!(
            "delivery   PAUSED: {} (by {})",
            for_display(control.pause_reason.as_deref().unwrap_or("no reason given")),
            for_display(control.paused_by.as_deref().unwrap_or("unknown"))
        );
    } else {
        println!("delivery   running");
    }
    println!(
        "health     {}{}",
        health.status,
        if health.healthy {
            ""
        } else {
            " (/healthz answers 503)"
        }
    );
    for b in &health.blockers {
        println!(
            "  {}{}",
            if b.fails_healthz { "! " } else { "- " },
            b.message
        );
    }
    println!(
        "outbox     pending {}  sending {}  sent {}  failed {}  discarded {}",
        counts.pending, counts.sending, counts.sent, counts.failed, counts.discarded
    );
    println!("last 24 h  {}", stats_line(&stats));
    if let Some(rate) = crate::health::request_rate(&relays, now) {
        // As the heartbeats last said: up to one heartbeat interval old.
        println!(
            "rate       {} (the live relays together; halved on 429/503 from Digis)",
            crate::health::rate_text(rate)
        );
    }
    if relays.is_empty() {
        println!("relays     none has ever run against this database (start `digis-relay run`)");
    }
    for r in &relays {
        let age = (now - r.heartbeat_at).num_seconds();
        println!(
            "relay      {} on {} pid {}: {}{} (heartbeat {}s ago, {}{})",
            for_display(&r.relay_id),
            for_display(&r.hostname),
            r.pid,
            for_display(r.state.as_str()),
            r.detail
                .as_deref()
                .map(|d| format!(", {}", for_display(d)))
                .unwrap_or_default(),
            age,
            if crate::health::is_live(r, now) {
                crate::health::rate_text(r.request_rate)
            } else {
                "not alive".into()
            },
            r.clock_offset_ms
                .map(|ms| format!(", clock offset {}", crate::clock::offset_text(ms)))
                .unwrap_or_default()
        );
    }
    Ok(code)
}

async fn retry(ctx: &Context, ids: Vec<OutboxId>, all_failed: bool) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    let actor = operator::Actor::current();
    if all_failed {
        let report =
            operator::retry_all_failed(&*s, &actor, crate::clock::db_now_or_local(&*s).await)
                .await?;
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    let report =
        operator::retry(&*s, &actor, &ids, crate::clock::db_now_or_local(&*s).await).await?;
    println!("{report}");
    Ok(exit_code(&report))
}

/// `sent 120, failed 2, retried 5; save to sent today p50 4s, p90 40s, p99 3m`.
fn stats_line(stats: &crate::stats::Stats) -> String {
    let sum = |f: fn(&crate::stats::Bucket) -> u64| stats.hourly.iter().map(f).sum::<u64>();
    let mut line = format!(
        "sent {}, failed {}, retried {}",
        sum(|b| b.sent),
        sum(|b| b.failed),
        sum(|b| b.retried)
    );
    if let Some(d) = stats.daily.last().and_then(|d| d.delay) {
        let s = |ms: i64| crate::tui::view::span_text(ms / 1000);
        line.push_str(&format!(
            "; save to sent today p50 {}, p90 {}, p99 {}",
            s(d.p50_ms),
            s(d.p90_ms),
            s(d.p99_ms)
        ));
    }
    line
}
