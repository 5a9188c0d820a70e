//! Moving file ownership from an account's old local uid (and its private
//! gid) to its Roster uid, and back for an undo. Symlinks are never
//! followed (`lchown` on the link itself), other filesystems are not
//! entered, and only entries owned by the old id change.

use std::collections::{BTreeMap, BTreeSet};
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

/// `moves` by the ids they move from: which move an entry's uid (else its
/// gid) belongs to, so a tree shared by many users (`--chown-paths`) is
/// walked once per batch, not once per user.
struct Moves<'a> {
    moves: &'a [Move],
    by_uid: BTreeMap<u32, usize>,
    by_gid: BTreeMap<u32, usize>,
}

impl<'a> Moves<'a> {
    fn new(moves: &'a [Move]) -> Moves<'a> {
        // Two accounts sharing an old id: the first takes its files, as
        // when each was walked in turn.
        let (mut by_uid, mut by_gid) = (BTreeMap::new(), BTreeMap::new());
        for (i, m) in moves.iter().enumerate() {
            by_uid.entry(m.from_uid).or_insert(i);
            if let Some(gid) = m.from_gid {
                by_gid.entry(gid).or_insert(i);
            }
        }
        Moves {
            moves,
            by_uid,
            by_gid,
        }
    }

    /// The entry's new (uid, gid), each None when it stays, and the
    /// index of the move it is counted for.
    fn of(&self, meta: &std::fs::Metadata) -> Option<(Option<u32>, Option<u32>, usize)> {
        let by_uid = self.by_uid.get(&meta.uid()).copied();
        let by_gid = self.by_gid.get(&meta.gid()).copied();
        let counted = by_uid.or(by_gid)?;
        let uid = by_uid.and_then(|i| self.moves.get(i)).map(|m| m.to_uid);
        let gid = by_gid.and_then(|i| self.moves.get(i)).map(|m| m.to_gid);
        Some((uid, gid, counted))
    }
}

/// [`count`] for each of `moves` in one walk of `top`.
pub fn count_each(top: &Path, moves: &[Move]) -> Vec<u64> {
    let index = Moves::new(moves);
    let mut counts = vec![0; moves.len()];
    walk(top, &mut |_, meta| {
        if let Some((_, _, i)) = index.of(meta)
            && let Some(n) = counts.get_mut(i)
        {
            *n += 1;
        }
    });
    counts
}

/// [`apply`] for each of `moves` in one walk of `top`: how many entries
/// changed per move, and the first error met.
pub fn apply_each(top: &Path, moves: &[Move]) -> (Vec<u64>, Option<String>) {
    let index = Moves::new(moves);
    let (mut counts, mut first_error) = (vec![0; moves.len()], None);
    walk(top, &mut |path, meta| {
        let Some((uid, gid, i)) = index.of(meta) else {
            return;
        };
        match std::os::unix::fs::lchown(path, uid, gid) {
            Ok(()) => {
                if let Some(n) = counts.get_mut(i) {
                    *n += 1;
                }
            }
            Err(e) => {
                first_error.get_or_insert_with(|| format!("chown {}: {e}", path.display()));
            }
        }
    });
    (counts, first_error)
}

/// Files still owned by any of `old_uids` under `places` (minus the trees
/// in `done`): per old uid, the count and the first few paths.
pub fn leftovers(
    places: &[PathBuf],
    done: &BTreeSet<PathBuf>,
    old_uids: &BTreeMap<u32, String>,
) -> BTreeMap<String, (u64, Vec<PathBuf>)> {
    let mut found: BTreeMap<String, (u64, Vec<PathBuf>)> = BTreeMap::new();
    for place in places {
        walk(place, &mut |path, meta| {
            // Ancestors, not a scan of `done`: it holds every user's home.
            if path.ancestors().any(|a| done.contains(a)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(dir: &Path, name: &str, uid: u32, gid: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, name).unwrap();
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).unwrap();
        path
    }

    fn ids(path: &Path) -> (u32, u32) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        (meta.uid(), meta.gid())
    }

    #[test]
    fn one_walk_moves_each_users_files_to_its_own_ids_and_no_others() {
        // Changing owners needs root (the import runs as root).
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let dir = std::env::temp_dir().join(format!("roster-chown-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = owned(&dir, "a", 2001, 2001);
        let b = owned(&dir, "b", 2002, 100);
        let b_group_of_a = owned(&dir, "mixed", 2002, 2001);
        let stranger = owned(&dir, "c", 2003, 2003);
        let moves = [
            Move {
                from_uid: 2001,
                to_uid: 70_001,
                from_gid: Some(2001),
                to_gid: 70_001,
            },
            Move {
                from_uid: 2002,
                to_uid: 70_002,
                from_gid: None,
                to_gid: 70_002,
            },
        ];
        assert_eq!(count_each(&dir, &moves), [1, 2]);
        let (counts, error) = apply_each(&dir, &moves);
        assert_eq!((counts, error), (vec![1, 2], None));
        assert_eq!(ids(&a), (70_001, 70_001));
        assert_eq!(ids(&b), (70_002, 100));
        assert_eq!(ids(&b_group_of_a), (70_002, 70_001));
        assert_eq!(ids(&stranger), (2003, 2003));
        // Nothing left to move: a second walk changes nothing.
        assert_eq!(apply_each(&dir, &moves), (vec![0, 0], None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
