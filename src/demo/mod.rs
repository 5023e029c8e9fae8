//! `digis-relay demo`: the product working on a fresh machine — an embedded SQLite database,
//! the fake Digis in the same process, a few hundred realistic members saved at a human pace,
//! the relay, and the dashboard (or, headless, progress lines and a summary).
//!
//! Some members fail on purpose so retry and search have something to show: numbers that are
//! not mobiles, one card that the fake rejects with a 400, and a short outage (503s) that the
//! relay rides out with backoff and its circuit.
pub mod cli;
mod data;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::fake_digis::{self, FakeConfig, FaultRule};
use crate::relay::Tally;
use crate::service::{Service, ServiceOptions, StopOn};
use crate::storage::{self, DynStorage};

pub const DEMO_TOKEN: &str = "demo-token-not-a-secret";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub headless: bool,
    pub duration: Option<Duration>,
    pub dir: PathBuf,
    pub members: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoSummary {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub discarded: u64,
    pub pending: u64,
    pub digis_requests: usize,
    pub duplicates: usize,
    /// Cards of a few failed members, to try `search` on.
    pub failed_cards: Vec<String>,
    pub database_url: String,
    /// The demo's sync-log folder: `search` needs it to merge the log with the database.
    pub log_dir: PathBuf,
}

