//! Fuzzes everything a reader of an untrusted snapshot does: the header
//! checks, every lookup (hash indexes, bisection of version 1, group
//! members, initgroups), enumeration and the body checksum. A crash,
//! panic, overflow or read out of bounds is a finding; any answer is fine.
//!
//! The first input byte picks how the rest is read:
//! - even: as it is, through `Snapshot::parse` (checksums and all) and
//!   `Snapshot::parse_prechecked` (no header checksum, so libFuzzer's
//!   mutations reach the section sizes and the records freely);
//! - odd: with the header and body checksums recomputed first, so mutated
//!   bodies get past `parse` too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_snapshot::Snapshot;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(s) = Snapshot::parse(bytes) {
            exercise(s);
        }
        if let Ok(s) = Snapshot::parse_prechecked(bytes) {
            exercise(s);
        }
    } else {
        let mut sealed = bytes.to_vec();
        reseal(&mut sealed);
        if let Ok(s) = Snapshot::parse(&sealed) {
            exercise(s);
        }
    }
});

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Recomputes both checksums where the header's version says they are.
fn reseal(b: &mut [u8]) {
    let (header_size, check_at) = match b.get(8) {
        Some(1) => (64, 56),
        _ => (128, 112),
    };
    if b.len() < header_size {
        return;
    }
    let body = fnv1a(&b[header_size..]);
    b[48..56].copy_from_slice(&body.to_le_bytes());
    let head = fnv1a(&b[..check_at]);
    b[check_at..check_at + 8].copy_from_slice(&head.to_le_bytes());
}

fn exercise(s: Snapshot<'_>) {
    let _ = s.verify_body();
    let _ = (s.version(), s.generation(), s.superseded());
    for i in 0..s.user_count().min(256) + 1 {
        if let Some(u) = s.user_at(i) {
            let found = s.user_by_name(u.name());
            if let Some(f) = found {
                assert_eq!(f.name(), u.name(), "a name lookup answered another user");
            }
            if let Some(f) = s.user_by_uid(u.uid()) {
                assert_eq!(f.uid(), u.uid(), "a uid lookup answered another user");
            }
            let _ = s.groups_of(u.name()).count();
            let _ = (u.gecos(), u.home(), u.shell(), u.gid());
        }
    }
    for i in 0..s.group_count().min(256) + 1 {
        if let Some(g) = s.group_at(i) {
            let _ = g.members().count();
            if let Some(f) = s.group_by_name(g.name()) {
                assert_eq!(f.name(), g.name(), "a name lookup answered another group");
            }
            if let Some(f) = s.group_by_gid(g.gid()) {
                assert_eq!(f.gid(), g.gid(), "a gid lookup answered another group");
            }
        }
    }
    for name in [&b"ruser0"[..], b"ruser1", b"roster-admins", b"", b"zz"] {
        let _ = s.user_by_name(name);
        let _ = s.group_by_name(name).map(|g| g.members().count());
        let _ = s.groups_of(name).count();
    }
    for id in [0, 1, 0x7000_0000, 0x7000_0001, 0x7000_0002, u32::MAX] {
        let _ = s.user_by_uid(id);
        let _ = s.group_by_gid(id).map(|g| g.members().count());
    }
}
