use crate::error::Error;
use crate::level::Level;
use crate::model::{Role, User, UserState};
use crate::store::SqliteStore as Store;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

fn user(uid: u32, name: &str) -> User {
    User {
        name: name.into(),
        display_name: String::new(),
        role: Role::User,
        state: UserState::Active,
        uid,
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
        created: 1,
        last_login: None,
        password_changed: None,
        locked_until: None,
        grants: Default::default(),
    }
}

#[test]
fn migrates_an_empty_file_and_sets_the_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/roster.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 4);
    assert_eq!(store.settings().unwrap(), ("wal".to_string(), 2, 1));
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "environments",
            "fleet_reports",
            "fleet_state",
            "grants",
            "lockouts",
            "registration_codes",
            "retired_uids",
            "secret_grants",
            "secret_pins",
            "secret_revisions",
            "secret_values",
            "secrets",
            "sessions",
            "ssh_keys",
            "tokens",
            "users"
        ]
    );
}

#[test]
fn reopening_keeps_data_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db");
    let mut store = Store::open(&path).unwrap();
    store.write(|tx| tx.insert_environment("lab", 5)).unwrap();
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 4);
    let env = store.read(|tx| tx.environment("lab")).unwrap().unwrap();
    assert_eq!((env.name.as_str(), env.created, env.grants), ("lab", 5, 0));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 7).unwrap();
    drop(conn);
    match Store::open(&path) {
        Err(Error::Store(m)) => {
            assert!(m.contains("schema version 7") && m.contains("newer"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn modes_are_0600_in_0700() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("new/deeper");
    let path = folder.join("roster.db");
    let mut store = Store::open(&path).unwrap();
    store.write(|tx| tx.insert_environment("lab", 5)).unwrap();
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&path), 0o600);
    let wal = folder.join("roster.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal) & 0o077, 0, "the WAL is as private as the file");
}

#[test]
fn loose_modes_are_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("loose");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = folder.join("roster.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_shared_folder_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("someone-elses-file"), b"x").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    match Store::open(&shared.join("roster.db")) {
        Err(Error::Store(m)) => assert!(m.contains("folder of its own"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(mode(&shared), 0o755, "never chmod a shared folder");
    assert!(!shared.join("roster.db").exists(), "nothing created");
    // Like /tmp: sticky and world-writable.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(matches!(
        Store::open(&tmp.join("roster.db")),
        Err(Error::Store(_))
    ));
    assert_eq!(mode(&tmp), 0o1777);
    // A private folder holding other files is fine.
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(private.join("other"), b"x").unwrap();
    drop(Store::open(&private.join("roster.db")).unwrap());
}

#[test]
fn a_database_owned_by_someone_else_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // only root can give a file away
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db");
    std::fs::write(&path, b"").unwrap();
    std::os::unix::fs::chown(&path, Some(54321), None).unwrap();
    match Store::open(&path) {
        Err(Error::Store(m)) => assert!(m.contains("belongs to uid 54321"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_transaction_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("roster.db")).unwrap();
    let result: crate::Result<()> = store.write(|tx| {
        tx.insert_environment("lab", 1)?;
        tx.insert_user(&user(2_000_000_000, "bob"), None)?;
        tx.set_grant(2_000_000_000, "lab", Level::Read)?;
        Err(Error::Conflict("changed my mind".into()))
    });
    assert!(matches!(result, Err(Error::Conflict(_))));
    store
        .read(|tx| {
            assert!(tx.environment("lab")?.is_none());
            assert!(tx.user("bob", 0)?.is_none());
            assert!(tx.all_grants()?.is_empty());
            Ok(())
        })
        .unwrap();
    // A statement failing half-way (a duplicate) also rolls back the rest.
    let result = store.write(|tx| {
        tx.insert_environment("one", 1)?;
        tx.insert_environment("one", 1)
    });
    assert!(matches!(result, Err(Error::Store(_))));
    assert!(store.read(|tx| tx.environment("one")).unwrap().is_none());
}

#[test]
fn foreign_keys_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("roster.db")).unwrap();
    // A grant for a user or environment that doesn't exist.
    assert!(
        store
            .write(|tx| tx.set_grant(42, "default", Level::Read))
            .is_err()
    );
    store
        .write(|tx| {
            tx.insert_environment("lab", 1)?;
            tx.insert_user(&user(7, "bob"), Some("$argon2id$x"))
        })
        .unwrap();
    assert!(
        store
            .write(|tx| tx.set_grant(7, "nope", Level::Read))
            .is_err()
    );
    // Deleting cascades: the grant goes with the environment or the user.
    store
        .write(|tx| tx.set_grant(7, "lab", Level::Admin))
        .unwrap();
    assert_eq!(store.write(|tx| tx.delete_environment("lab")).unwrap(), 1);
    store
        .write(|tx| {
            tx.insert_environment("lab", 1)?;
            tx.set_grant(7, "lab", Level::Read)?;
            tx.delete_user(7, "bob", 9)
        })
        .unwrap();
    store
        .read(|tx| {
            assert!(tx.all_grants()?.is_empty());
            assert!(tx.is_retired(7)?);
            assert_eq!(tx.taken_uids(0, 100)?, vec![7]);
            Ok(())
        })
        .unwrap();
}

#[test]
fn hand_edited_enums_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db");
    let mut store = Store::open(&path).unwrap();
    store
        .write(|tx| tx.insert_user(&user(7, "bob"), None))
        .unwrap();
    // CHECK constraints refuse bad values, so go around them.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA ignore_check_constraints = ON; UPDATE users SET role = 'god';")
        .unwrap();
    drop(conn);
    match store.read(|tx| tx.user("bob", 0)) {
        Err(Error::Store(m)) => assert!(m.contains("god"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn migration_4_turns_marked_session_rows_into_live_session_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    // A database as rosterd left it at version 3, with queued reports.
    for (index, step) in crate::store::sqlite::migrations::MIGRATIONS[..3]
        .iter()
        .enumerate()
    {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(step).unwrap();
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .unwrap();
        tx.commit().unwrap();
    }
    conn.execute_batch(
        "INSERT INTO fleet_reports (at, kind, text) VALUES
            (10, 'session', 'opened bob'),
            (11, 'session', 'live_sessions [{\"id\":1}]'),
            (12, 'audit', 'live_sessions in an audit line stays');",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 4);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(i64, String, String)> = conn
        .prepare("SELECT id, kind, text FROM fleet_reports ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, "session".into(), "opened bob".into()),
            (2, "live_sessions".into(), "[{\"id\":1}]".into()),
            (
                3,
                "audit".into(),
                "live_sessions in an audit line stays".into()
            ),
        ]
    );
    // New rows keep counting after the copied ones.
    conn.execute(
        "INSERT INTO fleet_reports (at, kind, text) VALUES (13, 'live_sessions', '[]')",
        [],
    )
    .unwrap();
    let last: i64 = conn
        .query_row("SELECT max(id) FROM fleet_reports", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last, 4);
}
