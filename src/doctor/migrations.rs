//! The relay's migration bookkeeping as `doctor` sees it (issue 25, items 1 and 4): a migration
//! applied from another text than this binary's, which `migrate` would refuse, and an older
//! release's bookkeeping that `migrate` has not carried over yet.
use super::{check, Check, Level};
use crate::storage::bookkeeping::{self, Source};
use crate::storage::handshake::SchemaVersions;
use crate::storage::Backend;

const NAME: &str = "migrations";

pub fn checks(versions: &SchemaVersions, backend: Backend) -> Vec<Check> {
    if let Some(refusal) = bookkeeping::refusal(&versions.modified, versions.source, backend) {
        return vec![check(NAME, Level::Error, refusal)];
    }
    vec![match versions.source {
        Source::Legacy => check(
            NAME,
            Level::Warning,
            format!(
                "recorded in {} by an older digis-relay: `digis-relay migrate` carries the relay's rows over to {} (the old table is left as it is)",
                bookkeeping::LEGACY_MIGRATIONS_TABLE,
                bookkeeping::MIGRATIONS_TABLE
            ),
        ),
        Source::Own | Source::None => check(
            NAME,
            Level::Ok,
            format!(
                "{} recorded in {}, each as this digis-relay has it",
                versions.applied.len(),
                bookkeeping::MIGRATIONS_TABLE
            ),
        ),
    }]
}
