//! The names of the sync log's files, shared by the writer (rotation, compression) and the
//! reader (`search::logscan`), so the two cannot disagree about which files are the log.
//!
//! - `scheduler_digis_sync.txt`: today's file, written by every relay of the folder;
//! - `scheduler_digis_sync.txt.YYYY-MM-DD[.N]`: a rotated day (`.N` when the name was taken);
//! - `scheduler_digis_sync.txt.YYYY-MM-DD[.N].gz`: the same, gzip-compressed once older than
//!   `log_compress_after_days`;
//! - `scheduler_digis_sync.txt.lock` and `scheduler_digis_sync.txt.compress.lock`: the advisory
//!   locks (docs/decisions/0036-log-folder-lock.md), and `*.gz.partial`: a compression in progress (or cut
//!   short by a crash). None of these is part of the log.
use chrono::NaiveDate;

use super::FILE_NAME;

/// Held around rotating and appending, by every writer of the folder.
pub const LOCK_NAME: &str = "scheduler_digis_sync.txt.lock";
/// Held (tried, never waited for) by the process that compresses old days.
pub const COMPRESS_LOCK_NAME: &str = "scheduler_digis_sync.txt.compress.lock";
/// The suffix of a compressed rotated file.
pub const GZ: &str = ".gz";
/// The suffix of a compressed file being written; renamed to `.gz` once complete.
pub const PARTIAL: &str = ".partial";

/// What a file name of the log folder says, when it is one of the sync log's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogName {
    /// The day of a rotated file; `None` for today's file.
    pub date: Option<NaiveDate>,
    /// The `.N` of a second file of the same day (0 when there is none).
    pub seq: u32,
    /// A rotated file compressed with gzip (`.gz`).
    pub compressed: bool,
}

/// Recognises the log's own file names (see the module comment); anything else is not ours.
pub fn parse(name: &str) -> Option<LogName> {
    let rest = name.strip_prefix(FILE_NAME)?;
    if rest.is_empty() {
        return Some(LogName {
            date: None,
            seq: 0,
            compressed: false,
        });
    }
    let rest = rest.strip_prefix('.')?;
    let (rest, compressed) = match rest.strip_suffix(GZ) {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (day, seq) = match rest.split_once('.') {
        Some((d, n)) => (d, strict_u32(n)?),
        None => (rest, 0),
    };
    if day.len() != 10 {
        return None;
    }
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    Some(LogName {
        date: Some(date),
        seq,
        compressed,
    })
}

/// The name a rotated file of `day` gets (`seq` 0: none).
pub fn rotated(day: NaiveDate, seq: u32) -> String {
    if seq == 0 {
        format!("{FILE_NAME}.{day}")
    } else {
        format!("{FILE_NAME}.{day}.{seq}")
    }
}

/// Digits only, as `format!` writes a number: `.01` or `.+1` is not ours.
fn strict_u32(s: &str) -> Option<u32> {
    let n: u32 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logs_own_names_and_nothing_else() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27);
        assert_eq!(parse(FILE_NAME).unwrap().date, None);
        for (name, seq, compressed) in [
            ("scheduler_digis_sync.txt.2026-11-27", 0, false),
            ("scheduler_digis_sync.txt.2026-11-27.2", 2, false),
            ("scheduler_digis_sync.txt.2026-11-27.gz", 0, true),
            ("scheduler_digis_sync.txt.2026-11-27.3.gz", 3, true),
        ] {
            assert_eq!(
                parse(name),
                Some(LogName {
                    date: d,
                    seq,
                    compressed
                }),
                "{name}"
            );
        }
        for bad in [
            "scheduler_digis_sync.txt.gz",
            "scheduler_digis_sync.txt.2026-11-27.gz.partial",
            "scheduler_digis_sync.txt.2026-11-27.x",
            "scheduler_digis_sync.txt.2026-11-27.01",
            "scheduler_digis_sync.txt.2026-11-27.gz.gz",
            "scheduler_digis_sync.txt.2026-11-27.1.2",
            "scheduler_digis_sync.txtx",
            LOCK_NAME,
            COMPRESS_LOCK_NAME,
            "other.txt",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(
            rotated(d.unwrap(), 0),
            "scheduler_digis_sync.txt.2026-11-27"
        );
        assert_eq!(
            rotated(d.unwrap(), 2),
            "scheduler_digis_sync.txt.2026-11-27.2"
        );
    }
}
