//! The host's account files, read by the same code rosterd reads them
//! with (`roster_hostconfig::local_files`: `passwd`, `group`, `shadow`,
//! `login.defs`, `subuid`/`subgid`); and Roster's own accounts from the NSS
//! snapshot, for the break-glass check and to say which local line is a
//! copy of a Roster account.
//!
//! A missing file counts as empty (many hosts have no `subuid`), as in
//! rosterd; a file that exists but can't be read is an error, since a
//! silent "nothing found" would pass a check that was never made.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

pub use roster_hostconfig::local_files::{Entry, Kind, entries, usable_hash};

/// The file's text; `None` when it doesn't exist.
pub fn read(path: &Path) -> Result<Option<String>, String> {
    roster_hostconfig::local_files::read(path).map_err(|e| e.to_string())
}

/// Missing reads as empty.
pub fn read_or_empty(path: &Path) -> Result<String, String> {
    Ok(read(path)?.unwrap_or_default())
}

/// Roster's own users and groups, as the NSS snapshot lists them.
#[derive(Debug, Default)]
pub struct RosterAccounts {
    pub users: HashSet<(String, u32)>,
    pub groups: HashSet<(String, u32)>,
    pub user_names: HashSet<String>,
}

impl RosterAccounts {
    /// From the snapshot at `path`; empty when it is missing or unusable
    /// (then no local account is taken for a Roster one).
    pub fn load(path: &Path) -> RosterAccounts {
        let mut out = RosterAccounts::default();
        let Ok(Some(bytes)) = read_bytes(path) else {
            return out;
        };
        let Ok(snapshot) = roster_snapshot::Snapshot::parse(&bytes) else {
            return out;
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for user in (0..snapshot.user_count()).filter_map(|i| snapshot.user_at(i)) {
            out.user_names.insert(text(user.name()));
            out.users.insert((text(user.name()), user.uid()));
        }
        for group in (0..snapshot.group_count()).filter_map(|i| snapshot.group_at(i)) {
            out.groups.insert((text(group.name()), group.gid()));
        }
        out
    }

    pub fn is_user(&self, entry: &Entry) -> bool {
        entry
            .id
            .is_some_and(|id| self.users.contains(&(entry.name.clone(), id)))
    }

    pub fn is_group(&self, entry: &Entry) -> bool {
        entry
            .id
            .is_some_and(|id| self.groups.contains(&(entry.name.clone(), id)))
    }
}

fn read_bytes(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::File::open(path) {
        Ok(file) => {
            let mut bytes = Vec::new();
            file.take(1 << 30).read_to_end(&mut bytes)?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