/// The demo's own configuration: never the user's database or Digis.
fn demo_config(dir: &std::path::Path, digis_url: &str) -> Config {
    let mut c = Config {
        database_url: format!("sqlite://{}", dir.join("demo.db").display()),
        log_dir: dir.join("logs"),
        // Held answers belong with the demo's own database: the default, `state` in the
        // working folder, would leave the demo's journal for a real relay started there.
        state_dir: dir.join("state"),
        digis_url: digis_url.to_string(),
        digis_url_postfix: format!("brp?token={DEMO_TOKEN}"),
        digis_timeout_ms: 5_000,
        ..Config::default()
    };
    c.relay.backoff_base_ms = 1_000;
    c.relay.backoff_max_ms = 4_000;
    c.relay.max_requests_per_second = 40;
    c.relay.poll_interval_ms = 500;
    c.relay.lease_ms = 15_000;
    c.relay.heartbeat_ms = 1_000;
    c.relay.circuit_failure_threshold = 4;
    c.relay.circuit_open_ms = 2_000;
    c.relay.relay_id = "demo-relay".into();
    c.export.listen = String::new();
    c
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<DemoSummary> {
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("cannot create {}", opts.dir.display()))?;
    // A fresh demo each time: the folder is the demo's own.
    for f in ["demo.db", "demo.db-wal", "demo.db-shm"] {
        let _ = std::fs::remove_file(opts.dir.join(f));
    }
    let _ = std::fs::remove_dir_all(opts.dir.join("logs"));

    let mut rng = StdRng::seed_from_u64(863);
    let people = plan_people(opts.members, &mut rng);
    // One member with a perfectly good number that Digis rejects anyway (a 400 with a message).
    let rejected_card = people
        .iter()
        .flatten()
        .find(|p| !p.bad_phone)
        .map(|p| p.card_number.clone());
    let mut rules: Vec<FaultRule> = Vec::new();
    if let Some(card) = &rejected_card {
        rules.push(
            format!("card={card},status=400,message=Invalid MobileNumber for this template")
                .parse()?,
        );
    }
    rules.push("delay_ms=40".parse()?);
    let fake = Arc::new(
        fake_digis::start(
            "127.0.0.1:0",
            FakeConfig {
                rules: rules.clone(),
                ..Default::default()
            },
        )
        .await
        .context("starting the fake Digis")?,
    );
    let config = Arc::new(demo_config(&opts.dir, &fake.base_url()));
    let storage = storage::connect(&config.database_url).await?;
    storage.migrate(true).await?;
    exec(&storage, &data::units_sql()).await?;

    // Headless, Ctrl-C ends the demo early (with its summary); the dashboard has its own keys.
    let stop_on = if opts.headless {
        StopOn::Signals
    } else {
        StopOn::Token(CancellationToken::new())
    };
    let service = Service::start(
        storage.clone(),
        config.clone(),
        ServiceOptions {
            stop_on,
            ..ServiceOptions::default()
        },
    )
    .await?;
    let stop = service.stopping();
    // Saves at a human pace; headless runs fit them into the first half of the time.
    let pace = match (opts.headless, opts.duration) {
        (true, Some(d)) => d.mul_f64(0.45).div_f64(people.len().max(1) as f64),
        (true, None) => Duration::from_millis(60),
        (false, _) => Duration::from_millis(700),
    };
    let generator = {
        let storage = storage.clone();
        let stop = stop.clone();
        let fake_rules = rules.clone();
        let fake = fake.clone();
        tokio::spawn(async move { generate(storage, people, pace, stop, fake, fake_rules).await })
    };

    if opts.headless {
        let total = opts.duration.unwrap_or(Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        crate::outln!(
            "demo: {} (fake Digis at {})",
            opts.dir.display(),
            fake.base_url()
        )?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let interrupted = service.stopping();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = interrupted.cancelled() => break,
            }
            let c = storage.counts().await?;
            let t = service.relay().map(|r| r.tally()).unwrap_or_default();
            crate::outln!(
                "[{:>3}s] queued {:>4}  sent {:>4}  failed {:>3}  waiting {:>3}  retried {:>3}",
                started.elapsed().as_secs(),
                c.total(),
                c.sent,
                c.failed,
                c.pending + c.sending,
                t.retried
            )?;
            if started.elapsed() >= total {
                break;
            }
        }
    } else {
        crate::tui::run(
            storage.clone(),
            config.clone(),
            crate::tui::TuiOptions {
                relay_running_here: true,
            },
        )
        .await?;
    }
    stop.cancel();
    let _ = generator.await;
    let tally: Tally = service.shutdown().await?.unwrap_or_default();
    let c = storage.counts().await?;
    let summary = DemoSummary {
        queued: c.total(),
        sent: c.sent,
        failed: c.failed,
        retried: tally.retried,
        discarded: c.discarded,
        pending: c.pending + c.sending,
        digis_requests: fake.received().len(),
        duplicates: fake.duplicates(),
        failed_cards: storage
            .list(&crate::storage::ListQuery {
                state: Some(crate::domain::OutboxState::Failed),
                limit: 3,
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter_map(|r| r.card_number)
            .collect(),
        database_url: config.database_url.clone(),
        log_dir: config.log_dir.clone(),
    };
    if let Ok(fake) = Arc::try_unwrap(fake) {
        fake.shutdown().await;
    }
    Ok(summary)
}

async fn exec(storage: &DynStorage, sql: &str) -> anyhow::Result<()> {
    storage.host_exec(sql).await.map_err(Into::into)
}

/// Subscriptions as lists of their users: mostly single, some families of 2–4.
fn plan_people(members: usize, rng: &mut StdRng) -> Vec<Vec<data::DemoPerson>> {
    let mut out = Vec::new();
    let mut next_id = 1001;
    let mut count = 0;
    while count < members {
        let size = if rng.random_range(0..10) < 7 {
            1
        } else {
            rng.random_range(2..5)
        };
        let mut family = Vec::new();
        let first = data::person(next_id, None, rng);
        let name = first.last_name.clone();
        family.push(first);
        next_id += 1;
        for _ in 1..size {
            family.push(data::person(next_id, Some(&name), rng));
            next_id += 1;
        }
        count += family.len();
        out.push(family);
    }
    out
}

async fn generate(
    storage: DynStorage,
    subscriptions: Vec<Vec<data::DemoPerson>>,
    pace: Duration,
    stop: CancellationToken,
    fake: Arc<fake_digis::FakeHandle>,
    base_rules: Vec<FaultRule>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(4711);
    let n = subscriptions.len();
    let mut paused = Vec::new();
    for (i, users) in subscriptions.into_iter().enumerate() {
        let sub_id = 500 + i as i64;
        // Every 12th is saved PAUSED first and activated later: the trigger fires on the save.
        let status = if i % 12 == 5 { "PAUSED" } else { "ACTIVE" };
        let mut sql = String::new();
        for p in &users {
            sql.push_str(&p.insert_sql());
        }
        let end = if rng.random_range(0..4) == 0 {
            "NULL".to_string()
        } else {
            format!("'{}-12-31'", 2027 + rng.random_range(0..3))
        };
        sql.push_str(&format!("INSERT INTO subscription (id, status, start_date, max_end, message) VALUES ({sub_id}, '{status}', '2026-11-01', {end}, 'demo');"));
        for p in &users {
            sql.push_str(&format!(
                "INSERT INTO subscription_user (subscription_id, person_id) VALUES ({sub_id}, {});",
                p.id
            ));
        }
        storage.host_exec(&sql).await?;
        if status == "PAUSED" {
            paused.push(sub_id);
        }
        // A temporary outage a third of the way in, over after a few requests.
        if i == n / 3 {
            let mut rules = vec!["status=503,retry_after=1,times=6".parse::<FaultRule>()?];
            rules.extend(base_rules.iter().cloned());
            fake.set_rules(rules);
        }
        if i % 9 == 8 {
            if let Some(id) = paused.pop() {
                storage.host_exec(&format!("UPDATE subscription SET status = 'ACTIVE', message = 'activated' WHERE id = {id};")).await?;
            }
        }
        // The first few dozen at once, so the dashboard has something to show straight away.
        if i >= 30 {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = tokio::time::sleep(pace) => {}
            }
        }
    }
    for id in paused {
        storage
            .host_exec(&format!(
                "UPDATE subscription SET status = 'ACTIVE', message = 'activated' WHERE id = {id};"
            ))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The demo said "held answers in /work/ci/state": its state_dir was the working folder's.
    #[test]
    fn everything_the_demo_writes_is_under_its_folder() {
        let dir = std::path::Path::new("/tmp/some-demo");
        let c = super::demo_config(dir, "http://127.0.0.1:1");
        assert!(c.state_dir.starts_with(dir), "{}", c.state_dir.display());
        assert!(c.log_dir.starts_with(dir), "{}", c.log_dir.display());
        assert!(
            c.database_url.contains("/tmp/some-demo/"),
            "{}",
            c.database_url
        );
    }
}
