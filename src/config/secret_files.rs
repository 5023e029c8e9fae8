//! Where each secret comes from (docs/contracts.md, Configuration): a value, a file
//! named by `<key>_file` / `DIGIS_RELAY_<KEY>_FILE`, or a systemd credential
//! (`$CREDENTIALS_DIRECTORY/<key>`, `LoadCredential=`), so the configuration text need not
//! hold the secret itself.
//!
//! The layers, lowest first: the credentials directory < the configuration file <
//! `DIGIS_RELAY_<KEY>` < `DATABASE_URL` (for `database_url`) < `--database-url`. A `_file`
//! counts as a value of the layer that names it; a value and its `_file` in one layer are an
//! error (which one was meant?). An empty value counts as not given, so a configuration file
//! copied from the example (`token = ""`) does not hide a credential the unit loads.
//!
//! Secret files are read here, once, and only the one that wins: a lower layer's file is not
//! read (the operator overrode it, perhaps because it is broken). What is recorded for `doctor`
//! is where each secret came from, never its value.
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::secrets::SECRET_KEYS;
use super::ConfigError;

/// The most a secret file may hold: a token or URL is well under 1 KiB; a bigger file is the
/// wrong file (a log, a key store), and reading it whole would be unbounded.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The variable systemd sets for a unit with `LoadCredential=`.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Where a secret's value came from (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `$CREDENTIALS_DIRECTORY/<key>`.
    Credential { path: PathBuf },
    /// The key's value in the configuration file.
    ConfigValue,
    /// `<key>_file` in the configuration file (the path resolved against its folder).
    ConfigFile { key: String, path: PathBuf },
    /// An environment variable holding the value.
    Env { var: String },
    /// `DIGIS_RELAY_<KEY>_FILE`.
    EnvFile { var: String, path: PathBuf },
    /// A command-line flag.
    Flag { flag: &'static str },
}

impl Source {
    /// The file the secret was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Source::Credential { path }
            | Source::ConfigFile { path, .. }
            | Source::EnvFile { path, .. } => Some(path),
            _ => None,
        }
    }

    /// For `doctor`: where, in words, without the value.
    pub fn describe(&self) -> String {
        match self {
            Source::Credential { path } => format!("credential {}", path.display()),
            Source::ConfigValue => "the config file".into(),
            Source::ConfigFile { key, path } => format!("{} ({key})", path.display()),
            Source::Env { var } => format!("environment {var}"),
            Source::EnvFile { var, path } => format!("{} ({var})", path.display()),
            Source::Flag { flag } => flag.to_string(),
        }
    }

    /// The name an operator fixes: the key or variable that named the file.
    fn named_by(&self, secret: &str) -> String {
        match self {
            Source::ConfigFile { key, .. } => key.clone(),
            Source::Env { var } | Source::EnvFile { var, .. } => var.clone(),
            Source::Flag { flag } => flag.to_string(),
            Source::Credential { .. } | Source::ConfigValue => secret.to_string(),
        }
    }
}

/// Where one secret came from, and what lower layers it overrode (so `doctor` can say that a
/// credential is not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretOrigin {
    /// The secret's dotted snake-case key (`export.token`).
    pub key: &'static str,
    pub source: Source,
    pub shadowed: Vec<Source>,
}

/// A secret given by one layer, not read yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub key: &'static str,
    pub source: Source,
    what: What,
}

#[derive(Debug, Clone, PartialEq)]
enum What {
    Value(String),
    /// Read the file; a relative `sqlite:` URL in it resolves under this folder (the
    /// configuration file's, as its value would).
    File {
        under: Option<PathBuf>,
    },
}

/// One layer's secrets.
pub type Layer = Vec<Given>;

/// The name a key has in the configuration file and in systemd's credentials directory.
fn table_path(key: &str) -> (Option<&str>, &str) {
    match key.split_once('.') {
        Some((section, name)) => (Some(section), name),
        None => (None, key),
    }
}

