//! `digis-relay doctor`: one line per check, ok / warning / error with what to do — the integration note's
//! operating notes turned into checks ("Digis sync must be activated", "needs a modern root
//! store", ...).
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::config::Config;
use crate::storage;

pub mod adapter;
mod digis;
mod export;
mod install;
mod migrations;
mod paths;
mod secrets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub message: String,
}

fn check(name: &'static str, level: Level, message: impl Into<String>) -> Check {
    Check {
        name,
        level,
        message: message.into(),
    }
}

/// Runs every check. Never fails: a failing check is an `Error` line.
pub async fn run(config: &Config, probe_digis: bool) -> Vec<Check> {
    let mut out = Vec::new();
    out.extend(config_checks(config));
    out.extend(export::listener(config));
    out.extend(secrets::config_file(config));
    out.extend(secrets::sources(config));
    out.extend(secrets::secret_files(config));
    out.extend(paths::checks(config));
    out.extend(digis::ca_file(config));
    out.push(log_folder(&config.log_dir));
    out.extend(install::checks());
    out.extend(database_checks(config).await);
    if probe_digis && config.use_digis {
        out.push(digis::reachability(config).await);
    }
    out
}

fn config_checks(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(if config.use_digis {
        check("useDigis", Level::Ok, "true: invitations are sent")
    } else {
        check(
            "useDigis",
            Level::Warning,
            "false: nothing is sent (set useDigis = true to deliver)",
        )
    });
    match config.endpoint() {
        Ok(e) => {
            out.push(check("digis url", Level::Ok, e.redacted()));
            out.push(if e.has_token() {
                secrets::token(&e)
            } else {
                check(
                    "digis token",
                    Level::Error,
                    "digisUrlPostfix has no token=...; Digis will answer 401 (set digisUrlPostfix = \"brp?token=APIKEY_FROM_WAYS\")",
                )
            });
        }
        Err(e) => out.push(check(
            "digis url",
            Level::Error,
            format!("`{}`: {e}", e.key()),
        )),
    }
    if config.digis_authorization_header.trim().is_empty() {
        out.push(check(
            "authorization",
            Level::Warning,
            "digisAuthorizationHeader is empty (the integration note uses \"Legacy\")",
        ));
    }
    out.push(if config.export.token.is_empty() {
        check("export", Level::Warning, "export.token is empty: GET /export/DigisAllActive is off (Digis's nightly sync needs it)")
    } else {
        check("export", Level::Ok, format!("DigisAllActive served on {} with a token (hidden)", config.export.listen))
    });
    out
}

/// The sync log's folder: there (or creatable) and writable, so `run` can start and every
/// delivery leaves its line. Probed with a file of our own that is removed again.
fn log_folder(dir: &Path) -> Check {
    const NAME: &str = "log folder";
    let shown = dir.display();
    let probe = |d: &Path| -> std::io::Result<()> {
        let p = d.join(format!(".digis-relay-doctor-{}", std::process::id()));
        std::fs::write(&p, b"")?;
        std::fs::remove_file(&p)
    };
    if !dir.exists() {
        // The nearest existing ancestor decides whether `run` can create it.
        let parent = dir
            .ancestors()
            .skip(1)
            .find(|a| a.as_os_str().is_empty() || a.exists())
            .map(|a| {
                if a.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    a
                }
            });
        return match parent.map(probe) {
            Some(Ok(())) => check(
                NAME,
                Level::Ok,
                format!("{shown} does not exist yet; `run` creates it"),
            ),
            Some(Err(e)) => check(
                NAME,
                Level::Error,
                format!("{shown} does not exist and cannot be created ({e}): create it, writable by the relay, or set log_dir"),
            ),
            None => check(NAME, Level::Error, format!("{shown} cannot be created: set log_dir")),
        };
    }
    if !dir.is_dir() {
        return check(
            NAME,
            Level::Error,
            format!("{shown} is not a folder: set log_dir to a folder"),
        );
    }
    if let Err(e) = probe(dir) {
        return check(
            NAME,
            Level::Error,
            format!("{shown} is not writable ({e}): `run` refuses to start without its sync log"),
        );
    }
    let file = dir.join(crate::synclog::FILE_NAME);
    if file.exists() {
        if let Err(e) = std::fs::OpenOptions::new().append(true).open(&file) {
            return check(
                NAME,
                Level::Error,
                format!(
                    "{} is not writable ({e}): `run` refuses to start without its sync log",
                    file.display()
                ),
            );
        }
    }
    check(NAME, Level::Ok, format!("{shown} writable"))
}

