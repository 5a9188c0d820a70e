//! A read-only mapping of a file for the length of one lookup: the only
//! `unsafe` the snapshot check needs, kept here so the rest of it is plain
//! bounds-checked Rust ([`roster_snapshot::Snapshot`] trusts nothing in the
//! bytes).
//!
//! Why it is sound to hand out `&[u8]` over the mapping:
//! - the mapping is `PROT_READ` and `MAP_PRIVATE`, made from a descriptor
//!   opened read-only, and lives exactly as long as the [`Mapped`] (one
//!   `munmap` in `Drop`, nothing else ever unmaps it), so the slice never
//!   outlives it;
//! - rosterd never rewrites the snapshot in place: it writes a temp file
//!   and renames it over the old one (`roster_snapshot::write_atomically`).
//!   A mapping keeps the inode it was made from, so it sees the old file
//!   or the new one, never a torn write, and its bytes don't change under
//!   the slice;
//! - the one way to hurt it is someone (not rosterd) truncating the file in
//!   place while it is mapped: touching a page past the new end raises
//!   SIGBUS. The same holds for the NSS module, which maps the same file in
//!   every process; here the window is one binary search (microseconds),
//!   and the file is root's (0644 in a root-owned directory).

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// A whole regular file mapped read-only; unmapped on drop.
pub struct Mapped {
    addr: *mut libc::c_void,
    len: usize,
    owner: u32,
    mode: u32,
}

impl Mapped {
    /// Maps the regular file at `path` if it holds at least `min_len`
    /// bytes (and at least one: `mmap` refuses zero). `None` when it is
    /// missing, unreadable, not a regular file, too small, or can't be
    /// mapped.
    pub fn open(path: &Path, min_len: usize) -> Option<Mapped> {
        // O_CLOEXEC (std sets it anyway; named so nobody wonders): the
        // module runs inside sshd, login, su, which exec. O_NONBLOCK: a
        // FIFO at the path must not hang a login (it is refused below).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let len = usize::try_from(meta.len()).ok()?;
        if len < min_len.max(1) {
            return None;
        }
        // SAFETY: a fresh read-only private mapping of `len` bytes (the
        // size fstat just gave, > 0) of an open descriptor; no address is
        // imposed, so nothing existing is replaced. The descriptor is
        // closed when `file` drops; the mapping stays valid without it.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED || addr.is_null() {
            return None;
        }
        Some(Mapped {
            addr,
            len,
            owner: meta.uid(),
            mode: meta.mode(),
        })
    }

    /// The mapped file's owner and mode (`st_uid`, `st_mode`), from the
    /// descriptor that was mapped: the very file, whatever the path names
    /// by now.
    pub fn owner_and_mode(&self) -> (u32, u32) {
        (self.owner, self.mode)
    }

    /// The file's bytes, as they were when it was mapped.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `addr..addr+len` is a live PROT_READ mapping until our
        // own drop, which the borrow of `self` outlasts; its bytes don't
        // change (see the module comment: the file is only ever replaced
        // by rename, never written in place).
        unsafe { std::slice::from_raw_parts(self.addr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping `open` made, unmapped exactly once, here; no
        // slice from `bytes` can outlive `self`.
        unsafe {
            libc::munmap(self.addr, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pam-roster-map-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
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
        let map = Mapped::open(&path, 4).unwrap();
        assert_eq!(map.bytes(), b"0123456789");
        // Mapped, but the descriptor is already closed.
        assert_eq!(held(&path), (1, 0));
        drop(map);
        assert_eq!(held(&path), (0, 0));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_renamed_over_file_leaves_the_mapping_on_the_old_bytes() {
        let d = dir("rename");
        let path = d.join("file");
        std::fs::write(&path, b"old bytes").unwrap();
        let map = Mapped::open(&path, 1).unwrap();
        std::fs::write(d.join("new"), b"new bytes, longer").unwrap();
        std::fs::rename(d.join("new"), &path).unwrap();
        assert_eq!(map.bytes(), b"old bytes");
        assert_eq!(
            Mapped::open(&path, 1).unwrap().bytes(),
            b"new bytes, longer"
        );
        drop(map);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_empty_short_and_non_regular_files_are_not_mapped() {
        let d = dir("refused");
        assert!(Mapped::open(&d.join("missing"), 1).is_none());
        std::fs::write(d.join("empty"), b"").unwrap();
        assert!(Mapped::open(&d.join("empty"), 0).is_none());
        std::fs::write(d.join("short"), b"abc").unwrap();
        assert!(Mapped::open(&d.join("short"), 4).is_none());
        assert!(Mapped::open(&d, 1).is_none());
        assert!(Mapped::open(Path::new("/dev/null"), 1).is_none());
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Returns at once (O_NONBLOCK), refused as not a regular file.
        assert!(Mapped::open(&fifo, 1).is_none());
        std::fs::remove_dir_all(d).unwrap();
    }
}
