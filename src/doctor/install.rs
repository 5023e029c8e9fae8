//! `doctor`'s `install` line: what is left of a hand-made install beside the package. A unit
//! copied into /etc/systemd/system wins over the packaged, hardened one in /usr/lib (systemd
//! reads /etc first), and a binary in /usr/local/bin comes before /usr/bin on PATH, so a
//! `digis-relay search` typed in a shell runs the old version. Both were the steps the unit's
//! header gave before there was a package. Silent when the package is not installed: then a
//! unit in /etc or a binary in /usr/local/bin is the install itself.
use std::path::{Path, PathBuf};

use super::{check, Check, Level};

const NAME: &str = "install";

/// Where the package and a hand-made install put things; the tests point them at a folder.
#[derive(Debug, Clone)]
pub struct InstallPaths {
    /// The binary the package installs.
    pub packaged_bin: PathBuf,
    /// The unit the package installs (/usr/lib; /lib on systems not merged into /usr).
    pub packaged_units: Vec<PathBuf>,
    /// A unit of the same name in the administrator's folder.
    pub local_unit: PathBuf,
    /// The old install's binary.
    pub local_bin: PathBuf,
}

impl Default for InstallPaths {
    fn default() -> Self {
        InstallPaths {
            packaged_bin: "/usr/bin/digis-relay".into(),
            packaged_units: vec![
                "/usr/lib/systemd/system/digis-relay.service".into(),
                "/lib/systemd/system/digis-relay.service".into(),
            ],
            local_unit: "/etc/systemd/system/digis-relay.service".into(),
            local_bin: "/usr/local/bin/digis-relay".into(),
        }
    }
}

pub fn checks() -> Vec<Check> {
    checks_at(&InstallPaths::default())
}

pub fn checks_at(paths: &InstallPaths) -> Vec<Check> {
    let packaged_unit = paths.packaged_units.iter().find(|p| p.exists());
    if packaged_unit.is_none() && !paths.packaged_bin.exists() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(problem) = local_unit(&paths.local_unit, &paths.packaged_units) {
        out.push(problem);
    }
    // symlink_metadata: a dangling link left there is a leftover too.
    if paths.local_bin.symlink_metadata().is_ok() {
        out.push(check(
            NAME,
            Level::Warning,
            format!(
                "{} is left from an install by hand: it comes before {} on PATH, so `digis-relay` typed in a shell runs it, not the package's; remove it: sudo rm {}",
                paths.local_bin.display(),
                paths.packaged_bin.display(),
                paths.local_bin.display()
            ),
        ));
    }
    if out.is_empty() {
        out.push(check(
            NAME,
            Level::Ok,
            format!(
                "packaged: {} and {}",
                paths.packaged_bin.display(),
                packaged_unit.map_or_else(|| "no unit".to_string(), |u| u.display().to_string())
            ),
        ));
    }
    out
}

/// A unit file (or a link to anything but the packaged unit) in /etc/systemd/system.
/// A drop-in folder (`digis-relay.service.d/`, `systemctl edit`) is the right way to change
/// the packaged unit and is not looked at.
fn local_unit(local: &Path, packaged: &[PathBuf]) -> Option<Check> {
    let meta = local.symlink_metadata().ok()?;
    let shown = local.display();
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(local).ok()?;
        if target == Path::new("/dev/null") {
            return Some(check(
                NAME,
                Level::Warning,
                format!("{shown} links to /dev/null: the service is masked and cannot start; unmask it: sudo systemctl unmask digis-relay"),
            ));
        }
        // `systemctl link` or an alias of the packaged unit is the packaged unit.
        let resolved = local
            .parent()
            .map_or(target.clone(), |dir| dir.join(&target));
        if packaged.contains(&resolved) {
            return None;
        }
    }
    Some(check(
        NAME,
        Level::Warning,
        format!(
            "{shown} is a unit copied by hand: systemd uses it instead of the packaged, hardened one; move any change of yours into `sudo systemctl edit digis-relay`, then: sudo rm {shown} && sudo systemctl daemon-reload"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> InstallPaths {
        let p = |rel: &str| dir.join(rel);
        std::fs::create_dir_all(p("usr/bin")).unwrap();
        std::fs::create_dir_all(p("usr/lib/systemd/system")).unwrap();
        std::fs::create_dir_all(p("etc/systemd/system")).unwrap();
        std::fs::create_dir_all(p("usr/local/bin")).unwrap();
        InstallPaths {
            packaged_bin: p("usr/bin/digis-relay"),
            packaged_units: vec![p("usr/lib/systemd/system/digis-relay.service")],
            local_unit: p("etc/systemd/system/digis-relay.service"),
            local_bin: p("usr/local/bin/digis-relay"),
        }
    }

    fn install_package(p: &InstallPaths) {
        std::fs::write(&p.packaged_bin, b"").unwrap();
        std::fs::write(&p.packaged_units[0], b"[Service]\n").unwrap();
    }

    #[test]
    fn without_the_package_a_hand_made_install_is_the_install_and_not_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        std::fs::write(&p.local_unit, b"[Service]\n").unwrap();
        std::fs::write(&p.local_bin, b"").unwrap();
        assert!(checks_at(&p).is_empty());
    }

    #[test]
    fn a_clean_package_install_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        install_package(&p);
        // A drop-in is how the packaged unit is meant to be changed.
        std::fs::create_dir_all(p.local_unit.with_extension("service.d")).unwrap();
        let c = checks_at(&p);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].level, Level::Ok, "{c:?}");
    }

    #[test]
    fn a_copied_unit_and_a_leftover_binary_are_warnings_with_the_command_to_fix_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        install_package(&p);
        std::fs::write(
            &p.local_unit,
            b"[Service]\nExecStart=/usr/local/bin/digis-relay run\n",
        )
        .unwrap();
        std::fs::write(&p.local_bin, b"").unwrap();
        let c = checks_at(&p);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c
            .iter()
            .all(|c| c.level == Level::Warning && c.name == "install"));
        assert!(
            c[0].message
                .contains(&format!("sudo rm {}", p.local_unit.display()))
                && c[0].message.contains("daemon-reload"),
            "{}",
            c[0].message
        );
        assert!(
            c[1].message
                .contains(&format!("sudo rm {}", p.local_bin.display())),
            "{}",
            c[1].message
        );
    }

    #[test]
    fn a_link_to_the_packaged_unit_is_fine_and_a_mask_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        install_package(&p);
        std::os::unix::fs::symlink(&p.packaged_units[0], &p.local_unit).unwrap();
        assert_eq!(checks_at(&p)[0].level, Level::Ok);
        std::fs::remove_file(&p.local_unit).unwrap();
        std::os::unix::fs::symlink("/dev/null", &p.local_unit).unwrap();
        let c = checks_at(&p);
        assert_eq!(c[0].level, Level::Warning);
        assert!(
            c[0].message.contains("systemctl unmask digis-relay"),
            "{}",
            c[0].message
        );
    }

    #[test]
    fn only_the_binary_installed_is_enough_to_judge() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        std::fs::write(&p.packaged_bin, b"").unwrap();
        std::os::unix::fs::symlink("/nowhere/digis-relay", &p.local_bin).unwrap();
        let c = checks_at(&p);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].level, Level::Warning);
        assert!(
            c[0].message.contains("is left from an install by hand"),
            "{}",
            c[0].message
        );
    }
}
