//! The one read-only mapping of a snapshot file both modules use
//! (feature `mapped`): the NSS module keeps its mappings across calls,
//! the PAM module maps for one lookup. Opening, checking and mapping are
//! written once here, with the stricter choice of each former copy:
//!
//! - `O_CLOEXEC`: the modules run inside sshd, login, su, which exec;
//!   `O_NOCTTY`; `O_NONBLOCK`: a FIFO planted at the path must not hang a
//!   login or a name lookup (it is refused as not a regular file);
//! - the owner and mode of the descriptor that is mapped (not of whatever
//!   the path names by then) must pass [`crate::trusted_file`]: whoever
//!   could write the file would decide who exists;
//! - a regular file of at least `min_len` bytes (and one: `mmap` refuses
//!   zero); the descriptor is closed at once, the mapping outlives it.
//!
//! The only `unsafe` of the snapshot readers lives here, so that parsing
//! ([`crate::Snapshot`]) stays plain bounds-checked Rust. Handing out
//! `&[u8]` over the mapping is sound because:
//! - it is `PROT_READ`, made from a descriptor opened read-only, and lives
//!   until exactly one `munmap` (the [`MappedFile`]'s drop, or
//!   [`RawMapping::unmap`] for a mapping whose owner shares it between
//!   threads), so no slice outlives it;
//! - rosterd never rewrites the snapshot in place: it writes a temp file
//!   and renames it over the old one ([`crate::write_atomically`]). A
//!   mapping keeps the inode it was made from, so it sees the old file or
//!   the new one, never a torn write, and its bytes don't change;
//! - the one way to hurt it is someone (not rosterd) truncating the file in
//!   place while it is mapped: touching a page past the new end raises
//!   SIGBUS. The file is root's (checked above), 0644 in a root-owned
//!   directory.

#![allow(unsafe_code)]

use std::ffi::CStr;

/// A whole regular file mapped read-only; unmapped on drop.
pub struct MappedFile {
    raw: RawMapping,
    stat: libc::stat,
}

/// A mapping's address and length, for an owner that keeps it past a
/// [`MappedFile`] (the NSS module's slots, shared between threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMapping {
    pub addr: usize,
    pub len: usize,
}

impl MappedFile {
    /// Maps the file at `path` if it is a regular file of at least
    /// `min_len` bytes (and at least one) that `owner` owns and nobody
    /// else may write ([`crate::trusted_file`], checked on the descriptor
    /// mapped). `None` when it is missing, unreadable, not a regular file,
    /// untrusted, too small, or can't be mapped.
    pub fn open(path: &CStr, min_len: usize, owner: u32) -> Option<MappedFile> {
        // SAFETY: plain syscalls on a NUL-terminated path; the descriptor
        // is closed on every path out; `st` is only read after fstat
        // filled it.
        unsafe {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK,
            );
            if fd < 0 {
                return None;
            }
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            if libc::fstat(fd, st.as_mut_ptr()) != 0 {
                libc::close(fd);
                return None;
            }
            let st = st.assume_init();
            let len = match usize::try_from(st.st_size) {
                Ok(len)
                    if len >= min_len.max(1)
                        && st.st_mode & libc::S_IFMT == libc::S_IFREG
                        && crate::trusted_file(st.st_uid, st.st_mode, owner) =>
                {
                    len
                }
                _ => {
                    libc::close(fd);
                    return None;
                }
            };
            // A fresh read-only mapping of `len` bytes (> 0, the size fstat
            // just gave) with no address imposed: nothing existing is
            // replaced.
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            );
            libc::close(fd);
            if addr == libc::MAP_FAILED || addr.is_null() {
                return None;
            }
            Some(MappedFile {
                raw: RawMapping {
                    addr: addr as usize,
                    len,
                },
                stat: st,
            })
        }
    }

    /// The file's bytes, as they were when it was mapped.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: a live mapping until our own drop, which the borrow of
        // `self` outlasts (see the module comment).
        unsafe { self.raw.bytes() }
    }

    /// `fstat` of the descriptor that was mapped: the very file, whatever
    /// the path names by now.
    pub fn stat(&self) -> &libc::stat {
        &self.stat
    }

    /// Hands the mapping over to a caller who unmaps it with
    /// [`RawMapping::unmap`], exactly once.
    pub fn into_raw(self) -> RawMapping {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: the mapping `open` made, unmapped exactly once, here; no
        // slice from `bytes` can outlive `self`.
        unsafe { self.raw.unmap() }
    }
}

