//! Issue 14, finding 8: rosterd refuses a password, code or current
//! password longer than `MAX_SECRET_BYTES` (1024) with InvalidArgument
//! before hashing it, on every path that takes one, and nothing changes;
//! one of exactly that length works.

use roster_client::MAX_SECRET_BYTES;
use roster_tests::{TestBus, TestDaemon};

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A password at the bound: the policy takes it, so it must log in.
fn at_bound() -> String {
    "Correct horse ".repeat(MAX_SECRET_BYTES)[..MAX_SECRET_BYTES].to_owned()
}

fn ten_megabytes() -> String {
    q(&"x".repeat(10 << 20))
}

#[track_caller]
fn expect_too_long(run: roster_tests::Run, what: &str) {
    assert_eq!(
        run.probe_error().as_deref(),
        Some("InvalidArgument"),
        "{what}: {}{}",
        run.stdout.get(..300).unwrap_or(&run.stdout),
        run.stderr
    );
    let message = run.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        message.contains("bytes long") && message.contains("at most 1024"),
        "{what}: {message}"
    );
}

#[test]
fn a_ten_megabyte_secret_is_refused_on_every_path_and_one_at_the_bound_works() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let password = at_bound();
    assert_eq!(password.len(), MAX_SECRET_BYTES);
    let alice = d.create_user("alice", "user", &password);
    let auth = |secret_json: &str| {
        d.probe("Pam.Authenticate", &[&q("alice"), "-", &q("")])
            .stdin(secret_json)
            .run()
    };

    // Exactly the bound: accepted and checked.
    let ok = auth(&q(&password)).expect_ok();
    assert_eq!(ok.json()["ok"]["outcome"], "success", "{}", ok.stdout);

    expect_too_long(auth(&ten_megabytes()), "Pam.Authenticate");
    // Also for a user rosterd doesn't know: refused the same way.
    expect_too_long(
        d.probe("Pam.Authenticate", &[&q("nobody-here"), "-", &q("")])
            .stdin(&ten_megabytes())
            .run(),
        "Pam.Authenticate of an unknown user",
    );
    expect_too_long(
        d.probe(
            "Pam.ChangePassword",
            &[&q("alice"), "-", &q("a new password 1")],
        )
        .stdin(&ten_megabytes())
        .run(),
        "Pam.ChangePassword's current password",
    );
    expect_too_long(
        d.probe(
            "Users.SetPassword",
            &[&q("alice"), "-", &q("a new password 1")],
        )
        .stdin(&ten_megabytes())
        .as_uid(alice)
        .run(),
        "Users.SetPassword's current password",
    );
    let (_, code) = d.create_pending_user("bob");
    expect_too_long(
        d.probe("Registration.Register", &["-", &q("a new password 1")])
            .stdin(&ten_megabytes())
            .run(),
        "Registration.Register's code",
    );
    // A new password over the bound: the policy says so, before a hash.
    let refused = d
        .probe("Registration.Register", &[&q(&code), "-"])
        .stdin(&ten_megabytes())
        .run();
    assert_eq!(refused.probe_error().as_deref(), Some("InvalidArgument"));

    // Nothing changed: alice's password still works, bob still pending.
    let ok = auth(&q(&password)).expect_ok();
    assert_eq!(ok.json()["ok"]["outcome"], "success", "{}", ok.stdout);
    let pending = d.probe("Pam.IsPending", &[&q("bob")]).run().expect_ok();
    assert_eq!(pending.json()["ok"], true);
}
