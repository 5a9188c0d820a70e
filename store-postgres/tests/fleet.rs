//! The fleet's part of the store against a real PostgreSQL 15: migration
//! 2, the triggers that fill the change log (every kind, nothing more),
//! the log gap-free under concurrent writers, the doorbell, and the fleet
//! API (epoch, hosts, join tokens, request ids, audit, retention).
//!
//! One private server for the whole binary (src/test_server.rs, stopped
//! when the binary exits), a fresh database per test (NOTIFY channels are
//! per database: a test's doorbell never rings for another's commits).
//! Without PostgreSQL 15 each test says so loudly and passes, or fails
//! where `ROSTER_TESTS_REQUIRE_ALL=1`.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests
// covers #[test] functions only, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::clock::Timestamp;
use roster_core::error::Error;
use roster_core::fleet::EnvironmentPolicy;
use roster_core::level::Level;
use roster_core::lockout::Counter;
use roster_core::model::{NewSession, Role, Scope, Token, User, UserState};
use roster_core::store::{Backend, CodeRow, KeyRow, Transaction};
use roster_store_postgres::fleet::CHANGES_CHANNEL;
use roster_store_postgres::test_server::{TestServer, connect};
use roster_store_postgres::{
    AuditRow, ChangeKind, ChangeRow, HostRange, IdKind, JoinTokenRow, NewHost, PgStore,
    PurgeCounts, RangeKind, ReportedId, RequestClaim, SCHEMA_VERSION, schema,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const NOW: Timestamp = 1_800_000_000;

/// A fresh database on the binary's server; `None` when PostgreSQL isn't
/// installed and skipping is allowed (TestServer said so loudly).
fn fresh(name: &str) -> Option<String> {
    TestServer::shared().map(|server| server.conninfo_for(name))
}

fn open(conninfo: &str) -> PgStore {
    PgStore::open(conninfo).unwrap()
}

fn user(uid: u32, name: &str) -> User {
    User {
        name: name.into(),
        display_name: format!("{name} tester"),
        role: Role::User,
        state: UserState::Active,
        uid,
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        created: NOW,
        last_login: None,
        password_changed: None,
        locked_until: None,
        grants: BTreeMap::new(),
    }
}

fn key(fingerprint: &str) -> KeyRow {
    KeyRow {
        key_type: "ssh-ed25519".into(),
        blob: vec![0, 1, 2],
        comment: "laptop".into(),
        fingerprint: fingerprint.into(),
        added: NOW,
    }
}

/// A core write through the object-safe trait, as the rules make it.
fn write<T>(
    store: &mut PgStore,
    change: impl FnOnce(&roster_core::store::Tx<'_>) -> roster_core::Result<T>,
) -> roster_core::Result<T> {
    let backend: &mut dyn Backend = store;
    backend.write(change)
}

/// A change row without its sequence number, time and request id: what
/// a test expects a write to log.
type Logged = (ChangeKind, Option<u32>, Option<String>, Option<i64>);

fn logged(kind: ChangeKind, uid: Option<u32>, environment: Option<&str>) -> Logged {
    (kind, uid, environment.map(str::to_string), None)
}

/// The rows logged since `cursor` (moved past them), checked gap-free,
/// as a sorted list (rows of one transaction have no meaningful order).
fn logged_since(store: &mut PgStore, cursor: &mut i64) -> Vec<Logged> {
    let rows = store
        .fleet_read(|tx| tx.changes_after(*cursor, 10_000))
        .unwrap();
    let mut out = Vec::new();
    for row in rows {
        assert_eq!(row.seq, *cursor + 1, "a gap in the change log");
        *cursor = row.seq;
        out.push((row.kind, row.uid, row.environment, row.host_id));
    }
    out.sort();
    out
}

fn sorted(mut rows: Vec<Logged>) -> Vec<Logged> {
    rows.sort();
    rows
}

fn new_host(name: &str, environment: &str) -> NewHost {
    NewHost {
        name: name.into(),
        environment: environment.into(),
        public_key: vec![0x30, 0x2a, 1, 2, 3],
        cert_serial: format!("serial-{name}"),
        cert_expires: NOW + 30 * 86_400,
        enrolled: NOW,
        protocol: 1,
        reported_ids: vec![
            ReportedId {
                kind: IdKind::User,
                name: format!("{name}-local"),
                id: 70_500,
            },
            ReportedId {
                kind: IdKind::Group,
                name: "docker".into(),
                id: 70_501,
            },
        ],
        ranges: vec![
            HostRange {
                kind: RangeKind::LoginDefsUid,
                first: 1000,
                count: 59_001,
            },
            HostRange {
                kind: RangeKind::Subuid,
                first: 100_000,
                count: 65_536,
            },
        ],
    }
}

fn join_token(public_id: &str, environment: &str) -> JoinTokenRow {
    JoinTokenRow {
        public_id: public_id.into(),
        hash: vec![9; 32],
        environment: environment.into(),
        created: NOW,
        expires: NOW + 3600,
        created_by: "root".into(),
        used: None,
        used_by: None,
    }
}

// ---- migration ----------------------------------------------------------

/// A database an older build left at schema 1, with data in it, is
/// migrated to 2 with every row kept; the fleet's tables start empty
/// (no epoch: `init` makes it; no change rows for what existed before).
#[test]
fn migration_1_to_2_keeps_the_rows() {
    let Some(conninfo) = fresh("migration") else {
        return;
    };
    let mut client = connect(&conninfo);
    schema::migrate_to(&mut client, 1).unwrap();
    assert_eq!(schema::version(&mut client).unwrap(), 1);
    client
        .batch_execute(
            "INSERT INTO environments (name, created) VALUES ('prod', 1), ('dev', 2);
             INSERT INTO users (uid, name, display_name, role, state, home, shell, created,
                                last_login, password_hash, password_changed)
                 VALUES (70001, 'alice', 'Alice', 'admin', 'active', '/home/alice', '/bin/sh',
                         3, 4, '$argon2id$x', 5);
             INSERT INTO grants (uid, environment, level) VALUES (70001, 'prod', 'admin');
             INSERT INTO ssh_keys (uid, key_type, blob, comment, fingerprint, added)
                 VALUES (70001, 'ssh-ed25519', '\\x0102', 'laptop', 'SHA256:k', 6);
             INSERT INTO retired_uids (uid, name, retired) VALUES (70000, 'old', 7);",
        )
        .unwrap();
    drop(client);

    let mut store = open(&conninfo);
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(SCHEMA_VERSION, 3);
    let (alice, keys, retired, environments, prod, head, epoch) = store
        .fleet_read(|tx| {
            Ok((
                tx.user("alice", NOW)?,
                tx.keys_of(70_001)?,
                tx.is_retired(70_000)?,
                tx.environments()?,
                tx.environment_settings("prod")?,
                tx.change_head()?,
                tx.epoch()?,
            ))
        })
        .unwrap();
    let alice = alice.expect("alice kept");
    assert_eq!(
        (
            alice.uid,
            alice.role,
            alice.last_login,
            alice.password_changed
        ),
        (70_001, Role::Admin, Some(4), Some(5))
    );
    assert_eq!(alice.grants.get("prod"), Some(&Level::Admin));
    assert_eq!(keys.len(), 1);
    assert!(retired);
    assert_eq!(
        environments.iter().map(|e| &e.name).collect::<Vec<_>>(),
        ["dev", "prod"]
    );
    // Environments gain the defaults.
    assert_eq!(prod, Some(EnvironmentPolicy::default()));
    assert_eq!(
        EnvironmentPolicy::default(),
        EnvironmentPolicy {
            login_level: Level::Write,
            offline_grace: std::time::Duration::from_secs(86_400),
            host_root_is_admin: false,
        }
    );
    assert_eq!(head, 0, "rows from before the change log are not logged");
    assert_eq!(epoch, None, "the migration makes no epoch: init does");
    let password = store.fleet_read(|tx| tx.password_hash(70_001)).unwrap();
    assert_eq!(password.as_deref(), Some("$argon2id$x"));

    // Reopening migrates nothing more; asking for an older version than
    // the database has changes nothing either.
    let mut client = connect(&conninfo);
    schema::migrate_to(&mut client, 1).unwrap();
    assert_eq!(schema::version(&mut client).unwrap(), 3);
    assert_eq!(open(&conninfo).schema_version().unwrap(), 3);
}

// ---- the triggers -----------------------------------------------------

/// Each model write through core's Transaction methods logs exactly the
/// rows it should, tagged with the user's uid and (for grants) the
/// environment.
#[test]
fn every_model_write_logs_its_rows() {
    use ChangeKind::{Environment, Retired, User as UserKind};
    let Some(conninfo) = fresh("triggers") else {
        return;
    };
    let mut store = open(&conninfo);
    let mut cursor = 0;

    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(Environment, None, Some("prod"))]
    );

    // Create: the user's row and its grant's.
    let mut alice = user(70_001, "alice");
    alice.grants.insert("prod".into(), Level::Write);
    write(&mut store, |tx| tx.insert_user(&alice, Some("$argon2id$h"))).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        sorted(vec![
            logged(UserKind, Some(70_001), None),
            logged(UserKind, Some(70_001), Some("prod")),
        ])
    );

    // Edit, suspend, a new password: one row each.
    alice.display_name = "Alice Liddell".into();
    write(&mut store, |tx| tx.update_profile(&alice)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), None)]
    );
    write(&mut store, |tx| tx.set_state(70_001, UserState::Suspended)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), None)]
    );
    write(&mut store, |tx| {
        tx.set_password(70_001, Some("$argon2id$new"), Some(NOW + 1))
    })
    .unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), None)]
    );
    // The same state again changes nothing, so logs nothing.
    write(&mut store, |tx| tx.set_state(70_001, UserState::Suspended)).unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);

    // Grants: set, changed, the same level again (nothing), deleted.
    write(&mut store, |tx| tx.insert_environment("dev", NOW)).unwrap();
    logged_since(&mut store, &mut cursor);
    write(&mut store, |tx| tx.set_grant(70_001, "dev", Level::Read)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), Some("dev"))]
    );
    write(&mut store, |tx| tx.set_grant(70_001, "dev", Level::Admin)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), Some("dev"))]
    );
    write(&mut store, |tx| tx.set_grant(70_001, "dev", Level::Admin)).unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);
    write(&mut store, |tx| tx.delete_grant(70_001, "dev")).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), Some("dev"))]
    );

    // Keys: added, removed; removing a key that isn't there logs nothing.
    write(&mut store, |tx| tx.insert_key(70_001, &key("SHA256:a"))).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), None)]
    );
    write(&mut store, |tx| tx.delete_key(70_001, "SHA256:a")).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(UserKind, Some(70_001), None)]
    );
    write(&mut store, |tx| tx.delete_key(70_001, "SHA256:nope")).unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);

    // An environment's settings; its removal (with a grant in it: the
    // grant's row too).
    let strict = EnvironmentPolicy {
        login_level: Level::Admin,
        offline_grace: std::time::Duration::ZERO,
        host_root_is_admin: true,
    };
    assert!(
        store
            .fleet_write(|tx| tx.set_environment_settings("dev", &strict))
            .unwrap()
    );
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(Environment, None, Some("dev"))]
    );
    write(&mut store, |tx| tx.set_grant(70_001, "dev", Level::Read)).unwrap();
    logged_since(&mut store, &mut cursor);
    assert_eq!(
        write(&mut store, |tx| tx.delete_environment("dev")).unwrap(),
        1
    );
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        sorted(vec![
            logged(UserKind, Some(70_001), Some("dev")),
            logged(Environment, None, Some("dev")),
        ])
    );

    // Delete: retired, the user, its grant and its key (cascaded).
    write(&mut store, |tx| tx.insert_key(70_001, &key("SHA256:b"))).unwrap();
    logged_since(&mut store, &mut cursor);
    write(&mut store, |tx| tx.delete_user(70_001, "alice", NOW + 2)).unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        sorted(vec![
            logged(Retired, Some(70_001), None),
            logged(UserKind, Some(70_001), None),
            logged(UserKind, Some(70_001), None),
            logged(UserKind, Some(70_001), Some("prod")),
        ])
    );

    // Every row so far carries the server's time (none was set) and no
    // request id.
    let rows = store.fleet_read(|tx| tx.changes_after(0, 1000)).unwrap();
    assert_eq!(rows.len(), usize::try_from(cursor).unwrap());
    assert!(
        rows.iter()
            .all(|r| r.request_id.is_none() && r.at > NOW - 1_000_000_000)
    );
}

