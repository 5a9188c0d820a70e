//! The credential flows, each rule once per path: PAM (a login, a
//! chauthtok with the current password or the code, root's change
//! without it), the CLI (`users password` by the user or an admin), a
//! token (a full token acting as its user) and registration. rosterd's
//! part (the verify and the hash in its queue) is played by the test:
//! `verified` is what the verify answered, `phc()` the hash.

use super::fixture::*;
use crate::clock::Timestamp;
use crate::flows::code::is_live_code;
use crate::flows::{Channel, LoginOutcome, PasswordPlan, PasswordRequest};
use crate::roster::InitialCredential;
use crate::*;

const LOCK_MESSAGE: &str = "account locked after too many failed attempts: try again in 15 minutes";
const CODE_RULE: &str = "the new password must not be the registration code";
const NEW: &str = "a fine new password";

fn pending(f: &mut Fixture, name: &str) -> Secret {
    let (_, code) = f
        .roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: name.into(),
                ..Default::default()
            },
            InitialCredential::Register,
        )
        .unwrap();
    code.unwrap().code
}

/// The code as a person may type it: upper case, `0` as `O`, `1` as `l`.
fn other_spelling(code: &Secret) -> Secret {
    let typed: String = code
        .expose()
        .chars()
        .map(|c| match c {
            '0' => 'O',
            '1' => 'l',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    assert_ne!(typed, code.expose());
    Secret::new(format!("  {typed} "))
}

fn token_actor(f: &mut Fixture, owner: &str) -> Actor {
    let owner = f.actor(owner);
    let (token, _) = f
        .roster
        .create_token(&owner, Some("ci"), Scope::Full, None)
        .unwrap();
    f.roster
        .actor(&Caller {
            uid: 4242,
            token_id: Some(token.id),
        })
        .unwrap()
}

/// Five failed local logins: `name` is locked out locally until T0+900
/// (or from the clock's now).
fn lock_locally(f: &mut Fixture, name: &str) {
    for _ in 0..5 {
        let plan = f.roster.begin_login(&Actor::Root, name, None).unwrap();
        f.roster
            .finish_login(plan, &Secret::new("wrong"), false)
            .unwrap();
    }
    assert!(local_lock(f, name).is_some(), "{name} is locked");
}

fn local_lock(f: &mut Fixture, name: &str) -> Option<Timestamp> {
    f.roster
        .begin_login(&Actor::Root, name, None)
        .unwrap()
        .locked_until()
}

/// How many failures are counted locally, read back from the store.
pub fn local_failures(f: &mut Fixture, name: &str) -> usize {
    let uid = f.roster.user_by_name(name).unwrap().unwrap().uid;
    f.roster
        .store
        .read(|tx| tx.lockout(uid, crate::lockout::LOCAL))
        .unwrap()
        .failures
        .len()
}

#[track_caller]
fn locked<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(Error::Locked { message, .. }) => message,
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[track_caller]
fn refused_as_code(r: Result<Option<Secret>>) {
    match r {
        Err(Error::InvalidArgument(m)) => assert_eq!(m, CODE_RULE),
        other => panic!("expected the code rule, got {other:?}"),
    }
}

fn plan(f: &mut Fixture, actor: &Actor, request: Result<PasswordRequest>) -> Result<PasswordPlan> {
    f.roster.plan_password_change(actor, request.unwrap())
}

fn own(name: &str, current: &str, channel: Channel) -> Result<PasswordRequest> {
    PasswordRequest::own(name, Secret::new(current), Secret::new(NEW), channel)
}

/// rosterd's part and the commit: verify (as `verified` says), hash what
/// core accepts, commit.
fn carry_out(f: &mut Fixture, plan: PasswordPlan, verified: bool) -> Result<User> {
    let phc = plan.password_to_hash(verified)?.map(|_| phc());
    let actor = plan.actor().clone();
    f.roster.commit_password_change(&actor, plan, verified, phc)
}

fn password_changed(f: &mut Fixture, name: &str) -> Option<Timestamp> {
    f.roster
        .user_by_name(name)
        .unwrap()
        .unwrap()
        .password_changed
}

/// `code` with its last character changed (never to itself).
fn wrong_last_character(code: &str) -> String {
    let (kept, last) = code.split_at(code.len() - 1);
    format!("{kept}{}", if last == "x" { "y" } else { "x" })
}

fn live_row(f: &mut Fixture, name: &str) -> crate::store::CodeRow {
    let uid = f.roster.user_by_name(name).unwrap().unwrap().uid;
    f.roster.store.read(|tx| tx.code_of(uid)).unwrap().unwrap()
}

// ---- a login -------------------------------------------------------------

rule_tests! {
#[test]
fn a_login_begins_with_what_the_verify_needs_and_finishes_with_the_outcome() {
    let mut f = fixture();
    f.create("bob");
    let code = pending(&mut f, "pen");

    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(plan.hash_to_verify(), Some(phc()));
    assert_eq!(plan.refused(), None);
    let outcome = f.roster.finish_login(plan, &Secret::new(""), true).unwrap();
    assert_eq!(outcome, LoginOutcome::Success);
    assert_eq!(outcome.message(), "");

    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    let outcome = f
        .roster
        .finish_login(plan, &Secret::new(""), false)
        .unwrap();
    assert_eq!(outcome, LoginOutcome::Failed);
    assert_eq!(local_failures(&mut f, "bob"), 1, "a failure is counted");

    // Unknown and pending: the dummy hash, the same one verify.
    let plan = f.roster.begin_login(&Actor::Root, "ghost", None).unwrap();
    assert_eq!(plan.hash_to_verify(), None);
    assert!(!plan.is_known());
    let outcome = f.roster.finish_login(plan, &code, false).unwrap();
    assert_eq!(outcome, LoginOutcome::Unknown);

    let plan = f.roster.begin_login(&Actor::Root, "pen", None).unwrap();
    assert_eq!(plan.hash_to_verify(), None);
    assert!(plan.is_pending());
    // The code, in any spelling, checked in memory.
    let outcome = f
        .roster
        .finish_login(plan, &other_spelling(&code), false)
        .unwrap();
    assert_eq!(outcome, LoginOutcome::CodeAccepted);
    assert_eq!(
        outcome.message(),
        "registration code accepted: choose a password"
    );
    // Not used up by a login: a wrong one fails and is counted.
    let plan = f.roster.begin_login(&Actor::Root, "pen", None).unwrap();
    let wrong = Secret::new(wrong_last_character(code.expose()));
    assert_eq!(
        f.roster.finish_login(plan, &wrong, false).unwrap(),
        LoginOutcome::Failed
    );
    assert_eq!(local_failures(&mut f, "pen"), 1);

    // Authorization first: PAM goes by uid, a token never counts.
    let stranger = Actor::Stranger { uid: 4242 };
    assert!(matches!(
        f.roster.begin_login(&stranger, "bob", None),
        Err(Error::PermissionDenied(_))
    ));
    let bob = f.actor("bob");
    f.roster.begin_login(&bob, "bob", None).unwrap();
    let token = token_actor(&mut f, "bob");
    assert!(matches!(
        f.roster.begin_login(&token, "bob", None),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn a_locked_login_is_answered_without_a_verify() {
    let mut f = fixture();
    f.create("bob");
    lock_locally(&mut f, "bob");
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(
        plan.refused(),
        Some(LoginOutcome::Locked {
            until: T0 + 900,
            message: LOCK_MESSAGE.into()
        })
    );
    // A remote host is another counter: open.
    let plan = f
        .roster
        .begin_login(&Actor::Root, "bob", Some("203.0.113.9"))
        .unwrap();
    assert_eq!(plan.refused(), None);
}

#[test]
fn a_right_secret_during_a_lock_lifts_nothing_at_the_login_prompt() {
    let mut f = fixture();
    f.create("bob");
    let code = pending(&mut f, "pen");
    // Both plans are read before the lock comes (while the hash runs).
    let bobs = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    let pens = f.roster.begin_login(&Actor::Root, "pen", None).unwrap();
    assert_eq!((bobs.refused(), pens.refused()), (None, None));
    lock_locally(&mut f, "bob");
    lock_locally(&mut f, "pen");
    let right = f.roster.finish_login(bobs, &Secret::new(""), true).unwrap();
    assert_eq!(right.locked_until(), Some(T0 + 900));
    assert_eq!(right.message(), LOCK_MESSAGE);
    let code_right = f.roster.finish_login(pens, &code, false).unwrap();
    assert_eq!(code_right.locked_until(), Some(T0 + 900));
    assert_eq!(local_lock(&mut f, "bob"), Some(T0 + 900), "still locked");
    assert_eq!(local_lock(&mut f, "pen"), Some(T0 + 900), "still locked");
}

#[test]
fn a_secret_made_worthless_while_the_hash_ran_logs_nobody_in() {
    let mut f = fixture();
    f.create("bob");
    let code = pending(&mut f, "pen");
    // The code typed at the login prompt, used up by a registration that
    // lands while the login's hash runs: refused and counted.
    let pens = f.roster.begin_login(&Actor::Root, "pen", None).unwrap();
    f.roster.register(&code, phc()).unwrap();
    assert_eq!(
        f.roster.finish_login(pens, &code, false).unwrap(),
        LoginOutcome::Failed
    );
    assert_eq!(local_failures(&mut f, "pen"), 1);
    // The old password, verified while an admin reset it: refused too.
    let bobs = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    f.roster.reset_password(&Actor::Root, "bob").unwrap();
    assert_eq!(
        f.roster.finish_login(bobs, &Secret::new(""), true).unwrap(),
        LoginOutcome::Failed
    );
    assert_eq!(local_failures(&mut f, "bob"), 1);
    // With a counter to clear (the write path), the same holds.
    let code = f
        .roster
        .reset_password(&Actor::Root, "bob")
        .unwrap()
        .1
        .code;
    let bobs = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    f.roster.register(&code, phc()).unwrap();
    assert_eq!(
        f.roster.finish_login(bobs, &code, false).unwrap(),
        LoginOutcome::Failed
    );
}

#[test]
fn the_commit_authorizes_whoever_the_caller_is_by_then() {
    let mut f = fixture();
    f.create_admin("ada");
    // Not the last admin: ada may be demoted.
    f.create_admin("root2");
    f.create("bob");
    let ada = f.actor("ada");
    let by_ada = plan(
        &mut f,
        &ada,
        PasswordRequest::by_admin("bob", Secret::new(NEW)),
    )
    .unwrap();
    // Ada stops being an admin while the new password is hashed.
    f.roster
        .edit_user(
            &Actor::Root,
            "ada",
            UserChanges {
                role: Some(Role::User),
                ..Default::default()
            },
        )
        .unwrap();
    let ada_now = f.actor("ada");
    assert!(matches!(
        f.roster
            .commit_password_change(&ada_now, by_ada, false, Some(phc())),
        Err(Error::PermissionDenied(_))
    ));
}

// ---- a locked user, on every path ---------------------------------------------

#[test]
fn a_locked_user_is_refused_on_every_path() {
    let mut f = fixture();
    f.create("bob");
    f.create_admin("ada");
    let code = pending(&mut f, "pen");
    let bob = f.actor("bob");
    let token = token_actor(&mut f, "bob");
    lock_locally(&mut f, "bob");
    lock_locally(&mut f, "pen");

    // PAM: the login prompt and chauthtok with the current password.
    let login = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(login.refused().unwrap().message(), LOCK_MESSAGE);
    let m = locked(plan(&mut f, &Actor::Root, own("bob", "x", Channel::Pam)));
    assert_eq!(m, LOCK_MESSAGE);
    // The CLI, the user and their token.
    assert_eq!(
        locked(plan(&mut f, &bob, own("bob", "x", Channel::Api))),
        LOCK_MESSAGE
    );
    assert_eq!(
        locked(plan(&mut f, &token, own("bob", "x", Channel::Api))),
        LOCK_MESSAGE
    );
    // A pending user's code, at chauthtok and at registration.
    let m = locked(plan(
        &mut f,
        &Actor::Root,
        own("pen", code.expose(), Channel::Pam),
    ));
    assert_eq!(m, LOCK_MESSAGE);
    let register = PasswordRequest::register(code.clone(), Secret::new(NEW));
    assert_eq!(
        locked(plan(&mut f, &Actor::Stranger { uid: 4242 }, register)),
        LOCK_MESSAGE
    );
    assert_eq!(password_changed(&mut f, "bob"), Some(T0));
    assert_eq!(password_changed(&mut f, "pen"), None);

    // An admin's or root's change (no current password) is how a lock
    // is lifted, with `unlock` and time.
    let ada = f.actor("ada");
    let by_ada = plan(
        &mut f,
        &ada,
        PasswordRequest::by_admin("bob", Secret::new(NEW)),
    );
    carry_out(&mut f, by_ada.unwrap(), false).unwrap();
    assert_eq!(local_lock(&mut f, "bob"), None);
    let by_root = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::by_admin("pen", Secret::new(NEW)),
    );
    carry_out(&mut f, by_root.unwrap(), false).unwrap();
    assert_eq!(local_lock(&mut f, "pen"), None);
}

#[test]
fn a_right_secret_during_a_lock_lifts_nothing_on_every_change_path() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    let token = token_actor(&mut f, "bob");
    let code = pending(&mut f, "pen");
    // Every plan is made before the lock comes (it comes while the hash
    // runs): the commit re-checks it.
    let plans = [
        plan(
            &mut f,
            &Actor::Root,
            own("bob", "correct horse", Channel::Pam),
        )
        .unwrap(),
        plan(&mut f, &bob, own("bob", "correct horse", Channel::Api)).unwrap(),
        plan(&mut f, &token, own("bob", "correct horse", Channel::Api)).unwrap(),
    ];
    let pen_pam = plan(
        &mut f,
        &Actor::Root,
        own("pen", code.expose(), Channel::Pam),
    )
    .unwrap();
    let pen_register = plan(
        &mut f,
        &Actor::Stranger { uid: 4242 },
        PasswordRequest::register(code.clone(), Secret::new(NEW)),
    )
    .unwrap();
    lock_locally(&mut f, "bob");
    lock_locally(&mut f, "pen");
    for plan in plans {
        assert_eq!(locked(carry_out(&mut f, plan, true)), LOCK_MESSAGE);
    }
    assert!(pen_pam.by_code());
    assert_eq!(locked(carry_out(&mut f, pen_pam, false)), LOCK_MESSAGE);
    assert_eq!(locked(carry_out(&mut f, pen_register, false)), LOCK_MESSAGE);
    assert_eq!(local_lock(&mut f, "bob"), Some(T0 + 900));
    assert_eq!(local_lock(&mut f, "pen"), Some(T0 + 900));
    assert_eq!(password_changed(&mut f, "bob"), Some(T0));
    assert_eq!(
        f.roster.user_by_name("pen").unwrap().unwrap().state,
        UserState::Pending
    );
    // The code stays live: once unlocked it registers.
    f.roster.unlock_user(&Actor::Root, "pen").unwrap();
    let again = plan(
        &mut f,
        &Actor::Stranger { uid: 4242 },
        PasswordRequest::register(code, Secret::new(NEW)),
    )
    .unwrap();
    assert_eq!(
        carry_out(&mut f, again, false).unwrap().state,
        UserState::Active
    );
}

// ---- the registration code as the new password -------------------------------

#[test]
fn the_code_as_the_new_password_is_refused_in_any_spelling_on_every_path() {
    let mut f = fixture();
    f.create_admin("ada");
    let ada = f.actor("ada");
    let ada_token = token_actor(&mut f, "ada");
    let code = pending(&mut f, "pen");
    let spelled = other_spelling(&code);
    assert!(is_live_code(&spelled, &live_row(&mut f, "pen"), T0));

    // PAM chauthtok with the code as the current password.
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::own("pen", code.clone(), spelled.clone(), Channel::Pam),
    )
    .unwrap();
    refused_as_code(p.password_to_hash(false));
    // …and the code exactly: the policy's "same as the old password".
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::own("pen", code.clone(), code.clone(), Channel::Pam),
    )
    .unwrap();
    assert!(matches!(
        p.password_to_hash(false),
        Err(Error::InvalidArgument(m)) if m.contains("the same as the old password (or the registration code)")
    ));
    // Root's `passwd pen` (PAM, no current password), an admin's
    // `users password pen`, and the admin's token.
    for actor in [&Actor::Root, &ada, &ada_token] {
        let p = plan(
            &mut f,
            actor,
            PasswordRequest::by_admin("pen", spelled.clone()),
        )
        .unwrap();
        refused_as_code(p.password_to_hash(false));
    }
    // Registration.
    let p = plan(
        &mut f,
        &Actor::Stranger { uid: 4242 },
        PasswordRequest::register(code.clone(), spelled.clone()),
    )
    .unwrap();
    refused_as_code(p.password_to_hash(false));
    // Nothing was stored, and the code still works.
    let pen = f.roster.user_by_name("pen").unwrap().unwrap();
    assert_eq!(pen.state, UserState::Pending);
    assert_eq!(
        f.roster.verify_code(&Actor::Root, "pen", &code).ok(),
        Some(true)
    );
    // A password that merely looks like a code is fine.
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::by_admin("pen", Secret::new("0123abcd-0123456789abcdefghjkmnpqrs")),
    )
    .unwrap();
    assert!(p.password_to_hash(false).unwrap().is_some());
}


// ---- wrong current passwords and codes -----------------------------------------

#[test]
fn a_wrong_current_password_or_code_is_counted_on_every_path() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    let token = token_actor(&mut f, "bob");
    let code = pending(&mut f, "pen");

    // PAM, the CLI, a token: a wrong current password is counted and
    // answered, whatever the new password (the policy comes after), and
    // nothing is hashed.
    let weak = Secret::new("bob");
    for (actor, channel) in [
        (&Actor::Root, Channel::Pam),
        (&bob, Channel::Api),
        (&token, Channel::Api),
    ] {
        let p = plan(
            &mut f,
            actor,
            PasswordRequest::own("bob", Secret::new("wrong"), weak.clone(), channel),
        )
        .unwrap();
        assert!(p.to_verify().is_some());
        assert_eq!(p.password_to_hash(false).unwrap(), None, "nothing to hash");
        match f.roster.commit_password_change(actor, p, false, None) {
            Err(Error::AuthFailed(m)) => assert_eq!(m, "the current password is wrong"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(local_failures(&mut f, "bob"), 3);

    // PAM with a wrong code for a pending user.
    let p = plan(&mut f, &Actor::Root, own("pen", "wrong", Channel::Pam)).unwrap();
    match carry_out(&mut f, p, false) {
        Err(Error::AuthFailed(m)) => assert_eq!(m, "the registration code is wrong or expired"),
        other => panic!("{other:?}"),
    }
    // Registration: a wrong code for a known id is counted in the plan,
    // before anything is hashed.
    let wrong = Secret::new(wrong_last_character(code.expose()));
    let register = PasswordRequest::register(wrong, Secret::new(NEW));
    assert!(matches!(
        plan(&mut f, &Actor::Stranger { uid: 4242 }, register),
        Err(Error::AuthFailed(_))
    ));
    assert_eq!(local_failures(&mut f, "pen"), 2);

    // The right one goes through, and clears the counts.
    let p = plan(&mut f, &bob, own("bob", "correct horse", Channel::Api)).unwrap();
    assert_eq!(carry_out(&mut f, p, true).unwrap().name, "bob");
    assert_eq!(local_failures(&mut f, "bob"), 0);
}

#[test]
fn a_pending_users_code_is_their_current_password_at_chauthtok() {
    let mut f = fixture();
    let code = pending(&mut f, "pen");
    let p = plan(
        &mut f,
        &Actor::Root,
        own("pen", other_spelling(&code).expose(), Channel::Pam),
    )
    .unwrap();
    // One verify all the same (the dummy hash), then the code in memory.
    assert_eq!(p.to_verify().map(|(_, hash)| hash), Some(None));
    assert!(p.by_code());
    let pen = carry_out(&mut f, p, false).unwrap();
    assert_eq!(pen.state, UserState::Active);
    // Used up.
    assert!(!f.roster.verify_code(&Actor::Root, "pen", &code).unwrap());
}

// ---- the order of the checks ----------------------------------------------------

#[test]
fn an_empty_new_password_is_refused_before_anything_else() {
    let empty = || Secret::new("");
    let said = |r: Result<PasswordRequest>| match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        said(PasswordRequest::own(
            "bob",
            Secret::new("x"),
            empty(),
            Channel::Pam
        )),
        "the new password is empty"
    );
    assert_eq!(
        said(PasswordRequest::by_admin("bob", empty())),
        "the new password is empty"
    );
    assert_eq!(
        said(PasswordRequest::register(Secret::new("x"), empty())),
        "both the registration code and a new password are needed"
    );
    assert_eq!(
        said(PasswordRequest::register(empty(), Secret::new(NEW))),
        "both the registration code and a new password are needed"
    );
    assert_eq!(
        said(PasswordRequest::create(
            NewUser {
                name: "carol".into(),
                ..Default::default()
            },
            empty()
        )),
        "a password is needed: give one, or create the user with --register"
    );
}

#[test]
fn creating_with_a_password_is_planned_checked_and_committed() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    let carol = || NewUser {
        name: "carol".into(),
        ..Default::default()
    };
    // Authorized and the name checked before any hash.
    assert!(matches!(
        plan(
            &mut f,
            &bob,
            PasswordRequest::create(carol(), Secret::new(NEW))
        ),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        plan(
            &mut f,
            &Actor::Root,
            PasswordRequest::create(
                NewUser {
                    name: "Bad Name".into(),
                    ..Default::default()
                },
                Secret::new(NEW)
            )
        ),
        Err(Error::InvalidArgument(_))
    ));
    // The policy (here: the user name) before the hash.
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::create(carol(), Secret::new("carol's password")),
    )
    .unwrap();
    assert!(p.to_verify().is_none());
    assert!(matches!(
        p.password_to_hash(false),
        Err(Error::InvalidArgument(m)) if m.contains("it contains the user name")
    ));
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::create(carol(), Secret::new(NEW)),
    )
    .unwrap();
    let made = carry_out(&mut f, p, false).unwrap();
    assert_eq!(
        (made.name.as_str(), made.state),
        ("carol", UserState::Active)
    );
    // A commit without the hash is refused, and changes nothing.
    let p = plan(
        &mut f,
        &Actor::Root,
        PasswordRequest::by_admin("carol", Secret::new(NEW)),
    )
    .unwrap();
    assert!(matches!(
        f.roster.commit_password_change(&Actor::Root, p, false, None),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_remote_host_named_by_anyone_but_root_counts_as_local() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    // A screen locker checking its own user, saying it is remote.
    let plan = f
        .roster
        .begin_login(&bob, "bob", Some("203.0.113.77"))
        .unwrap();
    assert!(plan.counted_as_local());
    f.roster
        .finish_login(plan, &Secret::new(""), false)
        .unwrap();
    assert_eq!(local_failures(&mut f, "bob"), 1, "the local counter");
    // Root's remote host is the host's own counter (and the one over all
    // remote hosts), not the local one.
    let plan = f
        .roster
        .begin_login(&Actor::Root, "bob", Some("203.0.113.77"))
        .unwrap();
    assert!(!plan.counted_as_local());
    f.roster
        .finish_login(plan, &Secret::new(""), false)
        .unwrap();
    assert_eq!(local_failures(&mut f, "bob"), 1);
    // No remote host: local for everyone, nothing to say.
    let plan = f.roster.begin_login(&bob, "bob", None).unwrap();
    assert!(!plan.counted_as_local());
}

#[test]
fn an_own_change_never_undoes_a_reset_made_while_it_was_hashed() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    // bob's own change is planned (its current password verified against
    // the hash read now)…
    let p = plan(&mut f, &bob, own("bob", "correct horse", Channel::Api)).unwrap();
    // …an admin resets the password meanwhile…
    f.roster.reset_password(&Actor::Root, "bob").unwrap();
    // …and the commit, with the old password verified, changes nothing.
    assert!(matches!(carry_out(&mut f, p, true), Err(Error::Conflict(m)) if m.contains("changed while")));
    let bob = f.roster.user_by_name("bob").unwrap().unwrap();
    assert_eq!(bob.state, crate::model::UserState::Pending, "the reset stands");
}
}
