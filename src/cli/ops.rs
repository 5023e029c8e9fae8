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
use crate::storage::Unconfirmed;

pub async fn dispatch(ctx: Context, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Migrate { host_schema } => migrate(&ctx, host_schema).await,
        Command::Run { once, listen } => super::run::run(ctx, once, listen).await,
        Command::Preview {
            subscription,
            person,
        } => preview(&ctx, subscription, person).await,
        // 1 means "not healthy" (docs/contracts.md, CLI): a status that could not read the database (not
        // migrated, behind this binary, unreachable) exits 3.
        Command::Status { json } => match status(&ctx, json).await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("error: {}", super::one_line(&e));
                Ok(ExitCode::from(3))
            }
        },
        Command::Doctor { no_network } => {
            let checks = crate::doctor::run(&ctx.config, !no_network).await;
            crate::out!("{}", crate::doctor::render(&checks))?;
            let failed = checks
                .iter()
                .any(|c| c.level == crate::doctor::Level::Error);
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Retry {
            ids,
            all_failed,
            yes,
        } => retry(&ctx, ids, all_failed, yes).await,
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
            crate::outln!(
                "{report} (relays keep running and send nothing until `digis-relay resume`)"
            )?;
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
            crate::outln!("{report}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            reconcile: false, ..
        } => {
            let s = ctx.storage().await?;
            let report = operator::sync(
                &*s,
                &operator::Actor::current(),
                None,
                crate::clock::db_now_or_local(&*s).await,
            )
            .await?;
            crate::outln!("{report}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            reconcile: true,
            restore_digis,
            yes,
        } => reconcile(&ctx, restore_digis, yes).await,
        Command::Tui { no_relay } => {
            crate::tui::cli::run(ctx.storage().await?, &ctx.config, no_relay).await
        }
        Command::FakeDigis(_) | Command::Demo { .. } => {
            unreachable!("fake-digis and demo run before the configuration is loaded")
        }
        Command::Export { format, output, .. } => {
            let format = match format {
                super::args::ExportFormat::Json => crate::export::ExportFormat::Json,
                super::args::ExportFormat::Csv => crate::export::ExportFormat::Csv,
            };
            crate::export::cli::run(
                ctx.storage().await?,
                &ctx.config.payload,
                &ctx.config.export,
                format,
                output,
            )
            .await
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
            crate::logging::init_stderr();
            crate::search::cli::run(&ctx.config, ctx.storage().await?, &term, a.json, a.since).await
        }
        Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("completions and man pages are written before the configuration is loaded")
        }
    }
}

