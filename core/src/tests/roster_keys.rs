use super::fixture::*;
use crate::*;

/// Made with `ssh-keygen -t ed25519`; fingerprints as `ssh-keygen -lf` printed them.
const K1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7ijdz4CHikv/b4bhY77ZLFwKuEt6De759fDJSMTY/9 bob@laptop";
const K1_FP: &str = "SHA256:eMghfLn9waHOMH4fS6Gi3QKY6TIdqfdJL0+k5cjriE0";
const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXtbZtsUU3Rg6LDCnL0LId6oQW31p5H0qK0BLC2qTmN";
const K2_FP: &str = "SHA256:2Ysxx4s9nc7vfXEVo+DTKyCeb9/83wC8QveYErdhsC0";

rule_tests! {
#[test]
fn add_list_remove() {
    let mut f = fixture();
    f.create("bob");
    f.create("pat");
    let bob = f.actor("bob");
    let k = f.roster.add_key(&bob, "bob", &format!("{K1}\n")).unwrap();
    assert_eq!(
        (
            k.key_type.as_str(),
            k.fingerprint.as_str(),
            k.comment.as_str(),
            k.bits,
            k.added
        ),
        ("ssh-ed25519", K1_FP, "bob@laptop", 256, T0)
    );
    assert_eq!(k.line, K1);
    assert!(matches!(
        f.roster.add_key(&bob, "bob", K1),
        Err(Error::AlreadyExists(_))
    ));
    f.roster.add_key(&Actor::Root, "bob", K2).unwrap();
    let listed = f.roster.list_keys(&bob, "bob").unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect::<Vec<_>>(),
        [K1_FP, K2_FP]
    );
    // Someone else's keys: root and admins only.
    let pat = f.actor("pat");
    assert!(matches!(
        f.roster.add_key(&pat, "bob", K1),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster.list_keys(&pat, "bob"),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster.remove_key(&pat, "bob", K1_FP),
        Err(Error::PermissionDenied(_))
    ));
    // Remove by fingerprint, `SHA256:` optional.
    let gone = f
        .roster
        .remove_key(&bob, "bob", K2_FP.trim_start_matches("SHA256:"))
        .unwrap();
    assert_eq!(gone.fingerprint, K2_FP);
    assert!(matches!(
        f.roster.remove_key(&bob, "bob", K2_FP),
        Err(Error::NotFound(_))
    ));
    assert_eq!(f.roster.list_keys(&Actor::Root, "bob").unwrap().len(), 1);
}

