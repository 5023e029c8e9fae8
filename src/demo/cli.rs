//! `digis-relay demo [--headless] [--duration SECS]`.
use std::process::ExitCode;
use std::time::Duration;

use super::{run, DemoOptions};

pub async fn demo(
    headless: bool,
    duration: Option<u64>,
    dir: std::path::PathBuf,
    members: usize,
) -> anyhow::Result<ExitCode> {
    if headless {
        // The progress lines are the point here: one line per attempt would drown them (they
        // are in the sync log under --dir).
        crate::cli::logging::init_stderr_with(crate::cli::logging::filter_or(
            "warn,digis_relay=info,digis_relay::sync=warn",
        ));
    }
    let opts = DemoOptions {
        headless,
        duration: duration.map(Duration::from_secs),
        dir,
        members,
    };
    let s = run(opts).await?;
    println!("summary:");
    println!("  queued:    {}", s.queued);
    println!("  sent:      {}", s.sent);
    println!("  failed:    {}", s.failed);
    println!("  retried:   {}", s.retried);
    println!("  discarded: {}", s.discarded);
    println!("  waiting:   {}", s.pending);
    println!(
        "  fake Digis received {} request(s), {} duplicate(s)",
        s.digis_requests, s.duplicates
    );
    if let Some(card) = s.failed_cards.first() {
        println!(
            "why did one fail? digis-relay --database-url {} search --ext-info20 {card}",
            s.database_url
        );
    }
    Ok(ExitCode::SUCCESS)
}
