//! The reliability suite (RELIABILITY.md): the real binary against the project's fake Digis, on
//! both databases. Short versions run in every `cargo test`; the long ones are `#[ignore]` and
//! run by `scripts/reliability` with their sizes in `RELIABILITY_*` variables.
#[path = "../it/common/mod.rs"]
mod common;

mod fake_faults;
mod figures;
mod harness;
mod kills;
mod multi_relay;
mod pg_restart;
mod soak;
