//! Integration tests: one binary (links once), real SQLite files and a real PostgreSQL.
mod common;
mod search;
mod storage_ops;
mod triggers;
