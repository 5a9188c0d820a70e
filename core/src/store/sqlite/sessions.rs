//! PAM sessions: open → close, and the reaper's view of the live ones.

use super::SqliteTx;
use crate::clock::Timestamp;
use crate::model::{NewSession, Session};
use rusqlite::{Row, params};

const COLUMNS: &str =
    "id, user, uid, service, tty, remote_host, leader_pid, leader_start, started, ended";

fn session_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        user: r.get(1)?,
        uid: r.get(2)?,
        service: r.get(3)?,
        tty: r.get(4)?,
        remote_host: r.get(5)?,
        leader_pid: r.get(6)?,
        leader_start: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        started: r.get(8)?,
        ended: r.get(9)?,
    })
}

impl SqliteTx<'_> {
    pub fn insert_session(
        &self,
        new: &NewSession,
        uid: u32,
        now: Timestamp,
    ) -> crate::Result<Session> {
        // SQLite integers are i64; a start time in ticks fits for 10^10 years.
        let start = i64::try_from(new.leader_start).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT INTO sessions (uid, user, service, tty, remote_host, leader_pid, leader_start, started) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![uid, new.user, new.service, new.tty, new.remote_host, new.leader_pid, start, now],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(new.stored(id, uid, now))
    }

    /// How many sessions `uid` ever had (0 before its first).
    pub fn session_count(&self, uid: u32) -> crate::Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM sessions WHERE uid = ?1",
            params![uid],
            |r| r.get(0),
        )?)
    }

    /// End the live session of `uid` led by (pid, start); false if none.
    pub fn end_session(
        &self,
        uid: u32,
        leader_pid: u32,
        leader_start: u64,
        now: Timestamp,
    ) -> crate::Result<bool> {
        let start = i64::try_from(leader_start).unwrap_or(i64::MAX);
        let n = self.conn.execute(
            "UPDATE sessions SET ended = ?4 WHERE uid = ?1 AND leader_pid = ?2 \
             AND leader_start = ?3 AND ended IS NULL",
            params![uid, leader_pid, start, now],
        )?;
        Ok(n > 0)
    }

    pub fn end_sessions(&self, ids: &[i64], now: Timestamp) -> crate::Result<()> {
        let mut stmt = self
            .conn
            .prepare("UPDATE sessions SET ended = ?2 WHERE id = ?1 AND ended IS NULL")?;
        for id in ids {
            stmt.execute(params![id, now])?;
        }
        Ok(())
    }

    /// Sessions, newest first; only live ones unless `ended` too.
    pub fn sessions(&self, uid: Option<u32>, ended: bool) -> crate::Result<Vec<Session>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions WHERE (?1 IS NULL OR uid = ?1) \
             AND (?2 OR ended IS NULL) ORDER BY started DESC, id DESC"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params![uid, ended], session_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
