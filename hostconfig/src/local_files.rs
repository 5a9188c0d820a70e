//! The host's own account files: `passwd`, `group`, `shadow`,
//! `login.defs`, `subuid`/`subgid`, read as Roster reads them: rosterd to
//! keep clear of local names and ids, the doctor to check the same and to
//! find a break-glass admin. Every path comes from the config, so tests
//! use temp files.
//!
//! A missing file counts as empty (many hosts have no `subuid`); a file
//! that exists but can't be read is an error, since a silent "no
//! collisions" would defeat the check. Parsing is on text, so a caller
//! that reads the files elsewhere (the doctor's `--root`) parses the same.

use crate::error::ConfigError;
use std::io::Read;
use std::path::Path;

/// Files bigger than this are not account files; refuse rather than read
/// gigabytes.
const MAX_BYTES: u64 = 64 << 20;

/// The file's text (invalid UTF-8 replaced); `None` when it doesn't exist.
pub fn read(path: &Path) -> Result<Option<String>, ConfigError> {
    let unreadable = |e: std::io::Error| ConfigError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The file's text; a missing file reads as empty.
pub fn read_or_empty(path: &Path) -> Result<String, ConfigError> {
    Ok(read(path)?.unwrap_or_default())
}

/// One line of a passwd, group or shadow file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// passwd/group: the second field (`x`); shadow: the hash.
    pub password: String,
    /// passwd: the uid; group: the gid (`None` when the field isn't a
    /// number: the name still counts).
    pub id: Option<u32>,
    /// passwd: the primary gid.
    pub gid: Option<u32>,
    /// group: the member list.
    pub members: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Passwd,
    Group,
    Shadow,
}

/// The `name:…` lines of a colon-separated account file, skipping comments
/// and NIS compat lines (`+`/`-`), which name no local account.
pub fn entries(text: &str, kind: Kind) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with('+')
            || line.starts_with('-')
        {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let number = |i: usize| field(i).trim().parse::<u32>().ok();
        let name = field(0).to_owned();
        if name.is_empty() {
            continue;
        }
        let mut entry = Entry {
            name,
            password: field(1).to_owned(),
            id: None,
            gid: None,
            members: Vec::new(),
        };
        match kind {
            Kind::Passwd => {
                entry.id = number(2);
                entry.gid = number(3);
            }
            Kind::Group => {
                entry.id = number(2);
                entry.members = field(3)
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Kind::Shadow => {}
        }
        out.push(entry);
    }
    out
}

/// The entries of the passwd file at `path` (missing: none).
pub fn passwd(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    Ok(entries(&read_or_empty(path)?, Kind::Passwd))
}

/// The entries of the group file at `path` (missing: none).
pub fn group(path: &Path) -> Result<Vec<Entry>, ConfigError> {
    Ok(entries(&read_or_empty(path)?, Kind::Group))
}

/// `name:start:count` lines of subuid/subgid, as inclusive ranges.
pub fn sub_ranges(text: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let owner = fields.next().unwrap_or_default().to_owned();
        let start = fields.next().and_then(|f| f.trim().parse::<u64>().ok());
        let count = fields.next().and_then(|f| f.trim().parse::<u64>().ok());
        if let (Some(start), Some(count)) = (start, count)
            && count > 0
        {
            out.push((owner, start, start.saturating_add(count - 1)));
        }
    }
    out
}

/// The `UID_MIN`, `UID_MAX`, `GID_MIN`, `GID_MAX` of login.defs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginDefs {
    pub uid_min: u64,
    pub uid_max: u64,
    pub gid_min: u64,
    pub gid_max: u64,
}

/// login.defs, with shadow's compiled-in defaults (1000–60000) for what it
/// doesn't set.
pub fn login_defs(text: &str) -> LoginDefs {
    let mut defs = LoginDefs {
        uid_min: 1000,
        uid_max: 60000,
        gid_min: 1000,
        gid_max: 60000,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "UID_MIN" => defs.uid_min = value,
            "UID_MAX" => defs.uid_max = value,
            "GID_MIN" => defs.gid_min = value,
            "GID_MAX" => defs.gid_max = value,
            _ => {}
        }
    }
    defs
}

/// A shadow hash someone can log in with: not empty (no password),
/// not `*` (never set) and not `!…` (locked).
pub fn usable_hash(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!') && !hash.starts_with('*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_group_and_shadow_lines() {
        let passwd = entries(
            "# c\nroot:x:0:0:root:/root:/bin/bash\n+nis\nodd:x:abc:1::/:/bin/sh\n\nalice:x:1000:27::/home/a:/bin/sh",
            Kind::Passwd,
        );
        assert_eq!(passwd.len(), 3);
        assert_eq!(passwd[0].id, Some(0));
        assert_eq!(passwd[1].id, None);
        assert_eq!(passwd[2].gid, Some(27));
        let group = entries("sudo:x:27:alice, bob\nwheel:x:10:\n", Kind::Group);
        assert_eq!(group[0].members, ["alice", "bob"]);
        assert!(group[1].members.is_empty());
        let shadow = entries(
            "root:*:19000:0:99999:7:::\nalice:$y$j9T$x:1::::::",
            Kind::Shadow,
        );
        assert!(!usable_hash(&shadow[0].password));
        assert!(usable_hash(&shadow[1].password));
        assert!(!usable_hash("!$6$abc"));
        assert!(!usable_hash(""));
    }

    #[test]
    fn login_defs_and_sub_ranges() {
        let defs = login_defs("# UID_MIN 5\nUID_MIN\t2000\nGID_MAX 70000\nUID_MAX bad\n");
        assert_eq!(defs.uid_min, 2000);
        assert_eq!(defs.uid_max, 60000);
        assert_eq!(defs.gid_max, 70000);
        assert_eq!(
            sub_ranges("alice:100000:65536\nbad:x:1\nzero:5:0\n"),
            [("alice".to_owned(), 100_000, 165_535)]
        );
    }

    #[test]
    fn a_huge_subordinate_range_saturates_instead_of_overflowing() {
        // core once computed start + count - 1 unchecked: a debug panic.
        assert_eq!(
            sub_ranges(&format!("x:{}:{}\n", u64::MAX, 5)),
            [("x".to_owned(), u64::MAX, u64::MAX)]
        );
    }
}
