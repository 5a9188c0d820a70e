//! A fleet host's cache: batches and snapshots applied over the SQLite
//! tables, replays refused, hashes kept or dropped, sessions to end, a
//! revoked host's wipe and the offline grace in the account check.

use super::fixture::fixture;
use crate::clock::Clock;
use crate::host_cache::QueuedReport;
use crate::model::AccountStatus;
use crate::{Actor, Level};
use roster_fleet_protocol::{
    EnvironmentView, HostChange, HostKey, HostUser, PasswordView, SnapshotAnswer, SyncAnswer,
};

const EPOCH: &str = "epoch-1";

fn environment(grace_secs: u64) -> EnvironmentView {
    EnvironmentView {
        name: "prod".into(),
        login_level: "write".into(),
        offline_grace_secs: grace_secs,
        host_root_is_admin: false,
    }
}

fn sent(uid: u32, name: &str, level: Option<&str>, hash: Option<&str>) -> HostUser {
    HostUser {
        uid,
        name: name.into(),
        display_name: name.to_uppercase(),
        role: "user".into(),
        state: "active".into(),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        level: level.map(str::to_string),
        password: PasswordView {
            changed: Some(100),
            hash: hash.map(str::to_string),
        },
        keys: if hash.is_some() {
            vec![HostKey {
                key_type: "ssh-ed25519".into(),
                blob: "AAAA".into(),
                comment: format!("{name}@laptop"),
                fingerprint: format!("SHA256:{name}"),
                added: 5,
            }]
        } else {
            Vec::new()
        },
    }
}

fn snapshot(users: Vec<HostUser>, grace_secs: u64) -> SnapshotAnswer {
    SnapshotAnswer {
        epoch: EPOCH.into(),
        cursor: 10,
        environment: environment(grace_secs),
        users,
        retired_uids: vec![70_000_999],
    }
}

fn batch(cursor: i64, changes: Vec<HostChange>) -> SyncAnswer {
    SyncAnswer {
        epoch: EPOCH.into(),
        cursor,
        changes,
    }
}

fn account(f: &mut super::fixture::Fixture, name: &str) -> AccountStatus {
    f.roster.check_account(&Actor::Root, name).unwrap()
}

#[test]
fn a_snapshot_enters_fleet_mode_and_follows_the_controllers_environment() {
    let mut f = fixture();
    assert_eq!(f.roster.fleet_state().unwrap(), None);
    let now = f.clock.now();
    let alice = sent(70_000_001, "alice", Some("write"), Some("$argon2id$alice"));
    f.roster
        .apply_fleet_snapshot(&snapshot(vec![alice], 3_600), now + 5)
        .unwrap();
    let state = f.roster.fleet_state().unwrap().unwrap();
    assert_eq!((state.epoch.as_str(), state.cursor), (EPOCH, 10));
    assert_eq!(state.environment, "prod");
    assert_eq!(state.controller_offset, 5);
    let user = f
        .roster
        .store
        .read(|tx| tx.user("alice", now))
        .unwrap()
        .unwrap();
    assert_eq!(user.level_in("prod"), Some(Level::Write));
    assert_eq!(
        f.roster
            .store
            .read(|tx| tx.password_hash(user.uid))
            .unwrap()
            .as_deref(),
        Some("$argon2id$alice")
    );
    assert_eq!(
        f.roster
            .store
            .read(|tx| tx.keys_of(user.uid))
            .unwrap()
            .len(),
        1
    );
    assert!(f.roster.store.read(|tx| tx.is_retired(70_000_999)).unwrap());
    assert!(matches!(account(&mut f, "alice"), AccountStatus::Ok { .. }));
}

#[test]
fn a_batch_applies_with_its_cursor_and_a_replay_or_another_epoch_is_refused() {
    let mut f = fixture();
    let now = f.clock.now();
    f.roster
        .apply_fleet_snapshot(&snapshot(vec![], 3_600), now)
        .unwrap();
    let bob = sent(70_000_002, "bob", Some("write"), Some("$argon2id$bob"));
    f.roster
        .apply_fleet_changes(&batch(12, vec![HostChange::User(bob.clone())]), now)
        .unwrap();
    assert_eq!(f.roster.fleet_state().unwrap().unwrap().cursor, 12);
    // Applying the same batch again is harmless.
    f.roster
        .apply_fleet_changes(&batch(12, vec![HostChange::User(bob)]), now)
        .unwrap();
    let replay = f
        .roster
        .apply_fleet_changes(&batch(11, vec![]), now)
        .unwrap_err();
    assert!(replay.to_string().contains("replay"), "{replay}");
    let mut other = batch(13, vec![]);
    other.epoch = "epoch-2".into();
    let epoch = f.roster.apply_fleet_changes(&other, now).unwrap_err();
    assert!(epoch.to_string().contains("new epoch"), "{epoch}");
    assert_eq!(f.roster.fleet_state().unwrap().unwrap().cursor, 12);
}

