//! Appending to today's file and rotating yesterday's away, safely with several writers in one
//! folder (a relay and a dashboard on one machine, or two relays): every writer takes an
//! exclusive advisory lock on `scheduler_digis_sync.txt.lock` around "is my file still today's
//! file, rotate if a new day began, append" (docs/decisions/0036-log-folder-lock.md).
//!
//! Without the lock two writers starting a new day together could each rename "yesterday's"
//! file, the second renaming the first one's fresh file of today under yesterday's name, or fail
//! its rename and lose its line. Under the lock a writer also checks that its open file is still
//! the one named `scheduler_digis_sync.txt` (same inode) and reopens when it is not (rotated by
//! another writer, or moved away by hand), so no line goes into a file nobody expects it in.
//!
//! The lock is `flock(2)` through `std::fs::File::lock` (std since Rust 1.89; no crate needed):
//! it belongs to the open file description, so two `SyncLog`s in one process exclude each
//! other like two processes do, and it is released by the kernel when a process dies.
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};

use super::names::{self, GZ, LOCK_NAME};
use super::FILE_NAME;

/// A pause between judging the file and renaming it; 0 (none) unless a test sets it.
static ROTATION_PAUSE_MS: AtomicU64 = AtomicU64::new(0);

/// For tests only: widens the window in which two writers without the lock would both rotate,
/// so a test of concurrent writers (threads or processes) catches a missing lock every time
/// rather than now and then. Never called by the program.
#[doc(hidden)]
pub fn pause_rotation_for_tests(ms: u64) {
    ROTATION_PAUSE_MS.store(ms, Ordering::Relaxed);
}

/// Today's open file of one writer, and its handle on the folder's lock file.
pub(super) struct Appender {
    dir: PathBuf,
    /// Opened at the first line (a folder that cannot be written fails the write, not `open`).
    lock: Option<File>,
    current: Option<(NaiveDate, File)>,
}

/// Releases the folder lock when dropped, on every path out of [`Appender::append`].
struct Held<'a>(&'a File);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Appender {
    pub(super) fn new(dir: &Path) -> Appender {
        Appender {
            dir: dir.to_path_buf(),
            lock: None,
            current: None,
        }
    }

    /// Appends `bytes` (whole lines, each ending in `\n`, all of `day`) to today's file in one
    /// write, rotating the file of an earlier day away first. Returns whether this call
    /// rotated a file.
    pub(super) fn append(&mut self, day: NaiveDate, bytes: &[u8]) -> io::Result<bool> {
        if self.lock.is_none() {
            self.lock = Some(
                OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(self.dir.join(LOCK_NAME))?,
            );
        }
        let lock = self.lock.as_ref().expect("opened above");
        lock.lock()?;
        let _held = Held(lock);
        let path = self.dir.join(FILE_NAME);
        let keep = match &self.current {
            Some((d, f)) => *d == day && is_same_file(f, &path),
            None => false,
        };
        let mut rotated = false;
        if !keep {
            self.current = None;
            rotated = rotate_if_older(&self.dir, day)?;
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            self.current = Some((day, f));
        }
        let (_, f) = self.current.as_mut().expect("opened above");
        // One write call: with O_APPEND and the lock, no other writer's line can land inside.
        f.write_all(bytes)?;
        f.flush()?;
        Ok(rotated)
    }
}

/// Whether the open file `f` is still the one at `path` (another writer may have renamed it).
#[cfg(unix)]
fn is_same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Without inode numbers the file is reopened at every write: slower, never wrong.
#[cfg(not(unix))]
fn is_same_file(_: &File, _: &Path) -> bool {
    false
}

/// Renames today's file to carry its date when it belongs to a day before `today` (by its
/// first line, else its modification time). The caller holds the folder lock.
fn rotate_if_older(dir: &Path, today: NaiveDate) -> io::Result<bool> {
    let path = dir.join(FILE_NAME);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(false);
    };
    let Some(file_day) = first_line_day(&path).or_else(|| {
        meta.modified()
            .ok()
            .map(|m| DateTime::<Utc>::from(m).date_naive())
    }) else {
        return Ok(false);
    };
    if file_day >= today || meta.len() == 0 {
        return Ok(false);
    }
    // A name is taken when the day was rotated before, whether or not it was compressed since.
    let taken = |name: &str| dir.join(name).exists() || dir.join(format!("{name}{GZ}")).exists();
    let mut seq = 0;
    while taken(&names::rotated(file_day, seq)) {
        seq += 1;
    }
    let pause = ROTATION_PAUSE_MS.load(Ordering::Relaxed);
    if pause > 0 {
        std::thread::sleep(std::time::Duration::from_millis(pause));
    }
    std::fs::rename(&path, dir.join(names::rotated(file_day, seq)))?;
    Ok(true)
}

fn first_line_day(path: &Path) -> Option<NaiveDate> {
    let mut buf = [0u8; 10];
    File::open(path).ok()?.read_exact(&mut buf).ok()?;
    NaiveDate::parse_from_str(std::str::from_utf8(&buf).ok()?, "%Y-%m-%d").ok()
}
