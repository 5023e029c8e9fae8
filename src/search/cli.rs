//! `digis-relay search (--ext-info1 ID | --ext-info20 CARD) [--json] [--since DATE]`.
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};

use super::{search, SearchOptions, SearchTerm};
use crate::config::Config;
use crate::domain::{CardNumber, SubscriptionId};
use crate::storage::DynStorage;

/// Prints the report (human text, or one JSON object with `json`). Exit code 0 when something
/// matched, 1 when nothing did (like grep), so scripts can branch on it.
pub async fn run(
    config: &Config,
    storage: DynStorage,
    ext_info1: Option<SubscriptionId>,
    ext_info20: Option<CardNumber>,
    json: bool,
    since: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let term = match (ext_info1, ext_info20) {
        (Some(id), None) => SearchTerm::Subscription(id),
        (None, Some(card)) => SearchTerm::Card(card),
        _ => anyhow::bail!("give exactly one of --ext-info1 ID or --ext-info20 CARD"),
    };
    let mut opts = SearchOptions::from_config(config, Utc::now());
    opts.since = since;
    let report = search(storage.as_ref(), &config.log_dir, &term, &opts).await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", super::render_text(&report));
    }
    Ok(if report.not_found.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
