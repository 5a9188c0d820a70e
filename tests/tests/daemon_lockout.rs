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

/// The results of the audit lines of `action` by `uid` on `target`, a
/// collapsed run ("message repeated N times: […]") counted as N more.
fn audit_results(d: &TestDaemon, action: &str, target: &str, uid: u32) -> Vec<String> {
    let needle = format!("action={action} target={target} uid={uid} ");
    let result_of = |line: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix("result="))
            .map(|w| w.trim_end_matches(']').to_owned())
    };
    let mut results = Vec::new();
    for line in d.audit_log().lines().filter(|l| l.contains(&needle)) {
        let Some(result) = result_of(line) else {
            continue;
        };
        let times = line
            .strip_prefix("message repeated ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1);
        results.extend(std::iter::repeat_n(result, times));
    }
    results
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
    // Nothing changed, and the lock is still there.
    assert_eq!(password_changed(&d, "bob"), before);
    assert_eq!(auth(&d, "bob", PW, ""), "locked");
    // The two refusals are identical audit lines, collapsed into one and a
    // "repeated" summary that the next, different line (the login above)
    // brings out.
    assert_eq!(
        audit_results(&d, "users.password", "bob", bob),
        ["locked", "locked"]
    );

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

// ---- remote hosts ------------------------------------------------------

fn auth_call(d: &TestDaemon, user: &str, secret: &str, rhost: &str) -> roster_tests::Cmd {
    d.probe("Pam.Authenticate", &[&q(user), &q(secret), &q(rhost)])
}

/// The lockouts table's remote hosts, sorted ('' = local).
fn lockout_rows(d: &TestDaemon) -> Vec<String> {
    d.sqlite("SELECT quote(remote_host) FROM lockouts ORDER BY remote_host")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn guesses_spread_over_fifty_remote_hosts_lock_remote_logins_not_the_console() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus); // attempts 5, remote_attempts 20
    d.create_user("bob", "user", PW);
    let outcomes: Vec<String> = (1..=50)
        .map(|i| auth(&d, "bob", "wrong guess", &format!("198.51.100.{i}")))
        .collect();
    assert!(outcomes[..19].iter().all(|o| o == "failed"), "{outcomes:?}");
    assert!(
        outcomes[19..].iter().all(|o| o == "locked"),
        "the 20th locks every remote host: {outcomes:?}"
    );
    // A 51st host, with the right password: refused.
    assert_eq!(auth(&d, "bob", PW, "203.0.113.51"), "locked");
    assert_eq!(auth(&d, "bob", PW, "2001:db8::51"), "locked");
    // The console (and sudo) still let bob in.
    assert_eq!(auth(&d, "bob", PW, ""), "success");
    // Still locked remotely: the right password lifted nothing.
    assert_eq!(auth(&d, "bob", PW, "203.0.113.51"), "locked");
    d.roster(&["users", "unlock", "bob"]).run().expect_ok();
    assert_eq!(auth(&d, "bob", PW, "203.0.113.51"), "success");
}

#[test]
fn a_bad_or_oversized_remote_host_is_refused_and_stores_nothing() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("bob", "user", PW);
    let just_too_long = "h".repeat(256);
    let huge = "h".repeat(100_000);
    for bad in [
        just_too_long.as_str(),
        huge.as_str(),
        "a b",
        "tab\there",
        "new\nline",
        "\u{1b}[2Jhost",
        "*",
        "user@host",
    ] {
        let out = auth_call(&d, "bob", "wrong guess", bad).run();
        assert_eq!(
            out.probe_error().as_deref(),
            Some("InvalidArgument"),
            "{:?}: {}",
            &bad[..bad.len().min(20)],
            out.stdout
        );
        assert!(
            out.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains("remote host"),
            "{}",
            out.stdout
        );
    }
    assert!(lockout_rows(&d).is_empty(), "{:?}", lockout_rows(&d));
    assert!(
        !d.audit_log().contains(&just_too_long),
        "a refused host isn't logged either"
    );
    // The longest allowed, and the usual forms, are taken and counted.
    let longest = "h".repeat(255);
    for good in [longest.as_str(), "fe80::1%eth0", "host-1.example.org"] {
        assert_eq!(auth(&d, "bob", "wrong guess", good), "failed", "{good:.20}");
    }
    assert_eq!(
        lockout_rows(&d).len(),
        4,
        "three hosts and all remote hosts"
    );
}

#[test]
fn a_non_root_callers_remote_host_is_counted_as_local() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let bob = d.create_user("bob", "user", PW);
    // A screen locker checking its own user, saying it is remote.
    let out = auth_call(&d, "bob", "wrong guess", "203.0.113.77")
        .as_uid(bob)
        .run()
        .expect_ok();
    assert_eq!(out.json()["ok"]["outcome"], "failed");
    assert_eq!(lockout_rows(&d), ["''"], "only the local counter");
    // The right password from "anywhere" is a local success.
    let out = auth_call(&d, "bob", PW, "198.51.100.9")
        .as_uid(bob)
        .run()
        .expect_ok();
    assert_eq!(out.json()["ok"]["outcome"], "success");
    assert!(lockout_rows(&d).is_empty(), "the local success cleared it");
    assert!(
        d.audit_log().contains("rhost=203.0.113.77 counted=local"),
        "{}",
        d.audit_log()
    );
}

/// A setuid `passwd` run by bob reaches rosterd as uid 0 but with bob's
/// real uid passed along: it may not set a password without the current
/// one, whatever the module thinks. Root's own `passwd bob` still may.
#[test]
fn an_empty_current_password_is_roots_own_only_never_a_setuid_users() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let bob = d.create_user("bob", "user", PW);
    let before = password_changed(&d, "bob");
    let bobs = d
        .probe(
            "Pam.ChangePassword",
            &[&q("bob"), &q(""), &q(NEW_PW), &bob.to_string()],
        )
        .run();
    assert_eq!(bobs.probe_error().as_deref(), Some("PermissionDenied"));
    assert_eq!(password_changed(&d, "bob"), before);
    d.probe("Pam.ChangePassword", &[&q("bob"), &q(""), &q(NEW_PW), "0"])
        .run()
        .expect_ok();
    assert_eq!(auth(&d, "bob", NEW_PW, ""), "success");
}
