//! What the commands write for people and for other programs: standard output that a closed
//! pipe ends quietly ([`stdout`]), files holding members' personal data ([`private_file`]), and
//! CSV cells a spreadsheet cannot run as formulas ([`csv_cell`]).
pub mod csv_cell;
pub mod private_file;
pub mod stdout;
