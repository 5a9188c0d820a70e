//! The Pam interface as pam_roster sees it: outcomes, lockout per remote
//! host, registration codes at the login prompt, password changes, and
//! equal timing for a wrong password, a pending user and an unknown user.

use roster_tests::{TestBus, TestConfig, TestDaemon};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn auth(d: &TestDaemon, user: &str, secret: &str, rhost: &str) -> serde_json::Value {
    d.probe("Pam.Authenticate", &[&q(user), &q(secret), &q(rhost)])
        .run()
        .expect_ok()
        .json()["ok"]
        .clone()
}

fn account(d: &TestDaemon, user: &str) -> String {
    d.probe("Pam.CheckAccount", &[&q(user)])
        .run()
        .expect_ok()
        .json()["ok"]["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn outcomes_and_a_lockout_per_remote_host() {
    let bus = TestBus::start();
    let d = TestDaemon::start_with(&bus, TestConfig::new().set("lockout.attempts", "3"));
    d.create_user("alice", "user", PW);
    assert_eq!(auth(&d, "alice", PW, "")["outcome"], "success");
    assert_eq!(auth(&d, "alice", "nope", "")["outcome"], "failed");
    assert_eq!(auth(&d, "nobody-here", PW, "")["outcome"], "unknown");

    for _ in 0..2 {
        assert_eq!(
            auth(&d, "alice", "guess", "203.0.113.5")["outcome"],
            "failed"
        );
    }
    let third = auth(&d, "alice", "guess", "203.0.113.5");
    assert_eq!(third["outcome"], "locked");
    assert!(third["locked_until"].as_i64().unwrap_or(0) > 0);
    assert!(
        third["message"]
            .as_str()
            .unwrap_or("")
            .contains("try again")
    );
    // Even the right password is refused from there…
    assert_eq!(auth(&d, "alice", PW, "203.0.113.5")["outcome"], "locked");
    // …but not at the console, nor from another host.
    assert_eq!(auth(&d, "alice", PW, "")["outcome"], "success");
    assert_eq!(auth(&d, "alice", PW, "198.51.100.1")["outcome"], "success");
    let shown = d
        .probe("Users.Show", &[&q("alice")])
        .run()
        .expect_ok()
        .json();
    assert_ne!(shown["ok"]["locked_until"], 0);
    d.probe("Users.Unlock", &[&q("alice")]).run().expect_ok();
    assert_eq!(auth(&d, "alice", PW, "203.0.113.5")["outcome"], "success");
}

#[test]
fn account_checks_follow_state_and_grants() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("writer", "user", PW);
    d.grant("writer", "write", "");
    d.create_user("reader", "user", PW);
    d.grant("reader", "read", "");
    d.create_user("boss", "admin", PW);
    d.create_pending_user("newbie");
    assert_eq!(account(&d, "writer"), "ok");
    assert_eq!(account(&d, "boss"), "ok");
    assert_eq!(account(&d, "reader"), "denied");
    assert_eq!(account(&d, "newbie"), "pending");
    assert_eq!(account(&d, "ghost"), "unknown");
    d.probe("Users.Suspend", &[&q("writer"), "true"])
        .run()
        .expect_ok();
    assert_eq!(account(&d, "writer"), "suspended");
    let denied = d
        .probe("Pam.CheckAccount", &[&q("reader")])
        .run()
        .expect_ok()
        .json();
    assert!(
        denied["ok"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("default")
    );
}

#[test]
fn a_registration_code_logs_in_once_and_sets_the_password() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let (uid, code) = d.create_pending_user("newbie");
    d.grant("newbie", "write", "");
    assert_eq!(auth(&d, "newbie", "not the code", "")["outcome"], "failed");
    assert_eq!(auth(&d, "newbie", &code, "")["outcome"], "code-accepted");
    assert_eq!(
        d.probe("Pam.IsPending", &[&q("newbie")])
            .run()
            .expect_ok()
            .json()["ok"],
        true
    );
    // A new password equal to the code is refused.
    let same = d
        .probe("Pam.ChangePassword", &[&q("newbie"), &q(&code), &q(&code)])
        .run();
    assert_eq!(
        same.probe_error().as_deref(),
        Some("InvalidArgument"),
        "{}",
        same.stdout
    );
    // As the user itself (a login's chauthtok runs as the user's process
    // under a setuid helper, but the daemon must also accept the user).
    d.probe("Pam.ChangePassword", &[&q("newbie"), &q(&code), &q(PW)])
        .as_uid(uid)
        .run()
        .expect_ok();
    assert_eq!(account(&d, "newbie"), "ok");
    assert_eq!(auth(&d, "newbie", PW, "")["outcome"], "success");
    // The code is used up.
    assert_eq!(auth(&d, "newbie", &code, "")["outcome"], "failed");
}

