//! `libnss_roster.so.2`: Roster's users and groups in glibc NSS.
//!
//! What it is for: answering `getpwnam`, `getpwuid`, `getgrnam`,
//! `getgrgid`, the `getpwent`/`getgrent` enumerations and `initgroups`
//! for Roster users, inside every process that resolves a name (sshd,
//! login, `id`, `ls -l`, dbus-daemon). It reads the public snapshot that
//! rosterd writes (`/var/cache/roster/nss.cache`, format in the
//! `roster-snapshot` crate) through a read-only mapping, and nothing else:
//! no D-Bus (dbus-daemon resolves names through NSS and would deadlock),
//! no socket, no thread, no secret. It keeps answering from the file while
//! rosterd is down.
//!
//! Enable it with `passwd: files roster` and `group: files roster` in
//! `/etc/nsswitch.conf`, the library installed as `libnss_roster.so.2` on
//! the loader's path.
//!
//! # glibc's contracts, and how they are kept
//!
//! * errors go to `*errnop`, never `errno`; a small buffer is
//!   `NSS_STATUS_TRYAGAIN` + `ERANGE` (glibc retries with a larger one);
//!   not found is `NSS_STATUS_NOTFOUND` + `ENOENT`; a missing, truncated,
//!   corrupt or foreign snapshot is `NSS_STATUS_UNAVAIL` + `ENOENT`, and
//!   so is one not owned by root or writable by group or others (whoever
//!   can write it decides who exists and who is in the admin group);
//! * every string is copied into the caller's buffer, `pw_passwd` and
//!   `gr_passwd` are always `*` ([`fill`]);
//! * `initgroups_dyn` grows glibc's array with `realloc`;
//! * safe from many threads and across `fork`: the mapping is swapped in
//!   through atomics, never a lock a forked child could inherit held
//!   ([`cache`]); a replaced file is noticed through the "superseded"
//!   word rosterd stores in the old file before its rename (read through
//!   the mapping: no system call per lookup), then by `stat` (device,
//!   inode, size, mtime); a replacement nobody marked, a removal or a
//!   mode change within [`cache::RECHECK_INTERVAL_MS`] (a vDSO clock, no
//!   system call); a version 1 file (older rosterd) by `stat` on each
//!   call; at most one old mapping outlives a replacement; an enumeration
//!   pins one snapshot from `setXXent` to `endXXent`;
//! * `O_CLOEXEC` (and `O_NONBLOCK`: a FIFO at the path must not hang a
//!   lookup) on the one file it opens, and closes again at once
//!   ([`roster_snapshot::mapped`], the PAM module's mapping too);
//! * every export runs inside `catch_unwind`: a panic must never unwind
//!   into C (the workspace never sets `panic = "abort"`). The unwinder is
//!   linked in (libgcc_eh, see build.rs) rather than loaded from
//!   `libgcc_s.so.1`: that dlopen was half of a fresh process's first
//!   lookup.
//!
//! The path is `/var/cache/roster/nss.cache` ([`roster_snapshot::DEFAULT_PATH`]),
//! overridable only through the
//! `ROSTER_NSS_CACHE` environment variable read with `secure_getenv`
//! (ignored by setuid programs). That is for tests, and so is
//! `ROSTER_NSS_CACHE_OWNER` (a uid, read the same way): the owner the
//! snapshot must have instead of root, for tests that write it as
//! another user.
//!
//! # Building and testing
//!
//! Build it alone, into its own target dir (DESIGN.md: feature
//! unification): `cargo build --profile modules -p nss_roster --target-dir
//! target/nss`. The integration tests in `nss-module/tests/` load
//! `$ROSTER_NSS_SO` when it is set (`scripts/test.sh` and
//! `scripts/nss-test.sh` build the module first and set it); otherwise they
//! run that same `cargo build` themselves and load
//! `<workspace>/target/nss/modules/libnss_roster.so`. They compile the C
//! probes in `tests/nss/` with `cc`. Four suites:
//!
//! * `direct.rs`: the exports called through `dlopen`, checking the exact
//!   `nss_status` and `*errnop` (any user);
//! * `nss_wrapper.rs`: cwrap's nss_wrapper loading the module (any user);
//! * `glibc.rs`: glibc's own dispatch (`files roster` in a bind-mounted
//!   `/etc/nsswitch.conf`, the module overlaid onto the library directory
//!   and listed in a private `ld.so.cache`) inside `unshare -m`, via
//!   `tests/nss/in-private-ns.sh`. Needs root; without root or `unshare`
//!   each test prints `*** SKIPPED … ***` and returns.
//! * `unwinder.rs`: the module needs no `libgcc_s`, and a panic in the
//!   export guard (a `--features panic-probe` build into
//!   `target/nss-panic-probe`) comes back as `NSS_STATUS_UNAVAIL`.
//!
//! `scripts/bench-nss.sh` compares it with nss_files; figures in
//! `nss-module/BENCH.md`.

