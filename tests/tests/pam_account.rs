//! The account check, the gate (it runs for public-key ssh logins too,
//! where auth doesn't), through the packaged stack: its `default=bad`
//! line hands pam_roster's code straight to the application.

mod pam_common;
use pam_common::*;
use roster_tests::TestConfig;

#[test]
fn write_is_allowed_and_role_admin_is_allowed_without_a_grant() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let out = w.pam("alice").steps(&["acct"]).run();
    assert_eq!(out.code("acct"), PAM_SUCCESS, "{out:?}");

    w.daemon
        .roster(&[
            "users",
            "create",
            "ada",
            "--password-stdin",
            "--set-role",
            "admin",
        ])
        .stdin("correct horse 2\n")
        .run()
        .expect_ok();
    let out = w.pam("ada").steps(&["acct"]).run();
    assert_eq!(out.code("acct"), PAM_SUCCESS, "{out:?}");
}

#[test]
fn below_the_login_level_is_denied_naming_the_environment() {
    let w = World::start_with(TestConfig::new().set_str("environment", "prod"));
    // rosterd creates the environment it is configured for.
    w.user("carl", "correct horse 1", None);
    let none = w.pam("carl").steps(&["acct"]).run();
    assert_eq!(none.code("acct"), PAM_PERM_DENIED, "{none:?}");
    assert!(
        none.errors.iter().any(|e| e.contains("prod")),
        "names the environment: {:?}",
        none.errors
    );
    w.roster(&["users", "grant", "carl", "read", "--environment", "prod"]);
    let read = w.pam("carl").steps(&["acct"]).run();
    assert_eq!(read.code("acct"), PAM_PERM_DENIED, "{read:?}");
    // write in another environment doesn't count here.
    w.roster(&[
        "users",
        "grant",
        "carl",
        "write",
        "--environment",
        "default",
    ]);
    let elsewhere = w.pam("carl").steps(&["acct"]).run();
    assert_eq!(elsewhere.code("acct"), PAM_PERM_DENIED, "{elsewhere:?}");
    w.roster(&["users", "grant", "carl", "write", "--environment", "prod"]);
    let write = w.pam("carl").steps(&["acct"]).run();
    assert_eq!(write.code("acct"), PAM_SUCCESS, "{write:?}");
}

#[test]
fn suspended_is_refused_with_a_message_and_enable_lets_in_again() {
    let w = World::start();
    w.user("sue", "correct horse 1", Some("write"));
    w.roster(&["users", "suspend", "sue"]);
    let out = w.pam("sue").steps(&["acct"]).run();
    assert_eq!(out.code("acct"), PAM_ACCT_EXPIRED, "{out:?}");
    assert!(
        out.errors.iter().any(|e| e.contains("account suspended")),
        "{:?}",
        out.errors
    );
    // And auth refuses it too, whatever the password.
    let auth = w
        .pam("sue")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .run();
    assert_ne!(auth.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{auth:?}");
    w.roster(&["users", "enable", "sue"]);
    let out = w.pam("sue").steps(&["acct"]).run();
    assert_eq!(out.code("acct"), PAM_SUCCESS, "{out:?}");
}

#[test]
fn pending_needs_a_new_password() {
    let w = World::start();
    w.pending_user("pete", "write");
    let out = w.pam("pete").steps(&["acct"]).run();
    assert_eq!(out.code("acct"), PAM_NEW_AUTHTOK_REQD, "{out:?}");
    assert!(!out.infos.is_empty(), "tells the person: {out:?}");
}

#[test]
fn a_deleted_user_still_in_a_stale_snapshot_is_denied_not_waved_through() {
    let w = World::start();
    w.user("dora", "correct horse 1", Some("write"));
    // Keep the snapshot from before the delete, as a host whose cache
    // lags would.
    let stale = w.dir().join("stale.cache");
    std::fs::copy(w.daemon.nss_cache_path(), &stale).unwrap();
    w.roster(&["users", "delete", "dora", "--yes"]);
    let args = format!(
        "bus={} snapshot={}",
        w.daemon.bus_address(),
        stale.display()
    );
    w.service("stale", &args);
    let out = w
        .pam("dora")
        .service("stale")
        .env("ROSTER_NSS_CACHE", stale.to_str().unwrap())
        .steps(&["acct"])
        .run();
    assert_eq!(out.code("acct"), PAM_PERM_DENIED, "{out:?}");
}

/// pam_roster believes only a snapshot owned by root and writable by
/// nobody else (as libnss_roster does): whoever could write another could
/// make a Roster user look local, or a local one look like Roster's. A
/// file failing the rule lists no Roster user.
#[test]
fn a_snapshot_not_owned_by_root_or_writable_by_others_lists_no_roster_user() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let service_on = |name: &str, snapshot: &std::path::Path| {
        let args = format!(
            "bus={} snapshot={}",
            w.daemon.bus_address(),
            snapshot.display()
        );
        w.roster_only(name, &args);
    };
    let copy = |name: &str, mode: u32, owner: u32| {
        let path = w.dir().join(name);
        std::fs::copy(w.daemon.nss_cache_path(), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
        path
    };
    for (service, file, want) in [
        ("exact", copy("exact.cache", 0o644, 0), PAM_SUCCESS),
        ("loose", copy("loose.cache", 0o666, 0), PAM_USER_UNKNOWN),
        ("group", copy("group.cache", 0o664, 0), PAM_USER_UNKNOWN),
        (
            "foreign",
            copy("foreign.cache", 0o644, 4242),
            PAM_USER_UNKNOWN,
        ),
    ] {
        service_on(service, &file);
        let out = w.pam("alice").service(service).steps(&["acct"]).run();
        assert_eq!(out.code("acct"), want, "{service}: {out:?}");
    }
}
