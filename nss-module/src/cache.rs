//! The mapped snapshot, shared by every thread of the host process.
//!
//! Why no lock: a thread that holds a mutex when another thread calls
//! `fork` leaves it held forever in the child, and NSS runs in every
//! program that resolves a name (many of them fork). So the current
//! mapping lives in one of a few static slots, named by one atomic index,
//! and each slot counts its readers:
//!
//! * a reader loads `CURRENT`, increments the slot's reader count, then
//!   checks that `CURRENT` still names the slot; only then does it touch
//!   the mapping (else it backs off);
//! * a thread that finds a new file (by `stat`: device, inode, size, mtime
//!   differ from the slot's) maps it into a free slot, swaps it into
//!   `CURRENT` and retires the previous slot;
//! * a retired slot is unmapped by whoever sees its reader count reach
//!   zero afterwards (the retirer or the last reader), exactly once, and
//!   then becomes free again.
//!
//! With sequentially consistent atomics this is safe: a reader whose
//! increment the retirer didn't see re-checks `CURRENT` after the swap and
//! backs off. At most one old mapping outlives a replacement, and only
//! while a reader is still copying out of it. After a `fork` in the middle
//! of a read the child can at worst keep one mapping it never unmaps; if
//! every slot ends up stuck, each call maps the file privately instead.

use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst};

use roster_snapshot::{HEADER_SIZE, Snapshot};

/// Where rosterd writes the snapshot (DESIGN.md: `nss_cache`).
const DEFAULT_PATH: &CStr = c"/var/cache/roster/nss.cache";
/// Tests point the module elsewhere through this variable. It is read with
/// `secure_getenv`, so a setuid program (su, sudo, passwd) ignores it: a
/// local user can't feed it a forged snapshot.
const PATH_VAR: &CStr = c"ROSTER_NSS_CACHE";

unsafe extern "C" {
    // glibc ≥ 2.17; the libc crate doesn't declare it for Linux.
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

const SLOT_COUNT: usize = 8;

const FREE: u8 = 0;
const LOADING: u8 = 1;
const ACTIVE: u8 = 2;
const RETIRED: u8 = 3;
const UNMAPPING: u8 = 4;

/// Which file a mapping came from; a change in any field means "reload".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    fn of(st: &libc::stat) -> Identity {
        Identity {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
        }
    }
}

struct Slot {
    state: AtomicU8,
    readers: AtomicUsize,
    addr: AtomicUsize,
    len: AtomicUsize,
    dev: AtomicU64,
    ino: AtomicU64,
    size: AtomicI64,
    mtime: AtomicI64,
    mtime_nsec: AtomicI64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            readers: AtomicUsize::new(0),
            addr: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            size: AtomicI64::new(0),
            mtime: AtomicI64::new(0),
            mtime_nsec: AtomicI64::new(0),
        }
    }

    fn identity(&self) -> Identity {
        Identity {
            dev: self.dev.load(SeqCst),
            ino: self.ino.load(SeqCst),
            size: self.size.load(SeqCst),
            mtime: self.mtime.load(SeqCst),
            mtime_nsec: self.mtime_nsec.load(SeqCst),
        }
    }

    fn set_identity(&self, id: Identity) {
        self.dev.store(id.dev, SeqCst);
        self.ino.store(id.ino, SeqCst);
        self.size.store(id.size, SeqCst);
        self.mtime.store(id.mtime, SeqCst);
        self.mtime_nsec.store(id.mtime_nsec, SeqCst);
    }
}

static SLOTS: [Slot; SLOT_COUNT] = [const { Slot::new() }; SLOT_COUNT];
/// Index + 1 of the slot holding the current mapping; 0 = none yet.
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// A mapping held for the length of one NSS call.
pub struct Held {
    addr: usize,
    len: usize,
    /// `Some(i)`: slot `i`'s reader reference, dropped on drop. `None`: a
    /// private mapping (no free slot), unmapped on drop.
    slot: Option<usize>,
}

impl Held {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `addr..addr+len` is a live PROT_READ mapping for as long
        // as this Held exists: a slot mapping is unmapped only after its
        // reader count (which includes us) drops to zero, and a private
        // one only in our own drop. `len` > 0 (checked before mmap).
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }

    pub fn snapshot(&self) -> Option<Snapshot<'_>> {
        Snapshot::parse(self.bytes()).ok()
    }
}

impl Held {
    /// Keeps this reference past the call (an enumeration holds one from
    /// `setXXent` to `endXXent`, so it walks one snapshot from start to
    /// end and pays no `stat` per entry). `None` for a private mapping,
    /// which is dropped instead. Undo with [`unpin`].
    pub fn pin(self) -> Option<usize> {
        let slot = self.slot?;
        std::mem::forget(self);
        Some(slot)
    }
}

