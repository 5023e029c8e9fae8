//! The Debian package's own files (docs/packaging.md); scripts/package-check builds,
//! installs and runs the package itself.
use std::path::Path;

use digis_relay::config::Config;

fn asset(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The packaged /etc/digis-relay/digis-relay.toml holds exactly the example's keys and values
/// (only its comments differ), so a key added to the example cannot be missing from the
/// package; and it loads to the same configuration, with absolute paths only.
#[test]
fn the_packaged_configuration_is_the_example_with_its_own_comments() {
    let packaged = asset("assets/deb/digis-relay.toml");
    let example = asset("assets/digis-relay.example.toml");
    let table = |p: &Path| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(
        table(&packaged),
        table(&example),
        "assets/deb/digis-relay.toml must hold the example's keys and values"
    );
    let loaded = Config::load(Some(&packaged), &Default::default()).unwrap();
    let from_example = Config::load(Some(&example), &Default::default()).unwrap();
    assert_eq!(
        Config {
            origin: from_example.origin.clone(),
            ..loaded.clone()
        },
        from_example
    );
    assert_eq!(
        loaded.origin.relative,
        [],
        "no relative path in the package"
    );
    assert_eq!(
        loaded.database_url,
        "sqlite:///var/lib/digis-relay/digis-relay.db"
    );
    assert_eq!(loaded.log_dir, Path::new("/var/log/digis-relay"));
    assert_eq!(loaded.state_dir, Path::new("/var/lib/digis-relay/state"));
}

/// The postinst and postrm are POSIX sh (dpkg runs them with /bin/sh, dash on Debian) and
/// keep the `#DEBHELPER#` line cargo-deb fills with the systemd fragments.
#[test]
fn the_maintainer_scripts_parse_as_sh_and_keep_the_debhelper_token() {
    for name in ["postinst", "postrm"] {
        let path = asset(&format!("assets/deb/{name}"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        assert_eq!(text.matches("\n#DEBHELPER#\n").count(), 1, "{name}");
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// DIGIS_RELAY_COMMIT names the commit for a build outside git (build.rs); left in the
/// environment of a shell that then runs the relay, it is not a setting. It once was read as
/// the configuration key `commit` and every command stopped at `unknown key`.
#[test]
fn the_build_commit_variable_is_not_read_as_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::command()
        .current_dir(dir.path())
        .env("DIGIS_RELAY_COMMIT", "1a2b3c4d5e6f")
        .arg("--config")
        .arg(asset("assets/deb/digis-relay.toml"))
        .args(["--database-url", "sqlite://missing.db", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("invalid configuration"), "{err}");
    assert!(err.contains("no database at missing.db"), "{err}");
}
