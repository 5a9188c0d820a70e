//! The lockout on every path that checks a person's password or code, end
//! to end: `Pam.Authenticate`, `roster users password` (as the user, and
//! through a full-scope token from another uid) and `roster register`.
//! While locked each is refused before any hash, with the message PAM
//! gives, and a right secret lifts nothing.

use roster_tests::{STRANGER_UID, TestBus, TestDaemon};

const PW: &str = "correct horse battery";
const NEW_PW: &str = "Another-Good-Pass-77";
const LOCK_MESSAGE: &str = "account locked after too many failed attempts: try again in 15 minutes";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn auth(d: &TestDaemon, user: &str, secret: &str, rhost: &str) -> String {
    let out = d
        .probe("Pam.Authenticate", &[&q(user), &q(secret), &q(rhost)])
        .run()
        .expect_ok();
    out.json()["ok"]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Five wrong local logins (the default `attempts`): the fifth locks.
fn lock_with_wrong_logins(d: &TestDaemon, user: &str) {
    for _ in 0..4 {
        assert_eq!(auth(d, user, "wrong guess", ""), "failed");
    }
    assert_eq!(auth(d, user, "wrong guess", ""), "locked");
}

/// A `roster` run refused with PAM's lock message, exit 1.
#[track_caller]
fn refused_as_locked(run: &roster_tests::Run) {
    assert_eq!(
        run.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.stderr.trim_end(), format!("roster: {LOCK_MESSAGE}"));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

fn password_changed(d: &TestDaemon, user: &str) -> String {
    d.sqlite(&format!(
        "SELECT password_changed, password_hash FROM users WHERE name = '{user}'"
    ))
}

/// The audit lines of `action` by `uid` on `target`.
fn audit_results(d: &TestDaemon, action: &str, target: &str, uid: u32) -> Vec<String> {
    let needle = format!("action={action} target={target} uid={uid} ");
    d.audit_log()
        .lines()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|w| w.strip_prefix("result="))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_locked_user_cant_change_the_password_even_with_the_right_one() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let bob = d.create_user("bob", "user", PW);
    lock_with_wrong_logins(&d, "bob");
    let before = password_changed(&d, "bob");

    let change = |current: &str| {
        d.roster(&["users", "password", "--password-stdin"])
            .as_uid(bob)
            .stdin(&format!("{current}\n{NEW_PW}\n"))
            .run()
    };
    // The right current password: refused, with PAM's message.
    refused_as_locked(&change(PW));
    // A wrong one says the same: the lock is checked before the password
    // (a verify would have answered "the current password is wrong").
    refused_as_locked(&change("wrong guess"));
    assert_eq!(
        audit_results(&d, "users.password", "bob", bob),
        ["locked", "locked"]
    );
    // Nothing changed, and the lock is still there.
    assert_eq!(password_changed(&d, "bob"), before);
    assert_eq!(auth(&d, "bob", PW, ""), "locked");

    d.roster(&["users", "unlock", "bob"]).run().expect_ok();
    assert_eq!(
        auth(&d, "bob", NEW_PW, ""),
        "failed",
        "the new one never took"
    );
    assert_eq!(
        auth(&d, "bob", PW, ""),
        "success",
        "the old one still works"
    );
    // Unlocked, the same change goes through.
    change(PW).expect_ok();
    assert_eq!(auth(&d, "bob", NEW_PW, ""), "success");
}

#[test]
fn wrong_current_passwords_count_like_failed_logins() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let bob = d.create_user("bob", "user", PW);
    for _ in 0..5 {
        let out = d
            .roster(&["users", "password", "--password-stdin"])
            .as_uid(bob)
            .stdin(&format!("wrong guess\n{NEW_PW}\n"))
            .run();
        assert_eq!(out.code, Some(1), "{}", out.stderr);
    }
    // Locked locally, as five failed logins at the console would.
    assert_eq!(auth(&d, "bob", PW, ""), "locked");
    assert_eq!(auth(&d, "bob", PW, "203.0.113.4"), "success");
}

#[test]
fn a_full_scope_token_meets_its_users_lockout() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let bob = d.create_user("bob", "user", PW);
    let token = d
        .roster(&["tokens", "create", "--scope", "full"])
        .as_uid(bob)
        .run()
        .expect_ok()
        .stdout
        .trim()
        .to_owned();
    lock_with_wrong_logins(&d, "bob");
    let before = password_changed(&d, "bob");
    // From any uid, the token acts as bob: his lockout holds.
    let out = d
        .roster(&["users", "password", "bob", "--password-stdin"])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &token)
        .stdin(&format!("{PW}\n{NEW_PW}\n"))
        .run();
    refused_as_locked(&out);
    assert_eq!(
        audit_results(&d, "users.password", "bob", STRANGER_UID),
        ["locked"]
    );
    assert_eq!(password_changed(&d, "bob"), before);
    assert_eq!(auth(&d, "bob", PW, ""), "locked");
    // The raw call says Locked by name.
    let raw = d
        .probe("Users.SetPassword", &[&q("bob"), &q(PW), &q(NEW_PW)])
        .env("ROSTER_TOKEN", &token)
        .as_uid(STRANGER_UID)
        .run();
    assert_eq!(
        raw.probe_error().as_deref(),
        Some("Locked"),
        "{}",
        raw.stdout
    );
}

#[test]
fn registration_is_refused_while_the_codes_owner_is_locked() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let (_, code) = d.create_pending_user("pen");
    // Wrong codes at a login prompt lock the pending user.
    lock_with_wrong_logins(&d, "pen");
    let register = || {
        d.roster(&["register", "--stdin"])
            .as_uid(STRANGER_UID)
            .stdin(&format!("{code}\n{NEW_PW}\n"))
            .run()
    };
    refused_as_locked(&register());
    assert_eq!(
        d.sqlite("SELECT state FROM users WHERE name = 'pen'")
            .trim(),
        "pending"
    );
    let raw = d
        .probe("Registration.Register", &[&q(&code), &q(NEW_PW)])
        .run();
    assert_eq!(
        raw.probe_error().as_deref(),
        Some("Locked"),
        "{}",
        raw.stdout
    );
    d.roster(&["users", "unlock", "pen"]).run().expect_ok();
    register().expect_ok();
    assert_eq!(auth(&d, "pen", NEW_PW, ""), "success");
}
