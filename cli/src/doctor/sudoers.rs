//! `/etc/sudoers.d/roster`: the drop-in that gives the admin group sudo.
//! It must exist, name the configured `admin_group`, and be a file sudo
//! reads (owned by root, writable by nobody else).
//!
//! The repair writes the packaged drop-in for the configured group: to a
//! temp file whose name holds a '.' (sudo skips such names in
//! `@includedir`, so a half-written file is never read), checked with
//! `visudo -cf`, then renamed into place. A sudoers file sudo can't parse
//! breaks sudo for everyone, so nothing unchecked is ever moved in.

use super::{Finding, Host, Repair};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PATH: &str = "/etc/sudoers.d/roster";

/// The drop-in for `group`, as scripts/package.sh writes it.
pub fn contents(group: &str) -> String {
    format!(
        "# Members of Roster's admin group (admin_group in /etc/roster/rosterd.toml;\n\
         # rosterd puts the \"admin\" holders of this host's environment in it) may run\n\
         # any command as any user. Keep this name in step with admin_group.\n\
         %{group} ALL=(ALL:ALL) ALL\n"
    )
}

/// Whether a rule of `text` is for `%group` (comments skipped; `#include`
/// and `#1000`-style uids are not comments but are no group rule either).
pub fn names_group(text: &str, group: &str) -> bool {
    let want = format!("%{group}");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.split_whitespace().next() == Some(want.as_str()))
}

/// DESIGN.md's user and group name rule (rosterd's, from the config
/// crate): also what keeps a group name from smuggling sudoers syntax
/// into the drop-in.
pub fn valid_group(name: &str) -> bool {
    roster_hostconfig::names::name_rule(name, "group name").is_ok()
}

pub fn check(host: &Host) -> Vec<Finding> {
    let path = host.path(Path::new(PATH));
    let shown = path.display();
    let group = &host.config.admin_group;
    // With a config rosterd would refuse, admin_group is only the
    // default: never write sudoers for a group the config may not mean.
    let rewrite = match &host.config_problem {
        None => Repair::Sudoers {
            path: path.clone(),
            group: group.clone(),
        },
        Some(_) => Repair::Refused(format!(
            "{} can't be used: correct it before the doctor writes sudoers for its admin_group",
            host.config_path.display()
        )),
    };
    let write_it = format!(
        "roster doctor --fix writes it (`%{group} ALL=(ALL:ALL) ALL`, checked with visudo)"
    );
    let mut out = Vec::new();
    let text = match super::accounts::read(&path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return vec![
                Finding::fail(
                    "sudoers",
                    format!("{shown} is missing: Roster admins get no sudo"),
                    write_it,
                )
                .repair(rewrite),
            ];
        }
        Err(e) => return vec![Finding::fail("sudoers", e, "run with sudo")],
    };
    if !names_group(&text, group) {
        out.push(
            Finding::fail(
                "sudoers",
                format!("{shown} has no rule for %{group}, the configured admin_group"),
                format!("{write_it}; the old file is kept as roster.doctor-old, which sudo skips"),
            )
            .repair(rewrite),
        );
    } else {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.uid() != 0 || meta.permissions().mode() & 0o022 != 0 => {
                out.push(
                    Finding::fail(
                        "sudoers",
                        format!(
                            "{shown} is mode {:04o}, owned by uid {}: sudo ignores or refuses it",
                            meta.permissions().mode() & 0o7777,
                            meta.uid()
                        ),
                        format!("chown root:root {shown}; chmod 0440 {shown}"),
                    )
                    .repair(Repair::Chmod {
                        path: path.clone(),
                        mode: 0o440,
                    }),
                );
            }
            Ok(_) => out.push(Finding::ok(
                "sudoers",
                format!("{shown} gives %{group} sudo"),
            )),
            Err(e) => out.push(Finding::fail(
                "sudoers",
                format!("can't inspect {shown}: {e}"),
                "run with sudo",
            )),
        }
    }
    // Without the include, the drop-in is never read.
    let main = host.path(Path::new("/etc/sudoers"));
    if let Ok(Some(main_text)) = super::accounts::read(&main)
        && !main_text.lines().any(|l| {
            let l = l.trim_start();
            (l.starts_with("@includedir") || l.starts_with("#includedir"))
                && l.split_whitespace().nth(1) == Some("/etc/sudoers.d")
        })
    {
        out.push(Finding::fail(
            "sudoers",
            format!(
                "{} has no `@includedir /etc/sudoers.d`: the drop-in is never read",
                main.display()
            ),
            format!(
                "add `@includedir /etc/sudoers.d` with visudo {}",
                main.display()
            ),
        ));
    }
    out
}

/// visudo, wherever the distribution puts it.
fn visudo() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join("visudo"))
        .find(|p| p.is_file())
}

/// Writes the drop-in for `group` at `path`, validated first.
pub fn write(path: &Path, group: &str) -> Result<String, String> {
    if !valid_group(group) {
        return Err(format!(
            "admin_group {group:?} is not a valid group name: not writing it into sudoers"
        ));
    }
    let visudo = visudo()
        .ok_or("visudo is not installed (install sudo): not writing an unchecked sudoers file")?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let temp = dir.join(".roster.doctor-new");
    let _ = std::fs::remove_file(&temp);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o440)
            .open(&temp)?;
        file.write_all(contents(group).as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("can't write {}: {e}", temp.display()));
    }
    let checked = std::process::Command::new(&visudo)
        .arg("-cf")
        .arg(&temp)
        .stdin(std::process::Stdio::null())
        .output();
    match checked {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!(
                "visudo rejects the drop-in: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("can't run {}: {e}", visudo.display()));
        }
    }
    let mut said = format!("wrote {} for %{group} (visudo -cf passed)", path.display());
    if path.exists() {
        let old = dir.join("roster.doctor-old");
        std::fs::rename(path, &old).map_err(|e| format!("can't keep the old drop-in: {e}"))?;
        said.push_str(&format!("; the old one is {}", old.display()));
    }
    std::fs::rename(&temp, path).map_err(|e| format!("can't move it into place: {e}"))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_for_the_group_is_found() {
        assert!(names_group(&contents("roster-admins"), "roster-admins"));
        assert!(!names_group(&contents("roster-admins"), "ops"));
        assert!(!names_group("#%ops ALL=(ALL:ALL) ALL\n", "ops"));
        assert!(!names_group("%ops-team ALL=(ALL) ALL\n", "ops"));
    }

    #[test]
    fn only_plain_group_names_are_written() {
        assert!(valid_group("roster-admins"));
        assert!(valid_group("_ops"));
        for bad in [
            "",
            "Ops",
            "1ops",
            "ops ALL=(ALL) NOPASSWD: ALL\n%x",
            "a,b",
            &"a".repeat(33),
        ] {
            assert!(!valid_group(bad), "{bad:?}");
        }
    }
}
