//! `doctor`'s line about relative paths in the configuration file: they resolve against the
//! file's folder (docs/contracts.md, Configuration). One written for the old rule (the working directory) now points
//! elsewhere when the two folders differ: a relay started in another folder would write a
//! second sync log or open another database. Said once per such path, with both meanings.
use super::{check, Check, Level};
use crate::config::paths::{against_working_dir, RelativePath};
use crate::config::Config;

pub fn checks(config: &Config) -> Vec<Check> {
    let Some(file) = &config.origin.file else {
        return Vec::new();
    };
    let values = toml::Table::try_from(config).unwrap_or_default();
    let changed: Vec<&RelativePath> = config
        .origin
        .relative
        .iter()
        // A flag or the environment may have overridden the file's value: then it is not
        // the file's path that is used.
        .filter(|p| value_at(&values, &p.key).as_deref() == Some(p.resolved.as_str()))
        .filter(|p| against_working_dir(p) != p.resolved)
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    changed
        .into_iter()
        .map(|p| {
            check(
                "config paths",
                Level::Warning,
                format!(
                    "{} = \"{}\" in {} is relative: it means {} (the file's folder), not {} (the working directory); write the absolute path so it reads the same everywhere",
                    p.key,
                    p.written,
                    file.display(),
                    shown(&p.key, &p.resolved),
                    shown(&p.key, &against_working_dir(p)),
                ),
            )
        })
        .collect()
}

/// A database URL's password never appears in doctor's output.
fn shown(key: &str, value: &str) -> String {
    if key == "database_url" {
        crate::util::redact_db_url(value)
    } else {
        value.to_string()
    }
}

fn value_at(table: &toml::Table, dotted: &str) -> Option<String> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    value.as_str().map(str::to_string)
}
