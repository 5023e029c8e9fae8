//! The host adapter's state as `doctor` judges it and the `digis_host_adapter_state` metric
//! labels it; the judging is `doctor::adapter`'s.

/// The adapter's state, as the metric labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterState {
    /// Applied as configured; views and triggers as the relay needs them.
    Ok,
    /// The configured file differs from what `migrate` applied.
    Changed,
    /// `migrate` never applied an adapter.
    Missing,
    /// A view, a column or the triggers are not what the relay needs, or the configured file
    /// cannot be read.
    Invalid,
}

impl AdapterState {
    pub const ALL: [AdapterState; 4] = [
        AdapterState::Ok,
        AdapterState::Changed,
        AdapterState::Missing,
        AdapterState::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdapterState::Ok => "ok",
            AdapterState::Changed => "changed",
            AdapterState::Missing => "missing",
            AdapterState::Invalid => "invalid",
        }
    }
}
