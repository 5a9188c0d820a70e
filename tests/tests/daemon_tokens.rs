//! API tokens through rosterd: a token bound to a connection acts as its
//! user within its scope, never for PAM, and dies with a password change.

use roster_tests::{STRANGER_UID, TestBus, TestDaemon};

const PW: &str = "correct horse battery";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn create_req(name: &str) -> String {
    serde_json::json!({"name": name, "display_name": "", "role": "", "home": "", "shell": "", "register": false})
        .to_string()
}

#[test]
fn a_token_acts_as_its_user_within_its_scope() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let boss = d.create_user("boss", "admin", PW);
    let token = |scope: &str| {
        d.probe("Tokens.Create", &[&q("ci"), &q(scope), "0"])
            .as_uid(boss)
            .run()
            .expect_ok()
            .json()["ok"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (ro, full) = (token(""), token("full"));

    // Presented from a uid Roster doesn't know, it acts as boss.
    let me = d
        .probe("Users.WhoAmI", &[])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &ro)
        .run()
        .expect_ok()
        .json();
    assert_eq!(me["ok"]["user"], "boss");
    assert_eq!(me["ok"]["token_scope"], "read-only");
    d.probe("Users.List", &["false"])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &ro)
        .run()
        .expect_ok();
    let refused = d
        .probe("Users.Create", &[&create_req("n1"), &q(PW)])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &ro)
        .run();
    assert_eq!(refused.probe_error().as_deref(), Some("PermissionDenied"));
    d.probe("Users.Create", &[&create_req("n2"), &q(PW)])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &full)
        .run()
        .expect_ok();
    // Never for PAM: that goes by the caller's uid.
    let pam = d
        .probe("Pam.Authenticate", &[&q("boss"), &q(PW), &q("")])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &full)
        .run();
    assert_eq!(pam.probe_error().as_deref(), Some("PermissionDenied"));
    // A bad token is refused outright.
    let bad = d
        .probe("Users.WhoAmI", &[])
        .env("ROSTER_TOKEN", "abcdefgh-0000000000000000000000000")
        .run();
    assert_eq!(bad.probe_error().as_deref(), Some("PermissionDenied"));

    // Changing the password voids the user's tokens.
    d.probe(
        "Users.SetPassword",
        &[&q("boss"), &q(""), &q("a whole new secret")],
    )
    .run()
    .expect_ok();
    let voided = d
        .probe("Users.WhoAmI", &[])
        .env("ROSTER_TOKEN", &full)
        .run();
    assert!(
        matches!(
            voided.probe_error().as_deref(),
            Some("TokenRevoked" | "PermissionDenied")
        ),
        "{}",
        voided.stdout
    );
    // Root is not a Roster user: no token of its own.
    let root = d.probe("Tokens.Create", &[&q("x"), &q(""), "0"]).run();
    assert_eq!(root.probe_error().as_deref(), Some("InvalidArgument"));
}
