//! Secrets (DESIGN.md "Secrets"): access, tracking, revisions, pruning,
//! limits, rotation and expiry with a clock the test moves, the key file.

use super::fixture::{Fixture, T0, fixture};
use crate::authz::Actor;
use crate::error::Error;
use crate::model::Scope;
use crate::secrets::crypto::{Keyring, SecretKey};
use crate::secrets::{
    Expiry, NewSecret, Reveal, Rotation, SecretChanges, SecretContent, SecretFilter, SecretKeys,
    SecretRole,
};
use crate::{Level, Roster};
use zeroize::Zeroizing;

fn ring(f: &Fixture) -> Keyring {
    Keyring::new(
        vec![SecretKey::generate().unwrap()],
        &f.dir.path().join("secrets.key"),
    )
    .unwrap()
}

fn content(pairs: &[(&str, &str)]) -> SecretContent {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect()
}

fn new_secret(name: &str, pairs: &[(&str, &str)]) -> NewSecret {
    NewSecret {
        name: name.into(),
        environment: None,
        description: String::new(),
        content: content(pairs),
        rotation: Rotation::Never,
        expire: None,
    }
}

fn update(pairs: &[(&str, &str)]) -> SecretChanges {
    SecretChanges {
        content: Some(content(pairs)),
        ..SecretChanges::default()
    }
}

/// (revision, value of `key`) as `actor` reads it.
fn read(
    r: &mut Roster,
    actor: &Actor,
    ring: &Keyring,
    address: &str,
    how: Reveal,
) -> crate::Result<(u32, String)> {
    let revealed = r.reveal_secret(actor, ring, address, how)?;
    let value = revealed
        .content
        .values()
        .next()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    Ok((revealed.revision, value))
}

fn is_not_found<T: std::fmt::Debug>(result: crate::Result<T>) -> bool {
    matches!(result, Err(Error::NotFound(_)))
}

fn token(f: &mut Fixture, name: &str, scope: Scope) -> Actor {
    let Actor::User(user) = f.actor(name) else {
        panic!("{name} is no user")
    };
    Actor::Token {
        user,
        scope,
        token_id: "t1".into(),
    }
}

