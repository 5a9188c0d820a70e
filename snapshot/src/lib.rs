//! The public NSS snapshot: the file rosterd writes (default
//! `/var/cache/roster/nss.cache`, mode 0644) and `libnss_roster.so.2` and
//! `pam_roster.so` read.
//!
//! What it is for: one versioned, little-endian, fixed-layout file holding
//! the *public* fields of Roster's users and groups, laid out so that a
//! reader can answer `getpwnam`/`getpwuid`/`getgrnam`/`getgrgid` in O(1)
//! (hash indexes) and `initgroups` in O(log n), straight out of a
//! read-only `mmap`, without allocating and without trusting the file. What it is not for: secrets
//! (there are none in it; `pw_passwd`/`gr_passwd` are not even stored, the
//! NSS module always answers `*`), or anything rosterd needs to remember.
//!
//! This crate has no dependencies and no `unsafe` of its own: the NSS
//! module runs inside every process that resolves a user name, so the code
//! that reads an untrusted file there is plain bounds-checked Rust. The one
//! exception is opt-in: feature `mapped` (libc, which both modules link
//! anyway) adds [`mapped`], the read-only mapping both modules read the
//! file through, the only `unsafe` the readers need.
//!
//! Besides the format, two small rules the modules share live here because
//! this is the one crate every Roster program and both modules link, and it
//! links nothing: [`roster_uid_here`] ("is this a Roster user on this
//! host") and [`duration`] (how Roster writes a duration).
//!
//! # Where
//!
//! [`DEFAULT_PATH`]: rosterd's default `nss_cache`, where the NSS and PAM
//! modules look unless told otherwise.
//!
//! # Writing
//!
//! [`encode`] validates and serialises a full snapshot; [`write_atomically`]
//! puts the bytes in place through a temp file in the same directory,
//! `fsync`, `rename` and an `fsync` of the directory. A snapshot file is
//! never rewritten in place (the NSS module has it mapped, and truncating a
//! mapped file SIGBUSes every process that touches the lost pages), except
//! for the one word that says it is superseded (below).
//!
//! # Reading
//!
//! [`Snapshot::parse`] checks the header in O(1): magic, version, header
//! size, a header checksum, the index sizes, and that the sections the
//! counts imply add up to exactly the slice's length (so a truncated or
//! extended file is refused). Every record is then checked when it is
//! read: each string reference is resolved with `get(..)` against the
//! string section and must hold no NUL, newline or `:`; a record that
//! fails is treated as absent, and a hash index entry is believed only if
//! the record it names carries the key looked up (a corrupt index makes a
//! name absent, never another user). No input makes the reader panic or
//! read outside the slice. The body checksum is only checked by
//! [`Snapshot::verify_body`] (tools and tests): hashing a 100,000-user
//! file on the first lookup of every process would cost milliseconds,
//! while the bounds checks already make a corrupt body harmless.
//!
//! Both versions are read: version 1 (rosterd before the hash indexes) is
//! searched by bisection, version 2 through its indexes in O(1). Any other
//! version is refused ([`FormatError::UnsupportedVersion`]), never guessed.
//!
//! # Superseded
//!
//! A version 2 header ends with a word that is 0 while the file is the
//! current snapshot. Before [`write_atomically`] renames a new file over
//! an old version 2 one, it stores [`SUPERSEDED`] there (`pwrite` of one
//! aligned 8-byte word, the only byte rosterd ever changes in a file in
//! place: nothing is truncated or moved). A reader holding the old file
//! mapped (`MAP_SHARED`) sees the word change through its mapping and only
//! then looks at the path again: a lookup costs no system call. The word
//! is outside both checksums. Every byte of [`SUPERSEDED`] is nonzero, so
//! a reader that races the store and sees part of it still reads "not 0".
//!
//! # Layout (format version 2)
//!
//! All integers are little-endian. A string reference (`sref`) is 8 bytes:
//! `off: u32, len: u32`, relative to the start of the string section.
//!
//! ```text
//! header, 128 bytes
//!   0  magic          [u8; 8]  b"ROSTRNSS"
//!   8  version        u32      2
//!  12  header_size    u32      128
//!  16  generation     u64      bumped by rosterd on every write
//!  24  file_size      u64      the exact length of the file
//!  32  user_count     u32      U
//!  36  group_count    u32      G
//!  40  member_count   u32      M: sum of all groups' member counts
//!  44  strings_size   u32      S
//!  48  body_checksum  u64      FNV-1a 64 of bytes 128..file_size
//!  56  user_slots     u32      HU: 0 when U = 0, else a power of two > U
//!  60  group_slots    u32      HG: 0 when G = 0, else a power of two > G
//!  64  reserved       [u8; 48] zero
//! 112  header_check   u64      FNV-1a 64 of bytes 0..112
//! 120  superseded     u64      0; SUPERSEDED once a newer file replaces it
//! users        U x 40 bytes, sorted by uid:
//!              uid u32, gid u32, name sref, gecos sref, home sref, shell sref
//! user names   U x u32: indexes into users, sorted by the users' names
//! groups       G x 24 bytes, sorted by gid:
//!              gid u32, name sref, first_member u32, member_count u32, 0u32
//! group names  G x u32: indexes into groups, sorted by the groups' names
//! members      M x sref: each group's members, in the group's order
//!              (a group's members are members[first_member..+member_count])
//! memberships  M x 12 bytes, sorted by (member name, gid):
//!              member name sref, gid u32        (for initgroups)
//! uid index        HU x (key u32, user index + 1 u32)
//! user name index  HU x (key u32, user index + 1 u32)
//! gid index        HG x (key u32, group index + 1 u32)
//! group name index HG x (key u32, group index + 1 u32)
//! strings      S bytes, no terminators
//! ```
//!
//! The indexes are open-addressing hash tables with linear probing; an
//! entry of 0 is an empty slot and ends a probe. For an id the key is the
//! id and the first slot probed is `mix(id) >> 32 & (slots - 1)`; for a
//! name, with `h = mix(fnv1a64(name))`, the key is `h as u32` and the
//! first slot `h >> 32 & (slots - 1)` (`mix` is MurmurHash3's 64-bit
//! finalizer). At most half of a table is used, so a probe reads ~1.5
//! slots on average whatever the size.
//!
//! Version 1 is the same without the indexes, with a 64-byte header that
//! stops at `body_checksum` and has `header_check` (of bytes 0..56) at 56.
//!
//! Names are compared as raw bytes. The sections follow each other with no
//! padding, so their offsets are derived from the counts rather than
//! stored (fewer numbers to distrust).

// `deny`, not `forbid`: `mapped` (opt-in) allows it for the mapping alone.
#![deny(unsafe_code)]
// Beyond the workspace's lints: a malformed file must never index out of
// bounds (a panic inside getpwnam or sshd).
#![deny(clippy::indexing_slicing)]

pub mod duration;
#[cfg(feature = "mapped")]
pub mod mapped;