/// A login's own writes are not changes hosts are told about: last
/// login, lockout counters, sessions, tokens, codes log nothing.
#[test]
fn logins_log_nothing() {
    let Some(conninfo) = fresh("logins") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| {
        tx.insert_user(&user(70_001, "alice"), None)
    })
    .unwrap();
    let mut cursor = 0;
    logged_since(&mut store, &mut cursor);

    write(&mut store, |tx| tx.set_last_login(70_001, NOW + 5)).unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);
    write(&mut store, |tx| {
        let counter = Counter {
            failures: vec![NOW],
            locked_until: Some(NOW + 60),
        };
        tx.save_lockout(70_001, "10.0.0.1", &counter)?;
        tx.clear_lockouts(70_001)?;
        let session = NewSession {
            user: "alice".into(),
            service: "sshd".into(),
            tty: "pts/0".into(),
            remote_host: String::new(),
            leader_pid: 42,
            leader_start: 7,
        };
        tx.insert_session(&session, 70_001, NOW)?;
        tx.end_session(70_001, 42, 7, NOW + 1)?;
        let token = Token {
            id: "tok1".into(),
            user: "alice".into(),
            uid: 70_001,
            name: "ci".into(),
            scope: Scope::Full,
            created: NOW,
            last_used: None,
            expires: None,
        };
        tx.insert_token(&token, &[1, 2])?;
        tx.touch_token("tok1", NOW + 2)?;
        tx.revoke_tokens(70_001, NOW + 3)?;
        tx.set_code(&CodeRow {
            uid: 70_001,
            public_id: "code1".into(),
            hash: vec![3],
            created: NOW,
            expires: NOW + 60,
        })?;
        tx.delete_code(70_001)
    })
    .unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);
    // The login time was stored all the same.
    let alice = store
        .fleet_read(|tx| tx.user("alice", NOW))
        .unwrap()
        .unwrap();
    assert_eq!(alice.last_login, Some(NOW + 5));
}