/// Another reference to a pinned slot, for one call. The pin keeps the
/// slot mapped and its fields unchanged, so no re-check is needed.
pub fn pinned(i: usize) -> Option<Held> {
    let slot = SLOTS.get(i)?;
    slot.readers.fetch_add(1, SeqCst);
    Some(Held {
        addr: slot.addr.load(SeqCst),
        len: slot.len.load(SeqCst),
        slot: Some(i),
    })
}

/// Drops a reference taken by [`Held::pin`].
pub fn unpin(i: usize) {
    release(i);
}

impl Drop for Held {
    fn drop(&mut self) {
        match self.slot {
            Some(i) => release(i),
            None => unmap(self.addr, self.len),
        }
    }
}

fn unmap(addr: usize, len: usize) {
    // SAFETY: called exactly once per mapping, after its last reader.
    unsafe {
        libc::munmap(addr as *mut libc::c_void, len);
    }
}

fn release(i: usize) {
    let Some(slot) = SLOTS.get(i) else { return };
    if slot.readers.fetch_sub(1, SeqCst) == 1 && slot.state.load(SeqCst) == RETIRED {
        try_unmap(slot);
    }
}

fn retire(i: usize) {
    let Some(slot) = SLOTS.get(i) else { return };
    slot.state.store(RETIRED, SeqCst);
    if slot.readers.load(SeqCst) == 0 {
        try_unmap(slot);
    }
}

/// Unmaps a retired slot whose readers are gone; the state CAS makes sure
/// only one of the threads that noticed does it.
fn try_unmap(slot: &Slot) {
    if slot
        .state
        .compare_exchange(RETIRED, UNMAPPING, SeqCst, SeqCst)
        .is_ok()
    {
        unmap(slot.addr.load(SeqCst), slot.len.load(SeqCst));
        slot.state.store(FREE, SeqCst);
    }
}

fn path() -> &'static CStr {
    // SAFETY: secure_getenv returns NULL or a NUL-terminated string in
    // the environment block, which lives as long as nobody calls setenv /
    // putenv on this variable concurrently (the same contract every libc
    // caller of getenv has).
    unsafe {
        let p = secure_getenv(PATH_VAR.as_ptr());
        if p.is_null() || *p == 0 {
            DEFAULT_PATH
        } else {
            CStr::from_ptr(p)
        }
    }
}

fn stat_path(path: &CStr) -> Option<Identity> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: path is NUL-terminated; st is written by stat on success.
    unsafe {
        if libc::stat(path.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        Some(Identity::of(&st.assume_init()))
    }
}

/// The current snapshot, mapped and with a valid header; `None` when the
/// file is missing, unreadable or not a usable snapshot.
pub fn acquire() -> Option<Held> {
    let path = path();
    let id = stat_path(path)?;
    let cur = CURRENT.load(SeqCst);
    if let Some(i) = cur.checked_sub(1)
        && let Some(slot) = SLOTS.get(i)
    {
        slot.readers.fetch_add(1, SeqCst);
        // Re-check after announcing ourselves: only a slot still current
        // after our increment is guaranteed not to be unmapped under us.
        if CURRENT.load(SeqCst) == cur && slot.identity() == id {
            return Some(Held {
                addr: slot.addr.load(SeqCst),
                len: slot.len.load(SeqCst),
                slot: Some(i),
            });
        }
        release(i);
    }
    load(path)
}

/// Maps the file at `path` and, if it is a valid snapshot, publishes it.
fn load(path: &CStr) -> Option<Held> {
    // SAFETY: plain syscalls on a NUL-terminated path; the fd is closed on
    // every path; the mapping is either published or unmapped.
    let (addr, len, id) = unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
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
            Ok(n) if n >= HEADER_SIZE && (st.st_mode & libc::S_IFMT) == libc::S_IFREG => n,
            _ => {
                libc::close(fd);
                return None;
            }
        };
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        );
        libc::close(fd);
        if addr == libc::MAP_FAILED {
            return None;
        }
        (addr as usize, len, Identity::of(&st))
    };
    let private = Held {
        addr,
        len,
        slot: None,
    };
    // A corrupt or foreign file is never published; dropping `private`
    // unmaps it.
    private.snapshot()?;

    for (i, slot) in SLOTS.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, LOADING, SeqCst, SeqCst)
            .is_ok()
        {
            slot.addr.store(addr, SeqCst);
            slot.len.store(len, SeqCst);
            slot.set_identity(id);
            // Our own reference, taken before anyone can retire the slot.
            slot.readers.fetch_add(1, SeqCst);
            slot.state.store(ACTIVE, SeqCst);
            std::mem::forget(private);
            let prev = CURRENT.swap(i + 1, SeqCst);
            if let Some(p) = prev.checked_sub(1) {
                retire(p);
            }
            return Some(Held {
                addr,
                len,
                slot: Some(i),
            });
        }
    }
    // Every slot is busy (stuck readers inherited across fork): answer
    // from a private mapping for this call only.
    Some(private)
}