async fn database_checks(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    let shown = crate::util::redact_db_url(&config.database_url);
    if let Some(path) = storage::sqlite::file_of(&config.database_url) {
        if !path.exists() {
            out.push(check(
                "database",
                Level::Error,
                format!("{shown} does not exist; run `digis-relay migrate` (add --host-schema for a demo database)"),
            ));
            return out;
        }
    }
    let db = match tokio::time::timeout(
        Duration::from_secs(10),
        storage::connect(&config.database_url),
    )
    .await
    {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            out.push(check("database", Level::Error, format!("unreachable: {e}")));
            return out;
        }
        Err(_) => {
            out.push(check(
                "database",
                Level::Error,
                format!("{shown}: no answer within 10 s"),
            ));
            return out;
        }
    };
    if let Err(e) = db.ping().await {
        out.push(check("database", Level::Error, format!("unreachable: {e}")));
        return out;
    }
    out.push(check("database", Level::Ok, format!("{shown} reachable")));
    let report = match db.schema_report().await {
        Ok(r) => r,
        Err(e) => {
            out.push(check("schema", Level::Error, e.to_string()));
            return out;
        }
    };
    // An adapter of the operator's own names other tables and triggers: the reference names
    // say nothing about it, and its own lines (`adapter views`, `adapter triggers`) judge it.
    let own_adapter = !config.host.adapter.as_os_str().is_empty();
    out.push(if own_adapter {
        check(
            "host tables",
            Level::Ok,
            format!(
                "named by the host adapter {} (see its lines below)",
                config.host.adapter.display()
            ),
        )
    } else if report.host_tables_missing.is_empty() {
        check("host tables", Level::Ok, "membership tables present")
    } else {
        check(
            "host tables",
            Level::Error,
            format!("missing {}: point database_url at the membership database (or `migrate --host-schema` for a demo)", report.host_tables_missing.join(", ")),
        )
    });
    let migrated = report.relay_tables_missing.is_empty();
    out.push(if migrated {
        check("migrated", Level::Ok, "relay tables present")
    } else {
        check(
            "migrated",
            Level::Error,
            format!(
                "missing {}: run `digis-relay migrate`",
                report.relay_tables_missing.join(", ")
            ),
        )
    });
    out.push(if report.view_present {
        check("view", Level::Ok, "digis_member present")
    } else {
        check(
            "view",
            Level::Error,
            "digis_member view missing: run `digis-relay migrate`",
        )
    });
    if own_adapter {
        // `adapter triggers` below finds the adapter's triggers by what they call.
    } else if report.triggers_missing.is_empty() {
        out.push(check(
            "triggers",
            Level::Ok,
            "installed: saving an ACTIVE subscription queues its users",
        ));
    } else {
        out.push(check(
            "triggers",
            Level::Error,
            format!("missing {}: saves are not queued; run `digis-relay migrate` (it applies the host adapter)", report.triggers_missing.join(", ")),
        ));
    }
    if let Some(problem) = &report.digis_problem {
        out.push(check("digis table", Level::Error, problem.clone()));
    }
    if !migrated {
        return out;
    }
    // Read before anything that needs the newer columns, so a database one migration behind
    // is this line and not the first query's `no such column`.
    let versions = match db.schema_versions().await {
        Ok(v) => v,
        Err(e) => {
            out.push(check("schema version", Level::Error, e.to_string()));
            return out;
        }
    };
    out.extend(migrations::checks(&versions, db.backend()));
    match versions.judge() {
        Ok(storage::handshake::Agreement::Same) => out.push(check(
            "schema version",
            Level::Ok,
            format!(
                "migrations up to {:04} applied, as this digis-relay expects; claim protocol {}",
                versions.applied.iter().max().copied().unwrap_or(0),
                storage::handshake::CLAIM_PROTOCOL
            ),
        )),
        Ok(storage::handshake::Agreement::AheadAdditive { unknown }) => out.push(check(
            "schema version",
            Level::Warning,
            format!(
                "the database has migration(s) {} from a newer digis-relay; they are additive, so this version runs beside it (upgrade it when you can)",
                unknown.iter().map(|v| format!("{v:04}")).collect::<Vec<_>>().join(", ")
            ),
        )),
        Err(e) => {
            out.push(check("schema version", Level::Error, e.to_string()));
            return out;
        }
    }
    out.extend(adapter::checks(db.as_ref(), &versions, config).await);
    // Heartbeats are in the database's time: ages are measured on its clock, not this host's.
    let here = crate::clock::DbClock::system();
    let now = match here.measure(db.as_ref()).await {
        Ok(offset) => {
            let max = config.relay.max_clock_offset_ms;
            out.push(if crate::clock::beyond(offset, max) {
                check(
                    "clock",
                    Level::Error,
                    format!(
                        "{} (offset {}), more than relay.max_clock_offset_ms = {max} ms: a relay run here claims nothing; sync this host's time (NTP)",
                        crate::clock::offset_words(offset),
                        crate::clock::offset_text(offset)
                    ),
                )
            } else {
                check(
                    "clock",
                    Level::Ok,
                    format!(
                        "offset from the database's clock {} (limit {max} ms)",
                        crate::clock::offset_text(offset)
                    ),
                )
            });
            here.now()
        }
        Err(e) => {
            out.push(check("clock", Level::Error, e.to_string()));
            Utc::now()
        }
    };
    match db.relays().await {
        Ok(relays) => {
            // Judged by each relay's own heartbeat interval, not this reader's configuration.
            let live: Vec<_> = relays
                .iter()
                .filter(|r| crate::health::is_live(r, now))
                .collect();
            out.push(match (live.is_empty(), relays.first()) {
                (false, _) => check("relay", Level::Ok, format!("{} running ({})", live.len(), live.iter().map(|r| match r.clock_offset_ms {
                    Some(ms) => format!("{}, clock offset {}", r.relay_id, crate::clock::offset_text(ms)),
                    None => r.relay_id.clone(),
                }).collect::<Vec<_>>().join("; "))),
                (true, Some(r)) => check(
                    "relay",
                    Level::Warning,
                    format!(
                        "no relay running; last seen {} s ago ({}): start `digis-relay run` (the integration note's \"activate Digis sync\")",
                        (now - r.heartbeat_at).num_seconds(),
                        r.relay_id
                    ),
                ),
                (true, None) => check("relay", Level::Warning, "no relay has ever run against this database: start `digis-relay run`"),
            });
        }
        Err(e) => out.push(check("relay", Level::Error, e.to_string())),
    }
    out.extend(delivery_checks(
        &crate::health::read(
            db.as_ref(),
            config.use_digis,
            config.relay.backlog_max_age_ms,
            config.relay.max_clock_offset_ms,
        )
        .await,
    ));
    if let Ok(c) = db.control().await {
        if c.paused {
            out.push(check(
                "paused",
                Level::Warning,
                format!(
                    "delivery is paused: {} (by {}); `digis-relay resume` when fixed",
                    c.pause_reason.unwrap_or_default(),
                    c.paused_by.map(|b| b.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    out.extend(delivered_checks(db.as_ref(), &config.log_dir).await);
    if let Ok(c) = db.counts().await {
        if c.failed > 0 {
            out.push(check(
                "failed rows",
                Level::Warning,
                format!(
                    "{} row(s) need a person: see `digis-relay tui` or `search`, then `retry`",
                    c.failed
                ),
            ));
        }
    }
    out
}

/// Delivered means delivered: `digis` rows the host lost (a sent outbox row still says Digis
/// accepted the pair) and pairs only the sync log remembers (a restore from an older backup).
/// Ids only, never personal data.
async fn delivered_checks(db: &dyn storage::Storage, log_dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    match db.reconcile_preview(&[]).await {
        Ok(p) if p.lost_digis > 0 => out.push(check(
            "digis",
            Level::Warning,
            format!(
                "{} pair(s) have a sent outbox row but no digis row (the host lost them?): they count as delivered; `digis-relay sync --reconcile --restore-digis` writes them back",
                p.lost_digis
            ),
        )),
        Ok(_) => {}
        Err(e) => out.push(check("digis", Level::Error, e.to_string())),
    }
    match crate::operator::logged_but_unknown(db, log_dir).await {
        Ok(l) => {
            for w in &l.warnings {
                out.push(check("sync log", Level::Warning, w.clone()));
            }
            out.push(if !l.dir_exists {
                check(
                    "sync log",
                    Level::Ok,
                    "no sync log yet: nothing to compare with the database",
                )
            } else if l.pairs.is_empty() {
                check(
                    "sync log",
                    Level::Ok,
                    format!(
                        "the database knows all {} pair(s) the sync log says were sent ({} file(s))",
                        l.logged, l.files
                    ),
                )
            } else {
                check(
                    "sync log",
                    Level::Warning,
                    format!(
                        "{} pair(s) the sync log says were sent are unknown to the database (restored from an older backup?), subscription/person {}: `sync --reconcile` skips them, but saving their subscription queues them again",
                        l.pairs.len(),
                        l.examples(5)
                    ),
                )
            });
        }
        Err(e) => out.push(check("sync log", Level::Error, e.to_string())),
    }
    out
}

/// The health assessment's blockers that no other check already reports (useDigis, the relay
/// line and the pause line do), as `delivery` lines.
fn delivery_checks(h: &crate::health::Health) -> Vec<Check> {
    use crate::health::Kind;
    let lines: Vec<Check> = h
        .blockers
        .iter()
        .filter_map(|b| {
            let level = match b.kind {
                Kind::Degraded | Kind::ClockOffset => Level::Error,
                Kind::BacklogTooOld | Kind::CircuitOpen => Level::Warning,
                // Reported by their own lines above.
                Kind::DatabaseUnreachable
                | Kind::UseDigisOff
                | Kind::NoLiveRelay
                | Kind::Paused
                | Kind::SelfPaused => return None,
            };
            Some(check("delivery", level, b.message.clone()))
        })
        .collect();
    if lines.is_empty() && h.healthy {
        return vec![check(
            "delivery",
            Level::Ok,
            format!(
                "healthy; the oldest due row has waited {} s",
                h.oldest_pending_age_seconds
            ),
        )];
    }
    lines
}

pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok     ",
            Level::Warning => "warning",
            Level::Error => "error  ",
        };
        // A check's message may quote stored text (a pause reason, Digis's words).
        s.push_str(&format!(
            "{tag}  {:<16} {}\n",
            c.name,
            crate::sanitize::for_display(&c.message)
        ));
    }
    let errors = checks.iter().filter(|c| c.level == Level::Error).count();
    let warnings = checks.iter().filter(|c| c.level == Level::Warning).count();
    s.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
    s
}
