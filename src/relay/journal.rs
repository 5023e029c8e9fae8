//! The held answers' journal (docs/delivery-path.md): when the relay is told to stop
//! while a database outage holds completions (answers Digis already gave, and the group's
//! give-backs), they are written here instead of keeping the process alive until the database
//! answers, and committed under their claim tokens at the next start, before anything is
//! claimed. Committing reuses `Storage::complete_group`, which applies a row only while its
//! claim token holds (a stale attempt is recorded otherwise), so a journal committed late or
//! twice never sends or marks anything twice.
//!
//! One file per process (`held-<relay id>-<pid>.json` in `state_dir`), since several relays may
//! share the folder and two processes may share a relay id; every relay commits every journal
//! it finds at its start. A file is replaced atomically (temporary file in the same folder,
//! fsync, rename, fsync of the folder), is readable by its owner only, and is deleted only once
//! its content is committed. It holds ids, claim tokens, Digis's external ids, states, times
//! and the sync log's value-free error words: never Digis's own message (it may quote the
//! member's data) nor any personal data.
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::{FailureCause, GiveBack, OutboxId};
use crate::storage::{Completion, CompletionItem};

/// The format's version: a relay refuses (keeps, names) a journal of a version it does not know.
pub const VERSION: u32 = 1;
const PREFIX: &str = "held-";
const SUFFIX: &str = ".json";

/// What a journal holds: completions and give-backs not yet committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub relay_id: String,
    pub completions: Vec<HeldCompletion>,
    pub releases: Vec<HeldRelease>,
}

/// One completion and what its sync-log line needs (the card number stays out: the line is
/// written without it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldCompletion {
    pub item: CompletionItem,
    pub http_status: Option<u16>,
    pub log_error: Option<String>,
    pub given_back: Option<String>,
}

/// A row given back unsent, under its claim token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRelease {
    pub id: OutboxId,
    pub claim_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a journal of held answers: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: journal version {found}, this relay knows {VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
}

impl HeldCompletion {
    /// The journal's copy of a completion: the attempt's error becomes the sync log's
    /// value-free words, since Digis's own message may quote the member's data.
    pub fn new(
        item: &CompletionItem,
        http_status: Option<u16>,
        log_error: Option<&str>,
        given_back: Option<GiveBack>,
    ) -> HeldCompletion {
        let mut item = item.clone();
        item.attempt.error = log_error.map(str::to_string);
        if let Completion::Failed { cause } = &mut item.completion {
            if cause.quotes_digis() {
                *cause = FailureCause::other();
            }
        }
        HeldCompletion {
            item,
            http_status,
            log_error: log_error.map(str::to_string),
            given_back: given_back.map(|g| g.as_str().to_string()),
        }
    }

    pub fn given_back(&self) -> Option<GiveBack> {
        let word = self.given_back.as_deref()?;
        GiveBack::ALL.into_iter().find(|g| g.as_str() == word)
    }
}

/// This process's journal file in `dir`. The relay id is reduced to file-name-safe characters.
pub fn path_for(dir: &Path, relay_id: &str, pid: u32) -> PathBuf {
    let id: String = relay_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    dir.join(format!("{PREFIX}{id}-{pid}{SUFFIX}"))
}

/// Replaces `path` with `journal` atomically: a temporary file beside it, written and synced,
/// renamed over it, then the folder synced, so a crash leaves the old content or the new, never
/// a part. The folder is created if missing; the file is readable by its owner only.
pub fn write(path: &Path, journal: &Journal) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    // A leading dot keeps a temporary file out of `pending`.
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    let bytes = serde_json::to_vec_pretty(journal).expect("a journal always serialises");
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

pub fn read(path: &Path) -> Result<Journal, JournalError> {
    let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let journal: Journal =
        serde_json::from_slice(&bytes).map_err(|source| JournalError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    if journal.version != VERSION {
        return Err(JournalError::Version {
            path: path.to_path_buf(),
            found: journal.version,
        });
    }
    let mut journal = journal;
    // Written before completions carried their cause: read it from the error words, as the
    // completion did then.
    for held in &mut journal.completions {
        let attempt = &held.item.attempt;
        if let Completion::Failed { cause } = &mut held.item.completion {
            if cause.is_other() {
                *cause = FailureCause::from_stored(attempt.error.as_deref(), attempt.http_status);
            }
        }
    }
    Ok(journal)
}

/// Deletes a committed journal (and syncs the folder, so it does not come back after a crash).
pub fn remove(path: &Path) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::remove_file(path).map_err(io)?;
    sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(io)
}