// Beyond the workspace's lints: a malformed file must never index out of
// bounds (a panic inside getpwnam or sshd).
#![deny(clippy::indexing_slicing)]

mod cache;
mod fill;

use std::ffi::{CStr, c_char, c_int, c_long};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use roster_snapshot::Snapshot;

// glibc's enum nss_status.
const NSS_STATUS_TRYAGAIN: c_int = -2;
const NSS_STATUS_UNAVAIL: c_int = -1;
const NSS_STATUS_NOTFOUND: c_int = 0;
const NSS_STATUS_SUCCESS: c_int = 1;

/// What a call came to; turned into (status, errno) in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Found,
    NotFound,
    /// No usable snapshot (missing, unreadable, corrupt, foreign).
    Unavailable,
    /// The caller's buffer is too small.
    Range,
    /// `realloc` failed in `initgroups_dyn`.
    NoMemory,
}

fn status(answer: Answer, errnop: *mut c_int) -> c_int {
    let (status, errno) = match answer {
        Answer::Found => (NSS_STATUS_SUCCESS, None),
        Answer::NotFound => (NSS_STATUS_NOTFOUND, Some(libc::ENOENT)),
        Answer::Unavailable => (NSS_STATUS_UNAVAIL, Some(libc::ENOENT)),
        Answer::Range => (NSS_STATUS_TRYAGAIN, Some(libc::ERANGE)),
        Answer::NoMemory => (NSS_STATUS_TRYAGAIN, Some(libc::ENOMEM)),
    };
    if let Some(e) = errno
        && !errnop.is_null()
    {
        // SAFETY: glibc passes a valid errnop; null was excluded.
        unsafe { *errnop = e };
    }
    status
}

/// `f`'s answer; a panic becomes `Unavailable` instead of unwinding into C.
fn caught(f: impl FnOnce() -> Answer) -> Answer {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Answer::Unavailable)
}

/// Runs `f` with the current snapshot; a panic becomes `Unavailable`.
fn guarded(errnop: *mut c_int, f: impl FnOnce(Snapshot<'_>) -> Answer) -> c_int {
    let answer = caught(|| match cache::acquire() {
        Some(held) => match held.snapshot() {
            Some(snap) => f(snap),
            None => Answer::Unavailable,
        },
        None => Answer::Unavailable,
    });
    status(answer, errnop)
}

/// Test builds only (`--features panic-probe`): panics inside the guard
/// every lookup uses, so a test can show a panic is caught by the unwinder
/// this module is linked with (build.rs) in a process without libgcc_s.
///
/// # Safety
/// `errnop` writable or null.
#[cfg(feature = "panic-probe")]
#[unsafe(no_mangle)]
#[allow(clippy::panic)]
pub unsafe extern "C" fn _nss_roster_panic_probe(errnop: *mut c_int) -> c_int {
    status(caught(|| panic!("nss_roster panic probe")), errnop)
}

fn fill_result(r: Result<(), fill::Range>) -> Answer {
    match r {
        Ok(()) => Answer::Found,
        Err(fill::Range) => Answer::Range,
    }
}

/// # Safety
/// glibc's contract: `name` a C string, `pwd` writable, `buf` writable for
/// `buflen` bytes, `errnop` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwnam_r(
    name: *const c_char,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if name.is_null() || pwd.is_null() {
        return status(Answer::NotFound, errnop);
    }
    // SAFETY: non-null C string per glibc's contract.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    guarded(errnop, |snap| match snap.user_by_name(name) {
        // SAFETY: buf/buflen and pwd per glibc's contract.
        Some(u) => fill_result(unsafe { fill::passwd(pwd, &u, &mut fill::Buf::new(buf, buflen)) }),
        None => Answer::NotFound,
    })
}

