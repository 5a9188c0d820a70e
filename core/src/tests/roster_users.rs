use super::fixture::*;
use crate::roster::{InitialCredential, PasswordChange};
use crate::*;

fn conflict<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(Error::Conflict(m)) => m,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn new(name: &str) -> NewUser {
    NewUser {
        name: name.into(),
        ..NewUser::default()
    }
}

rule_tests! {
#[test]
fn create_uses_the_configured_defaults() {
    let mut f = fixture();
    let bob = f.create("bob");
    assert_eq!(bob.uid, f.roster.config().uid_min);
    assert_eq!(bob.gid(), bob.uid);
    assert_eq!(
        (bob.home.as_str(), bob.shell.as_str()),
        ("/home/bob", "/bin/bash")
    );
    assert_eq!((bob.role, bob.state), (Role::User, UserState::Active));
    assert_eq!((bob.created, bob.password_changed), (T0, Some(T0)));
    assert_eq!(bob.last_login, None);
    assert!(bob.grants.is_empty());
    assert_eq!(f.roster.show_user(&Actor::Root, "bob").unwrap(), bob);
}

#[test]
fn create_takes_what_it_is_given() {
    let mut f = fixture();
    let (u, code) = f
        .roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: "sue".into(),
                display_name: Some("Sue Q.".into()),
                role: Some(Role::Admin),
                home: Some("/srv/sue".into()),
                shell: Some("/bin/zsh".into()),
            },
            InitialCredential::PasswordHash(phc()),
        )
        .unwrap();
    assert!(code.is_none());
    assert_eq!(
        (
            u.display_name.as_str(),
            u.role,
            u.home.as_str(),
            u.shell.as_str()
        ),
        ("Sue Q.", Role::Admin, "/srv/sue", "/bin/zsh")
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut f = fixture();
    for (user, hash) in [
        (new("Bob"), phc()),
        (new("root"), phc()),
        (new("roster-admins"), phc()),
        (new("daemon"), phc()),
        (new("staff"), phc()),
        (new(&"b".repeat(1 << 20)), phc()),
        (new("nul\0"), phc()),
        (
            NewUser {
                display_name: Some("a:b".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                home: Some("relative".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                shell: Some("/bin/sh\n".into()),
                ..new("bob")
            },
            phc(),
        ),
        // Issue 14's finds: a name that reads as another, a shell that
        // reads as a command, the whole file system as a home.
        (
            NewUser {
                display_name: Some("Bob\u{202E}nimda".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                display_name: Some("ad\u{200B}min".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                shell: Some("/bin/sh -c 'id'".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                home: Some("/".into()),
                ..new("bob")
            },
            phc(),
        ),
        (
            NewUser {
                home: Some("/home//bob".into()),
                ..new("bob")
            },
            phc(),
        ),
        (new("bob"), "not a hash".into()),
    ] {
        let r = f
            .roster
            .create_user(&Actor::Root, user, InitialCredential::PasswordHash(hash));
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    }
    assert!(f.roster.list_users(&Actor::Root, true).unwrap().is_empty());
}

#[test]
fn a_bad_profile_edit_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let before = f.create("bob");
    for changes in [
        UserChanges {
            display_name: Some("Bob\u{2066}x\u{2069}".into()),
            ..UserChanges::default()
        },
        UserChanges {
            shell: Some("/bin/sh -c 'id'".into()),
            ..UserChanges::default()
        },
        UserChanges {
            home: Some("/".into()),
            ..UserChanges::default()
        },
        UserChanges {
            home: Some("/home/bob/../alice".into()),
            ..UserChanges::default()
        },
    ] {
        let r = f.roster.edit_user(&Actor::Root, "bob", changes);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    }
    assert_eq!(f.roster.show_user(&Actor::Root, "bob").unwrap(), before);
}

#[test]
fn a_home_base_spelled_loosely_still_gives_a_normalised_home() {
    let mut f = fixture_with(|c| c.home_base = "/srv//homes/".into());
    assert_eq!(f.create("bob").home, "/srv/homes/bob");
}

#[test]
fn duplicates_are_refused() {
    let mut f = fixture();
    f.create("bob");
    let r = f.roster.create_user(
        &Actor::Root,
        new("bob"),
        InitialCredential::PasswordHash(phc()),
    );
    assert!(matches!(r, Err(Error::AlreadyExists(m)) if m == "user \"bob\" exists already"));
}

#[test]
fn only_root_and_admins_create() {
    let mut f = fixture();
    f.create("pat");
    f.create_admin("ann");
    let pat = f.actor("pat");
    let r = f
        .roster
        .create_user(&pat, new("eve"), InitialCredential::PasswordHash(phc()));
    assert!(matches!(r, Err(Error::PermissionDenied(m)) if m.contains("run with sudo")));
    let ann = f.actor("ann");
    f.roster
        .create_user(&ann, new("eve"), InitialCredential::PasswordHash(phc()))
        .unwrap();
}

#[test]
fn uids_are_never_reused_and_skip_local_ids() {
    let mut f = fixture_with(|c| {
        let min = c.uid_min;
        // A local account squats on the second uid (as a gid).
        std::fs::write(&c.group_file, format!("{GROUP}squat:x:{}:\n", min + 1)).unwrap();
    });
    let min = f.roster.config().uid_min;
    assert_eq!(f.create("a1").uid, min);
    assert_eq!(f.create("a2").uid, min + 2, "skips the local gid");
    assert_eq!(f.create("a3").uid, min + 3);
    f.roster.delete_user(&Actor::Root, "a3").unwrap();
    f.roster.delete_user(&Actor::Root, "a1").unwrap();
    assert_eq!(f.create("a4").uid, min + 4, "deleted uids stay retired");
    let again = f.create("a1");
    assert_eq!(again.uid, min + 5, "a name comes back with a new uid");
}

#[test]
fn a_full_range_is_a_conflict() {
    let mut f = fixture_with(|c| c.uid_max = c.uid_min + 1);
    f.create("a1");
    f.create("a2");
    let r = f.roster.create_user(
        &Actor::Root,
        new("a3"),
        InitialCredential::PasswordHash(phc()),
    );
    assert!(conflict(r).contains("no free uid"));
}

#[test]
fn edit_changes_the_profile() {
    let mut f = fixture();
    f.create("bob");
    let u = f
        .roster
        .edit_user(
            &Actor::Root,
            "bob",
            UserChanges {
                display_name: Some("Robert".into()),
                shell: Some("/bin/fish".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.display_name.as_str(), u.shell.as_str(), u.home.as_str()),
        ("Robert", "/bin/fish", "/home/bob")
    );
    assert_eq!(f.roster.show_user(&Actor::Root, "bob").unwrap(), u);
    let r = f.roster.edit_user(
        &Actor::Root,
        "bob",
        UserChanges {
            home: Some("/x:y".into()),
            display_name: Some("Bobby".into()),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .display_name,
        "Robert"
    );
    assert!(matches!(
        f.roster.edit_user(&Actor::Root, "nobody", UserChanges::default()),
        Err(Error::NotFound(m)) if m == "user \"nobody\" not found"
    ));
}

#[test]
fn roles_and_the_last_admin() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create("bob");
    let demote = UserChanges {
        role: Some(Role::User),
        ..Default::default()
    };
    let promote = UserChanges {
        role: Some(Role::Admin),
        ..Default::default()
    };
    // Root can't demote the last admin either: someone must stay.
    assert!(
        conflict(f.roster.edit_user(&Actor::Root, "ann", demote.clone())).contains("last active")
    );
    let ann = f.actor("ann");
    assert!(conflict(f.roster.edit_user(&ann, "ann", demote.clone())).contains("yourself"));
    f.roster.edit_user(&ann, "bob", promote.clone()).unwrap();
    // Setting one's own role to what it is changes nothing: allowed.
    f.roster.edit_user(&ann, "ann", promote).unwrap();
    let bob = f.actor("bob");
    f.roster.edit_user(&bob, "ann", demote).unwrap();
    assert_eq!(
        f.roster.show_user(&Actor::Root, "ann").unwrap().role,
        Role::User
    );
}

#[test]
fn delete() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create_admin("abe");
    f.create("bob");
    f.grant("bob", "default", Level::Write);
    let ann = f.actor("ann");
    assert!(conflict(f.roster.delete_user(&ann, "ann")).contains("can't delete yourself"));
    let gone = f.roster.delete_user(&ann, "bob").unwrap();
    assert_eq!(
        gone.grants.get("default"),
        Some(&Level::Write),
        "answers the user as it was"
    );
    assert!(matches!(
        f.roster.show_user(&Actor::Root, "bob"),
        Err(Error::NotFound(_))
    ));
    f.roster.delete_user(&ann, "abe").unwrap();
    assert!(conflict(f.roster.delete_user(&Actor::Root, "ann")).contains("last active"));
    assert!(matches!(
        f.roster.delete_user(&Actor::Root, "bob"),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn suspend_and_enable() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create("bob");
    let ann = f.actor("ann");
    assert!(conflict(f.roster.suspend_user(&ann, "ann")).contains("can't suspend yourself"));
    assert!(conflict(f.roster.suspend_user(&Actor::Root, "ann")).contains("last active"));
    assert_eq!(
        f.roster.suspend_user(&ann, "bob").unwrap().state,
        UserState::Suspended
    );
    assert_eq!(
        f.roster.enable_user(&ann, "bob").unwrap().state,
        UserState::Active
    );
    // Enabling an active user changes nothing.
    assert_eq!(
        f.roster.enable_user(&ann, "bob").unwrap().state,
        UserState::Active
    );
    // A suspended admin doesn't count as an active one.
    f.create_admin("abe");
    f.roster.suspend_user(&Actor::Root, "abe").unwrap();
    assert!(conflict(f.roster.suspend_user(&Actor::Root, "ann")).contains("last active"));
    // A user who never set a password goes back to pending.
    let (_, _) = f
        .roster
        .create_user(&Actor::Root, new("pen"), InitialCredential::Register)
        .unwrap();
    f.roster.suspend_user(&Actor::Root, "pen").unwrap();
    assert_eq!(
        f.roster.enable_user(&Actor::Root, "pen").unwrap().state,
        UserState::Pending
    );
}

#[test]
fn list_shows_what_the_actor_may_see() {
    let mut f = fixture();
    for name in ["ann", "bob", "rod", "sue", "tom"] {
        if name == "ann" {
            f.create_admin(name);
        } else {
            f.create(name);
        }
    }
    f.roster.add_environment(&Actor::Root, "prod").unwrap();
    f.grant("rod", "prod", Level::Read);
    f.grant("tom", "prod", Level::Write);
    f.grant("bob", "default", Level::Admin);
    f.roster.suspend_user(&Actor::Root, "sue").unwrap();
    let names = |users: Vec<User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(
        names(f.roster.list_users(&Actor::Root, false).unwrap()),
        ["ann", "bob", "rod", "tom"]
    );
    assert_eq!(
        names(f.roster.list_users(&Actor::Root, true).unwrap()),
        ["ann", "bob", "rod", "sue", "tom"]
    );
    let rod = f.actor("rod");
    assert_eq!(
        names(f.roster.list_users(&rod, false).unwrap()),
        ["rod", "tom"]
    );
    let tom = f.actor("tom");
    assert_eq!(
        names(f.roster.list_users(&tom, true).unwrap()),
        ["rod", "tom"],
        "write ≥ read"
    );
    let bob = f.actor("bob");
    assert_eq!(names(f.roster.list_users(&bob, true).unwrap()), ["bob"]);
    let stranger = Actor::Stranger { uid: 4242 };
    assert!(f.roster.list_users(&stranger, true).unwrap().is_empty());
    assert!(matches!(
        f.roster.show_user(&bob, "rod"),
        Err(Error::PermissionDenied(_))
    ));
    assert_eq!(f.roster.show_user(&rod, "tom").unwrap().name, "tom");
}

#[test]
fn passwords() {
    let mut f = fixture();
    f.create("bob");
    f.create("pat");
    let bob = f.actor("bob");
    let hash = super::fixture::phc();
    f.clock.advance(10);
    let u = f
        .roster
        .set_password_hash(&bob, "bob", super::fixture::own_change(), hash.clone())
        .unwrap();
    assert_eq!(u.password_changed, Some(T0 + 10));
    assert_eq!(
        f.roster.current_hash(&bob, "bob").unwrap(),
        Some(hash.clone())
    );
    assert!(matches!(
        f.roster
            .set_password_hash(&bob, "pat", super::fixture::own_change(), hash.clone()),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster
            .set_password_hash(&bob, "bob", PasswordChange::ByAdmin, hash.clone()),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster.current_hash(&bob, "pat"),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster
            .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, "x".into()),
        Err(Error::InvalidArgument(_))
    ));
    f.roster
        .set_password_hash(&Actor::Root, "pat", PasswordChange::ByAdmin, hash)
        .unwrap();
}

#[test]
fn reset_makes_pending_with_a_new_code() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create("bob");
    let (u, code) = f.roster.reset_password(&Actor::Root, "bob").unwrap();
    assert_eq!(u.state, UserState::Pending);
    assert_eq!(u.password_changed, None);
    assert_eq!(code.expires, T0 + 72 * 3600);
    assert!(
        f.roster
            .current_hash(&Actor::Root, "bob")
            .unwrap()
            .is_none()
    );
    let ann = f.actor("ann");
    assert!(conflict(f.roster.reset_password(&ann, "ann")).contains("yourself"));
    assert!(conflict(f.roster.reset_password(&Actor::Root, "ann")).contains("last active"));
}

#[test]
fn user_by_uid_and_name() {
    let mut f = fixture();
    let bob = f.create("bob");
    assert_eq!(f.roster.user_by_uid(bob.uid).unwrap(), Some(bob.clone()));
    assert_eq!(f.roster.user_by_uid(0).unwrap(), None);
    assert_eq!(f.roster.user_by_name("bob").unwrap(), Some(bob));
}

#[test]
fn open_creates_default_and_the_hosts_environment() {
    let f = fixture_with(|c| c.environment = "lab".into());
    let mut f = f;
    let envs: Vec<String> = f
        .roster
        .list_environments(&Actor::Root)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(envs, ["default", "lab"]);
    // A fresh store is at its backend's newest schema (SQLite 1, PostgreSQL 2): opening made it.
    assert!(f.roster.schema_version().unwrap() >= 1);
}

#[test]
fn open_refuses_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.uid_min = 0;
    let clock = std::sync::Arc::new(FixedClock::at(T0));
    assert!(matches!(Roster::open(config, clock), Err(Error::Config(_))));
}

#[test]
fn users_list_in_the_byte_order_of_their_names() {
    let mut f = fixture();
    // A locale's collation would sort these by letters alone ("b-c",
    // "b_c" and "bc" together); every backend sorts bytes, as the NSS
    // snapshot and its binary search do.
    for name in ["bc", "b_c", "b-c", "b0"] {
        f.create(name);
    }
    let listed: Vec<String> = f
        .roster
        .list_users(&Actor::Root, true)
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .filter(|n| n.starts_with('b'))
        .collect();
    assert_eq!(listed, ["b-c", "b0", "b_c", "bc"]);
}
}