/// A statement typed by hand (no code of ours) is logged all the same:
/// the triggers, not the callers, write the log.
#[test]
fn a_hand_typed_statement_is_logged_too() {
    let Some(conninfo) = fresh("by_hand") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| {
        tx.insert_user(&user(70_001, "alice"), None)
    })
    .unwrap();
    let mut cursor = 0;
    logged_since(&mut store, &mut cursor);
    let mut client = connect(&conninfo);
    client
        .batch_execute("UPDATE users SET shell = '/bin/zsh' WHERE uid = 70001")
        .unwrap();
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [logged(ChangeKind::User, Some(70_001), None)]
    );
    // ...and last_login by hand alone, not.
    client
        .batch_execute("UPDATE users SET last_login = 99 WHERE uid = 70001")
        .unwrap();
    assert_eq!(logged_since(&mut store, &mut cursor), []);
}

/// A write that fails after changing rows leaves no change row and no
/// gap: its head bumps roll back with it, and the next commit's row
/// follows the last committed one.
#[test]
fn rolled_back_write_logs_nothing_and_leaves_no_gap() {
    let Some(conninfo) = fresh("rollback") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    let err = write(&mut store, |tx| {
        tx.insert_user(&user(70_001, "alice"), None)?;
        tx.set_grant(70_001, "prod", Level::Read)?;
        Err::<(), _>(Error::Conflict("changed my mind".into()))
    })
    .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // A statement failing inside a write rolls it back too.
    let err = write(&mut store, |tx| {
        tx.insert_user(&user(70_002, "bob"), None)?;
        tx.set_grant(70_002, "nowhere", Level::Read)
    })
    .unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    assert_eq!(store.fleet_read(|tx| tx.change_head()).unwrap(), 1);

    write(&mut store, |tx| {
        tx.insert_user(&user(70_003, "carol"), None)
    })
    .unwrap();
    let rows = store.fleet_read(|tx| tx.changes_after(0, 100)).unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.seq, r.kind, r.uid))
            .collect::<Vec<_>>(),
        [
            (1, ChangeKind::Environment, None),
            (2, ChangeKind::User, Some(70_003))
        ]
    );
    assert_eq!(store.fleet_read(|tx| tx.change_head()).unwrap(), 2);
}

/// changes_after pages: `limit` rows, ascending, strictly after the
/// cursor; nothing after the head.
#[test]
fn changes_after_pages_in_order() {
    let Some(conninfo) = fresh("paging") else {
        return;
    };
    let mut store = open(&conninfo);
    for i in 0..5u32 {
        write(&mut store, |tx| {
            tx.insert_environment(&format!("env{i}"), NOW)
        })
        .unwrap();
    }
    let page = |store: &mut PgStore, after, limit| -> Vec<i64> {
        store
            .fleet_read(|tx| tx.changes_after(after, limit))
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect()
    };
    assert_eq!(page(&mut store, 0, 2), [1, 2]);
    assert_eq!(page(&mut store, 2, 2), [3, 4]);
    assert_eq!(page(&mut store, 4, 2), [5]);
    assert_eq!(page(&mut store, 5, 2), Vec::<i64>::new());
    assert_eq!(page(&mut store, 0, 0), Vec::<i64>::new());
    assert_eq!(page(&mut store, -10, 1), [1]);
}

/// A feed read takes a batch of change rows and the users' state from
/// one snapshot: a commit made meanwhile shows in neither.
#[test]
fn a_feed_read_sees_changes_and_state_in_one_snapshot() {
    let Some(conninfo) = fresh("snapshot") else {
        return;
    };
    let mut reader = open(&conninfo);
    let mut writer = open(&conninfo);
    write(&mut writer, |tx| {
        tx.insert_user(&user(70_001, "alice"), None)
    })
    .unwrap();
    let (before, during, head) = reader
        .fleet_read(|tx| {
            let before = tx.changes_after(0, 100)?;
            write(&mut writer, |w| {
                w.set_state(70_001, UserState::Suspended)?;
                w.insert_user(&user(70_002, "bob"), None)
            })?;
            let during = (
                tx.changes_after(0, 100)?,
                tx.user_by_uid(70_001, NOW)?.map(|u| u.state),
                tx.user_by_uid(70_002, NOW)?,
            );
            Ok((before, during, tx.change_head()?))
        })
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(during.0, before);
    assert_eq!(during.1, Some(UserState::Active));
    assert_eq!(during.2, None);
    assert_eq!(head, 1);
    // The next read sees both.
    let after = reader.fleet_read(|tx| tx.changes_after(1, 100)).unwrap();
    assert_eq!(after.len(), 2);
}

