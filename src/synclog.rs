//! The sync log (DESIGN §7): `{log_dir}/scheduler_digis_sync.txt`, one line per attempt, so
//! support can keep grepping for `ExtInfo1:863, ExtInfo20:34231451` as the seed tells them to.
//!
//! Written synchronously by the relay rather than through tracing: the lines are the audit
//! trail, so none may be dropped under load (tracing-appender's non-blocking writer drops), and
//! the type of [`SyncLine`] is the privacy guarantee — it has no field that could carry a name,
//! phone number, e-mail address, birth date or token.
//!
//! Rotation by date keeps the contract's file name for today: when the first line of a new day
//! arrives, yesterday's file is renamed to `scheduler_digis_sync.txt.YYYY-MM-DD`.
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

pub const FILE_NAME: &str = "scheduler_digis_sync.txt";

/// One attempt, as it goes into the log.
#[derive(Debug, Clone)]
pub struct SyncLine<'a> {
    pub at: DateTime<Utc>,
    pub relay_id: &'a str,
    pub subscription_id: i64,
    pub card_number: Option<&'a str>,
    pub outbox_id: i64,
    pub person_id: i64,
    pub attempt: i32,
    /// sent, retry, failed, discarded or paused.
    pub outcome: &'a str,
    pub http_status: Option<u16>,
    pub external_id: Option<&'a str>,
    pub ms: i64,
    /// Our own words only (never a response body from Digis): see `crate::relay`.
    pub error: Option<&'a str>,
}

impl SyncLine<'_> {
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} relay={} ExtInfo1:{}, ExtInfo20:{} outbox={} person={} attempt={} outcome={} status={} external_id={} ms={}",
            crate::storage_time_text(self.at),
            token(self.relay_id),
            self.subscription_id,
            self.card_number.unwrap_or(""),
            self.outbox_id,
            self.person_id,
            self.attempt,
            self.outcome,
            self.http_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            self.external_id.map(token).unwrap_or_else(|| "-".into()),
            self.ms,
        );
        if let Some(e) = self.error {
            s.push_str(&format!(" error=\"{}\"", e.replace(['"', '\n', '\r'], "'")));
        }
        s
    }
}

/// Keeps a free-form value on one token: spaces and newlines would break `key=value` parsing.
fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c == '"' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

pub struct SyncLog {
    dir: PathBuf,
    state: Mutex<Option<(NaiveDate, File)>>,
}

impl SyncLog {
    /// Creates the folder if needed; the file is opened at the first line.
    pub fn open(dir: &Path) -> io::Result<SyncLog> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create log folder {}: {e}", dir.display()),
            )
        })?;
        Ok(SyncLog {
            dir: dir.to_path_buf(),
            state: Mutex::new(None),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn write(&self, line: &SyncLine<'_>) -> io::Result<()> {
        let mut text = line.render();
        text.push('\n');
        let day = line.at.date_naive();
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let reopen = match &*guard {
            Some((d, _)) => *d != day,
            None => true,
        };
        if reopen {
            *guard = None;
            self.rotate_if_older(day)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path())?;
            *guard = Some((day, f));
        }
        let (_, f) = guard.as_mut().expect("opened above");
        // One write call per line: with O_APPEND concurrent writers never interleave a line.
        f.write_all(text.as_bytes())?;
        f.flush()
    }

    /// Renames the current file to carry its date when it belongs to an earlier day.
    fn rotate_if_older(&self, today: NaiveDate) -> io::Result<()> {
        let path = self.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(());
        };
        let Some(file_day) = first_line_day(&path).or_else(|| {
            meta.modified()
                .ok()
                .map(|m| DateTime::<Utc>::from(m).date_naive())
        }) else {
            return Ok(());
        };
        if file_day < today && meta.len() > 0 {
            let mut target = self.dir.join(format!("{FILE_NAME}.{file_day}"));
            let mut n = 1;
            while target.exists() {
                target = self.dir.join(format!("{FILE_NAME}.{file_day}.{n}"));
                n += 1;
            }
            std::fs::rename(&path, target)?;
        }
        Ok(())
    }
}

fn first_line_day(path: &Path) -> Option<NaiveDate> {
    use std::io::Read;
    let mut buf = [0u8; 10];
    File::open(path).ok()?.read_exact(&mut buf).ok()?;
    NaiveDate::parse_from_str(std::str::from_utf8(&buf).ok()?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(at: DateTime<Utc>) -> SyncLine<'static> {
        SyncLine {
            at,
            relay_id: "r1",
            subscription_id: 863,
            card_number: Some("0034231451"),
            outbox_id: 5,
            person_id: 1042,
            attempt: 1,
            outcome: "sent",
            http_status: Some(200),
            external_id: Some("ext-1"),
            ms: 12,
            error: None,
        }
    }

    #[test]
    fn renders_the_contract_form() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(
            line(at).render(),
            "2026-11-28T12:00:00.000Z relay=r1 ExtInfo1:863, ExtInfo20:0034231451 outbox=5 person=1042 attempt=1 outcome=sent status=200 external_id=ext-1 ms=12"
        );
    }

    #[test]
    fn rotates_when_the_day_changes() {
        let dir = tempfile::tempdir().unwrap();
        let log = SyncLog::open(dir.path()).unwrap();
        let d1 = Utc.with_ymd_and_hms(2026, 11, 27, 23, 59, 0).unwrap();
        let d2 = Utc.with_ymd_and_hms(2026, 11, 28, 0, 1, 0).unwrap();
        log.write(&line(d1)).unwrap();
        log.write(&line(d2)).unwrap();
        let old = std::fs::read_to_string(dir.path().join("scheduler_digis_sync.txt.2026-11-27"))
            .unwrap();
        let new = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(old.starts_with("2026-11-27T23:59"), "{old}");
        assert_eq!(new.lines().count(), 1);
        assert!(new.starts_with("2026-11-28T00:01"));
    }
}
