//! Integration tests: one binary (links once), real SQLite files and a real PostgreSQL.
mod common;
mod storage_ops;
mod triggers;
mod tui_dashboard;
mod tui_e2e;
