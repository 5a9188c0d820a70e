//! The snapshot rosterd writes, read back through glibc's NSS path with
//! the real libnss_roster.so.2 (loaded by nss_wrapper): what DESIGN.md says
//! NSS shows, and that it keeps answering while rosterd is down.

use roster_tests::{TestBus, TestConfig, TestDaemon, skip_or_fail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

fn nss_so() -> PathBuf {
    let path = std::env::var_os("ROSTER_NSS_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/nss/modules/libnss_roster.so")
        });
    assert!(
        path.exists(),
        "{} is missing: cargo build --profile modules -p nss_roster --target-dir target/nss",
        path.display()
    );
    path
}

/// `getent DATABASE KEY…` through nss_wrapper with only the host's root
/// in the local files, so every other answer comes from libnss_roster.
fn getent(d: &TestDaemon, dir: &Path, args: &[&str]) -> (i32, String) {
    getent_via(Command::new("getent"), d, dir, args)
}

/// [`getent`] inside rosterd's mount namespace (`nsenter -t PID -m`), for
/// a rosterd started with a mount of its own.
fn getent_in_mounts_of(d: &TestDaemon, dir: &Path, args: &[&str]) -> (i32, String) {
    let mut nsenter = Command::new("nsenter");
    nsenter
        .args(["-t", &d.pid().to_string(), "-m", "--"])
        .arg("getent");
    getent_via(nsenter, d, dir, args)
}

fn getent_via(mut command: Command, d: &TestDaemon, dir: &Path, args: &[&str]) -> (i32, String) {
    let passwd = dir.join("passwd");
    let group = dir.join("group");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(&group, "root:x:0:\n").unwrap();
    let out = command
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

/// Whether this host lets a test give rosterd a mount of its own (root,
/// `unshare -m`, `nsenter`); otherwise the test is skipped (or fails
/// under ROSTER_TESTS_REQUIRE_ALL=1).
fn private_mounts_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail(
            test,
            "needs root to mount a tmpfs in a private mount namespace",
        );
        return false;
    }
    let ok = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok("unshare", &["-m", "true"]) || !ok("nsenter", &["--version"]) {
        skip_or_fail(test, "`unshare -m` or `nsenter` is not available here");
        return false;
    }
    true
}

/// Runs `argv` inside rosterd's mount namespace; its exit code.
fn in_mounts_of(d: &TestDaemon, argv: &[&str]) -> Option<i32> {
    Command::new("nsenter")
        .args(["-t", &d.pid().to_string(), "-m", "--"])
        .args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()
        .and_then(|s| s.code())
}

const NOT_SHOWN_YET: &str = "the change is made, but NSS doesn't show it yet";

