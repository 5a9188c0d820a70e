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
//! At most one old mapping outlives a replacement per reader still copying
//! out of it. After a `fork` in the middle of a read the child can at
//! worst keep one mapping it never unmaps; if every slot ends up stuck,
//! each call maps the file privately instead.

use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst};

use roster_snapshot::mapped::{MappedFile, RawMapping};
use roster_snapshot::{DEFAULT_PATH_C as DEFAULT_PATH, HEADER_SIZE, Snapshot};
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
        Snapshot::parse(self.bytes()).ok()
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
pub fn acquire() -> Option<Held> {
    let path = path();
    let id = stat_path(path)?;
    if let Some((i, generation)) = current()
        && let Some(slot) = SLOTS.get(i)
        && slot.enter(generation, Admit::Current)
    {
        if slot.identity() == id {
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
    // The file opened may not be the one `stat` saw: `MappedFile::open`
    // checks the owner and mode again, on the descriptor it maps.
    let map = MappedFile::open(path, HEADER_SIZE, owner())?;
    let id = Identity::of(map.stat());
    let RawMapping { addr, len } = map.into_raw();
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
            .compare_exchange(FREE, IN_USE, SeqCst, SeqCst)
            .is_ok()
        {
            slot.addr.store(addr, SeqCst);
            slot.len.store(len, SeqCst);
            slot.set_identity(id);
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
            assert!(acquire().is_none(), "mode {loose:o}");
        }
        chmod(0o644);
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
            assert!(acquire().is_none(), "owned by uid 4242");
            // SAFETY: as above.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, 0);
            assert!(acquire().is_some());
        }
    }
}
