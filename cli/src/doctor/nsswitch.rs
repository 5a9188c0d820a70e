//! `/etc/nsswitch.conf` must name `roster` on its `passwd` and `group`
//! lines, or no Roster user resolves (sshd rejects a user NSS doesn't
//! know before PAM runs).
//!
//! The repair appends ` roster` to those two lines only, before any
//! comment, and leaves every other byte of the file as it was.

use super::{Finding, Host, Repair};
use std::io::Write;
use std::path::Path;

const DATABASES: [&str; 2] = ["passwd", "group"];
const PATH: &str = "/etc/nsswitch.conf";

/// What a line is: (database, code part without the comment).
fn database_of(line: &str) -> Option<(&str, &str)> {
    // glibc cuts a line at '#'.
    let code = line.split('#').next().unwrap_or("");
    let (name, _) = code.split_once(':')?;
    let name = name.trim();
    DATABASES.contains(&name).then_some((name, code))
}

fn names_roster(code: &str) -> bool {
    code.split_once(':')
        .is_some_and(|(_, services)| services.split_whitespace().any(|s| s == "roster"))
}

/// For each of passwd and group: `None` when it has no line, else whether
/// every line for it names roster.
pub fn state(text: &str) -> [(&'static str, Option<bool>); 2] {
    DATABASES.map(|db| {
        let mut seen = None;
        for line in text.lines() {
            if let Some((name, code)) = database_of(line)
                && name == db
            {
                seen = Some(seen.unwrap_or(true) && names_roster(code));
            }
        }
        (db, seen)
    })
}

/// The text with ` roster` added to each passwd and group line that lacks
/// it; unchanged when none does.
pub fn add_roster(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for piece in text.split_inclusive('\n') {
        let (line, newline) = match piece.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (piece, ""),
        };
        match database_of(line) {
            Some((_, code)) if !names_roster(code) => {
                let kept = code.trim_end();
                let rest = &line[kept.len()..];
                out.push_str(kept);
                out.push_str(" roster");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
        out.push_str(newline);
    }
    out
}

pub fn check(host: &Host) -> Vec<Finding> {
    let path = host.path(Path::new(PATH));
    let shown = path.display();
    let text = match super::accounts::read(&path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return vec![Finding::fail(
                "nsswitch",
                format!("{shown} is missing"),
                "write it with `passwd: files roster` and `group: files roster` lines",
            )];
        }
        Err(e) => return vec![Finding::fail("nsswitch", e, "run with sudo")],
    };
    let state = state(&text);
    let absent: Vec<&str> = state
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(db, _)| *db)
        .collect();
    let lacking: Vec<&str> = state
        .iter()
        .filter(|(_, s)| *s == Some(false))
        .map(|(db, _)| *db)
        .collect();
    if absent.is_empty() && lacking.is_empty() {
        return vec![Finding::ok(
            "nsswitch",
            format!("{shown} names roster on its passwd and group lines"),
        )];
    }
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if !lacking.is_empty() {
        problems.push(format!(
            "its {} line{} don't name roster",
            lacking.join(" and "),
            if lacking.len() > 1 { "s" } else { "" }
        ));
        fixes.push(format!(
            "add roster at the end of the {} line{} (roster doctor --fix does)",
            lacking.join(" and "),
            if lacking.len() > 1 { "s" } else { "" }
        ));
    }
    if !absent.is_empty() {
        problems.push(format!("it has no {} line", absent.join(" or ")));
        fixes.push(
            absent
                .iter()
                .map(|db| format!("add `{db}: files roster`"))
                .collect::<Vec<_>>()
                .join(" and "),
        );
    }
    let finding = Finding::fail(
        "nsswitch",
        format!(
            "{shown}: {} (Roster users don't resolve)",
            problems.join("; ")
        ),
        fixes.join("; "),
    );
    // A missing line is not added: what the host's NSS does without one
    // (glibc's built-in default) is not ours to change.
    vec![if lacking.is_empty() {
        finding
    } else {
        finding.repair(Repair::Nsswitch {
            path: path.to_path_buf(),
        })
    }]
}

/// Adds roster to the file's passwd and group lines: written to a temp
/// file beside the real one (following a symlink to it), with its mode,
/// then renamed over it, so a reader never sees half a file.
pub fn fix(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        super::accounts::read(&real)?.ok_or_else(|| format!("{} is gone", real.display()))?;
    let new = add_roster(&text);
    if new == text {
        return Ok(format!("{} already names roster", real.display()));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
    let dir = real.parent().unwrap_or(Path::new("/"));
    let temp = dir.join(".nsswitch.conf.roster-doctor");
    let _ = std::fs::remove_file(&temp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(new.as_bytes())?;
        file.set_permissions(std::fs::Permissions::from_mode(
            meta.permissions().mode() & 0o7777,
        ))?;
        file.sync_all()?;
        std::fs::rename(&temp, &real)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("can't rewrite {}: {e}", real.display()));
    }
    Ok(format!(
        "added roster to the passwd and group lines of {}",
        real.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "# /etc/nsswitch.conf\n\npasswd:         files systemd\ngroup:          files systemd # local\nshadow:         files\nhosts:          files dns\n";

    #[test]
    fn lines_without_roster_are_found() {
        assert_eq!(
            state(DEBIAN),
            [("passwd", Some(false)), ("group", Some(false))]
        );
        assert_eq!(
            state("passwd: files roster\n#group: files roster\n"),
            [("passwd", Some(true)), ("group", None)]
        );
        // A word containing roster is not roster.
        assert_eq!(state("passwd: rosterx\n")[0], ("passwd", Some(false)));
    }

    #[test]
    fn roster_is_added_to_those_lines_only_and_once() {
        let fixed = add_roster(DEBIAN);
        assert_eq!(
            fixed,
            "# /etc/nsswitch.conf\n\npasswd:         files systemd roster\ngroup:          files systemd roster # local\nshadow:         files\nhosts:          files dns\n"
        );
        assert_eq!(add_roster(&fixed), fixed);
        assert_eq!(
            state(&fixed),
            [("passwd", Some(true)), ("group", Some(true))]
        );
        // No final newline: none is added.
        assert_eq!(add_roster("passwd: files"), "passwd: files roster");
        // Actions stay where they are.
        assert_eq!(
            add_roster("group: files [NOTFOUND=return] db\n"),
            "group: files [NOTFOUND=return] db roster\n"
        );
    }
}
