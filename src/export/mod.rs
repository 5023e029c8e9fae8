//! The `DigisAllActive` export (docs/contracts.md, Export, health and metrics): every user of every
//! ACTIVE subscription, one payload object each, as a JSON array or as CSV.
//!
//! The export is produced page by page (`export.page_size` members per page, keyset-paged in
//! (subscription, person) order) and each page becomes one chunk of bytes, so memory does not
//! grow with the number of members. The HTTP endpoint streams the chunks ([`export_stream`]), the
//! CLI writes them ([`write_export`]); both drive the same [`Exporter`], so they produce the same
//! bytes. Every member goes through [`payload::build`], the relay's own mapping.
//!
//! The export is not a snapshot: rows changed while it runs may or may not be in it, but a row
//! that stays unchanged is written exactly once (keyset paging never skips or repeats a key).
pub mod cli;

use axum::body::Bytes;
use futures::Stream;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::domain::{PersonId, SubscriptionId};
use crate::payload;
use crate::settings::{ExportSettings, PayloadSettings};
use crate::storage::{DynStorage, Storage, StorageError};

/// The export's name in the URL and on the command line.
pub const NAME: &str = "DigisAllActive";

/// How many skipped members the summary names (the rest are only counted), so that a database
/// full of bad rows cannot make the summary grow without bound.
pub const SKIPPED_EXAMPLES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    /// `json` or `csv` (any case).
    pub fn parse(s: &str) -> Option<ExportFormat> {
        if s.eq_ignore_ascii_case("json") {
            Some(ExportFormat::Json)
        } else if s.eq_ignore_ascii_case("csv") {
            Some(ExportFormat::Csv)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
        }
    }
}

/// A member left out of the export because no payload could be built for them, or their host
/// row cannot be read. Ids and the payload field (or the host column) only: never the
/// offending value (it is personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub subscription_id: i64,
    pub person_id: i64,
    pub field: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Members written to the export.
    pub written: u64,
    /// Members left out because their payload could not be built.
    pub skipped: u64,
    /// The first [`SKIPPED_EXAMPLES`] skipped members.
    pub skipped_examples: Vec<Skipped>,
    /// Pages of at most `export.page_size` members read from the database (the last one may be
    /// empty): what the page size changes, and what a stalled reader holds back.
    pub pages: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the members: {0}")]
    Storage(#[from] StorageError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Pages,
    Done,
}

/// The export as a sequence of byte chunks: one per page of members, the first one carrying
/// the opening (`[` or the CSV header), the last one the closing (`]`).
pub struct Exporter {
    format: ExportFormat,
    payload: PayloadSettings,
    page_size: u32,
    after: Option<(SubscriptionId, PersonId)>,
    phase: Phase,
    summary: ExportSummary,
}

impl Exporter {
    pub fn new(
        payload: &PayloadSettings,
        export: &ExportSettings,
        format: ExportFormat,
    ) -> Exporter {
        Exporter {
            format,
            payload: payload.clone(),
            page_size: export.page_size.max(1),
            after: None,
            phase: Phase::Start,
            summary: ExportSummary::default(),
        }
    }

    pub fn summary(&self) -> &ExportSummary {
        &self.summary
    }

    pub fn into_summary(self) -> ExportSummary {
        self.summary
    }

    /// Members looked at so far (written and skipped).
    pub fn processed(&self) -> u64 {
        self.summary.written + self.summary.skipped
    }

    fn skip(&mut self, subscription_id: i64, person_id: i64, field: &'static str) {
        self.summary.skipped += 1;
        if self.summary.skipped_examples.len() < SKIPPED_EXAMPLES {
            self.summary.skipped_examples.push(Skipped {
                subscription_id,
                person_id,
                field,
            });
        }
    }

