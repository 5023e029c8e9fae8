//! Files holding members' personal data (`export --output`, `report failures --csv`;
//! docs/contracts.md, CLI, and docs/untrusted-edges.md, Untrusted edges).
//!
//! - Written to a new temporary file in the target's folder (`tempfile`: a random name, opened
//!   with `O_EXCL`, so nothing planted there is followed or reused), mode 0600 from the start.
//! - Renamed over the target only once complete and synced: a reader never sees half a file,
//!   and an existing target is replaced, not written into.
//! - The target must be a regular file or not exist. A folder, a device, a fifo or a socket is
//!   refused before anything is written, and so is a symbolic link, even to a regular file: the
//!   rename would replace the link rather than write where it points, and a file with personal
//!   data is never written through a link. Give the file's own path.
//! - On any failure (disk full, a write error, Ctrl-C or SIGTERM, which the commands catch while
//!   writing) the temporary file is removed when [`PrivateFile`] is dropped; nothing is left
//!   behind. Only a kill that cannot be caught (SIGKILL, power loss) can leave one, named
//!   `.digis-relay-*.partial`, still mode 0600.
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Every temporary file starts so, whatever the target's name (a long name must not make the
/// temporary one too long for the file system).
const TEMP_PREFIX: &str = ".digis-relay-";
const TEMP_SUFFIX: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("cannot write {path}: it is {what}, not a regular file (a file with personal data is written only as a regular file: give a file name)")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot write {path}: it is a symbolic link (a file with personal data is never written through a link: give the path of the file itself)")]
    Symlink { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Target { path: PathBuf, source: io::Error },
    #[error("cannot create a file in {dir}: {source}")]
    Create { dir: PathBuf, source: io::Error },
    #[error("cannot finish {path}: {source}")]
    Finish { path: PathBuf, source: io::Error },
}

/// A file being written for `target`; see the module comment.
pub struct PrivateFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl PrivateFile {
    /// Checks `target` and creates the temporary file beside it.
    pub fn create(target: &Path) -> Result<PrivateFile, PrivateFileError> {
        check_target(target)?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
        // tempfile's default on Unix too; said here because it is the point.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
        let temp = builder
            .tempfile_in(&dir)
            .map_err(|source| PrivateFileError::Create { dir, source })?;
        Ok(PrivateFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open temporary file, to write into.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// A second handle on the temporary file (for an async writer); the file is still removed
    /// on drop unless [`PrivateFile::commit`] ran.
    pub fn handle(&self) -> io::Result<File> {
        self.temp.as_file().try_clone()
    }

    /// Syncs the file and renames it over the target (checked again: it may have changed while
    /// the data was written).
    pub fn commit(self) -> Result<(), PrivateFileError> {
        let finish = |source| PrivateFileError::Finish {
            path: self.target.clone(),
            source,
        };
        self.temp.as_file().sync_all().map_err(finish)?;
        check_target(&self.target)?;
        let target = self.target.clone();
        self.temp
            .persist(&target)
            .map_err(|e| PrivateFileError::Finish {
                path: target.clone(),
                source: e.error,
            })?;
        sync_parent(&target);
        Ok(())
    }
}

/// The target must not exist, or be a regular file (which is replaced).
fn check_target(target: &Path) -> Result<(), PrivateFileError> {
    if target.file_name().is_none() {
        return Err(PrivateFileError::NotAFile {
            path: target.to_path_buf(),
            what: "a folder",
        });
    }
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // A name too long, a part of the path that is not a folder, no permission: said now,
        // before the export is written for nothing.
        Err(source) => Err(PrivateFileError::Target {
            path: target.to_path_buf(),
            source,
        }),
        Ok(m) if m.file_type().is_symlink() => Err(PrivateFileError::Symlink {
            path: target.to_path_buf(),
        }),
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) => Err(PrivateFileError::NotAFile {
            path: target.to_path_buf(),
            what: kind_of(&m.file_type()),
        }),
    }
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a fifo";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

/// The rename is durable once the folder is synced; a failure here loses nothing already
/// written, so it is not an error.
fn sync_parent(target: &Path) {
    #[cfg(unix)]
    {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = target;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    #[test]
    fn writes_a_private_file_and_nothing_else() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.csv");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = PrivateFile::create(&target).unwrap();
        f.file().write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(names(d.path()), ["out.csv"]);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut f = PrivateFile::create(&d.path().join("out.csv")).unwrap();
        f.file().write_all(b"half").unwrap();
        drop(f);
        assert!(names(d.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let folder = d.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        let real = d.path().join("real.csv");
        std::fs::write(&real, "keep").unwrap();
        let link = d.path().join("link.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        for (p, says) in [
            (folder.clone(), "a folder"),
            (PathBuf::from("/dev/null"), "a character device"),
            (link.clone(), "symbolic link"),
        ] {
            let e = PrivateFile::create(&p).err().unwrap().to_string();
            assert!(e.contains(says), "{e}");
        }
        let long = d.path().join("x".repeat(300));
        let e = PrivateFile::create(&long).err().unwrap().to_string();
        assert!(e.contains("too long"), "{e}");
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep");
        assert_eq!(names(d.path()), ["folder", "link.csv", "real.csv"]);
    }
}