use std::ffi::CStr;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Where rosterd writes the snapshot unless `nss_cache` says otherwise,
/// and where the NSS module (and the PAM module, unless `snapshot=`) read
/// it, NUL-terminated for the NSS module's libc calls.
pub const DEFAULT_PATH_C: &CStr = c"/var/cache/roster/nss.cache";

/// [`DEFAULT_PATH_C`] as text, for configs and messages.
pub const DEFAULT_PATH: &str = match DEFAULT_PATH_C.to_str() {
    Ok(path) => path,
    // Evaluated at compile time: a non-UTF-8 literal fails the build.
    #[allow(clippy::panic)]
    Err(_) => panic!("the default snapshot path is not UTF-8"),
};

/// The first 8 bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"ROSTRNSS";
/// The layout version this crate writes (it reads this one and
/// [`OLDEST_READABLE_VERSION`]).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest layout version still read: version 1, without hash indexes,
/// as rosterd wrote it before them.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Size of the fixed header this crate writes (version 2).
pub const HEADER_SIZE: usize = 128;
/// Size of a version 1 header: no readable snapshot is shorter.
pub const MIN_SIZE: usize = HEADER_SIZE_V1;
const HEADER_SIZE_V1: usize = 64;
/// Where a version 2 header keeps its "superseded" word (8-byte aligned,
/// outside both checksums).
pub const SUPERSEDED_OFFSET: usize = 120;
/// What [`write_atomically`] stores at [`SUPERSEDED_OFFSET`] in the file
/// it replaces. Readers take any nonzero value to mean "superseded"; every
/// byte of this one is nonzero, so a reader that catches the store half
/// done still sees it.
pub const SUPERSEDED: u64 = u64::from_le_bytes(*b"SUPERSED");
/// Where the header checksum lives in a version 2 header (it covers the
/// bytes before it).
const HEADER_CHECK_AT: usize = 112;
const HEADER_CHECK_AT_V1: usize = 56;

const SREF: usize = 8;
const USER_REC: usize = 8 + 4 * SREF;
const GROUP_REC: usize = 4 + SREF + 12;
const MEMBERSHIP_REC: usize = SREF + 4;
const INDEX_REC: usize = 4;
/// One hash index slot: key u32, record index + 1 u32.
const SLOT_REC: usize = 8;

/// A user as the snapshot publishes it (public fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// A group as the snapshot publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotGroup {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Why [`encode`] refused its input. Nothing is written when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string holds a byte that would break `/etc/passwd`-style output
    /// (NUL, newline, `:`; also `,` in names, which separates group
    /// members), or a name is empty. `what` names the field, `value` is the
    /// offending string.
    InvalidString { what: &'static str, value: String },
    /// Two users share a name.
    DuplicateUserName(String),
    /// Two users share a uid.
    DuplicateUid(u32),
    /// Two groups share a name.
    DuplicateGroupName(String),
    /// Two groups share a gid.
    DuplicateGid(u32),
    /// A group lists the same member twice.
    DuplicateMember { group: String, member: String },
    /// The snapshot would not fit the format's 32-bit counts and offsets.
    TooLarge,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::InvalidString { what, value } => write!(
                f,
                "{what} {value:?} can't go in the NSS snapshot (empty name, or NUL, newline, ':' or a ',' in a name)"
            ),
            EncodeError::DuplicateUserName(n) => write!(f, "user name {n:?} appears twice"),
            EncodeError::DuplicateUid(u) => write!(f, "uid {u} appears twice"),
            EncodeError::DuplicateGroupName(n) => write!(f, "group name {n:?} appears twice"),
            EncodeError::DuplicateGid(g) => write!(f, "gid {g} appears twice"),
            EncodeError::DuplicateMember { group, member } => {
                write!(f, "group {group:?} lists member {member:?} twice")
            }
            EncodeError::TooLarge => {
                write!(f, "the snapshot is larger than the format allows (4 GiB)")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why [`Snapshot::parse`] refused a file. Every variant means "this file
/// is unusable"; the NSS module answers `NSS_STATUS_UNAVAIL`/`ENOENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Shorter than the header.
    TooShort,
    /// Not a Roster snapshot at all.
    BadMagic,
    /// A Roster snapshot of a version this reader doesn't know.
    UnsupportedVersion(u32),
    /// The header's own size field is not the one this version defines.
    BadHeaderSize,
    /// The header checksum doesn't match: the header is corrupt.
    HeaderChecksum,
    /// The file's length isn't what the header says (truncated or
    /// extended), or the sections implied by the counts don't add up.
    SizeMismatch { expected: u64, actual: u64 },
    /// The body checksum doesn't match (only from [`Snapshot::verify_body`]).
    BodyChecksum,
    /// A hash index's size isn't 0 for no entries or a power of two
    /// larger than the entry count.
    BadIndexSize,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooShort => write!(f, "snapshot shorter than its header"),
            FormatError::BadMagic => write!(f, "not a Roster NSS snapshot (bad magic)"),
            FormatError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "snapshot format version {v} is not supported (this reader knows \
                     {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}): rosterd and libnss-roster \
                     are of different releases; upgrade the older one"
                )
            }
            FormatError::BadHeaderSize => write!(f, "snapshot header size is wrong"),
            FormatError::HeaderChecksum => write!(f, "snapshot header checksum mismatch"),
            FormatError::SizeMismatch { expected, actual } => {
                write!(f, "snapshot is {actual} bytes, its header says {expected}")
            }
            FormatError::BodyChecksum => write!(f, "snapshot body checksum mismatch"),
            FormatError::BadIndexSize => write!(f, "snapshot hash index size is invalid"),
        }
    }
}

impl std::error::Error for FormatError {}

/// FNV-1a, 64 bit: tiny, dependency-free, good enough to notice corruption
/// (this is not a defence against a forger: the file is root-written).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// MurmurHash3's 64-bit finalizer: spreads sequential ids and FNV's
/// weak high bits over the whole word. Part of the format (the writer and
/// every reader must agree), see the module comment.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// (key stored in the slot, hash that picks the first slot) of an id.
fn id_key(id: u32) -> (u32, u64) {
    (id, mix(u64::from(id)))
}

/// (key stored in the slot, hash that picks the first slot) of a name.
fn name_key(name: &[u8]) -> (u32, u64) {
    let h = mix(fnv1a(name));
    (h as u32, h)
}

/// The slot count of an index over `n` entries: none for none, else a
/// power of two larger than twice `n` (at most half full).
fn slots_for(n: usize) -> Result<usize, EncodeError> {
    if n == 0 {
        return Ok(0);
    }
    let slots = n
        .checked_mul(2)
        .and_then(usize::checked_next_power_of_two)
        .ok_or(EncodeError::TooLarge)?;
    u32::try_from(slots).map_err(|_| EncodeError::TooLarge)?;
    Ok(slots)
}

