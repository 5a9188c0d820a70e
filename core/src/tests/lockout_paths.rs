//! The lockout on every path that checks a person's password or code:
//! PAM (`begin_login` / `finish_login`, here as `login_check` /
//! `record_login_result`, see `flow_steps`), an own password change (its
//! plan, here `current_hash`, and its commit, `set_password_hash(Own)`,
//! also through a token) and registration (its plan, here `code_owner`,
//! and its commit, `register`). While locked, each refuses before
//! anything is verified, with the message PAM gives, and a right secret
//! lifts nothing.

use super::fixture::*;
use crate::clock::Timestamp;
use crate::roster::{InitialCredential, PasswordChange};
use crate::*;

const LOCK_MESSAGE: &str = "account locked after too many failed attempts: try again in 15 minutes";

/// `attempts` (5) failed local logins: bob is locked out locally.
fn lock_locally(f: &mut Fixture, name: &str) {
    for _ in 0..4 {
        assert_eq!(
            f.roster.record_login_result(name, None, false).unwrap(),
            None
        );
    }
    assert_eq!(
        f.roster.record_login_result(name, None, false).unwrap(),
        Some(T0 + 900)
    );
}

#[track_caller]
fn locked<T: std::fmt::Debug>(r: Result<T>) -> (Timestamp, String) {
    match r {
        Err(Error::Locked { until, message }) => (until, message),
        other => panic!("expected Locked, got {other:?}"),
    }
}

fn local_lock(f: &mut Fixture, name: &str) -> Option<Timestamp> {
    f.roster
        .login_check(&Actor::Root, name, None)
        .unwrap()
        .locked_until
}

/// As [`lock_locally`], at whatever time the clock says.
fn lock_locally_at(f: &mut Fixture, name: &str) {
    for _ in 0..5 {
        f.roster.record_login_result(name, None, false).unwrap();
    }
    assert!(local_lock(f, name).is_some());
}

// ---- all remote hosts together ------------------------------------------

fn host(i: u32) -> String {
    format!("198.51.100.{i}")
}

fn lock_at(f: &mut Fixture, name: &str, remote_host: Option<&str>) -> Option<Timestamp> {
    f.roster
        .login_check(&Actor::Root, name, remote_host)
        .unwrap()
        .locked_until
}

/// `remote_attempts` (20) failures, one from each of 20 remote hosts.
fn spray(f: &mut Fixture, name: &str) {
    for i in 0..19 {
        assert_eq!(
            f.roster
                .record_login_result(name, Some(&host(i)), false)
                .unwrap(),
            None,
            "host {i}: one failure each locks no host"
        );
    }
    let until = f.roster.now() + 900;
    assert_eq!(
        f.roster
            .record_login_result(name, Some(&host(19)), false)
            .unwrap(),
        Some(until),
        "the 20th remote failure locks"
    );
}

rule_tests! {
#[test]
fn the_message_is_pams_whatever_the_path() {
    assert_eq!(lockout::lock_message(T0 + 900, T0), LOCK_MESSAGE);
    assert_eq!(
        lockout::lock_message(T0 + 30, T0),
        "account locked after too many failed attempts: try again in 1 minute"
    );
    // A lock ending now still says a minute, never "0 minutes".
    assert!(lockout::lock_message(T0, T0).ends_with("in 1 minute"));
    let (until, message) = locked::<()>(Err(lockout::locked_error(T0 + 900, T0)));
    assert_eq!((until, message.as_str()), (T0 + 900, LOCK_MESSAGE));
}

#[test]
fn an_own_password_change_is_refused_while_locked() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    assert!(f.roster.current_hash(&bob, "bob").unwrap().is_some());
    lock_locally(&mut f, "bob");
    // Refused before any hash is handed out to verify against.
    let (until, message) = locked(f.roster.current_hash(&bob, "bob"));
    assert_eq!((until, message.as_str()), (T0 + 900, LOCK_MESSAGE));
    // The commit half refuses too (the lock came while the hash ran).
    locked(
        f.roster
            .set_password_hash(&bob, "bob", super::fixture::own_change(), phc()),
    );
    assert_eq!(local_lock(&mut f, "bob"), Some(T0 + 900), "still locked");
    // Authorization still comes first: a stranger learns nothing.
    assert!(matches!(
        f.roster.current_hash(&Actor::Stranger { uid: 4242 }, "bob"),
        Err(Error::PermissionDenied(_))
    ));
    // The lock ends on time…
    f.clock.advance(900);
    assert!(f.roster.current_hash(&bob, "bob").unwrap().is_some());
    f.roster
        .set_password_hash(&bob, "bob", super::fixture::own_change(), phc())
        .unwrap();
    // …or with an unlock.
    f.clock.advance(1);
    lock_locally_at(&mut f, "bob");
    locked(f.roster.current_hash(&bob, "bob"));
    f.roster.unlock_user(&Actor::Root, "bob").unwrap();
    assert!(f.roster.current_hash(&bob, "bob").unwrap().is_some());
}

