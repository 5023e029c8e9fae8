//! Names the commit in `--version` (`digis-relay 0.1.0 (commit 1a2b3c4d5e6f)`), so a support
//! question about an installed relay can be answered from the exact source. Read from git when
//! this is a checkout of its own, else from `DIGIS_RELAY_COMMIT` (a build from a tarball whose
//! builder knows the commit), else "unknown".
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