/// `sync --reconcile`: says what it would do, asks above `sync.reconcile_confirm_above`
/// (each member queued is an SMS), then does it. Pairs the sync log says were sent that the
/// database forgot (a restore from an older backup) are skipped.
async fn reconcile(ctx: &Context, restore_digis: bool, yes: bool) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    let s = ctx.storage().await?;
    let logged = operator::logged_but_unknown(&*s, &ctx.config.log_dir).await?;
    for w in &logged.warnings {
        eprintln!("warning: {w}");
    }
    // Before any relay sent from this database there is no log to miss (a first reconcile).
    if !logged.dir_exists && s.counts().await?.sent > 0 {
        eprintln!(
            "warning: no sync log folder at {}: members only the log knows were sent cannot be skipped (run from the relay's folder, or give --log-dir)",
            ctx.config.log_dir.display()
        );
    }
    if !logged.pairs.is_empty() {
        crate::outln!(
            "skipping {} member(s) the sync log says were sent but the database does not know (subscription/person {}): see `digis-relay doctor`",
            logged.pairs.len(),
            logged.examples(5)
        )?;
    }
    let preview = operator::reconcile_preview(&*s, &logged.pairs).await?;
    if preview.lost_digis > 0 {
        if restore_digis {
            crate::outln!(
                "writing back {} digis row(s) from sent outbox rows",
                preview.lost_digis
            )?;
        } else {
            crate::outln!(
                "{} member(s) have a sent outbox row but no digis row: counted as delivered, not queued; --restore-digis writes their digis rows back",
                preview.lost_digis
            )?;
        }
    }
    let n = preview.would_queue;
    let above = ctx.config.sync.reconcile_confirm_above;
    crate::outln!("reconcile would queue {n} member(s) (one SMS each)")?;
    if n > 0 && n > above && !yes {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            crate::out!("Queue {n} member(s) for an SMS each? [y/N] ")?;
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                crate::outln!("nothing queued")?;
                return Ok(ExitCode::FAILURE);
            }
        } else {
            eprintln!(
                "error: reconcile would queue {n} members, more than sync.reconcile_confirm_above ({above}); nothing queued: run it on a terminal to be asked, or add --yes"
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let r = operator::Reconcile {
        skip: logged.pairs,
        restore_digis,
    };
    let report = operator::sync(
        &*s,
        &operator::Actor::current(),
        Some(&r),
        crate::clock::db_now_or_local(&*s).await,
    )
    .await?;
    crate::outln!("{report}")?;
    Ok(ExitCode::SUCCESS)
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
        crate::outln!("{report}")?;
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
    crate::outln!("{report}")?;
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
    // A database a newer release migrated: sqlx alone would fail on the first migration it
    // does not know ("previously applied but is missing").
    if s.schema_report().await?.relay_tables_missing.is_empty() {
        use crate::storage::handshake::{Agreement, SchemaMismatch};
        match s.schema_versions().await?.judge() {
            Ok(Agreement::AheadAdditive { unknown }) => {
                crate::outln!(
                    "nothing to migrate: {} is ahead of this digis-relay (migration(s) {} from a newer release, additive: this version runs beside them)",
                    crate::util::redact_db_url(&ctx.config.database_url),
                    unknown
                        .iter()
                        .map(|v| format!("{v:04}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            Err(e @ (SchemaMismatch::TooOld { .. } | SchemaMismatch::NewerProtocol { .. })) => {
                return Err(e.into())
            }
            Ok(Agreement::Same) | Err(SchemaMismatch::Behind { .. } | SchemaMismatch::NoRecord) => {
            }
        }
    }
    // Read before anything is applied: a wrong path is one line and an untouched database.
    let adapter = crate::storage::adapter::HostAdapter::configured(
        &ctx.config.host,
        &ctx.config.database_url,
    )?;
    if !host_schema && adapter.is_reference() {
        // The reference adapter names the reference tables: without them it would stop at an
        // SQL error naming one table. An adapter of the operator's names tables we cannot know,
        // so its own statements say what is missing (`AdapterError::Statement`).
        let report = s.schema_report().await?;
        if !report.host_tables_missing.is_empty() {
            anyhow::bail!(
                "the membership tables {} are missing from {}, so the reference host adapter cannot be applied; point database_url at the membership database, write a host adapter for a schema with other names and set `[host] adapter`, or run `digis-relay migrate --host-schema` to create the reference tables (a demo or test database)",
                report.host_tables_missing.join(", "),
                crate::util::redact_db_url(&ctx.config.database_url)
            );
        }
    }
    let applied_before = applied_migrations(&*s).await?;
    let outcome = s
        .migrate_with(host_schema, &adapter)
        .await
        .context("migrate")?;
    let applied_now = applied_migrations(&*s).await?;
    let new: Vec<String> = applied_now
        .iter()
        .filter(|v| !applied_before.contains(v))
        .map(|v| format!("{v:04}"))
        .collect();
    let db = crate::util::redact_db_url(&ctx.config.database_url);
    // A second run says that nothing changed, not "migrated" again.
    if new.is_empty() {
        crate::outln!(
            "{db} is up to date: no migration to apply (latest {})",
            applied_now
                .iter()
                .max()
                .map(|v| format!("{v:04}"))
                .unwrap_or_else(|| "none".into())
        )?;
    } else {
        crate::outln!(
            "migrated {db}: applied migration(s) {}{}",
            new.join(", "),
            if host_schema {
                " (with the reference host schema)"
            } else {
                ""
            }
        )?;
    }
    crate::outln!("{outcome}")?;
    Ok(ExitCode::SUCCESS)
}

/// The migration versions the database has applied; none before its first `migrate`.
async fn applied_migrations(s: &dyn crate::storage::Storage) -> anyhow::Result<Vec<i64>> {
    if !s.schema_report().await?.relay_tables_missing.is_empty() {
        return Ok(Vec::new());
    }
    Ok(s.schema_versions().await?.applied)
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
            Ok(p) => crate::outln!("{}", p.to_json())?,
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
    // Heartbeats are in the database's time: so is every age shown here.
    let snapshot = crate::health::Snapshot::read(&*s, None).await;
    let (control, relays) = snapshot.whole()?;
    let now = snapshot.now;
    let c = &ctx.config;
    let rules = crate::health::Rules::new(
        c.use_digis,
        c.relay.backlog_max_age_ms,
        c.relay.max_clock_offset_ms,
    );
    let health = snapshot.judge(&rules);
    // docs/contracts.md, CLI: 0 when delivery is healthy, 1 when it is not (what /healthz answers 503 for).
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
        let extra = StatusFacts {
            paused_by: control.paused_by.as_ref(),
            paused_at: control.paused_at,
            counts,
            relays,
            digis_endpoint: endpoint,
            database: crate::util::redact_db_url(&ctx.config.database_url),
        };
        let v = StatusJson {
            delivery: crate::health::DeliveryJson::new(&snapshot, &rules, &health, extra),
            stats: &stats,
        };
        crate::outln!("{}", serde_json::to_string(&v)?)?;
        return Ok(code);
    }
    crate::outln!(
        "database   {}",
        crate::util::redact_db_url(&ctx.config.database_url)
    )?;
    crate::outln!(
        "digis      {}{}",
        endpoint,
        if ctx.config.use_digis {
            ""
        } else {
            " (useDigis is false: nothing is sent)"
        }
    )?;
    crate::outln!("delivery   {}", delivery_text(control, &health))?;
    crate::outln!(
        "health     {}{}",
        health.status,
        if health.healthy {
            ""
        } else {
            " (/healthz answers 503)"
        }
    )?;
    for b in &health.blockers {
        crate::outln!(
            "  {}{}",
            if b.fails_healthz { "! " } else { "- " },
            b.message
        )?;
    }
    crate::outln!(
        "outbox     pending {}  sending {}  sent {}  failed {}  discarded {}",
        counts.pending,
        counts.sending,
        counts.sent,
        counts.failed,
        counts.discarded
    )?;
    crate::outln!("last 24 h  {}", stats_line(&stats))?;
    if let Some(rate) = crate::health::request_rate(relays, now) {
        // As the heartbeats last said: up to one heartbeat interval old.
        crate::outln!(
            "rate       {} (the live relays together; halved on 429/503 from Digis)",
            crate::health::rate_text(rate)
        )?;
    }
    if relays.is_empty() {
        crate::outln!(
            "relays     none has ever run against this database (start `digis-relay run`)"
        )?;
    }
    for r in relays {
        let age = (now - r.heartbeat_at).num_seconds();
        crate::outln!(
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
                match r.request_share {
                    // The relay's part of the budget the live relays share.
                    Some(share) => format!(
                        "{}, share {}",
                        crate::health::rate_text(r.request_rate),
                        crate::health::rate_text(Some(share))
                    ),
                    None => crate::health::rate_text(r.request_rate),
                }
            } else {
                "not alive".into()
            },
            r.clock_offset_ms
                .map(|ms| format!(", clock offset {}", crate::clock::offset_text(ms)))
                .unwrap_or_default()
        )?;
    }
    Ok(code)
}

async fn retry(
    ctx: &Context,
    ids: Vec<OutboxId>,
    all_failed: bool,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let s = ctx.storage().await?;
    let actor = operator::Actor::current();
    let unconfirmed = if yes {
        Unconfirmed::Include
    } else {
        let found = s
            .unconfirmed_rows((!all_failed).then_some(&ids[..]))
            .await?;
        if found.is_empty() {
            Unconfirmed::Skip
        } else {
            confirm_unconfirmed(&found)?
        }
    };
    if all_failed {
        let report = operator::retry_all_failed(
            &*s,
            &actor,
            crate::clock::db_now_or_local(&*s).await,
            unconfirmed,
        )
        .await?;
        crate::outln!("{report}")?;
        return Ok(exit_code(&report));
    }
    let report = operator::retry(
        &*s,
        &actor,
        &ids,
        crate::clock::db_now_or_local(&*s).await,
        unconfirmed,
    )
    .await?;
    crate::outln!("{report}")?;
    Ok(exit_code(&report))
}

/// Asks on the terminal whether rows whose answer was unconfirmed go back too: Digis may have
/// sent their SMS. Without a terminal the answer is no (a script must say `--yes`), and the
/// report then names the rows and exits 2.
fn confirm_unconfirmed(found: &[OutboxId]) -> anyhow::Result<Unconfirmed> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(Unconfirmed::Skip);
    }
    const SHOWN: usize = 10;
    let mut list = found
        .iter()
        .take(SHOWN)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if found.len() > SHOWN {
        list.push_str(&format!(" and {} more", found.len() - SHOWN));
    }
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "{} row(s) ({list}) got an answer from Digis that confirmed nothing (cause unconfirmed): \
         Digis may have sent their SMS, and retrying may send a second one. Retry them too? [y/N] ",
        found.len()
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            Unconfirmed::Include
        } else {
            Unconfirmed::Skip
        },
    )
}

