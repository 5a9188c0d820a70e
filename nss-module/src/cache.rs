//! The mapped snapshot, shared by every thread of the host process.
//!
//! Why no lock: a thread that holds a mutex when another thread calls
//! `fork` leaves it held forever in the child, and NSS runs in every
//! program that resolves a name (many of them fork). So the current
//! mapping lives in one of a few static slots, named by one atomic word
//! (`CURRENT`: slot and generation), and each slot keeps its generation,
//! a "retired" flag and its reader count together in one atomic word:
//!
//! * each mapping a slot holds gets a new generation number;
//! * a reader loads `CURRENT` and counts itself into the slot only if the
//!   slot still holds that generation and isn't retired (one
//!   compare-and-swap on the word), so a reader that was slow never counts
//!   itself into a later mapping of the same slot;
//! * a thread that finds a new file (by `stat`: device, inode, size, mtime
//!   differ from the slot's) maps it into a free slot, swaps it into
//!   `CURRENT` and sets the previous slot's retired flag;
//! * the mapping is unmapped by the one thread whose change of the word
//!   leaves it retired with no reader (the retirer, or the last reader to
//!   leave), so exactly once, and only after its last reader; then the
//!   slot is free again;
//! * an enumeration keeps one reference from `setXXent` to `endXXent` (a
//!   [`Pin`]: slot and generation); a call borrowing it counts itself in
//!   only while the slot holds that generation with a reference still
//!   counted, so a stale pin (dropped by another thread meanwhile) never
//!   reaches a freed or reused slot.
//!
//! When to look at the path (`stat`) at all: a lookup makes no system call
//! while the mapping is current. rosterd stores a "superseded" word in the
//! header of the file it replaces, before the rename
//! ([`roster_snapshot::write_atomically`]); a reader reads it through its
//! mapping (`MAP_SHARED`: the store shows there) and only when it is set
//! `stat`s the path and maps the new file. Two cases have no mark to see:
//!
//! * a file replaced by anyone but rosterd (a restore from a backup, an
//!   admin's `cp`), removed, or `chmod`ed/`chown`ed in place: every
//!   [`RECHECK_INTERVAL_MS`] the next lookup looks at the path anyway,
//!   timed with `CLOCK_MONOTONIC_COARSE`, which the vDSO serves without a
//!   system call (a few ns), and the coarse clocks never fall back to one
//!   even where the clock source can't be read from user space (some
//!   hypervisors), unlike `CLOCK_MONOTONIC`. A time bound rather than
//!   every N lookups: a process that looks up rarely (sshd between logins)
//!   would keep a stale file for hours on a count, a busy one would look
//!   more often than needed;
//! * a version 1 file (rosterd before the word): looked at on every call,
//!   as before.
//!
//! At most one old mapping outlives a replacement per reader still copying
//! out of it. After a `fork` in the middle of a read the child can at
//! worst keep one mapping it never unmaps; if every slot ends up stuck,
//! each call maps the file privately instead.

use std::ffi::{CStr, c_char};
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst,
};

use roster_snapshot::mapped::{MappedFile, RawMapping};
use roster_snapshot::{DEFAULT_PATH_C as DEFAULT_PATH, MIN_SIZE, SUPERSEDED_OFFSET, Snapshot};
/// Tests point the module elsewhere through this variable. It is read with
/// `secure_getenv`, so a setuid program (su, sudo, passwd) ignores it: a
/// local user can't feed it a forged snapshot.
const PATH_VAR: &CStr = c"ROSTER_NSS_CACHE";
/// The snapshot must be owned by root and writable by nobody else
/// ([`roster_snapshot::trusted_file`]); tests that write it as another
/// uid name that uid here. Read with `secure_getenv` too: a setuid
/// program always wants root's file.
const OWNER_VAR: &CStr = c"ROSTER_NSS_CACHE_OWNER";

