//! SSH public keys, by user and fingerprint.

use super::SqliteTx;
use crate::store::KeyRow;
use rusqlite::params;

impl SqliteTx<'_> {
    pub fn insert_key(&self, uid: u32, key: &KeyRow) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO ssh_keys (uid, key_type, blob, comment, fingerprint, added) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                uid,
                key.key_type,
                key.blob,
                key.comment,
                key.fingerprint,
                key.added
            ],
        )?;
        Ok(())
    }

    pub fn keys_of(&self, uid: u32) -> crate::Result<Vec<KeyRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT key_type, blob, comment, fingerprint, added FROM ssh_keys \
             WHERE uid = ?1 ORDER BY added, rowid",
        )?;
        let rows = stmt
            .query_map(params![uid], |r| {
                Ok(KeyRow {
                    key_type: r.get(0)?,
                    blob: r.get(1)?,
                    comment: r.get(2)?,
                    fingerprint: r.get(3)?,
                    added: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// False when the user has no key with that fingerprint.
    pub fn delete_key(&self, uid: u32, fingerprint: &str) -> crate::Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM ssh_keys WHERE uid = ?1 AND fingerprint = ?2",
            params![uid, fingerprint],
        )?;
        Ok(n > 0)
    }
}
