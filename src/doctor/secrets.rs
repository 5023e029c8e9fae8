//! `doctor`'s checks of the secrets: a token still at the example's placeholder, and a
//! configuration file holding secrets that others on the host can read or change.
use super::{check, Check, Level};
use crate::config::Config;
use crate::digis::endpoint::DigisEndpoint;

/// Placeholders the example, DESIGN and README show for the API key, compared without case,
/// `_` or `-`. Digis answers 401 to each: better said before the first row pauses the relay.
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

#[cfg(test)]
mod tests {
    use super::*;

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
