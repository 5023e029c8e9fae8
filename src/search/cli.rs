//! `digis-relay search (--ext-info1 ID | --ext-info20 CARD | --phone NUMBER | --email ADDRESS |
//! --name TEXT) [--json] [--since DATE]`.
use std::process::ExitCode;

use chrono::NaiveDate;

use super::member::{EmailQuery, MemberQuery, NameQuery, PhoneQuery};
use super::{search, SearchOptions, SearchTerm};
use crate::config::Config;
use crate::domain::{CardNumber, SubscriptionId};
use crate::storage::DynStorage;

/// The term flags as given (clap allows exactly one).
#[derive(Default)]
pub struct TermArgs {
    pub ext_info1: Option<SubscriptionId>,
    pub ext_info20: Option<CardNumber>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl TermArgs {
    /// The term, or why the value cannot be searched for (naming the flag, never repeating the
    /// value: it is personal data). A phone number without `+` or `00` is read in
    /// `default_region`.
    pub fn term(self, default_region: &str) -> Result<SearchTerm, String> {
        let flag = |f: &str, e: super::MemberKeyError| format!("--{f}: {e}");
        match self {
            TermArgs {
                ext_info1: Some(id),
                ext_info20: None,
                phone: None,
                email: None,
                name: None,
            } => Ok(SearchTerm::Subscription(id)),
            TermArgs {
                ext_info1: None,
                ext_info20: Some(card),
                phone: None,
                email: None,
                name: None,
            } => Ok(SearchTerm::Card(card)),
            TermArgs {
                ext_info1: None,
                ext_info20: None,
                phone: Some(v),
                email: None,
                name: None,
            } => PhoneQuery::parse(&v, default_region)
                .map(|q| SearchTerm::Member(MemberQuery::Phone(q)))
                .map_err(|e| flag("phone", e)),
            TermArgs {
                ext_info1: None,
                ext_info20: None,
                phone: None,
                email: Some(v),
                name: None,
            } => EmailQuery::parse(&v)
                .map(|q| SearchTerm::Member(MemberQuery::Email(q)))
                .map_err(|e| flag("email", e)),
            TermArgs {
                ext_info1: None,
                ext_info20: None,
                phone: None,
                email: None,
                name: Some(v),
            } => NameQuery::parse(&v)
                .map(|q| SearchTerm::Member(MemberQuery::Name(q)))
                .map_err(|e| flag("name", e)),
            _ => Err(
                "give exactly one of --ext-info1, --ext-info20, --phone, --email or --name".into(),
            ),
        }
    }
}

/// Prints the report (human text, or one JSON object with `json`). Exit code 0 when something
/// matched, 1 when nothing did (like grep), so scripts can branch on it.
pub async fn run(
    config: &Config,
    storage: DynStorage,
    term: &SearchTerm,
    json: bool,
    since: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    // Due times and heartbeats are in the database's time.
    let now = crate::clock::db_now_or_local(storage.as_ref()).await;
    let mut opts = SearchOptions::from_config(config, now);
    opts.since = since;
    let report = search(storage.as_ref(), &config.log_dir, term, &opts).await?;
    if json {
        crate::outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        crate::out!("{}", super::render_text(&report))?;
    }
    Ok(if report.not_found.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
