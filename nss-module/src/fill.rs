//! Copying an answer into glibc's `struct passwd`/`struct group` and the
//! caller's buffer: the only place that writes through caller pointers.
//!
//! Every string is copied (never a pointer into the mapping: the mapping
//! may be gone by the time the caller reads the answer) and NUL-terminated.
//! Nothing is written to the struct unless the whole answer fits, so an
//! `ERANGE` leaves the caller's struct as it was.

use std::ffi::c_char;

use roster_snapshot::{GroupRef, UserRef};

/// The buffer was too small: the caller retries with a larger one.
#[derive(Debug)]
pub struct Range;

/// What `pw_passwd`/`gr_passwd` always say: not empty (pam_unix's
/// `nullok` would accept an empty password) and not `x` (pam_unix's
/// account check would look for a shadow entry and refuse).
const NO_PASSWORD: &[u8] = b"*";

/// A bump allocator over the caller's buffer.
pub struct Buf {
    ptr: *mut u8,
    cap: usize,
    used: usize,
}

impl Buf {
    /// # Safety
    /// `ptr` must be null or valid for writes of `len` bytes for as long as
    /// the `Buf` is used.
    pub unsafe fn new(ptr: *mut c_char, len: usize) -> Buf {
        Buf {
            ptr: ptr.cast(),
            cap: if ptr.is_null() { 0 } else { len },
            used: 0,
        }
    }

    /// Reserves `n` bytes aligned to `align`; returns their start.
    fn reserve(&mut self, n: usize, align: usize) -> Result<*mut u8, Range> {
        let here = (self.ptr as usize).checked_add(self.used).ok_or(Range)?;
        let pad = (align - here % align) % align;
        let start = self.used.checked_add(pad).ok_or(Range)?;
        let end = start.checked_add(n).ok_or(Range)?;
        if end > self.cap {
            return Err(Range);
        }
        self.used = end;
        // SAFETY: start + n <= cap, inside the caller's buffer.
        Ok(unsafe { self.ptr.add(start) })
    }

    /// Copies `s` plus a terminating NUL; returns the C string.
    fn str(&mut self, s: &[u8]) -> Result<*mut c_char, Range> {
        let dst = self.reserve(s.len().checked_add(1).ok_or(Range)?, 1)?;
        // SAFETY: `dst` has room for s.len() + 1 bytes (reserved above) and
        // can't overlap `s`, which lies in the mapping or our own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), dst, s.len());
            dst.add(s.len()).write(0);
        }
        Ok(dst.cast())
    }
}

/// Fills `*pwd` from `user`, strings in `buf`.
///
/// # Safety
/// `pwd` must be valid for writes (checked non-null by the caller).
pub unsafe fn passwd(
    pwd: *mut libc::passwd,
    user: &UserRef<'_>,
    buf: &mut Buf,
) -> Result<(), Range> {
    let name = buf.str(user.name())?;
    let passwd = buf.str(NO_PASSWORD)?;
    let gecos = buf.str(user.gecos())?;
    let dir = buf.str(user.home())?;
    let shell = buf.str(user.shell())?;
    // SAFETY: per the function's contract.
    unsafe {
        (*pwd).pw_name = name;
        (*pwd).pw_passwd = passwd;
        (*pwd).pw_uid = user.uid();
        (*pwd).pw_gid = user.gid();
        (*pwd).pw_gecos = gecos;
        (*pwd).pw_dir = dir;
        (*pwd).pw_shell = shell;
    }
    Ok(())
}

/// Fills `*grp` from `group`: the member pointer array (NULL-terminated,
/// pointer-aligned) and every string in `buf`.
///
/// # Safety
/// `grp` must be valid for writes (checked non-null by the caller).
pub unsafe fn group(
    grp: *mut libc::group,
    group: &GroupRef<'_>,
    buf: &mut Buf,
) -> Result<(), Range> {
    let slots = group.member_count().checked_add(1).ok_or(Range)?;
    let size = std::mem::size_of::<*mut c_char>();
    let mem: *mut *mut c_char = buf
        .reserve(
            slots.checked_mul(size).ok_or(Range)?,
            std::mem::align_of::<*mut c_char>(),
        )?
        .cast();
    let name = buf.str(group.name())?;
    let passwd = buf.str(NO_PASSWORD)?;
    let mut n = 0usize;
    for m in group.members() {
        if n + 1 >= slots {
            break; // can't happen: members() yields member_count() items
        }
        let s = buf.str(m)?;
        // SAFETY: n < slots - 1, inside the aligned array reserved above.
        unsafe { mem.add(n).write(s) };
        n += 1;
    }
    // SAFETY: n < slots; the array and `grp` are valid for writes.
    unsafe {
        mem.add(n).write(std::ptr::null_mut());
        (*grp).gr_name = name;
        (*grp).gr_passwd = passwd;
        (*grp).gr_gid = group.gid();
        (*grp).gr_mem = mem;
    }
    Ok(())
}