rule_tests! {

#[test]
fn a_reader_tracks_the_revision_it_first_read_until_it_refreshes() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    f.create("bob");
    let (alice, bob) = (f.actor("alice"), f.actor("bob"));
    let added = f
        .roster
        .add_secret(&alice, &ring, new_secret("db", &[("password", "one")]))
        .unwrap();
    assert!(crate::secrets::is_secret_id(&added.id), "{}", added.id);
    assert_eq!(added.latest, 1);
    f.roster
        .grant_secret(&alice, "db", "bob", SecretRole::View)
        .unwrap();
    let r = &mut f.roster;
    assert_eq!(read(r, &bob, &ring, "alice/db", Reveal::Tracked).unwrap(), (1, "one".into()));
    let changed = r
        .update_secret(&alice, &ring, "db", update(&[("password", "two")]))
        .unwrap();
    assert_eq!(changed.new_revision, Some(2));
    // Pinned: later reads answer revision 1.
    assert_eq!(read(r, &bob, &ring, "alice/db", Reveal::Tracked).unwrap(), (1, "one".into()));
    // A peek reads the latest without moving.
    assert_eq!(read(r, &bob, &ring, &added.id, Reveal::Peek).unwrap(), (2, "two".into()));
    assert_eq!(read(r, &bob, &ring, "alice/db", Reveal::Tracked).unwrap().0, 1);
    assert_eq!(r.show_secret(&bob, "alice/db").unwrap().tracking, Some(1));
    // A refresh moves.
    assert_eq!(read(r, &bob, &ring, "alice/db", Reveal::Refresh).unwrap(), (2, "two".into()));
    assert_eq!(read(r, &bob, &ring, "alice/db", Reveal::Tracked).unwrap().0, 2);
    // The owner reads the latest and sees the revisions and the grant.
    let shown = r.show_secret(&alice, "db").unwrap();
    assert!(shown.manages);
    assert_eq!(shown.revisions.iter().map(|v| v.revision).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(shown.grants, [("bob".to_string(), SecretRole::View)]);
    // A viewer sees no revision list and no grants.
    let seen = r.show_secret(&bob, "alice/db").unwrap();
    assert!(!seen.manages && seen.revisions.is_empty() && seen.grants.is_empty());
    // A manager reads any revision.
    assert_eq!(read(r, &alice, &ring, "db", Reveal::Revision(1)).unwrap(), (1, "one".into()));
    assert!(matches!(
        read(r, &bob, &ring, "alice/db", Reveal::Revision(1)),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn identical_content_makes_no_revision() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    let alice = f.actor("alice");
    let r = &mut f.roster;
    r.add_secret(&alice, &ring, new_secret("db", &[("password", "one"), ("username", "u")]))
        .unwrap();
    let same = r
        .update_secret(&alice, &ring, "db", update(&[("username", "u"), ("password", "one")]))
        .unwrap();
    assert_eq!((same.new_revision, same.info.latest), (None, 1));
    let other = r
        .update_secret(&alice, &ring, "db", update(&[("password", "one")]))
        .unwrap();
    assert_eq!(other.new_revision, Some(2));
    // Description only: no revision either.
    let described = r
        .update_secret(
            &alice,
            &ring,
            "db",
            SecretChanges {
                description: Some("the database".into()),
                ..SecretChanges::default()
            },
        )
        .unwrap();
    assert_eq!((described.new_revision, described.info.latest), (None, 2));
    assert_eq!(described.info.description, "the database");
}

#[test]
fn who_may_see_and_manage_a_secret() {
    let mut f = fixture();
    let ring = ring(&f);
    for name in ["alice", "bob", "carol", "dave", "erin", "fred", "gina", "hank"] {
        f.create(name);
    }
    f.create_admin("root_like");
    f.roster.add_environment(&Actor::Root, "prod").unwrap();
    f.grant("dave", "prod", Level::Write);
    f.grant("erin", "prod", Level::Read);
    f.grant("fred", "prod", Level::Status);
    f.grant("gina", "prod", Level::Admin);
    let alice = f.actor("alice");
    f.roster
        .add_secret(&alice, &ring, new_secret("db", &[("password", "one")]))
        .unwrap();
    f.roster
        .grant_secret(&alice, "db", "bob", SecretRole::View)
        .unwrap();
    let gina = f.actor("gina");
    let env_secret = NewSecret {
        environment: Some("prod".into()),
        ..new_secret("deploy-key", &[("key-data", "k")])
    };
    f.roster.add_secret(&gina, &ring, env_secret).unwrap();
    // Only an admin of prod (or a role admin, or root) adds prod's secrets.
    let dave = f.actor("dave");
    let denied = f.roster.add_secret(
        &dave,
        &ring,
        NewSecret {
            environment: Some("prod".into()),
            ..new_secret("other", &[("key-data", "k")])
        },
    );
    assert!(matches!(denied, Err(Error::PermissionDenied(_))), "{denied:?}");

    let [bob, carol, erin, fred, hank, admin] =
        ["bob", "carol", "erin", "fred", "hank", "root_like"].map(|n| f.actor(n));
    let r = &mut f.roster;
    // A stranger: not-found for everything, never permission-denied.
    assert!(is_not_found(r.show_secret(&carol, "alice/db")));
    assert!(is_not_found(read(r, &carol, &ring, "alice/db", Reveal::Tracked)));
    assert!(is_not_found(r.update_secret(&carol, &ring, "alice/db", update(&[("password", "x")]))));
    assert!(is_not_found(r.grant_secret(&carol, "alice/db", "carol", SecretRole::Manage)));
    assert!(is_not_found(r.remove_secret(&carol, "alice/db", None)));
    assert!(is_not_found(r.show_secret(&carol, "alice/nothing")));
    // The same answer for a secret that exists and one that doesn't.
    let message = |res: crate::Result<crate::secrets::SecretInfo>| match res {
        Err(Error::NotFound(m)) => m.replace("alice/db", "X").replace("alice/none", "X"),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(r.show_secret(&carol, "alice/db")),
        message(r.show_secret(&carol, "alice/none"))
    );
    // A viewer reads but may not manage.
    assert!(r.show_secret(&bob, "alice/db").is_ok());
    assert!(matches!(
        r.update_secret(&bob, &ring, "alice/db", update(&[("password", "x")])),
        Err(Error::PermissionDenied(_))
    ));
    // Environment secrets: write holders view, read and status holders
    // don't learn it exists, admin holders and role admins manage.
    assert!(read(r, &dave, &ring, "prod/deploy-key", Reveal::Tracked).is_ok());
    assert!(matches!(
        r.grant_secret(&dave, "prod/deploy-key", "hank", SecretRole::View),
        Err(Error::PermissionDenied(_))
    ));
    assert!(is_not_found(r.show_secret(&erin, "prod/deploy-key")));
    assert!(is_not_found(r.show_secret(&fred, "prod/deploy-key")));
    assert!(is_not_found(r.show_secret(&hank, "prod/deploy-key")));
    assert!(r.update_secret(&gina, &ring, "prod/deploy-key", update(&[("key-data", "2")])).is_ok());
    assert!(r.update_secret(&admin, &ring, "prod/deploy-key", update(&[("key-data", "3")])).is_ok());
    assert!(r.show_secret(&Actor::Root, "prod/deploy-key").unwrap().manages);
    // Lists show only what each may see.
    let names = |r: &mut Roster, a: &Actor| {
        r.list_secrets(a, &SecretFilter::All)
            .unwrap()
            .into_iter()
            .map(|s| format!("{}/{}", s.owner.name(), s.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(r, &carol), Vec::<String>::new());
    assert_eq!(names(r, &erin), Vec::<String>::new());
    assert_eq!(names(r, &bob), ["alice/db"]);
    assert_eq!(names(r, &dave), ["prod/deploy-key"]);
    assert_eq!(names(r, &Actor::Root), ["alice/db", "prod/deploy-key"]);
    // A revoke takes effect at once.
    r.revoke_secret(&alice, "db", "bob").unwrap();
    assert!(is_not_found(r.show_secret(&bob, "alice/db")));
    assert!(is_not_found(read(r, &bob, &ring, "alice/db", Reveal::Tracked)));
}

#[test]
fn a_read_only_token_reads_and_pins_but_changes_nothing() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    f.create("bob");
    let alice = f.actor("alice");
    f.roster
        .add_secret(&alice, &ring, new_secret("db", &[("password", "one")]))
        .unwrap();
    f.roster
        .grant_secret(&alice, "db", "bob", SecretRole::Manage)
        .unwrap();
    let bob_ro = token(&mut f, "bob", Scope::ReadOnly);
    let alice_ro = token(&mut f, "alice", Scope::ReadOnly);
    let alice_full = token(&mut f, "alice", Scope::Full);
    let r = &mut f.roster;
    assert_eq!(read(r, &bob_ro, &ring, "alice/db", Reveal::Tracked).unwrap().0, 1);
    assert_eq!(r.show_secret(&bob_ro, "alice/db").unwrap().tracking, Some(1));
    assert!(matches!(
        r.update_secret(&alice_ro, &ring, "db", update(&[("password", "x")])),
        Err(Error::PermissionDenied(m)) if m.contains("read-only")
    ));
    assert!(matches!(
        r.add_secret(&alice_ro, &ring, new_secret("other", &[("password", "x")])),
        Err(Error::PermissionDenied(_))
    ));
    assert!(r.update_secret(&alice_full, &ring, "db", update(&[("password", "x")])).is_ok());
}

#[test]
fn obsolete_revisions_beyond_the_newest_three_are_pruned() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    f.create("bob");
    let (alice, bob) = (f.actor("alice"), f.actor("bob"));
    let r = &mut f.roster;
    r.add_secret(&alice, &ring, new_secret("db", &[("password", "v1")]))
        .unwrap();
    r.grant_secret(&alice, "db", "bob", SecretRole::View).unwrap();
    read(r, &bob, &ring, "alice/db", Reveal::Tracked).unwrap();
    let mut pruned = Vec::new();
    for n in 2..=7 {
        let changed = r
            .update_secret(&alice, &ring, "db", update(&[("password", &format!("v{n}"))]))
            .unwrap();
        pruned.extend(changed.pruned);
    }
    // 1 is tracked, 7 is the latest; of 2–6 the newest three stay.
    assert_eq!(pruned, [2, 3]);
    let revisions = |r: &mut Roster| {
        r.show_secret(&alice, "db")
            .unwrap()
            .revisions
            .iter()
            .map(|v| v.revision)
            .collect::<Vec<_>>()
    };
    assert_eq!(revisions(r), [1, 4, 5, 6, 7]);
    // The reader moves on: 1 becomes obsolete and goes.
    let refreshed = r.reveal_secret(&bob, &ring, "alice/db", Reveal::Refresh).unwrap();
    assert_eq!(refreshed.pruned, [1]);
    assert_eq!(revisions(r), [4, 5, 6, 7]);
    // The latest and a tracked revision can't be removed; another can.
    assert!(matches!(r.remove_secret(&alice, "db", Some(7)), Err(Error::Conflict(_))));
    r.remove_secret(&alice, "db", Some(5)).unwrap();
    assert_eq!(revisions(r), [4, 6, 7]);
    assert!(is_not_found(r.remove_secret(&alice, "db", Some(5))));
    r.remove_secret(&alice, "db", None).unwrap();
    assert!(is_not_found(r.show_secret(&alice, "db")));
}

#[test]
fn bad_content_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    let alice = f.actor("alice");
    let r = &mut f.roster;
    let big = "x".repeat(crate::secrets::MAX_REVISION_BYTES + 1);
    let too_big = r.add_secret(&alice, &ring, new_secret("db", &[("password", &big)]));
    assert!(matches!(too_big, Err(Error::InvalidArgument(m)) if m.contains("1 MiB")));
    let exact = "x".repeat(crate::secrets::MAX_REVISION_BYTES);
    r.add_secret(&alice, &ring, new_secret("big", &[("password", &exact)]))
        .unwrap();
    for key in ["ab", "Password", "1abc", "pass_word", "pass word", "pa\0ss", ""] {
        let bad = r.add_secret(&alice, &ring, new_secret("db", &[(key, "v")]));
        assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{key:?}: {bad:?}");
    }
    for name in ["", "Db", "d b", "d\0b", "db/x", &"d".repeat(65)] {
        let bad = r.add_secret(&alice, &ring, new_secret(name, &[("password", "v")]));
        assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{name:?}: {bad:?}");
    }
    let many: SecretContent = (0..10_000)
        .map(|n| (format!("key{n}"), Zeroizing::new(b"v".to_vec())))
        .collect();
    let too_many = r.add_secret(
        &alice,
        &ring,
        NewSecret {
            content: many,
            ..new_secret("db", &[])
        },
    );
    assert!(matches!(too_many, Err(Error::InvalidArgument(m)) if m.contains("keys")));
    let empty = r.add_secret(&alice, &ring, new_secret("db", &[]));
    assert!(matches!(empty, Err(Error::InvalidArgument(_))));
    // Values are bytes: NUL and non-UTF-8 are kept as they are.
    r.add_secret(&alice, &ring, new_secret("db", &[("password", "a\0b")]))
        .unwrap();
    assert_eq!(read(r, &alice, &ring, "db", Reveal::Tracked).unwrap().1, "a\0b");
    // Nothing else was stored; a name is unique per owner.
    let listed = r.list_secrets(&alice, &SecretFilter::All).unwrap();
    assert_eq!(listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["big", "db"]);
    assert!(matches!(
        r.add_secret(&alice, &ring, new_secret("db", &[("password", "v")])),
        Err(Error::AlreadyExists(_))
    ));
    let update_too_big = r.update_secret(&alice, &ring, "db", update(&[("password", &big)]));
    assert!(matches!(update_too_big, Err(Error::InvalidArgument(_))));
    assert_eq!(r.show_secret(&alice, "db").unwrap().latest, 1);
}

#[test]
fn rotation_comes_due_and_a_new_revision_moves_it() {
    let mut f = fixture();
    let ring = ring(&f);
    f.create("alice");
    let alice = f.actor("alice");
    f.roster
        .add_secret(
            &alice,
            &ring,
            NewSecret {
                rotation: Rotation::Daily,
                expire: Some(Expiry::parse("2h").unwrap()),
                ..new_secret("db", &[("password", "one")])
            },
        )
        .unwrap();
    let (rotate, expired) = f.roster.secrets_due(T0, T0).unwrap();
    assert!(rotate.is_empty() && expired.is_empty());
    f.clock.advance(2 * 3600);
    let (rotate, expired) = f.roster.secrets_due(T0, T0 + 2 * 3600).unwrap();
    assert!(rotate.is_empty());
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].revision, expired[0].at), (1, T0 + 2 * 3600));
    f.clock.advance(86_400);
    let now = T0 + 2 * 3600 + 86_400;
    let (rotate, expired) = f.roster.secrets_due(T0 + 2 * 3600, now).unwrap();
    assert_eq!(rotate.len(), 1);
    assert!(expired.is_empty());
    f.roster
        .update_secret(&alice, &ring, "db", update(&[("password", "two")]))
        .unwrap();
    assert!(f.roster.secrets_due(now, now).unwrap().0.is_empty());
    let info = f.roster.show_secret(&alice, "db").unwrap();
    assert_eq!(info.next_rotation, Some(now + 86_400));
    assert!(Expiry::parse("2027-01-31T12:00:00Z").is_ok());
    assert!(matches!(Expiry::parse("soon"), Err(Error::InvalidArgument(_))));
    assert!(matches!(Rotation::from_arg("often"), Err(Error::InvalidArgument(_))));
    let past = f.roster.update_secret(
        &alice,
        &ring,
        "db",
        SecretChanges {
            expire: Some(Expiry::At(T0)),
            ..SecretChanges::default()
        },
    );
    assert!(matches!(past, Err(Error::InvalidArgument(_))));
}