#[test]
fn a_remote_lockout_doesnt_stop_a_local_password_change() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    for _ in 0..5 {
        f.roster
            .record_login_result("bob", Some("203.0.113.9"), false)
            .unwrap();
    }
    // A remote attacker can't lock bob out of his own console either.
    assert!(f.roster.current_hash(&bob, "bob").unwrap().is_some());
}

#[test]
fn a_token_changing_its_users_password_meets_the_lockout() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    let (token, _) = f
        .roster
        .create_token(&bob, Some("ci"), Scope::Full, None)
        .unwrap();
    let as_token = f
        .roster
        .actor(&Caller {
            uid: 4242,
            token_id: Some(token.id),
        })
        .unwrap();
    assert!(f.roster.current_hash(&as_token, "bob").unwrap().is_some());
    lock_locally(&mut f, "bob");
    let (_, message) = locked(f.roster.current_hash(&as_token, "bob"));
    assert_eq!(message, LOCK_MESSAGE);
    locked(
        f.roster
            .set_password_hash(&as_token, "bob", super::fixture::own_change(), phc()),
    );
}

#[test]
fn an_admin_set_password_lifts_the_lockout() {
    let mut f = fixture();
    f.create("bob");
    lock_locally(&mut f, "bob");
    f.roster
        .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
        .unwrap();
    assert_eq!(local_lock(&mut f, "bob"), None);
}

#[test]
fn a_right_password_while_locked_lifts_nothing() {
    let mut f = fixture();
    f.create("bob");
    lock_locally(&mut f, "bob");
    // The hash said "right" but the lock came first (or while it ran).
    assert_eq!(
        f.roster.record_login_result("bob", None, true).unwrap(),
        Some(T0 + 900)
    );
    assert_eq!(local_lock(&mut f, "bob"), Some(T0 + 900));
    // Once it ends, a success clears the counter as before.
    f.clock.advance(900);
    assert_eq!(
        f.roster.record_login_result("bob", None, true).unwrap(),
        None
    );
    assert_eq!(
        f.roster.record_login_result("bob", None, false).unwrap(),
        None,
        "a fresh count"
    );
}

#[test]
fn a_failure_while_locked_answers_the_lock() {
    let mut f = fixture();
    f.create("bob");
    lock_locally(&mut f, "bob");
    assert_eq!(
        f.roster.record_login_result("bob", None, false).unwrap(),
        Some(T0 + 900),
        "not extended, but reported"
    );
}

#[test]
fn registration_checks_the_owners_lockout_before_the_code() {
    let mut f = fixture();
    let (_, code) = f
        .roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: "pen".into(),
                ..NewUser::default()
            },
            InitialCredential::Register,
        )
        .unwrap();
    let code = code.unwrap().code;
    // Wrong codes at the login prompt lock the pending user locally.
    lock_locally(&mut f, "pen");
    // The right code is refused, with PAM's message, and stays live.
    let (_, message) = locked(f.roster.code_owner(&code));
    assert_eq!(message, LOCK_MESSAGE);
    locked(f.roster.register(&code, phc()));
    assert_eq!(
        f.roster.user_by_name("pen").unwrap().unwrap().state,
        UserState::Pending
    );
    f.roster.unlock_user(&Actor::Root, "pen").unwrap();
    assert_eq!(
        f.roster.register(&code, phc()).unwrap().state,
        UserState::Active
    );
}

