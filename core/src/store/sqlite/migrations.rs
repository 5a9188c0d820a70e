//! The schema, as a list of steps: step N takes `user_version` N to N+1.
//! Append only; never edit a released step.

use crate::error::Error;
use rusqlite::Connection;
use std::path::Path;

pub const MIGRATIONS: &[&str] = &[
    // 1: everything through tokens, codes and SSH keys, created at once so
    // the next features don't churn the schema.
    r#"
    CREATE TABLE users (
        uid              INTEGER PRIMARY KEY,
        name             TEXT NOT NULL UNIQUE,
        display_name     TEXT NOT NULL,
        role             TEXT NOT NULL CHECK (role IN ('admin', 'user')),
        state            TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'pending')),
        home             TEXT NOT NULL,
        shell            TEXT NOT NULL,
        created          INTEGER NOT NULL,
        last_login       INTEGER,
        password_hash    TEXT,
        password_changed INTEGER
    ) STRICT;

    -- Every uid ever handed out and since deleted: never handed out again
    -- (a reused uid would inherit the old user's files).
    CREATE TABLE retired_uids (
        uid     INTEGER PRIMARY KEY,
        name    TEXT NOT NULL,
        retired INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE environments (
        name    TEXT PRIMARY KEY,
        created INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE grants (
        uid         INTEGER NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
        level       TEXT NOT NULL CHECK (level IN ('status', 'read', 'write', 'admin')),
        PRIMARY KEY (uid, environment)
    ) STRICT;
    CREATE INDEX grants_by_environment ON grants (environment);

    -- No foreign key: a deleted user's sessions stay as history, and the
    -- reaper still needs them while its processes end.
    CREATE TABLE sessions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        uid          INTEGER NOT NULL,
        user         TEXT NOT NULL,
        service      TEXT NOT NULL,
        tty          TEXT NOT NULL,
        remote_host  TEXT NOT NULL,
        leader_pid   INTEGER NOT NULL,
        leader_start INTEGER NOT NULL,
        started      INTEGER NOT NULL,
        ended        INTEGER
    ) STRICT;
    CREATE INDEX sessions_live ON sessions (uid) WHERE ended IS NULL;

    -- remote_host '' = a local login.
    CREATE TABLE lockouts (
        uid          INTEGER NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        remote_host  TEXT NOT NULL,
        failures     TEXT NOT NULL,
        locked_until INTEGER,
        PRIMARY KEY (uid, remote_host)
    ) STRICT;

    -- One live code per user (a new one replaces the old).
    CREATE TABLE registration_codes (
        uid       INTEGER PRIMARY KEY REFERENCES users (uid) ON DELETE CASCADE,
        public_id TEXT NOT NULL UNIQUE,
        hash      BLOB NOT NULL,
        created   INTEGER NOT NULL,
        expires   INTEGER NOT NULL
    ) STRICT;

    -- No foreign key: a deleted user's tokens stay, revoked, so a caller
    -- presenting one hears "token revoked" rather than "unknown token".
    CREATE TABLE tokens (
        public_id TEXT PRIMARY KEY,
        uid       INTEGER NOT NULL,
        name      TEXT NOT NULL,
        scope     TEXT NOT NULL CHECK (scope IN ('read-only', 'full')),
        hash      BLOB NOT NULL,
        created   INTEGER NOT NULL,
        last_used INTEGER,
        expires   INTEGER,
        revoked   INTEGER
    ) STRICT;
    CREATE INDEX tokens_by_uid ON tokens (uid);

    CREATE TABLE ssh_keys (
        uid         INTEGER NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        key_type    TEXT NOT NULL,
        blob        BLOB NOT NULL,
        comment     TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        added       INTEGER NOT NULL,
        PRIMARY KEY (uid, fingerprint)
    ) STRICT;
    "#,
    // 2: fleet mode. A host enrolled with a controller keeps one row of
    // where its feed stands and what its environment's policy is, in the
    // transaction that applies each batch; and what it has to report,
    // until the controller has it.
    r#"
    CREATE TABLE fleet_state (
        one                INTEGER PRIMARY KEY CHECK (one = 1),
        epoch              TEXT NOT NULL,
        cursor             INTEGER NOT NULL,
        environment        TEXT NOT NULL,
        login_level        TEXT NOT NULL CHECK (login_level IN ('status', 'read', 'write', 'admin')),
        offline_grace      INTEGER NOT NULL CHECK (offline_grace >= 0),
        host_root_is_admin INTEGER NOT NULL CHECK (host_root_is_admin IN (0, 1)),
        answered_wall      INTEGER NOT NULL,
        answered_boot_ms   INTEGER NOT NULL,
        answered_boot_id   TEXT NOT NULL,
        wall_seen          INTEGER NOT NULL,
        controller_offset  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE fleet_reports (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        at   INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'login_result', 'audit')),
        text TEXT NOT NULL
    ) STRICT;
    "#,
    // 3: secrets (DESIGN.md "Secrets"). Values are sealed by core: the
    // database holds ciphertext, nonces and keyed checksums, never
    // plaintext. An owner is a user (its secrets go with it) or an
    // environment (its secrets go with it).
    r#"
    CREATE TABLE secrets (
        id            TEXT PRIMARY KEY,
        owner_uid     INTEGER REFERENCES users (uid) ON DELETE CASCADE,
        owner_env     TEXT REFERENCES environments (name) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        description   TEXT NOT NULL,
        rotation      TEXT NOT NULL CHECK (rotation IN
                          ('never', 'hourly', 'daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
        next_rotation INTEGER,
        latest        INTEGER NOT NULL CHECK (latest >= 1),
        created       INTEGER NOT NULL,
        updated       INTEGER NOT NULL,
        CHECK ((owner_uid IS NULL) <> (owner_env IS NULL))
    ) STRICT;
    CREATE UNIQUE INDEX secrets_by_user ON secrets (owner_uid, name) WHERE owner_uid IS NOT NULL;
    CREATE UNIQUE INDEX secrets_by_environment ON secrets (owner_env, name) WHERE owner_env IS NOT NULL;

    CREATE TABLE secret_revisions (
        secret       TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        revision     INTEGER NOT NULL CHECK (revision >= 1),
        created      INTEGER NOT NULL,
        expires      INTEGER,
        checksum     BLOB NOT NULL,
        checksum_key TEXT NOT NULL,
        PRIMARY KEY (secret, revision)
    ) STRICT;

    CREATE TABLE secret_values (
        secret     TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        key        TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        nonce      BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (secret, revision, key),
        FOREIGN KEY (secret, revision) REFERENCES secret_revisions (secret, revision) ON DELETE CASCADE
    ) STRICT;

    CREATE TABLE secret_grants (
        secret TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        uid    INTEGER NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        role   TEXT NOT NULL CHECK (role IN ('view', 'manage')),
        PRIMARY KEY (secret, uid)
    ) STRICT;

    -- The revision each reader tracks (Juju's tracking).
    CREATE TABLE secret_pins (
        secret   TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        uid      INTEGER NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        revision INTEGER NOT NULL,
        PRIMARY KEY (secret, uid)
    ) STRICT;
    "#,
    // 4: a fleet host's live-session list is a report kind of its own
    // (it rode as a `session` row whose text began "live_sessions ").
    // SQLite can't change a CHECK: the queue is copied into a new table.
    r#"
    CREATE TABLE fleet_reports_v4 (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        at   INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'login_result', 'audit', 'live_sessions')),
        text TEXT NOT NULL
    ) STRICT;
    INSERT INTO fleet_reports_v4 (id, at, kind, text)
        SELECT id, at,
               CASE WHEN kind = 'session' AND substr(text, 1, 14) = 'live_sessions '
                    THEN 'live_sessions' ELSE kind END,
               CASE WHEN kind = 'session' AND substr(text, 1, 14) = 'live_sessions '
                    THEN substr(text, 15) ELSE text END
        FROM fleet_reports;
    DROP TABLE fleet_reports;
    ALTER TABLE fleet_reports_v4 RENAME TO fleet_reports;
    "#,
];

/// Bring the schema to the newest version, each step in its own
/// transaction together with its `user_version` bump.
pub fn migrate(conn: &mut Connection, path: &Path) -> crate::Result<()> {
    let known = MIGRATIONS.len();
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > known {
        return Err(Error::Store(format!(
            "{} has schema version {current}, newer than this rosterd knows ({known}): run the newer rosterd or restore a backup",
            path.display()
        )));
    }
    for (index, step) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(step).map_err(|e| {
            Error::Store(format!(
                "migration {} of {} failed: {e}",
                index + 1,
                path.display()
            ))
        })?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}
