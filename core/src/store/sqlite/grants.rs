//! Environments and the grants that name them.

use super::{SqliteTx, corrupt};
use crate::clock::Timestamp;
use crate::level::Level;
use crate::model::Environment;
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

fn level(text: String) -> rusqlite::Result<Level> {
    text.parse().map_err(|_| corrupt("level", &text))
}

impl SqliteTx<'_> {
    pub fn grants_of(&self, uid: u32) -> crate::Result<BTreeMap<String, Level>> {
        let mut stmt = self
            .conn
            .prepare("SELECT environment, level FROM grants WHERE uid = ?1")?;
        let rows = stmt.query_map(params![uid], |r| Ok((r.get(0)?, level(r.get(1)?)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// uid → (environment → level), for listing everyone at once.
    pub fn all_grants(&self) -> crate::Result<BTreeMap<u32, BTreeMap<String, Level>>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, environment, level FROM grants")?;
        let mut out: BTreeMap<u32, BTreeMap<String, Level>> = BTreeMap::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                level(r.get(2)?)?,
            ))
        })?;
        for row in rows {
            let (uid, env, lvl) = row?;
            out.entry(uid).or_default().insert(env, lvl);
        }
        Ok(out)
    }

    /// Set the one level `uid` holds in `environment`.
    pub fn set_grant(&self, uid: u32, environment: &str, level: Level) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "INSERT INTO grants (uid, environment, level) VALUES (?1, ?2, ?3) \
             ON CONFLICT (uid, environment) DO UPDATE SET level = excluded.level",
            params![uid, environment, level.as_str()],
        )?;
        Ok(())
    }

    pub fn delete_grant(&self, uid: u32, environment: &str) -> crate::Result<()> {
        self.touches_view();
        self.conn.execute(
            "DELETE FROM grants WHERE uid = ?1 AND environment = ?2",
            params![uid, environment],
        )?;
        Ok(())
    }

    /// The names of the users holding `level` in `environment`, sorted.
    pub fn holders(&self, environment: &str, level: Level) -> crate::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT u.name FROM grants g JOIN users u ON u.uid = g.uid \
             WHERE g.environment = ?1 AND g.level = ?2 ORDER BY u.name",
        )?;
        let names = stmt
            .query_map(params![environment, level.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    pub fn environment(&self, name: &str) -> crate::Result<Option<Environment>> {
        Ok(self
            .conn
            .query_row(
                "SELECT e.name, e.created, \
                 (SELECT COUNT(*) FROM grants g WHERE g.environment = e.name) \
                 FROM environments e WHERE e.name = ?1",
                params![name],
                |r| {
                    Ok(Environment {
                        name: r.get(0)?,
                        created: r.get(1)?,
                        grants: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn environments(&self) -> crate::Result<Vec<Environment>> {
        let mut stmt = self.conn.prepare(
            "SELECT e.name, e.created, \
             (SELECT COUNT(*) FROM grants g WHERE g.environment = e.name) \
             FROM environments e ORDER BY e.name",
        )?;
        let envs = stmt
            .query_map([], |r| {
                Ok(Environment {
                    name: r.get(0)?,
                    created: r.get(1)?,
                    grants: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(envs)
    }

    pub fn insert_environment(&self, name: &str, now: Timestamp) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO environments (name, created) VALUES (?1, ?2)",
            params![name, now],
        )?;
        Ok(())
    }

    /// Remove `name` and (by cascade) every grant naming it; answers how
    /// many grants went.
    pub fn delete_environment(&self, name: &str) -> crate::Result<u32> {
        let dropped = self
            .conn
            .execute("DELETE FROM grants WHERE environment = ?1", params![name])?;
        self.conn
            .execute("DELETE FROM environments WHERE name = ?1", params![name])?;
        if dropped > 0 {
            // Dropped admin grants may change the admin group.
            self.touches_view();
        }
        Ok(u32::try_from(dropped).unwrap_or(u32::MAX))
    }
}
