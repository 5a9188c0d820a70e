//! The public NSS snapshot rosterd writes: there at start, rewritten
//! before a change that shows in it is acknowledged, public fields only.

use roster_snapshot::Snapshot;
use roster_tests::{TestBus, TestDaemon};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const PW: &str = "correct horse battery";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

struct View {
    users: Vec<(String, u32, u32, String, String, String)>,
    admins: Vec<String>,
    groups: Vec<(String, u32)>,
    inode: u64,
}

fn read(d: &TestDaemon) -> View {
    let path = d.nss_cache_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
    s.verify_body().unwrap_or_else(|e| panic!("{e:?}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let users = (0..s.user_count())
        .filter_map(|i| s.user_at(i))
        .map(|u| {
            (
                text(u.name()),
                u.uid(),
                u.gid(),
                text(u.gecos()),
                text(u.home()),
                text(u.shell()),
            )
        })
        .collect();
    let groups = (0..s.group_count())
        .filter_map(|i| s.group_at(i))
        .map(|g| (text(g.name()), g.gid()))
        .collect();
    let admins = s
        .group_by_name(b"roster-admins")
        .map(|g| g.members().map(text).collect())
        .unwrap_or_default();
    let inode = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
    View {
        users,
        admins,
        groups,
        inode,
    }
}

#[test]
fn the_snapshot_follows_every_change_before_it_is_acknowledged() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let start = read(&d);
    assert!(start.users.is_empty());
    assert!(
        start
            .groups
            .contains(&("roster-admins".into(), 1_879_048_192))
    );
    let mode = std::fs::metadata(d.nss_cache_path())
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o644);

    let request = serde_json::json!({"name": "alice", "display_name": "Alice Liddell",
        "role": "", "home": "/srv/alice", "shell": "/bin/sh", "register": false});
    d.probe("Users.Create", &[&request.to_string(), &q(PW)])
        .run()
        .expect_ok();
    // Read right after the reply: the write finished before it.
    let v = read(&d);
    let alice = v.users.iter().find(|u| u.0 == "alice").cloned();
    let Some((_, uid, gid, gecos, home, shell)) = alice else {
        panic!("alice missing: {:?}", v.users)
    };
    assert_eq!(
        (gid, gecos.as_str(), home.as_str(), shell.as_str()),
        (uid, "Alice Liddell", "/srv/alice", "/bin/sh")
    );
    assert!(v.groups.contains(&("alice".into(), uid)));
    // Always a new file (renamed into place), never rewritten in place.
    assert_ne!(v.inode, start.inode);

    // Admin group: an admin grant on this host's environment, a role admin.
    d.grant("alice", "admin", "");
    assert_eq!(read(&d).admins, vec!["alice"]);
    d.create_user("boss", "admin", PW);
    assert_eq!(read(&d).admins, vec!["alice", "boss"]);
    d.probe(
        "Grants.Revoke",
        &[&q("alice"), &q("admin"), &q(""), "false"],
    )
    .run()
    .expect_ok();
    assert_eq!(read(&d).admins, vec!["boss"]);

    // An edit shows at once.
    let edit = serde_json::json!({"display_name": "Alice L.", "role": "", "home": "", "shell": ""});
    d.probe("Users.Edit", &[&q("alice"), &edit.to_string()])
        .run()
        .expect_ok();
    assert!(
        read(&d)
            .users
            .iter()
            .any(|u| u.0 == "alice" && u.3 == "Alice L.")
    );

    // Pending and suspended users resolve; a suspended one leaves the admin group.
    d.create_pending_user("carol");
    assert!(read(&d).users.iter().any(|u| u.0 == "carol"));
    d.create_user("dave", "admin", PW);
    d.probe("Users.Suspend", &[&q("dave"), "true"])
        .run()
        .expect_ok();
    let v = read(&d);
    assert!(v.users.iter().any(|u| u.0 == "dave"));
    assert!(!v.admins.contains(&"dave".to_owned()));

    // Deleted users vanish, with their private group.
    d.probe("Users.Delete", &[&q("alice"), "true"])
        .run()
        .expect_ok();
    let v = read(&d);
    assert!(!v.users.iter().any(|u| u.0 == "alice"));
    assert!(!v.groups.iter().any(|g| g.0 == "alice"));
}

#[test]
fn no_secret_or_hash_reaches_the_snapshot() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("alice", "user", "a-very-Secret-pw-123");
    let bytes = std::fs::read(d.nss_cache_path()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("a-very-Secret-pw-123"));
    assert!(!text.contains("$argon2"));
}

