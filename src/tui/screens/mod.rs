//! The dashboard's screens, one folder each: its state, its keys (`keys.rs`, listed in the
//! whole keymap by `keymap.rs`) and its view (`view.rs`, drawn from its own state and the
//! clocks, never from the whole `App`). A screen knows the vocabulary (`message`), the key
//! machinery (`keys`) and the drawing helpers (`ui`); nothing here knows `App` or `update`.
pub mod confirm;
pub mod detail;
pub mod failures;
pub mod help;
pub mod log;
pub mod outbox;
pub mod relays;
pub mod search;
pub mod stats;