/// Fills one hash index of `table.len() / SLOT_REC` slots (zeroed by the
/// caller) over `keys`, in record order.
fn fill_index(table: &mut [u8], keys: impl Iterator<Item = (u32, u64)>) {
    let slots = table.len() / SLOT_REC;
    if slots == 0 {
        return;
    }
    let mask = slots - 1;
    for (record, (key, hash)) in keys.enumerate() {
        let mut pos = (hash >> 32) as usize & mask;
        // `slots` > twice the records, so a free slot is always found.
        for _ in 0..slots {
            let at = pos * SLOT_REC;
            if let Some((k, entry)) = table
                .get_mut(at..at + SLOT_REC)
                .and_then(|slot| slot.split_at_mut_checked(4))
                && entry == [0u8; 4]
            {
                k.copy_from_slice(&key.to_le_bytes());
                // record < the count, a u32, and the tables' size check
                // keeps the count below u32::MAX / 2.
                let entry_value = u32::try_from(record + 1).unwrap_or(0);
                entry.copy_from_slice(&entry_value.to_le_bytes());
                break;
            }
            pos = (pos + 1) & mask;
        }
    }
}

/// Appends one zeroed hash index of `slots` slots over `keys` to `out`.
fn put_index(out: &mut Vec<u8>, slots: usize, keys: impl Iterator<Item = (u32, u64)>) {
    let start = out.len();
    out.resize(start + slots * SLOT_REC, 0);
    if let Some(table) = out.get_mut(start..) {
        fill_index(table, keys);
    }
}

fn bad_string(s: &str, is_name: bool) -> bool {
    (is_name && (s.is_empty() || s.contains(',')))
        || s.bytes().any(|b| b == 0 || b == b'\n' || b == b':')
}

fn check(what: &'static str, s: &str, is_name: bool) -> Result<(), EncodeError> {
    if bad_string(s, is_name) {
        Err(EncodeError::InvalidString {
            what,
            value: s.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// The hasher of `encode`'s sets and maps: FNV-1a over the key and
/// [`mix`], several times faster than std's SipHash. Its keys are
/// rosterd's own users (names only admins create), so SipHash's defence
/// against chosen collisions buys nothing here.
#[derive(Clone, Copy, Default)]
struct FastHash;

struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = mix(self.0 ^ u64::from(v));
    }
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

fn fast_set<T>(capacity: usize) -> std::collections::HashSet<T, FastHash> {
    std::collections::HashSet::with_capacity_and_hasher(capacity, FastHash)
}

/// A string reference: (offset in the string section, length).
type Sref = (u32, u32);

/// The string section being built. Only the strings that repeat by
/// design are stored once (a user's name reused as its private group's
/// name and as a member, shells); GECOS and homes are appended as they
/// come, which saves a hash lookup for most strings of the file.
struct Strings<'s> {
    bytes: Vec<u8>,
    /// Shells and the names of members and groups that are no user.
    shared: std::collections::HashMap<&'s str, Sref, FastHash>,
}

impl<'s> Strings<'s> {
    fn append(&mut self, s: &str) -> Result<Sref, EncodeError> {
        let off = u32::try_from(self.bytes.len()).map_err(|_| EncodeError::TooLarge)?;
        let len = u32::try_from(s.len()).map_err(|_| EncodeError::TooLarge)?;
        off.checked_add(len).ok_or(EncodeError::TooLarge)?;
        self.bytes.extend_from_slice(s.as_bytes());
        Ok((off, len))
    }

    fn shared(&mut self, s: &'s str) -> Result<Sref, EncodeError> {
        if let Some(r) = self.shared.get(s) {
            return Ok(*r);
        }
        let r = self.append(s)?;
        self.shared.insert(s, r);
        Ok(r)
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_sref(out: &mut Vec<u8>, r: Sref) {
    put_u32(out, r.0);
    put_u32(out, r.1);
}

fn count(n: usize) -> Result<u32, EncodeError> {
    u32::try_from(n).map_err(|_| EncodeError::TooLarge)
}

/// A user's fields as [`encode_fields`] takes them: borrowed, so a caller
/// that holds its users in another shape (rosterd's store view) needn't
/// copy 100,000 users' strings into [`SnapshotUser`]s first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFields<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub gecos: &'a str,
    pub home: &'a str,
    pub shell: &'a str,
}

/// A group's fields as [`encode_fields`] takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFields<'a> {
    pub name: &'a str,
    pub gid: u32,
    pub members: &'a [String],
}

impl SnapshotUser {
    /// This user as [`encode_fields`] takes it.
    pub fn fields(&self) -> UserFields<'_> {
        UserFields {
            name: &self.name,
            uid: self.uid,
            gid: self.gid,
            gecos: &self.gecos,
            home: &self.home,
            shell: &self.shell,
        }
    }
}

impl SnapshotGroup {
    /// This group as [`encode_fields`] takes it.
    pub fn fields(&self) -> GroupFields<'_> {
        GroupFields {
            name: &self.name,
            gid: self.gid,
            members: &self.members,
        }
    }
}

/// Encodes a full snapshot (the current format, [`FORMAT_VERSION`]).
/// Validates every string (no NUL, newline or `:`; names non-empty and
/// without `,`) and uniqueness of user names, uids, group names, gids and
/// of members within a group. The order of `users` and `groups` doesn't
/// matter; enumeration follows uid/gid order.
pub fn encode(
    generation: u64,
    users: &[SnapshotUser],
    groups: &[SnapshotGroup],
) -> Result<Vec<u8>, EncodeError> {
    let users: Vec<UserFields> = users.iter().map(SnapshotUser::fields).collect();
    let groups: Vec<GroupFields> = groups.iter().map(SnapshotGroup::fields).collect();
    encode_version(FORMAT_VERSION, generation, &users, &groups)
}

/// [`encode`] over borrowed fields: the same file, the same checks.
pub fn encode_fields(
    generation: u64,
    users: &[UserFields],
    groups: &[GroupFields],
) -> Result<Vec<u8>, EncodeError> {
    encode_version(FORMAT_VERSION, generation, users, groups)
}

/// A version 1 file, as rosterd wrote before the hash indexes: for tests
/// that readers still read old rosterd's files. Not for production use.
#[doc(hidden)]
pub fn encode_v1(
    generation: u64,
    users: &[SnapshotUser],
    groups: &[SnapshotGroup],
) -> Result<Vec<u8>, EncodeError> {
    let users: Vec<UserFields> = users.iter().map(SnapshotUser::fields).collect();
    let groups: Vec<GroupFields> = groups.iter().map(SnapshotGroup::fields).collect();
    encode_version(1, generation, &users, &groups)
}

