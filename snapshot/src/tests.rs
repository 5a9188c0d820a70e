#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::*;

fn user(name: &str, uid: u32) -> SnapshotUser {
    SnapshotUser {
        name: name.to_owned(),
        uid,
        gid: uid,
        gecos: format!("{name} the user"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".to_owned(),
    }
}

fn group(name: &str, gid: u32, members: &[&str]) -> SnapshotGroup {
    SnapshotGroup {
        name: name.to_owned(),
        gid,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn sample() -> (Vec<SnapshotUser>, Vec<SnapshotGroup>) {
    let users = vec![
        user("carol", 0x7000_0003),
        user("alice", 0x7000_0001),
        user("bob", 0x7000_0002),
    ];
    let mut groups: Vec<SnapshotGroup> = users.iter().map(|u| group(&u.name, u.uid, &[])).collect();
    groups.push(group("roster-admins", 0x7000_0000, &["carol", "alice"]));
    groups.push(group("roster-ops", 0x6fff_ffff, &["alice"]));
    (users, groups)
}

fn sample_bytes() -> Vec<u8> {
    let (u, g) = sample();
    encode(7, &u, &g).unwrap()
}

/// The two encoders: the current format and version 1, which readers
/// still read (old rosterd's files).
type Encoder = fn(u64, &[SnapshotUser], &[SnapshotGroup]) -> Result<Vec<u8>, EncodeError>;
const ENCODERS: [(u32, Encoder); 2] = [(FORMAT_VERSION, encode), (1, encode_v1)];

#[test]
fn round_trip() {
    for (version, encoder) in ENCODERS {
        round_trip_of(version, encoder);
    }
}

fn round_trip_of(version: u32, encoder: Encoder) {
    let (users, groups) = sample();
    let bytes = encoder(7, &users, &groups).unwrap();
    let s = Snapshot::parse(&bytes).unwrap();
    assert_eq!(s.version(), version);
    s.verify_body().unwrap();
    assert_eq!(s.generation(), 7);
    assert_eq!(s.user_count(), 3);
    assert_eq!(s.group_count(), 5);
    for u in &users {
        let r = s.user_by_name(u.name.as_bytes()).unwrap();
        assert_eq!(r.name(), u.name.as_bytes());
        assert_eq!(r.uid(), u.uid);
        assert_eq!(r.gid(), u.gid);
        assert_eq!(r.gecos(), u.gecos.as_bytes());
        assert_eq!(r.home(), u.home.as_bytes());
        assert_eq!(r.shell(), u.shell.as_bytes());
        assert_eq!(s.user_by_uid(u.uid).unwrap(), r);
    }
    for g in &groups {
        let r = s.group_by_name(g.name.as_bytes()).unwrap();
        assert_eq!(r.gid(), g.gid);
        let members: Vec<&[u8]> = r.members().collect();
        let want: Vec<&[u8]> = g.members.iter().map(|m| m.as_bytes()).collect();
        assert_eq!(members, want, "members keep their order");
        assert_eq!(s.group_by_gid(g.gid).unwrap().name(), g.name.as_bytes());
    }
    assert!(s.user_by_name(b"dave").is_none());
    assert!(s.user_by_name(b"").is_none());
    assert!(s.user_by_uid(0).is_none());
    assert!(s.group_by_name(b"wheel").is_none());
    assert!(s.group_by_gid(1).is_none());
}

#[test]
fn enumeration_is_in_id_order() {
    let s_bytes = sample_bytes();
    let s = Snapshot::parse(&s_bytes).unwrap();
    let uids: Vec<u32> = (0..s.user_count())
        .map(|i| s.user_at(i).unwrap().uid())
        .collect();
    assert_eq!(uids, vec![0x7000_0001, 0x7000_0002, 0x7000_0003]);
    assert!(s.user_at(3).is_none());
    let gids: Vec<u32> = (0..s.group_count())
        .map(|i| s.group_at(i).unwrap().gid())
        .collect();
    let mut sorted = gids.clone();
    sorted.sort();
    assert_eq!(gids, sorted);
    assert!(s.group_at(5).is_none());
    assert!(s.user_at(usize::MAX).is_none());
    assert!(s.group_at(usize::MAX).is_none());
}

#[test]
fn groups_of_lists_every_membership() {
    let b = sample_bytes();
    let s = Snapshot::parse(&b).unwrap();
    assert_eq!(
        s.groups_of(b"alice").collect::<Vec<_>>(),
        vec![0x6fff_ffff, 0x7000_0000]
    );
    assert_eq!(s.groups_of(b"carol").collect::<Vec<_>>(), vec![0x7000_0000]);
    assert_eq!(s.groups_of(b"bob").count(), 0);
    assert_eq!(s.groups_of(b"").count(), 0);
    assert_eq!(s.groups_of(b"zzz").count(), 0);
    assert_eq!(s.groups_of(b"alic").count(), 0);
}

#[test]
fn empty_snapshot_is_valid() {
    let b = encode(0, &[], &[]).unwrap();
    assert_eq!(b.len(), HEADER_SIZE);
    let s = Snapshot::parse(&b).unwrap();
    assert_eq!(s.user_count(), 0);
    assert!(s.user_by_name(b"x").is_none());
    assert!(s.user_by_uid(5).is_none());
    assert!(s.group_by_gid(5).is_none());
    assert_eq!(s.groups_of(b"x").count(), 0);
}

#[test]
fn many_users_are_all_found() {
    for (_, encoder) in ENCODERS {
        many_users_are_all_found_by(encoder);
    }
}

fn many_users_are_all_found_by(encoder: Encoder) {
    let users: Vec<SnapshotUser> = (0..5000)
        .map(|i| user(&format!("u{i}"), 1_000_000 + i * 3))
        .collect();
    let groups = vec![group(
        "big",
        5,
        &users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
    )];
    let b = encoder(1, &users, &groups).unwrap();
    let s = Snapshot::parse(&b).unwrap();
    for u in &users {
        assert_eq!(s.user_by_name(u.name.as_bytes()).unwrap().uid(), u.uid);
        assert_eq!(s.user_by_uid(u.uid).unwrap().name(), u.name.as_bytes());
        assert_eq!(s.groups_of(u.name.as_bytes()).collect::<Vec<_>>(), vec![5]);
    }
    assert!(s.user_by_uid(1_000_001).is_none());
    assert_eq!(s.group_by_gid(5).unwrap().members().count(), 5000);
}

#[test]
fn encode_refuses_bad_input() {
    let bad = |users: Vec<SnapshotUser>, groups: Vec<SnapshotGroup>| {
        encode(1, &users, &groups).unwrap_err()
    };
    for name in ["", "a:b", "a\nb", "a\0b", "a,b"] {
        assert!(
            matches!(
                bad(vec![user(name, 1)], vec![]),
                EncodeError::InvalidString { .. }
            ),
            "{name:?}"
        );
        assert!(matches!(
            bad(vec![], vec![group(name, 1, &[])]),
            EncodeError::InvalidString { .. }
        ));
        assert!(matches!(
            bad(vec![], vec![group("g", 1, &[name])]),
            EncodeError::InvalidString { .. }
        ));
    }
    let mut u = user("a", 1);
    u.gecos = "x:y".into();
    assert!(matches!(
        bad(vec![u], vec![]),
        EncodeError::InvalidString {
            what: "GECOS of a user",
            ..
        }
    ));
    let mut u = user("a", 1);
    u.home = "/h\n".into();
    assert!(matches!(
        bad(vec![u], vec![]),
        EncodeError::InvalidString { .. }
    ));
    let mut u = user("a", 1);
    u.shell = "/bin/sh\0".into();
    assert!(matches!(
        bad(vec![u], vec![]),
        EncodeError::InvalidString { .. }
    ));
    assert_eq!(
        bad(vec![user("a", 1), user("a", 2)], vec![]),
        EncodeError::DuplicateUserName("a".into())
    );
    assert_eq!(
        bad(vec![user("a", 1), user("b", 1)], vec![]),
        EncodeError::DuplicateUid(1)
    );
    assert_eq!(
        bad(vec![], vec![group("g", 1, &[]), group("g", 2, &[])]),
        EncodeError::DuplicateGroupName("g".into())
    );
    assert_eq!(
        bad(vec![], vec![group("g", 1, &[]), group("h", 1, &[])]),
        EncodeError::DuplicateGid(1)
    );
    assert!(matches!(
        bad(vec![], vec![group("g", 1, &["a", "a"])]),
        EncodeError::DuplicateMember { .. }
    ));
    // GECOS may hold commas (its sub-fields) and be empty.
    let mut u = user("a", 1);
    u.gecos = "Alice,Room 1,,".into();
    encode(1, &[u], &[]).unwrap();
    let mut u = user("a", 1);
    u.gecos = String::new();
    encode(1, &[u], &[]).unwrap();
}

#[test]
fn every_truncation_fails_cleanly() {
    let b = sample_bytes();
    for n in 0..b.len() {
        assert!(
            Snapshot::parse(&b[..n]).is_err(),
            "truncated to {n} was accepted"
        );
    }
    let mut longer = b.clone();
    longer.push(0);
    assert!(matches!(
        Snapshot::parse(&longer),
        Err(FormatError::SizeMismatch { .. })
    ));
}

#[test]
fn foreign_files_are_refused() {
    let mut b = sample_bytes();
    b[0] = b'X';
    assert_eq!(Snapshot::parse(&b).unwrap_err(), FormatError::BadMagic);
    assert_eq!(
        Snapshot::parse(b"root:x:0:0:root:/root:/bin/bash\n").unwrap_err(),
        FormatError::TooShort
    );
    assert_eq!(
        Snapshot::parse(&[0u8; 4096]).unwrap_err(),
        FormatError::BadMagic
    );
    let mut b = sample_bytes();
    b[8] = 3;
    assert_eq!(
        Snapshot::parse(&b).unwrap_err(),
        FormatError::UnsupportedVersion(3)
    );
    // A version 2 header claiming version 1 (or the reverse) is refused,
    // never read with the other layout.
    let mut b = sample_bytes();
    b[8] = 1;
    assert_eq!(Snapshot::parse(&b).unwrap_err(), FormatError::BadHeaderSize);
    let (u, g) = sample();
    let mut b = encode_v1(7, &u, &g).unwrap();
    b[8] = 2;
    assert!(Snapshot::parse(&b).is_err());
    let mut b = sample_bytes();
    b[16] ^= 1; // generation: covered by the header checksum
    assert_eq!(
        Snapshot::parse(&b).unwrap_err(),
        FormatError::HeaderChecksum
    );
}

/// A small deterministic generator so the fuzz loops need no dependency.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads everything a reader can read; must never panic.
fn exercise(bytes: &[u8]) {
    let Ok(s) = Snapshot::parse(bytes) else {
        return;
    };
    let _ = s.verify_body();
    for i in 0..s.user_count().min(64) + 1 {
        if let Some(u) = s.user_at(i) {
            let _ = s.user_by_name(u.name());
            let _ = s.user_by_uid(u.uid());
            let _ = s.groups_of(u.name()).count();
        }
    }
    for i in 0..s.group_count().min(64) + 1 {
        if let Some(g) = s.group_at(i) {
            let _ = g.members().count();
            let _ = s.group_by_name(g.name());
            let _ = s.group_by_gid(g.gid());
        }
    }
    for name in [&b"alice"[..], b"bob", b"roster-admins", b"", b"zz"] {
        let _ = s.user_by_name(name);
        let _ = s.group_by_name(name).map(|g| g.members().count());
        let _ = s.groups_of(name).count();
    }
    for id in [0, 1, 0x7000_0000, 0x7000_0001, u32::MAX] {
        let _ = s.user_by_uid(id);
        let _ = s.group_by_gid(id).map(|g| g.members().count());
    }
}

/// Recomputes both checksums so a mutated body gets past `parse` and the
/// record-level checks are what is exercised.
fn reseal(b: &mut [u8]) {
    let (header_size, check_at) = if b[8] == 1 { (64, 56) } else { (128, 112) };
    if b.len() < header_size {
        return;
    }
    let body = fnv1a(&b[header_size..]);
    b[48..56].copy_from_slice(&body.to_le_bytes());
    let head = fnv1a(&b[..check_at]);
    b[check_at..check_at + 8].copy_from_slice(&head.to_le_bytes());
}

fn sample_bytes_v1() -> Vec<u8> {
    let (u, g) = sample();
    encode_v1(7, &u, &g).unwrap()
}

#[test]
fn random_byte_flips_never_panic() {
    for base in [sample_bytes(), sample_bytes_v1()] {
        random_byte_flips_of(base);
    }
}

fn random_byte_flips_of(base: Vec<u8>) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let mut b = base.clone();
        let flips = 1 + (rng.next() % 4) as usize;
        for _ in 0..flips {
            let at = (rng.next() % b.len() as u64) as usize;
            b[at] = rng.next() as u8;
        }
        // Half the rounds keep the header valid so the body is reached.
        if round % 2 == 0 {
            reseal(&mut b);
        }
        exercise(&b);
    }
}

#[test]
fn random_headers_never_panic() {
    // Counts and sizes chosen at random, with consistent checksums: the
    // size arithmetic must refuse them without overflow or panic.
    let mut rng = XorShift(42);
    for (base, fields) in [
        (sample_bytes(), &[24usize, 32, 36, 40, 44, 56, 60][..]),
        (sample_bytes_v1(), &[24usize, 32, 36, 40, 44][..]),
    ] {
        random_headers_of(&mut rng, &base, fields);
    }
}

fn random_headers_of(rng: &mut XorShift, base: &[u8], fields: &[usize]) {
    for _ in 0..20_000 {
        let mut b = base.to_vec();
        for &at in fields {
            if rng.next().is_multiple_of(3) {
                let v = rng.next();
                let len = if at == 24 { 8 } else { 4 };
                b[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
            }
        }
        reseal(&mut b);
        exercise(&b);
    }
}

#[test]
fn corrupt_string_refs_make_records_absent_not_wrong() {
    let (users, groups) = sample();
    let mut b = encode(1, &users, &groups).unwrap();
    // First user record's name sref: point its length past the end.
    let at = HEADER_SIZE + 8 + 4;
    b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut b);
    let s = Snapshot::parse(&b).unwrap();
    assert!(s.user_at(0).is_none());
    assert!(s.user_by_uid(0x7000_0001).is_none());
    assert_eq!(s.user_by_uid(0x7000_0003).unwrap().name(), b"carol");
}

#[test]
fn write_atomically_replaces_and_sets_mode() {
    use std::os::unix::fs::MetadataExt;
    let dir = std::env::temp_dir().join(format!("roster-snapshot-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nss.cache");
    write_atomically(&path, b"first").unwrap();
    let ino1 = fs::metadata(&path).unwrap().ino();
    let bytes = sample_bytes();
    write_atomically(&path, &bytes).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_ne!(meta.ino(), ino1, "a new inode, never an in-place rewrite");
    assert_eq!(meta.mode() & 0o7777, 0o644);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    // No temp file is left behind.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    let me = meta.uid();
    assert_eq!(lookup_user_uid(&path, "bob", me), Some(0x7000_0002));
    assert_eq!(lookup_user_uid(&path, "dave", me), None);
    assert_eq!(lookup_user_uid(&dir.join("missing"), "bob", me), None);
    // Another owner, or a file group or others could have written: nobody.
    assert_eq!(lookup_user_uid(&path, "bob", me.wrapping_add(1)), None);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
    assert_eq!(lookup_user_uid(&path, "bob", me), None);
    write_atomically(&path, b"garbage").unwrap();
    assert_eq!(lookup_user_uid(&path, "bob", me), None);
    assert!(write_atomically(&dir.join("no/such/dir/x"), b"x").is_err());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn names_planted_in_advance_never_block_a_write() {
    let dir = std::env::temp_dir().join(format!("roster-snapshot-plant-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nss.cache");
    // The names the writer used to pick (`.NAME.tmp.PID.N`), planted first.
    let planted: Vec<_> = (0..256)
        .map(|n| dir.join(format!(".nss.cache.tmp.{}.{n}", std::process::id())))
        .collect();
    for p in &planted {
        fs::write(p, b"planted").unwrap();
    }
    for round in 0..8u8 {
        write_atomically(&path, &[round; 16]).unwrap();
        assert_eq!(fs::read(&path).unwrap(), [round; 16]);
    }
    // Someone else's files are left alone; no temp file of ours remains.
    assert!(planted.iter().all(|p| fs::read(p).unwrap() == b"planted"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), planted.len() + 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_write_leaves_no_temp_file_and_the_old_file_in_place() {
    let dir = std::env::temp_dir().join(format!("roster-snapshot-fail-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    // A non-empty directory where the file should go: the rename fails
    // after the temp file was written.
    let path = dir.join("nss.cache");
    fs::create_dir_all(path.join("occupied")).unwrap();
    assert!(write_atomically(&path, b"new").is_err());
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("nss.cache")]);
    assert!(path.join("occupied").is_dir());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_a_file_of_the_owner_writable_by_nobody_else_is_trusted() {
    assert!(trusted_file(0, 0o100644, 0));
    assert!(trusted_file(0, 0o100444, 0));
    assert!(trusted_file(0, 0o100600, 0));
    assert!(!trusted_file(1000, 0o100644, 0), "another owner");
    assert!(!trusted_file(0, 0o100664, 0), "group-writable");
    assert!(!trusted_file(0, 0o100646, 0), "writable by others");
    assert!(!trusted_file(0, 0o100666, 0));
    assert!(trusted_file(1000, 0o100644, 1000), "a test's own owner");
}

#[test]
fn a_roster_user_here_is_listed_and_resolves_to_the_same_uid() {
    let listed = |name: &str| (name == "alice" || name == "root").then_some(0x7000_0001);
    assert_eq!(
        roster_uid_here("alice", listed, |_| Some(0x7000_0001)),
        Ok(0x7000_0001)
    );
    assert_eq!(
        roster_uid_here("alice", listed, |_| Some(1000)),
        Err(NotHere::Shadowed)
    );
    assert_eq!(
        roster_uid_here("alice", listed, |_| None),
        Err(NotHere::Unresolved)
    );
    assert_eq!(
        roster_uid_here("bob", listed, |_| Some(0x7000_0001)),
        Err(NotHere::NotListed)
    );
    // Root is refused before the snapshot is even asked, whatever it says.
    let asked = std::cell::Cell::new(false);
    let result = roster_uid_here(
        "root",
        |n| {
            asked.set(true);
            listed(n)
        },
        |_| Some(0x7000_0001),
    );
    assert_eq!(result, Err(NotHere::Root));
    assert!(!asked.get());
}

#[test]
fn the_default_path_is_rosterds_nss_cache() {
    assert_eq!(DEFAULT_PATH, "/var/cache/roster/nss.cache");
    assert_eq!(DEFAULT_PATH_C.to_bytes(), DEFAULT_PATH.as_bytes());
}

/// A file rosterd wrote before the hash indexes (format version 1,
/// generated by `examples/gen.rs --users 8 --generation 3 --admins 3` at
/// that version): still read, by bisection, with the same answers.
#[test]
fn a_version_1_file_old_rosterd_wrote_is_still_read() {
    let b = include_bytes!("../tests/fixtures/v1-8-users.snapshot");
    let s = Snapshot::parse(b).unwrap();
    s.verify_body().unwrap();
    assert_eq!((s.version(), s.generation()), (1, 3));
    assert!(!s.has_superseded_word() && !s.superseded());
    assert_eq!((s.user_count(), s.group_count()), (8, 9));
    for i in 0..8u32 {
        let name = format!("ruser{i}");
        let u = s.user_by_name(name.as_bytes()).unwrap();
        assert_eq!((u.uid(), u.gid()), (0x7000_0001 + i, 0x7000_0001 + i));
        assert_eq!(s.user_by_uid(0x7000_0001 + i).unwrap(), u);
        assert_eq!(
            s.group_by_gid(0x7000_0001 + i).unwrap().name(),
            name.as_bytes()
        );
    }
    let admins = s.group_by_name(b"roster-admins").unwrap();
    assert_eq!(admins.gid(), 0x7000_0000);
    assert_eq!(
        admins.members().collect::<Vec<_>>(),
        vec![&b"ruser0"[..], b"ruser1", b"ruser2"]
    );
    assert_eq!(
        s.groups_of(b"ruser2").collect::<Vec<_>>(),
        vec![0x7000_0000]
    );
    assert!(s.user_by_name(b"ruser8").is_none());
    assert!(s.user_by_uid(0x7000_0009).is_none());
    // The same users through today's encoder answer the same.
    let same: Vec<SnapshotUser> = (0..8)
        .map(|i| s.user_at(i).unwrap())
        .map(|u| SnapshotUser {
            name: String::from_utf8(u.name().to_vec()).unwrap(),
            uid: u.uid(),
            gid: u.gid(),
            gecos: String::from_utf8(u.gecos().to_vec()).unwrap(),
            home: String::from_utf8(u.home().to_vec()).unwrap(),
            shell: String::from_utf8(u.shell().to_vec()).unwrap(),
        })
        .collect();
    let v1 = encode_v1(3, &same, &[]).unwrap();
    let v2 = encode(3, &same, &[]).unwrap();
    let (v1, v2) = (Snapshot::parse(&v1).unwrap(), Snapshot::parse(&v2).unwrap());
    for u in &same {
        assert_eq!(
            v1.user_by_name(u.name.as_bytes()),
            v2.user_by_name(u.name.as_bytes())
        );
        assert_eq!(v1.user_by_uid(u.uid), v2.user_by_uid(u.uid));
    }
}

/// Offsets of the version 2 hash indexes in `b` (uid, user name, gid,
/// group name), each `(start, slots)`.
fn index_sections(b: &[u8]) -> [(usize, usize); 4] {
    let u32_of = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let (users, groups, members) = (u32_of(32), u32_of(36), u32_of(40));
    let (user_slots, group_slots) = (u32_of(56), u32_of(60));
    let start = HEADER_SIZE
        + users * (USER_REC + INDEX_REC)
        + groups * (GROUP_REC + INDEX_REC)
        + members * (SREF + MEMBERSHIP_REC);
    let uid = start;
    let uname = uid + user_slots * SLOT_REC;
    let gid = uname + user_slots * SLOT_REC;
    let gname = gid + group_slots * SLOT_REC;
    [
        (uid, user_slots),
        (uname, user_slots),
        (gid, group_slots),
        (gname, group_slots),
    ]
}

#[test]
fn index_sizes_that_are_not_a_power_of_two_above_the_count_are_refused() {
    let base = sample_bytes();
    assert_eq!(index_sections(&base)[0].1, 8, "3 users: 8 slots");
    for (at, value) in [
        (56, 0u32), // users but no slots
        (56, 3),    // fewer slots than users
        (56, 6),    // not a power of two
        (60, 4),    // 5 groups in 4 slots
        (60, 12),
    ] {
        let mut b = base.clone();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        reseal(&mut b);
        assert_eq!(
            Snapshot::parse(&b).unwrap_err(),
            FormatError::BadIndexSize,
            "{at}: {value}"
        );
    }
    // A valid size that the file doesn't hold: the sizes don't add up.
    let mut b = base.clone();
    b[56..60].copy_from_slice(&16u32.to_le_bytes());
    reseal(&mut b);
    assert!(matches!(
        Snapshot::parse(&b),
        Err(FormatError::SizeMismatch { .. })
    ));
    // No users and no slots is an empty table.
    let empty = encode(1, &[], &[]).unwrap();
    assert_eq!(index_sections(&empty).map(|(_, n)| n), [0; 4]);
}

/// Entries pointing at the wrong records, or a table with no empty slot
/// and every key matching: lookups end (at most one pass over the table)
/// and answer the right record or none, never another one.
#[test]
fn a_corrupt_index_answers_nothing_wrong() {
    let (users, groups) = sample();
    let base = sample_bytes();
    let check = |b: &[u8], what: &str| {
        let s = Snapshot::parse(b).unwrap();
        for u in &users {
            if let Some(r) = s.user_by_uid(u.uid) {
                assert_eq!(r.name(), u.name.as_bytes(), "{what}");
            }
            if let Some(r) = s.user_by_name(u.name.as_bytes()) {
                assert_eq!(r.uid(), u.uid, "{what}");
            }
        }
        for g in &groups {
            if let Some(r) = s.group_by_gid(g.gid) {
                assert_eq!(r.name(), g.name.as_bytes(), "{what}");
            }
            if let Some(r) = s.group_by_name(g.name.as_bytes()) {
                assert_eq!(r.gid(), g.gid, "{what}");
            }
        }
        assert!(s.user_by_uid(12345).is_none());
        assert!(s.user_by_name(b"nobody").is_none());
    };
    // Every used slot pointing at the next record.
    let mut b = base.clone();
    for (start, slots) in index_sections(&base) {
        for slot in 0..slots {
            let at = start + slot * SLOT_REC + 4;
            let entry = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            if entry != 0 {
                b[at..at + 4].copy_from_slice(&(entry % 3 + 1).to_le_bytes());
            }
        }
    }
    reseal(&mut b);
    check(&b, "shifted entries");
    // Every slot used, each key that of the looked-up record's, pointing
    // at records past the end or at other records.
    for entry in [1u32, 2, 99, u32::MAX] {
        let mut b = base.clone();
        for (start, slots) in index_sections(&base) {
            for slot in 0..slots {
                let at = start + slot * SLOT_REC;
                b[at..at + 4].copy_from_slice(&0x7000_0002u32.to_le_bytes());
                b[at + 4..at + 8].copy_from_slice(&entry.to_le_bytes());
            }
        }
        reseal(&mut b);
        check(&b, &format!("full table of entry {entry}"));
    }
    // Untouched, every record is found through its index.
    let s = Snapshot::parse(&base).unwrap();
    for u in &users {
        assert!(s.user_by_uid(u.uid).is_some() && s.user_by_name(u.name.as_bytes()).is_some());
    }
}

#[test]
fn write_atomically_marks_the_version_2_file_it_replaces() {
    use std::os::unix::fs::FileExt;
    let dir = std::env::temp_dir().join(format!("roster-snapshot-mark-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nss.cache");
    let (u, g) = sample();
    let first = encode(1, &u, &g).unwrap();
    write_atomically(&path, &first).unwrap();
    assert!(!Snapshot::parse(&first).unwrap().superseded());
    // A reader's view of the first file: a descriptor, like a mapping,
    // keeps the inode the rename takes off the path.
    let held = fs::File::open(&path).unwrap();
    write_atomically(&path, &encode(2, &u, &g).unwrap()).unwrap();
    let mut old = vec![0u8; first.len()];
    held.read_exact_at(&mut old, 0).unwrap();
    assert_eq!(&old[SUPERSEDED_OFFSET..][..8], &SUPERSEDED.to_le_bytes());
    // Only that word changed, and it is outside both checksums.
    assert_eq!(old[..SUPERSEDED_OFFSET], first[..SUPERSEDED_OFFSET]);
    assert_eq!(old[HEADER_SIZE..], first[HEADER_SIZE..]);
    let s = Snapshot::parse(&old).unwrap();
    s.verify_body().unwrap();
    assert!(s.superseded());
    // The new file isn't marked.
    let now = fs::read(&path).unwrap();
    let s = Snapshot::parse(&now).unwrap();
    assert!(!s.superseded() && s.generation() == 2);

    // Anything but a version 2 snapshot is left alone.
    let v1 = encode_v1(1, &u, &g).unwrap();
    for other in [&v1[..], b"garbage", &first[..HEADER_SIZE - 1], b""] {
        write_atomically(&path, other).unwrap();
        assert!(!mark_superseded(&path).unwrap());
        assert_eq!(fs::read(&path).unwrap(), other);
    }
    assert!(!mark_superseded(&dir.join("missing")).unwrap());
    assert!(!mark_superseded(&dir).unwrap());
    write_atomically(&path, &first).unwrap();
    assert!(mark_superseded(&path).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn forbidden_bytes_are_found_at_every_position_and_only_them() {
    let set = [0, b'\n', b':', b','];
    for len in 0..40 {
        for at in 0..len {
            for &bad in &set {
                let mut s = vec![b'a'; len];
                s[at] = bad;
                assert!(holds_any(&s, set), "{bad} at {at} of {len}");
            }
            // Bytes next to the forbidden ones (and high ones) are fine.
            let mut s = vec![b'a'; len];
            s[at] = [1u8, 0xff, 0x80, b';', b'+', b'\t', 0x7f][at % 7];
            assert!(!holds_any(&s, set), "{s:?}");
        }
        assert!(!holds_any(&vec![b'z'; len], set));
    }
}

#[test]
fn names_sharing_their_first_16_bytes_are_sorted_found_and_told_apart() {
    // The encoder orders names by their first 16 bytes before comparing
    // them whole: names that share those bytes, or are a prefix of one
    // another, must still be in byte order (version 1 bisects it) and a
    // twin among them must still be refused.
    let names = [
        "a-very-long-name-2",
        "a-very-long-name-10",
        "a-very-long-name-1",
        "a-very-long-name",
        "a-very-long-nam",
        "b",
    ];
    let users: Vec<SnapshotUser> = (0u32..).zip(names).map(|(i, n)| user(n, 100 + i)).collect();
    // A private group named after a user, a group no user is named after,
    // and a member who is no user.
    let groups = vec![
        group("a-very-long-name-1", 5, &["b", "an-outsider-member-name"]),
        group("a-group-that-is-no-user", 6, &["an-outsider-member-name"]),
    ];
    for encoder in [encode, encode_v1] {
        let bytes = encoder(1, &users, &groups).unwrap();
        let snap = Snapshot::parse(&bytes).unwrap();
        snap.verify_body().unwrap();
        for (i, n) in (0u32..).zip(names) {
            assert_eq!(
                snap.user_by_name(n.as_bytes()).unwrap().uid(),
                100 + i,
                "{n}"
            );
        }
        assert!(snap.user_by_name(b"a-very-long-name-").is_none());
        let g = snap.group_by_name(b"a-very-long-name-1").unwrap();
        assert_eq!(g.gid(), 5);
        let members: Vec<&[u8]> = g.members().collect();
        assert_eq!(members, [&b"b"[..], b"an-outsider-member-name"]);
        assert_eq!(
            snap.group_by_name(b"a-group-that-is-no-user")
                .unwrap()
                .gid(),
            6
        );
        let of: Vec<u32> = snap.groups_of(b"an-outsider-member-name").collect();
        assert_eq!(of, [5, 6]);
    }
    let mut twins = users.clone();
    twins.push(user("a-very-long-name-10", 200));
    assert_eq!(
        encode(1, &twins, &[]).unwrap_err(),
        EncodeError::DuplicateUserName("a-very-long-name-10".into())
    );
    // The borrowed encoder writes the very same file.
    let fields: Vec<UserFields> = users.iter().map(SnapshotUser::fields).collect();
    let group_fields: Vec<GroupFields> = groups.iter().map(SnapshotGroup::fields).collect();
    assert_eq!(
        encode_fields(1, &fields, &group_fields).unwrap(),
        encode(1, &users, &groups).unwrap()
    );
}