#[test]
fn password_changes_through_pam() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", PW);
    let change = |current: &str, new: &str| {
        d.probe("Pam.ChangePassword", &[&q("alice"), &q(current), &q(new)])
            .as_uid(alice)
            .run()
    };
    assert_eq!(
        change("", "a new long one").probe_error().as_deref(),
        Some("PermissionDenied")
    );
    assert_eq!(
        change("wrong", "a new long one").probe_error().as_deref(),
        Some("AuthFailed")
    );
    assert_eq!(
        change(PW, "short").probe_error().as_deref(),
        Some("InvalidArgument")
    );
    change(PW, "a new long one").expect_ok();
    assert_eq!(auth(&d, "alice", PW, "")["outcome"], "failed");
    assert_eq!(
        auth(&d, "alice", "a new long one", "")["outcome"],
        "success"
    );
    // Root (getuid() 0 in the module) may set it without the current one.
    d.probe(
        "Pam.ChangePassword",
        &[&q("alice"), &q(""), &q("set by root 123")],
    )
    .run()
    .expect_ok();
    assert_eq!(
        auth(&d, "alice", "set by root 123", "")["outcome"],
        "success"
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn a_wrong_password_a_pending_user_and_an_unknown_user_take_the_same_time() {
    let bus = TestBus::start();
    // Costly enough that argon2 dominates the round trip.
    let d = TestDaemon::start_with(
        &bus,
        TestConfig::new()
            .set("argon2.memory_kib", "19456")
            .set("argon2.iterations", "2")
            .set("lockout.attempts", "1000"),
    );
    d.create_user("alice", "user", PW);
    d.create_pending_user("newbie");
    let conn = d.connect();
    let pam = zbus::block_on(roster_client::PamProxy::new(&conn)).unwrap_or_else(|e| panic!("{e}"));
    let time = |user: &str| {
        let t = Instant::now();
        let r = zbus::block_on(pam.authenticate(user, "wrong password here", "", 0));
        assert!(r.is_ok(), "{r:?}");
        t.elapsed()
    };
    let (mut wrong, mut pending, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        wrong.push(time("alice"));
        pending.push(time("newbie"));
        unknown.push(time("ghost"));
    }
    let (w, p, u) = (median(wrong), median(pending), median(unknown));
    eprintln!("medians: wrong password {w:?}, pending user {p:?}, unknown user {u:?}");
    for (what, x) in [("pending", p), ("unknown", u)] {
        let ratio = x.as_secs_f64() / w.as_secs_f64();
        assert!(
            (0.6..1.6).contains(&ratio),
            "{what} {x:?} vs wrong password {w:?}"
        );
    }
}

#[test]
fn a_pending_users_code_is_refused_as_the_new_password_on_every_path() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let refused = |run: roster_tests::Run| {
        assert_eq!(
            run.probe_error().as_deref(),
            Some("InvalidArgument"),
            "{}",
            run.stdout
        );
        assert!(
            run.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains("the new password must not be the registration code"),
            "{}",
            run.stdout
        );
    };
    let state = |name: &str| d.sqlite(&format!("SELECT state FROM users WHERE name = '{name}'"));

    // Root, no current password (login's and sshd's chauthtok): the code
    // is refused, in any spelling…
    let (_, code) = d.create_pending_user("pete");
    let change = |user: &str, current: &str, new: &str| {
        d.probe("Pam.ChangePassword", &[&q(user), &q(current), &q(new)])
    };
    refused(change("pete", "", &code).run());
    refused(change("pete", "", &code.to_uppercase()).run());
    assert_eq!(state("pete").trim(), "pending");
    // …and another password is taken.
    change("pete", "", PW).run().expect_ok();
    assert_eq!(auth(&d, "pete", PW, "")["outcome"], "success");

    // The user itself, with the code as the current password.
    let (uid, code) = d.create_pending_user("paula");
    refused(
        change("paula", &code, &code.to_uppercase())
            .as_uid(uid)
            .run(),
    );
    assert_eq!(state("paula").trim(), "pending");
    change("paula", &code, PW).as_uid(uid).run().expect_ok();
    assert_eq!(state("paula").trim(), "active");

    // Registration.Register.
    let (_, code) = d.create_pending_user("rita");
    let register = |new: &str| d.probe("Registration.Register", &[&q(&code), &q(new)]);
    let same = register(&code).run();
    assert_eq!(same.probe_error().as_deref(), Some("InvalidArgument"));
    refused(register(&code.to_uppercase()).run());
    assert_eq!(state("rita").trim(), "pending");
    register(PW).run().expect_ok();
    assert_eq!(state("rita").trim(), "active");
}

