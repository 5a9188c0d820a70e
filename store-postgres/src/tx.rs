//! [`PgTx`]: every [`Transaction`] method, beside its SQL. Each mirrors
//! the SQLite method of the same name (core/src/store/sqlite/*.rs): the
//! same rows, order and NSS-visible flag.

use crate::db;
use postgres::Row;
use postgres::types::ToSql;
use roster_core::clock::Timestamp;
use roster_core::error::Error;
use roster_core::level::Level;
use roster_core::lockout::Counter;
use roster_core::model::{Environment, NewSession, Scope, Session, Token, User, UserState};
use roster_core::store::{CodeRow, KeyRow, TokenRow, Transaction};
use roster_core::store::{
    SealedValue, SecretGrantRow, SecretOwnerRow, SecretRevisionRow, SecretRow,
};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

pub(crate) type Result<T> = roster_core::Result<T>;
pub(crate) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// One open PostgreSQL transaction: the store's typed operations hang off
/// it. Dropped without a commit, it rolls back.
pub struct PgTx<'a> {
    pub(crate) tx: RefCell<postgres::Transaction<'a>>,
    /// Set by a method that changes what the NSS snapshot shows.
    pub(crate) view_changed: Cell<bool>,
}

/// A uid as stored: BIGINT (PostgreSQL has no unsigned type, and the
/// client maps `u32` to OID).
pub(crate) fn id(uid: u32) -> i64 {
    i64::from(uid)
}

/// A u64 the schema keeps in a BIGINT (a process start time in ticks
/// fits for 10^10 years), as SQLite's backend does.
fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(db)
}

/// A BIGINT column holding a u32 (uid, pid).
pub(crate) fn get_u32(row: &Row, index: usize) -> Result<u32> {
    let value: i64 = get(row, index)?;
    u32::try_from(value).map_err(|_| {
        Error::Store(format!(
            "{value} in the database's column {:?} is out of range for a uid or pid",
            row.columns().get(index).map(|c| c.name()).unwrap_or("?")
        ))
    })
}

/// A count or row total as core's u32.
pub(crate) fn count(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Text columns that hold an enum: a value we don't know means the
/// database was edited by hand or by a newer build.
pub(crate) fn corrupt(what: &str, value: &str) -> Error {
    Error::Store(format!("unknown {what} {value:?} in the database"))
}

pub(crate) fn level(text: &str) -> Result<Level> {
    text.parse().map_err(|_| corrupt("level", text))
}

pub(crate) const USER_COLUMNS: &str = "u.uid, u.name, u.display_name, u.role, u.state, u.home, u.shell, \
     u.created, u.last_login, u.password_changed, \
     (SELECT MAX(l.locked_until) FROM lockouts l WHERE l.uid = u.uid AND l.locked_until > $1)";

pub(crate) fn user_row(row: &Row) -> Result<User> {
    let role: String = get(row, 3)?;
    let state: String = get(row, 4)?;
    Ok(User {
        uid: get_u32(row, 0)?,
        name: get(row, 1)?,
        display_name: get(row, 2)?,
        role: role.parse().map_err(|_| corrupt("role", &role))?,
        state: state.parse().map_err(|_| corrupt("state", &state))?,
        home: get(row, 5)?,
        shell: get(row, 6)?,
        created: get(row, 7)?,
        last_login: get(row, 8)?,
        password_changed: get(row, 9)?,
        locked_until: get(row, 10)?,
        grants: BTreeMap::new(),
    })
}

const SESSION_COLUMNS: &str = "id, user_name, uid, service, tty, remote_host, leader_pid, \
     leader_start, started, ended";

fn session_row(row: &Row) -> Result<Session> {
    Ok(Session {
        id: get(row, 0)?,
        user: get(row, 1)?,
        uid: get_u32(row, 2)?,
        service: get(row, 3)?,
        tty: get(row, 4)?,
        remote_host: get(row, 5)?,
        leader_pid: get_u32(row, 6)?,
        leader_start: u64::try_from(get::<i64>(row, 7)?).unwrap_or(0),
        started: get(row, 8)?,
        ended: get(row, 9)?,
    })
}

const TOKEN_COLUMNS: &str = "t.public_id, COALESCE(u.name, r.name, ''), t.uid, t.name, t.scope, \
     t.created, t.last_used, t.expires, t.hash, t.revoked \
     FROM tokens t LEFT JOIN users u ON u.uid = t.uid LEFT JOIN retired_uids r ON r.uid = t.uid";

fn token_row(row: &Row) -> Result<TokenRow> {
    let scope: String = get(row, 4)?;
    let scope = Scope::from_word(&scope).ok_or_else(|| corrupt("token scope", &scope))?;
    Ok(TokenRow {
        token: Token {
            id: get(row, 0)?,
            user: get(row, 1)?,
            uid: get_u32(row, 2)?,
            name: get(row, 3)?,
            scope,
            created: get(row, 5)?,
            last_used: get(row, 6)?,
            expires: get(row, 7)?,
        },
        hash: get(row, 8)?,
        revoked: get(row, 9)?,
    })
}

fn code_row(row: &Row) -> Result<CodeRow> {
    Ok(CodeRow {
        uid: get_u32(row, 0)?,
        public_id: get(row, 1)?,
        hash: get(row, 2)?,
        created: get(row, 3)?,
        expires: get(row, 4)?,
    })
}

fn environment_row(row: &Row) -> Result<Environment> {
    Ok(Environment {
        name: get(row, 0)?,
        created: get(row, 1)?,
        grants: count(u64::try_from(get::<i64>(row, 2)?).unwrap_or(0)),
    })
}

const ENVIRONMENT_COLUMNS: &str = "e.name, e.created, \
     (SELECT COUNT(*) FROM grants g WHERE g.environment = e.name) FROM environments e";

impl PgTx<'_> {
    /// This transaction changes what the NSS snapshot shows: its commit
    /// sets the store's [`roster_core::store::CommitMark`].
    fn touches_view(&self) {
        self.view_changed.set(true);
    }

    /// Run one statement; answers how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        self.tx.borrow_mut().execute(sql, params).map_err(db)
    }

    pub(crate) fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.tx.borrow_mut().query(sql, params).map_err(db)
    }

    pub(crate) fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        self.tx.borrow_mut().query_opt(sql, params).map_err(db)
    }

    pub(crate) fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row> {
        self.tx.borrow_mut().query_one(sql, params).map_err(db)
    }

    fn with_grants(&self, mut user: User) -> Result<User> {
        user.grants = self.grants_of(user.uid)?;
        Ok(user)
    }

    fn one_user(&self, sql: &str, params: Params<'_>) -> Result<Option<User>> {
        self.query_opt(sql, params)?
            .map(|row| user_row(&row).and_then(|u| self.with_grants(u)))
            .transpose()
    }
}

