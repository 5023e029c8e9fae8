//! The Digis import API: endpoint composition, the HTTP client and outcome classification.
pub mod endpoint;
