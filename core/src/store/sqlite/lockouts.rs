//! One lockout counter per (user, remote host); '' is a local login.

use super::SqliteTx;
use crate::lockout::Counter;
use rusqlite::{OptionalExtension, params};

impl SqliteTx<'_> {
    pub fn lockout(&self, uid: u32, remote_host: &str) -> crate::Result<Counter> {
        let row: Option<(String, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT failures, locked_until FROM lockouts WHERE uid = ?1 AND remote_host = ?2",
                params![uid, remote_host],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row
            .map(|(failures, until)| Counter::decode(&failures, until))
            .unwrap_or_default())
    }

    /// The uid of `name` when a counter exists for (`name`, host).
    pub fn counted_uid(&self, name: &str, remote_host: &str) -> crate::Result<Option<u32>> {
        Ok(self
            .conn
            .query_row(
                "SELECT l.uid FROM lockouts l JOIN users u ON u.uid = l.uid \
                 WHERE u.name = ?1 AND l.remote_host = ?2",
                params![name, remote_host],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn save_lockout(
        &self,
        uid: u32,
        remote_host: &str,
        counter: &Counter,
    ) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO lockouts (uid, remote_host, failures, locked_until) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (uid, remote_host) DO UPDATE SET failures = excluded.failures, \
             locked_until = excluded.locked_until",
            params![uid, remote_host, counter.encode_failures(), counter.locked_until],
        )?;
        Ok(())
    }

    /// Forget one (user, host) counter.
    pub fn clear_lockout(&self, uid: u32, remote_host: &str) -> crate::Result<()> {
        self.conn.execute(
            "DELETE FROM lockouts WHERE uid = ?1 AND remote_host = ?2",
            params![uid, remote_host],
        )?;
        Ok(())
    }

    /// Forget every counter of the user (unlock, password change).
    pub fn clear_lockouts(&self, uid: u32) -> crate::Result<()> {
        self.conn
            .execute("DELETE FROM lockouts WHERE uid = ?1", params![uid])?;
        Ok(())
    }
}
