//! Moving file ownership from an account's old local uid (and its private
//! gid) to its Roster uid, and back for an undo. Symlinks are never
//! followed (`lchown` on the link itself), other filesystems are not
//! entered, and only entries owned by the old id change.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One id move: files owned by `from_uid` go to `to_uid`; files whose
/// group is `from_gid` (the private group) go to `to_gid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    pub from_uid: u32,
    pub to_uid: u32,
    pub from_gid: Option<u32>,
    pub to_gid: u32,
}

/// Every entry under `top` (itself included) on `top`'s filesystem,
/// handed to `visit` with its metadata; unreadable folders are skipped.
fn walk(top: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(meta) = std::fs::symlink_metadata(top) else {
        return;
    };
    let device = meta.dev();
    let mut stack = vec![(top.to_path_buf(), meta)];
    while let Some((path, meta)) = stack.pop() {
        visit(&path, &meta);
        if !meta.is_dir() || meta.dev() != device {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(meta) = entry.metadata() {
                stack.push((entry.path(), meta));
            }
        }
    }
}

/// How many entries under `top` `moving` would change (a dry run).
pub fn count(top: &Path, moving: &Move) -> u64 {
    let mut n = 0;
    walk(top, &mut |_, meta| {
        if meta.uid() == moving.from_uid || Some(meta.gid()) == moving.from_gid {
            n += 1;
        }
    });
    n
}

/// Changes the owners under `top`; answers how many entries changed and
/// the first error met, if any (the walk goes on past it).
pub fn apply(top: &Path, moving: &Move) -> (u64, Option<String>) {
    let (mut n, mut first_error) = (0, None);
    walk(top, &mut |path, meta| {
        let uid = (meta.uid() == moving.from_uid).then_some(moving.to_uid);
        let gid = (Some(meta.gid()) == moving.from_gid).then_some(moving.to_gid);
        if uid.is_none() && gid.is_none() {
            return;
        }
        match std::os::unix::fs::lchown(path, uid, gid) {
            Ok(()) => n += 1,
            Err(e) => {
                first_error.get_or_insert_with(|| format!("chown {}: {e}", path.display()));
            }
        }
    });
    (n, first_error)
}

/// Files still owned by any of `old_uids` under `places` (minus the trees
/// in `done`): per old uid, the count and the first few paths.
pub fn leftovers(
    places: &[PathBuf],
    done: &[PathBuf],
    old_uids: &BTreeMap<u32, String>,
) -> BTreeMap<String, (u64, Vec<PathBuf>)> {
    let mut found: BTreeMap<String, (u64, Vec<PathBuf>)> = BTreeMap::new();
    for place in places {
        walk(place, &mut |path, meta| {
            if done.iter().any(|d| path.starts_with(d)) {
                return;
            }
            if let Some(name) = old_uids.get(&meta.uid()) {
                let entry = found.entry(name.clone()).or_default();
                entry.0 += 1;
                if entry.1.len() < 10 {
                    entry.1.push(path.to_path_buf());
                }
            }
        });
    }
    found
}
