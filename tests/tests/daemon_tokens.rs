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

/// A peer that doesn't use roster-client's types can still send any
/// string: a word outside a closed set (a scope, a level) is refused by
/// name, saying which words there are, before a handler runs; nothing is
/// created and rosterd keeps answering.
#[test]
fn an_unknown_scope_or_level_from_a_peer_is_refused_with_the_words_there_are() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("alice", "user", PW);
    let show = || {
        d.probe("Users.Show", &[&q("alice")])
            .run()
            .expect_ok()
            .json()
    };
    let before = show();
    let address = bus.address().to_owned();
    let refusals: Vec<(String, String)> = zbus::block_on(async move {
        let conn = zbus::connection::Builder::address(address.as_str())
            .build()
            .await
            .expect("the test bus");
        let mut refusals = Vec::new();
        let call = |interface: &'static str, method: &'static str| {
            (
                Some(roster_client::BUS_NAME),
                roster_client::OBJECT_PATH,
                Some(interface),
                method,
            )
        };
        let (dest, path, iface, method) = call(roster_client::TOKENS_INTERFACE, "Create");
        refusals.push(
            conn.call_method(dest, path, iface, method, &("ci", "everything", 0u64))
                .await
                .err(),
        );
        let (dest, path, iface, method) = call(roster_client::GRANTS_INTERFACE, "Grant");
        refusals.push(
            conn.call_method(dest, path, iface, method, &("alice", "superuser", ""))
                .await
                .err(),
        );
        let (dest, path, iface, method) = call(roster_client::GRANTS_INTERFACE, "Revoke");
        refusals.push(
            conn.call_method(dest, path, iface, method, &("alice", "owner", "", false))
                .await
                .err(),
        );
        refusals
            .into_iter()
            .map(|e| match e {
                Some(zbus::Error::FDO(fdo)) => match *fdo {
                    zbus::fdo::Error::InvalidArgs(message) => ("InvalidArgs".to_owned(), message),
                    other => (format!("{other:?}"), String::new()),
                },
                other => (format!("{other:?}"), String::new()),
            })
            .collect()
    });
    let expected = [
        "unknown token scope \"everything\": use one of read-only, full",
        "unknown level \"superuser\": use one of status, read, write, admin",
        "unknown level \"owner\": use one of status, read, write, admin",
    ];
    for ((name, message), words) in refusals.iter().zip(expected) {
        assert_eq!(name, "InvalidArgs", "{message}");
        assert!(message.contains(words), "{message}");
    }
    assert_eq!(refusals.len(), 3);
    // Nothing was granted or revoked, and rosterd still answers.
    assert_eq!(show()["ok"]["grants"], before["ok"]["grants"]);
}
