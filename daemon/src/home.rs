//! Creating a missing home from `/etc/skel` at a user's first session,
//! and refusing one that is there but isn't the user's.
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
/// missing one root-owned 0755 (like `home_base` on a fresh host) when
/// `create` is set (else a missing one is `NotFound`).
fn open_path(dir: &Path, create: bool) -> io::Result<OwnedFd> {
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
                    Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
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

/// What a session found at the user's home, or made there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HomeState {
    /// Made now from skel.
    Created,
    /// There already: a directory (not a symlink) owned by the user.
    Theirs,
    /// Not there, and rosterd was not asked to create it.
    Missing,
    /// There already but not the user's: owned by another uid, or not a
    /// directory (a symlink, a file). Left exactly as it is: adopting it
    /// would hand the user files someone else planted (a `.bashrc`, an
    /// `authorized_keys`), or make root follow a link.
    Foreign(String),
}

impl HomeState {
    /// The word for the audit line's `home=` (None: nothing to say).
    pub fn audit_word(&self) -> Option<&'static str> {
        match self {
            HomeState::Created => Some("created"),
            HomeState::Foreign(_) => Some("refused"),
            HomeState::Theirs | HomeState::Missing => None,
        }
    }
}

/// Whether the entry `name` in `parent` (never followed if a symlink:
/// `fstatat` with `AT_SYMLINK_NOFOLLOW`) is a directory owned by `uid`;
/// None when there is no such entry.
fn existing_home(parent: &OwnedFd, name: &OsStr, uid: u32) -> io::Result<Option<HomeState>> {
    let c = cstr(name)?;
    // SAFETY: a zeroed stat is a valid out-buffer for fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat on a directory fd we hold, a NUL-terminated name
    // and a stat buffer we own.
    let r = unsafe {
        libc::fstatat(
            parent.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::NotFound {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => None,
        libc::S_IFLNK => Some("a symbolic link"),
        libc::S_IFREG => Some("a file"),
        _ => Some("not a directory"),
    };
    Ok(Some(match kind {
        Some(kind) => HomeState::Foreign(format!("it is {kind}, not a directory")),
        None if st.st_uid != uid => HomeState::Foreign(format!(
            "it is owned by uid {}, not by the user (uid {uid})",
            st.st_uid
        )),
        None => HomeState::Theirs,
    }))
}

/// The home at a session: created (0700, `uid:gid`, filled from `skel`)
/// when missing and `create` is set; when it exists, checked to be a
/// directory owned by `uid` (see [`HomeState::Foreign`]).
pub fn prepare_home(
    home: &Path,
    skel: &Path,
    uid: u32,
    gid: u32,
    create: bool,
) -> io::Result<HomeState> {
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
    if !create {
        // Only look: nothing is created on the way.
        return match open_path(parent, false) {
            Ok(dir) => Ok(existing_home(&dir, name, uid)?.unwrap_or(HomeState::Missing)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HomeState::Missing),
            Err(e) => Err(e),
        };
    }
    let parent = open_path(parent, true)?;
    match mkdir_at(&parent, name, 0o700) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Gone again in between: nothing of anyone's is there.
            return Ok(existing_home(&parent, name, uid)?.unwrap_or(HomeState::Missing));
        }
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
    Ok(HomeState::Created)
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
        let created = prepare_home(&home, &skel, 4321, 4321, true).ok();
        assert_eq!(created, Some(HomeState::Created));
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
        if unsafe { libc::geteuid() } == 0 {
            let again = prepare_home(&home, &skel, 4321, 4321, true).ok();
            assert_eq!(again, Some(HomeState::Theirs));
        }
    }

    #[test]
    fn a_home_someone_else_made_is_refused_and_left_alone() {
        let base = tmp();
        let skel = base.path().join("skel");
        std::fs::create_dir(&skel).unwrap_or_default();
        std::fs::write(skel.join(".bashrc"), "echo hi\n").unwrap_or_default();
        let home = base.path().join("bob");
        // Planted by "someone else": our own uid, while the user is 4321.
        std::fs::create_dir(&home).unwrap_or_default();
        std::fs::write(home.join(".bashrc"), "planted\n").unwrap_or_default();
        let me = unsafe { libc::geteuid() };
        for create in [true, false] {
            let state =
                prepare_home(&home, &skel, 4321, 4321, create).unwrap_or_else(|e| panic!("{e}"));
            let HomeState::Foreign(why) = &state else {
                panic!("{state:?}");
            };
            assert!(why.contains(&format!("owned by uid {me}")), "{why}");
            assert_eq!(state.audit_word(), Some("refused"));
        }
        // Untouched: neither filled from skel nor given to the user.
        let meta = std::fs::metadata(&home).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta.uid(), me);
        assert_eq!(
            std::fs::read_to_string(home.join(".bashrc")).unwrap_or_default(),
            "planted\n"
        );
        // The owner's own is theirs.
        assert_eq!(
            prepare_home(&home, &skel, me, me, true).ok(),
            Some(HomeState::Theirs)
        );
    }

    #[test]
    fn a_symlink_or_a_file_as_the_home_is_refused_never_followed() {
        let base = tmp();
        let target = base.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap_or_default();
        let me = unsafe { libc::geteuid() };
        let link = base.path().join("carol");
        std::os::unix::fs::symlink(&target, &link).unwrap_or_default();
        let file = base.path().join("dave");
        std::fs::write(&file, "x").unwrap_or_default();
        for create in [true, false] {
            for (home, kind) in [(&link, "symbolic link"), (&file, "a file")] {
                match prepare_home(home, Path::new("/nonexistent"), me, me, create) {
                    Ok(HomeState::Foreign(why)) => assert!(why.contains(kind), "{why}"),
                    other => panic!("{}: {other:?}", home.display()),
                }
            }
        }
        assert_eq!(std::fs::read_dir(&target).map(|d| d.count()).ok(), Some(0));
    }

    #[test]
    fn without_create_home_a_missing_home_stays_missing() {
        let base = tmp();
        let home = base.path().join("nobody-here").join("erin");
        assert_eq!(
            prepare_home(&home, Path::new("/nonexistent"), 4321, 4321, false).ok(),
            Some(HomeState::Missing)
        );
        assert!(!base.path().join("nobody-here").exists());
    }

    #[test]
    fn a_symlinked_parent_is_not_followed() {
        let base = tmp();
        let elsewhere = base.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap_or_default();
        std::os::unix::fs::symlink(&elsewhere, base.path().join("home")).unwrap_or_default();
        let home = base.path().join("home").join("bob");
        assert!(prepare_home(&home, Path::new("/nonexistent"), 4321, 4321, true).is_err());
        assert!(!elsewhere.join("bob").exists());
    }
}