#[test]
fn register_checks_the_code_and_the_name_rule_before_it_hashes() {
    let bus = TestBus::start();
    // A hash that costs: what a wrong code must not spend.
    let d = TestDaemon::start_with(
        &bus,
        TestConfig::new()
            .set("argon2.memory_kib", "65536")
            .set("argon2.iterations", "4"),
    );
    let (_, code) = d.create_pending_user("rita");
    let conn = d.connect();
    let reg = zbus::block_on(roster_client::RegistrationProxy::new(&conn))
        .unwrap_or_else(|e| panic!("{e}"));
    let register = |code: &str, new: &str| {
        let t = Instant::now();
        let r = zbus::block_on(reg.register(code, new));
        (r, t.elapsed())
    };

    // The user's name in the password: refused now that the code names
    // the user first.
    let (named, _) = register(&code, "rita's long password");
    match named {
        Err(roster_client::RosterError::InvalidArgument(m)) => {
            assert!(m.contains("user name"), "{m}")
        }
        other => panic!("{other:?}"),
    }

    // A wrong code (right id, wrong secret) spends no hash: it answers in
    // a fraction of a right code's time.
    let id = code.split('-').next().unwrap_or_default();
    let wrong = format!("{id}-{}", "0".repeat(26));
    let (failed, t_wrong) = register(&wrong, PW);
    assert!(
        matches!(failed, Err(roster_client::RosterError::AuthFailed(_))),
        "{failed:?}"
    );
    let (ok, t_right) = register(&code, PW);
    assert_eq!(ok.unwrap_or_else(|e| panic!("{e}")), "rita");
    assert!(
        t_wrong * 3 < t_right,
        "wrong code {t_wrong:?}, right code {t_right:?}"
    );
    eprintln!("register: wrong code {t_wrong:?}, right code (one hash) {t_right:?}");
    assert_eq!(auth(&d, "rita", PW, "")["outcome"], "success");
}

/// "Set by an admin" is its own variant on the wire: an empty password
/// given as the current one is only a wrong password, from root through
/// PAM and from the user through Users.SetPassword, and the password
/// stays as it was.
#[test]
fn an_empty_given_current_password_is_a_wrong_one_not_set_by_admin() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", PW);
    let empty = r#"{"given": ""}"#;
    let by_root = d
        .probe(
            "Pam.ChangePassword",
            &[&q("alice"), empty, &q("a new long one"), "0"],
        )
        .run();
    assert_eq!(by_root.probe_error().as_deref(), Some("AuthFailed"));
    let by_alice = d
        .probe(
            "Users.SetPassword",
            &[&q("alice"), empty, &q("a new long one")],
        )
        .as_uid(alice)
        .run();
    assert_eq!(by_alice.probe_error().as_deref(), Some("AuthFailed"));
    assert_eq!(auth(&d, "alice", PW, "")["outcome"], "success");
    assert_eq!(auth(&d, "alice", "a new long one", "")["outcome"], "failed");
    // Root setting it, said as such, still works.
    d.probe(
        "Pam.ChangePassword",
        &[&q("alice"), "null", &q("set by root 123"), "0"],
    )
    .run()
    .expect_ok();
    assert_eq!(
        auth(&d, "alice", "set by root 123", "")["outcome"],
        "success"
    );
}