#[test]
fn changes_arriving_together_are_all_in_the_snapshot() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let cmd = d.probe(
                "Users.Create",
                &[
                    &serde_json::json!({"name": format!("u{i}"), "display_name": "", "role": "",
                        "home": "", "shell": "", "register": true})
                    .to_string(),
                    "\"\"",
                ],
            );
            let path = d.nss_cache_path();
            std::thread::spawn(move || {
                cmd.run().expect_ok();
                // Each caller, once answered, finds itself in the file.
                let bytes = std::fs::read(&path).unwrap_or_default();
                let s = Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
                assert!(
                    s.user_by_name(format!("u{i}").as_bytes()).is_some(),
                    "u{i} not yet written"
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap_or_else(|_| panic!("a create failed"));
    }
    let v = read(&d);
    for i in 0..12 {
        assert!(
            v.users.iter().any(|u| u.0 == format!("u{i}")),
            "u{i} missing"
        );
    }
}

/// The temp file's name used to be `.nss.cache.tmp.PID.N`: anyone able to
/// create files in the cache folder could plant the next names and block
/// every write. Random names with O_EXCL: planted files change nothing.
#[test]
fn temp_names_planted_in_the_cache_folder_never_block_a_write() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let cache = d.nss_cache_path();
    let folder = cache.parent().unwrap_or_else(|| panic!("no folder"));
    let pid = d.pid();
    for n in 0..512 {
        std::fs::write(folder.join(format!(".nss.cache.tmp.{pid}.{n}")), b"planted")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for name in ["alice", "bob"] {
        d.create_user(name, "user", PW);
        assert!(
            read(&d).users.iter().any(|u| u.0 == name),
            "{name} missing: the write was blocked"
        );
    }
    assert!(!d.stderr_log().contains("can't write the NSS snapshot"));
}

/// The snapshot's generation (each write has a higher one) and inode
/// (each write renames a new file into place).
fn written(d: &TestDaemon) -> (u64, u64) {
    let path = d.nss_cache_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
    let inode = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
    (s.generation(), inode)
}

/// Nothing a login writes (lockout counters, last login, sessions) is in
/// the snapshot: a burst of logins never rewrites it, and a change after
/// them still does.
#[test]
fn logins_never_rewrite_the_snapshot() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("alice", "admin", PW);
    let before = written(&d);
    let conn = d.connect();
    let pam = zbus::block_on(roster_client::PamProxy::new(&conn)).unwrap_or_else(|e| panic!("{e}"));
    let pid = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let start = roster_client::stat_start_time(&stat).unwrap_or(0);
    let session = roster_client::OpenSession {
        user: "alice".into(),
        service: "sshd".into(),
        tty: "pts/3".into(),
        remote_host: "198.51.100.7".into(),
        leader_pid: pid,
        leader_start: start,
    };
    for i in 0..100 {
        // Every tenth a wrong password first: a counted failure, then the
        // success that clears it.
        if i % 10 == 0 {
            let failed = zbus::block_on(pam.authenticate("alice", "wrong", "198.51.100.7", 0))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(failed.outcome.as_str(), "failed");
        }
        let reply = zbus::block_on(pam.authenticate("alice", PW, "198.51.100.7", 0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.outcome.as_str(), "success");
        zbus::block_on(pam.check_account("alice")).unwrap_or_else(|e| panic!("{e}"));
        zbus::block_on(pam.open_session(&session)).unwrap_or_else(|e| panic!("{e}"));
        zbus::block_on(pam.close_session("alice", pid, start)).unwrap_or_else(|e| panic!("{e}"));
    }
    let after = written(&d);
    eprintln!(
        "snapshot writes for 100 logins: {}",
        after.0.saturating_sub(before.0)
    );
    assert_eq!(after, before, "a login rewrote the snapshot");
    d.create_user("bob", "user", PW);
    assert!(written(&d).0 > before.0, "a create rewrites it");
}

/// Figures for the record (no assertion on speed): what a `users create`
/// costs over the bus, the snapshot write included.
/// `cargo test -p roster-tests --test daemon_snapshot users_create_cost -- --ignored --nocapture`
#[test]
#[ignore = "timing figures"]
fn users_create_cost() {
    let bus = TestBus::start();
    // A range of its own past every test's block: these users run nothing.
    let first = roster_tests::UID_MIN + 100_000;
    let d = TestDaemon::start_with(
        &bus,
        roster_tests::TestConfig::new()
            .set("uid_min", &first.to_string())
            .set("uid_max", &(first + 300).to_string()),
    );
    let conn = d.connect();
    let users =
        zbus::block_on(roster_client::UsersProxy::new(&conn)).unwrap_or_else(|e| panic!("{e}"));
    let mut took = Vec::new();
    for i in 0..201 {
        let request = roster_client::CreateUser {
            name: format!("user{i}"),
            display_name: String::new(),
            role: None.into(),
            home: String::new(),
            shell: String::new(),
            register: true,
        };
        let t = std::time::Instant::now();
        zbus::block_on(users.create(&request, "")).unwrap_or_else(|e| panic!("{e}"));
        took.push(t.elapsed());
    }
    took.sort();
    eprintln!(
        "users create (--register, over the bus): median {:?}, min {:?}, max {:?} of {}",
        took[took.len() / 2],
        took[0],
        took[took.len() - 1],
        took.len()
    );
}
