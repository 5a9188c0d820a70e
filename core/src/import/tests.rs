use super::*;
use crate::error::Error;
use crate::legacy_hash::HashKind;
use crate::secret::Secret;
use crate::tests::fixture::{fixture, phc};

const YESCRYPT: &str = "$y$j9T$lPqG5gXn0tFKsi58akc.p.$aXS93zivkaC/.FlQC8Ftt./KkwOgdtCOCAMv2zmt88A";
const MD5: &str = "$1$saltsalt$ChKD3Oxmp6askVIePEOkk0";

fn record(name: &str, hash: Option<&str>) -> ImportRecord {
    ImportRecord {
        name: name.into(),
        display_name: format!("{name} from the host"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        hash: hash.map(str::to_owned),
        locked: false,
        level: Level::Write,
        ssh_keys: Vec::new(),
    }
}

fn batch(records: Vec<ImportRecord>) -> ImportBatch {
    ImportBatch {
        records,
        leaving: Vec::new(),
        issue_codes: true,
    }
}

#[test]
fn each_kind_of_entry_lands_in_its_state_with_its_hash_and_level() {
    let mut f = fixture();
    let mut locked = record("carol", Some(MD5));
    locked.locked = true;
    let outcomes = f
        .roster
        .import_users(
            &Actor::Root,
            batch(vec![
                record("bob", Some(YESCRYPT)),
                locked,
                record("dave", None),
            ]),
        )
        .unwrap();
    let states: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            ImportOutcome::Imported { user, code, .. } => (user.state, code.is_some()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        [
            (UserState::Active, false),
            (UserState::Suspended, false),
            (UserState::Pending, true)
        ]
    );
    let bob = f.roster.user_by_name("bob").unwrap().unwrap();
    assert_eq!(bob.level_in("default"), Some(Level::Write));
    assert!(bob.uid >= f.roster.config().uid_min);
    assert_eq!(
        f.roster.password_kind(&Actor::Root, "bob").unwrap(),
        Some(HashKind::Legacy(LegacyKind::Yescrypt))
    );
    assert_eq!(
        f.roster.password_kind(&Actor::Root, "carol").unwrap(),
        Some(HashKind::Legacy(LegacyKind::Md5Crypt))
    );
    assert_eq!(f.roster.password_kind(&Actor::Root, "dave").unwrap(), None);
    // Only root imports.
    let bob_actor = f.actor("bob");
    assert!(matches!(
        f.roster
            .import_users(&bob_actor, batch(vec![record("eve", None)])),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn a_rerun_finds_the_same_accounts_and_refuses_strangers_of_the_same_name() {
    let mut f = fixture();
    f.roster
        .import_users(&Actor::Root, batch(vec![record("bob", Some(YESCRYPT))]))
        .unwrap();
    f.create("zed");
    let again = f
        .roster
        .import_users(
            &Actor::Root,
            batch(vec![
                record("bob", Some(YESCRYPT)),
                record("zed", Some(MD5)),
            ]),
        )
        .unwrap();
    assert!(matches!(again[0], ImportOutcome::AlreadyImported { .. }));
    assert!(
        matches!(&again[1], ImportOutcome::Refused { reason } if reason.contains("--rename zed=NEW")),
        "{again:?}"
    );
    assert_eq!(
        f.roster.user_by_name("bob").unwrap().unwrap().state,
        UserState::Active
    );
}

#[test]
fn local_names_count_unless_leaving_with_the_batch() {
    let mut f = fixture();
    // alice_local is in the fixture's passwd and group files.
    let refused = f
        .roster
        .import_users(&Actor::Root, batch(vec![record("alice_local", Some(MD5))]))
        .unwrap();
    assert!(matches!(&refused[0], ImportOutcome::Refused { reason } if reason.contains("local")));
    let mut leaving = batch(vec![record("alice_local", Some(MD5))]);
    leaving.leaving = vec!["alice_local".into()];
    let taken = f.roster.import_users(&Actor::Root, leaving).unwrap();
    assert!(
        matches!(taken[0], ImportOutcome::Imported { .. }),
        "{taken:?}"
    );
    // Reserved names, bad hashes and bad homes are refused with the fix.
    let bad = f
        .roster
        .import_users(
            &Actor::Root,
            batch(vec![
                record("admin", Some(MD5)),
                record("frank", Some("$7$unknown$scheme")),
                ImportRecord {
                    home: "relative".into(),
                    ..record("gina", None)
                },
            ]),
        )
        .unwrap();
    assert!(
        matches!(&bad[0], ImportOutcome::Refused { reason } if reason.contains("--rename admin=NEW"))
    );
    assert!(matches!(&bad[1], ImportOutcome::Refused { reason } if reason.contains("yescrypt")));
    assert!(matches!(&bad[2], ImportOutcome::Refused { .. }));
    assert!(f.roster.user_by_name("frank").unwrap().is_none());
}

#[test]
fn a_successful_legacy_login_stores_the_argon2id_rehash_in_its_transaction() {
    let mut f = fixture();
    f.roster
        .import_users(&Actor::Root, batch(vec![record("bob", Some(YESCRYPT))]))
        .unwrap();
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(plan.legacy_kind(), Some(LegacyKind::Yescrypt));
    let secret = Secret::new("secret-pw");
    // A wrong password (verified = false) stores nothing.
    f.roster
        .finish_login_upgrading(plan, &secret, false, Some(phc()))
        .unwrap();
    assert_eq!(
        f.roster.password_kind(&Actor::Root, "bob").unwrap(),
        Some(HashKind::Legacy(LegacyKind::Yescrypt))
    );
    let changed_before = f
        .roster
        .user_by_name("bob")
        .unwrap()
        .unwrap()
        .password_changed;
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    let outcome = f
        .roster
        .finish_login_upgrading(plan, &secret, true, Some(phc()))
        .unwrap();
    assert_eq!(outcome, crate::flows::LoginOutcome::Success);
    assert_eq!(
        f.roster.password_kind(&Actor::Root, "bob").unwrap(),
        Some(HashKind::Argon2id)
    );
    let bob = f.roster.user_by_name("bob").unwrap().unwrap();
    assert_eq!(bob.password_changed, changed_before);
    // An argon2id user's plan has no legacy kind: an upgrade is ignored.
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(plan.legacy_kind(), None);
    assert_eq!(f.roster.legacy_hash_sample().unwrap(), None);
}

#[test]
fn undo_deletes_the_unchanged_and_names_the_changed() {
    let mut f = fixture();
    let outcomes = f
        .roster
        .import_users(
            &Actor::Root,
            batch(vec![
                record("bob", Some(YESCRYPT)),
                record("carol", Some(MD5)),
            ]),
        )
        .unwrap();
    assert!(f.roster.legacy_hash_sample().unwrap().is_some());
    let imported: Vec<ImportedUser> = outcomes
        .iter()
        .map(|o| match o {
            ImportOutcome::Imported {
                user, fingerprint, ..
            } => ImportedUser {
                name: user.name.clone(),
                uid: user.uid,
                fingerprint: fingerprint.clone(),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    f.roster
        .edit_user(
            &Actor::Root,
            "carol",
            crate::model::UserChanges {
                display_name: Some("Carol, edited".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let undone = f.roster.remove_imported(&Actor::Root, imported).unwrap();
    assert!(matches!(undone[0], (ref n, UndoOutcome::Deleted { .. }) if n == "bob"));
    assert!(matches!(undone[1], (ref n, UndoOutcome::Kept { .. }) if n == "carol"));
    assert!(f.roster.user_by_name("bob").unwrap().is_none());
    assert!(f.roster.user_by_name("carol").unwrap().is_some());
}

#[test]
fn a_suspended_users_right_password_upgrades_nothing() {
    let mut f = fixture();
    let mut locked = record("carol", Some(MD5));
    locked.locked = true;
    f.roster
        .import_users(&Actor::Root, batch(vec![locked]))
        .unwrap();
    let plan = f.roster.begin_login(&Actor::Root, "carol", None).unwrap();
    assert_eq!(plan.legacy_kind(), Some(LegacyKind::Md5Crypt));
    f.roster
        .finish_login_upgrading(plan, &Secret::new("secret-pw"), true, Some(phc()))
        .unwrap();
    assert_eq!(
        f.roster.password_kind(&Actor::Root, "carol").unwrap(),
        Some(HashKind::Legacy(LegacyKind::Md5Crypt))
    );
    // Not fleet mode here; a batch over the limit is refused whole.
    let many = (0..=MAX_BATCH)
        .map(|i| record(&format!("u{i}"), None))
        .collect();
    assert!(matches!(
        f.roster.import_users(&Actor::Root, batch(many)),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_fleet_hosts_cache_refuses_an_import_and_names_hosts_join_adopt() {
    use crate::clock::Clock;
    use roster_fleet_protocol::{EnvironmentView, SnapshotAnswer};
    // Standalone: the import is taken.
    let mut standalone = fixture();
    let taken = standalone
        .roster
        .import_users(&Actor::Root, batch(vec![record("bob", Some(YESCRYPT))]))
        .unwrap();
    assert!(
        matches!(taken[0], ImportOutcome::Imported { .. }),
        "{taken:?}"
    );
    // The same store once a controller's snapshot made it a fleet cache.
    let mut f = fixture();
    let now = f.clock.now();
    f.roster
        .apply_fleet_snapshot(
            &SnapshotAnswer {
                epoch: "epoch-1".into(),
                cursor: 1,
                environment: EnvironmentView {
                    name: "default".into(),
                    login_level: "write".into(),
                    offline_grace_secs: 3_600,
                    host_root_is_admin: false,
                },
                users: Vec::new(),
                retired_uids: Vec::new(),
            },
            now,
        )
        .unwrap();
    assert!(f.roster.fleet_state().unwrap().is_some());
    let refused = f
        .roster
        .import_users(&Actor::Root, batch(vec![record("bob", Some(YESCRYPT))]));
    match refused {
        Err(Error::Conflict(message)) => assert!(
            message.contains("roster hosts join --adopt") && message.contains("fleet"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(f.roster.user_by_name("bob").unwrap().is_none());
    // rosterd restarted on that cache (a new Roster over the same
    // database) refuses too: fleet mode is the store's, not the process's.
    let config = f.roster.config().clone();
    let store = crate::conformance::backend_for(&config).unwrap();
    let mut restarted = Roster::with_backend(config, f.clock.clone(), store).unwrap();
    assert!(matches!(
        restarted.import_users(&Actor::Root, batch(vec![record("bob", Some(YESCRYPT))])),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn each_user_commits_alone_and_the_batch_leaves_every_commit_synced_again() {
    let mut f = fixture();
    let synchronous = |f: &mut crate::tests::fixture::Fixture| {
        f.roster
            .store
            .host_cache()
            .expect("a SQLite store")
            .settings()
            .unwrap()
            .1
    };
    assert_eq!(synchronous(&mut f), 2, "FULL before");
    f.create("zed");
    // zed is refused (another account's name); the others commit, each
    // in its own transaction, and the store is back to FULL after.
    let outcomes = f
        .roster
        .import_users(
            &Actor::Root,
            batch(vec![
                record("bob", Some(YESCRYPT)),
                record("zed", Some(MD5)),
                record("dave", None),
            ]),
        )
        .unwrap();
    assert!(matches!(outcomes[0], ImportOutcome::Imported { .. }));
    assert!(matches!(outcomes[1], ImportOutcome::Refused { .. }));
    assert!(matches!(outcomes[2], ImportOutcome::Imported { .. }));
    assert_eq!(synchronous(&mut f), 2, "FULL again after the batch");
    assert!(f.roster.user_by_name("dave").unwrap().is_some());
}

#[test]
fn an_empty_batch_answers_whether_this_host_may_import_and_writes_nothing() {
    let mut f = fixture();
    f.create("bob");
    let mark = f.roster.commit_mark();
    mark.take();
    assert!(
        f.roster
            .import_users(&Actor::Root, batch(Vec::new()))
            .unwrap()
            .is_empty()
    );
    assert!(!mark.take(), "an empty batch marked a change");
    let bob = f.actor("bob");
    assert!(matches!(
        f.roster.import_users(&bob, batch(Vec::new())),
        Err(Error::PermissionDenied(_))
    ));
}
