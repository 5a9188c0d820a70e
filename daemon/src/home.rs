//! Creating a missing home from `/etc/skel` at a user's first session.
//!
//! rosterd runs as root and the home's parent may be writable by others
//! (a shared `/home` on a badly set up host, a test's temp folder), so no
//! path is followed as a string once we start: every step is `openat` /
//! `mkdirat` relative to a directory fd opened with `O_NOFOLLOW`, new files
//! are created `O_EXCL`, and the home stays root-owned and 0700 while it is
//! filled, becoming the user's only at the end. Nobody can swap a symlink
//! in to make root write or chown somewhere else.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn open_dir_at(parent: &OwnedFd, name: &OsStr) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: openat on a directory fd we hold with a NUL-terminated name.
    let fd = check(unsafe {
        libc::openat(
            parent.as_raw_fd(),
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: a new fd that only we hold.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mkdir_at(parent: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: mkdirat on a directory fd we hold.
    check(unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

fn fchown(fd: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: fchown on an fd we hold.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    Ok(())
}

fn fchmod(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod on an fd we hold.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// Opens `/` and walks `dir`'s components with `O_NOFOLLOW`, creating a
/// missing one root-owned 0755 (like `home_base` on a fresh host).
fn open_path(dir: &Path) -> io::Result<OwnedFd> {
    let root = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open("/")?;
    let mut fd: OwnedFd = root.into();
    for component in dir.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => {
                fd = match open_dir_at(&fd, name) {
                    Ok(next) => next,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        mkdir_at(&fd, name, 0o755)?;
                        open_dir_at(&fd, name)?
                    }
                    Err(e) => return Err(e),
                };
            }
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        }
    }
    Ok(fd)
}

/// Creates `home` (0700, `uid:gid`) filled from `skel`, unless it exists.
/// Answers whether it was created.
pub fn create_home(home: &Path, skel: &Path, uid: u32, gid: u32) -> io::Result<bool> {
    if !home.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the home is not an absolute path",
        ));
    }
    let (Some(parent), Some(name)) = (home.parent(), home.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the home has no parent",
        ));
    };
    let parent = open_path(parent)?;
    match mkdir_at(&parent, name, 0o700) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e),
    }
    let dir = open_dir_at(&parent, name)?;
    // Root's until filled; a skel that can't be copied still leaves a
    // usable (empty) home rather than none.
    if skel.is_dir()
        && let Err(e) = copy_tree(skel, &dir, uid, gid, 0)
    {
        eprintln!(
            "rosterd: copying {} into {}: {e}",
            skel.display(),
            home.display()
        );
    }
    fchmod(&dir, 0o700)?;
    fchown(&dir, uid, gid)?;
    Ok(true)
}

/// Deeper than this is a skel loop or an attack; stop there.
const MAX_DEPTH: usize = 32;

fn copy_tree(src: &Path, dst: &OwnedFd, uid: u32, gid: u32, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = meta.mode() & 0o7777 & !0o6000;
        let kind = meta.file_type();
        if kind.is_dir() {
            mkdir_at(dst, &name, 0o700)?;
            let sub = open_dir_at(dst, &name)?;
            copy_tree(&path, &sub, uid, gid, depth + 1)?;
            fchmod(&sub, mode)?;
            fchown(&sub, uid, gid)?;
        } else if kind.is_file() {
            let mut from = File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            let c = cstr(&name)?;
            // SAFETY: openat on a directory fd we hold; O_EXCL|O_NOFOLLOW
            // so nothing already there (a planted symlink) is followed.
            let fd = check(unsafe {
                libc::openat(
                    dst.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600 as libc::c_uint,
                )
            })?;
            // SAFETY: a new fd that only we hold.
            let mut to = unsafe { File::from_raw_fd(fd) };
            io::copy(&mut from, &mut to)?;
            let to: OwnedFd = to.into();
            fchmod(&to, mode)?;
            fchown(&to, uid, gid)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            let (t, n) = (cstr(target.as_os_str())?, cstr(&name)?);
            // SAFETY: symlinkat/fchownat on a directory fd we hold;
            // AT_SYMLINK_NOFOLLOW changes the link, never its target.
            unsafe {
                check(libc::symlinkat(t.as_ptr(), dst.as_raw_fd(), n.as_ptr()))?;
                check(libc::fchownat(
                    dst.as_raw_fd(),
                    n.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                ))?;
            }
        }
        // Sockets, fifos and devices in a skel are skipped.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn creates_a_private_home_from_skel() {
        let base = tmp();
        let skel = base.path().join("skel");
        std::fs::create_dir_all(skel.join(".config")).unwrap_or_default();
        std::fs::write(skel.join(".bashrc"), "echo hi\n").unwrap_or_default();
        std::fs::write(skel.join(".config").join("x"), "y").unwrap_or_default();
        std::os::unix::fs::symlink(".bashrc", skel.join(".profile")).unwrap_or_default();
        let home = base.path().join("home").join("alice");
        let created = create_home(&home, &skel, 4321, 4321).unwrap_or(false);
        assert!(created);
        let meta = std::fs::metadata(&home).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::read_to_string(home.join(".bashrc")).unwrap_or_default(),
            "echo hi\n"
        );
        assert_eq!(
            std::fs::read_to_string(home.join(".config/x")).unwrap_or_default(),
            "y"
        );
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(meta.uid(), 4321);
            let f =
                std::fs::symlink_metadata(home.join(".profile")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.uid(), 4321);
        }
        // A second session finds it there and leaves it alone.
        assert!(!create_home(&home, &skel, 4321, 4321).unwrap_or(true));
    }

    #[test]
    fn a_symlinked_parent_is_not_followed() {
        let base = tmp();
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap_or_default();
        std::os::unix::fs::symlink(&elsewhere, base.path().join("home")).unwrap_or_default();
        let home = base.path().join("home").join("bob");
        assert!(create_home(&home, Path::new("/nonexistent"), 4321, 4321).is_err());
        assert!(!elsewhere.join("bob").exists());
    }
}