unsafe extern "C" {
    // glibc ≥ 2.17; the libc crate doesn't declare it for Linux.
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

const SLOT_COUNT: usize = 8;

/// How long a mapping is believed without looking at the path when no
/// "superseded" mark says it was replaced (see the module comment): a
/// replacement nobody marked, a removed file or a mode change in place
/// shows within this time.
pub(crate) const RECHECK_INTERVAL_MS: u64 = 1000;

/// When (milliseconds of `CLOCK_MONOTONIC_COARSE`) a lookup next looks at
/// the path even without a mark. Shared by every slot: it only says when
/// to look, any thread that looked pushes it on.
static NEXT_LOOK_MS: AtomicU64 = AtomicU64::new(0);

/// `Slot::state`: whether a loader may take the slot.
const FREE: u8 = 0;
const IN_USE: u8 = 1;

/// `Slot::word`: the reader count in the low 32 bits, the retired flag
/// above it, the generation in the rest.
const COUNT_MASK: u64 = 0xFFFF_FFFF;
const RETIRED: u64 = 1 << 32;
const GENERATION_SHIFT: u32 = 33;
/// Generations run 1..=GENERATION_MAX and wrap; 0 is "never loaded".
const GENERATION_MAX: u64 = (1 << (64 - GENERATION_SHIFT)) - 1;

fn generation_of(word: u64) -> u64 {
    word >> GENERATION_SHIFT
}

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
    /// Generation, retired flag and reader count (see `COUNT_MASK`).
    word: AtomicU64,
    // Written by the loader before it publishes the generation, unchanged
    // until the slot is free again.
    addr: AtomicUsize,
    len: AtomicUsize,
    dev: AtomicU64,
    ino: AtomicU64,
    size: AtomicI64,
    mtime: AtomicI64,
    mtime_nsec: AtomicI64,
    /// Whether the file has a "superseded" word to watch (format version
    /// 2 and later; the mapping is then at least `HEADER_SIZE` long).
    watchable: AtomicBool,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            word: AtomicU64::new(0),
            addr: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            size: AtomicI64::new(0),
            mtime: AtomicI64::new(0),
            mtime_nsec: AtomicI64::new(0),
            watchable: AtomicBool::new(false),
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

    /// Counts a reader in if the slot still holds `generation` and `admit`
    /// lets it in. Once in, the mapping stays until the matching
    /// [`release`].
    fn enter(&self, generation: u64, admit: Admit) -> bool {
        let mut word = self.word.load(SeqCst);
        loop {
            let count = word & COUNT_MASK;
            let admitted = match admit {
                Admit::Current => word & RETIRED == 0,
                // A pin is a counted reference: while it lasts the count
                // is at least 1 and the mapping stays, retired or not.
                Admit::Pinned => count >= 1,
            };
            if generation_of(word) != generation || !admitted || count == COUNT_MASK {
                return false;
            }
            match self
                .word
                .compare_exchange_weak(word, word + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Unmaps the slot's mapping and frees the slot. Called by exactly one
    /// thread per generation: the one that left it retired and unread.
    fn unmap_and_free(&self) {
        unmap(self.addr.load(SeqCst), self.len.load(SeqCst));
        self.state.store(FREE, SeqCst);
    }
}

/// Who may count themselves into a slot (see [`Slot::enter`]).
#[derive(Clone, Copy)]
enum Admit {
    /// A reader that found the slot in `CURRENT`: only while unretired.
    Current,
    /// A reader borrowing a pin's reference: only while a reference is
    /// held, so never after the pin is dropped and the slot freed.
    Pinned,
}

static SLOTS: [Slot; SLOT_COUNT] = [const { Slot::new() }; SLOT_COUNT];
/// The current mapping: `generation << 8 | (slot index + 1)`; 0 = none yet.
static CURRENT: AtomicU64 = AtomicU64::new(0);
static LAST_GENERATION: AtomicU64 = AtomicU64::new(0);

fn current() -> Option<(usize, u64)> {
    slot_and_generation(CURRENT.load(SeqCst))
}

/// `generation << 8 | (slot index + 1)`, the form of `CURRENT` and of a
/// [`Pin`]; 0 names nothing.
fn slot_and_generation(word: u64) -> Option<(usize, u64)> {
    let index = usize::try_from(word & 0xFF).ok()?.checked_sub(1)?;
    Some((index, word >> 8))
}

fn name_slot(index: usize, generation: u64) -> u64 {
    generation << 8 | u64::try_from(index + 1).unwrap_or(0)
}

fn next_generation() -> u64 {
    LAST_GENERATION.fetch_add(1, SeqCst) % GENERATION_MAX + 1
}

/// A mapping held for the length of one NSS call.
pub struct Held {
    addr: usize,
    len: usize,
    /// `Some(i)`: a reader counted into slot `i`, released on drop.
    /// `None`: a private mapping (no free slot), unmapped on drop.
    slot: Option<usize>,
}

impl Held {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `addr..addr+len` is a live PROT_READ mapping for as long
        // as this Held exists: a slot's mapping is unmapped only once the
        // slot is retired and its reader count (which includes us) is
        // zero, and a private one only in our own drop. `len` > 0
        // (checked before mmap).
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }

    pub fn snapshot(&self) -> Option<Snapshot<'_>> {
        // Every mapping handed out passed the full `Snapshot::parse` in
        // `load`, and its bytes don't change (rosterd only ever stores the
        // superseded word, outside the checksum): the header checksum
        // isn't hashed again on every lookup.
        Snapshot::parse_prechecked(self.bytes()).ok()
    }
}

/// A reference kept past the call that took it, naming its slot and the
/// generation it holds there. It travels as a `u64` ([`Pin::word`]) so an
/// enumeration can keep it in one atomic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin(u64);

impl Pin {
    /// The pin as one nonzero word.
    pub fn word(self) -> u64 {
        self.0
    }

    /// The pin a [`Pin::word`] came from; `None` for 0.
    pub fn from_word(word: u64) -> Option<Pin> {
        slot_and_generation(word).map(|_| Pin(word))
    }
}

impl Held {
    /// Keeps this reference past the call (an enumeration holds one from
    /// `setXXent` to `endXXent`, so it walks one snapshot from start to
    /// end and pays no `stat` per entry). `None` for a private mapping,
    /// which is dropped instead. Undo with [`unpin`], exactly once.
    pub fn pin(self) -> Option<Pin> {
        let i = self.slot?;
        let slot = SLOTS.get(i)?;
        // Our reference keeps the generation from changing under us.
        let generation = generation_of(slot.word.load(SeqCst));
        std::mem::forget(self);
        Some(Pin(name_slot(i, generation)))
    }
}

/// Another reference to a pinned mapping, for one call; `None` once the
/// pin has been dropped (by another thread: glibc serializes a process's
/// own enumeration calls, a program calling the module directly may not),
/// even if its slot has been reused for a newer mapping since.
pub fn pinned(pin: Pin) -> Option<Held> {
    let (i, generation) = slot_and_generation(pin.0)?;
    let slot = SLOTS.get(i)?;
    if !slot.enter(generation, Admit::Pinned) {
        return None;
    }
    Some(Held {
        addr: slot.addr.load(SeqCst),
        len: slot.len.load(SeqCst),
        slot: Some(i),
    })
}

/// Drops the reference taken by [`Held::pin`].
pub fn unpin(pin: Pin) {
    if let Some((i, _)) = slot_and_generation(pin.0) {
        release(i);
    }
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
    unsafe { RawMapping { addr, len }.unmap() }
}

/// A reader leaves; the last one out of a retired slot unmaps it.
fn release(i: usize) {
    let Some(slot) = SLOTS.get(i) else { return };
    let before = slot.word.fetch_sub(1, SeqCst);
    if before & RETIRED != 0 && before & COUNT_MASK == 1 {
        slot.unmap_and_free();
    }
}

/// Marks a slot no longer current; unmapped now if nobody reads it.
fn retire(i: usize) {
    let Some(slot) = SLOTS.get(i) else { return };
    let before = slot.word.fetch_or(RETIRED, SeqCst);
    if before & COUNT_MASK == 0 {
        slot.unmap_and_free();
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

/// The uid the snapshot must belong to: root, or `ROSTER_NSS_CACHE_OWNER`
/// in a test. A value that isn't a uid leaves it root.
fn owner() -> u32 {
    // SAFETY: as in `path`.
    let value = unsafe {
        let p = secure_getenv(OWNER_VAR.as_ptr());
        if p.is_null() {
            return 0;
        }
        CStr::from_ptr(p)
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether the file `st` describes may be believed (owner and mode).
fn trusted(st: &libc::stat) -> bool {
    roster_snapshot::trusted_file(st.st_uid, st.st_mode, owner())
}

/// The file at `path`, if there is one we may believe.
fn stat_path(path: &CStr) -> Option<Identity> {
    #[cfg(test)]
    tests::PATH_LOOKS.fetch_add(1, SeqCst);
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: path is NUL-terminated; st is written by stat on success.
    let st = unsafe {
        if libc::stat(path.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    // Checked on every call, not only at load: a chmod or chown keeps
    // the identity, and a mapping already held must stop answering too.
    trusted(&st).then(|| Identity::of(&st))
}

/// The current snapshot, mapped and with a valid header; `None` when the
/// file is missing, unreadable, not a usable snapshot, or not one we may
/// believe (not owned by root, or writable by group or others).
///
/// No system call while the mapping is current and no mark or re-check
/// is due (see the module comment): one compare-and-swap in, a load of the
/// mapping's superseded word and a vDSO clock read.
pub fn acquire() -> Option<Held> {
    if let Some((i, generation)) = current()
        && let Some(slot) = SLOTS.get(i)
        && slot.enter(generation, Admit::Current)
    {
        let held = Held {
            addr: slot.addr.load(SeqCst),
            len: slot.len.load(SeqCst),
            slot: Some(i),
        };
        if !must_look(slot, &held) {
            return Some(held);
        }
        let path = path();
        // Owner and mode are checked on every look, not only at load: a
        // chmod or chown keeps the identity, and a mapping already held
        // must stop answering too. `held` is released on the way out.
        let id = stat_path(path)?;
        if slot.identity() == id {
            look_again_later();
            return Some(held);
        }
        drop(held);
        return load(path);
    }
    load(path())
}

/// Whether this lookup must look at the path: the file says it was
/// superseded, it has no word to say so (version 1), or the re-check is
/// due.
fn must_look(slot: &Slot, held: &Held) -> bool {
    if !slot.watchable.load(SeqCst) {
        return true;
    }
    superseded(held) || now_ms() >= NEXT_LOOK_MS.load(Relaxed)
}

/// Reads the mapping's superseded word. Any nonzero value counts: rosterd
/// stores a word whose every byte is nonzero, so a store seen half done
/// still reads as superseded.
fn superseded(held: &Held) -> bool {
    let at = held.addr.saturating_add(SUPERSEDED_OFFSET);
    if held.len < SUPERSEDED_OFFSET + 8 || !at.is_multiple_of(std::mem::align_of::<u64>()) {
        return true;
    }
    // SAFETY: inside the live mapping `held` counts itself into (checked
    // just above), 8-byte aligned (the mapping is page-aligned and the
    // offset a multiple of 8). Volatile: rosterd changes this word in the
    // file under the mapping, and every lookup must read it afresh.
    unsafe { std::ptr::read_volatile(at as *const u64) != 0 }
}

fn look_again_later() {
    NEXT_LOOK_MS.store(now_ms().saturating_add(RECHECK_INTERVAL_MS), Relaxed);
}

/// `CLOCK_MONOTONIC_COARSE` in milliseconds (the vDSO's, no system call);
/// `u64::MAX` if it can't be read, so that a lookup looks at the path.
fn now_ms() -> u64 {
    #[cfg(test)]
    {
        let fake = tests::FAKE_NOW_MS.load(SeqCst);
        if fake != 0 {
            return fake;
        }
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
        return u64::MAX;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let millis = u64::try_from(ts.tv_nsec / 1_000_000).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(millis)
}

/// Maps the file at `path` and, if it is a valid snapshot, publishes it.
fn load(path: &CStr) -> Option<Held> {
    #[cfg(test)]
    tests::PATH_LOOKS.fetch_add(1, SeqCst);
    // The file opened is checked (owner, mode, a regular file) on the
    // descriptor `MappedFile::open` maps.
    let map = MappedFile::open(path, MIN_SIZE, owner())?;
    let id = Identity::of(map.stat());
    let RawMapping { addr, len } = map.into_raw();
    let private = Held {
        addr,
        len,
        slot: None,
    };
    // A corrupt or foreign file is never published; dropping `private`
    // unmaps it. The one full check (header checksum too) of this mapping.
    let watchable = Snapshot::parse(private.bytes()).ok()?.has_superseded_word();
    look_again_later();

    for (i, slot) in SLOTS.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, IN_USE, SeqCst, SeqCst)
            .is_ok()
        {
            slot.addr.store(addr, SeqCst);
            slot.len.store(len, SeqCst);
            slot.set_identity(id);
            slot.watchable.store(watchable, SeqCst);
            let generation = next_generation();
            // One reader counted in: ourselves, before anyone can see it.
            slot.word.store(generation << GENERATION_SHIFT | 1, SeqCst);
            std::mem::forget(private);
            let previous = CURRENT.swap(name_slot(i, generation), SeqCst);
            if let Some((p, _)) = slot_and_generation(previous) {
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use roster_snapshot::{SnapshotUser, encode, write_atomically};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::time::{Duration, Instant};

    /// Every look at the path (`stat` of it, or the open + `fstat` +
    /// `mmap` of a load): what a lookup must not do while its mapping is
    /// current.
    pub(crate) static PATH_LOOKS: AtomicU64 = AtomicU64::new(0);
    /// A frozen `CLOCK_MONOTONIC_COARSE` for the tests of the re-check
    /// (0: the real clock), so they don't depend on timing.
    pub(crate) static FAKE_NOW_MS: AtomicU64 = AtomicU64::new(0);

    /// Freezes the module's clock until dropped.
    struct FrozenClock;
    impl FrozenClock {
        fn at(ms: u64) -> FrozenClock {
            FAKE_NOW_MS.store(ms, SeqCst);
            NEXT_LOOK_MS.store(0, SeqCst);
            FrozenClock
        }
        fn advance(&self, ms: u64) {
            FAKE_NOW_MS.fetch_add(ms, SeqCst);
        }
    }
    impl Drop for FrozenClock {
        fn drop(&mut self) {
            FAKE_NOW_MS.store(0, SeqCst);
            NEXT_LOOK_MS.store(0, SeqCst);
        }
    }

    /// Makes the next lookup's re-check due: a mode or owner change in
    /// place has no mark and shows at the re-check (the module comment).
    fn recheck_now() {
        NEXT_LOOK_MS.store(0, SeqCst);
    }

    /// The generation of the snapshot `acquire` answers from.
    fn generation_now() -> Option<u64> {
        Some(acquire()?.snapshot()?.generation())
    }

    /// The snapshot path every test here uses, and a lock held for the
    /// whole test: the slots are process-wide, and the path comes from
    /// the environment, set once, before any test reads it.
    pub(crate) fn exclusive() -> (MutexGuard<'static, ()>, &'static Path) {
        static LOCK: Mutex<()> = Mutex::new(());
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let path = PATH.get_or_init(|| {
            // tmpfs when there is one: fsync is free there, so
            // replacements come fast enough to recycle the slots many
            // times a second.
            let base = ["/dev/shm", "/tmp"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_dir())
                .unwrap();
            let dir = base.join(format!("nss-roster-cache-test.{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("nss.cache");
            // SAFETY: under the lock, before any test of this binary has
            // read it; no other test here touches the environment.
            unsafe {
                std::env::set_var("ROSTER_NSS_CACHE", &path);
                // The files are ours, whoever runs the tests.
                std::env::set_var("ROSTER_NSS_CACHE_OWNER", libc::geteuid().to_string());
            }
            path
        });
        (guard, path)
    }

    /// The reader count of the slot `pin` names.
    fn readers_of(pin: Pin) -> u64 {
        let (i, _) = slot_and_generation(pin.word()).unwrap();
        SLOTS[i].word.load(SeqCst) & COUNT_MASK
    }

    /// Replaces the snapshot at `path` (written at generation 1) with
    /// generations 2, 3, … for `duration`; answers the last generation.
    pub(crate) fn replace_for(path: &Path, duration: Duration) -> u64 {
        let started = Instant::now();
        let mut generation = 1;
        while started.elapsed() < duration {
            generation += 1;
            write(path, generation);
        }
        generation
    }

    pub(crate) fn write(path: &Path, generation: u64) {
        let users: Vec<SnapshotUser> = (0..64)
            .map(|i| SnapshotUser {
                name: format!("user{i}"),
                uid: 0x7000_0001 + i,
                gid: 0x7000_0001 + i,
                gecos: format!("generation {generation}"),
                home: format!("/home/user{i}"),
                shell: "/bin/sh".into(),
            })
            .collect();
        write_atomically(path, &encode(generation, &users, &[]).unwrap()).unwrap();
    }

    /// Threads read while the file is replaced as fast as it can be: a
    /// mapping unmapped under a reader crashes this test (SIGSEGV), and
    /// every answer must be one whole snapshot.
    #[test]
    fn a_mapping_outlives_every_reader_while_the_file_is_replaced() {
        let (_exclusive, path) = exclusive();
        write(path, 1);

        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(SeqCst) {
                        let held = acquire().expect("a snapshot is always there");
                        let snap = held.snapshot().expect("a whole snapshot");
                        let first = snap.user_by_uid(0x7000_0001).expect("user0");
                        let last = snap.user_by_uid(0x7000_0001 + 63).expect("user63");
                        assert_eq!(first.gecos(), last.gecos(), "one generation per answer");
                        // Touch every byte of the mapping.
                        let sum = held.bytes().iter().fold(0u8, |a, b| a.wrapping_add(*b));
                        std::hint::black_box(sum);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let generation = replace_for(path, Duration::from_secs(3));
        stop.store(true, SeqCst);
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(generation > 100, "the writer barely ran: {generation}");
        assert!(reads > 1000, "the readers barely ran: {reads}");
    }

    /// A pin keeps its mapping through replacements; once dropped, a late
    /// reader holding the stale pin gets nothing, and counts itself into
    /// nothing, even after the slot has been reused for a newer mapping.
    #[test]
    fn a_dropped_pin_lets_no_reader_in() {
        let (_exclusive, path) = exclusive();
        write(path, 1000);
        let pin = acquire().unwrap().pin().unwrap();
        assert_eq!(readers_of(pin), 1);
        write(path, 1001);
        let newer = acquire().unwrap();
        assert_eq!(
            newer
                .snapshot()
                .unwrap()
                .user_by_uid(0x7000_0001)
                .unwrap()
                .gecos(),
            b"generation 1001"
        );
        // The pinned, now retired, mapping still answers.
        let through_pin = pinned(pin).unwrap();
        let gecos = through_pin
            .snapshot()
            .unwrap()
            .user_by_uid(0x7000_0001)
            .unwrap()
            .gecos()
            .to_owned();
        assert_eq!(gecos, b"generation 1000");
        assert_eq!(readers_of(pin), 2);
        drop(through_pin);
        drop(newer);
        unpin(pin);
        // Retired and unread: unmapped, the slot free.
        assert!(pinned(pin).is_none());
        // Replace the file until the pinned slot holds a newer mapping.
        let (i, pinned_generation) = slot_and_generation(pin.word()).unwrap();
        let reused = || {
            SLOTS[i].state.load(SeqCst) != FREE
                && generation_of(SLOTS[i].word.load(SeqCst)) != pinned_generation
        };
        let mut generation = 1002;
        while !reused() {
            assert!(generation < 1100, "slot {i} was never reused");
            write(path, generation);
            drop(acquire().unwrap());
            generation += 1;
        }
        let before = SLOTS[i].word.load(SeqCst);
        assert!(pinned(pin).is_none(), "a stale pin entered a newer mapping");
        assert_eq!(SLOTS[i].word.load(SeqCst), before);
        // A pin dropped while its slot is still current: nobody enters
        // through it either, and the current mapping is unaffected.
        let current_pin = acquire().unwrap().pin().unwrap();
        unpin(current_pin);
        assert!(pinned(current_pin).is_none());
        assert!(acquire().is_some());
    }

    /// A snapshot someone else could have written is refused like a
    /// missing one, even when its mapping is already held.
    #[test]
    fn a_snapshot_writable_by_others_or_owned_by_another_uid_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (_exclusive, path) = exclusive();
        let chmod =
            |mode| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        write(path, 2000);
        assert!(acquire().is_some());
        for loose in [0o666, 0o646, 0o664] {
            chmod(loose);
            recheck_now();
            assert!(acquire().is_none(), "mode {loose:o}");
        }
        chmod(0o644);
        recheck_now();
        assert!(acquire().is_some());
        // A new file, loose from the start, is never mapped either.
        write(path, 2001);
        chmod(0o666);
        assert!(acquire().is_none());
        chmod(0o644);
        assert!(acquire().is_some());

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 4242, 4242) }, 0);
            recheck_now();
            assert!(acquire().is_none(), "owned by uid 4242");
            // SAFETY: as above.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, 0);
            recheck_now();
            assert!(acquire().is_some());
        }
    }

    /// The file `write_atomically` would write, put in place by a plain
    /// rename: no superseded mark, like a replacement by anyone but
    /// rosterd.
    fn replace_unmarked(path: &Path, bytes: &[u8]) {
        let tmp = path.with_extension("unmarked");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn users_of(generation: u64) -> Vec<SnapshotUser> {
        (0..8)
            .map(|i| SnapshotUser {
                name: format!("user{i}"),
                uid: 0x7000_0001 + i,
                gid: 0x7000_0001 + i,
                gecos: format!("generation {generation}"),
                home: format!("/home/user{i}"),
                shell: "/bin/sh".into(),
            })
            .collect()
    }

    /// A lookup on a current mapping looks at the path not once (no
    /// `stat`, no open): rosterd's mark on the file it replaces is what
    /// sends the next lookup to the path, which then finds the new file.
    #[test]
    fn a_superseded_file_is_noticed_with_no_stat_per_lookup() {
        let (_exclusive, path) = exclusive();
        let _clock = FrozenClock::at(1_000_000);
        write(path, 3000);
        assert_eq!(generation_now(), Some(3000));
        let looks = PATH_LOOKS.load(SeqCst);
        for _ in 0..10_000 {
            assert_eq!(generation_now(), Some(3000));
        }
        assert_eq!(
            PATH_LOOKS.load(SeqCst),
            looks,
            "a lookup looked at the path"
        );

        // Marked by write_atomically before its rename: the very next
        // lookup answers from the new file.
        write(path, 3001);
        assert_eq!(generation_now(), Some(3001));
        // One stat that saw a new inode, one load.
        assert_eq!(PATH_LOOKS.load(SeqCst), looks + 2);
        let looks = PATH_LOOKS.load(SeqCst);
        for _ in 0..10_000 {
            assert_eq!(generation_now(), Some(3001));
        }
        assert_eq!(PATH_LOOKS.load(SeqCst), looks);

        // A marked file still at the path (a writer that died between its
        // mark and its rename): answered from, with a stat per lookup
        // (and one reload: the mark's write moved the file's mtime), until
        // a new file comes.
        roster_snapshot::mark_superseded(path).unwrap();
        let looks = PATH_LOOKS.load(SeqCst);
        for _ in 0..10 {
            assert_eq!(generation_now(), Some(3001));
        }
        let looked = PATH_LOOKS.load(SeqCst) - looks;
        assert!((10..=11).contains(&looked), "{looked} looks for 10 lookups");
        write(path, 3002);
        assert_eq!(generation_now(), Some(3002));
    }

    /// A file replaced without the mark (a writer that died before
    /// marking, or anyone but rosterd) is found by the bounded re-check:
    /// not before the interval (no stat per lookup), at the first lookup
    /// after it. So is a file removed.
    #[test]
    fn a_replacement_nobody_marked_is_found_at_the_next_recheck() {
        let (_exclusive, path) = exclusive();
        let clock = FrozenClock::at(2_000_000);
        write(path, 4000);
        assert_eq!(generation_now(), Some(4000));
        replace_unmarked(path, &encode(4001, &users_of(4001), &[]).unwrap());
        let looks = PATH_LOOKS.load(SeqCst);
        clock.advance(RECHECK_INTERVAL_MS - 1);
        for _ in 0..1000 {
            assert_eq!(generation_now(), Some(4000), "the mapping held");
        }
        assert_eq!(PATH_LOOKS.load(SeqCst), looks);
        clock.advance(1);
        assert_eq!(generation_now(), Some(4001));
        assert_eq!(PATH_LOOKS.load(SeqCst), looks + 2);
        // And the new mapping is believed for another interval.
        for _ in 0..1000 {
            assert_eq!(generation_now(), Some(4001));
        }
        assert_eq!(PATH_LOOKS.load(SeqCst), looks + 2);

        // Removed: still answered until the re-check, none after it.
        std::fs::remove_file(path).unwrap();
        assert_eq!(generation_now(), Some(4001));
        clock.advance(RECHECK_INTERVAL_MS);
        assert_eq!(generation_now(), None);
        write(path, 4002);
        assert_eq!(generation_now(), Some(4002));
    }

    /// A version 1 file (rosterd before the superseded word and the
    /// indexes) is read, and, having no word to watch, looked at on every
    /// lookup as before: a replacement shows at once, marked or not.
    #[test]
    fn a_version_1_file_is_read_and_looked_at_on_every_lookup() {
        let (_exclusive, path) = exclusive();
        let _clock = FrozenClock::at(3_000_000);
        write_atomically(
            path,
            &roster_snapshot::encode_v1(5000, &users_of(5000), &[]).unwrap(),
        )
        .unwrap();
        let held = acquire().unwrap();
        let snap = held.snapshot().unwrap();
        assert_eq!((snap.version(), snap.generation()), (1, 5000));
        assert_eq!(snap.user_by_name(b"user7").unwrap().uid(), 0x7000_0008);
        drop(held);
        let looks = PATH_LOOKS.load(SeqCst);
        for _ in 0..100 {
            assert_eq!(generation_now(), Some(5000));
        }
        assert_eq!(PATH_LOOKS.load(SeqCst), looks + 100);
        replace_unmarked(
            path,
            &roster_snapshot::encode_v1(5001, &users_of(5001), &[]).unwrap(),
        );
        assert_eq!(generation_now(), Some(5001));
        // Replaced by a version 2 file: read, and watched from then on.
        write(path, 5002);
        assert_eq!(generation_now(), Some(5002));
        let looks = PATH_LOOKS.load(SeqCst);
        for _ in 0..100 {
            assert_eq!(generation_now(), Some(5002));
        }
        assert_eq!(PATH_LOOKS.load(SeqCst), looks);
    }

    /// A file of a format version this module doesn't know, or with a
    /// corrupt index, is never mapped into a slot: no snapshot, which the
    /// exports answer as `NSS_STATUS_UNAVAIL`.
    #[test]
    fn an_unknown_version_or_a_corrupt_index_gives_no_snapshot() {
        let (_exclusive, path) = exclusive();
        let _clock = FrozenClock::at(4_000_000);
        let good = encode(6000, &users_of(6000), &[]).unwrap();
        let mut newer = good.clone();
        newer[8] = 3;
        write_atomically(path, &newer).unwrap();
        assert!(acquire().is_none());
        // An index size the file can't hold (the checksum resealed would
        // not help: sizes are checked, not trusted).
        let mut bad_index = good.clone();
        bad_index[56..60].copy_from_slice(&3u32.to_le_bytes());
        write_atomically(path, &bad_index).unwrap();
        assert!(acquire().is_none());
        // Truncated in the middle of its indexes.
        write_atomically(path, &good[..good.len() - 100]).unwrap();
        assert!(acquire().is_none());
        write_atomically(path, &good).unwrap();
        assert_eq!(generation_now(), Some(6000));
    }
}
