//! "Is this a Roster user here?", answered without rosterd.
//!
//! The NSS snapshot lists every Roster user with its uid. A name it
//! doesn't list (or a missing snapshot, which NSS can't resolve either) is
//! not ours, and neither is a name the host resolves to another uid (a
//! local account created later under the same name): both are
//! `PAM_USER_UNKNOWN` at once, so root and local users never wait on
//! rosterd and a local account never authenticates against Roster.
//!
//! The snapshot is mapped read-only for the one lookup
//! ([`roster_snapshot::mapped`], the mapping the NSS module uses too)
//! rather than read: with 100,000 users it is megabytes, and a binary
//! search by name touches a few pages of it. The rule itself (root never,
//! listed, and the same uid through the host's NSS) is
//! [`roster_snapshot::roster_uid_here`].
//!
//! A snapshot not owned by root, or writable by group or others, is
//! treated as missing (the NSS module's rule,
//! [`roster_snapshot::trusted_file`]): whoever could write it could drop a
//! suspended Roster user from it, and the account step would then answer
//! "not ours" (`user_unknown=ignore`) instead of refusing them. Unlike the
//! NSS module there is no variable to name another owner: the module reads
//! no environment at all (DESIGN.md); the unit tests, which write their
//! snapshots as whoever runs them, are compiled to expect that uid.

#![forbid(unsafe_code)]

use crate::codes::Error;
use crate::host::Host;
use crate::options::Options;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The uid the snapshot at `path` lists for `name`. `None` when the file
/// is missing, unreadable, empty, too small, not a valid snapshot, or
/// doesn't list the name: all mean "not a Roster user here".
fn listed_uid(path: &Path, name: &str) -> Option<u32> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    roster_snapshot::mapped::listed_uid(&path, name, snapshot_owner())
}

/// Who must own the snapshot: root, which rosterd runs as.
#[cfg(not(test))]
fn snapshot_owner() -> u32 {
    0
}

/// The unit tests' snapshots belong to whoever runs them.
#[cfg(test)]
fn snapshot_owner() -> u32 {
    tests::own_uid()
}

