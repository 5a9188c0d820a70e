use crate::authz::{ActingUser, Actor};
use crate::error::Error;
use crate::level::Level::{self, *};
use crate::model::{Role, User, UserState};
use crate::rules::*;
use std::collections::BTreeSet;

#[test]
fn grant_is_additive() {
    assert_eq!(after_grant(None, Read), Read);
    assert_eq!(
        after_grant(Some(Write), Read),
        Write,
        "at or below changes nothing"
    );
    assert_eq!(after_grant(Some(Write), Write), Write);
    assert_eq!(
        after_grant(Some(Read), Admin),
        Admin,
        "a higher one raises it"
    );
}

#[test]
fn revoke_leaves_the_level_just_below() {
    // DESIGN.md's own examples.
    assert_eq!(after_revoke(Some(Write), Some(Read)), Some(Status));
    assert_eq!(after_revoke(Some(Admin), Some(Admin)), Some(Write));
    assert_eq!(after_revoke(Some(Status), Some(Status)), None);
    // A holder of LEVEL or more is left just below LEVEL…
    assert_eq!(after_revoke(Some(Admin), Some(Read)), Some(Status));
    assert_eq!(after_revoke(Some(Admin), Some(Status)), None);
    // …a holder of less keeps it.
    assert_eq!(after_revoke(Some(Read), Some(Write)), Some(Read));
    assert_eq!(after_revoke(None, Some(Read)), None);
    // No level: everything goes.
    assert_eq!(after_revoke(Some(Admin), None), None);
    assert_eq!(after_revoke(None, None), None);
    // Exhaustively against the sentence "removes LEVEL and everything above".
    for held in Level::ALL {
        for level in Level::ALL {
            let after = after_revoke(Some(held), Some(level));
            assert!(after.is_none_or(|a| a < level && a <= held));
            if held < level {
                assert_eq!(after, Some(held));
            }
        }
    }
}

fn user(name: &str, role: Role, state: UserState) -> User {
    User {
        name: name.into(),
        display_name: String::new(),
        role,
        state,
        uid: 1,
        home: "/home/x".into(),
        shell: "/bin/sh".into(),
        created: 0,
        last_login: None,
        password_changed: None,
        locked_until: None,
        grants: Default::default(),
    }
}

#[test]
fn self_rules() {
    let bob = Actor::User(ActingUser {
        name: "bob".into(),
        uid: 1,
        role: Role::Admin,
        state: UserState::Active,
        grants: Default::default(),
    });
    assert!(
        matches!(not_self(&bob, "bob", "suspend"), Err(Error::Conflict(m)) if m.contains("can't suspend yourself"))
    );
    not_self(&bob, "ann", "suspend").unwrap();
    not_self(&Actor::Root, "bob", "suspend").unwrap();
}

#[test]
fn the_last_active_admin_stays() {
    let ann = user("ann", Role::Admin, UserState::Active);
    assert!(
        matches!(not_last_admin(&ann, 1, "delete"), Err(Error::Conflict(m)) if m.contains("last active"))
    );
    not_last_admin(&ann, 2, "delete").unwrap();
    not_last_admin(&user("bob", Role::User, UserState::Active), 1, "delete").unwrap();
    not_last_admin(&user("sue", Role::Admin, UserState::Suspended), 1, "delete").unwrap();
}

#[test]
fn uid_allocation() {
    let none = BTreeSet::new();
    assert_eq!(allocate_uid(100, 110, &[], &none).unwrap(), 100);
    assert_eq!(
        allocate_uid(100, 110, &[100, 101, 103], &none).unwrap(),
        102
    );
    let local: BTreeSet<u32> = [100, 102].into();
    assert_eq!(allocate_uid(100, 110, &[101], &local).unwrap(), 103);
    assert_eq!(allocate_uid(5, 5, &[], &none).unwrap(), 5);
    assert!(
        matches!(allocate_uid(5, 5, &[5], &none), Err(Error::Conflict(m)) if m.contains("no free uid"))
    );
    assert!(allocate_uid(u32::MAX - 1, u32::MAX, &[u32::MAX - 1, u32::MAX], &none).is_err());
}
