//! What the database holds of the host adapter (issue 25; docs/contracts.md, Host adapter), as
//! `doctor` and the `digis_host_adapter_state` metric judge it (`doctor::adapter`): the columns
//! of the views the relay reads, the triggers on the host's tables with what they call, and the
//! record `migrate` left of the adapter it applied. Read only; names and types as the database
//! reports them.

/// One trigger on a table, with the text that says what it does: SQLite's `CREATE TRIGGER`
/// statement, PostgreSQL's trigger function (its name and body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTrigger {
    pub table: String,
    pub name: String,
    pub function: String,
    pub body: String,
}

/// `digis_host_adapter`'s row: the adapter `migrate` last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterRecord {
    /// The adapter's name (its path, or the reference adapter's).
    pub source: String,
    /// SHA-384 of its text, lower-case hex.
    pub checksum: String,
    /// When it was applied, as the database writes the time.
    pub applied_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostObjects {
    /// Each view asked for (present or not), with its columns: (name, type).
    pub views: Vec<(String, Vec<(String, String)>)>,
    pub triggers: Vec<HostTrigger>,
    /// PostgreSQL's functions in the search path (name, body), to follow a trigger function's
    /// calls to the enqueue entry point; none on SQLite.
    pub functions: Vec<(String, String)>,
    /// `digis_host_adapter` exists (migration 0010).
    pub record_table: bool,
    pub record: Option<AdapterRecord>,
}
