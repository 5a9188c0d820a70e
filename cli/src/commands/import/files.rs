//! Editing the host's account files for an import and its undo: under
//! `lckpwdf` (shadow's own lock, which `useradd`, `passwd` and `vipw`
//! take), each file rewritten to a temp file beside it and renamed into
//! place with its mode and owner kept, the whole set rolled back when one
//! of them fails.

use super::source::HostPaths;
use std::collections::BTreeSet;
use std::ffi::c_int;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

// glibc's shadow lock (in libc itself: no library to link).
unsafe extern "C" {
    fn lckpwdf() -> c_int;
    fn ulckpwdf() -> c_int;
}

/// Holds shadow's lock while alive.
pub struct PasswdLock(());

impl PasswdLock {
    /// Waits (glibc: up to 15 s) for the lock `useradd` and `passwd` take.
    pub fn take() -> Result<PasswdLock, String> {
        // SAFETY: no arguments; glibc serialises the lock itself.
        if unsafe { lckpwdf() } != 0 {
            return Err(format!(
                "can't lock the account files (lckpwdf: {}): is useradd, passwd or vipw running?",
                std::io::Error::last_os_error()
            ));
        }
        Ok(PasswdLock(()))
    }
}

impl Drop for PasswdLock {
    fn drop(&mut self) {
        // SAFETY: we hold the lock (taken in `take`).
        unsafe { ulckpwdf() };
    }
}

/// The account files an import edits, as (name in the manifest, path);
/// gshadow only where it exists.
pub fn edited_files(paths: &HostPaths) -> Vec<(&'static str, PathBuf)> {
    let mut files = vec![
        ("passwd", paths.passwd.clone()),
        ("shadow", paths.shadow.clone()),
        ("group", paths.group.clone()),
    ];
    if paths.gshadow.exists() {
        files.push(("gshadow", paths.gshadow.clone()));
    }
    files
}

/// Copies each file into `dir` (created 0700: shadow's hashes are in it).
pub fn back_up(files: &[(&'static str, PathBuf)], dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("can't make the backup folder {}: {e}", dir.display()))?;
    for (name, path) in files {
        let to = dir.join(name);
        std::fs::copy(path, &to)
            .and_then(|_| std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)))
            .map_err(|e| format!("can't back up {} to {}: {e}", path.display(), to.display()))?;
    }
    Ok(())
}

/// Replaces `path`'s contents with `text`: a temp file beside it, synced,
/// with the original's mode and owner, renamed over it.
pub fn replace(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("can't write {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(fail)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.roster-import.{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(e));
    }
    Ok(())
}

/// Writes every (path, new text) or none: on a failure, the files already
/// replaced get their old text back.
pub fn replace_all(changes: &[(PathBuf, String, String)]) -> Result<(), String> {
    for (i, (path, _, new)) in changes.iter().enumerate() {
        if let Err(e) = replace(path, new) {
            for (done, old, _) in changes.iter().take(i) {
                let _ = replace(done, old);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `text` without the lines whose first field is in `names`; answers the
/// new text and the removed lines.
pub fn without_entries(text: &str, names: &BTreeSet<&str>) -> (String, Vec<String>) {
    let (mut kept, mut removed) = (String::with_capacity(text.len()), Vec::new());
    for line in text.lines() {
        let name = line.split(':').next().unwrap_or("");
        if names.contains(name) {
            removed.push(line.to_owned());
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    (kept, removed)
}

/// `text` (a group or gshadow file) without `members` on any member
/// list (gshadow: its admins too); answers the new text and the
/// (group, member) pairs removed.
pub fn without_members(
    text: &str,
    members: &BTreeSet<&str>,
    gshadow: bool,
) -> (String, Vec<(String, String)>) {
    let mut out = String::with_capacity(text.len());
    let mut removed = Vec::new();
    for line in text.lines() {
        let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
        let lists: &[usize] = if gshadow { &[2, 3] } else { &[3] };
        let group = fields.first().cloned().unwrap_or_default();
        if fields.len() >= 4 && !line.starts_with('#') {
            for &i in lists {
                if let Some(field) = fields.get_mut(i) {
                    let list: Vec<&str> = field.split(',').filter(|m| !m.is_empty()).collect();
                    let kept: Vec<&str> = list
                        .iter()
                        .copied()
                        .filter(|m| {
                            let gone = members.contains(m.trim());
                            if gone && i == 3 {
                                removed.push((group.clone(), m.trim().to_owned()));
                            }
                            !gone
                        })
                        .collect();
                    *field = kept.join(",");
                }
            }
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    (out, removed)
}

/// `text` with `lines` appended whose first field no line of `text` has
/// (an undo's merge: entries added since are kept, none doubled).
pub fn with_entries(text: &str, lines: &[String]) -> String {
    let present: BTreeSet<&str> = text
        .lines()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for line in lines {
        let name = line.split(':').next().unwrap_or("");
        if !present.contains(name) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `text` (group or gshadow) with each (group, member) put back on the
/// group's member list where the group still exists and lacks it.
pub fn with_members(text: &str, pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
        let group = fields.first().cloned().unwrap_or_default();
        if let Some(field) = fields.get_mut(3) {
            let mut list: Vec<String> = field
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            for (g, member) in pairs {
                if *g == group && !list.contains(member) {
                    list.push(member.clone());
                }
            }
            *field = list.join(",");
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_members_come_out_and_go_back_merged() {
        let group = "sudo:x:27:alice,bob\nalice:x:1001:\nstaff:x:50:bob\n";
        let names: BTreeSet<&str> = ["alice"].into();
        let (text, removed) = without_entries(group, &names);
        assert_eq!(removed, ["alice:x:1001:"]);
        let (text, pairs) = without_members(&text, &names, false);
        assert_eq!(text, "sudo:x:27:bob\nstaff:x:50:bob\n");
        assert_eq!(pairs, [("sudo".to_owned(), "alice".to_owned())]);
        // A later edit (a new group) survives the undo's merge.
        let later = format!("{text}extra:x:60:bob\n");
        let back = with_members(&with_entries(&later, &removed), &pairs);
        assert_eq!(
            back,
            "sudo:x:27:bob,alice\nstaff:x:50:bob\nextra:x:60:bob\nalice:x:1001:\n"
        );
        assert_eq!(with_entries(&back, &removed), back);
    }
}
