//! Gzip-compresses rotated days of the sync log once they are older than
//! `log_compress_after_days` (docs/contracts.md, Sync log). `search` reads the `.gz` files as it
//! reads the others.
//!
//! Crash-safe by order: the compressed copy is written to `NAME.gz.partial`, synced, renamed to
//! `NAME.gz`, and only then is `NAME` deleted. A crash leaves at most a partial file (replaced by
//! the next pass; never read by search) or both `NAME` and a complete `NAME.gz` (the next pass
//! deletes `NAME`; search reads `NAME` and leaves the `.gz` out meanwhile). Today's file is never
//! touched: only rotated, dated files are candidates.
//!
//! One process compresses at a time: a pass takes `scheduler_digis_sync.txt.compress.lock` with
//! `try_lock` and leaves the work to whoever holds it. Writers take another lock, so a long
//! compression never holds up a delivery's log line.
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::names::{self, COMPRESS_LOCK_NAME, GZ, PARTIAL};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompressReport {
    /// Files compressed (their names before compression).
    pub compressed: Vec<String>,
    /// Originals deleted because a complete `.gz` of them was already there (a crash between
    /// the rename and the delete).
    pub leftovers_removed: Vec<String>,
    /// Another process held the compression lock; nothing was done.
    pub busy: bool,
}

/// Compresses every rotated file of a day more than `after_days` days before `today`
/// (`after_days` 0: never). Errors on one file stop the pass (the next pass tries again).
pub fn compress_old(dir: &Path, today: NaiveDate, after_days: u32) -> io::Result<CompressReport> {
    let mut report = CompressReport::default();
    if after_days == 0 {
        return Ok(report);
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(COMPRESS_LOCK_NAME))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            report.busy = true;
            return Ok(report);
        }
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let result = pass(dir, today, after_days, &mut report);
    let _ = lock.unlock();
    result.map(|()| report)
}

fn pass(
    dir: &Path,
    today: NaiveDate,
    after_days: u32,
    report: &mut CompressReport,
) -> io::Result<()> {
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    for name in names {
        let Some(n) = names::parse(&name) else {
            continue;
        };
        let (Some(day), false) = (n.date, n.compressed) else {
            continue;
        };
        if day >= today || (today - day).num_days() <= i64::from(after_days) {
            continue;
        }
        let original = dir.join(&name);
        let gz = dir.join(format!("{name}{GZ}"));
        if gz.exists() {
            // Renamed only once complete: the original is a copy left by a crash.
            std::fs::remove_file(&original)?;
            report.leftovers_removed.push(name);
            continue;
        }
        compress_file(&original, &gz)?;
        report.compressed.push(name);
    }
    Ok(())
}

/// `original` → `gz` through `gz.partial`; the original is deleted last.
fn compress_file(original: &Path, gz: &Path) -> io::Result<()> {
    let partial = PathBuf::from(format!("{}{PARTIAL}", gz.display()));
    {
        // `create` + `truncate`: a partial file left by a crash is replaced, never appended to.
        let out = File::create(&partial)?;
        let mut enc = GzEncoder::new(BufWriter::new(out), Compression::default());
        io::copy(&mut BufReader::new(File::open(original)?), &mut enc)?;
        let mut out = enc.finish()?;
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    std::fs::rename(&partial, gz)?;
    if let Some(parent) = gz.parent() {
        // The rename must be on disk before the original goes (best effort where a folder
        // cannot be opened for syncing).
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
    std::fs::remove_file(original)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synclog::FILE_NAME;
    use std::io::Read;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn gunzip(path: &Path) -> String {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn days_older_than_the_setting_are_compressed_and_today_never() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in [
            (FILE_NAME.to_string(), "today\n"),
            (names::rotated(day(27), 0), "yesterday\n"),
            (names::rotated(day(20), 0), "eight days ago\n"),
            (names::rotated(day(20), 1), "eight days ago, second file\n"),
            (names::rotated(day(21), 0), "seven days ago\n"),
            ("other.log".to_string(), "not ours\n"),
        ] {
            std::fs::write(d.join(name), text).unwrap();
        }
        let r = compress_old(d, day(28), 7).unwrap();
        assert_eq!(
            r.compressed,
            [names::rotated(day(20), 0), names::rotated(day(20), 1)]
        );
        assert_eq!(
            listing(d),
            [
                "other.log".to_string(),
                FILE_NAME.to_string(),
                format!("{}.gz", names::rotated(day(20), 1)),
                format!("{}.gz", names::rotated(day(20), 0)),
                names::rotated(day(21), 0),
                names::rotated(day(27), 0),
            ]
        );
        assert_eq!(
            gunzip(&d.join(format!("{}.gz", names::rotated(day(20), 0)))),
            "eight days ago\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.join(FILE_NAME)).unwrap(),
            "today\n"
        );
        // 0 = never; and a second pass finds nothing more to do.
        assert_eq!(
            compress_old(d, day(28), 0).unwrap(),
            CompressReport::default()
        );
        assert_eq!(
            compress_old(d, day(28), 7).unwrap(),
            CompressReport::default()
        );
        // Even at 1 day, yesterday stays and today's file is never a candidate.
        let r = compress_old(d, day(28), 1).unwrap();
        assert_eq!(r.compressed, [names::rotated(day(21), 0)]);
        assert!(d.join(FILE_NAME).exists());
        assert!(d.join(names::rotated(day(27), 0)).exists());
    }

    #[test]
    fn a_crash_mid_way_leaves_what_the_next_pass_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = names::rotated(day(1), 0);
        let b = names::rotated(day(2), 0);
        std::fs::write(d.join(&a), "line a\n").unwrap();
        std::fs::write(d.join(&b), "line b\n").unwrap();
        // Crashed while writing a's partial file ...
        std::fs::write(d.join(format!("{a}.gz.partial")), b"\x1f\x8b garbage").unwrap();
        // ... and between b's rename and its delete.
        compress_file(&d.join(&b), &d.join(format!("{b}.gz"))).unwrap();
        std::fs::write(d.join(&b), "line b\n").unwrap();

        let r = compress_old(d, day(28), 7).unwrap();
        assert_eq!(r.compressed, [a.as_str()]);
        assert_eq!(r.leftovers_removed, [b.as_str()]);
        assert_eq!(listing(d), [format!("{a}.gz"), format!("{b}.gz")]);
        assert_eq!(gunzip(&d.join(format!("{a}.gz"))), "line a\n");
        assert_eq!(gunzip(&d.join(format!("{b}.gz"))), "line b\n");
    }

    #[test]
    fn a_pass_leaves_the_work_to_the_process_holding_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join(names::rotated(day(1), 0)), "x\n").unwrap();
        let other = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(d.join(COMPRESS_LOCK_NAME))
            .unwrap();
        other.lock().unwrap();
        let r = compress_old(d, day(28), 7).unwrap();
        assert!(r.busy && r.compressed.is_empty(), "{r:?}");
        other.unlock().unwrap();
        assert_eq!(compress_old(d, day(28), 7).unwrap().compressed.len(), 1);
    }
}
