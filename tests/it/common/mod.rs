//! The one test harness, shared by `tests/it`, `tests/reliability` and the benches (they
//! include this folder by `#[path]`): databases ([`db`]), the configuration a relay reads
//! ([`config`]), the binary as a service ([`spawn`]) or a command ([`cli`]), waiting on a
//! condition ([`wait`]), the relay in process ([`relay`]), servers in Digis's place
//! ([`digis`]), the membership system's data ([`host`]), member search terms ([`member`]), HTTP
//! by hand ([`http`]) and the dashboard over a fixed clock or a real database ([`tui`]).
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod config;
pub mod db;
pub mod digis;
pub mod host;
pub mod http;
pub mod member;
pub mod relay;
pub mod spawn;
pub mod tui;
pub mod wait;

pub use cli::*;
pub use config::*;
pub use db::*;
pub use digis::*;
pub use host::*;
pub use http::*;
pub use relay::*;
pub use spawn::*;
pub use tui::*;
pub use wait::*;

/// Runs an async test body once per database.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::TestDb::new($crate::common::Kind::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::TestDb::new($crate::common::Kind::Postgres).await).await
                }
            }
        )*
    };
}

/// Runs an async test body once per database, for bodies that make their own database (bare,
/// or with a host schema of their own): the body takes the [`Kind`].
#[macro_export]
macro_rules! both_kinds {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Kind::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Kind::Postgres).await
                }
            }
        )*
    };
}