#[test]
fn failures_spread_over_remote_hosts_lock_every_remote_host() {
    let mut f = fixture(); // attempts 5, remote_attempts 20, 15m, 15m
    f.create("bob");
    spray(&mut f, "bob");
    // Every remote host, the sprayed ones and new ones, is locked…
    assert_eq!(lock_at(&mut f, "bob", Some(&host(3))), Some(T0 + 900));
    assert_eq!(lock_at(&mut f, "bob", Some("2001:db8::51")), Some(T0 + 900));
    // …the console and sudo are not.
    assert_eq!(lock_at(&mut f, "bob", None), None);
    assert_eq!(
        f.roster.record_login_result("bob", None, true).unwrap(),
        None
    );
    // A right password from a remote host lifts nothing.
    assert_eq!(
        f.roster
            .record_login_result("bob", Some("2001:db8::51"), true)
            .unwrap(),
        Some(T0 + 900)
    );
    assert_eq!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .locked_until,
        Some(T0 + 900)
    );
    // It ends on time, with a fresh count.
    f.clock.advance(900);
    assert_eq!(lock_at(&mut f, "bob", Some(&host(3))), None);
    assert_eq!(
        f.roster
            .record_login_result("bob", Some(&host(3)), false)
            .unwrap(),
        None
    );
    f.clock.advance(900);
    // `unlock` lifts it, and so does an admin-set password.
    spray(&mut f, "bob");
    f.roster.unlock_user(&Actor::Root, "bob").unwrap();
    assert_eq!(lock_at(&mut f, "bob", Some(&host(3))), None);
    spray(&mut f, "bob");
    f.roster
        .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
        .unwrap();
    assert_eq!(lock_at(&mut f, "bob", Some(&host(3))), None);
}

#[test]
fn remote_failures_age_out_of_the_window() {
    let mut f = fixture();
    f.create("bob");
    for i in 0..19 {
        f.roster
            .record_login_result("bob", Some(&host(i)), false)
            .unwrap();
    }
    f.clock.advance(900);
    assert_eq!(
        f.roster
            .record_login_result("bob", Some(&host(19)), false)
            .unwrap(),
        None,
        "the 19 earlier ones are out of the 15m window"
    );
}

#[test]
fn a_login_success_doesnt_reset_the_count_over_all_remote_hosts() {
    let mut f = fixture();
    f.create("bob");
    for i in 0..19 {
        f.roster
            .record_login_result("bob", Some(&host(i)), false)
            .unwrap();
    }
    // Bob logs in from home: his own host's counter goes, the sprayer's
    // count stays.
    f.roster
        .record_login_result("bob", Some("192.0.2.1"), true)
        .unwrap();
    assert_eq!(
        f.roster
            .record_login_result("bob", Some(&host(19)), false)
            .unwrap(),
        Some(T0 + 900)
    );
}

#[test]
fn per_host_locks_still_come_first() {
    let mut f = fixture();
    f.create("bob");
    let ssh = Some("203.0.113.7");
    for _ in 0..4 {
        f.roster.record_login_result("bob", ssh, false).unwrap();
    }
    assert_eq!(
        f.roster.record_login_result("bob", ssh, false).unwrap(),
        Some(T0 + 900)
    );
    // 5 of the 20 are used: other hosts are still open.
    assert_eq!(lock_at(&mut f, "bob", Some("203.0.113.8")), None);
}

#[test]
fn roots_change_with_a_checked_current_password_meets_the_lockout_too() {
    // rosterd's PAM change from a root connection (a setuid `passwd`,
    // sshd's expired-password step) commits as Own once the current
    // password was verified: a lock that came while the hash ran holds.
    let mut f = fixture();
    f.create("bob");
    lock_locally(&mut f, "bob");
    locked(
        f.roster
            .set_password_hash(&Actor::Root, "bob", super::fixture::own_change(), phc()),
    );
    assert_eq!(local_lock(&mut f, "bob"), Some(T0 + 900), "still locked");
    // Root's own `passwd bob` (no current password) is an admin's reset.
    f.roster
        .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
        .unwrap();
    assert_eq!(local_lock(&mut f, "bob"), None);
}
}