#[test]
fn bad_keys_are_refused_and_change_nothing() {
    let mut f = fixture();
    f.create("bob");
    for bad in [
        "",
        "garbage",
        &format!("command=\"/bin/sh\" {K1}"),
        &K1.replace("AAAAC3", "AAAAC4"),
        &format!("{K1}\n{K2}"),
        &"x".repeat(1 << 20),
    ] {
        assert!(
            matches!(
                f.roster.add_key(&Actor::Root, "bob", bad),
                Err(Error::InvalidArgument(_))
            ),
            "{:.40}",
            bad
        );
    }
    assert!(f.roster.list_keys(&Actor::Root, "bob").unwrap().is_empty());
    assert!(matches!(
        f.roster.add_key(&Actor::Root, "ghost", K1),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn authorized_keys_only_for_users_who_may_log_in_here() {
    let mut f = fixture();
    for name in ["wes", "rea", "sus", "ann"] {
        f.create(name);
        f.roster.add_key(&Actor::Root, name, K1).unwrap();
    }
    f.grant("wes", "default", Level::Write);
    f.grant("rea", "default", Level::Read);
    f.grant("sus", "default", Level::Admin);
    f.roster.suspend_user(&Actor::Root, "sus").unwrap();
    f.roster
        .edit_user(
            &Actor::Root,
            "ann",
            UserChanges {
                role: Some(Role::Admin),
                ..Default::default()
            },
        )
        .unwrap();
    let anyone = Actor::Stranger { uid: 65534 };
    let mut keys = |name: &str| f.roster.authorized_keys(&anyone, name).unwrap();
    assert_eq!(keys("wes"), [K1]);
    assert_eq!(keys("ann"), [K1], "role admins log in everywhere");
    assert!(keys("rea").is_empty(), "below login_level");
    assert!(keys("sus").is_empty(), "suspended");
    assert!(keys("ghost").is_empty());
    // Deleting the user takes its keys along.
    f.roster.delete_user(&Actor::Root, "wes").unwrap();
    assert!(f.roster.authorized_keys(&anyone, "wes").unwrap().is_empty());
}

#[test]
fn a_list_of_keys_is_added_whole_or_not_at_all() {
    let mut f = fixture();
    f.create("bob");
    let bob = f.actor("bob");
    // Blank lines, comments and a CR (a file from Windows) are skipped.
    let added = f
        .roster
        .add_keys(&bob, "bob", &["# laptop", K1, "", "  ", &format!("{K2}\r")])
        .unwrap();
    assert_eq!(
        added
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect::<Vec<_>>(),
        [K1_FP, K2_FP]
    );
    f.roster.remove_key(&bob, "bob", K1_FP).unwrap();
    f.roster.remove_key(&bob, "bob", K2_FP).unwrap();
    // Any bad line refuses the whole list, naming the line.
    let bad_b64 = "ssh-ed25519 !!!! me".to_owned();
    let options = format!("command=\"sh\" {K2}");
    for (lines, line) in [
        (vec![K1, bad_b64.as_str()], 2),
        (vec!["# c", K1, "", options.as_str()], 4),
        (vec![K1, K2, K1], 3),
    ] {
        match f.roster.add_keys(&bob, "bob", &lines) {
            Err(Error::InvalidArgument(m)) | Err(Error::AlreadyExists(m)) => {
                assert!(m.starts_with(&format!("line {line}: ")), "{m}")
            }
            other => panic!("{lines:?}: {other:?}"),
        }
        assert!(f.roster.list_keys(&bob, "bob").unwrap().is_empty());
    }
    // A key the user already has: nothing else from the list is added.
    f.roster.add_key(&bob, "bob", K2).unwrap();
    match f.roster.add_keys(&bob, "bob", &[K1, K2]) {
        Err(Error::AlreadyExists(m)) => assert!(m.starts_with("line 2: "), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.roster.list_keys(&bob, "bob").unwrap().len(), 1);
    // Nothing but comments: refused.
    assert!(matches!(
        f.roster.add_keys(&bob, "bob", &["# only", ""]),
        Err(Error::InvalidArgument(_))
    ));
    // Someone else's keys: refused before anything is parsed.
    f.create("pat");
    let pat = f.actor("pat");
    assert!(matches!(
        f.roster.add_keys(&pat, "bob", &[K1]),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn a_list_past_the_key_limit_is_refused_whole() {
    let mut f = fixture();
    f.create("bob");
    // 101 lines: refused before any is parsed.
    let many = vec![K1; 101];
    assert!(matches!(
        f.roster.add_keys(&Actor::Root, "bob", &many),
        Err(Error::Conflict(_))
    ));
    assert!(f.roster.list_keys(&Actor::Root, "bob").unwrap().is_empty());
}

#[test]
fn a_damaged_stored_key_can_be_removed_by_its_fingerprint() {
    let mut f = fixture();
    let bob = f.create("bob");
    f.roster.add_key(&Actor::Root, "bob", K1).unwrap();
    // A row no check would take (a blob cut short), as a hand edit or a
    // stricter later release would leave it.
    f.roster
        .store
        .write(|tx| {
            tx.insert_key(
                bob.uid,
                &crate::store::KeyRow {
                    key_type: "ssh-ed25519".into(),
                    blob: vec![0, 0, 0, 11],
                    comment: "cut".into(),
                    fingerprint: K2_FP.into(),
                    added: T0,
                },
            )
        })
        .unwrap();
    assert!(matches!(
        f.roster.list_keys(&Actor::Root, "bob"),
        Err(Error::Store(_))
    ));
    let removed = f.roster.remove_key(&Actor::Root, "bob", K2_FP).unwrap();
    assert_eq!(
        (removed.fingerprint.as_str(), removed.comment.as_str()),
        (K2_FP, "cut")
    );
    let left = f.roster.list_keys(&Actor::Root, "bob").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fingerprint, K1_FP);
}
}
