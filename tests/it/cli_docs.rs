//! `completions SHELL` and `man`: generated from the clap definitions, so every command the
//! binary has is in them; neither reads the configuration.
use std::process::Command;

use clap::CommandFactory;
use digis_relay::cli::Cli;

use crate::common::{command, Out};

/// Every subcommand name, from the same definitions the binary parses with.
fn commands() -> Vec<String> {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for expected in ["search", "completions", "man", "fake-digis", "export"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    names
}

/// Runs the binary in a folder whose digis-relay.toml is broken: these commands must not care.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("digis-relay.toml"), "this is = = not toml").unwrap();
    Out::of(command().current_dir(dir.path()).args(args)).parts()
}

#[test]
fn completions_for_each_shell_name_every_command() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, err) = run(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}: {err}");
        assert!(script.len() > 1000, "{shell}: {script}");
        for c in &commands {
            assert!(script.contains(c.as_str()), "{shell} completions lack {c}");
        }
        // The search flags complete too.
        for flag in ["ext-info1", "phone", "email", "name"] {
            assert!(script.contains(flag), "{shell} completions lack --{flag}");
        }
    }
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, Some(2), "an unknown shell is a bad argument: {err}");
}

#[test]
fn the_man_page_names_every_command() {
    let (code, page, err) = run(&["man"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains(".TH digis-relay 1"), "{page}");
    for c in commands() {
        // roff writes a hyphen as `\-`.
        let roff = c.replace('-', "\\-");
        assert!(page.contains(&roff), "the man page lacks {c}");
    }

    // One page per command into a folder.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let (code, _, err) = run(&["man", "--dir", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.join("digis-relay.1").is_file());
    for c in commands() {
        let page = out.join(format!("digis-relay-{c}.1"));
        assert!(page.is_file(), "{}", page.display());
    }
    let search = std::fs::read_to_string(out.join("digis-relay-search.1")).unwrap();
    for flag in ["ext\\-info1", "phone", "email", "name"] {
        assert!(
            search.contains(flag),
            "digis-relay-search.1 lacks {flag}:\n{search}"
        );
    }
}

/// `--version` names the commit this checkout is at, so an installed relay can be traced to
/// its source (build.rs reads it; a build without git says `unknown` or DIGIS_RELAY_COMMIT).
#[test]
fn version_names_the_commit_of_the_checkout() {
    let git = Command::new("git")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let expected = git
        .or_else(|| std::env::var("DIGIS_RELAY_COMMIT").ok())
        .unwrap_or_else(|| "unknown".into());
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "digis-relay {} (commit {expected})",
            env!("CARGO_PKG_VERSION")
        )
    );
    // The subcommands say the same (propagate_version).
    let (_, sub, _) = run(&["search", "--version"]);
    assert_eq!(
        sub.trim(),
        stdout
            .trim()
            .replacen("digis-relay", "digis-relay-search", 1)
    );
}