/// Takes the secret keys and their `_file` variants out of a configuration file's table
/// (already in snake case, relative paths already under `folder`). What remains is what the
/// typed configuration reads.
pub fn take_from_table(table: &mut toml::Table, folder: &Path) -> Result<Layer, ConfigError> {
    // The integration note's spelling of the postfix with `_file` appended.
    if let Some(v) = table.remove("digisUrlPostfix_file") {
        if table.contains_key("digis_url_postfix_file") {
            return Err(ConfigError::new(
                "digisUrlPostfix_file",
                "given twice, also as `digis_url_postfix_file`",
            ));
        }
        table.insert("digis_url_postfix_file".into(), v);
    }
    let mut layer = Vec::new();
    for key in SECRET_KEYS {
        let (section, name) = table_path(key);
        let Some(t) = (match section {
            Some(s) => match table.get_mut(s) {
                Some(toml::Value::Table(t)) => Some(t),
                _ => None,
            },
            None => Some(&mut *table),
        }) else {
            continue;
        };
        let file_name = format!("{name}_file");
        let file_key = format!("{key}_file");
        let value = match t.remove(name) {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                return Err(ConfigError::new(
                    key,
                    super::secrets::message(&figment::error::Kind::InvalidType(
                        actual(&other),
                        "a string".into(),
                    )),
                ))
            }
            None => None,
        };
        let path = match t.remove(&file_name) {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                return Err(ConfigError::new(
                    &file_key,
                    format!(
                        "must be a path (a string), not {}",
                        super::secrets::actual_word(&actual(&other))
                    ),
                ))
            }
            None => None,
        };
        let value = value.filter(|v| !v.is_empty());
        let path = path.filter(|p| !p.is_empty());
        match (value, path) {
            (Some(_), Some(_)) => return Err(both(key, &file_key)),
            (Some(v), None) => layer.push(Given {
                key,
                source: Source::ConfigValue,
                what: What::Value(v),
            }),
            (None, Some(p)) => layer.push(Given {
                key,
                source: Source::ConfigFile {
                    key: file_key,
                    path: PathBuf::from(p),
                },
                what: What::File {
                    under: Some(folder.to_path_buf()),
                },
            }),
            (None, None) => {}
        }
    }
    Ok(layer)
}

fn actual(v: &toml::Value) -> figment::error::Actual {
    use figment::error::Actual;
    match v {
        toml::Value::Boolean(b) => Actual::Bool(*b),
        toml::Value::Integer(i) => Actual::Signed(*i as i128),
        toml::Value::Float(f) => Actual::Float(*f),
        toml::Value::String(_) => Actual::Str(String::new()),
        toml::Value::Array(_) => Actual::Seq,
        toml::Value::Table(_) | toml::Value::Datetime(_) => Actual::Map,
    }
}

fn both(key: &str, file_key: &str) -> ConfigError {
    ConfigError::new(key, format!("both {key} and {file_key} are set; keep one"))
}

/// `DIGIS_RELAY_EXPORT__TOKEN` for `export.token`.
pub fn env_var(key: &str) -> String {
    format!(
        "DIGIS_RELAY_{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

/// Whether `DIGIS_RELAY_`-less, dotted `key` (as figment's environment provider names it, in
/// any case) is a secret or a secret's `_file`: those are read here, not by figment.
pub fn is_secret_or_file(dotted: &str) -> bool {
    let lower = dotted.to_ascii_lowercase();
    super::secrets::is_secret(lower.strip_suffix("_file").unwrap_or(&lower))
}

/// The environment's secrets (`DIGIS_RELAY_<KEY>` and `DIGIS_RELAY_<KEY>_FILE`), taken as the
/// text they are (figment would read `12345678901234567890` as a number). Names compare
/// without case, as figment's do.
pub fn from_env(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<Layer, ConfigError> {
    let vars: Vec<_> = vars.into_iter().collect();
    let find = |name: &str| -> Result<Option<(String, String)>, ConfigError> {
        let Some((k, v)) = vars
            .iter()
            .find(|(k, _)| k.to_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
        else {
            return Ok(None);
        };
        let k = k.to_string_lossy().into_owned();
        match v.to_str() {
            Some("") => Ok(None),
            Some(v) => Ok(Some((k, v.to_string()))),
            None => Err(ConfigError::new(&k, "is not UTF-8 text")),
        }
    };
    let mut layer = Vec::new();
    for key in SECRET_KEYS {
        let var = env_var(key);
        let file_var = format!("{var}_FILE");
        match (find(&var)?, find(&file_var)?) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    key,
                    format!("both {var} and {file_var} are set; keep one"),
                ))
            }
            (Some((var, v)), None) => layer.push(Given {
                key,
                source: Source::Env { var },
                what: What::Value(v),
            }),
            (None, Some((var, p))) => layer.push(Given {
                key,
                source: Source::EnvFile {
                    var,
                    path: PathBuf::from(p),
                },
                what: What::File { under: None },
            }),
            (None, None) => {}
        }
    }
    Ok(layer)
}

/// A value given as it is (`DATABASE_URL`, a flag): empty flags stay values, so that
/// `--database-url ""` is refused rather than ignored.
pub fn value(key: &'static str, source: Source, v: String) -> Given {
    Given {
        key,
        source,
        what: What::Value(v),
    }
}