#[test]
fn suspension_deletion_and_a_revoked_grant_end_sessions_and_drop_credentials() {
    let mut f = fixture();
    let now = f.clock.now();
    let users = vec![
        sent(70_000_001, "alice", Some("write"), Some("$argon2id$a")),
        sent(70_000_002, "bob", Some("write"), Some("$argon2id$b")),
        sent(70_000_003, "carol", Some("write"), Some("$argon2id$c")),
    ];
    f.roster
        .apply_fleet_snapshot(&snapshot(users, 3_600), now)
        .unwrap();
    let mut alice = sent(70_000_001, "alice", Some("write"), None);
    alice.state = "suspended".into();
    let carol = sent(70_000_003, "carol", Some("read"), None);
    let applied = f
        .roster
        .apply_fleet_changes(
            &batch(
                11,
                vec![
                    HostChange::User(alice),
                    HostChange::UserDeleted { uid: 70_000_002 },
                    HostChange::User(carol),
                ],
            ),
            now,
        )
        .unwrap();
    assert_eq!(
        applied.end_sessions_of,
        vec![70_000_001, 70_000_002, 70_000_003]
    );
    assert_eq!(account(&mut f, "alice"), AccountStatus::Suspended);
    assert_eq!(account(&mut f, "bob"), AccountStatus::Unknown);
    assert!(matches!(
        account(&mut f, "carol"),
        AccountStatus::Denied { .. }
    ));
    assert!(f.roster.store.read(|tx| tx.is_retired(70_000_002)).unwrap());
    for uid in [70_000_001, 70_000_003] {
        assert_eq!(
            f.roster.store.read(|tx| tx.password_hash(uid)).unwrap(),
            None
        );
        assert!(
            f.roster
                .store
                .read(|tx| tx.keys_of(uid))
                .unwrap()
                .is_empty()
        );
    }
}

/// A change to a sent user.
type Edit = fn(&mut HostUser);

/// Whether applying `changes` (as the batch at `cursor`) set the commit
/// mark, i.e. asked rosterd to rewrite the NSS snapshot.
fn batch_marks(f: &mut super::fixture::Fixture, cursor: i64, changes: Vec<HostChange>) -> bool {
    let now = f.clock.now();
    let mark = f.roster.commit_mark();
    mark.take();
    f.roster
        .apply_fleet_changes(&batch(cursor, changes), now)
        .unwrap();
    mark.take()
}

#[test]
fn a_batch_asks_for_an_nss_write_only_when_something_nss_shows_changed() {
    let mut f = fixture();
    let now = f.clock.now();
    let bob = sent(70_000_002, "bob", Some("write"), Some("$argon2id$b"));
    let mut ops = sent(70_000_010, "ops", None, None);
    ops.role = "admin".into();
    f.roster
        .apply_fleet_snapshot(&snapshot(vec![bob.clone(), ops.clone()], 3_600), now)
        .unwrap();
    // The same rows again, and changes NSS doesn't show: no write.
    assert!(!batch_marks(
        &mut f,
        11,
        vec![HostChange::User(bob.clone())]
    ));
    let mut hashed = bob.clone();
    hashed.password.hash = Some("$argon2id$new".into());
    hashed.password.changed = Some(300);
    hashed.keys.clear();
    assert!(!batch_marks(&mut f, 12, vec![HostChange::User(hashed)]));
    let mut read_only = bob.clone();
    read_only.level = Some("read".into());
    assert!(!batch_marks(&mut f, 13, vec![HostChange::User(read_only)]));
    let mut suspended = bob.clone();
    suspended.state = "suspended".into();
    assert!(!batch_marks(&mut f, 14, vec![HostChange::User(suspended)]));
    assert!(!batch_marks(
        &mut f,
        15,
        vec![HostChange::User(bob.clone())]
    ));
    // Each thing NSS shows: a write (and one more putting bob back).
    let edits: [(i64, Edit); 5] = [
        (20, |u: &mut HostUser| u.display_name = "Robert".into()),
        (21, |u: &mut HostUser| u.home = "/srv/bob".into()),
        (22, |u: &mut HostUser| u.shell = "/bin/sh".into()),
        (23, |u: &mut HostUser| u.name = "robert".into()),
        (24, |u: &mut HostUser| u.level = Some("admin".into())),
    ];
    for (cursor, change) in edits {
        let mut changed = bob.clone();
        change(&mut changed);
        assert!(
            batch_marks(&mut f, cursor, vec![HostChange::User(changed)]),
            "change at cursor {cursor}"
        );
        assert!(batch_marks(
            &mut f,
            cursor,
            vec![HostChange::User(bob.clone())]
        ));
    }
    // An `admin` holder's suspension leaves the admin group, and so does a
    // role admin's.
    let mut admin = bob.clone();
    admin.level = Some("admin".into());
    assert!(batch_marks(
        &mut f,
        26,
        vec![HostChange::User(admin.clone())]
    ));
    admin.state = "suspended".into();
    assert!(batch_marks(&mut f, 27, vec![HostChange::User(admin)]));
    let mut ops_suspended = ops.clone();
    ops_suspended.state = "suspended".into();
    assert!(batch_marks(
        &mut f,
        30,
        vec![HostChange::User(ops_suspended)]
    ));
    // A new user, a name taken over from another uid, a deletion.
    let carol = sent(70_000_003, "carol", Some("write"), None);
    assert!(batch_marks(&mut f, 31, vec![HostChange::User(carol)]));
    let new_carol = sent(70_000_004, "carol", Some("write"), None);
    assert!(batch_marks(&mut f, 32, vec![HostChange::User(new_carol)]));
    assert!(batch_marks(
        &mut f,
        33,
        vec![HostChange::UserDeleted { uid: 70_000_004 }]
    ));
}