/// The journals waiting in `dir`, oldest name first; none when the folder does not exist.
pub fn pending(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PersonId, SubscriptionId};
    use crate::storage::{AttemptRecord, Completion};
    use chrono::{TimeZone, Utc};

    fn journal() -> Journal {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 5, 0, 0).unwrap();
        let item = CompletionItem {
            id: OutboxId(7),
            claim_token: "tok-7".into(),
            subscription_id: SubscriptionId(3),
            person_id: PersonId(11),
            attempt_no: 1,
            completion: Completion::Sent {
                external_id: Some("TE-000007".into()),
            },
            attempt: AttemptRecord {
                started_at: at,
                duration_ms: 1500,
                relay_id: "r1".into(),
                http_status: Some(200),
                // Digis's own words, which may quote the member: the journal drops them.
                error: Some("Digis said: Jan Jansen 0612345678".into()),
            },
        };
        let mut failed = item.clone();
        failed.id = OutboxId(8);
        failed.completion = Completion::Released {
            next_attempt_at: at,
        };
        Journal {
            version: VERSION,
            relay_id: "r1".into(),
            completions: vec![
                HeldCompletion::new(&item, Some(200), None, None),
                HeldCompletion::new(
                    &failed,
                    Some(401),
                    Some("HTTP 401: configuration error, relay paused"),
                    Some(GiveBack::ConfigError),
                ),
            ],
            releases: vec![HeldRelease {
                id: OutboxId(9),
                claim_token: "tok-9".into(),
            }],
        }
    }

    #[test]
    fn a_journal_round_trips_and_keeps_no_digis_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "host/1 a", 42);
        assert_eq!(path.file_name().unwrap(), "held-host_1_a-42.json");
        let j = journal();
        write(&path, &j).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back, j);
        assert_eq!(
            back.completions[1].given_back(),
            Some(GiveBack::ConfigError)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("TE-000007") && text.contains("tok-9"),
            "{text}"
        );
        assert!(!text.contains("Jansen") && !text.contains("0612"), "{text}");
        assert_eq!(back.completions[0].item.attempt.error, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(pending(dir.path()).unwrap(), vec![path.clone()]);
        remove(&path).unwrap();
        assert!(pending(dir.path()).unwrap().is_empty());
    }

    /// A failed row's cause goes into the journal unless it quotes Digis, and a journal written
    /// before completions carried their cause reads it from the error words, as then.
    #[test]
    fn a_failed_completion_keeps_its_own_cause_and_old_journals_read_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "r1", 1);
        let mut j = journal();
        let mut failed = j.completions[0].item.clone();
        failed.completion = Completion::Failed {
            cause: FailureCause::digis_rejection(400, "Jan Jansen is taken"),
        };
        j.completions = vec![HeldCompletion::new(
            &failed,
            Some(400),
            Some("rejected by Digis (HTTP 400)"),
            None,
        )];
        assert_eq!(
            j.completions[0].item.completion,
            Completion::Failed {
                cause: FailureCause::other()
            }
        );
        let gave_up = FailureCause::gave_up(Some(Some(503)));
        failed.attempt.http_status = Some(503);
        failed.completion = Completion::Failed { cause: gave_up };
        let why = "gave up after 12 attempts; last: HTTP 503";
        j.completions
            .push(HeldCompletion::new(&failed, Some(503), Some(why), None));
        write(&path, &j).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("Jansen"), "{text}");
        assert_eq!(read(&path).unwrap(), j);
        // As an older version wrote it: no cause beside the state.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        for c in old["completions"].as_array_mut().unwrap() {
            c["item"]["completion"]
                .as_object_mut()
                .unwrap()
                .remove("cause");
        }
        std::fs::write(&path, old.to_string()).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.completions[1].item.completion, failed.completion);
        assert_eq!(back, j);
    }

    /// A rewrite replaces the whole file through a temporary one, which never counts as a
    /// journal and is gone afterwards; a missing folder is made, and one with no journal has
    /// none pending.
    #[test]
    fn a_write_is_atomic_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("state");
        assert!(pending(&folder).unwrap().is_empty());
        let path = path_for(&folder, "r1", 1);
        let mut j = journal();
        write(&path, &j).unwrap();
        // A temporary file left by a crash mid-write is not a journal.
        std::fs::write(folder.join(".held-r1-2.json.tmp"), b"{ cut").unwrap();
        j.releases.clear();
        write(&path, &j).unwrap();
        assert_eq!(read(&path).unwrap(), j);
        let names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.contains(&".held-r1-1.json.tmp".to_string()),
            "{names:?}"
        );
        assert_eq!(pending(&folder).unwrap(), vec![path.clone()]);
        std::fs::write(&path, b"{ cut").unwrap();
        assert!(matches!(read(&path), Err(JournalError::Parse { .. })));
    }
}
