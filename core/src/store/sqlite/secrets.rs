//! Secrets: metadata, immutable revisions of sealed values, grants and
//! readers' pins. Everything here is already sealed by core.

use super::{SqliteTx, corrupt};
use crate::secrets::{Rotation, SecretRole};
use crate::store::{SealedValue, SecretGrantRow, SecretOwnerRow, SecretRevisionRow, SecretRow};
use rusqlite::{OptionalExtension, Row, params};

const SECRET_COLUMNS: &str = "id, owner_uid, owner_env, name, description, rotation, \
                              next_rotation, latest, created, updated";

fn secret_row(r: &Row<'_>) -> rusqlite::Result<SecretRow> {
    let owner_uid: Option<u32> = r.get(1)?;
    let owner_env: Option<String> = r.get(2)?;
    let owner = match (owner_uid, owner_env) {
        (Some(uid), None) => SecretOwnerRow::User(uid),
        (None, Some(env)) => SecretOwnerRow::Environment(env),
        _ => return Err(corrupt("secret owner", "both or neither")),
    };
    let rotation: String = r.get(5)?;
    Ok(SecretRow {
        id: r.get(0)?,
        owner,
        name: r.get(3)?,
        description: r.get(4)?,
        rotation: Rotation::parse(&rotation).ok_or_else(|| corrupt("rotation", &rotation))?,
        next_rotation: r.get(6)?,
        latest: r.get(7)?,
        created: r.get(8)?,
        updated: r.get(9)?,
    })
}

fn owner_columns(owner: &SecretOwnerRow) -> (Option<u32>, Option<&str>) {
    match owner {
        SecretOwnerRow::User(uid) => (Some(*uid), None),
        SecretOwnerRow::Environment(env) => (None, Some(env.as_str())),
    }
}

