//! The snapshot rosterd writes, read back through glibc's NSS path with
//! the real libnss_roster.so.2 (loaded by nss_wrapper): what DESIGN.md says
//! NSS shows, and that it keeps answering while rosterd is down.

use roster_tests::{TestBus, TestDaemon};
use std::path::{Path, PathBuf};

const PW: &str = "correct horse battery";

fn nss_so() -> PathBuf {
    let path = std::env::var_os("ROSTER_NSS_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/nss/release/libnss_roster.so")
        });
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p nss_roster --target-dir target/nss",
        path.display()
    );
    path
}

/// `getent DATABASE KEY…` through nss_wrapper with only the host's root
/// in the local files, so every other answer comes from libnss_roster.
fn getent(d: &TestDaemon, dir: &Path, args: &[&str]) -> (i32, String) {
    let passwd = dir.join("passwd");
    let group = dir.join("group");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(&group, "root:x:0:\n").unwrap();
    let out = std::process::Command::new("getent")
        .args(args)
        .env("LD_PRELOAD", "libnss_wrapper.so")
        .env("NSS_WRAPPER_PASSWD", &passwd)
        .env("NSS_WRAPPER_GROUP", &group)
        .env("NSS_WRAPPER_MODULE_SO_PATH", nss_so())
        .env("NSS_WRAPPER_MODULE_FN_PREFIX", "roster")
        .env("ROSTER_NSS_CACHE", d.nss_cache_path())
        .output()
        .expect("run getent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn getent_shows_every_state_and_the_admin_group_follows_grants() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let dir = tempfile::tempdir().unwrap();

    let alice = d.create_user("alice", "user", PW);
    let (pending, _code) = d.create_pending_user("penny");
    d.create_user("sam", "user", PW);
    d.roster(&["users", "suspend", "sam"]).run().expect_ok();
    d.create_user("gone", "user", PW);
    d.roster(&["users", "delete", "gone", "--yes"])
        .run()
        .expect_ok();

    let (code, out) = getent(&d, dir.path(), &["passwd", "alice"]);
    assert_eq!(code, 0, "{out}");
    let fields: Vec<&str> = out.trim_end().split(':').collect();
    assert_eq!(fields[0], "alice");
    assert_eq!(fields[1], "*", "pw_passwd must be '*': {out}");
    assert_eq!(fields[2], alice.to_string());
    assert_eq!(fields[3], alice.to_string(), "gid = uid");

    // Pending and suspended users resolve; deleted ones vanish.
    let (code, out) = getent(&d, dir.path(), &["passwd", &pending.to_string()]);
    assert_eq!((code, out.starts_with("penny:")), (0, true), "{out}");
    let (code, out) = getent(&d, dir.path(), &["passwd", "sam"]);
    assert_eq!(code, 0, "a suspended user keeps resolving: {out}");
    let (code, out) = getent(&d, dir.path(), &["passwd", "gone"]);
    assert_eq!(code, 2, "a deleted user must vanish: {out}");

    // The private group.
    let (code, out) = getent(&d, dir.path(), &["group", "alice"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("alice:*:{alice}:")), "{out}");

    // Granting admin here puts alice in the admin group; revoking takes her out.
    let (_, out) = getent(&d, dir.path(), &["group", "roster-admins"]);
    assert!(!out.contains("alice"), "{out}");
    d.grant("alice", "admin", "");
    let (code, out) = getent(&d, dir.path(), &["group", "roster-admins"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with(":alice"), "{out}");
    d.roster(&["users", "revoke", "alice", "admin"])
        .run()
        .expect_ok();
    let (_, out) = getent(&d, dir.path(), &["group", "roster-admins"]);
    assert!(!out.contains("alice"), "{out}");
    // A role change moves her in too.
    d.roster(&["users", "edit", "alice", "--set-role", "admin"])
        .run()
        .expect_ok();
    let (_, out) = getent(&d, dir.path(), &["group", "roster-admins"]);
    assert!(out.contains("alice"), "{out}");
}

#[test]
fn nss_keeps_answering_while_rosterd_is_down() {
    let bus = TestBus::start();
    let mut d = TestDaemon::start(&bus);
    let dir = tempfile::tempdir().unwrap();
    let uid = d.create_user("bob", "user", PW);

    d.kill9();
    let (code, out) = getent(&d, dir.path(), &["passwd", "bob"]);
    assert_eq!(code, 0, "bob must resolve with rosterd gone: {out}");
    assert!(out.starts_with(&format!("bob:*:{uid}:{uid}:")), "{out}");
    let (code, out) = getent(&d, dir.path(), &["passwd", "nobody-here"]);
    assert_eq!(code, 2, "{out}");
}
