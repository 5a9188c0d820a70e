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
//!
//! Step 2 is the fleet's (DESIGN.md "Fleet mode"): its tables, and the
//! triggers that write the change log in the transaction of every change
//! hosts are told about (see the crate's doc, "The fleet").

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
    // 2: the fleet (DESIGN.md "Fleet mode"): the store's epoch, the
    // environments' fleet settings, hosts and what they reported, join
    // tokens, the change log and the triggers that fill it, request ids,
    // the audit and the hosts' reports.
    r#"
    -- One row, made by `init` (never by this migration) and replaced by
    -- `restore`: hosts that see another epoch drop their cursor.
    CREATE TABLE store_meta (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        epoch    TEXT NOT NULL CHECK (epoch ~ '^[0-9a-hjkmnp-tv-z]{26}$'),
        created  BIGINT NOT NULL
    );

    ALTER TABLE environments
        ADD COLUMN login_level TEXT NOT NULL DEFAULT 'write'
            CHECK (login_level IN ('status', 'read', 'write', 'admin')),
        ADD COLUMN offline_grace BIGINT NOT NULL DEFAULT 86400 CHECK (offline_grace >= 0),
        ADD COLUMN host_root_is_admin BOOLEAN NOT NULL DEFAULT false;

    -- An environment with hosts can't be removed (RESTRICT): its hosts
    -- go first.
    CREATE TABLE hosts (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name         TEXT COLLATE "C" NOT NULL,
        environment  TEXT COLLATE "C" NOT NULL
                     REFERENCES environments (name) ON UPDATE RESTRICT ON DELETE RESTRICT,
        enrolled     BIGINT NOT NULL,
        public_key   BYTEA NOT NULL,
        cert_serial  TEXT NOT NULL,
        -- The certificate renewal replaced: still good for renewing again,
        -- should the host have lost the renewal's answer.
        prev_cert_serial TEXT NOT NULL DEFAULT '',
        cert_expires BIGINT NOT NULL,
        last_seen    BIGINT,
        cursor       BIGINT NOT NULL DEFAULT 0,
        protocol     INTEGER NOT NULL CHECK (protocol >= 0),
        revoked      BIGINT
    );
    CREATE INDEX hosts_by_environment ON hosts (environment);
    -- One live host a name; a revoked one keeps its row (told "revoked" at
    -- its next request) while a reinstalled machine enrolls under the name.
    CREATE UNIQUE INDEX hosts_live_name ON hosts (name) WHERE revoked IS NULL;

    -- The names and ids a host uses inside Roster's range, as it reported
    -- them at enrollment (a create colliding with one is refused).
    CREATE TABLE host_ids (
        host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
        kind    TEXT NOT NULL CHECK (kind IN ('user', 'group')),
        name    TEXT COLLATE "C" NOT NULL,
        id      BIGINT NOT NULL CHECK (id BETWEEN 0 AND 4294967295)
    );
    CREATE INDEX host_ids_by_host ON host_ids (host_id);
    CREATE INDEX host_ids_by_name ON host_ids (name);
    CREATE INDEX host_ids_by_id ON host_ids (id);

    -- A host's local id ranges (login.defs, subordinate ids).
    CREATE TABLE host_ranges (
        host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
        kind    TEXT NOT NULL CHECK (kind IN ('uid', 'gid', 'subuid', 'subgid',
                                               'login_defs_uid', 'login_defs_gid',
                                               'login_defs_sys_uid', 'login_defs_sys_gid')),
        first   BIGINT NOT NULL CHECK (first >= 0),
        count   BIGINT NOT NULL CHECK (count >= 0)
    );
    CREATE INDEX host_ranges_by_host ON host_ranges (host_id);

    -- The secret is stored as its SHA-256 (the controller hashes). A
    -- token of a removed environment is useless: it goes with it.
    CREATE TABLE join_tokens (
        public_id   TEXT COLLATE "C" PRIMARY KEY,
        hash        BYTEA NOT NULL,
        environment TEXT COLLATE "C" NOT NULL
                    REFERENCES environments (name) ON DELETE CASCADE,
        created     BIGINT NOT NULL,
        expires     BIGINT NOT NULL,
        created_by  TEXT NOT NULL,
        used        BIGINT,
        used_by     BIGINT REFERENCES hosts (id) ON DELETE SET NULL
    );

    -- The change log. Every writing transaction bumps the one
    -- change_head row first (the triggers below do it): the row lock it
    -- takes is held to the commit, so a second writer's bump waits for
    -- the first's commit and sequence order is commit order, and a reader
    -- reading after a cursor can never skip a row committed later.
    CREATE TABLE change_head (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        seq      BIGINT NOT NULL CHECK (seq >= 0)
    );
    INSERT INTO change_head (seq) VALUES (0);

    CREATE TABLE change_log (
        seq         BIGINT PRIMARY KEY,
        at          BIGINT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('user', 'environment', 'retired', 'host')),
        uid         BIGINT CHECK (uid BETWEEN 0 AND 4294967295),
        environment TEXT COLLATE "C",
        host_id     BIGINT,
        request_id  TEXT
    );

    -- One change-log row: the head bumped (its row lock held to the
    -- commit), the row written with the transaction's time and request id
    -- when it set them (SET LOCAL roster.change_time / roster.request_id),
    -- and the doorbell rung (NOTIFY is delivered at commit, never after a
    -- rollback). The search path is the one the migration ran with, so a
    -- caller's own search path can't point the trigger at other tables.
    CREATE FUNCTION roster_log_change(change_kind TEXT, change_uid BIGINT,
                                      change_environment TEXT, change_host BIGINT)
    RETURNS VOID LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    DECLARE
        next_seq BIGINT;
    BEGIN
        UPDATE change_head SET seq = seq + 1 RETURNING seq INTO next_seq;
        INSERT INTO change_log (seq, at, kind, uid, environment, host_id, request_id)
        VALUES (next_seq,
                COALESCE(NULLIF(current_setting('roster.change_time', true), '')::BIGINT,
                         floor(extract(epoch FROM now()))::BIGINT),
                change_kind, change_uid, change_environment, change_host,
                NULLIF(current_setting('roster.request_id', true), ''));
        PERFORM pg_notify('roster_changes', next_seq::TEXT);
    END
    $fn$;

    CREATE FUNCTION roster_user_changed() RETURNS TRIGGER
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM roster_log_change('user', OLD.uid, NULL, NULL);
        ELSE
            PERFORM roster_log_change('user', NEW.uid, NULL, NULL);
        END IF;
        RETURN NULL;
    END
    $fn$;

    -- A grant names its environment too (hosts of that environment care).
    CREATE FUNCTION roster_grant_changed() RETURNS TRIGGER
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM roster_log_change('user', OLD.uid, OLD.environment, NULL);
        ELSE
            PERFORM roster_log_change('user', NEW.uid, NEW.environment, NULL);
        END IF;
        RETURN NULL;
    END
    $fn$;

    CREATE FUNCTION roster_environment_changed() RETURNS TRIGGER
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            PERFORM roster_log_change('environment', NULL, OLD.name, NULL);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name) THEN
            PERFORM roster_log_change('environment', NULL, NEW.name, NULL);
        END IF;
        RETURN NULL;
    END
    $fn$;

    CREATE FUNCTION roster_retired() RETURNS TRIGGER
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
        PERFORM roster_log_change('retired', NEW.uid, NULL, NULL);
        RETURN NULL;
    END
    $fn$;

    CREATE FUNCTION roster_host_changed() RETURNS TRIGGER
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM roster_log_change('host', NULL, OLD.environment, OLD.id);
        ELSE
            PERFORM roster_log_change('host', NULL, NEW.environment, NEW.id);
        END IF;
        RETURN NULL;
    END
    $fn$;

    -- What hosts are told about. Not logged: lockouts, sessions, tokens,
    -- codes, a user's last login (a login is not a change anyone else
    -- needs), a host's last_seen, cursor and certificate.
    CREATE TRIGGER users_logged AFTER INSERT OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION roster_user_changed();
    CREATE TRIGGER users_updated_logged AFTER UPDATE ON users
        FOR EACH ROW
        WHEN ((to_jsonb(OLD) - 'last_login') IS DISTINCT FROM (to_jsonb(NEW) - 'last_login'))
        EXECUTE FUNCTION roster_user_changed();
    CREATE TRIGGER grants_logged AFTER INSERT OR DELETE ON grants
        FOR EACH ROW EXECUTE FUNCTION roster_grant_changed();
    CREATE TRIGGER grants_updated_logged AFTER UPDATE ON grants
        FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW)
        EXECUTE FUNCTION roster_grant_changed();
    CREATE TRIGGER ssh_keys_logged AFTER INSERT OR DELETE ON ssh_keys
        FOR EACH ROW EXECUTE FUNCTION roster_user_changed();
    CREATE TRIGGER environments_logged AFTER INSERT OR DELETE ON environments
        FOR EACH ROW EXECUTE FUNCTION roster_environment_changed();
    CREATE TRIGGER environments_updated_logged AFTER UPDATE ON environments
        FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW)
        EXECUTE FUNCTION roster_environment_changed();
    CREATE TRIGGER retired_uids_logged AFTER INSERT ON retired_uids
        FOR EACH ROW EXECUTE FUNCTION roster_retired();
    CREATE TRIGGER retired_uids_updated_logged AFTER UPDATE ON retired_uids
        FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW)
        EXECUTE FUNCTION roster_retired();
    CREATE TRIGGER hosts_updated_logged AFTER UPDATE ON hosts
        FOR EACH ROW
        WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked
              OR OLD.name IS DISTINCT FROM NEW.name
              OR OLD.environment IS DISTINCT FROM NEW.environment
              OR OLD.cert_serial IS DISTINCT FROM NEW.cert_serial)
        EXECUTE FUNCTION roster_host_changed();
    CREATE TRIGGER hosts_deleted_logged AFTER DELETE ON hosts
        FOR EACH ROW EXECUTE FUNCTION roster_host_changed();

    -- A request id and its first answer: a repeat gets that answer.
    -- answer NULL: applied, its answer not stored yet.
    CREATE TABLE request_ids (
        id     TEXT COLLATE "C" PRIMARY KEY,
        at     BIGINT NOT NULL,
        person TEXT NOT NULL,
        host   TEXT NOT NULL,
        action TEXT NOT NULL,
        answer TEXT
    );
    CREATE INDEX request_ids_by_time ON request_ids (at);

    -- Who changed what. host '' = the controller machine.
    CREATE TABLE audit (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at         BIGINT NOT NULL,
        person     TEXT NOT NULL,
        host       TEXT NOT NULL,
        request_id TEXT,
        action     TEXT NOT NULL,
        target     TEXT NOT NULL,
        detail     TEXT NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (at);

    CREATE TABLE host_reports (
        id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        host_id BIGINT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
        at      BIGINT NOT NULL,
        kind    TEXT NOT NULL,
        body    TEXT NOT NULL
    );
    CREATE INDEX host_reports_by_time ON host_reports (at);
    CREATE INDEX host_reports_by_host ON host_reports (host_id, at);
    "#,
    // 3: secrets, SQLite's schema 3 (core seals the values: ciphertext,
    // nonces and keyed checksums only). Not in the change log: hosts
    // cache no secret.
    r#"
    CREATE TABLE secrets (
        id            TEXT COLLATE "C" PRIMARY KEY,
        owner_uid     BIGINT REFERENCES users (uid) ON DELETE CASCADE,
        owner_env     TEXT COLLATE "C" REFERENCES environments (name) ON DELETE CASCADE,
        name          TEXT COLLATE "C" NOT NULL,
        description   TEXT NOT NULL,
        rotation      TEXT NOT NULL CHECK (rotation IN
                          ('never', 'hourly', 'daily', 'weekly', 'monthly', 'quarterly', 'yearly')),
        next_rotation BIGINT,
        latest        BIGINT NOT NULL CHECK (latest >= 1),
        created       BIGINT NOT NULL,
        updated       BIGINT NOT NULL,
        CHECK ((owner_uid IS NULL) <> (owner_env IS NULL))
    );
    CREATE UNIQUE INDEX secrets_by_user ON secrets (owner_uid, name) WHERE owner_uid IS NOT NULL;
    CREATE UNIQUE INDEX secrets_by_environment ON secrets (owner_env, name) WHERE owner_env IS NOT NULL;

    CREATE TABLE secret_revisions (
        secret       TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        revision     BIGINT NOT NULL CHECK (revision >= 1),
        created      BIGINT NOT NULL,
        expires      BIGINT,
        checksum     BYTEA NOT NULL,
        checksum_key TEXT NOT NULL,
        PRIMARY KEY (secret, revision)
    );

    CREATE TABLE secret_values (
        secret     TEXT COLLATE "C" NOT NULL,
        revision   BIGINT NOT NULL,
        key        TEXT COLLATE "C" NOT NULL,
        key_id     TEXT NOT NULL,
        nonce      BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (secret, revision, key),
        FOREIGN KEY (secret, revision) REFERENCES secret_revisions (secret, revision) ON DELETE CASCADE
    );

    CREATE TABLE secret_grants (
        secret TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        uid    BIGINT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        role   TEXT NOT NULL CHECK (role IN ('view', 'manage')),
        PRIMARY KEY (secret, uid)
    );

    CREATE TABLE secret_pins (
        secret   TEXT COLLATE "C" NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
        uid      BIGINT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
        revision BIGINT NOT NULL,
        PRIMARY KEY (secret, uid)
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
    migrate_to(client, MIGRATIONS.len())
}

/// Bring the schema up to version `target` (at most the newest): what
/// [`migrate`] does, stopping early, so a test can make a database as an
/// older build left it. A database newer than this build is refused; one
/// already past `target` is left as it is.
pub fn migrate_to(client: &mut Client, target: usize) -> roster_core::Result<()> {
    let known = MIGRATIONS.len();
    let target = target.min(known);
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
        let step = if current < target {
            MIGRATIONS.get(current)
        } else {
            None
        };
        let Some(step) = step else {
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