impl SqliteTx<'_> {
    pub fn secret_count(&self) -> crate::Result<u64> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub fn insert_secret(&self, secret: &SecretRow) -> crate::Result<()> {
        let (uid, env) = owner_columns(&secret.owner);
        self.conn.execute(
            "INSERT INTO secrets (id, owner_uid, owner_env, name, description, rotation, \
             next_rotation, latest, created, updated) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                secret.id,
                uid,
                env,
                secret.name,
                secret.description,
                secret.rotation.as_str(),
                secret.next_rotation,
                secret.latest,
                secret.created,
                secret.updated
            ],
        )?;
        Ok(())
    }

    pub fn update_secret(&self, secret: &SecretRow) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE secrets SET description = ?2, rotation = ?3, next_rotation = ?4, \
             latest = ?5, updated = ?6 WHERE id = ?1",
            params![
                secret.id,
                secret.description,
                secret.rotation.as_str(),
                secret.next_rotation,
                secret.latest,
                secret.updated
            ],
        )?;
        Ok(())
    }

    pub fn delete_secret(&self, id: &str) -> crate::Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM secrets WHERE id = ?1", params![id])?
            > 0)
    }

    pub fn secret(&self, id: &str) -> crate::Result<Option<SecretRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {SECRET_COLUMNS} FROM secrets WHERE id = ?1"),
                params![id],
                secret_row,
            )
            .optional()?)
    }

    pub fn secret_named(
        &self,
        owner: &SecretOwnerRow,
        name: &str,
    ) -> crate::Result<Option<SecretRow>> {
        let (uid, env) = owner_columns(owner);
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {SECRET_COLUMNS} FROM secrets WHERE name = ?1 \
                     AND owner_uid IS ?2 AND owner_env IS ?3"
                ),
                params![name, uid, env],
                secret_row,
            )
            .optional()?)
    }

    pub fn secrets(&self) -> crate::Result<Vec<SecretRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {SECRET_COLUMNS} FROM secrets ORDER BY id"))?;
        let rows = stmt
            .query_map([], secret_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn insert_secret_revision(
        &self,
        id: &str,
        revision: &SecretRevisionRow,
        values: &[SealedValue],
    ) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO secret_revisions (secret, revision, created, expires, checksum, checksum_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                revision.revision,
                revision.created,
                revision.expires,
                revision.checksum,
                revision.checksum_key
            ],
        )?;
        let mut stmt = self.conn.prepare(
            "INSERT INTO secret_values (secret, revision, key, key_id, nonce, ciphertext) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for value in values {
            stmt.execute(params![
                id,
                revision.revision,
                value.key,
                value.key_id,
                value.nonce,
                value.ciphertext
            ])?;
        }
        Ok(())
    }

    pub fn secret_revisions(&self, id: &str) -> crate::Result<Vec<SecretRevisionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT revision, created, expires, checksum, checksum_key FROM secret_revisions \
             WHERE secret = ?1 ORDER BY revision",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok(SecretRevisionRow {
                    revision: r.get(0)?,
                    created: r.get(1)?,
                    expires: r.get(2)?,
                    checksum: r.get(3)?,
                    checksum_key: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn delete_secret_revision(&self, id: &str, revision: u32) -> crate::Result<bool> {
        self.conn.execute(
            "DELETE FROM secret_pins WHERE secret = ?1 AND revision = ?2",
            params![id, revision],
        )?;
        Ok(self.conn.execute(
            "DELETE FROM secret_revisions WHERE secret = ?1 AND revision = ?2",
            params![id, revision],
        )? > 0)
    }

    pub fn sealed_values(&self, id: &str, revision: u32) -> crate::Result<Vec<SealedValue>> {
        let mut stmt = self.conn.prepare(
            "SELECT key, key_id, nonce, ciphertext FROM secret_values \
             WHERE secret = ?1 AND revision = ?2 ORDER BY key",
        )?;
        let rows = stmt
            .query_map(params![id, revision], |r| {
                Ok(SealedValue {
                    key: r.get(0)?,
                    key_id: r.get(1)?,
                    nonce: r.get(2)?,
                    ciphertext: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn reseal_value(&self, id: &str, revision: u32, value: &SealedValue) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE secret_values SET key_id = ?4, nonce = ?5, ciphertext = ?6 \
             WHERE secret = ?1 AND revision = ?2 AND key = ?3",
            params![
                id,
                revision,
                value.key,
                value.key_id,
                value.nonce,
                value.ciphertext
            ],
        )?;
        Ok(())
    }

    pub fn set_secret_expiry(
        &self,
        id: &str,
        revision: u32,
        expires: Option<crate::clock::Timestamp>,
    ) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE secret_revisions SET expires = ?3 WHERE secret = ?1 AND revision = ?2",
            params![id, revision, expires],
        )?;
        Ok(())
    }

    pub fn set_secret_checksum(
        &self,
        id: &str,
        revision: u32,
        checksum: &[u8],
        checksum_key: &str,
    ) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE secret_revisions SET checksum = ?3, checksum_key = ?4 \
             WHERE secret = ?1 AND revision = ?2",
            params![id, revision, checksum, checksum_key],
        )?;
        Ok(())
    }

    pub fn secret_key_ids(&self) -> crate::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT key_id FROM secret_values UNION SELECT checksum_key FROM secret_revisions",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    pub fn secret_grants(&self, id: &str) -> crate::Result<Vec<SecretGrantRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, role FROM secret_grants WHERE secret = ?1 ORDER BY uid")?;
        let rows = stmt
            .query_map(params![id], |r| {
                let role: String = r.get(1)?;
                Ok(SecretGrantRow {
                    uid: r.get(0)?,
                    role: SecretRole::parse(&role).ok_or_else(|| corrupt("secret role", &role))?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn set_secret_grant(&self, id: &str, grant: &SecretGrantRow) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO secret_grants (secret, uid, role) VALUES (?1, ?2, ?3) \
             ON CONFLICT (secret, uid) DO UPDATE SET role = excluded.role",
            params![id, grant.uid, grant.role.as_str()],
        )?;
        Ok(())
    }

    pub fn delete_secret_grant(&self, id: &str, uid: u32) -> crate::Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM secret_grants WHERE secret = ?1 AND uid = ?2",
            params![id, uid],
        )? > 0)
    }

    pub fn secret_pin(&self, id: &str, uid: u32) -> crate::Result<Option<u32>> {
        Ok(self
            .conn
            .query_row(
                "SELECT revision FROM secret_pins WHERE secret = ?1 AND uid = ?2",
                params![id, uid],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_secret_pin(&self, id: &str, uid: u32, revision: u32) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO secret_pins (secret, uid, revision) VALUES (?1, ?2, ?3) \
             ON CONFLICT (secret, uid) DO UPDATE SET revision = excluded.revision",
            params![id, uid, revision],
        )?;
        Ok(())
    }

    pub fn delete_secret_pin(&self, id: &str, uid: u32) -> crate::Result<()> {
        self.conn.execute(
            "DELETE FROM secret_pins WHERE secret = ?1 AND uid = ?2",
            params![id, uid],
        )?;
        Ok(())
    }

    pub fn secret_pins(&self, id: &str) -> crate::Result<Vec<(u32, u32)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, revision FROM secret_pins WHERE secret = ?1 ORDER BY uid")?;
        let rows = stmt
            .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}
