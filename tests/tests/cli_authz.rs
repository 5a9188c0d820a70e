//! DESIGN.md's "Who may do what" end to end through the CLI: each command
//! run as root, a role admin's uid, an environment admin, a `read` holder,
//! a plain user and a uid Roster doesn't know (via setpriv). The daemon
//! decides; these tests prove what a person at the CLI sees: success, or
//! exit 1 with a sentence saying how to get the right, and nothing changed.

mod cli_common;

use cli_common::{Host, names_in};
use roster_tests::STRANGER_UID;

struct Cast {
    host: Host,
    ada: u32,  // role admin
    eve: u32,  // admin in default
    rita: u32, // read in default
    paul: u32, // a plain user, no grants
}

/// root, and the cast: ada (role admin), eve (admin in default), rita
/// (read in default), paul (nothing), sam (write in staging).
fn cast() -> Cast {
    let host = Host::start();
    host.root(&["environments", "add", "staging"]).expect_ok();
    let ada = host.user_with("ada", &["--set-role", "admin"]);
    let eve = host.user("eve");
    host.grant("eve", "admin", None);
    let rita = host.user("rita");
    host.grant("rita", "read", None);
    let paul = host.user("paul");
    host.user("sam");
    host.grant("sam", "write", Some("staging"));
    Cast {
        host,
        ada,
        eve,
        rita,
        paul,
    }
}