/// The first 16 bytes of a name, zero-padded, as a big-endian number:
/// comparing two of them orders names as their bytes do (a name holds no
/// NUL, so the padding sorts before any byte), leaving only names that
/// share 16 bytes to a full comparison.
fn name_prefix(name: &str) -> u128 {
    let mut key = [0u8; 16];
    let n = name.len().min(16);
    if let (Some(dst), Some(src)) = (key.get_mut(..n), name.as_bytes().get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(key)
}

/// Indexes of `names` sorted by the names' bytes; the first name that
/// appears twice is the error.
fn name_order<'n>(n: usize, name: impl Fn(usize) -> &'n str) -> Result<Vec<u32>, &'n str> {
    let mut keyed: Vec<(u128, u32)> = (0..n)
        .map(|i| (name_prefix(name(i)), u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            name(a.1 as usize)
                .as_bytes()
                .cmp(name(b.1 as usize).as_bytes())
        })
    });
    for pair in keyed.windows(2) {
        if let [a, b] = pair
            && a.0 == b.0
            && name(a.1 as usize) == name(b.1 as usize)
        {
            return Err(name(a.1 as usize));
        }
    }
    Ok(keyed.into_iter().map(|(_, i)| i).collect())
}

fn encode_version(
    version: u32,
    generation: u64,
    users: &[UserFields],
    groups: &[GroupFields],
) -> Result<Vec<u8>, EncodeError> {
    // Users and groups by id; a duplicate id sits next to its twin.
    let mut users: Vec<&UserFields> = users.iter().collect();
    users.sort_unstable_by_key(|u| u.uid);
    let mut groups: Vec<&GroupFields> = groups.iter().collect();
    groups.sort_unstable_by_key(|g| g.gid);
    let mut string_bound = 0usize;
    for u in &users {
        check("user name", u.name, true)?;
        check("GECOS of a user", u.gecos, false)?;
        check("home of a user", u.home, false)?;
        check("shell of a user", u.shell, false)?;
        string_bound = string_bound
            .saturating_add(u.name.len() + u.gecos.len() + u.home.len() + u.shell.len());
    }
    for g in &groups {
        check("group name", g.name, true)?;
        string_bound = string_bound.saturating_add(g.name.len());
        for m in g.members {
            check("group member", m, true)?;
            string_bound = string_bound.saturating_add(m.len());
        }
        if g.members.len() > 1 {
            let mut members = fast_set(g.members.len());
            for m in g.members {
                if !members.insert(m.as_str()) {
                    return Err(EncodeError::DuplicateMember {
                        group: g.name.to_owned(),
                        member: m.clone(),
                    });
                }
            }
        }
    }
    if let Some(pair) = users
        .windows(2)
        .find(|p| matches!(p, [a, b] if a.uid == b.uid))
        && let Some(u) = pair.first()
    {
        return Err(EncodeError::DuplicateUid(u.uid));
    }
    if let Some(pair) = groups
        .windows(2)
        .find(|p| matches!(p, [a, b] if a.gid == b.gid))
        && let Some(g) = pair.first()
    {
        return Err(EncodeError::DuplicateGid(g.gid));
    }
    let user_name = |i: usize| users.get(i).map_or("", |u| u.name);
    let group_name = |i: usize| groups.get(i).map_or("", |g| g.name);
    let user_order = name_order(users.len(), user_name)
        .map_err(|n| EncodeError::DuplicateUserName(n.to_owned()))?;
    let group_order = name_order(groups.len(), group_name)
        .map_err(|n| EncodeError::DuplicateGroupName(n.to_owned()))?;
    let member_count = groups
        .iter()
        .try_fold(0usize, |acc, g| acc.checked_add(g.members.len()))
        .ok_or(EncodeError::TooLarge)?;

    let indexed = version >= 2;
    let (header_size, check_at) = if indexed {
        (HEADER_SIZE, HEADER_CHECK_AT)
    } else {
        (HEADER_SIZE_V1, HEADER_CHECK_AT_V1)
    };
    let (user_slots, group_slots) = if indexed {
        (slots_for(users.len())?, slots_for(groups.len())?)
    } else {
        (0, 0)
    };
    // Everything but the strings is fixed by the counts; the strings are
    // at most `string_bound`. One allocation, written in place: building
    // the sections apart and copying them in cost a second pass over the
    // file and twice its size in fresh pages.
    let capacity = [
        header_size,
        users.len().saturating_mul(USER_REC + INDEX_REC),
        groups.len().saturating_mul(GROUP_REC + INDEX_REC),
        member_count.saturating_mul(SREF + MEMBERSHIP_REC),
        user_slots.saturating_mul(2 * SLOT_REC),
        group_slots.saturating_mul(2 * SLOT_REC),
        string_bound,
    ]
    .iter()
    .fold(0usize, |acc, n| acc.saturating_add(*n));
    u32::try_from(capacity).map_err(|_| EncodeError::TooLarge)?;
    let mut out = Vec::with_capacity(capacity);
    out.resize(header_size, 0);

    let mut strings = Strings {
        bytes: Vec::with_capacity(string_bound),
        shared: std::collections::HashMap::with_capacity_and_hasher(16, FastHash),
    };
    let mut user_name_refs: Vec<Sref> = Vec::with_capacity(users.len());
    for u in &users {
        let name = strings.append(u.name)?;
        user_name_refs.push(name);
        put_u32(&mut out, u.uid);
        put_u32(&mut out, u.gid);
        put_sref(&mut out, name);
        put_sref(&mut out, strings.append(u.gecos)?);
        put_sref(&mut out, strings.append(u.home)?);
        put_sref(&mut out, strings.shared(u.shell)?);
    }
    for &i in &user_order {
        put_u32(&mut out, i);
    }
    // A name that is also a user's (a private group, a member) reuses the
    // user's string: found by walking the two name orders side by side
    // for groups, by bisection of the users' order for members.
    let user_ref_of = |name: &str| -> Option<Sref> {
        let at = user_order
            .binary_search_by(|&i| user_name(i as usize).as_bytes().cmp(name.as_bytes()))
            .ok()?;
        let i = *user_order.get(at)? as usize;
        user_name_refs.get(i).copied()
    };
    let mut group_name_refs: Vec<Sref> = vec![(0, 0); groups.len()];
    let mut next_user = user_order.iter().peekable();
    for &g in &group_order {
        let name = group_name(g as usize);
        while next_user
            .peek()
            .is_some_and(|&&u| user_name(u as usize).as_bytes() < name.as_bytes())
        {
            next_user.next();
        }
        let reused = next_user
            .peek()
            .filter(|&&&u| user_name(u as usize) == name)
            .and_then(|&&u| user_name_refs.get(u as usize).copied());
        let r = match reused {
            Some(r) => r,
            None => strings.append(name)?,
        };
        if let Some(slot) = group_name_refs.get_mut(g as usize) {
            *slot = r;
        }
    }
    // (member name, gid, its string) for the memberships index.
    let mut memberships: Vec<(&str, u32, Sref)> = Vec::with_capacity(member_count);
    let mut first_member: u32 = 0;
    for (g, name) in groups.iter().zip(&group_name_refs) {
        put_u32(&mut out, g.gid);
        put_sref(&mut out, *name);
        let n = count(g.members.len())?;
        put_u32(&mut out, first_member);
        put_u32(&mut out, n);
        put_u32(&mut out, 0);
        first_member = first_member.checked_add(n).ok_or(EncodeError::TooLarge)?;
    }
    for &i in &group_order {
        put_u32(&mut out, i);
    }
    for g in &groups {
        for m in g.members {
            let r = match user_ref_of(m) {
                Some(r) => r,
                None => strings.shared(m)?,
            };
            put_sref(&mut out, r);
            memberships.push((m.as_str(), g.gid, r));
        }
    }
    memberships.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    for (_, gid, r) in &memberships {
        put_sref(&mut out, *r);
        put_u32(&mut out, *gid);
    }
    put_index(&mut out, user_slots, users.iter().map(|u| id_key(u.uid)));
    put_index(
        &mut out,
        user_slots,
        users.iter().map(|u| name_key(u.name.as_bytes())),
    );
    put_index(&mut out, group_slots, groups.iter().map(|g| id_key(g.gid)));
    put_index(
        &mut out,
        group_slots,
        groups.iter().map(|g| name_key(g.name.as_bytes())),
    );
    out.extend_from_slice(&strings.bytes);

    let file_size = out.len();
    // Offsets into the string section are u32; the file as a whole may
    // exceed that only through the fixed sections, which we also refuse
    // so that every reader can use u32 arithmetic safely widened to u64.
    u32::try_from(file_size).map_err(|_| EncodeError::TooLarge)?;
    let mut head = Vec::with_capacity(header_size);
    head.extend_from_slice(&MAGIC);
    put_u32(&mut head, version);
    put_u32(&mut head, count(header_size)?);
    head.extend_from_slice(&generation.to_le_bytes());
    head.extend_from_slice(&(file_size as u64).to_le_bytes());
    put_u32(&mut head, count(users.len())?);
    put_u32(&mut head, count(groups.len())?);
    put_u32(&mut head, count(memberships.len())?);
    put_u32(&mut head, count(strings.bytes.len())?);
    let body_sum = fnv1a(out.get(header_size..).unwrap_or_default());
    head.extend_from_slice(&body_sum.to_le_bytes());
    if indexed {
        put_u32(&mut head, count(user_slots)?);
        put_u32(&mut head, count(group_slots)?);
    }
    // Reserved, the header checksum, the superseded word: zero for now.
    head.resize(header_size, 0);
    let head_sum = fnv1a(head.get(..check_at).unwrap_or_default());
    if let Some(slot) = head.get_mut(check_at..check_at + 8) {
        slot.copy_from_slice(&head_sum.to_le_bytes());
    }
    if let Some(slot) = out.get_mut(..header_size) {
        slot.copy_from_slice(&head);
    }
    Ok(out)
}

