//! Routing, and the small commands that are a storage call and a message: migrate, preview,
//! status and the operator actions.
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;

use super::args::Command;
use super::setup::Context;
use crate::domain::OutboxId;
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
        Command::Resend {
            subscription,
            person,
        } => resend(&ctx, subscription, person).await,
        Command::Discard { ids, reason } => {
            let reason = operator_text(&ctx, &reason);
            let s = ctx.storage().await?;
            let changed = s
                .discard(&ids, &reason, &crate::util::operator_name(), Utc::now())
                .await?;
            println!(
                "discarded {} of {} row(s){}",
                changed.len(),
                ids.len(),
                skipped(&ids, &changed, "not pending or failed")
            );
            Ok(if changed.len() == ids.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Pause { reason } => {
            let reason = operator_text(&ctx, &reason);
            let s = ctx.storage().await?;
            s.pause(&reason, &crate::util::operator_name(), Utc::now())
                .await?;
            println!("paused: {reason} (relays keep running and send nothing until `digis-relay resume`)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume => {
            let s = ctx.storage().await?;
            s.resume(&crate::util::operator_name(), Utc::now()).await?;
            println!("resumed: relays send again");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { reconcile } => {
            let s = ctx.storage().await?;
            let r = s
                .sync(reconcile, &crate::util::operator_name(), Utc::now())
                .await?;
            print!("{} waiting row(s) made due now", r.made_due);
            if reconcile {
                print!("; {} missing member(s) queued", r.queued);
            }
            println!("; relays woken");
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
            crate::search::cli::run(
                &ctx.config,
                ctx.storage().await?,
                a.ext_info1,
                a.ext_info20,
                a.json,
                a.since,
            )
            .await
        }
    }
}

fn join_ids(ids: &[OutboxId]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn skipped(asked: &[OutboxId], changed: &[OutboxId], why: &str) -> String {
    let left: Vec<OutboxId> = asked
        .iter()
        .filter(|i| !changed.contains(i))
        .copied()
        .collect();
    if left.is_empty() {
        String::new()
    } else {
        format!("; left alone ({why}, or no such row): {}", join_ids(&left))
    }
}

/// What an operator typed, made safe to store and show to others: control characters escaped,
/// anything token-like redacted (a pasted URL), and at most 500 characters.
fn operator_text(ctx: &Context, text: &str) -> String {
    let cleaned = crate::sanitize::clean_untrusted(text.trim(), &ctx.config.secrets());
    cleaned.chars().take(500).collect()
}

/// Queues a member again. Nothing queued exits 2 with the reason, as `retry` and `discard` do
/// when an id does not apply.
async fn resend(
    ctx: &Context,
    subscription: crate::domain::SubscriptionId,
    person: Option<crate::domain::PersonId>,
) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    let ids = s
        .resend(
            subscription,
            person,
            &crate::util::operator_name(),
            Utc::now(),
        )
        .await?;
    if !ids.is_empty() {
        println!(
            "queued {} row(s) to send again: {}",
            ids.len(),
            join_ids(&ids)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let why = match s.subscription_status(subscription).await? {
        None => format!("there is no subscription {subscription}"),
        Some(_) => match person {
            Some(p)
                if s.members_of_subscription(subscription, Some(p))
                    .await?
                    .is_empty() =>
            {
                format!("person {p} is not a user of subscription {subscription}")
            }
            Some(p) => format!(
                "a row for person {p} of subscription {subscription} is already waiting to be sent"
            ),
            None if s
                .members_of_subscription(subscription, None)
                .await?
                .is_empty() =>
            {
                format!("subscription {subscription} has no users")
            }
            None => format!(
                "every user of subscription {subscription} already has a row waiting to be sent"
            ),
        },
    };
    eprintln!("error: nothing queued: {why}");
    Ok(ExitCode::from(2))
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
    let now = Utc::now();
    let health = crate::health::assess(&crate::health::Inputs {
        use_digis: ctx.config.use_digis,
        database_reachable: true,
        control: Some(&control),
        relays: Some(&relays),
        oldest_due_pending: s.oldest_due_pending(now).await?,
        backlog_max_age_ms: ctx.config.relay.backlog_max_age_ms,
        now,
    });
    let endpoint = ctx
        .config
        .endpoint()
        .map(|e| e.redacted())
        .unwrap_or_else(|e| format!("invalid: {e}"));
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
        });
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
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
    if relays.is_empty() {
        println!("relays     none has ever run against this database (start `digis-relay run`)");
    }
    for r in &relays {
        let age = (now - r.heartbeat_at).num_seconds();
        println!(
            "relay      {} on {} pid {}: {}{} (heartbeat {}s ago{})",
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
                ""
            } else {
                ", not alive"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn retry(ctx: &Context, ids: Vec<OutboxId>, all_failed: bool) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    if all_failed {
        let n = s
            .retry_all_failed(&crate::util::operator_name(), Utc::now())
            .await?;
        println!("{n} failed row(s) queued again, due now");
        return Ok(ExitCode::SUCCESS);
    }
    let changed = s
        .retry(&ids, &crate::util::operator_name(), Utc::now())
        .await?;
    println!(
        "queued {} of {} row(s) again{}",
        changed.len(),
        ids.len(),
        skipped(
            &ids,
            &changed,
            "being sent, already sent, or another row for that member is waiting"
        )
    );
    Ok(if changed.len() == ids.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
