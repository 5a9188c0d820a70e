//! The schema, as a list of steps: step N takes `schema_version` N to
//! N+1. Append only; never edit a released step.
//!
//! Today's tables are SQLite's (core/src/store/sqlite/migrations.rs) in
//! PostgreSQL's types: timestamps and uids BIGINT (a CHECK keeps uids in
//! u32's range), hashes as SQLite stores them (password hashes TEXT, code
//! and token hashes and key blobs BYTEA). Names that are sorted compare
//! bytewise (`COLLATE "C"`), as SQLite's BINARY does, whatever locale the
//! database was created with. `ssh_keys.seq` stands in for SQLite's
//! rowid (keys list oldest first, ties in insertion order); sessions'
//! `user` column is `user_name` (USER is reserved here).

use crate::{WRITE_LOCK, db, message};
use postgres::Client;
use roster_core::error::Error;

pub const MIGRATIONS: &[&str] = &[
    // 1: SQLite's schema 1.
    r#"
    CREATE TABLE users (
        uid              BIGINT PRIMARY KEY CHECK (uid BETWEEN 0 AND 4294967295),
        name             TEXT COLLATE "C" NOT NULL UNIQUE,
        display_name     TEXT NOT NULL,
        role             TEXT NOT NULL CHECK (role IN ('admin', 'user')),
        state            TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'pending')),
        home             TEXT NOT NULL,
        shell            TEXT NOT NULL,
        created          BIGINT NOT NULL,
        last_login       BIGINT,
        password_hash    TEXT,
        password_changed BIGINT
    );

    -- Every uid ever handed out and since deleted: never handed out again
    -- (a reused uid would inherit the old user's files).
    CREATE TABLE retired_uids (
        uid     BIGINT PRIMARY KEY,
        name    TEXT NOT NULL,
        retired BIGINT NOT NULL
    );

    CREATE TABLE environments (
        name    TEXT COLLATE "C" PRIMARY KEY,
        created BIGINT NOT NULL
    );

    CREATE TABLE grants (
        uid         BIGINT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        environment TEXT COLLATE "C" NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
        level       TEXT NOT NULL CHECK (level IN ('status', 'read', 'write', 'admin')),
        PRIMARY KEY (uid, environment)
    );
    CREATE INDEX grants_by_environment ON grants (environment);

    -- No foreign key: a deleted user's sessions stay as history, and the
    -- reaper still needs them while its processes end. Ids are never
    -- reused (SQLite's AUTOINCREMENT).
    CREATE TABLE sessions (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        uid          BIGINT NOT NULL,
        user_name    TEXT NOT NULL,
        service      TEXT NOT NULL,
        tty          TEXT NOT NULL,
        remote_host  TEXT NOT NULL,
        leader_pid   BIGINT NOT NULL,
        leader_start BIGINT NOT NULL,
        started      BIGINT NOT NULL,
        ended        BIGINT
    );
    CREATE INDEX sessions_live ON sessions (uid) WHERE ended IS NULL;

    -- remote_host '' = a local login.
    CREATE TABLE lockouts (
        uid          BIGINT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        remote_host  TEXT NOT NULL,
        failures     TEXT NOT NULL,
        locked_until BIGINT,
        PRIMARY KEY (uid, remote_host)
    );

    -- One live code per user (a new one replaces the old).
    CREATE TABLE registration_codes (
        uid       BIGINT PRIMARY KEY REFERENCES users (uid) ON DELETE CASCADE,
        public_id TEXT NOT NULL UNIQUE,
        hash      BYTEA NOT NULL,
        created   BIGINT NOT NULL,
        expires   BIGINT NOT NULL
    );

    -- No foreign key: a deleted user's tokens stay, revoked, so a caller
    -- presenting one hears "token revoked" rather than "unknown token".
    CREATE TABLE tokens (
        public_id TEXT COLLATE "C" PRIMARY KEY,
        uid       BIGINT NOT NULL,
        name      TEXT NOT NULL,
        scope     TEXT NOT NULL CHECK (scope IN ('read-only', 'full')),
        hash      BYTEA NOT NULL,
        created   BIGINT NOT NULL,
        last_used BIGINT,
        expires   BIGINT,
        revoked   BIGINT
    );
    CREATE INDEX tokens_by_uid ON tokens (uid);

    CREATE TABLE ssh_keys (
        seq         BIGINT GENERATED ALWAYS AS IDENTITY,
        uid         BIGINT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        key_type    TEXT NOT NULL,
        blob        BYTEA NOT NULL,
        comment     TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        added       BIGINT NOT NULL,
        PRIMARY KEY (uid, fingerprint)
    );
    "#,
];

/// The version table: one row, made by the first migration run.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version ( \
     only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), \
     version  BIGINT NOT NULL CHECK (version >= 0)); \
     INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;";

/// Bring the schema to the newest version, each step in its own
/// transaction with its version bump, under the write lock.
pub fn migrate(client: &mut Client) -> roster_core::Result<()> {
    let known = MIGRATIONS.len();
    loop {
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(db)?;
        tx.batch_execute(VERSION_TABLE).map_err(db)?;
        let current: i64 = tx
            .query_one("SELECT version FROM schema_version", &[])
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        if current > known {
            return Err(newer(current, known));
        }
        let Some(step) = MIGRATIONS.get(current) else {
            // Up to date (possibly migrated by another replica meanwhile).
            return tx.commit().map_err(db);
        };
        tx.batch_execute(step).map_err(|e| {
            Error::Store(format!(
                "PostgreSQL migration {} failed: {}",
                current + 1,
                message(&e)
            ))
        })?;
        let next = i64::try_from(current + 1).unwrap_or(i64::MAX);
        tx.execute("UPDATE schema_version SET version = $1", &[&next])
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
}

fn newer(current: usize, known: usize) -> Error {
    Error::Store(format!(
        "the PostgreSQL database has schema version {current}, newer than this build knows ({known}): run the newer build or restore a backup"
    ))
}

/// The version the database is at (0 before the first migration).
pub fn version(client: &mut Client) -> roster_core::Result<u32> {
    let version: i64 = client
        .query_one("SELECT version FROM schema_version", &[])
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    u32::try_from(version)
        .map_err(|_| Error::Store(format!("the schema version {version} is out of range")))
}