/// # Safety
/// As [`_nss_roster_getpwnam_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwuid_r(
    uid: libc::uid_t,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if pwd.is_null() {
        return status(Answer::NotFound, errnop);
    }
    guarded(errnop, |snap| match snap.user_by_uid(uid) {
        // SAFETY: buf/buflen and pwd per glibc's contract.
        Some(u) => fill_result(unsafe { fill::passwd(pwd, &u, &mut fill::Buf::new(buf, buflen)) }),
        None => Answer::NotFound,
    })
}

/// # Safety
/// As [`_nss_roster_getpwnam_r`], with a `struct group`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrnam_r(
    name: *const c_char,
    grp: *mut libc::group,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if name.is_null() || grp.is_null() {
        return status(Answer::NotFound, errnop);
    }
    // SAFETY: non-null C string per glibc's contract.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    guarded(errnop, |snap| match snap.group_by_name(name) {
        // SAFETY: buf/buflen and grp per glibc's contract.
        Some(g) => fill_result(unsafe { fill::group(grp, &g, &mut fill::Buf::new(buf, buflen)) }),
        None => Answer::NotFound,
    })
}

/// # Safety
/// As [`_nss_roster_getgrnam_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrgid_r(
    gid: libc::gid_t,
    grp: *mut libc::group,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if grp.is_null() {
        return status(Answer::NotFound, errnop);
    }
    guarded(errnop, |snap| match snap.group_by_gid(gid) {
        // SAFETY: buf/buflen and grp per glibc's contract.
        Some(g) => fill_result(unsafe { fill::group(grp, &g, &mut fill::Buf::new(buf, buflen)) }),
        None => Answer::NotFound,
    })
}

/// One enumeration's state (passwd or group). glibc serialises
/// set/get/endXXent under its own lock, so plain atomics are enough.
struct Enumeration {
    /// The next index to deliver.
    pos: AtomicUsize,
    /// The snapshot pinned by `setXXent` ([`cache::Pin::word`]); 0 = none
    /// (then each call looks up the current snapshot).
    pinned: AtomicU64,
}

impl Enumeration {
    const fn new() -> Enumeration {
        Enumeration {
            pos: AtomicUsize::new(0),
            pinned: AtomicU64::new(0),
        }
    }

