//! `doctor`'s checks of the secrets: a token still at the example's placeholder, a
//! configuration file or secret file (`<key>_file`, a systemd credential) that others on the
//! host can read or change, and where each secret came from (never its value).
use super::{check, Check, Level};
use crate::config::Config;
use crate::digis::endpoint::DigisEndpoint;

/// Placeholders the example configuration and docs/install.md show for the API key, compared
/// without case, `_` or `-`. Digis answers 401 to each: better said before the first row pauses the relay.
const PLACEHOLDERS: [&str; 8] = [
    "apikeyfromways",
    "apikey",
    "yourapikey",
    "yourtoken",
    "token",
    "changeme",
    "placeholder",
    "secret",
];

pub fn is_placeholder(token: &str) -> bool {
    let folded: String = token
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    PLACEHOLDERS.contains(&folded.as_str())
}

/// The `digis token` line for an endpoint that has one.
pub fn token(endpoint: &DigisEndpoint) -> Check {
    if endpoint.secrets().iter().any(|t| is_placeholder(t)) {
        check(
            "digis token",
            Level::Error,
            "digisUrlPostfix still holds the example's placeholder (APIKEY_FROM_WAYS): put the API key from Ways in its place; Digis will answer 401",
        )
    } else {
        check("digis token", Level::Ok, "present (shown as ***)")
    }
}

/// The configuration file's permissions, when it holds a secret: readable by others, the
/// tokens are anyone's on this host; writable by others, anyone can send the members' data
/// elsewhere. Group read is the documented install (`0640`, the relay's group): fine when the
/// group is this process's own.
#[cfg(unix)]
pub fn config_file(config: &Config) -> Option<Check> {
    use std::os::unix::fs::MetadataExt;
    let file = config.origin.file.as_ref()?;
    if config.origin.file_secrets.is_empty() {
        return None;
    }
    let meta = std::fs::metadata(file).ok()?;
    let mode = meta.mode() & 0o777;
    // SAFETY: getegid/geteuid only read this process's credentials.
    let (our_gid, our_uid) = unsafe { (libc::getegid(), libc::geteuid()) };
    let holds = config.origin.file_secrets.join(", ");
    let fix = if meta.uid() == our_uid {
        format!("chmod 600 {}", file.display())
    } else {
        format!("chmod 640 {} (keeping the relay's group)", file.display())
    };
    let problem = if mode & 0o002 != 0 {
        Some((Level::Error, "writable by everyone"))
    } else if mode & 0o004 != 0 {
        Some((Level::Error, "readable by everyone"))
    } else if mode & 0o020 != 0 {
        Some((Level::Warning, "writable by its group"))
    } else if mode & 0o040 != 0 && meta.gid() != our_gid {
        Some((
            Level::Warning,
            "readable by a group this relay is not running as",
        ))
    } else {
        None
    };
    Some(match problem {
        Some((level, what)) => check(
            "config secrets",
            level,
            format!(
                "{} holds secrets ({holds}) and is {what} (mode {mode:04o}): {fix}",
                file.display()
            ),
        ),
        None => check(
            "config secrets",
            Level::Ok,
            format!(
                "{} (mode {mode:04o}) holds secrets ({holds}) and only the relay can read it",
                file.display()
            ),
        ),
    })
}

#[cfg(not(unix))]
pub fn config_file(_config: &Config) -> Option<Check> {
    None
}

/// `secret files`: each file a secret was read from (`<key>_file`, `DIGIS_RELAY_<KEY>_FILE`,
/// a credential) that others on the host can read or change, with the chmod that fixes it.
/// Group bits are left alone: the documented install shares files with the relay's group.
#[cfg(unix)]
pub fn secret_files(config: &Config) -> Vec<Check> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid only reads this process's credentials.
    let our_uid = unsafe { libc::geteuid() };
    let mut out = Vec::new();
    let mut fine = Vec::new();
    // The listener's private key is a secret file too: with it anyone can pose as the export.
    let tls_key = &config.export.tls_key_file;
    let files = config
        .origin
        .secrets
        .iter()
        .filter_map(|o| o.source.path().map(|p| (p, o.key, o.source.describe())))
        .chain((!tls_key.as_os_str().is_empty()).then(|| {
            (
                tls_key.as_path(),
                "the TLS private key",
                format!("{} (export.tls_key_file)", tls_key.display()),
            )
        }));
    for (path, holds, described) in files {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let mode = meta.mode() & 0o777;
        let what = if mode & 0o002 != 0 {
            "writable by everyone"
        } else if mode & 0o004 != 0 {
            "readable by everyone"
        } else if mode & 0o001 != 0 {
            "open to everyone (others' execute bit)"
        } else {
            fine.push(format!("{described} (mode {mode:04o})"));
            continue;
        };
        let fix = if meta.uid() == our_uid {
            format!("chmod 600 {}", path.display())
        } else {
            format!("chmod o-rwx {}", path.display())
        };
        out.push(check(
            "secret files",
            Level::Warning,
            format!(
                "{} holds {} and is {what} (mode {mode:04o}): {fix}",
                path.display(),
                holds
            ),
        ));
    }
    if out.is_empty() && !fine.is_empty() {
        out.push(check(
            "secret files",
            Level::Ok,
            format!("{}: others cannot read them", fine.join(", ")),
        ));
    }
    out
}

#[cfg(not(unix))]
pub fn secret_files(_config: &Config) -> Vec<Check> {
    Vec::new()
}

/// `secret sources`: where each secret given came from (never its value), and a warning for a
/// systemd credential that a higher layer hides: the operator who loaded it expects it used.
pub fn sources(config: &Config) -> Vec<Check> {
    use crate::config::secret_files::Source;
    let secrets = &config.origin.secrets;
    if secrets.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Check> = secrets
        .iter()
        .flat_map(|o| {
            o.shadowed.iter().filter_map(move |s| match s {
                Source::Credential { path } => Some(check(
                    "secret sources",
                    Level::Warning,
                    format!(
                        "the credential {} is not used: {} sets {} (remove it there to use the credential)",
                        path.display(),
                        o.source.describe(),
                        o.key
                    ),
                )),
                _ => None,
            })
        })
        .collect();
    let listed: Vec<String> = secrets
        .iter()
        .map(|o| format!("{} from {}", o.key, o.source.describe()))
        .collect();
    out.insert(
        0,
        check(
            "secret sources",
            Level::Ok,
            format!("{} (values hidden)", listed.join("; ")),
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listener's private key was not looked at: a key copied world-readable (0644, as
    /// `cp` from certbot's folder may leave it) got no warning.
    #[cfg(unix)]
    #[test]
    fn a_tls_key_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, "not read by this check").unwrap();
        let mut config = Config::default();
        config.export.tls_key_file = key.clone();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let lines = secret_files(&config);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].level, Level::Warning);
        assert!(
            lines[0].message.contains("the TLS private key")
                && lines[0].message.contains("readable by everyone")
                && lines[0]
                    .message
                    .contains(&format!("chmod 600 {}", key.display())),
            "{}",
            lines[0].message
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let lines = secret_files(&config);
        assert!(lines.len() == 1 && lines[0].level == Level::Ok, "{lines:?}");
    }

    #[test]
    fn the_examples_placeholders_are_recognised_and_real_keys_are_not() {
        for p in [
            "APIKEY_FROM_WAYS",
            "APIKEY",
            "api-key",
            "YOUR_API_KEY",
            "changeme",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for k in ["8f3c2a1e9b7d4c60", "K", "APIKEY2024x"] {
            assert!(!is_placeholder(k), "{k}");
        }
    }
}