/// How many random temp names [`write_atomically`] tries before giving up:
/// 64 random bits each, so a second collision means someone is guessing
/// (impossibly well) or the randomness source is broken.
const TEMP_ATTEMPTS: u32 = 4;

/// 64 unpredictable bits for a temp file's name: from `/dev/urandom`
/// (the crate has no dependencies, and a read is all it takes), else from
/// std's per-process random hash keys, which the OS seeded too.
fn random_u64() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Writes `bytes` to `path` atomically: a new temp file in the same
/// directory with a random name (`O_EXCL`, and `O_CLOEXEC`, which std sets
/// on every open; another random name on `EEXIST`, a few times), mode
/// 0644, `fsync`, [`mark_superseded`] on the file at `path`, `rename` over
/// `path`, `fsync` of the directory. A reader sees the old file or the new
/// one, never a mix, and a mapped old file is never truncated under its
/// readers. On failure the temp file
/// this call created is removed (never a file it didn't create) and
/// `path` is untouched.
///
/// The name is random rather than `PID.N` so that nobody can block the
/// writes by creating the next names first.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let temp_name = || {
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".tmp.{:016x}", random_u64()));
        dir.join(name)
    };
    let mut attempt = 0;
    let (mut f, tmp) = loop {
        let tmp = temp_name();
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
        {
            Ok(f) => break (f, tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt + 1 < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };

    let result = (|| {
        f.write_all(bytes)?;
        // The umask may have narrowed the mode given to open(): readers in
        // every process need 0644 exactly.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        // Before the rename, so that a reader who sees the mark and looks
        // at the path finds the new file there at the latest right after.
        // Failing to mark costs readers up to their re-check interval,
        // not correctness: the write goes on.
        let _ = mark_superseded(path);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    drop(f);
    if result.is_err() {
        // Ours (created above); the rename may already have consumed it.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Stores [`SUPERSEDED`] in the header of the snapshot at `path`, which
/// is about to be replaced: readers that have it mapped see the word
/// change and look for the new file ([`write_atomically`] calls it just
/// before its rename). Only a version 2 (or later) snapshot has the word:
/// anything else at `path` (a version 1 file, garbage, not a regular file)
/// is left untouched and `Ok(false)` returned. One aligned 8-byte
/// `pwrite`: nothing is truncated, so no reader's mapping can fault.
pub fn mark_superseded(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    // Never open (for writing) whatever else the path may name: a device
    // or a FIFO.
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    let file = match fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    // A file too short for the word would grow: not a snapshot anyway.
    if !meta.is_file() || meta.len() < HEADER_SIZE as u64 {
        return Ok(false);
    }
    let mut head = [0u8; 16];
    if file.read_exact_at(&mut head, 0).is_err() {
        return Ok(false);
    }
    let version = u32_at(&head, 8).unwrap_or(0);
    let header_size = u32_at(&head, 12).unwrap_or(0) as usize;
    if head.get(..8) != Some(&MAGIC[..]) || version < 2 || header_size != HEADER_SIZE {
        return Ok(false);
    }
    file.write_all_at(&SUPERSEDED.to_le_bytes(), SUPERSEDED_OFFSET as u64)?;
    Ok(true)
}

/// Whether a snapshot file with this owner and mode (`st_uid`, `st_mode`)
/// may be believed: owned by `owner` (root, 0, on a host) and writable by
/// nobody else (no group or other write bit). Whoever can write the file
/// decides who exists, who is in the admin group and whom the PAM module
/// treats as a local user, so the NSS and PAM modules refuse any other
/// file as if it were missing.
pub fn trusted_file(file_uid: u32, file_mode: u32, owner: u32) -> bool {
    file_uid == owner && file_mode & 0o022 == 0
}

/// Why a name is not a Roster user on this host ([`roster_uid_here`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHere {
    /// `root`, which rosterd refuses as a name.
    Root,
    /// The snapshot doesn't list the name (or there is no snapshot one may
    /// believe: NSS can't resolve Roster users then either).
    NotListed,
    /// The host resolves the name to another uid: a local account created
    /// later under the same name.
    Shadowed,
    /// The host's NSS doesn't resolve the name at all.
    Unresolved,
}

impl NotHere {
    /// The reason, in a few words, for a log line.
    pub fn reason(self) -> &'static str {
        match self {
            NotHere::Root => "root is never a Roster user",
            NotHere::NotListed => "not in the NSS snapshot",
            NotHere::Shadowed => "a local account with another uid has this name",
            NotHere::Unresolved => "the host's NSS doesn't resolve it",
        }
    }
}

/// "Is `name` a Roster user on this host?": the Roster uid, when the
/// snapshot lists the name (`listed`: the uid it lists, see
/// [`mapped::listed_uid`] or [`lookup_user_uid`]) and the host's own NSS
/// (`resolve`: `getpwnam`, through every source the host has) resolves it
/// to that same uid. Root is never asked about: the snapshot isn't even
/// opened for it. A name resolving to another uid is a local account that
/// shadows the Roster one: it must never authenticate against Roster or be
/// opened by a Roster user's keys.
pub fn roster_uid_here(
    name: &str,
    listed: impl FnOnce(&str) -> Option<u32>,
    resolve: impl FnOnce(&str) -> Option<u32>,
) -> Result<u32, NotHere> {
    if name == "root" {
        return Err(NotHere::Root);
    }
    let roster_uid = listed(name).ok_or(NotHere::NotListed)?;
    match resolve(name) {
        Some(uid) if uid == roster_uid => Ok(uid),
        Some(_) => Err(NotHere::Shadowed),
        None => Err(NotHere::Unresolved),
    }
}

/// The uid the snapshot at `path` lists for `name` (for
/// `roster ssh-authorized-keys`). `None` when the file is missing,
/// unreadable, not owned by `owner` (root, outside tests) or writable by
/// group or others ([`trusted_file`]), not a valid snapshot, or doesn't
/// list the name (all of which mean "not a Roster user here").
pub fn lookup_user_uid(path: &Path, name: &str, owner: u32) -> Option<u32> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut file = fs::File::open(path).ok()?;
    // Checked on the open file, so the bytes read are the file checked.
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !trusted_file(meta.uid(), meta.mode(), owner) {
        return None;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let snap = Snapshot::parse(&bytes).ok()?;
    snap.user_by_name(name.as_bytes()).map(|u| u.uid())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let b: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let b: [u8; 8] = bytes.get(at..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// A read-only view of a snapshot held in a byte slice (the NSS module's
/// mapping). Cheap to build: [`Snapshot::parse`] is O(1).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    version: u32,
    generation: u64,
    user_count: usize,
    group_count: usize,
    member_count: usize,
    users: &'a [u8],
    user_names: &'a [u8],
    groups: &'a [u8],
    group_names: &'a [u8],
    members: &'a [u8],
    memberships: &'a [u8],
    /// The hash indexes (version 2; empty in version 1).
    uid_index: &'a [u8],
    user_name_index: &'a [u8],
    gid_index: &'a [u8],
    group_name_index: &'a [u8],
    user_slots: usize,
    group_slots: usize,
    strings: &'a [u8],
    whole: &'a [u8],
}

/// A user record; every string was bounds-checked when it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRef<'a> {
    name: &'a [u8],
    uid: u32,
    gid: u32,
    gecos: &'a [u8],
    home: &'a [u8],
    shell: &'a [u8],
}

impl<'a> UserRef<'a> {
    pub fn name(&self) -> &'a [u8] {
        self.name
    }
    pub fn uid(&self) -> u32 {
        self.uid
    }
    pub fn gid(&self) -> u32 {
        self.gid
    }
    pub fn gecos(&self) -> &'a [u8] {
        self.gecos
    }
    pub fn home(&self) -> &'a [u8] {
        self.home
    }
    pub fn shell(&self) -> &'a [u8] {
        self.shell
    }
}