    /// `setXXent`: start over, on the current snapshot.
    fn set(&self) -> c_int {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.end();
            if let Some(pin) = cache::acquire().and_then(cache::Held::pin) {
                // Another thread's setXXent may have pinned meanwhile
                // (only a program calling the module directly does that):
                // the pin it replaces is dropped, not leaked.
                let replaced = self.pinned.swap(pin.word(), Ordering::SeqCst);
                if let Some(old) = cache::Pin::from_word(replaced) {
                    cache::unpin(old);
                }
            }
        }));
        // Success even without a snapshot: getXXent_r reports UNAVAIL.
        NSS_STATUS_SUCCESS
    }

    /// `endXXent`: forget the position, let the pinned snapshot go.
    fn end(&self) {
        self.pos.store(0, Ordering::SeqCst);
        if let Some(pin) = cache::Pin::from_word(self.pinned.swap(0, Ordering::SeqCst)) {
            cache::unpin(pin);
        }
    }

    /// `getXXent_r`: the next record, from the pinned snapshot if any.
    /// `fetch` fills the answer for one index or returns `None` for a
    /// corrupt record (skipped). The position moves only past a delivered
    /// (or skipped) record, so after `ERANGE` glibc's retry gets the same
    /// one.
    fn next(
        &self,
        errnop: *mut c_int,
        count: impl Fn(&Snapshot<'_>) -> usize,
        mut fetch: impl FnMut(&Snapshot<'_>, usize) -> Option<Answer>,
    ) -> c_int {
        let answer = caught(|| {
            // A pin dropped meanwhile by another thread's endXXent: go on
            // from the current snapshot.
            let held = match cache::Pin::from_word(self.pinned.load(Ordering::SeqCst)) {
                Some(pin) => cache::pinned(pin).or_else(cache::acquire),
                None => cache::acquire(),
            };
            let Some(held) = held else {
                return Answer::Unavailable;
            };
            let Some(snap) = held.snapshot() else {
                return Answer::Unavailable;
            };
            let n = count(&snap);
            let mut i = self.pos.load(Ordering::SeqCst);
            while i < n {
                match fetch(&snap, i) {
                    Some(Answer::Range) => return Answer::Range,
                    Some(a) => {
                        self.pos.store(i + 1, Ordering::SeqCst);
                        return a;
                    }
                    None => i += 1,
                }
            }
            self.pos.store(i, Ordering::SeqCst);
            Answer::NotFound
        });
        status(answer, errnop)
    }
}

static PW_ENUM: Enumeration = Enumeration::new();
static GR_ENUM: Enumeration = Enumeration::new();

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_setpwent(_stayopen: c_int) -> c_int {
    PW_ENUM.set()
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_endpwent() -> c_int {
    let _ = catch_unwind(|| PW_ENUM.end());
    NSS_STATUS_SUCCESS
}

/// # Safety
/// As [`_nss_roster_getpwnam_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getpwent_r(
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if pwd.is_null() {
        return status(Answer::NotFound, errnop);
    }
    PW_ENUM.next(
        errnop,
        |snap| snap.user_count(),
        |snap, i| {
            let u = snap.user_at(i)?;
            // SAFETY: buf/buflen and pwd per glibc's contract.
            Some(fill_result(unsafe {
                fill::passwd(pwd, &u, &mut fill::Buf::new(buf, buflen))
            }))
        },
    )
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_setgrent(_stayopen: c_int) -> c_int {
    GR_ENUM.set()
}

#[unsafe(no_mangle)]
pub extern "C" fn _nss_roster_endgrent() -> c_int {
    let _ = catch_unwind(|| GR_ENUM.end());
    NSS_STATUS_SUCCESS
}

/// # Safety
/// As [`_nss_roster_getgrnam_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_getgrent_r(
    grp: *mut libc::group,
    buf: *mut c_char,
    buflen: libc::size_t,
    errnop: *mut c_int,
) -> c_int {
    if grp.is_null() {
        return status(Answer::NotFound, errnop);
    }
    GR_ENUM.next(
        errnop,
        |snap| snap.group_count(),
        |snap, i| {
            let g = snap.group_at(i)?;
            // SAFETY: buf/buflen and grp per glibc's contract.
            Some(fill_result(unsafe {
                fill::group(grp, &g, &mut fill::Buf::new(buf, buflen))
            }))
        },
    )
}

/// Adds the gids of the Roster groups listing `user` to glibc's array
/// `(*groupsp)[*start..]`, growing it with `realloc` (glibc frees it),
/// never past `limit` when `limit > 0`. Skips `group` (the primary gid,
/// already in the array) and gids already present.
///
/// # Safety
/// glibc's contract: `user` a C string; `start`, `size`, `groupsp` valid,
/// `*groupsp` a malloc'd array of `*size` gids of which `*start` are used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_roster_initgroups_dyn(
    user: *const c_char,
    group: libc::gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut libc::gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> c_int {
    if user.is_null() || start.is_null() || size.is_null() || groupsp.is_null() {
        return status(Answer::NotFound, errnop);
    }
    // SAFETY: non-null C string per glibc's contract.
    let user = unsafe { CStr::from_ptr(user) }.to_bytes();
    guarded(errnop, |snap| {
        let mut any = false;
        for gid in snap.groups_of(user) {
            any = true;
            // SAFETY: pointers per glibc's contract, checked non-null.
            match unsafe { add_gid(gid, group, start, size, groupsp, limit) } {
                Ok(true) => {}
                Ok(false) => break, // limit reached
                Err(a) => return a,
            }
        }
        if any { Answer::Found } else { Answer::NotFound }
    })
}

/// Appends `gid` unless present; `Ok(false)` once the array is at `limit`.
///
/// # Safety
/// As [`_nss_roster_initgroups_dyn`].
unsafe fn add_gid(
    gid: libc::gid_t,
    primary: libc::gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut libc::gid_t,
    limit: c_long,
) -> Result<bool, Answer> {
    if gid == primary {
        return Ok(true);
    }
    // SAFETY: per the contract; `used <= *size` entries are initialised.
    unsafe {
        let used = usize::try_from(*start).unwrap_or(0);
        let groups = *groupsp;
        if !groups.is_null() && std::slice::from_raw_parts(groups, used).contains(&gid) {
            return Ok(true);
        }
        if *start >= *size {
            if limit > 0 && *size >= limit {
                return Ok(false);
            }
            let mut new_size = (*size).max(1).saturating_mul(2);
            if limit > 0 {
                new_size = new_size.min(limit);
            }
            let bytes = usize::try_from(new_size)
                .ok()
                .and_then(|n| n.checked_mul(std::mem::size_of::<libc::gid_t>()))
                .ok_or(Answer::NoMemory)?;
            let grown = libc::realloc(groups.cast(), bytes).cast::<libc::gid_t>();
            if grown.is_null() {
                return Err(Answer::NoMemory);
            }
            *groupsp = grown;
            *size = new_size;
        }
        (*groupsp).add(used).write(gid);
        *start += 1;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// glibc serializes a process's set/get/endpwent; a program calling
    /// the module directly from several threads doesn't. Those calls race
    /// on one enumeration (and its pin) while the file is replaced: every
    /// answer must be a whole entry or a status, never a crash.
    #[test]
    fn unserialized_enumerations_while_the_file_is_replaced() {
        let (_exclusive, path) = cache::tests::exclusive();
        cache::tests::write(path, 1);
        let stop = Arc::new(AtomicBool::new(false));
        let walkers: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut entries = 0u64;
                    let mut buf = vec![0 as c_char; 1024];
                    while !stop.load(Ordering::SeqCst) {
                        _nss_roster_setpwent(0);
                        for _ in 0..8 {
                            // SAFETY: zeroed passwd is a valid out-parameter.
                            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
                            let mut errno = 0;
                            // SAFETY: pwd, buf and errno outlive the call.
                            let status = unsafe {
                                _nss_roster_getpwent_r(
                                    &mut pwd,
                                    buf.as_mut_ptr(),
                                    buf.len(),
                                    &mut errno,
                                )
                            };
                            match status {
                                NSS_STATUS_SUCCESS => {
                                    // SAFETY: on success pw_name points into buf.
                                    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
                                    assert!(name.to_bytes().starts_with(b"user"), "{name:?}");
                                    entries += 1;
                                }
                                NSS_STATUS_NOTFOUND | NSS_STATUS_UNAVAIL => {}
                                other => panic!("getpwent_r answered {other}"),
                            }
                        }
                        _nss_roster_endpwent();
                    }
                    entries
                })
            })
            .collect();
        let generation = cache::tests::replace_for(path, Duration::from_secs(2));
        stop.store(true, Ordering::SeqCst);
        let entries: u64 = walkers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(generation > 50, "the writer barely ran: {generation}");
        assert!(entries > 1000, "the walkers barely ran: {entries}");
    }
}