/// `status --json`: the snapshot as `/healthz` writes it too ([`crate::health::DeliveryJson`]),
/// with `status`'s own facts inside and its figures after (docs/contracts.md, JSON output).
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    delivery: crate::health::DeliveryJson<'a, StatusFacts<'a>>,
    stats: &'a crate::stats::Stats,
}

#[derive(serde::Serialize)]
struct StatusFacts<'a> {
    paused_by: Option<&'a crate::domain::PausedBy>,
    paused_at: Option<chrono::DateTime<chrono::Utc>>,
    counts: crate::storage::Counts,
    relays: &'a [crate::storage::RelayInfo],
    digis_endpoint: String,
    database: String,
}

/// The `delivery` line, from the same reading as the health line below it: `running` only
/// while a relay is alive to deliver (it once said `running` beside `NO RELAY SEEN`, reading
/// only the pause flag).
fn delivery_text(control: &crate::storage::Control, health: &crate::health::Health) -> String {
    use crate::sanitize::for_display;
    if control.paused {
        return format!(
            "PAUSED: {} (by {})",
            for_display(control.pause_reason.as_deref().unwrap_or("no reason given")),
            for_display(
                &control
                    .paused_by
                    .as_ref()
                    .map_or_else(|| "unknown".to_string(), ToString::to_string)
            )
        );
    }
    match health.live_relays.len() {
        0 => "NOT RUNNING: no relay is alive to deliver (start `digis-relay run`)".into(),
        1 => "running (1 relay alive)".into(),
        n => format!("running ({n} relays alive)"),
    }
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
        let s = crate::stats::delay_text;
        line.push_str(&format!(
            "; save to sent today p50 {}, p90 {}, p99 {}",
            s(d.p50_ms),
            s(d.p90_ms),
            s(d.p99_ms)
        ));
    }
    line
}
