//! digis-relay: delivers Digis loyalty-app invitations from a membership database's outbox and
//! lets support staff see, fix and prove what happened. See ARCHITECTURE.md, README.md and docs/.
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod digis;
pub mod doctor;
pub mod domain;
pub mod export;
pub mod fake_digis;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod output;
pub mod payload;
pub mod pulse;
pub mod relay;
pub mod report;
pub mod sanitize;
pub mod search;
pub mod service;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod storage;
pub mod synclog;
#[cfg(unix)]
pub mod systemd;
pub mod time_text;
pub mod tui;
pub mod util;

/// UTC time as the sync log and the SQLite tables write it (`2026-11-28T12:00:00.000Z`).
pub fn storage_time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    time_text::storage(t)
}
