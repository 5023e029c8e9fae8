//! The Digis import API: endpoint composition, the HTTP client and the classification of its answers.
pub mod answer;
pub mod ca;
pub mod client;
pub mod endpoint;
pub mod transport;

pub use answer::Answer;
pub use client::{ClientError, DigisClient};