/// A change kind this build doesn't know (a newer build wrote it, or a
/// hand) is an error, never skipped.
#[test]
fn unknown_change_kind_is_an_error() {
    let Some(conninfo) = fresh("unknown_kind") else {
        return;
    };
    let mut store = open(&conninfo);
    let mut client = connect(&conninfo);
    client
        .batch_execute(
            "ALTER TABLE change_log DROP CONSTRAINT change_log_kind_check;
             UPDATE change_head SET seq = 1;
             INSERT INTO change_log (seq, at, kind) VALUES (1, 5, 'widget');",
        )
        .unwrap();
    match store.fleet_read(|tx| tx.changes_after(0, 10)) {
        Err(Error::Store(message)) => assert!(message.contains("widget"), "{message}"),
        other => panic!("expected a store error, got {other:?}"),
    }
}

// ---- gap-free under concurrent writers --------------------------------

/// 8 writers (each its own connection) change users and grants for 10 s,
/// some of their transactions rolled back, while 2 readers poll the log
/// after their cursor: each reader sees every sequence number exactly
/// once, in order, with no gap, and ends at the number of change rows
/// committed. Figures printed (run with --nocapture to see them); no
/// assertion on speed.
#[test]
fn change_log_is_gap_free_under_8_writers_for_10_seconds() {
    const WRITERS: u32 = 8;
    const READERS: usize = 2;
    const RUN: Duration = Duration::from_secs(10);
    let Some(conninfo) = fresh("gap_free") else {
        return;
    };
    let mut setup = open(&conninfo);
    write(&mut setup, |tx| {
        tx.insert_environment("prod", NOW)?;
        tx.insert_environment("dev", NOW)
    })
    .unwrap();
    let base = setup.fleet_read(|tx| tx.change_head()).unwrap();

    let committed_rows = Arc::new(AtomicI64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let rollbacks = Arc::new(AtomicU64::new(0));
    let writers_done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(usize::try_from(WRITERS).unwrap() + READERS));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let conninfo = conninfo.clone();
            let (rows, commits, rollbacks, start) = (
                committed_rows.clone(),
                commits.clone(),
                rollbacks.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                let mut store = open(&conninfo);
                start.wait();
                let began = Instant::now();
                let mut n: u32 = 0;
                let mut live: Vec<u32> = Vec::new();
                while began.elapsed() < RUN {
                    n += 1;
                    let uid = 100_000 + w * 1_000_000 + n;
                    // Rows each committed transaction logs, known up front.
                    let outcome = match n % 5 {
                        // A new user with a grant: 2 rows.
                        0 | 1 => write(&mut store, |tx| {
                            let mut u = user(uid, &format!("w{w}u{n}"));
                            u.grants.insert("prod".into(), Level::Write);
                            tx.insert_user(&u, None)
                        })
                        .map(|()| {
                            live.push(uid);
                            2
                        }),
                        // A grant changed on one of ours: 1 row (a new
                        // level every time, so it always changes).
                        2 if !live.is_empty() => {
                            let target = live[usize::try_from(n).unwrap() % live.len()];
                            write(&mut store, |tx| {
                                let level = match tx.grants_of(target)?.get("dev") {
                                    Some(Level::Admin) => Level::Read,
                                    _ => Level::Admin,
                                };
                                tx.set_grant(target, "dev", level)
                            })
                            .map(|()| 1)
                        }
                        // Changes, then rolled back: nothing.
                        3 => write(&mut store, |tx| {
                            tx.insert_user(&user(uid, &format!("w{w}r{n}")), None)?;
                            Err::<i64, _>(Error::Conflict("rolled back on purpose".into()))
                        }),
                        // A suspension: 1 row.
                        _ if !live.is_empty() => {
                            let target = live.remove(0);
                            write(&mut store, |tx| tx.set_state(target, UserState::Suspended))
                                .map(|()| 1)
                        }
                        _ => continue,
                    };
                    match outcome {
                        Ok(logged) => {
                            rows.fetch_add(logged, Ordering::SeqCst);
                            commits.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(Error::Conflict(_)) => {
                            rollbacks.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(other) => panic!("writer {w}: {other:?}"),
                    }
                }
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let conninfo = conninfo.clone();
            let (done, start) = (writers_done.clone(), start.clone());
            std::thread::spawn(move || {
                let mut store = open(&conninfo);
                let mut cursor = base;
                let mut seen: u64 = 0;
                let mut max_lag: i64 = 0;
                let mut polls: u64 = 0;
                start.wait();
                loop {
                    // The writers' end is read before the poll: a poll
                    // begun after they all finished sees everything.
                    let finished = done.load(Ordering::SeqCst);
                    let (head, batch) = store
                        .fleet_read(|tx| Ok((tx.change_head()?, tx.changes_after(cursor, 1_000)?)))
                        .unwrap();
                    polls += 1;
                    max_lag = max_lag.max(head - cursor);
                    for row in &batch {
                        assert_eq!(
                            row.seq,
                            cursor + 1,
                            "reader {r}: after {cursor} came {} (a gap or a repeat)",
                            row.seq
                        );
                        cursor = row.seq;
                        seen += 1;
                    }
                    assert!(cursor <= head, "reader {r}: a row past the head");
                    if finished && cursor == head {
                        return (cursor, seen, max_lag, polls);
                    }
                    if batch.is_empty() {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();

    for writer in writers {
        writer.join().unwrap();
    }
    writers_done.store(true, Ordering::SeqCst);
    let committed = committed_rows.load(Ordering::SeqCst);
    let head = setup.fleet_read(|tx| tx.change_head()).unwrap();
    assert_eq!(
        head - base,
        committed,
        "the head moved by the rows committed, no more, no less"
    );
    for (r, reader) in readers.into_iter().enumerate() {
        let (cursor, seen, max_lag, polls) = reader.join().unwrap();
        assert_eq!(cursor, head, "reader {r} ended at the head");
        assert_eq!(
            i64::try_from(seen).unwrap(),
            committed,
            "reader {r} saw every committed row once"
        );
        eprintln!(
            "gap-free figures: reader {r}: {seen} rows in {polls} polls, max lag {max_lag} rows"
        );
    }
    eprintln!(
        "gap-free figures: {WRITERS} writers, {RUN:?}: {} commits ({committed} change rows), {} rolled back",
        commits.load(Ordering::SeqCst),
        rollbacks.load(Ordering::SeqCst)
    );
    assert!(committed > 0);
}

// ---- the doorbell -----------------------------------------------------

/// LISTEN's doorbell rings after a commit that logged a change (one
/// answer drains a burst), never after a rollback or a commit that
/// logged nothing; a lost connection is an error, not a silent false.
#[test]
fn doorbell_rings_after_a_commit_not_after_a_rollback() {
    let Some(conninfo) = fresh("doorbell") else {
        return;
    };
    let mut listener = open(&conninfo);
    let mut writer = open(&conninfo);
    listener.listen_changes().unwrap();
    assert!(!listener.wait_doorbell(Duration::from_millis(50)).unwrap());

    write(&mut writer, |tx| {
        tx.insert_user(&user(70_001, "alice"), None)
    })
    .unwrap();
    // Generous: a loaded machine; it answers as soon as the bell rings.
    assert!(listener.wait_doorbell(Duration::from_secs(10)).unwrap());

    // A burst of commits: one answer drains them all.
    for i in 0..3u32 {
        write(&mut writer, |tx| {
            tx.insert_environment(&format!("e{i}"), NOW)
        })
        .unwrap();
    }
    // Let the three notifications arrive before the wait that drains them.
    std::thread::sleep(Duration::from_millis(200));
    assert!(listener.wait_doorbell(Duration::from_secs(10)).unwrap());
    assert!(!listener.wait_doorbell(Duration::from_millis(100)).unwrap());

    // Rolled back: no ring. Committed but logging nothing: no ring.
    let _ = write(&mut writer, |tx| {
        tx.set_state(70_001, UserState::Suspended)?;
        Err::<(), _>(Error::Conflict("no".into()))
    });
    write(&mut writer, |tx| tx.set_last_login(70_001, NOW)).unwrap();
    assert!(!listener.wait_doorbell(Duration::from_millis(300)).unwrap());

    // The listener can read the log between rings (a notification that
    // arrives along with a query's answer is kept for the next wait).
    write(&mut writer, |tx| tx.set_state(70_001, UserState::Suspended)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let head = listener.fleet_read(|tx| tx.change_head()).unwrap();
    assert_eq!(head, 5);
    assert!(listener.wait_doorbell(Duration::from_secs(10)).unwrap());

    // The payload is the row's sequence number (for a caller that LISTENs
    // on its own connection).
    let mut raw = connect(&conninfo);
    raw.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .unwrap();
    write(&mut writer, |tx| tx.set_state(70_001, UserState::Active)).unwrap();
    let mut notifications = raw.notifications();
    let mut waiting = notifications.timeout_iter(Duration::from_secs(10));
    use postgres::fallible_iterator::FallibleIterator;
    let note = waiting.next().unwrap().expect("a notification");
    assert_eq!((note.channel(), note.payload()), (CHANGES_CHANNEL, "6"));
    assert!(listener.wait_doorbell(Duration::from_secs(10)).unwrap());

    // The connection cut under the listener: an error, so its caller
    // reconnects and re-reads the log.
    let mut admin = TestServer::shared().unwrap().admin();
    let database = conninfo.rsplit("dbname=").next().unwrap().to_string();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .unwrap();
    match listener.wait_doorbell(Duration::from_secs(10)) {
        Err(Error::Store(message)) => assert!(message.contains("reconnect"), "{message}"),
        other => panic!("expected a store error for the lost connection, got {other:?}"),
    }
}

// ---- epoch ------------------------------------------------------------

#[test]
fn epoch_is_made_once_and_replaced_by_new_epoch() {
    let Some(conninfo) = fresh("epoch") else {
        return;
    };
    let mut store = open(&conninfo);
    assert_eq!(store.fleet_read(|tx| tx.epoch()).unwrap(), None);
    let first = store.fleet_write(|tx| tx.init_epoch(NOW)).unwrap();
    assert_eq!(first.len(), 26);
    assert!(
        first
            .bytes()
            .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b)),
        "{first}"
    );
    assert_eq!(
        store.fleet_read(|tx| tx.epoch()).unwrap().as_deref(),
        Some(first.as_str())
    );
    // init twice: refused, the epoch kept.
    match store.fleet_write(|tx| tx.init_epoch(NOW + 1)) {
        Err(Error::AlreadyExists(message)) => assert!(message.contains(&first), "{message}"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        store.fleet_read(|tx| tx.epoch()).unwrap().as_deref(),
        Some(first.as_str())
    );
    // restore: a new one.
    let second = store.fleet_write(|tx| tx.new_epoch(NOW + 2)).unwrap();
    assert_ne!(second, first);
    assert_eq!(
        store.fleet_read(|tx| tx.epoch()).unwrap().as_deref(),
        Some(second.as_str())
    );
    // new_epoch on a store that never had one makes one.
    let Some(other) = fresh("epoch_restore") else {
        return;
    };
    let mut other = open(&other);
    let made = other.fleet_write(|tx| tx.new_epoch(NOW)).unwrap();
    assert_eq!(other.fleet_read(|tx| tx.epoch()).unwrap(), Some(made));
}

// ---- environments -----------------------------------------------------

#[test]
fn environment_settings_round_trip() {
    let Some(conninfo) = fresh("settings") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    assert_eq!(
        store
            .fleet_read(|tx| tx.environment_settings("prod"))
            .unwrap(),
        Some(EnvironmentPolicy::default())
    );
    let set = EnvironmentPolicy {
        login_level: Level::Read,
        offline_grace: std::time::Duration::from_secs(3600),
        host_root_is_admin: true,
    };
    assert!(
        store
            .fleet_write(|tx| tx.set_environment_settings("prod", &set))
            .unwrap()
    );
    assert_eq!(
        store
            .fleet_read(|tx| tx.environment_settings("prod"))
            .unwrap(),
        Some(set.clone())
    );
    // Unknown environment: nothing changed, nothing logged.
    let head = store.fleet_read(|tx| tx.change_head()).unwrap();
    assert!(
        !store
            .fleet_write(|tx| tx.set_environment_settings("nowhere", &set))
            .unwrap()
    );
    assert_eq!(
        store
            .fleet_read(|tx| tx.environment_settings("nowhere"))
            .unwrap(),
        None
    );
    assert_eq!(store.fleet_read(|tx| tx.change_head()).unwrap(), head);
    // A grace that doesn't fit: refused before any statement.
    let huge = EnvironmentPolicy {
        offline_grace: std::time::Duration::from_secs(u64::MAX),
        ..set
    };
    assert!(matches!(
        store.fleet_write(|tx| tx.set_environment_settings("prod", &huge)),
        Err(Error::InvalidArgument(_))
    ));
}

/// An environment with an enrolled host can't be removed: a clear error
/// naming the host, nothing changed (its grants kept); once the host is
/// deleted it can. The foreign key refuses it too, for a hand-typed
/// statement.
#[test]
fn environment_with_a_host_cannot_be_removed() {
    let Some(conninfo) = fresh("env_hosts") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| {
        tx.insert_environment("prod", NOW)?;
        let mut alice = user(70_001, "alice");
        alice.grants.insert("prod".into(), Level::Write);
        tx.insert_user(&alice, None)
    })
    .unwrap();
    store
        .fleet_write(|tx| tx.insert_host(&new_host("web1", "prod")))
        .unwrap();
    let head = store.fleet_read(|tx| tx.change_head()).unwrap();

    match write(&mut store, |tx| tx.delete_environment("prod")) {
        Err(Error::Conflict(message)) => {
            assert!(message.contains("web1"), "{message}");
            assert!(message.contains("\"prod\""), "{message}");
            assert!(message.contains("delete its hosts first"), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let (env, grants, now_head) = store
        .fleet_read(|tx| {
            Ok((
                tx.environment("prod")?,
                tx.grants_of(70_001)?,
                tx.change_head()?,
            ))
        })
        .unwrap();
    assert_eq!(env.map(|e| e.grants), Some(1));
    assert_eq!(grants.len(), 1);
    assert_eq!(now_head, head, "nothing logged");

    // By hand: the foreign key (RESTRICT).
    let mut client = connect(&conninfo);
    let err = client
        .batch_execute("DELETE FROM grants WHERE environment = 'prod'; DELETE FROM environments WHERE name = 'prod'")
        .unwrap_err();
    assert!(
        err.as_db_error()
            .is_some_and(|e| e.message().contains("foreign key")),
        "{err}"
    );

    assert!(store.fleet_write(|tx| tx.delete_host("web1")).unwrap());
    assert_eq!(
        write(&mut store, |tx| tx.delete_environment("prod")).unwrap(),
        1
    );
}

// ---- hosts ------------------------------------------------------------

#[test]
fn hosts_round_trip() {
    let Some(conninfo) = fresh("hosts") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| {
        tx.insert_environment("prod", NOW)?;
        tx.insert_environment("dev", NOW)
    })
    .unwrap();
    let mut cursor = store.fleet_read(|tx| tx.change_head()).unwrap();

    let web = store
        .fleet_write(|tx| tx.insert_host(&new_host("web1", "prod")))
        .unwrap();
    // Many reported ids in one enrollment (the protocol's cap).
    let mut big = new_host("db1", "dev");
    big.reported_ids = (0..10_000u32)
        .map(|i| ReportedId {
            kind: if i % 2 == 0 {
                IdKind::User
            } else {
                IdKind::Group
            },
            name: format!("local{i:05}"),
            id: 60_000 + i,
        })
        .collect();
    let db = store.fleet_write(|tx| tx.insert_host(&big)).unwrap();
    assert_ne!(web.id, db.id);
    assert_eq!(
        (
            web.name.as_str(),
            web.environment.as_str(),
            web.last_seen,
            web.cursor,
            web.revoked
        ),
        ("web1", "prod", None, 0, None)
    );
    // Enrollment is not a change hosts are told about.
    assert_eq!(logged_since(&mut store, &mut cursor), []);

    let (by_id, by_name, all, in_prod, prod_ids, all_ids, ranges) = store
        .fleet_read(|tx| {
            Ok((
                tx.host(web.id)?,
                tx.host_by_name("db1")?,
                tx.hosts(None)?,
                tx.hosts(Some("prod"))?,
                tx.reported_ids(Some("prod"))?,
                tx.reported_ids(None)?,
                tx.host_ranges(web.id)?,
            ))
        })
        .unwrap();
    assert_eq!(by_id.as_ref(), Some(&web));
    assert_eq!(by_name.as_ref(), Some(&db));
    assert_eq!(
        all.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["db1", "web1"]
    );
    assert_eq!(in_prod, std::slice::from_ref(&web));
    assert_eq!(
        prod_ids,
        [
            (
                "web1".to_string(),
                ReportedId {
                    kind: IdKind::Group,
                    name: "docker".into(),
                    id: 70_501
                }
            ),
            (
                "web1".to_string(),
                ReportedId {
                    kind: IdKind::User,
                    name: "web1-local".into(),
                    id: 70_500
                }
            ),
        ]
    );
    assert_eq!(all_ids.len(), 10_002);
    // The create-time check for one user: by name or by id, user or group.
    let collisions = store
        .fleet_read(|tx| {
            Ok((
                tx.reported_collisions("docker", 1)?,
                tx.reported_collisions("newuser", 60_002)?,
                tx.reported_collisions("local00003", 70_500)?,
                tx.reported_collisions("newuser", 80_000)?,
            ))
        })
        .unwrap();
    let hosts_of = |rows: &[(String, ReportedId)]| -> Vec<(String, String)> {
        rows.iter()
            .map(|(host, id)| (host.clone(), id.name.clone()))
            .collect()
    };
    assert_eq!(hosts_of(&collisions.0), [("web1".into(), "docker".into())]);
    assert_eq!(
        hosts_of(&collisions.1),
        [("db1".into(), "local00002".into())]
    );
    assert_eq!(
        hosts_of(&collisions.2),
        [
            ("db1".into(), "local00003".into()),
            ("web1".into(), "web1-local".into())
        ]
    );
    assert_eq!(collisions.3, []);
    let mut expected_ranges = new_host("web1", "prod").ranges;
    expected_ranges.sort();
    let mut ranges = ranges;
    ranges.sort();
    assert_eq!(ranges, expected_ranges);

    // A name taken; an environment missing: refused, nothing added.
    match store.fleet_write(|tx| tx.insert_host(&new_host("web1", "dev"))) {
        Err(Error::AlreadyExists(message)) => assert!(message.contains("web1"), "{message}"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    match store.fleet_write(|tx| tx.insert_host(&new_host("web2", "nowhere"))) {
        Err(Error::NotFound(message)) => assert!(message.contains("nowhere"), "{message}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.fleet_read(|tx| tx.hosts(None)).unwrap().len(), 2);

    // Requests and renewals log nothing.
    assert!(
        store
            .fleet_write(|tx| tx.touch_host(web.id, NOW + 10, 42, 2))
            .unwrap()
    );
    assert!(
        store
            .fleet_write(|tx| tx.set_host_certificate(web.id, &[7, 7], "serial-2", NOW + 99))
            .unwrap()
    );
    assert!(
        !store
            .fleet_write(|tx| tx.touch_host(999_999, NOW, 1, 1))
            .unwrap()
    );
    // Touching logs nothing; a new certificate logs the host (every
    // replica reads its row again: the old certificate stops working).
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [(
            ChangeKind::Host,
            None,
            Some("prod".to_string()),
            Some(web.id)
        )]
    );
    let touched = store.fleet_read(|tx| tx.host(web.id)).unwrap().unwrap();
    assert_eq!(
        (
            touched.last_seen,
            touched.cursor,
            touched.protocol,
            touched.public_key,
            touched.cert_serial.as_str(),
            touched.cert_expires
        ),
        (Some(NOW + 10), 42, 2, vec![7, 7], "serial-2", NOW + 99)
    );

    // Revoked once (logged), not twice.
    assert!(
        store
            .fleet_write(|tx| tx.revoke_host("web1", NOW + 20))
            .unwrap()
    );
    assert!(
        !store
            .fleet_write(|tx| tx.revoke_host("web1", NOW + 21))
            .unwrap()
    );
    assert!(
        !store
            .fleet_write(|tx| tx.revoke_host("nobody", NOW))
            .unwrap()
    );
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [(ChangeKind::Host, None, Some("prod".into()), Some(web.id))]
    );
    assert_eq!(
        store
            .fleet_read(|tx| tx.host(web.id))
            .unwrap()
            .unwrap()
            .revoked,
        Some(NOW + 20)
    );

    // Deleted (logged), with what it reported.
    assert!(store.fleet_write(|tx| tx.delete_host("db1")).unwrap());
    assert!(!store.fleet_write(|tx| tx.delete_host("db1")).unwrap());
    assert_eq!(
        logged_since(&mut store, &mut cursor),
        [(ChangeKind::Host, None, Some("dev".into()), Some(db.id))]
    );
    assert_eq!(
        store.fleet_read(|tx| tx.reported_ids(None)).unwrap().len(),
        2
    );
    assert_eq!(store.fleet_read(|tx| tx.host(db.id)).unwrap(), None);
}

// ---- join tokens ------------------------------------------------------

#[test]
fn join_tokens_round_trip() {
    let Some(conninfo) = fresh("tokens") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    let mut later = join_token("tokB", "prod");
    later.created = NOW + 1;
    store
        .fleet_write(|tx| {
            tx.insert_join_token(&later)?;
            tx.insert_join_token(&join_token("tokA", "prod"))
        })
        .unwrap();
    let listed = store.fleet_read(|tx| tx.join_tokens()).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|t| t.public_id.as_str())
            .collect::<Vec<_>>(),
        ["tokA", "tokB"]
    );
    assert_eq!(
        store.fleet_read(|tx| tx.join_token("tokB")).unwrap(),
        Some(later)
    );
    assert_eq!(store.fleet_read(|tx| tx.join_token("tokZ")).unwrap(), None);
    // The same public id twice, or an environment that doesn't exist.
    assert!(matches!(
        store.fleet_write(|tx| tx.insert_join_token(&join_token("tokA", "prod"))),
        Err(Error::Store(_))
    ));
    assert!(matches!(
        store.fleet_write(|tx| tx.insert_join_token(&join_token("tokC", "nowhere"))),
        Err(Error::Store(_))
    ));
    assert!(
        store
            .fleet_write(|tx| tx.delete_join_token("tokB"))
            .unwrap()
    );
    assert!(
        !store
            .fleet_write(|tx| tx.delete_join_token("tokB"))
            .unwrap()
    );
    // Nothing about tokens is logged.
    assert_eq!(store.fleet_read(|tx| tx.change_head()).unwrap(), 1);
}

/// Two enrollments race on one token, each adding its host and burning
/// the token in one transaction (rolled back when the burn fails):
/// exactly one wins, its host is the only one added, the token names it.
#[test]
fn join_token_is_burnt_once_under_a_race() {
    let Some(conninfo) = fresh("token_race") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    store
        .fleet_write(|tx| tx.insert_join_token(&join_token("tok1", "prod")))
        .unwrap();
    for round in 0..5 {
        let public_id = format!("race{round}");
        store
            .fleet_write(|tx| tx.insert_join_token(&join_token(&public_id, "prod")))
            .unwrap();
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let (conninfo, start, public_id) =
                    (conninfo.clone(), start.clone(), public_id.clone());
                std::thread::spawn(move || {
                    let mut store = open(&conninfo);
                    let name = format!("host-{round}-{i}");
                    start.wait();
                    store.fleet_write(|tx| {
                        let host = tx.insert_host(&new_host(&name, "prod"))?;
                        if !tx.burn_join_token(&public_id, host.id, NOW)? {
                            return Err(Error::PermissionDenied("join token used already".into()));
                        }
                        Ok(host.id)
                    })
                })
            })
            .collect();
        let outcomes: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let winners: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Err(Error::PermissionDenied(_)))),
            "{outcomes:?}"
        );
        let token = store
            .fleet_read(|tx| tx.join_token(&public_id))
            .unwrap()
            .unwrap();
        assert_eq!((token.used, token.used_by), (Some(NOW), Some(winners[0])));
        let hosts = store.fleet_read(|tx| tx.hosts(None)).unwrap();
        assert_eq!(hosts.len(), round + 1, "only the winner's host was added");
    }
    // A burnt token stays burnt; an unknown one can't be burnt.
    let host_id = store.fleet_read(|tx| tx.hosts(None)).unwrap()[0].id;
    assert!(
        !store
            .fleet_write(|tx| tx.burn_join_token("race0", host_id, NOW))
            .unwrap()
    );
    assert!(
        !store
            .fleet_write(|tx| tx.burn_join_token("nope", host_id, NOW))
            .unwrap()
    );
    assert!(
        store
            .fleet_write(|tx| tx.burn_join_token("tok1", host_id, NOW))
            .unwrap()
    );
}

// ---- request ids --------------------------------------------------------

#[test]
fn claim_request_twice_the_second_is_refused() {
    let Some(conninfo) = fresh("requests") else {
        return;
    };
    let mut store = open(&conninfo);
    let claim = RequestClaim {
        id: "req-1".into(),
        at: NOW,
        person: "alice".into(),
        host: "web1".into(),
        action: "users.suspend bob".into(),
    };
    assert!(store.fleet_write(|tx| tx.claim_request(&claim)).unwrap());
    let again = RequestClaim {
        at: NOW + 5,
        person: "mallory".into(),
        ..claim.clone()
    };
    assert!(!store.fleet_write(|tx| tx.claim_request(&again)).unwrap());
    let stored = store.fleet_read(|tx| tx.request("req-1")).unwrap().unwrap();
    assert_eq!(
        (stored.at, stored.person.as_str(), stored.answer),
        (NOW, "alice", None),
        "the first claim is kept, applied with no answer yet"
    );
    assert!(
        store
            .fleet_write(|tx| tx.store_answer("req-1", "{\"ok\":true}"))
            .unwrap()
    );
    assert_eq!(
        store
            .fleet_read(|tx| tx.request("req-1"))
            .unwrap()
            .unwrap()
            .answer
            .as_deref(),
        Some("{\"ok\":true}")
    );
    assert!(
        !store
            .fleet_write(|tx| tx.store_answer("req-2", "x"))
            .unwrap()
    );
    assert_eq!(store.fleet_read(|tx| tx.request("req-2")).unwrap(), None);
    // A claim in a transaction that rolls back is no claim.
    let third = RequestClaim {
        id: "req-3".into(),
        ..claim
    };
    let _ = store.fleet_write(|tx| {
        tx.claim_request(&third)?;
        Err::<(), _>(Error::Conflict("failed change".into()))
    });
    assert!(store.fleet_write(|tx| tx.claim_request(&third)).unwrap());
}

/// set_request_id tags this transaction's change rows, and only its;
/// set_change_time stamps them.
#[test]
fn set_request_id_tags_the_change_rows() {
    let Some(conninfo) = fresh("request_tags") else {
        return;
    };
    let mut store = open(&conninfo);
    store
        .fleet_write(|tx| {
            tx.set_request_id(Some("req-7"))?;
            tx.set_change_time(NOW + 42)?;
            tx.insert_environment("prod", NOW)?;
            let mut alice = user(70_001, "alice");
            alice.grants.insert("prod".into(), Level::Admin);
            tx.insert_user(&alice, None)
        })
        .unwrap();
    // The next transaction on the same connection is untagged.
    write(&mut store, |tx| tx.set_state(70_001, UserState::Suspended)).unwrap();
    // Tagged, then untagged within one transaction; '' is no id.
    store
        .fleet_write(|tx| {
            tx.set_request_id(Some("req-8"))?;
            tx.set_state(70_001, UserState::Active)?;
            tx.set_request_id(None)?;
            tx.insert_environment("dev", NOW)?;
            tx.set_request_id(Some(""))?;
            tx.insert_environment("test", NOW)
        })
        .unwrap();
    let rows: Vec<ChangeRow> = store.fleet_read(|tx| tx.changes_after(0, 100)).unwrap();
    let tags: Vec<(i64, Option<&str>)> = rows
        .iter()
        .map(|r| (r.seq, r.request_id.as_deref()))
        .collect();
    assert_eq!(
        tags,
        [
            (1, Some("req-7")),
            (2, Some("req-7")),
            (3, Some("req-7")),
            (4, None),
            (5, Some("req-8")),
            (6, None),
            (7, None),
        ]
    );
    assert!(rows[..3].iter().all(|r| r.at == NOW + 42));
    assert!(rows[3..].iter().all(|r| r.at != NOW + 42));
}

// ---- audit, reports, retention ------------------------------------------

#[test]
fn purge_before_removes_only_old_rows() {
    let Some(conninfo) = fresh("purge") else {
        return;
    };
    let mut store = open(&conninfo);
    write(&mut store, |tx| tx.insert_environment("prod", NOW)).unwrap();
    let host = store
        .fleet_write(|tx| tx.insert_host(&new_host("web1", "prod")))
        .unwrap();
    let entry = |at: Timestamp, action: &str| AuditRow {
        at,
        person: "alice".into(),
        host: String::new(),
        request_id: Some(format!("req-{at}")),
        action: action.into(),
        target: "bob".into(),
        detail: "suspended".into(),
    };
    store
        .fleet_write(|tx| {
            // Appended out of time order: listed by time, ties in order.
            for (at, action) in [
                (NOW + 10, "late"),
                (NOW - 10, "old"),
                (NOW, "first"),
                (NOW, "second"),
            ] {
                tx.append_audit(&entry(at, action))?;
                tx.insert_report(
                    host.id,
                    at,
                    "login",
                    &format!("{{\"action\":\"{action}\"}}"),
                )?;
                tx.claim_request(&RequestClaim {
                    id: format!("{action}-{at}"),
                    at,
                    person: "alice".into(),
                    host: "web1".into(),
                    action: action.into(),
                })?;
            }
            Ok(())
        })
        .unwrap();
    let listed: Vec<String> = store
        .fleet_read(|tx| tx.audit_since(NOW - 100))
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(listed, ["old", "first", "second", "late"]);
    assert_eq!(
        store.fleet_read(|tx| tx.audit_since(NOW)).unwrap(),
        [
            entry(NOW, "first"),
            entry(NOW, "second"),
            entry(NOW + 10, "late")
        ]
    );

    let purged = store.fleet_write(|tx| tx.purge_before(NOW)).unwrap();
    assert_eq!(
        purged,
        PurgeCounts {
            audit: 1,
            reports: 1,
            requests: 1
        }
    );
    let (audit, reports, old, kept) = store
        .fleet_read(|tx| {
            Ok((
                tx.audit_since(0)?,
                tx.reports(Some(host.id), 0)?,
                tx.request(&format!("old-{}", NOW - 10))?,
                tx.request(&format!("first-{NOW}"))?,
            ))
        })
        .unwrap();
    assert_eq!(audit.len(), 3);
    assert!(audit.iter().all(|a| a.at >= NOW));
    assert_eq!(
        reports.iter().map(|r| r.at).collect::<Vec<_>>(),
        [NOW, NOW, NOW + 10]
    );
    assert!(
        reports
            .iter()
            .all(|r| r.host_id == host.id && r.kind == "login")
    );
    assert_eq!(old, None);
    assert!(kept.is_some());
    // Nothing left to purge; the change log is not purged here.
    let head = store.fleet_read(|tx| tx.change_head()).unwrap();
    assert_eq!(
        store.fleet_write(|tx| tx.purge_before(NOW)).unwrap(),
        PurgeCounts::default()
    );
    assert_eq!(
        store
            .fleet_read(|tx| tx.changes_after(0, 100))
            .unwrap()
            .len(),
        usize::try_from(head).unwrap()
    );
    // A report about a host that doesn't exist is refused.
    assert!(matches!(
        store.fleet_write(|tx| tx.insert_report(999_999, NOW, "login", "{}")),
        Err(Error::Store(_))
    ));
}