#[test]
fn an_admins_hash_cached_after_an_online_login_stays_until_its_password_changes() {
    let mut f = fixture();
    let now = f.clock.now();
    let mut root = sent(70_000_010, "ops", None, None);
    root.role = "admin".into();
    f.roster
        .apply_fleet_snapshot(&snapshot(vec![root.clone()], 3_600), now)
        .unwrap();
    let mut online = root.clone();
    online.password.hash = Some("$argon2id$ops".into());
    f.roster.cache_authenticated(&online).unwrap();
    // A profile change sends no hash: the cached one stays.
    root.display_name = "Operations".into();
    f.roster
        .apply_fleet_changes(&batch(11, vec![HostChange::User(root.clone())]), now)
        .unwrap();
    assert_eq!(
        f.roster
            .store
            .read(|tx| tx.password_hash(70_000_010))
            .unwrap()
            .as_deref(),
        Some("$argon2id$ops")
    );
    // "Password changed" drops it.
    root.password.changed = Some(200);
    f.roster
        .apply_fleet_changes(&batch(12, vec![HostChange::User(root)]), now)
        .unwrap();
    assert_eq!(
        f.roster
            .store
            .read(|tx| tx.password_hash(70_000_010))
            .unwrap(),
        None
    );
}

#[test]
fn a_revoked_host_wipes_every_cached_credential_at_once() {
    let mut f = fixture();
    let now = f.clock.now();
    let users = vec![sent(
        70_000_001,
        "alice",
        Some("write"),
        Some("$argon2id$a"),
    )];
    f.roster
        .apply_fleet_snapshot(&snapshot(users, 3_600), now)
        .unwrap();
    let applied = f
        .roster
        .apply_fleet_changes(&batch(11, vec![HostChange::Revoked]), now)
        .unwrap();
    assert!(applied.revoked);
    assert_eq!(
        f.roster
            .store
            .read(|tx| tx.password_hash(70_000_001))
            .unwrap(),
        None
    );
    assert!(
        f.roster
            .store
            .read(|tx| tx.keys_of(70_000_001))
            .unwrap()
            .is_empty()
    );
    // NSS still resolves the user.
    assert!(
        f.roster
            .store
            .read(|tx| tx.user("alice", now))
            .unwrap()
            .is_some()
    );
}

#[test]
fn past_the_offline_grace_the_account_check_fails_closed_and_an_answer_reopens_it() {
    let mut f = fixture();
    let now = f.clock.now();
    let users = vec![sent(
        70_000_001,
        "alice",
        Some("write"),
        Some("$argon2id$a"),
    )];
    f.roster
        .apply_fleet_snapshot(&snapshot(users, 600), now)
        .unwrap();
    f.clock.advance(599);
    assert!(matches!(account(&mut f, "alice"), AccountStatus::Ok { .. }));
    f.clock.advance(2);
    assert_eq!(
        account(&mut f, "alice"),
        AccountStatus::Offline { since: now + 600 }
    );
    // An unknown name stays unknown (nothing said about the fleet).
    assert_eq!(account(&mut f, "nobody"), AccountStatus::Unknown);
    // A heartbeat is an answer.
    let later = f.clock.now();
    f.roster
        .apply_fleet_changes(&batch(10, vec![]), later)
        .unwrap();
    assert!(matches!(account(&mut f, "alice"), AccountStatus::Ok { .. }));
}

