//! The Digis import API: endpoint composition, the HTTP client and outcome classification.
pub mod client;
pub mod endpoint;
pub mod outcome;

pub use client::{ClientError, DigisClient};
pub use outcome::Outcome;