impl Cast {
    fn outsiders(&self) -> [(&'static str, u32); 4] {
        [
            ("eve", self.eve),
            ("rita", self.rita),
            ("paul", self.paul),
            ("stranger", STRANGER_UID),
        ]
    }
}

#[track_caller]
fn assert_denied(run: &roster_tests::Run, who: &str) {
    assert_eq!(
        run.code,
        Some(1),
        "{who} must be refused\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.starts_with("roster: "), "{who}: {}", run.stderr);
    assert!(
        run.stderr.contains("sudo"),
        "{who}: says how to get the right: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("PermissionDenied"),
        "{who}: a sentence, not a name: {}",
        run.stderr
    );
}

#[test]
fn only_root_and_role_admins_create_users() {
    let c = cast();
    for (who, uid) in c.outsiders() {
        let run = c
            .host
            .daemon
            .roster(&["users", "create", "newbie", "--password-stdin"])
            .as_uid(uid)
            .stdin("Fresh-password-77\n")
            .run();
        assert_denied(&run, who);
        assert!(
            !c.host.names().contains(&"newbie".to_owned()),
            "{who} created a user"
        );
    }
    c.host
        .daemon
        .roster(&["users", "create", "newbie", "--password-stdin"])
        .as_uid(c.ada)
        .stdin("Fresh-password-77\n")
        .run()
        .expect_ok();
    c.host
        .daemon
        .roster(&["users", "create", "newbie2", "--password-stdin"])
        .stdin("Fresh-password-77\n")
        .run()
        .expect_ok();
}

#[test]
fn only_root_and_role_admins_change_users() {
    let c = cast();
    let before = c.host.show("paul");
    let changes: [&[&str]; 6] = [
        &["users", "edit", "paul", "--display-name", "Hacked"],
        &["users", "suspend", "paul"],
        &["users", "unlock", "paul"],
        &["users", "password", "paul", "--reset"],
        &["users", "delete", "paul", "--yes"],
        &["users", "edit", "paul", "--set-role", "admin"],
    ];
    for args in changes {
        for (who, uid) in c.outsiders() {
            if who == "paul" && args.contains(&"--set-role") {
                // Changing one's own role is refused too, but as a conflict.
                assert_eq!(c.host.as_uid(uid, args).code, Some(1));
                continue;
            }
            if who == "paul" && (args.contains(&"suspend") || args.contains(&"delete")) {
                assert_eq!(
                    c.host.as_uid(uid, args).code,
                    Some(1),
                    "paul on himself: {args:?}"
                );
                continue;
            }
            assert_denied(
                &c.host.as_uid(uid, args),
                &format!("{who} running {args:?}"),
            );
        }
    }
    assert_eq!(c.host.show("paul"), before, "nothing changed");

    // A role admin may.
    c.host
        .as_uid(
            c.ada,
            &["users", "edit", "paul", "--display-name", "Paul P"],
        )
        .expect_ok();
    c.host
        .as_uid(c.ada, &["users", "suspend", "paul"])
        .expect_ok();
    c.host
        .as_uid(c.ada, &["users", "enable", "paul"])
        .expect_ok();
    c.host
        .as_uid(c.ada, &["users", "unlock", "paul"])
        .expect_ok();
    c.host
        .as_uid(c.ada, &["users", "password", "paul", "--reset"])
        .expect_ok();
    c.host
        .as_uid(c.ada, &["users", "delete", "paul", "--yes"])
        .expect_ok();
    assert!(!c.host.names().contains(&"paul".to_owned()));
}

#[test]
fn only_root_and_role_admins_manage_environments() {
    let c = cast();
    for (who, uid) in c.outsiders() {
        assert_denied(&c.host.as_uid(uid, &["environments", "add", "prod"]), who);
        assert_denied(
            &c.host
                .as_uid(uid, &["environments", "remove", "staging", "--force"]),
            who,
        );
    }
    let names = c
        .host
        .root(&["environments", "list", "--json"])
        .expect_ok()
        .json();
    assert_eq!(names.as_array().map(Vec::len), Some(2), "{names}");
    c.host
        .as_uid(c.ada, &["environments", "add", "prod"])
        .expect_ok();
    c.host
        .as_uid(c.ada, &["environments", "remove", "prod"])
        .expect_ok();
}

#[test]
fn environment_admins_grant_only_in_their_environment() {
    let c = cast();
    // eve is admin in default: she may grant and revoke there…
    c.host
        .as_uid(c.eve, &["users", "grant", "paul", "write"])
        .expect_ok();
    c.host
        .as_uid(c.eve, &["users", "revoke", "paul", "read"])
        .expect_ok();
    assert_eq!(c.host.show("paul")["grants"][0]["level"], "status");
    // …never in staging, and never on herself.
    let run = c.host.as_uid(
        c.eve,
        &[
            "users",
            "grant",
            "paul",
            "write",
            "--environment",
            "staging",
        ],
    );
    assert_denied(&run, "eve in staging");
    let run = c.host.as_uid(
        c.eve,
        &["users", "revoke", "sam", "--environment", "staging"],
    );
    assert_denied(&run, "eve revoking in staging");
    assert_eq!(
        c.host
            .as_uid(c.eve, &["users", "revoke", "eve", "admin"])
            .code,
        Some(1)
    );
    assert_eq!(c.host.show("eve")["grants"][0]["level"], "admin");

    for (who, uid) in [
        ("rita", c.rita),
        ("paul", c.paul),
        ("stranger", STRANGER_UID),
    ] {
        assert_denied(
            &c.host.as_uid(uid, &["users", "grant", "paul", "write"]),
            who,
        );
        assert_denied(&c.host.as_uid(uid, &["users", "revoke", "eve"]), who);
    }
    assert_eq!(c.host.show("eve")["grants"][0]["level"], "admin");
    // A role admin grants anywhere.
    c.host
        .as_uid(
            c.ada,
            &[
                "users",
                "grant",
                "paul",
                "admin",
                "--environment",
                "staging",
            ],
        )
        .expect_ok();
}

#[test]
fn who_sees_which_users() {
    let c = cast();
    let all = ["ada", "eve", "paul", "rita", "sam"];
    assert_eq!(
        names_in(&c.host.root(&["users", "list", "--json"]).expect_ok()),
        all
    );
    assert_eq!(
        names_in(
            &c.host
                .as_uid(c.ada, &["users", "list", "--json"])
                .expect_ok()
        ),
        all
    );

    // read in default: the users holding grants in default.
    let seen = names_in(
        &c.host
            .as_uid(c.rita, &["users", "list", "--json"])
            .expect_ok(),
    );
    assert!(
        seen.contains(&"eve".to_owned()) && seen.contains(&"rita".to_owned()),
        "{seen:?}"
    );
    assert!(
        !seen.contains(&"sam".to_owned()) && !seen.contains(&"paul".to_owned()),
        "{seen:?}"
    );
    c.host.as_uid(c.rita, &["users", "show", "eve"]).expect_ok();
    assert_denied(
        &c.host.as_uid(c.rita, &["users", "show", "sam"]),
        "rita showing sam",
    );

    // Everyone sees themselves, and only that.
    assert_eq!(
        names_in(
            &c.host
                .as_uid(c.paul, &["users", "list", "--json"])
                .expect_ok()
        ),
        ["paul"]
    );
    c.host
        .as_uid(c.paul, &["users", "show", "paul", "--json"])
        .expect_ok();
    assert_denied(
        &c.host.as_uid(c.paul, &["users", "show", "eve"]),
        "paul showing eve",
    );

    // A stranger sees nobody.
    let run = c.host.as_uid(STRANGER_UID, &["users", "list", "--json"]);
    if run.success() {
        assert!(names_in(&run).is_empty(), "{}", run.stdout);
    } else {
        assert_denied(&run, "stranger listing");
    }
    assert_denied(
        &c.host.as_uid(STRANGER_UID, &["users", "show", "paul"]),
        "stranger showing paul",
    );
}

#[test]
fn sessions_for_status_holders_and_everyone_their_own() {
    let c = cast();
    for uid in [0, c.ada, c.eve, c.rita, c.paul] {
        let run = c
            .host
            .as_uid(uid, &["users", "sessions", "--json"])
            .expect_ok();
        assert!(run.json().is_array());
    }
}

#[test]
fn everyone_may_ask_who_they_are() {
    let c = cast();
    for (name, uid) in [
        ("ada", c.ada),
        ("eve", c.eve),
        ("rita", c.rita),
        ("paul", c.paul),
    ] {
        let me = c.host.as_uid(uid, &["whoami", "--json"]).expect_ok().json();
        assert_eq!(me["user"], name);
        assert_eq!(me["uid"], uid);
        assert_eq!(me["is_root"], false);
    }
    let stranger = c
        .host
        .as_uid(STRANGER_UID, &["whoami", "--json"])
        .expect_ok()
        .json();
    assert!(stranger["user"].is_null(), "{stranger}");
    assert_eq!(stranger["uid"], STRANGER_UID);
}

#[test]
fn a_user_changes_only_their_own_password() {
    let c = cast();
    let run = c
        .host
        .daemon
        .roster(&["users", "password", "eve", "--password-stdin"])
        .as_uid(c.paul)
        .stdin("whatever\nTaken-over-99x\n")
        .run();
    assert_denied(&run, "paul setting eve's password");
    // As a stranger (not a Roster user), without a name there is nothing to change.
    let run = c
        .host
        .as_uid(STRANGER_UID, &["users", "password", "--password-stdin"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("not a Roster user"), "{}", run.stderr);
}
