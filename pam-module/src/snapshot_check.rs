//! "Is this a Roster user here?", answered without rosterd.
//!
//! The NSS snapshot lists every Roster user with its uid. A name it
//! doesn't list (or a missing snapshot, which NSS can't resolve either) is
//! not ours, and neither is a name the host resolves to another uid (a
//! local account created later under the same name): both are
//! `PAM_USER_UNKNOWN` at once, so root and local users never wait on
//! rosterd and a local account never authenticates against Roster.

use crate::codes::Error;
use crate::host::Host;
use crate::options::Options;

/// The Roster uid of `user`, or why it isn't a Roster user here.
pub fn roster_uid(opts: &Options, host: &dyn Host, user: &str) -> Result<u32, Error> {
    // rosterd refuses the name `root`; not even a file read for it.
    if user == "root" {
        return Err(Error::NotRosterUser("root is never a Roster user"));
    }
    let listed = roster_snapshot::lookup_user_uid(&opts.snapshot, user)
        .ok_or(Error::NotRosterUser("not in the NSS snapshot"))?;
    match host.passwd_uid(user) {
        Some(uid) if uid == listed => Ok(uid),
        Some(_) => Err(Error::NotRosterUser(
            "a local account with another uid has this name",
        )),
        None => Err(Error::NotRosterUser("the host's NSS doesn't resolve it")),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::host::Host;
    use roster_snapshot::{SnapshotUser, encode, write_atomically};
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

    /// A snapshot file in a fresh temp directory listing `users`.
    pub fn snapshot_with(tag: &str, users: &[(&str, u32)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pam-roster-unit-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let users: Vec<SnapshotUser> = users
            .iter()
            .map(|(name, uid)| SnapshotUser {
                name: (*name).to_owned(),
                uid: *uid,
                gid: *uid,
                gecos: String::new(),
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
            })
            .collect();
        let path = dir.join("nss.cache");
        write_atomically(&path, &encode(1, &users, &[]).unwrap()).unwrap();
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
    fn a_name_the_host_cannot_resolve_is_not_ours() {
        let snap = snapshot_with("unresolved", &[("alice", 1879048193)]);
        assert!(matches!(
            roster_uid(&opts(snap), &host(&[]), "alice"),
            Err(Error::NotRosterUser(_))
        ));
    }
}