#[test]
fn a_zero_grace_needs_an_answer_from_the_last_minute() {
    let mut f = fixture();
    let now = f.clock.now();
    let users = vec![sent(
        70_000_001,
        "alice",
        Some("write"),
        Some("$argon2id$a"),
    )];
    f.roster
        .apply_fleet_snapshot(&snapshot(users, 0), now)
        .unwrap();
    f.clock.advance(59);
    assert!(matches!(account(&mut f, "alice"), AccountStatus::Ok { .. }));
    f.clock.advance(2);
    assert!(matches!(
        account(&mut f, "alice"),
        AccountStatus::Offline { .. }
    ));
}

#[test]
fn leaving_keeps_the_cache_as_the_hosts_store_and_drops_the_feed() {
    let mut f = fixture();
    let now = f.clock.now();
    let users = vec![sent(
        70_000_001,
        "alice",
        Some("write"),
        Some("$argon2id$a"),
    )];
    f.roster
        .apply_fleet_snapshot(&snapshot(users, 60), now)
        .unwrap();
    f.roster
        .queue_fleet_report(&QueuedReport {
            at: now,
            kind: "audit".into(),
            text: "x".into(),
        })
        .unwrap();
    f.roster.leave_fleet().unwrap();
    assert_eq!(f.roster.fleet_state().unwrap(), None);
    assert_eq!(f.roster.fleet_report_backlog().unwrap(), (0, None));
    f.clock.advance(10_000);
    // Standalone again: no grace applies.
    assert!(matches!(account(&mut f, "alice"), AccountStatus::Ok { .. }));
}

#[test]
fn reports_queue_only_while_enrolled_and_go_once_delivered() {
    let mut f = fixture();
    let now = f.clock.now();
    let report = QueuedReport {
        at: now,
        kind: "session".into(),
        text: "alice opened".into(),
    };
    f.roster.queue_fleet_report(&report).unwrap();
    assert_eq!(f.roster.fleet_report_backlog().unwrap().0, 0);
    f.roster
        .apply_fleet_snapshot(&snapshot(vec![], 60), now)
        .unwrap();
    f.roster.queue_fleet_report(&report).unwrap();
    f.roster.queue_fleet_report(&report).unwrap();
    let queued = f.roster.queued_fleet_reports(10).unwrap();
    assert_eq!(queued.len(), 2);
    f.roster.fleet_reports_sent(&[queued[0].0]).unwrap();
    assert_eq!(f.roster.queued_fleet_reports(10).unwrap().len(), 1);
}

#[test]
fn a_joining_host_sends_its_own_users_to_adopt_or_their_uids_to_discard() {
    use crate::host_cache::JoinMode;
    use roster_fleet_protocol::Standalone;
    let mut f = fixture();
    let environment = f.roster.config().environment.clone();
    // Nothing of its own: a plain join, nothing sent.
    f.roster.check_join(&Actor::Root, JoinMode::Plain).unwrap();
    let bob = f.create("bob");
    f.grant("bob", &environment, Level::Write);
    let gone = f.create("gone");
    f.roster.delete_user(&Actor::Root, "gone").unwrap();
    // With users: a plain join is refused naming them; adopt and discard
    // may go on. Only root asks.
    let plain = f
        .roster
        .check_join(&Actor::Root, JoinMode::Plain)
        .unwrap_err();
    assert!(plain.to_string().contains("bob"), "{plain}");
    for mode in [JoinMode::Adopt, JoinMode::Discard] {
        f.roster.check_join(&Actor::Root, mode).unwrap();
    }
    let actor = f.actor("bob");
    assert!(f.roster.check_join(&actor, JoinMode::Adopt).is_err());

    let (adopt, _) = f.roster.standalone_for_join(JoinMode::Adopt).unwrap();
    let Some(Standalone::Adopt {
        environment: sent_environment,
        users,
        retired,
    }) = adopt
    else {
        panic!("not an adoption: {adopt:?}");
    };
    assert_eq!(sent_environment, environment);
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].name.as_str(), users[0].uid), ("bob", bob.uid));
    assert_eq!(
        users[0].password_hash.as_deref(),
        Some(super::fixture::phc().as_str())
    );
    assert_eq!(
        users[0].grants.get(&environment).map(String::as_str),
        Some("write")
    );
    assert_eq!(
        retired.iter().map(|r| r.uid).collect::<Vec<_>>(),
        vec![gone.uid]
    );

    let (discard, _) = f.roster.standalone_for_join(JoinMode::Discard).unwrap();
    let Some(Standalone::Discard { uids }) = discard else {
        panic!("not a discard: {discard:?}");
    };
    let mut expected = vec![bob.uid, gone.uid];
    expected.sort_unstable();
    assert_eq!(uids.iter().map(|r| r.uid).collect::<Vec<_>>(), expected);
    assert_eq!(
        f.roster.standalone_for_join(JoinMode::Plain).unwrap().0,
        None
    );
}