/// The secrets systemd's `LoadCredential=` put in `dir` (`$CREDENTIALS_DIRECTORY`), under
/// the keys' own names. A name with no file is not given.
pub fn from_credentials(dir: Option<&Path>) -> Layer {
    let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) else {
        return Vec::new();
    };
    SECRET_KEYS
        .into_iter()
        .filter_map(|key| {
            let path = dir.join(key);
            // An error other than "not there" (a directory we may not search) is the read's
            // to report, naming the file.
            let there = path.try_exists().unwrap_or(true);
            there.then_some(Given {
                key,
                source: Source::Credential { path },
                what: What::File { under: None },
            })
        })
        .collect()
}

/// The winning value of each secret given by any layer (layers lowest first), read from its
/// file when it is one, with where it came from.
pub fn resolve(layers: Vec<Layer>) -> Result<Vec<(String, SecretOrigin)>, ConfigError> {
    let mut out = Vec::new();
    for key in SECRET_KEYS {
        let mut given: Vec<Given> = layers
            .iter()
            .flat_map(|l| l.iter().filter(|g| g.key == key).cloned())
            .collect();
        let Some(winner) = given.pop() else { continue };
        let value = match &winner.what {
            What::Value(v) => v.clone(),
            What::File { under } => {
                let path = winner.source.path().expect("a file source has a path");
                let text = read(path).map_err(|why| {
                    let named = winner.source.named_by(key);
                    let whose = match &winner.source {
                        Source::Credential { .. } => "the systemd credential ",
                        _ => "",
                    };
                    let for_key = if named == key {
                        String::new()
                    } else {
                        format!(" (it should hold {key})")
                    };
                    ConfigError::new(&named, format!("{whose}{} {why}{for_key}", path.display()))
                })?;
                match under {
                    Some(folder) if key == "database_url" => {
                        super::paths::sqlite_url_under(&text, folder).unwrap_or(text)
                    }
                    _ => text,
                }
            }
        };
        out.push((
            value,
            SecretOrigin {
                key,
                source: winner.source,
                shadowed: given.into_iter().rev().map(|g| g.source).collect(),
            },
        ));
    }
    Ok(out)
}

/// A secret file's text: at most [`MAX_SECRET_FILE_BYTES`], UTF-8, one trailing newline
/// (`\n` or `\r\n`, as editors and `echo` leave) trimmed, and then one line with no control
/// characters. The reasons never quote the content.
pub fn read(path: &Path) -> Result<String, String> {
    // A FIFO or a device would block or never end: a secret is a regular file.
    let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            "is a directory, not a file".into()
        } else {
            "is not a regular file".into()
        });
    }
    let file = std::fs::File::open(path).map_err(|e| io_reason(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "is larger than {} KiB: not a secret file (the wrong path?)",
            MAX_SECRET_FILE_BYTES / 1024
        ));
    }
    let trimmed = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    if trimmed.is_empty() {
        return Err("is empty: put the secret in it (one line)".into());
    }
    let text = std::str::from_utf8(trimmed)
        .map_err(|_| "is not UTF-8 text (the content is not shown: it is a secret)".to_string())?;
    if text.chars().any(char::is_control) {
        return Err("holds a line break or control character inside (only one trailing newline is trimmed; the content is not shown: it is a secret)".into());
    }
    Ok(text.to_string())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => {
            "cannot be read by this user (permission denied)".into()
        }
        _ => format!("cannot be read: {e}"),
    }
}

