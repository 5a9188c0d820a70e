//! The host's own account files: `passwd`, `group`, `login.defs`,
//! `subuid`/`subgid`. Roster reads them to keep clear of local names and
//! ids; every path comes from the config so tests use temp files.
//!
//! A missing file counts as empty (many hosts have no `subuid`); a file
//! that exists but can't be read is an error, since a silent "no
//! collisions" would defeat the check.

use crate::error::Error;
use std::path::Path;

/// Files bigger than this are not account files; refuse rather than read
/// gigabytes.
const MAX_BYTES: u64 = 64 << 20;

fn read(path: &Path) -> crate::Result<String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::Config(format!("can't read {}: {e}", path.display()))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Config(format!("can't read {}: {e}", path.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One `name:x:id:…` entry of a passwd or group file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// The uid (passwd) or gid (group); `None` when the field isn't a number
    /// (the name still counts).
    pub id: Option<u32>,
    /// For passwd: the primary gid.
    pub gid: Option<u32>,
}

fn entries(path: &Path, with_gid: bool) -> crate::Result<Vec<Entry>> {
    let text = read(path)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        // Comments and NIS compat lines (`+`/`-`) name no local account.
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with('+')
            || line.starts_with('-')
        {
            continue;
        }
        let mut fields = line.split(':');
        let name = fields.next().unwrap_or_default().to_string();
        let _password = fields.next();
        let id = fields.next().and_then(|f| f.trim().parse().ok());
        let gid = if with_gid {
            fields.next().and_then(|f| f.trim().parse().ok())
        } else {
            None
        };
        if !name.is_empty() {
            out.push(Entry { name, id, gid });
        }
    }
    Ok(out)
}

pub fn passwd(path: &Path) -> crate::Result<Vec<Entry>> {
    entries(path, true)
}

pub fn group(path: &Path) -> crate::Result<Vec<Entry>> {
    entries(path, false)
}

/// `name:start:count` lines of subuid/subgid, as inclusive ranges.
pub fn sub_ranges(path: &Path) -> crate::Result<Vec<(String, u64, u64)>> {
    let text = read(path)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let owner = fields.next().unwrap_or_default().to_string();
        let start = fields.next().and_then(|f| f.trim().parse::<u64>().ok());
        let count = fields.next().and_then(|f| f.trim().parse::<u64>().ok());
        if let (Some(start), Some(count)) = (start, count)
            && count > 0
        {
            out.push((owner, start, start + count - 1));
        }
    }
    Ok(out)
}

/// The `UID_MIN`, `UID_MAX`, `GID_MIN`, `GID_MAX` of login.defs, with
/// shadow's compiled-in defaults (1000–60000) for what it doesn't set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginDefs {
    pub uid_min: u64,
    pub uid_max: u64,
    pub gid_min: u64,
    pub gid_max: u64,
}

pub fn login_defs(path: &Path) -> crate::Result<LoginDefs> {
    let text = read(path)?;
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
    Ok(defs)
}
