//! Through glibc's own NSS dispatch: `passwd: files roster`, `group: files
//! roster` in a bind-mounted `/etc/nsswitch.conf` and the module on the
//! loader's path, inside a private mount namespace
//! (`tests/nss/in-private-ns.sh`), so glibc's dlopen, ERANGE retry, fork
//! and threads are the real ones. Needs root and `unshare -m`; without
//! them each test says loudly that it skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const FILES_ROSTER: &str = "files roster";

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", show(o));
    stdout(o)
}

#[test]
fn getent_and_id_see_roster_users_and_groups() {
    if !glibc_ns_available("getent_and_id_see_roster_users_and_groups") {
        return;
    }
    let w = World::new("glibc-getent");
    write_snapshot(&w.cache(), 24, 2);
    let uid = (UID_BASE + 5).to_string();
    let out = ok(&w.glibc(
        FILES_ROSTER,
        &[
            "sh",
            "-c",
            "getent passwd ruser5 && getent passwd \"$1\" && getent passwd root && getent group roster-admins \
             && getent group ruser5 && id ruser1 && id -Gn ruser0 && getent initgroups ruser1",
            "sh",
            &uid,
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], user_line(5, 2));
    assert_eq!(lines[1], user_line(5, 2));
    assert_eq!(
        lines[2], "root:x:0:0:root:/root:/bin/bash",
        "files still answers first"
    );
    assert_eq!(
        lines[3],
        format!("roster-admins:*:{ADMIN_GID}:ruser0,ruser1")
    );
    assert_eq!(lines[4], format!("ruser5:*:{uid}:"));
    let u1 = UID_BASE + 1;
    assert_eq!(
        lines[5],
        format!("uid={u1}(ruser1) gid={u1}(ruser1) groups={u1}(ruser1),{ADMIN_GID}(roster-admins)")
    );
    assert_eq!(lines[6], "ruser0 roster-admins");
    assert!(
        lines[7].starts_with("ruser1") && lines[7].ends_with(&ADMIN_GID.to_string()),
        "{out}"
    );

    // Unknown names: getent's "not found" (2), not a crash.
    let o = w.glibc(FILES_ROSTER, &["getent", "passwd", "nosuchuser"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn enumerates_ten_thousand_users() {
    if !glibc_ns_available("enumerates_ten_thousand_users") {
        return;
    }
    let w = World::new("glibc-enum");
    write_snapshot(&w.cache(), 10_000, 1);
    // `roster` alone so the host's own accounts don't count.
    let out = ok(&w.glibc("roster", &["getent", "passwd"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10_000);
    assert_eq!(lines[0], user_line(0, 1));
    assert_eq!(lines[9_999], user_line(9_999, 1));
    let out = ok(&w.glibc("roster", &["getent", "group"]));
    assert_eq!(out.lines().count(), 10_001);
    // With files first, the host's users come first and all of ours follow.
    let out = ok(&w.glibc(FILES_ROSTER, &["getent", "passwd"]));
    assert!(out.starts_with("root:"));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ruser")).count(),
        10_000
    );
}

#[test]
fn tiny_buffer_gets_erange_then_success_through_glibc() {
    if !glibc_ns_available("tiny_buffer_gets_erange_then_success_through_glibc") {
        return;
    }
    let w = World::new("glibc-tiny");
    write_snapshot_with(&w.cache(), 24, 1, 20, 0);
    let p = probe().to_str().unwrap();
    let out = ok(&w.glibc(FILES_ROSTER, &[p, "tiny", "ruser3"]));
    assert!(out.starts_with("erange="), "{out}");
    assert!(out.contains(&user_line(3, 1)), "{out}");
    let out = ok(&w.glibc(FILES_ROSTER, &[p, "tinygr", "roster-admins"]));
    assert!(
        out.contains("roster-admins:*:1879048192:ruser0,ruser1,"),
        "{out}"
    );
}

#[test]
fn lookups_keep_working_after_fork_and_from_many_threads() {
    if !glibc_ns_available("lookups_keep_working_after_fork_and_from_many_threads") {
        return;
    }
    let w = World::new("glibc-fork");
    write_snapshot(&w.cache(), 200, 1);
    let p = probe().to_str().unwrap();
    let uid = (UID_BASE + 9).to_string();
    let out = ok(&w.glibc(FILES_ROSTER, &[p, "fork", "ruser9", &uid, "2000"]));
    assert_eq!(out.trim(), "parent_bad=0 child_ok=1");
    let out = ok(&w.glibc(FILES_ROSTER, &[p, "hammer", "1.5", "16", "ruser", "200"]));
    assert!(out.contains("bad=0 missing=0"), "{out}");
}

/// rosterd's way of writing (temp file + rename) in a loop while 8 threads
/// look up: no crash, no missing user, never a mix of two generations.
#[test]
fn lookups_while_the_snapshot_is_replaced_in_a_loop() {
    if !glibc_ns_available("lookups_while_the_snapshot_is_replaced_in_a_loop") {
        return;
    }
    let w = World::new("glibc-replace");
    write_snapshot(&w.cache(), 500, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes, path) = (stop.clone(), writes.clone(), w.cache());
        std::thread::spawn(move || {
            let mut generation = 1;
            while !stop.load(Ordering::SeqCst) {
                generation += 1;
                write_snapshot(&path, 500, generation);
                writes.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let p = probe().to_str().unwrap();
    let o = w.glibc(FILES_ROSTER, &[p, "hammer", "3", "8", "ruser", "500"]);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let out = ok(&o);
    assert!(out.contains("bad=0 missing=0"), "{out}");
    let count = |key: &str| -> u64 {
        out.split(key)
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        count("v0=") > 0 && count("v1=") > 0,
        "both generations must have been seen: {out}"
    );
    assert!(writes.load(Ordering::SeqCst) > 10, "the writer barely ran");
}

/// An enumeration walks one snapshot from setpwent to endpwent, even
/// while the file is replaced under it.
#[test]
fn enumeration_sees_one_snapshot_while_it_is_replaced() {
    if !glibc_ns_available("enumeration_sees_one_snapshot_while_it_is_replaced") {
        return;
    }
    let w = World::new("glibc-enum-replace");
    write_snapshot(&w.cache(), 200, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), w.cache());
        std::thread::spawn(move || {
            let mut generation = 1;
            while !stop.load(Ordering::SeqCst) {
                generation += 1;
                write_snapshot(&path, 200, generation);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let p = probe().to_str().unwrap();
    let o = w.glibc("roster", &[p, "enumcheck", "30"]);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let out = ok(&o);
    assert!(out.starts_with("rounds=30 "), "{out}");
    // And the file really did change between enumerations.
    assert!(!out.contains("v0=0") && !out.contains("v1=0"), "{out}");
}

#[test]
fn corrupt_or_missing_snapshot_is_unavailable_and_files_still_answer() {
    if !glibc_ns_available("corrupt_or_missing_snapshot_is_unavailable_and_files_still_answer") {
        return;
    }
    let w = World::new("glibc-corrupt");
    let u = users(24, 1);
    let good = roster_snapshot::encode(1, &u, &groups(&u, 2, 0)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("foreign", b"root:x:0:0:root:/root:/bin/bash\n".to_vec()),
        ("garbage", vec![0x5au8; 4096]),
    ];
    let script = "getent passwd ruser1; echo rc=$?; getent passwd root; id ruser1; echo rc=$?; getent group roster-admins; echo rc=$?";
    for (what, bytes) in cases {
        std::fs::write(w.cache(), &bytes).unwrap();
        let out = ok(&w.glibc(FILES_ROSTER, &["sh", "-c", script]));
        assert!(out.starts_with("rc=2\nroot:x:0:0:"), "{what}: {out}");
        assert!(out.contains("rc=1\nrc=2\n"), "{what}: {out}");
    }
    std::fs::remove_file(w.cache()).unwrap();
    let out = ok(&w.glibc(FILES_ROSTER, &["sh", "-c", script]));
    assert!(out.starts_with("rc=2\nroot:x:0:0:"), "missing: {out}");
}

/// Through glibc's dispatch: a snapshot another uid owns, or anyone may
/// write, resolves no Roster user, and the local files still answer.
#[test]
fn a_snapshot_not_owned_by_root_or_writable_by_others_resolves_no_one() {
    if !glibc_ns_available("a_snapshot_not_owned_by_root_or_writable_by_others_resolves_no_one") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let w = World::new("glibc-owner");
    write_snapshot(&w.cache(), 24, 1);
    let script = "getent passwd ruser1; echo rc=$?; getent passwd root";
    let out = ok(&w.glibc(FILES_ROSTER, &["sh", "-c", script]));
    assert!(out.starts_with(&user_line(1, 1)), "root's 0644 file: {out}");

    std::fs::set_permissions(w.cache(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = ok(&w.glibc(FILES_ROSTER, &["sh", "-c", script]));
    assert!(out.starts_with("rc=2\nroot:x:0:0:"), "mode 0666: {out}");

    std::fs::set_permissions(w.cache(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let c = std::ffi::CString::new(w.cache().as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path (the test runs as root, checked above).
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 4242, 4242) }, 0);
    let out = ok(&w.glibc(FILES_ROSTER, &["sh", "-c", script]));
    assert!(
        out.starts_with("rc=2\nroot:x:0:0:"),
        "owned by uid 4242: {out}"
    );
}

/// `pw_passwd` is `*`: with a Debian-like pam_unix stack, `nullok` doesn't
/// let a Roster user in with an empty password, and pam_unix's account
/// check passes a Roster user (an `x` would send it looking for a shadow
/// entry and refuse).
#[test]
fn pam_unix_refuses_empty_password_and_passes_account() {
    if !glibc_ns_available("pam_unix_refuses_empty_password_and_passes_account") {
        return;
    }
    if std::process::Command::new("pamtester")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("pamtester is not installed (apt-get install pamtester)");
    }
    let w = World::new("glibc-pam");
    write_snapshot(&w.cache(), 4, 1);
    let pam = w.dir.path().join("pam.d");
    std::fs::create_dir(&pam).unwrap();
    std::fs::write(
        pam.join("roster-test"),
        "auth required pam_unix.so nullok\naccount required pam_unix.so\n",
    )
    .unwrap();
    let pam_dir = pam.to_str().unwrap();
    let extra = ["--pam-dir", pam_dir];
    let o = w.glibc_with(
        FILES_ROSTER,
        &extra,
        &[
            "sh",
            "-c",
            "printf '\\n' | pamtester roster-test ruser1 authenticate",
        ],
    );
    assert!(
        !o.status.success(),
        "an empty password must not authenticate: {}",
        show(&o)
    );
    let o = w.glibc_with(
        FILES_ROSTER,
        &extra,
        &["pamtester", "roster-test", "ruser1", "acct_mgmt"],
    );
    assert!(
        o.status.success(),
        "pam_unix account must pass a Roster user: {}",
        show(&o)
    );
}
