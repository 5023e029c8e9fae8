//! Names the commit in `--version` (`digis-relay 0.1.0 (commit 1a2b3c4d5e6f)`), so a support
//! question about an installed relay can be answered from the exact source. Read from git when
//! this is a checkout of its own, else from `DIGIS_RELAY_COMMIT` (a build from a tarball whose
//! builder knows the commit), else "unknown".
//!
//! It also writes the storage's list of statements from the statement files themselves
//! (`sql_statements`, documented in `src/storage/sql.rs`).
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Reruns this script when `path` changes; only for files that exist, since cargo reruns a
/// script on every build for a path it cannot find.
fn watch(path: &str) {
    if Path::new(path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // sqlx::migrate! reads the migrations when the crate compiles; a migration added or edited
    // must rebuild it, or the binary would carry the old list.
    println!("cargo:rerun-if-changed=migrations");
    sql_statements();
    println!("cargo:rerun-if-env-changed=DIGIS_RELAY_COMMIT");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    // A tarball unpacked inside some other repository must not take that repository's commit.
    let own_checkout = git(&["rev-parse", "--show-toplevel"])
        .and_then(|top| std::fs::canonicalize(top).ok())
        .is_some_and(|top| std::fs::canonicalize(&manifest_dir).ok() == Some(top));
    let from_git = if own_checkout {
        // A commit moves the branch HEAD names (its file, or packed-refs once packed); a
        // checkout rewrites HEAD. `--git-path` resolves each in a worktree too.
        for path in ["HEAD", "packed-refs"] {
            if let Some(p) = git(&["rev-parse", "--git-path", path]) {
                watch(&p);
            }
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
                watch(&p);
            }
        }
        git(&["rev-parse", "--short=12", "HEAD"])
    } else {
        None
    };
    let commit = from_git
        .or_else(|| {
            std::env::var("DIGIS_RELAY_COMMIT")
                .ok()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    // Not DIGIS_RELAY_*: cargo also sets this variable for `cargo run` and `cargo test`, and
    // that prefix is the configuration's.
    println!("cargo:rustc-env=RELAY_GIT_COMMIT={commit}");
}

/// The databases whose statement folders (`src/storage/<database>/sql`) become a `Sql` const.
const SQL_DATABASES: [(&str, &str); 2] = [("SQLITE", "sqlite"), ("POSTGRES", "postgres")];

/// Writes `$OUT_DIR/sql.rs`: the `Sql` struct with a field for each operation file of
/// `src/storage/sqlite/sql`, and a const of it for each database. A file whose first line
/// starts `-- After NAME.sql` is that fragment's text followed by its own; a file named so is a
/// fragment, no field of its own. Both folders must say the same `After`s.
fn sql_statements() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let folder = |db: &str| {
        Path::new(&manifest_dir)
            .join("src/storage")
            .join(db)
            .join("sql")
    };
    for (_, db) in SQL_DATABASES {
        println!("cargo:rerun-if-changed=src/storage/{db}/sql");
    }
    let after_of = |db: &str, name: &str| -> Option<String> {
        let path = folder(db).join(format!("{name}.sql"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let first = text.lines().next().unwrap_or_default();
        let rest = first.strip_prefix("-- After ")?;
        let end = rest.find(".sql")?;
        Some(rest[..end].to_string())
    };
    let mut names: Vec<String> = std::fs::read_dir(folder("sqlite"))
        .expect("src/storage/sqlite/sql is readable")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    names.sort();
    let after: Vec<Option<String>> = names.iter().map(|n| after_of("sqlite", n)).collect();
    for (name, a) in names.iter().zip(&after) {
        let other = after_of("postgres", name);
        assert_eq!(
            a, &other,
            "src/storage/{{sqlite,postgres}}/sql/{name}.sql must start `-- After` the same fragment"
        );
    }
    let fragments: Vec<&String> = names
        .iter()
        .filter(|n| after.iter().any(|a| a.as_ref() == Some(*n)))
        .collect();
    let operations: Vec<(&String, &Option<String>)> = names
        .iter()
        .zip(&after)
        .filter(|(n, _)| !fragments.contains(n))
        .collect();
    let mut out = String::from(
        "/// One database's statements, one field an operation (written by build.rs from the files).\n\
         pub(crate) struct Sql {\n",
    );
    for (name, _) in &operations {
        out.push_str(&format!("    pub {name}: &'static str,\n"));
    }
    out.push_str("}\n\n");
    for (konst, db) in SQL_DATABASES {
        let file = |name: &str| {
            format!(
                "include_str!({:?})",
                folder(db).join(format!("{name}.sql")).display().to_string()
            )
        };
        out.push_str(&format!("pub(crate) const {konst}: Sql = Sql {{\n"));
        for (name, after) in &operations {
            let text = match after {
                Some(fragment) => format!("concat!({}, {})", file(fragment), file(name)),
                None => file(name),
            };
            out.push_str(&format!("    {name}: {text},\n"));
        }
        out.push_str("};\n\n");
    }
    let list = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "/// The operation names, in the order of `Sql::texts`.\n#[cfg(test)]\npub(crate) const NAMES: &[&str] = &[{}];\n",
        list(&mut operations.iter().map(|(n, _)| *n))
    ));
    out.push_str(&format!(
        "/// Shared starts of statements (`-- After`), files of their own.\n#[cfg(test)]\npub(crate) const FRAGMENTS: &[&str] = &[{}];\n\n",
        list(&mut fragments.iter().copied())
    ));
    out.push_str("#[cfg(test)]\nimpl Sql {\n    /// Every statement, in the order of `NAMES`.\n    pub(crate) fn texts(&self) -> Vec<&'static str> {\n        vec![");
    for (name, _) in &operations {
        out.push_str(&format!("self.{name}, "));
    }
    out.push_str("]\n    }\n}\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("sql.rs");
    std::fs::write(&dest, out).expect("OUT_DIR is writable");
}