/// A validation error about a secret read from a file gets the file's name: the key alone
/// would send the operator to a configuration file that does not hold it.
pub fn annotate(err: ConfigError, origins: &[SecretOrigin]) -> ConfigError {
    let key = match err.key.as_str() {
        "digisUrlPostfix" => "digis_url_postfix",
        k => k,
    };
    match origins.iter().find(|o| o.key == key) {
        Some(o) if o.source.path().is_some() => ConfigError {
            message: format!("{} (read from {})", err.message, o.source.describe()),
            ..err
        },
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn one_trailing_newline_is_trimmed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        for (content, want) in [
            (&b"tok\n"[..], "tok"),
            (b"tok\r\n", "tok"),
            (b"tok", "tok"),
            (b" tok ", " tok "),
        ] {
            assert_eq!(read(&file(d.path(), "s", content)).unwrap(), want);
        }
        for (content, why) in [
            (&b""[..], "is empty"),
            (b"\n", "is empty"),
            (b"\r\n", "is empty"),
            (b"tok\n\n", "line break"),
            (b"to\nk", "line break"),
            (b"to\tk", "control"),
            (b"tok\r", "control"),
            (b"t\xffok", "not UTF-8"),
        ] {
            let err = read(&file(d.path(), "s", content)).unwrap_err();
            assert!(err.contains(why), "{content:?}: {err}");
        }
        assert!(read(&d.path().join("none"))
            .unwrap_err()
            .contains("does not exist"));
        assert!(read(d.path()).unwrap_err().contains("directory"));
    }

    #[test]
    fn a_file_over_the_bound_is_refused_and_one_at_it_is_read() {
        let d = tempfile::tempdir().unwrap();
        let at = vec![b'a'; MAX_SECRET_FILE_BYTES as usize];
        assert_eq!(read(&file(d.path(), "at", &at)).unwrap().len(), at.len());
        let mut over = at.clone();
        over.push(b'a');
        let err = read(&file(d.path(), "over", &over)).unwrap_err();
        assert!(err.contains("larger than 64 KiB"), "{err}");
    }

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_value_and_its_file_in_one_layer_are_refused() {
        let mut t = table("[export]\ntoken = \"x\"\ntoken_file = \"/t\"\n");
        let err = take_from_table(&mut t, Path::new("/etc")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: `export.token`: both export.token and export.token_file are set; keep one"
        );
        let vars = [
            (
                OsString::from("DIGIS_RELAY_DATABASE_URL"),
                OsString::from("x"),
            ),
            (
                OsString::from("DIGIS_RELAY_DATABASE_URL_FILE"),
                OsString::from("/x"),
            ),
        ];
        let err = from_env(vars).unwrap_err();
        assert_eq!(err.key, "database_url");
        assert!(
            err.message.contains("DIGIS_RELAY_DATABASE_URL_FILE"),
            "{err}"
        );
    }

    #[test]
    fn the_environment_provider_leaves_secrets_and_their_files_to_us() {
        for k in [
            "EXPORT.TOKEN_FILE",
            "database_url_file",
            "DIGIS_URL_POSTFIX",
            "export.metrics_token",
        ] {
            assert!(is_secret_or_file(k), "{k}");
        }
        for k in ["export.listen", "log_file", "EXPORT.TLS_CERT_FILE"] {
            assert!(!is_secret_or_file(k), "{k}");
        }
    }

    #[test]
    fn the_file_keys_leave_the_table_and_empty_ones_are_not_given() {
        let mut t = table(
            "digisUrlPostfix_file = \"/p\"\ndatabase_url = \"\"\n[export]\ntoken = \"\"\nmetrics_token_file = \"/m\"\nlisten = \"a\"\n",
        );
        let layer = take_from_table(&mut t, Path::new("/etc")).unwrap();
        let keys: Vec<&str> = layer.iter().map(|g| g.key).collect();
        assert_eq!(keys, ["digis_url_postfix", "export.metrics_token"]);
        assert_eq!(t, table("[export]\nlisten = \"a\"\n"));
        let err = take_from_table(
            &mut table("digisUrlPostfix_file = \"/p\"\ndigis_url_postfix_file = \"/q\"\n"),
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(err.key, "digisUrlPostfix_file");
        let err =
            take_from_table(&mut table("[export]\ntoken_file = 3\n"), Path::new("/")).unwrap_err();
        assert_eq!(err.key, "export.token_file");
    }

    #[test]
    fn the_highest_layer_wins_and_only_its_file_is_read() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("creds")).unwrap();
        file(
            &d.path().join("creds"),
            "export.token",
            b"from-credential\n",
        );
        file(
            &d.path().join("creds"),
            "database_url",
            b"sqlite://cred.db\n",
        );
        let creds = from_credentials(Some(&d.path().join("creds")));
        assert_eq!(creds.len(), 2);
        let broken = Given {
            key: "database_url",
            source: Source::ConfigFile {
                key: "database_url_file".into(),
                path: d.path().join("missing"),
            },
            what: What::File { under: None },
        };
        let flag = value(
            "database_url",
            Source::Flag {
                flag: "--database-url",
            },
            "sqlite://flag.db".into(),
        );
        let got = resolve(vec![creds.clone(), vec![broken.clone()], vec![flag]]).unwrap();
        assert_eq!(got[0].0, "from-credential");
        assert!(matches!(got[0].1.source, Source::Credential { .. }));
        assert_eq!(got[1].0, "sqlite://flag.db", "the missing file is not read");
        assert_eq!(got[1].1.shadowed.len(), 2);
        let err = resolve(vec![creds, vec![broken]]).unwrap_err();
        assert_eq!(err.key, "database_url_file");
        assert!(
            err.message
                .contains("missing does not exist (it should hold database_url)"),
            "{err}"
        );
    }

    #[test]
    fn a_relative_sqlite_url_from_the_config_files_file_is_under_its_folder() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "db", b"sqlite://relay.db\n");
        let given = Given {
            key: "database_url",
            source: Source::ConfigFile {
                key: "database_url_file".into(),
                path: p,
            },
            what: What::File {
                under: Some(PathBuf::from("/etc/dr")),
            },
        };
        let got = resolve(vec![vec![given]]).unwrap();
        assert_eq!(got[0].0, "sqlite:///etc/dr/relay.db");
    }
}