    /// The next chunk, or `None` when the export is complete.
    pub async fn next_chunk(
        &mut self,
        storage: &dyn Storage,
    ) -> Result<Option<Bytes>, ExportError> {
        if self.phase == Phase::Done {
            return Ok(None);
        }
        let page = storage
            .active_members_page(self.after, self.page_size)
            .await?;
        self.summary.pages += 1;
        let last_page = (page.len() as u64) < self.page_size as u64;
        // Room for the page at a typical payload size, so a page is one allocation.
        let mut buf: Vec<u8> = Vec::with_capacity(page.len() * 640 + 512);
        if self.phase == Phase::Start {
            match self.format {
                ExportFormat::Json => buf.push(b'['),
                ExportFormat::Csv => write_csv_row(&mut buf, payload::CSV_HEADER.iter())?,
            }
            self.phase = Phase::Pages;
        }
        for read in &page {
            let member = match read {
                Ok(m) => m,
                Err(d) => {
                    // One unreadable host row is skipped and counted, never an error for the
                    // page: the ids and the column only, no personal data.
                    tracing::warn!("export {NAME}: member skipped, the row cannot be read: {d}");
                    self.skip(
                        d.subscription.int().unwrap_or(0),
                        d.person.int().unwrap_or(0),
                        d.column,
                    );
                    continue;
                }
            };
            // ACTIVE is the page query's filter; re-checked so that a storage bug could never
            // put a paused or ended membership into Digis's nightly import.
            if !member.is_active() {
                continue;
            }
            match payload::build(member, &self.payload) {
                Ok(p) => {
                    match self.format {
                        ExportFormat::Json => {
                            if self.summary.written > 0 {
                                buf.push(b',');
                            }
                            buf.push(b'\n');
                            serde_json::to_writer(&mut buf, &p).map_err(std::io::Error::from)?;
                        }
                        ExportFormat::Csv => write_csv_row(&mut buf, p.csv_record().iter())?,
                    }
                    self.summary.written += 1;
                }
                Err(e) => {
                    tracing::warn!(
                        subscription = e.subscription_id,
                        person = e.person_id,
                        field = e.field,
                        "export {NAME}: member skipped, no payload can be built"
                    );
                    self.skip(e.subscription_id, e.person_id, e.field);
                }
            }
        }
        // The cursor moves past unreadable rows too, so a page of them cannot repeat forever.
        let key = page.iter().rev().find_map(|r| match r {
            Ok(m) => Some((m.subscription(), m.person())),
            Err(d) => Some((
                SubscriptionId(d.subscription.int()?),
                PersonId(d.person.int()?),
            )),
        });
        // A whole page whose ids are not numbers (SQLite sorts text after every number, so
        // they are the end of the table) gives no key to move on from: reading it again would
        // loop for ever, so the export ends there, with those rows counted as skipped.
        let stuck = !last_page && (key.is_none() || key == self.after);
        if stuck {
            tracing::warn!(
                "export {NAME}: stopped at a page of rows whose ids are not numbers ({} rows)",
                page.len()
            );
        }
        if key.is_some() {
            self.after = key;
        }
        if last_page || stuck {
            if self.format == ExportFormat::Json {
                buf.extend_from_slice(if self.summary.written > 0 {
                    b"\n]\n"
                } else {
                    b"]\n"
                });
            }
            self.phase = Phase::Done;
        }
        Ok(Some(Bytes::from(buf)))
    }
}

/// One CSV record (RFC 4180: quoted when needed, CRLF line ends) appended to `buf`.
fn write_csv_row<I, T>(buf: &mut Vec<u8>, fields: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::CRLF)
        .from_writer(buf);
    w.write_record(fields).map_err(csv_io)?;
    w.flush()
}

fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes the whole export to `out`, calling `progress` with the number of members looked at
/// after each page. `out` is flushed but not shut down.
pub async fn write_export<W: AsyncWrite + Unpin>(
    storage: &dyn Storage,
    payload: &PayloadSettings,
    export: &ExportSettings,
    format: ExportFormat,
    mut out: W,
    mut progress: impl FnMut(u64),
) -> Result<ExportSummary, ExportError> {
    let mut exporter = Exporter::new(payload, export, format);
    while let Some(chunk) = exporter.next_chunk(storage).await? {
        out.write_all(&chunk).await?;
        progress(exporter.processed());
    }
    out.flush().await?;
    Ok(exporter.into_summary())
}

/// The export as a stream of chunks, for a streamed HTTP body. The summary is logged when the
/// stream ends; an error ends the stream (the HTTP body is then cut off, so a client cannot take
/// a partial export for a complete one).
pub fn export_stream(
    storage: DynStorage,
    payload: &PayloadSettings,
    export: &ExportSettings,
    format: ExportFormat,
) -> impl Stream<Item = Result<Bytes, ExportError>> + Send + 'static {
    let exporter = Exporter::new(payload, export, format);
    futures::stream::try_unfold((storage, exporter), |(storage, mut exporter)| async move {
        match exporter.next_chunk(storage.as_ref()).await {
            Ok(Some(chunk)) => Ok(Some((chunk, (storage, exporter)))),
            Ok(None) => {
                let s = exporter.summary();
                tracing::info!(
                    written = s.written,
                    skipped = s.skipped,
                    pages = s.pages,
                    "export {NAME} served"
                );
                Ok(None)
            }
            Err(e) => {
                tracing::error!("export {NAME} cut off: {e}");
                Err(e)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_quote_what_needs_quoting() {
        let mut buf = Vec::new();
        write_csv_row(&mut buf, ["a,b", "say \"hi\"", "two\nlines", "plain"]).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",plain\r\n"
        );
    }

    #[test]
    fn formats_parse() {
        assert_eq!(ExportFormat::parse("CSV"), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("json"), Some(ExportFormat::Json));
        assert_eq!(ExportFormat::parse("xml"), None);
    }
}