#[test]
fn the_key_file_is_made_once_and_a_missing_or_wrong_one_refuses_secrets() {
    let mut f = fixture();
    f.create("alice");
    let alice = f.actor("alice");
    let mut keys = SecretKeys::load(&mut f.roster);
    let path = keys.path().to_path_buf();
    assert!(!path.exists(), "nothing is created at load");
    assert!(keys.ring().is_err());
    let ring_id = {
        let ring = keys.ring_for_add(&mut f.roster).unwrap();
        f.roster
            .add_secret(&alice, ring, new_secret("db", &[("password", "one")]))
            .unwrap();
        ring.current().id().to_string()
    };
    assert!(path.exists());
    // Loaded again: the same key, ready.
    let keys_again = SecretKeys::load(&mut f.roster);
    assert_eq!(keys_again.ring().unwrap().current().id(), ring_id);
    // Rekey: every value still reads, under a new key.
    let old_file = std::fs::read(&path).unwrap();
    let (new_id, count) = keys.rekey(&mut f.roster, &Actor::Root).unwrap();
    assert_ne!(new_id, ring_id);
    assert_eq!(count, 1);
    let ring = keys.ring().unwrap();
    let (rev, value) = read(&mut f.roster, &alice, ring, "db", Reveal::Tracked).unwrap();
    assert_eq!((rev, value.as_str()), (1, "one"));
    assert!(matches!(
        keys.rekey(&mut f.roster, &alice),
        Err(Error::PermissionDenied(_))
    ));
    // The old key file: refused, naming the file.
    std::fs::write(&path, &old_file).unwrap();
    let wrong = SecretKeys::load(&mut f.roster);
    let message = wrong.ring().unwrap_err();
    assert!(message.contains(&path.display().to_string()), "{message}");
    // Missing: refused, and nothing is created.
    std::fs::remove_file(&path).unwrap();
    let mut missing = SecretKeys::load(&mut f.roster);
    assert!(missing.ring().unwrap_err().contains("missing"));
    assert!(missing.ring_for_add(&mut f.roster).is_err());
    assert!(!path.exists());
    // Everything else keeps working.
    f.create("bob");
}

}