/// A group record; its name and every member were bounds-checked when it
/// was built.
#[derive(Debug, Clone, Copy)]
pub struct GroupRef<'a> {
    name: &'a [u8],
    gid: u32,
    /// The group's slice of the members section (`member_count` srefs).
    member_refs: &'a [u8],
    strings: &'a [u8],
}

impl<'a> GroupRef<'a> {
    pub fn name(&self) -> &'a [u8] {
        self.name
    }
    pub fn gid(&self) -> u32 {
        self.gid
    }
    /// Number of members.
    pub fn member_count(&self) -> usize {
        self.member_refs.len() / SREF
    }
    /// The members' names, in the order rosterd wrote them.
    pub fn members(&self) -> Members<'a> {
        Members {
            refs: self.member_refs,
            strings: self.strings,
        }
    }
}

/// Iterator over a group's member names.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    refs: &'a [u8],
    strings: &'a [u8],
}

impl<'a> Iterator for Members<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let head = self.refs.get(..SREF)?;
        self.refs = self.refs.get(SREF..).unwrap_or_default();
        // Already validated when the GroupRef was built; `None` here would
        // only end the iteration early.
        resolve_name(self.strings, head, 0)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.refs.len() / SREF;
        (n, Some(n))
    }
}

/// Iterator over the gids of the groups listing one member.
#[derive(Debug, Clone)]
pub struct GroupsOf<'a> {
    memberships: &'a [u8],
    strings: &'a [u8],
    /// The member's name as stored in the file (so no copy is needed).
    member: &'a [u8],
    next: usize,
    end: usize,
}

impl<'a> Iterator for GroupsOf<'a> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.next >= self.end {
            return None;
        }
        let at = self.next.checked_mul(MEMBERSHIP_REC);
        self.next = self.next.saturating_add(1);
        let gid = at.and_then(|at| {
            let rec = self.memberships.get(at..at.checked_add(MEMBERSHIP_REC)?)?;
            (resolve(self.strings, rec, 0)? == self.member)
                .then(|| u32_at(rec, SREF))
                .flatten()
        });
        // The index is sorted, so the first non-matching name ends the
        // run; a corrupt entry ends it too rather than guessing.
        if gid.is_none() {
            self.end = 0;
        }
        gid
    }
}

/// Resolves the string reference at `rec[at..at+8]`; `None` if it points
/// outside `strings`.
fn resolve<'a>(strings: &'a [u8], rec: &[u8], at: usize) -> Option<&'a [u8]> {
    let off = u32_at(rec, at)? as usize;
    let len = u32_at(rec, at.checked_add(4)?)? as usize;
    strings.get(off..off.checked_add(len)?)
}

/// Like [`resolve`], and the string must be fit for a passwd/group line:
/// no NUL (it would cut the C string), newline or `:`.
fn resolve_field<'a>(strings: &'a [u8], rec: &[u8], at: usize) -> Option<&'a [u8]> {
    let s = resolve(strings, rec, at)?;
    (!holds_any(s, [0, b'\n', b':', 0])).then_some(s)
}

/// A name: a field that is also non-empty and has no `,`.
fn resolve_name<'a>(strings: &'a [u8], rec: &[u8], at: usize) -> Option<&'a [u8]> {
    let s = resolve(strings, rec, at)?;
    (!s.is_empty() && !holds_any(s, [0, b'\n', b':', b','])).then_some(s)
}