impl Transaction for PgTx<'_> {
    // ---- users -------------------------------------------------------

    fn user(&self, name: &str, now: Timestamp) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.name = $2");
        self.one_user(&sql, &[&now, &name])
    }

    fn user_by_uid(&self, uid: u32, now: Timestamp) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.uid = $2");
        self.one_user(&sql, &[&now, &id(uid)])
    }

    fn users(&self, now: Timestamp) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.name");
        let mut users = self
            .query(&sql, &[&now])?
            .iter()
            .map(user_row)
            .collect::<Result<Vec<User>>>()?;
        let mut grants = self.all_grants()?;
        for user in &mut users {
            user.grants = grants.remove(&user.uid).unwrap_or_default();
        }
        Ok(users)
    }

    fn insert_user(&self, user: &User, password_hash: Option<&str>) -> Result<()> {
        self.touches_view();
        self.execute(
            "INSERT INTO users (uid, name, display_name, role, state, home, shell, created, \
             last_login, password_hash, password_changed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &id(user.uid),
                &user.name,
                &user.display_name,
                &user.role.as_str(),
                &user.state.as_str(),
                &user.home,
                &user.shell,
                &user.created,
                &user.last_login,
                &password_hash,
                &user.password_changed,
            ],
        )?;
        for (env, level) in &user.grants {
            self.set_grant(user.uid, env, *level)?;
        }
        Ok(())
    }

    fn update_profile(&self, user: &User) -> Result<()> {
        self.touches_view();
        self.execute(
            "UPDATE users SET display_name = $2, role = $3, home = $4, shell = $5 WHERE uid = $1",
            &[
                &id(user.uid),
                &user.display_name,
                &user.role.as_str(),
                &user.home,
                &user.shell,
            ],
        )?;
        Ok(())
    }

    fn set_state(&self, uid: u32, state: UserState) -> Result<()> {
        self.touches_view();
        self.execute(
            "UPDATE users SET state = $2 WHERE uid = $1",
            &[&id(uid), &state.as_str()],
        )?;
        Ok(())
    }

    fn set_password(&self, uid: u32, hash: Option<&str>, changed: Option<Timestamp>) -> Result<()> {
        self.execute(
            "UPDATE users SET password_hash = $2, password_changed = $3 WHERE uid = $1",
            &[&id(uid), &hash, &changed],
        )?;
        Ok(())
    }

    fn password_hash(&self, uid: u32) -> Result<Option<String>> {
        match self.query_opt(
            "SELECT password_hash FROM users WHERE uid = $1",
            &[&id(uid)],
        )? {
            Some(row) => get(&row, 0),
            None => Ok(None),
        }
    }

    fn set_last_login(&self, uid: u32, at: Timestamp) -> Result<()> {
        self.execute(
            "UPDATE users SET last_login = $2 WHERE uid = $1",
            &[&id(uid), &at],
        )?;
        Ok(())
    }

    fn delete_user(&self, uid: u32, name: &str, now: Timestamp) -> Result<()> {
        self.touches_view();
        // SQLite's INSERT OR REPLACE: the one conflict is the uid.
        self.execute(
            "INSERT INTO retired_uids (uid, name, retired) VALUES ($1, $2, $3) \
             ON CONFLICT (uid) DO UPDATE SET name = excluded.name, retired = excluded.retired",
            &[&id(uid), &name, &now],
        )?;
        self.execute("DELETE FROM users WHERE uid = $1", &[&id(uid)])?;
        Ok(())
    }

    fn active_admins(&self) -> Result<u32> {
        let row = self.query_one(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND state = 'active'",
            &[],
        )?;
        Ok(count(u64::try_from(get::<i64>(&row, 0)?).unwrap_or(0)))
    }

    fn taken_uids(&self, min: u32, max: u32) -> Result<Vec<u32>> {
        self.query(
            // In a fleet, an id an enrolled host uses locally (a user's uid
            // or a group's gid: a user's private group has its uid) is
            // taken too: a uid handed out there would collide on that host.
            "SELECT uid FROM users WHERE uid BETWEEN $1 AND $2 \
             UNION SELECT uid FROM retired_uids WHERE uid BETWEEN $1 AND $2 \
             UNION SELECT id FROM host_ids WHERE id BETWEEN $1 AND $2 ORDER BY 1",
            &[&id(min), &id(max)],
        )?
        .iter()
        .map(|row| get_u32(row, 0))
        .collect()
    }

    fn is_retired(&self, uid: u32) -> Result<bool> {
        Ok(self
            .query_opt("SELECT 1 FROM retired_uids WHERE uid = $1", &[&id(uid)])?
            .is_some())
    }

    // ---- grants and environments -------------------------------------

    fn grants_of(&self, uid: u32) -> Result<BTreeMap<String, Level>> {
        self.query(
            "SELECT environment, level FROM grants WHERE uid = $1",
            &[&id(uid)],
        )?
        .iter()
        .map(|row| Ok((get(row, 0)?, level(&get::<String>(row, 1)?)?)))
        .collect()
    }

    fn all_grants(&self) -> Result<BTreeMap<u32, BTreeMap<String, Level>>> {
        let mut out: BTreeMap<u32, BTreeMap<String, Level>> = BTreeMap::new();
        for row in self.query("SELECT uid, environment, level FROM grants", &[])? {
            let level = level(&get::<String>(&row, 2)?)?;
            out.entry(get_u32(&row, 0)?)
                .or_default()
                .insert(get(&row, 1)?, level);
        }
        Ok(out)
    }

    fn set_grant(&self, uid: u32, environment: &str, level: Level) -> Result<()> {
        self.touches_view();
        self.execute(
            "INSERT INTO grants (uid, environment, level) VALUES ($1, $2, $3) \
             ON CONFLICT (uid, environment) DO UPDATE SET level = excluded.level",
            &[&id(uid), &environment, &level.as_str()],
        )?;
        Ok(())
    }

    fn delete_grant(&self, uid: u32, environment: &str) -> Result<()> {
        self.touches_view();
        self.execute(
            "DELETE FROM grants WHERE uid = $1 AND environment = $2",
            &[&id(uid), &environment],
        )?;
        Ok(())
    }

    fn holders(&self, environment: &str, level: Level) -> Result<Vec<String>> {
        self.query(
            "SELECT u.name FROM grants g JOIN users u ON u.uid = g.uid \
             WHERE g.environment = $1 AND g.level = $2 ORDER BY u.name",
            &[&environment, &level.as_str()],
        )?
        .iter()
        .map(|row| get(row, 0))
        .collect()
    }

    fn environment(&self, name: &str) -> Result<Option<Environment>> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} WHERE e.name = $1");
        self.query_opt(&sql, &[&name])?
            .map(|row| environment_row(&row))
            .transpose()
    }

    fn environments(&self) -> Result<Vec<Environment>> {
        let sql = format!("SELECT {ENVIRONMENT_COLUMNS} ORDER BY e.name");
        self.query(&sql, &[])?.iter().map(environment_row).collect()
    }

    fn insert_environment(&self, name: &str, now: Timestamp) -> Result<()> {
        self.execute(
            "INSERT INTO environments (name, created) VALUES ($1, $2)",
            &[&name, &now],
        )?;
        Ok(())
    }

    fn delete_environment(&self, name: &str) -> Result<u32> {
        // Hosts hold on to their environment (the foreign key RESTRICTs):
        // say so by name before anything changes, rather than let the
        // foreign key abort the transaction with the schema's words.
        self.refuse_if_hosts(name)?;
        let dropped = self.execute("DELETE FROM grants WHERE environment = $1", &[&name])?;
        self.execute("DELETE FROM environments WHERE name = $1", &[&name])?;
        if dropped > 0 {
            // Dropped admin grants may change the admin group.
            self.touches_view();
        }
        Ok(count(dropped))
    }

    // ---- SSH keys ----------------------------------------------------

    fn insert_key(&self, uid: u32, key: &KeyRow) -> Result<()> {
        self.execute(
            "INSERT INTO ssh_keys (uid, key_type, blob, comment, fingerprint, added) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id(uid),
                &key.key_type,
                &key.blob,
                &key.comment,
                &key.fingerprint,
                &key.added,
            ],
        )?;
        Ok(())
    }

    fn keys_of(&self, uid: u32) -> Result<Vec<KeyRow>> {
        self.query(
            "SELECT key_type, blob, comment, fingerprint, added FROM ssh_keys \
             WHERE uid = $1 ORDER BY added, seq",
            &[&id(uid)],
        )?
        .iter()
        .map(|row| {
            Ok(KeyRow {
                key_type: get(row, 0)?,
                blob: get(row, 1)?,
                comment: get(row, 2)?,
                fingerprint: get(row, 3)?,
                added: get(row, 4)?,
            })
        })
        .collect()
    }

    fn delete_key(&self, uid: u32, fingerprint: &str) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM ssh_keys WHERE uid = $1 AND fingerprint = $2",
            &[&id(uid), &fingerprint],
        )?;
        Ok(n > 0)
    }

    // ---- lockouts ----------------------------------------------------

    fn lockout(&self, uid: u32, remote_host: &str) -> Result<Counter> {
        let row = self.query_opt(
            "SELECT failures, locked_until FROM lockouts WHERE uid = $1 AND remote_host = $2",
            &[&id(uid), &remote_host],
        )?;
        match row {
            Some(row) => {
                let failures: String = get(&row, 0)?;
                Ok(Counter::decode(&failures, get(&row, 1)?))
            }
            None => Ok(Counter::default()),
        }
    }

    fn counted_uid(&self, name: &str, remote_host: &str) -> Result<Option<u32>> {
        self.query_opt(
            "SELECT l.uid FROM lockouts l JOIN users u ON u.uid = l.uid \
             WHERE u.name = $1 AND l.remote_host = $2",
            &[&name, &remote_host],
        )?
        .map(|row| get_u32(&row, 0))
        .transpose()
    }

    fn save_lockout(&self, uid: u32, remote_host: &str, counter: &Counter) -> Result<()> {
        self.execute(
            "INSERT INTO lockouts (uid, remote_host, failures, locked_until) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (uid, remote_host) DO UPDATE SET failures = excluded.failures, \
             locked_until = excluded.locked_until",
            &[
                &id(uid),
                &remote_host,
                &counter.encode_failures(),
                &counter.locked_until,
            ],
        )?;
        Ok(())
    }

    fn clear_lockout(&self, uid: u32, remote_host: &str) -> Result<()> {
        self.execute(
            "DELETE FROM lockouts WHERE uid = $1 AND remote_host = $2",
            &[&id(uid), &remote_host],
        )?;
        Ok(())
    }

    fn clear_lockouts(&self, uid: u32) -> Result<()> {
        self.execute("DELETE FROM lockouts WHERE uid = $1", &[&id(uid)])?;
        Ok(())
    }

    // ---- sessions ----------------------------------------------------

    fn insert_session(&self, new: &NewSession, uid: u32, now: Timestamp) -> Result<Session> {
        let row = self.query_one(
            "INSERT INTO sessions (uid, user_name, service, tty, remote_host, leader_pid, \
             leader_start, started) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &id(uid),
                &new.user,
                &new.service,
                &new.tty,
                &new.remote_host,
                &id(new.leader_pid),
                &clamp(new.leader_start),
                &now,
            ],
        )?;
        Ok(new.stored(get(&row, 0)?, uid, now))
    }

    fn session_count(&self, uid: u32) -> Result<i64> {
        let row = self.query_one("SELECT COUNT(*) FROM sessions WHERE uid = $1", &[&id(uid)])?;
        get(&row, 0)
    }

    fn end_session(
        &self,
        uid: u32,
        leader_pid: u32,
        leader_start: u64,
        now: Timestamp,
    ) -> Result<bool> {
        let n = self.execute(
            "UPDATE sessions SET ended = $4 WHERE uid = $1 AND leader_pid = $2 \
             AND leader_start = $3 AND ended IS NULL",
            &[&id(uid), &id(leader_pid), &clamp(leader_start), &now],
        )?;
        Ok(n > 0)
    }

    fn end_sessions(&self, ids: &[i64], now: Timestamp) -> Result<()> {
        for session in ids {
            self.execute(
                "UPDATE sessions SET ended = $2 WHERE id = $1 AND ended IS NULL",
                &[session, &now],
            )?;
        }
        Ok(())
    }

    fn sessions(&self, uid: Option<u32>, ended: bool) -> Result<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE ($1::BIGINT IS NULL OR uid = $1) \
             AND ($2 OR ended IS NULL) ORDER BY started DESC, id DESC"
        );
        self.query(&sql, &[&uid.map(id), &ended])?
            .iter()
            .map(session_row)
            .collect()
    }

    // ---- registration codes and API tokens ---------------------------

    fn set_code(&self, code: &CodeRow) -> Result<()> {
        // SQLite's INSERT OR REPLACE: any row clashing on either key
        // (the user's earlier code, or a code with the same public id)
        // goes, then the new one goes in.
        self.execute(
            "DELETE FROM registration_codes WHERE uid = $1 OR public_id = $2",
            &[&id(code.uid), &code.public_id],
        )?;
        self.execute(
            "INSERT INTO registration_codes (uid, public_id, hash, created, expires) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &id(code.uid),
                &code.public_id,
                &code.hash,
                &code.created,
                &code.expires,
            ],
        )?;
        Ok(())
    }

    fn code_by_id(&self, public_id: &str) -> Result<Option<CodeRow>> {
        self.query_opt(
            "SELECT uid, public_id, hash, created, expires FROM registration_codes \
             WHERE public_id = $1",
            &[&public_id],
        )?
        .map(|row| code_row(&row))
        .transpose()
    }

    fn code_of(&self, uid: u32) -> Result<Option<CodeRow>> {
        self.query_opt(
            "SELECT uid, public_id, hash, created, expires FROM registration_codes \
             WHERE uid = $1",
            &[&id(uid)],
        )?
        .map(|row| code_row(&row))
        .transpose()
    }

    fn delete_code(&self, uid: u32) -> Result<()> {
        self.execute("DELETE FROM registration_codes WHERE uid = $1", &[&id(uid)])?;
        Ok(())
    }

    fn insert_token(&self, token: &Token, hash: &[u8]) -> Result<()> {
        self.execute(
            "INSERT INTO tokens (public_id, uid, name, scope, hash, created, last_used, expires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &token.id,
                &id(token.uid),
                &token.name,
                &token.scope.as_str(),
                &hash,
                &token.created,
                &token.last_used,
                &token.expires,
            ],
        )?;
        Ok(())
    }

    fn token(&self, public_id: &str) -> Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} WHERE t.public_id = $1");
        self.query_opt(&sql, &[&public_id])?
            .map(|row| token_row(&row))
            .transpose()
    }

    fn tokens(&self, uid: Option<u32>) -> Result<Vec<Token>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} WHERE ($1::BIGINT IS NULL OR t.uid = $1) \
             AND t.revoked IS NULL ORDER BY t.created, t.public_id"
        );
        self.query(&sql, &[&uid.map(id)])?
            .iter()
            .map(|row| token_row(row).map(|r| r.token))
            .collect()
    }

    fn rename_token(&self, public_id: &str, name: &str) -> Result<()> {
        self.execute(
            "UPDATE tokens SET name = $2 WHERE public_id = $1",
            &[&public_id, &name],
        )?;
        Ok(())
    }

    fn delete_token(&self, public_id: &str) -> Result<()> {
        self.execute("DELETE FROM tokens WHERE public_id = $1", &[&public_id])?;
        Ok(())
    }

    fn touch_token(&self, public_id: &str, now: Timestamp) -> Result<()> {
        self.execute(
            "UPDATE tokens SET last_used = $2 WHERE public_id = $1",
            &[&public_id, &now],
        )?;
        Ok(())
    }

    fn revoke_tokens(&self, uid: u32, now: Timestamp) -> Result<u32> {
        let n = self.execute(
            "UPDATE tokens SET revoked = $2 WHERE uid = $1 AND revoked IS NULL",
            &[&id(uid), &now],
        )?;
        Ok(count(n))
    }

    // ---- secrets (in secrets.rs, beside their SQL) --------------------

    fn secret_count(&self) -> Result<u64> {
        self.pg_secret_count()
    }
    fn insert_secret(&self, secret: &SecretRow) -> Result<()> {
        self.pg_insert_secret(secret)
    }
    fn update_secret(&self, secret: &SecretRow) -> Result<()> {
        self.pg_update_secret(secret)
    }
    fn delete_secret(&self, id: &str) -> Result<bool> {
        self.pg_delete_secret(id)
    }
    fn secret(&self, id: &str) -> Result<Option<SecretRow>> {
        self.pg_secret(id)
    }
    fn secret_named(&self, owner: &SecretOwnerRow, name: &str) -> Result<Option<SecretRow>> {
        self.pg_secret_named(owner, name)
    }
    fn secrets(&self) -> Result<Vec<SecretRow>> {
        self.pg_secrets()
    }
    fn insert_secret_revision(
        &self,
        id: &str,
        revision: &SecretRevisionRow,
        values: &[SealedValue],
    ) -> Result<()> {
        self.pg_insert_secret_revision(id, revision, values)
    }
    fn secret_revisions(&self, id: &str) -> Result<Vec<SecretRevisionRow>> {
        self.pg_secret_revisions(id)
    }
    fn delete_secret_revision(&self, id: &str, revision: u32) -> Result<bool> {
        self.pg_delete_secret_revision(id, revision)
    }
    fn sealed_values(&self, id: &str, revision: u32) -> Result<Vec<SealedValue>> {
        self.pg_sealed_values(id, revision)
    }
    fn reseal_value(&self, id: &str, revision: u32, value: &SealedValue) -> Result<()> {
        self.pg_reseal_value(id, revision, value)
    }
    fn set_secret_expiry(&self, id: &str, revision: u32, expires: Option<Timestamp>) -> Result<()> {
        self.pg_set_secret_expiry(id, revision, expires)
    }
    fn set_secret_checksum(
        &self,
        id: &str,
        revision: u32,
        checksum: &[u8],
        checksum_key: &str,
    ) -> Result<()> {
        self.pg_set_secret_checksum(id, revision, checksum, checksum_key)
    }
    fn secret_key_ids(&self) -> Result<Vec<String>> {
        self.pg_secret_key_ids()
    }
    fn secret_grants(&self, id: &str) -> Result<Vec<SecretGrantRow>> {
        self.pg_secret_grants(id)
    }
    fn set_secret_grant(&self, id: &str, grant: &SecretGrantRow) -> Result<()> {
        self.pg_set_secret_grant(id, grant)
    }
    fn delete_secret_grant(&self, id: &str, uid: u32) -> Result<bool> {
        self.pg_delete_secret_grant(id, uid)
    }
    fn secret_pin(&self, id: &str, uid: u32) -> Result<Option<u32>> {
        self.pg_secret_pin(id, uid)
    }
    fn set_secret_pin(&self, id: &str, uid: u32, revision: u32) -> Result<()> {
        self.pg_set_secret_pin(id, uid, revision)
    }
    fn delete_secret_pin(&self, id: &str, uid: u32) -> Result<()> {
        self.pg_delete_secret_pin(id, uid)
    }
    fn secret_pins(&self, id: &str) -> Result<Vec<(u32, u32)>> {
        self.pg_secret_pins(id)
    }
}
