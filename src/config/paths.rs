//! Relative paths written in a configuration file resolve against that file's folder
//! (docs/contracts.md, Configuration): a relay started by systemd in `/var/lib/digis-relay` and a `search` typed in `/tmp`
//! with the same `--config` must read and write the same sync log and database. Paths given as
//! flags, in the environment or left at their defaults keep meaning what the shell means: the
//! working directory.
//!
//! Which values are paths is decided by the key's name, so a key added later (`*_file`,
//! `*_dir`) follows the rule without being listed here.
use std::path::{Path, PathBuf};

/// A relative path the file gave, and what it now means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelativePath {
    /// The dotted key, e.g. `log_dir`, `host.adapter`.
    pub key: String,
    /// The value as written in the file.
    pub written: String,
    /// The value after resolution (for `database_url`, the whole URL).
    pub resolved: String,
}

/// Whether a key of the file holds a path (or, for `database_url`, may hold one).
pub(super) fn is_path_key(dotted: &str) -> bool {
    let last = dotted.rsplit('.').next().unwrap_or(dotted);
    last.ends_with("_dir") || last.ends_with("_file") || dotted == "host.adapter"
}

/// Rewrites every relative path in `table` (a configuration file's keys, already in snake
/// case) to one under `folder`, and says which ones it rewrote.
pub fn resolve(table: &mut toml::Table, folder: &Path) -> Vec<RelativePath> {
    let mut out = Vec::new();
    walk(table, "", folder, &mut out);
    out
}

fn walk(table: &mut toml::Table, prefix: &str, folder: &Path, out: &mut Vec<RelativePath>) {
    for (key, value) in table.iter_mut() {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => walk(inner, &dotted, folder, out),
            toml::Value::String(s) => {
                let resolved = if dotted == "database_url" {
                    sqlite_url_under(s, folder)
                } else if is_path_key(&dotted) {
                    path_under(s, folder)
                } else {
                    None
                };
                if let Some(resolved) = resolved {
                    out.push(RelativePath {
                        key: dotted,
                        written: std::mem::replace(s, resolved.clone()),
                        resolved,
                    });
                }
            }
            _ => {}
        }
    }
}

/// `folder/path` when `path` is relative; `None` when it is absolute or empty (empty means
/// "off" for the optional files).
fn path_under(path: &str, folder: &Path) -> Option<String> {
    if path.trim().is_empty() || Path::new(path).is_absolute() {
        return None;
    }
    Some(folder.join(path).to_string_lossy().into_owned())
}

/// A `sqlite:` URL whose file is relative, rewritten to the file under `folder`; `None` for
/// any other URL (PostgreSQL, in-memory, already absolute).
pub(crate) fn sqlite_url_under(url: &str, folder: &Path) -> Option<String> {
    let (scheme, rest) = ["sqlite://", "sqlite:"]
        .into_iter()
        .find_map(|p| url.strip_prefix(p).map(|rest| (p, rest)))?;
    let (file, query) = match rest.split_once('?') {
        Some((f, q)) => (f, Some(q)),
        None => (rest, None),
    };
    if file.is_empty() || file == ":memory:" || Path::new(file).is_absolute() {
        return None;
    }
    // sqlx percent-decodes the file part: the folder must not be read as escapes or cut at a
    // `?` or `#` in its name.
    let folder = folder.to_string_lossy();
    let folder = folder
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    let mut out = format!("{scheme}{}/{file}", folder.trim_end_matches('/'));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// The folder relative paths in `file` resolve against: its parent, made absolute against the
/// working directory (symlinks are left as they are, so the path shown is the one typed).
pub fn folder_of(file: &Path) -> PathBuf {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// What a relative path would mean against the working directory, as before this rule: for
/// `doctor`, which warns when that differs from what it means now.
pub fn against_working_dir(p: &RelativePath) -> String {
    match std::env::current_dir() {
        Ok(cwd) if p.key == "database_url" => {
            sqlite_url_under(&p.written, &cwd).unwrap_or_else(|| p.written.clone())
        }
        Ok(cwd) => cwd.join(&p.written).to_string_lossy().into_owned(),
        Err(_) => p.written.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn relative_paths_move_under_the_folder_and_others_stay() {
        let mut t = table(
            "database_url = \"sqlite://relay.db?mode=rwc\"\nlog_dir = \"logs\"\n\
             state_dir = \"/var/lib/x/state\"\ndigis_ca_file = \"ca/extra.pem\"\n\
             digisUrl = \"https://a\"\n[export]\ntls_cert_file = \"\"\n[host]\nadapter = \"adapter.sql\"\n",
        );
        let got = resolve(&mut t, Path::new("/etc/dr"));
        assert_eq!(
            t["database_url"].as_str(),
            Some("sqlite:///etc/dr/relay.db?mode=rwc")
        );
        assert_eq!(t["log_dir"].as_str(), Some("/etc/dr/logs"));
        assert_eq!(t["state_dir"].as_str(), Some("/var/lib/x/state"));
        assert_eq!(t["digis_ca_file"].as_str(), Some("/etc/dr/ca/extra.pem"));
        assert_eq!(t["digisUrl"].as_str(), Some("https://a"));
        assert_eq!(t["export"]["tls_cert_file"].as_str(), Some(""));
        assert_eq!(t["host"]["adapter"].as_str(), Some("/etc/dr/adapter.sql"));
        let mut keys: Vec<(&str, &str)> = got
            .iter()
            .map(|p| (p.key.as_str(), p.written.as_str()))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                ("database_url", "sqlite://relay.db?mode=rwc"),
                ("digis_ca_file", "ca/extra.pem"),
                ("host.adapter", "adapter.sql"),
                ("log_dir", "logs")
            ]
        );
    }

    #[test]
    fn only_relative_sqlite_files_are_rewritten() {
        let f = Path::new("/srv/a b?#%");
        assert_eq!(
            sqlite_url_under("sqlite:x.db", f).as_deref(),
            Some("sqlite:/srv/a b%3F%23%25/x.db")
        );
        for url in [
            "sqlite:///abs.db",
            "sqlite::memory:",
            "sqlite://?mode=memory",
            "postgres://u@h/db",
        ] {
            assert_eq!(sqlite_url_under(url, f), None, "{url}");
        }
    }
}