impl RawMapping {
    /// The mapped bytes.
    ///
    /// # Safety
    /// The mapping must stay mapped for as long as the slice is used.
    pub unsafe fn bytes<'a>(self) -> &'a [u8] {
        // SAFETY: `addr..addr+len` is a live PROT_READ mapping (the
        // caller's promise), `len` > 0.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }

    /// Unmaps it.
    ///
    /// # Safety
    /// Exactly once per mapping, after its last reader.
    pub unsafe fn unmap(self) {
        // SAFETY: the caller's promise.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}

/// The uid the snapshot at `path` lists for `name`, read through a
/// mapping for the one lookup (with 100,000 users the file is megabytes;
/// a binary search by name touches a few pages of it). `None` when the
/// file is missing, unreadable, untrusted (see [`MappedFile::open`]),
/// not a valid snapshot, or doesn't list the name: all mean "not a
/// Roster user here".
pub fn listed_uid(path: &CStr, name: &str, owner: u32) -> Option<u32> {
    let map = MappedFile::open(path, crate::MIN_SIZE, owner)?;
    let snap = crate::Snapshot::parse(map.bytes()).ok()?;
    snap.user_by_name(name.as_bytes()).map(|u| u.uid())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("roster-snapshot-map-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn c(path: &Path) -> CString {
        CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// Whoever runs the tests owns the files they write.
    fn me(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().uid()
    }

    /// Lines of /proc/self/maps (or links in /proc/self/fd) naming `path`.
    fn held(path: &Path) -> (usize, usize) {
        let name = path.to_string_lossy().into_owned();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let mapped = maps.lines().filter(|l| l.ends_with(&name)).count();
        let fds = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target == path)
            .count();
        (mapped, fds)
    }

    #[test]
    fn maps_the_whole_file_and_unmaps_it_on_drop() {
        let path = dir("whole").join("file");
        std::fs::write(&path, b"0123456789").unwrap();
        let map = MappedFile::open(&c(&path), 4, me(&path)).unwrap();
        assert_eq!(map.bytes(), b"0123456789");
        assert_eq!(map.stat().st_size, 10);
        // Mapped, but the descriptor is already closed.
        assert_eq!(held(&path), (1, 0));
        drop(map);
        assert_eq!(held(&path), (0, 0));
        // Handed over, it stays until unmapped by hand.
        let raw = MappedFile::open(&c(&path), 4, me(&path))
            .unwrap()
            .into_raw();
        assert_eq!(held(&path), (1, 0));
        assert_eq!(unsafe { raw.bytes() }, b"0123456789");
        unsafe { raw.unmap() };
        assert_eq!(held(&path), (0, 0));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_renamed_over_file_leaves_the_mapping_on_the_old_bytes() {
        let d = dir("rename");
        let path = d.join("file");
        std::fs::write(&path, b"old bytes").unwrap();
        let owner = me(&path);
        let map = MappedFile::open(&c(&path), 1, owner).unwrap();
        std::fs::write(d.join("new"), b"new bytes, longer").unwrap();
        std::fs::rename(d.join("new"), &path).unwrap();
        assert_eq!(map.bytes(), b"old bytes");
        assert_eq!(
            MappedFile::open(&c(&path), 1, owner).unwrap().bytes(),
            b"new bytes, longer"
        );
        drop(map);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_empty_short_and_non_regular_files_are_not_mapped() {
        let d = dir("refused");
        let owner = me(&d);
        let open = |p: &Path, min| MappedFile::open(&c(p), min, owner);
        assert!(open(&d.join("missing"), 1).is_none());
        std::fs::write(d.join("empty"), b"").unwrap();
        assert!(open(&d.join("empty"), 0).is_none());
        std::fs::write(d.join("short"), b"abc").unwrap();
        assert!(open(&d.join("short"), 4).is_none());
        assert!(open(&d.join("short"), 3).is_some());
        assert!(open(&d, 1).is_none());
        assert!(MappedFile::open(c"/dev/null", 1, 0).is_none());
        let fifo = d.join("fifo");
        assert_eq!(unsafe { libc::mkfifo(c(&fifo).as_ptr(), 0o600) }, 0);
        // Returns at once (O_NONBLOCK), refused as not a regular file.
        assert!(open(&fifo, 1).is_none());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_file_others_could_have_written_or_another_uid_owns_is_not_mapped() {
        use std::os::unix::fs::PermissionsExt;
        let path = dir("trust").join("file");
        std::fs::write(&path, b"bytes").unwrap();
        let owner = me(&path);
        let chmod =
            |mode| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        for loose in [0o666, 0o664, 0o646] {
            chmod(loose);
            assert!(MappedFile::open(&c(&path), 1, owner).is_none(), "{loose:o}");
        }
        chmod(0o644);
        assert!(MappedFile::open(&c(&path), 1, owner).is_some());
        assert!(MappedFile::open(&c(&path), 1, owner.wrapping_add(1)).is_none());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn listed_uid_reads_a_valid_trusted_snapshot_only() {
        let users = [crate::SnapshotUser {
            name: "alice".into(),
            uid: 0x7000_0001,
            gid: 0x7000_0001,
            gecos: String::new(),
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
        }];
        let d = dir("listed");
        let path = d.join("nss.cache");
        crate::write_atomically(&path, &crate::encode(1, &users, &[]).unwrap()).unwrap();
        let owner = me(&path);
        assert_eq!(listed_uid(&c(&path), "alice", owner), Some(0x7000_0001));
        assert_eq!(listed_uid(&c(&path), "bob", owner), None);
        assert_eq!(listed_uid(&c(&path), "alice", owner.wrapping_add(1)), None);
        std::fs::write(&path, b"ROSTRNSS garbage").unwrap();
        assert_eq!(listed_uid(&c(&path), "alice", owner), None);
        assert_eq!(listed_uid(&c(&d.join("missing")), "alice", owner), None);
        std::fs::remove_dir_all(d).unwrap();
    }
}