/// Whether `s` holds any of the four bytes. Every record a lookup answers
/// is checked with it, so it goes a word at a time (SWAR: a byte of `w`
/// equals `b` when that byte of `w ^ b*0x01..01` is zero), about three
/// times fewer operations than a byte-by-byte `any` on a passwd entry.
fn holds_any(s: &[u8], bytes: [u8; 4]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        if bytes
            .iter()
            .any(|&b| has_zero_byte(w ^ u64::from(b).wrapping_mul(ONES)))
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|x| bytes.contains(x))
}

/// Binary search over `n` entries where `key(i)` may fail on a corrupt
/// file; any failure ends the search with `None`.
fn search(n: usize, mut key: impl FnMut(usize) -> Option<std::cmp::Ordering>) -> Option<usize> {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match key(mid)? {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// Looks `(key, hash)` up in a hash index of `slots` slots: walks the
/// probe sequence from the hash's slot until an empty slot, and answers
/// the first entry whose key matches and that `hit` accepts (`hit` checks
/// the record itself carries what was looked up, so a corrupt index can
/// only make an entry absent). Reads at most `slots` slots, whatever the
/// file says.
fn probe<T>(
    index: &[u8],
    slots: usize,
    (key, hash): (u32, u64),
    mut hit: impl FnMut(usize) -> Option<T>,
) -> Option<T> {
    let mask = slots.checked_sub(1)?;
    let mut pos = (hash >> 32) as usize & mask;
    for _ in 0..slots {
        let at = pos.checked_mul(SLOT_REC)?;
        let entry = u32_at(index, at.checked_add(4)?)? as usize;
        let record = entry.checked_sub(1)?;
        if u32_at(index, at)? == key
            && let Some(found) = hit(record)
        {
            return Some(found);
        }
        pos = (pos + 1) & mask;
    }
    None
}

impl<'a> Snapshot<'a> {
    /// Checks the header and the section sizes against `bytes` (O(1)).
    pub fn parse(bytes: &'a [u8]) -> Result<Snapshot<'a>, FormatError> {
        Snapshot::parse_with(bytes, true)
    }

    /// [`Snapshot::parse`] without the header checksum (the rest of the
    /// checks, which are all that keeps reads inside `bytes`, still run):
    /// for bytes that already passed [`Snapshot::parse`] and can't have
    /// changed since, such as the NSS module's mapping of a file rosterd
    /// never rewrites, which it reparses on every lookup. Hashing the
    /// header each time would cost more than the lookup itself.
    pub fn parse_prechecked(bytes: &'a [u8]) -> Result<Snapshot<'a>, FormatError> {
        Snapshot::parse_with(bytes, false)
    }

    fn parse_with(bytes: &'a [u8], check_header: bool) -> Result<Snapshot<'a>, FormatError> {
        if bytes.len() < MIN_SIZE {
            return Err(FormatError::TooShort);
        }
        if bytes.get(..8).ok_or(FormatError::TooShort)? != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u32_at(bytes, 8).ok_or(FormatError::TooShort)?;
        let (header_size, check_at) = match version {
            1 => (HEADER_SIZE_V1, HEADER_CHECK_AT_V1),
            2 => (HEADER_SIZE, HEADER_CHECK_AT),
            v => return Err(FormatError::UnsupportedVersion(v)),
        };
        let header = bytes.get(..header_size).ok_or(FormatError::TooShort)?;
        let field = |at| u32_at(header, at).ok_or(FormatError::TooShort);
        let field64 = |at| u64_at(header, at).ok_or(FormatError::TooShort);
        if field(12)? as usize != header_size {
            return Err(FormatError::BadHeaderSize);
        }
        if check_header && fnv1a(header.get(..check_at).unwrap_or_default()) != field64(check_at)? {
            return Err(FormatError::HeaderChecksum);
        }
        let generation = field64(16)?;
        let file_size = field64(24)?;
        let user_count = u64::from(field(32)?);
        let group_count = u64::from(field(36)?);
        let member_count = u64::from(field(40)?);
        let strings_size = u64::from(field(44)?);
        let (user_slots, group_slots) = if version >= 2 {
            (u64::from(field(56)?), u64::from(field(60)?))
        } else {
            (0, 0)
        };
        if version >= 2 {
            let fits = |slots: u64, n: u64| {
                (n == 0 && slots == 0) || (slots.is_power_of_two() && slots > n)
            };
            if !fits(user_slots, user_count) || !fits(group_slots, group_count) {
                return Err(FormatError::BadIndexSize);
            }
        }
        let actual = bytes.len() as u64;

        // Every product and sum here is of u32 values by small constants:
        // it fits u64 without overflow.
        let sizes = [
            user_count * USER_REC as u64,
            user_count * INDEX_REC as u64,
            group_count * GROUP_REC as u64,
            group_count * INDEX_REC as u64,
            member_count * SREF as u64,
            member_count * MEMBERSHIP_REC as u64,
            user_slots * SLOT_REC as u64,
            user_slots * SLOT_REC as u64,
            group_slots * SLOT_REC as u64,
            group_slots * SLOT_REC as u64,
            strings_size,
        ];
        let implied = header_size as u64 + sizes.iter().sum::<u64>();
        if implied != file_size || file_size != actual {
            return Err(FormatError::SizeMismatch {
                expected: file_size,
                actual,
            });
        }
        let mut rest = bytes.get(header_size..).ok_or(FormatError::TooShort)?;
        let mut take = |n: u64| -> Result<&'a [u8], FormatError> {
            let n = usize::try_from(n).map_err(|_| FormatError::SizeMismatch {
                expected: file_size,
                actual,
            })?;
            let (head, tail) = rest.split_at_checked(n).ok_or(FormatError::SizeMismatch {
                expected: file_size,
                actual,
            })?;
            rest = tail;
            Ok(head)
        };
        let [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10] = sizes;
        Ok(Snapshot {
            version,
            generation,
            user_count: user_count as usize,
            group_count: group_count as usize,
            member_count: member_count as usize,
            users: take(s0)?,
            user_names: take(s1)?,
            groups: take(s2)?,
            group_names: take(s3)?,
            members: take(s4)?,
            memberships: take(s5)?,
            uid_index: take(s6)?,
            user_name_index: take(s7)?,
            gid_index: take(s8)?,
            group_name_index: take(s9)?,
            user_slots: user_slots as usize,
            group_slots: group_slots as usize,
            strings: take(s10)?,
            whole: bytes,
        })
    }

    /// The format version of the file (1 or 2).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether the file has the "superseded" word ([`SUPERSEDED_OFFSET`]):
    /// version 2 and later. A reader of an older file must look at the
    /// path to notice a replacement.
    pub fn has_superseded_word(&self) -> bool {
        self.version >= 2
    }

    /// Whether the file says it was superseded (read once, from these
    /// bytes: a reader watching a live mapping reads the word itself).
    pub fn superseded(&self) -> bool {
        self.has_superseded_word() && u64_at(self.whole, SUPERSEDED_OFFSET).is_some_and(|w| w != 0)
    }

    /// Checks the body checksum (O(size)); [`Snapshot::parse`] doesn't.
    pub fn verify_body(&self) -> Result<(), FormatError> {
        let stored = u64_at(self.whole, 48).ok_or(FormatError::TooShort)?;
        let header_size = if self.version >= 2 {
            HEADER_SIZE
        } else {
            HEADER_SIZE_V1
        };
        if fnv1a(self.whole.get(header_size..).unwrap_or_default()) == stored {
            Ok(())
        } else {
            Err(FormatError::BodyChecksum)
        }
    }

    /// The generation rosterd wrote (it grows with every write).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn user_count(&self) -> usize {
        self.user_count
    }

    pub fn group_count(&self) -> usize {
        self.group_count
    }

    /// Total number of (group, member) pairs.
    pub fn membership_count(&self) -> usize {
        self.member_count
    }

    /// The `i`th user in uid order; `None` past the end or if the record
    /// is corrupt.
    pub fn user_at(&self, i: usize) -> Option<UserRef<'a>> {
        let at = i.checked_mul(USER_REC)?;
        let rec = self.users.get(at..at.checked_add(USER_REC)?)?;
        let s = self.strings;
        Some(UserRef {
            uid: u32_at(rec, 0)?,
            gid: u32_at(rec, 4)?,
            name: resolve_name(s, rec, 8)?,
            gecos: resolve_field(s, rec, 16)?,
            home: resolve_field(s, rec, 24)?,
            shell: resolve_field(s, rec, 32)?,
        })
    }

    /// The `i`th group in gid order; `None` past the end or if the record
    /// (or any of its members) is corrupt.
    pub fn group_at(&self, i: usize) -> Option<GroupRef<'a>> {
        let at = i.checked_mul(GROUP_REC)?;
        let rec = self.groups.get(at..at.checked_add(GROUP_REC)?)?;
        let first = (u32_at(rec, 12)? as usize).checked_mul(SREF)?;
        let n = (u32_at(rec, 16)? as usize).checked_mul(SREF)?;
        let member_refs = self.members.get(first..first.checked_add(n)?)?;
        let g = GroupRef {
            gid: u32_at(rec, 0)?,
            name: resolve_name(self.strings, rec, 4)?,
            member_refs,
            strings: self.strings,
        };
        // All or nothing: a group with one bad member is corrupt, never
        // answered with a silently shortened member list.
        let mut checked = 0usize;
        for _ in g.members() {
            checked += 1;
        }
        (checked == g.member_count()).then_some(g)
    }

    fn user_name_at(&self, i: usize) -> Option<(usize, UserRef<'a>)> {
        let idx = u32_at(self.user_names, i.checked_mul(INDEX_REC)?)? as usize;
        Some((idx, self.user_at(idx)?))
    }

    pub fn user_by_name(&self, name: &[u8]) -> Option<UserRef<'a>> {
        if self.version >= 2 {
            return probe(self.user_name_index, self.user_slots, name_key(name), |i| {
                self.user_at(i).filter(|u| u.name() == name)
            });
        }
        let mut found = None;
        search(self.user_count, |i| {
            let (_, u) = self.user_name_at(i)?;
            let ord = u.name().cmp(name);
            if ord.is_eq() {
                found = Some(u);
            }
            Some(ord)
        })?;
        found
    }

    pub fn user_by_uid(&self, uid: u32) -> Option<UserRef<'a>> {
        if self.version >= 2 {
            return probe(self.uid_index, self.user_slots, id_key(uid), |i| {
                self.user_at(i).filter(|u| u.uid() == uid)
            });
        }
        let mut found = None;
        search(self.user_count, |i| {
            let u = self.user_at(i)?;
            let ord = u.uid().cmp(&uid);
            if ord.is_eq() {
                found = Some(u);
            }
            Some(ord)
        })?;
        found
    }

    pub fn group_by_name(&self, name: &[u8]) -> Option<GroupRef<'a>> {
        if self.version >= 2 {
            return probe(
                self.group_name_index,
                self.group_slots,
                name_key(name),
                |i| self.group_at(i).filter(|g| g.name() == name),
            );
        }
        let mut found_at = None;
        search(self.group_count, |i| {
            let idx = u32_at(self.group_names, i.checked_mul(INDEX_REC)?)? as usize;
            // Compare on the name alone (cheap), build the full GroupRef
            // (which checks every member) only for the hit.
            let at = idx.checked_mul(GROUP_REC)?;
            let rec = self.groups.get(at..at.checked_add(GROUP_REC)?)?;
            let ord = resolve_name(self.strings, rec, 4)?.cmp(name);
            if ord.is_eq() {
                found_at = Some(idx);
            }
            Some(ord)
        })?;
        self.group_at(found_at?)
    }

    pub fn group_by_gid(&self, gid: u32) -> Option<GroupRef<'a>> {
        if self.version >= 2 {
            return probe(self.gid_index, self.group_slots, id_key(gid), |i| {
                self.group_at(i).filter(|g| g.gid() == gid)
            });
        }
        let i = search(self.group_count, |i| {
            let at = i.checked_mul(GROUP_REC)?;
            Some(u32_at(self.groups, at)?.cmp(&gid))
        })?;
        self.group_at(i)
    }

    /// The gids of the groups that list `member`, in gid order (for
    /// `initgroups_dyn`). A corrupt index yields fewer gids, never a wrong
    /// one.
    pub fn groups_of(&self, member: &[u8]) -> GroupsOf<'a> {
        // Lower bound: the first entry whose name is >= member.
        let (mut lo, mut hi) = (0usize, self.member_count);
        let mut ok = true;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let name = mid
                .checked_mul(MEMBERSHIP_REC)
                .and_then(|at| self.memberships.get(at..at.checked_add(MEMBERSHIP_REC)?))
                .and_then(|rec| resolve(self.strings, rec, 0));
            match name {
                Some(n) if n < member => lo = mid + 1,
                Some(_) => hi = mid,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        // Borrow the name from the file rather than copy the caller's:
        // the iterator then lives as long as the snapshot, allocation-free.
        let stored = lo
            .checked_mul(MEMBERSHIP_REC)
            .and_then(|at| self.memberships.get(at..at.checked_add(MEMBERSHIP_REC)?))
            .and_then(|rec| resolve(self.strings, rec, 0))
            .filter(|n| *n == member);
        match stored {
            Some(member) if ok => GroupsOf {
                memberships: self.memberships,
                strings: self.strings,
                member,
                next: lo,
                end: self.member_count,
            },
            _ => GroupsOf {
                memberships: self.memberships,
                strings: self.strings,
                member: &[],
                next: 0,
                end: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests;
