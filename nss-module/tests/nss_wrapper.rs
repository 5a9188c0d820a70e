//! Through cwrap's nss_wrapper, which loads the module itself
//! (`NSS_WRAPPER_MODULE_SO_PATH`, `NSS_WRAPPER_MODULE_FN_PREFIX=roster`):
//! runs as any user, no namespace. nss_wrapper bypasses glibc's dispatch
//! and ERANGE retry, which `glibc.rs` covers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", show(o));
    stdout(o)
}

#[test]
fn getent_and_id_through_nss_wrapper() {
    let w = World::new("wrap-getent");
    write_snapshot(&w.cache(), 24, 3);
    let uid = (UID_BASE + 4).to_string();
    assert_eq!(
        ok(&w.wrapped(&["getent", "passwd", "ruser4"])).trim(),
        user_line(4, 3)
    );
    assert_eq!(
        ok(&w.wrapped(&["getent", "passwd", &uid])).trim(),
        user_line(4, 3)
    );
    assert_eq!(
        ok(&w.wrapped(&["getent", "group", "roster-admins"])).trim(),
        format!("roster-admins:*:{ADMIN_GID}:ruser0,ruser1")
    );
    let u0 = UID_BASE;
    assert_eq!(
        ok(&w.wrapped(&["id", "ruser0"])).trim(),
        format!("uid={u0}(ruser0) gid={u0}(ruser0) groups={u0}(ruser0),{ADMIN_GID}(roster-admins)")
    );
    let o = w.wrapped(&["getent", "passwd", "nosuchuser"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn enumerates_ten_thousand_users_through_nss_wrapper() {
    let w = World::new("wrap-enum");
    write_snapshot(&w.cache(), 10_000, 1);
    let out = ok(&w.wrapped(&["getent", "passwd"]));
    let ours: Vec<&str> = out.lines().filter(|l| l.starts_with("ruser")).collect();
    assert_eq!(ours.len(), 10_000);
    assert_eq!(ours[0], user_line(0, 1));
    assert_eq!(ours[9_999], user_line(9_999, 1));
}

#[test]
fn fork_and_threads_through_nss_wrapper() {
    let w = World::new("wrap-fork");
    write_snapshot(&w.cache(), 100, 1);
    let p = probe().to_str().unwrap();
    let uid = (UID_BASE + 42).to_string();
    let out = ok(&w.wrapped(&[p, "fork", "ruser42", &uid, "1000"]));
    assert_eq!(out.trim(), "parent_bad=0 child_ok=1");
    let out = ok(&w.wrapped(&[p, "hammer", "1", "8", "ruser", "100"]));
    assert!(out.contains("bad=0 missing=0"), "{out}");
}

#[test]
fn unusable_snapshot_through_nss_wrapper_is_not_found_not_a_crash() {
    let w = World::new("wrap-corrupt");
    std::fs::write(w.cache(), vec![0u8; 100]).unwrap();
    let o = w.wrapped(&["getent", "passwd", "ruser1"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let out = ok(&w.wrapped(&["getent", "passwd", "root"]));
    assert!(out.starts_with("root:x:0:0:"));
}
