//! Users, their uids (and the retired ones), passwords and last logins.

use super::{SqliteTx, corrupt};
use crate::clock::Timestamp;
use crate::model::{User, UserState};
use rusqlite::{OptionalExtension, Row, params};
use std::collections::BTreeMap;

const USER_COLUMNS: &str = "u.uid, u.name, u.display_name, u.role, u.state, u.home, u.shell, \
     u.created, u.last_login, u.password_changed, \
     (SELECT MAX(l.locked_until) FROM lockouts l WHERE l.uid = u.uid AND l.locked_until > ?1)";

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    let state: String = row.get(4)?;
    Ok(User {
        uid: row.get(0)?,
        name: row.get(1)?,
        display_name: row.get(2)?,
        role: role.parse().map_err(|_| corrupt("role", &role))?,
        state: state.parse().map_err(|_| corrupt("state", &state))?,
        home: row.get(5)?,
        shell: row.get(6)?,
        created: row.get(7)?,
        last_login: row.get(8)?,
        password_changed: row.get(9)?,
        locked_until: row.get(10)?,
        grants: BTreeMap::new(),
    })
}

impl SqliteTx<'_> {
    fn with_grants(&self, mut user: User) -> crate::Result<User> {
        user.grants = self.grants_of(user.uid)?;
        Ok(user)
    }

    /// The user named `name`, with grants; `locked_until` as of `now`.
    pub fn user(&self, name: &str, now: Timestamp) -> crate::Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?2");
        let user = self
            .conn
            .query_row(&sql, params![now, name], user_row)
            .optional()?;
        user.map(|u| self.with_grants(u)).transpose()
    }

    pub fn user_by_uid(&self, uid: u32, now: Timestamp) -> crate::Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.uid = ?2");
        let user = self
            .conn
            .query_row(&sql, params![now, uid], user_row)
            .optional()?;
        user.map(|u| self.with_grants(u)).transpose()
    }

    /// Every user, sorted by name, with grants.
    pub fn users(&self, now: Timestamp) -> crate::Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.name");
        let mut stmt = self.conn.prepare(&sql)?;
        let mut users = stmt
            .query_map(params![now], user_row)?
            .collect::<rusqlite::Result<Vec<User>>>()?;
        let mut grants = self.all_grants()?;
        for user in &mut users {
            user.grants = grants.remove(&user.uid).unwrap_or_default();
        }
        Ok(users)
    }

    pub fn insert_user(&self, user: &User, password_hash: Option<&str>) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "INSERT INTO users (uid, name, display_name, role, state, home, shell, created, \
             last_login, password_hash, password_changed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                user.uid,
                user.name,
                user.display_name,
                user.role.as_str(),
                user.state.as_str(),
                user.home,
                user.shell,
                user.created,
                user.last_login,
                password_hash,
                user.password_changed,
            ],
        )?;
        for (env, level) in &user.grants {
            self.set_grant(user.uid, env, *level)?;
        }
        Ok(())
    }

    /// Display name, role, home and shell.
    pub fn update_profile(&self, user: &User) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "UPDATE users SET display_name = ?2, role = ?3, home = ?4, shell = ?5 WHERE uid = ?1",
            params![
                user.uid,
                user.display_name,
                user.role.as_str(),
                user.home,
                user.shell
            ],
        )?;
        Ok(())
    }

    pub fn set_state(&self, uid: u32, state: UserState) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "UPDATE users SET state = ?2 WHERE uid = ?1",
            params![uid, state.as_str()],
        )?;
        Ok(())
    }

    /// Store a hash (or none: pending) and when it changed.
    pub fn set_password(
        &self,
        uid: u32,
        hash: Option<&str>,
        changed: Option<Timestamp>,
    ) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE users SET password_hash = ?2, password_changed = ?3 WHERE uid = ?1",
            params![uid, hash, changed],
        )?;
        Ok(())
    }

    pub fn password_hash(&self, uid: u32) -> crate::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT password_hash FROM users WHERE uid = ?1",
                params![uid],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn set_last_login(&self, uid: u32, at: Timestamp) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE users SET last_login = ?2 WHERE uid = ?1",
            params![uid, at],
        )?;
        Ok(())
    }

    /// Delete the user (grants, lockouts, code and keys go with it) and
    /// retire its uid for good.
    pub fn delete_user(&self, uid: u32, name: &str, now: Timestamp) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "INSERT OR REPLACE INTO retired_uids (uid, name, retired) VALUES (?1, ?2, ?3)",
            params![uid, name, now],
        )?;
        self.conn
            .execute("DELETE FROM users WHERE uid = ?1", params![uid])?;
        Ok(())
    }

    /// Users with role admin and state active.
    pub fn active_admins(&self) -> crate::Result<u32> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND state = 'active'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The uids in `min..=max` held by a user or retired, ascending.
    pub fn taken_uids(&self, min: u32, max: u32) -> crate::Result<Vec<u32>> {
        let mut stmt = self.conn.prepare(
            "SELECT uid FROM users WHERE uid BETWEEN ?1 AND ?2 \
             UNION SELECT uid FROM retired_uids WHERE uid BETWEEN ?1 AND ?2 ORDER BY uid",
        )?;
        let uids = stmt
            .query_map(params![min, max], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<u32>>>()?;
        Ok(uids)
    }

    pub fn is_retired(&self, uid: u32) -> crate::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM retired_uids WHERE uid = ?1",
                params![uid],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}