/// The Roster uid of `user`, or why it isn't a Roster user here.
pub fn roster_uid(opts: &Options, host: &dyn Host, user: &str) -> Result<u32, Error> {
    roster_snapshot::roster_uid_here(
        user,
        |name| listed_uid(&opts.snapshot, name),
        |name| host.passwd_uid(name),
    )
    .map_err(|why| Error::NotRosterUser(why.reason()))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::host::Host;
    use roster_snapshot::{HEADER_SIZE, SnapshotUser, encode, lookup_user_uid, write_atomically};
    use std::collections::HashMap;
    use std::path::PathBuf;

    pub struct FakeHost {
        pub passwd: HashMap<String, u32>,
        pub root: bool,
    }

    impl Host for FakeHost {
        fn passwd_uid(&self, name: &str) -> Option<u32> {
            self.passwd.get(name).copied()
        }
        fn is_root(&self) -> bool {
            self.root
        }
        fn session_leader(&self) -> Result<(u32, u64), Error> {
            Ok((4242, 987654))
        }
    }

    fn user(name: &str, uid: u32) -> SnapshotUser {
        SnapshotUser {
            name: name.to_owned(),
            uid,
            gid: uid,
            gecos: String::new(),
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
        }
    }

    /// The uid the tests' files are created with.
    pub fn own_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(temp_dir("owner")).unwrap().uid()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pam-roster-unit-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A snapshot file in a fresh temp directory listing `users`.
    pub fn snapshot_with(tag: &str, users: &[(&str, u32)]) -> PathBuf {
        let users: Vec<SnapshotUser> = users.iter().map(|(n, uid)| user(n, *uid)).collect();
        let path = temp_dir(tag).join("nss.cache");
        write_atomically(&path, &encode(1, &users, &[]).unwrap()).unwrap();
        path
    }

    const BIG: u32 = 100_000;
    const FIRST_UID: u32 = 1879048193;

    /// A snapshot listing `u000000`..`u099999` (uids from FIRST_UID) and
    /// alice, as rosterd's encoder writes it.
    fn big_snapshot(tag: &str) -> PathBuf {
        let mut users: Vec<SnapshotUser> = (0..BIG)
            .map(|i| user(&format!("u{i:06}"), FIRST_UID + i))
            .collect();
        users.push(user("alice", FIRST_UID + BIG));
        let path = temp_dir(tag).join("nss.cache");
        write_atomically(&path, &encode(7, &users, &[]).unwrap()).unwrap();
        path
    }

    fn opts(snapshot: PathBuf) -> Options {
        Options {
            snapshot,
            ..Options::default()
        }
    }

    fn host(passwd: &[(&str, u32)]) -> FakeHost {
        FakeHost {
            passwd: passwd.iter().map(|(n, u)| ((*n).to_owned(), *u)).collect(),
            root: true,
        }
    }

    #[test]
    fn a_listed_user_resolving_to_the_same_uid_is_ours() {
        let snap = snapshot_with("same", &[("alice", 1879048193)]);
        let h = host(&[("alice", 1879048193)]);
        assert_eq!(roster_uid(&opts(snap), &h, "alice"), Ok(1879048193));
    }

    #[test]
    fn a_local_account_shadowing_a_roster_name_is_not_ours() {
        let snap = snapshot_with("shadow", &[("alice", 1879048193)]);
        let h = host(&[("alice", 1001)]);
        assert!(matches!(
            roster_uid(&opts(snap), &h, "alice"),
            Err(Error::NotRosterUser(_))
        ));
    }

    #[test]
    fn names_the_snapshot_does_not_list_and_missing_snapshots_are_not_ours() {
        let snap = snapshot_with("unlisted", &[("alice", 1879048193)]);
        let h = host(&[("bob", 1000), ("root", 0)]);
        for name in ["bob", "root", "nobody"] {
            assert!(matches!(
                roster_uid(&opts(snap.clone()), &h, name),
                Err(Error::NotRosterUser(_))
            ));
        }
        let missing = opts(PathBuf::from("/nonexistent/nss.cache"));
        assert!(matches!(
            roster_uid(&missing, &host(&[("alice", 1879048193)]), "alice"),
            Err(Error::NotRosterUser(_))
        ));
    }

    #[test]
    fn a_corrupt_snapshot_means_no_roster_users() {
        let snap = snapshot_with("corrupt", &[("alice", 1879048193)]);
        std::fs::write(&snap, b"ROSTRNSS garbage").unwrap();
        assert!(matches!(
            roster_uid(&opts(snap), &host(&[("alice", 1879048193)]), "alice"),
            Err(Error::NotRosterUser(_))
        ));
    }

    #[test]
    fn a_snapshot_others_could_have_written_lists_no_one() {
        use std::os::unix::fs::PermissionsExt;
        let snap = snapshot_with("loose", &[("alice", 1879048193)]);
        let h = host(&[("alice", 1879048193)]);
        let chmod =
            |mode| std::fs::set_permissions(&snap, std::fs::Permissions::from_mode(mode)).unwrap();
        for loose in [0o666, 0o664, 0o646] {
            chmod(loose);
            assert!(
                matches!(
                    roster_uid(&opts(snap.clone()), &h, "alice"),
                    Err(Error::NotRosterUser(_))
                ),
                "mode {loose:o}"
            );
        }
        chmod(0o644);
        assert_eq!(roster_uid(&opts(snap.clone()), &h, "alice"), Ok(1879048193));
        // Another owner (only root can hand a file over to test that).
        if own_uid() == 0 {
            std::os::unix::fs::chown(&snap, Some(4242), Some(4242)).unwrap();
            assert!(matches!(
                roster_uid(&opts(snap.clone()), &h, "alice"),
                Err(Error::NotRosterUser(_))
            ));
        }
        std::fs::remove_dir_all(snap.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_name_the_host_cannot_resolve_is_not_ours() {
        let snap = snapshot_with("unresolved", &[("alice", 1879048193)]);
        assert!(matches!(
            roster_uid(&opts(snap), &host(&[]), "alice"),
            Err(Error::NotRosterUser(_))
        ));
    }

    #[test]
    fn a_100000_user_snapshot_answers_lookups_by_name() {
        let snap = big_snapshot("big");
        assert!(std::fs::metadata(&snap).unwrap().len() > 5_000_000);
        for (name, uid) in [
            ("u000000", FIRST_UID),
            ("u050000", FIRST_UID + 50_000),
            ("u099999", FIRST_UID + 99_999),
            ("alice", FIRST_UID + BIG),
        ] {
            assert_eq!(listed_uid(&snap, name), Some(uid), "{name}");
            let h = host(&[(name, uid)]);
            assert_eq!(roster_uid(&opts(snap.clone()), &h, name), Ok(uid));
        }
        for name in ["u100000", "bob", "root", "", "u0"] {
            assert_eq!(listed_uid(&snap, name), None, "{name}");
        }
        std::fs::remove_dir_all(snap.parent().unwrap()).unwrap();
    }

    #[test]
    fn truncated_foreign_empty_and_missing_snapshots_list_no_one() {
        let snap = big_snapshot("broken");
        let bytes = std::fs::read(&snap).unwrap();
        let dir = snap.parent().unwrap().to_owned();
        let cases: [(&str, &[u8]); 6] = [
            ("truncated", &bytes[..bytes.len() - 1]),
            ("header-only", &bytes[..HEADER_SIZE]),
            ("too-small", &bytes[..HEADER_SIZE - 1]),
            ("empty", b""),
            (
                "foreign",
                b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/:/bin/sh\n",
            ),
            ("extended", &[&bytes[..], b"\0"].concat()),
        ];
        for (tag, contents) in cases {
            let path = dir.join(tag);
            std::fs::write(&path, contents).unwrap();
            assert_eq!(listed_uid(&path, "alice"), None, "{tag}");
            assert_eq!(listed_uid(&path, "u000001"), None, "{tag}");
        }
        assert_eq!(listed_uid(&dir.join("missing"), "alice"), None);
        assert_eq!(listed_uid(&dir, "alice"), None);
        // The reader the module used before agrees on every case.
        for (tag, _) in cases {
            assert_eq!(lookup_user_uid(&dir.join(tag), "alice", 0), None, "{tag}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Before (`roster_snapshot::lookup_user_uid`: read the whole file,
    /// parse, search) against now (map, parse, search) on 100,000 users.
    /// `cargo test --release -p pam_roster --target-dir target/pam --
    /// --ignored --nocapture lookup_timing`
    #[test]
    #[ignore = "timing, run by hand"]
    fn lookup_timing_on_100000_users() {
        use std::time::{Duration, Instant};
        let snap = big_snapshot("timing");
        let size = std::fs::metadata(&snap).unwrap().len();
        let median = |f: &dyn Fn() -> Option<u32>| {
            let mut times: Vec<Duration> = (0..201)
                .map(|_| {
                    let t = Instant::now();
                    assert_eq!(f(), Some(FIRST_UID + 77_777));
                    t.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        };
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&snap).unwrap());
        let read = median(&|| lookup_user_uid(&snap, "u077777", owner));
        let mapped = median(&|| listed_uid(&snap, "u077777"));
        println!(
            "100,000 users, {size} bytes, page cache warm, median of 201: \
             read whole file {read:?}, mapped {mapped:?}"
        );
        std::fs::remove_dir_all(snap.parent().unwrap()).unwrap();
    }
}