/// The cache folder fills up (a 256 KiB tmpfs mounted over it in
/// rosterd's own mount namespace: nothing on the host changes, and it
/// goes away with rosterd): a revoke and a delete are made but not
/// acknowledged, NSS keeps the old state, and once space is freed
/// rosterd's retry writes the snapshot with no further change.
#[test]
fn a_full_cache_folder_is_reported_and_the_snapshot_catches_up_once_freed() {
    let test = "a_full_cache_folder_is_reported_and_the_snapshot_catches_up_once_freed";
    if !private_mounts_available(test) {
        return;
    }
    let bus = TestBus::start();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap().to_owned();
    let nss_cache = format!("{cache_dir}/nss.cache");
    let mount_then_exec =
        r#"mount -t tmpfs -o size=256k,mode=0755 roster-test-cache "$0" && exec "$@""#;
    let d = TestDaemon::start_with(
        &bus,
        TestConfig::new()
            .set_str("nss_cache", &nss_cache)
            .launcher(&[
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                mount_then_exec,
                &cache_dir,
            ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let bob = d.create_user("bob", "user", PW);
    d.grant("bob", "admin", "");
    let (_, admins) = getent_in_mounts_of(&d, dir.path(), &["group", "roster-admins"]);
    assert!(admins.trim_end().ends_with(":bob"), "{admins}");

    // Fill the folder (dd stops at ENOSPC).
    let filler = format!("{cache_dir}/filler");
    in_mounts_of(
        &d,
        &["dd", "if=/dev/zero", &format!("of={filler}"), "bs=4k"],
    );

    // The revoke is made, and said to be not yet in NSS: exit 1, the sentence.
    let revoke = d.roster(&["users", "revoke", "bob", "admin"]).run();
    assert_eq!(revoke.code, Some(1), "{revoke:?}");
    assert!(revoke.stderr.contains(NOT_SHOWN_YET), "{revoke:?}");
    let held = d.sqlite("SELECT level FROM grants JOIN users USING (uid) WHERE name = 'bob'");
    assert!(
        !held.contains("admin"),
        "the revoke is in the database: {held}"
    );
    let (_, admins) = getent_in_mounts_of(&d, dir.path(), &["group", "roster-admins"]);
    assert!(
        admins.contains("bob"),
        "NSS still shows the old group: {admins}"
    );

    // The same for a delete: made, not acknowledged, NSS still resolves bob.
    let delete = d.roster(&["users", "delete", "bob", "--yes"]).run();
    assert_eq!(delete.code, Some(1), "{delete:?}");
    assert!(delete.stderr.contains(NOT_SHOWN_YET), "{delete:?}");
    assert_eq!(
        d.sqlite("SELECT count(*) FROM users WHERE name = 'bob'")
            .trim(),
        "0"
    );
    let (code, out) = getent_in_mounts_of(&d, dir.path(), &["passwd", "bob"]);
    assert_eq!(code, 0, "the snapshot is still the old one: {out}");
    assert!(out.starts_with(&format!("bob:*:{bob}:")), "{out}");
    // A pending user is made too, but its code can't come with an error:
    // the sentence says how to get another.
    let pending = d.roster(&["users", "create", "carol", "--register"]).run();
    assert_eq!(pending.code, Some(1), "{pending:?}");
    assert!(pending.stderr.contains(NOT_SHOWN_YET), "{pending:?}");
    assert!(
        pending
            .stderr
            .contains("roster users password carol --reset"),
        "{pending:?}"
    );
    assert_eq!(
        d.sqlite("SELECT count(*) FROM users WHERE name = 'carol'")
            .trim(),
        "1"
    );
    // roster doctor says so.
    let current = snapshot_current(&d);
    assert_eq!(current["status"], "fail", "{current:#}");
    assert!(
        current["message"]
            .as_str()
            .is_some_and(|m| m.contains("older than the database")),
        "{current:#}"
    );

    // Space comes back: rosterd's own retry writes the snapshot, with no
    // new change (bounded wait: the retry interval is at most 30 s).
    assert_eq!(in_mounts_of(&d, &["rm", &filler]), Some(0));
    let freed = Instant::now();
    let deadline = freed + Duration::from_secs(60);
    loop {
        let (code, out) = getent_in_mounts_of(&d, dir.path(), &["passwd", "bob"]);
        if code == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob still resolves 60 s after the space came back: {out}\n{}",
            d.stderr_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A figure for the record (no assertion on speed).
    eprintln!(
        "space freed -> NSS current after {:?} (no change made meanwhile)",
        freed.elapsed()
    );
    let (_, admins) = getent_in_mounts_of(&d, dir.path(), &["group", "roster-admins"]);
    assert!(!admins.contains("bob"), "{admins}");
    assert_eq!(snapshot_current(&d)["status"], "ok");
    // One line for the failure streak, one for the recovery.
    let log = d.stderr_log();
    assert_eq!(
        log.matches("can't write the NSS snapshot").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("is written again").count(), 1, "{log}");
    let (code, _) = getent_in_mounts_of(&d, dir.path(), &["passwd", "carol"]);
    assert_eq!(code, 0, "carol, made while the disk was full, resolves now");
    // A change now is acknowledged as before.
    d.create_user("dave", "user", PW);
    let (code, _) = getent_in_mounts_of(&d, dir.path(), &["passwd", "dave"]);
    assert_eq!(code, 0);
}

/// `roster doctor --json`'s `snapshot-current` finding for `d`.
fn snapshot_current(d: &TestDaemon) -> serde_json::Value {
    let out = d
        .roster(&["doctor", "--json", "--config"])
        .arg(&d.config_path().display().to_string())
        .run();
    let list: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    list.as_array()
        .and_then(|l| l.iter().find(|f| f["check"] == "snapshot-current"))
        .cloned()
        .unwrap_or_else(|| panic!("no snapshot-current finding: {list:#}"))
}
