//! `?` Help: the keymap, one heading per section, drawn from the sections it is given (the
//! whole keymap), so it lists exactly the keys that work. Its state is whether it is open and
//! how far it is scrolled (`App::help`, `App::help_scroll`).
pub mod keys;
pub mod view;
