use super::fixture::*;
use crate::*;

rule_tests! {
#[test]
fn grant_is_additive_and_defaults_to_the_hosts_environment() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    f.create("bob");
    let root = Actor::Root;
    assert_eq!(
        f.roster.grant(&root, "bob", None, Level::Read).unwrap(),
        Level::Read
    );
    assert_eq!(
        f.roster.grant(&root, "bob", None, Level::Status).unwrap(),
        Level::Read
    );
    assert_eq!(
        f.roster.grant(&root, "bob", None, Level::Admin).unwrap(),
        Level::Admin
    );
    let bob = f.roster.show_user(&root, "bob").unwrap();
    assert_eq!(bob.grants, [("lab".to_string(), Level::Admin)].into());
}

#[test]
fn unknown_environments_say_how_to_add_them() {
    let mut f = fixture();
    f.create("bob");
    match f
        .roster
        .grant(&Actor::Root, "bob", Some("prdo"), Level::Read)
    {
        Err(Error::NotFound(m)) => {
            assert_eq!(
                m,
                "environment \"prdo\" not found: add it with `roster environments add prdo`"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.roster.revoke(&Actor::Root, "bob", Some("prdo"), None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        f.roster
            .grant(&Actor::Root, "bob", Some("Bad Env"), Level::Read),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster.grant(&Actor::Root, "nobody", None, Level::Read),
        Err(Error::NotFound(m)) if m.contains("nobody")
    ));
    assert!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .grants
            .is_empty()
    );
}

#[test]
fn revoke_follows_the_design() {
    let mut f = fixture();
    f.create("bob");
    f.roster.add_environment(&Actor::Root, "prod").unwrap();
    f.grant("bob", "prod", Level::Read);
    for (held, revoked, left) in [
        (Level::Write, Some(Level::Read), Some(Level::Status)),
        (Level::Admin, Some(Level::Admin), Some(Level::Write)),
        (Level::Status, Some(Level::Status), None),
        (Level::Read, Some(Level::Write), Some(Level::Read)),
        (Level::Admin, None, None),
    ] {
        f.roster
            .revoke(&Actor::Root, "bob", Some("default"), None)
            .unwrap();
        f.grant("bob", "default", held);
        let outcome = f
            .roster
            .revoke(&Actor::Root, "bob", Some("default"), revoked)
            .unwrap();
        assert_eq!(
            outcome,
            RevokeOutcome {
                before: Some(held),
                after: left
            }
        );
        assert_eq!(outcome.admin_removed(), held == Level::Admin);
        let bob = f.roster.show_user(&Actor::Root, "bob").unwrap();
        assert_eq!(bob.level_in("default"), left);
        assert_eq!(
            bob.level_in("prod"),
            Some(Level::Read),
            "other environments untouched"
        );
    }
}

#[test]
fn environment_admins_grant_only_in_their_environment() {
    let mut f = fixture();
    f.create("eve");
    f.create("bob");
    f.roster.add_environment(&Actor::Root, "prod").unwrap();
    f.grant("eve", "prod", Level::Admin);
    let eve = f.actor("eve");
    assert_eq!(
        f.roster
            .grant(&eve, "bob", Some("prod"), Level::Admin)
            .unwrap(),
        Level::Admin
    );
    assert_eq!(
        f.roster
            .revoke(&eve, "bob", Some("prod"), Some(Level::Write))
            .unwrap()
            .after,
        Some(Level::Read)
    );
    assert!(matches!(
        f.roster.grant(&eve, "bob", Some("default"), Level::Read),
        Err(Error::PermissionDenied(_))
    ));
    // Nobody changes their own grants, root aside.
    assert!(matches!(
        f.roster.revoke(&eve, "eve", Some("prod"), None),
        Err(Error::Conflict(m)) if m.contains("yourself")
    ));
    f.create_admin("ann");
    let ann = f.actor("ann");
    assert!(matches!(
        f.roster.grant(&ann, "ann", Some("prod"), Level::Admin),
        Err(Error::Conflict(_))
    ));
    f.roster
        .revoke(&Actor::Root, "eve", Some("prod"), None)
        .unwrap();
    let eve = f.actor("eve");
    assert!(matches!(
        f.roster.grant(&eve, "bob", Some("prod"), Level::Read),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn environments() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    let root = Actor::Root;
    f.create("bob");
    let env = f.roster.add_environment(&root, "prod").unwrap();
    assert_eq!(
        (env.name.as_str(), env.created, env.grants),
        ("prod", T0, 0)
    );
    assert!(matches!(
        f.roster.add_environment(&root, "prod"),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        f.roster.add_environment(&root, "Prod"),
        Err(Error::InvalidArgument(_))
    ));
    f.grant("bob", "prod", Level::Read);
    let counts: Vec<(String, u32)> = f
        .roster
        .list_environments(&root)
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.grants))
        .collect();
    assert_eq!(
        counts,
        [
            ("default".to_string(), 0),
            ("lab".into(), 0),
            ("prod".into(), 1)
        ]
    );
    match f.roster.remove_environment(&root, "prod", false) {
        Err(Error::Conflict(m)) => assert!(m.contains("1 grant") && m.contains("--force"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.roster.remove_environment(&root, "default", true),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        f.roster.remove_environment(&root, "lab", true),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        f.roster.remove_environment(&root, "nope", true),
        Err(Error::NotFound(_))
    ));
    assert_eq!(f.roster.remove_environment(&root, "prod", true).unwrap(), 1);
    assert!(f.roster.show_user(&root, "bob").unwrap().grants.is_empty());
    f.roster.add_environment(&root, "empty").unwrap();
    assert_eq!(
        f.roster.remove_environment(&root, "empty", false).unwrap(),
        0
    );
    let bob = f.actor("bob");
    assert!(matches!(
        f.roster.add_environment(&bob, "x"),
        Err(Error::PermissionDenied(_))
    ));
    assert_eq!(f.roster.list_environments(&bob).unwrap().len(), 2);
}

#[test]
fn nss_view_lists_everyone_and_the_admin_group() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    f.create_admin("ann");
    f.create("bob");
    f.create("cat");
    f.create("dan");
    f.create_admin("abe");
    f.roster.add_environment(&Actor::Root, "prod").unwrap();
    f.grant("bob", "lab", Level::Admin);
    f.grant("cat", "prod", Level::Admin);
    f.grant("dan", "lab", Level::Admin);
    f.roster.suspend_user(&Actor::Root, "dan").unwrap();
    f.roster.suspend_user(&Actor::Root, "abe").unwrap();
    f.roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: "pen".into(),
                ..Default::default()
            },
            roster::InitialCredential::Register,
        )
        .unwrap();
    let view = f.roster.nss_view().unwrap();
    let names: Vec<&str> = view.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["abe", "ann", "bob", "cat", "dan", "pen"],
        "every state resolves"
    );
    assert_eq!(view.admin_members, ["ann", "bob"]);
}

#[test]
fn not_found_messages_never_echo_a_huge_name() {
    let mut f = fixture();
    f.create("bob");
    let huge = "x".repeat(100 * 1024);
    let messages = [
        f.roster
            .show_user(&Actor::Root, &huge)
            .unwrap_err()
            .to_string(),
        f.roster
            .grant(&Actor::Root, "bob", Some(&huge), Level::Read)
            .unwrap_err()
            .to_string(),
        f.roster
            .remove_environment(&Actor::Root, &huge, false)
            .unwrap_err()
            .to_string(),
    ];
    for message in messages {
        assert!(
            message.len() < 300,
            "{} bytes: {}",
            message.len(),
            &message[..80]
        );
    }
}
}
