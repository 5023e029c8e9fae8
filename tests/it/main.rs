//! Integration tests: one binary (links once), real SQLite files and a real PostgreSQL.
mod bad_input_corpus;
mod cli_ops;
mod common;
mod doctor;
mod fake_digis;
mod host_rows;
mod http_export;
mod relay_outcomes;
mod relay_service;
mod search;
mod storage_ops;
mod triggers;
mod tui_dashboard;
mod tui_e2e;
