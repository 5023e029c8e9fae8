//! Integration tests: one binary (links once), real SQLite files and a real PostgreSQL.
mod cli_ops;
mod common;
mod db_outage;
mod digis_edges;
mod doctor;
mod fake_digis;
mod health;
mod http_export;
mod log_http_edges;
mod relay_outcomes;
mod relay_service;
mod search;
mod storage_ops;
mod triggers;
mod tui_dashboard;
mod tui_e2e;
