//! Secrets on PostgreSQL: each method mirrors SQLite's of the same name
//! (core/src/store/sqlite/secrets.rs): the same rows and order. Values
//! arrive sealed by core.

use crate::tx::{PgTx, Result, corrupt, get, get_u32, id};
use postgres::Row;
use roster_core::clock::Timestamp;
use roster_core::secrets::{Rotation, SecretRole};
use roster_core::store::{
    SealedValue, SecretGrantRow, SecretOwnerRow, SecretRevisionRow, SecretRow,
};

const SECRET_COLUMNS: &str = "id, owner_uid, owner_env, name, description, rotation, \
                              next_rotation, latest, created, updated";

/// A revision number as stored (BIGINT).
fn rev(revision: u32) -> i64 {
    i64::from(revision)
}

fn secret_row(row: &Row) -> Result<SecretRow> {
    let owner_uid: Option<i64> = get(row, 1)?;
    let owner_env: Option<String> = get(row, 2)?;
    let owner = match (owner_uid, owner_env) {
        (Some(_), None) => SecretOwnerRow::User(get_u32(row, 1)?),
        (None, Some(env)) => SecretOwnerRow::Environment(env),
        _ => return Err(corrupt("secret owner", "both or neither")),
    };
    let rotation: String = get(row, 5)?;
    Ok(SecretRow {
        id: get(row, 0)?,
        owner,
        name: get(row, 3)?,
        description: get(row, 4)?,
        rotation: Rotation::parse(&rotation).ok_or_else(|| corrupt("rotation", &rotation))?,
        next_rotation: get(row, 6)?,
        latest: get_u32(row, 7)?,
        created: get(row, 8)?,
        updated: get(row, 9)?,
    })
}

fn owner_columns(owner: &SecretOwnerRow) -> (Option<i64>, Option<&str>) {
    match owner {
        SecretOwnerRow::User(uid) => (Some(id(*uid)), None),
        SecretOwnerRow::Environment(env) => (None, Some(env.as_str())),
    }
}

impl PgTx<'_> {
    pub(crate) fn pg_secret_count(&self) -> Result<u64> {
        let row = self.query_one("SELECT count(*) FROM secrets", &[])?;
        let n: i64 = get(&row, 0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) fn pg_insert_secret(&self, s: &SecretRow) -> Result<()> {
        let (uid, env) = owner_columns(&s.owner);
        self.execute(
            "INSERT INTO secrets (id, owner_uid, owner_env, name, description, rotation, \
             next_rotation, latest, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &s.id,
                &uid,
                &env,
                &s.name,
                &s.description,
                &s.rotation.as_str(),
                &s.next_rotation,
                &rev(s.latest),
                &s.created,
                &s.updated,
            ],
        )?;
        Ok(())
    }

    pub(crate) fn pg_update_secret(&self, s: &SecretRow) -> Result<()> {
        self.execute(
            "UPDATE secrets SET description = $2, rotation = $3, next_rotation = $4, \
             latest = $5, updated = $6 WHERE id = $1",
            &[
                &s.id,
                &s.description,
                &s.rotation.as_str(),
                &s.next_rotation,
                &rev(s.latest),
                &s.updated,
            ],
        )?;
        Ok(())
    }

    pub(crate) fn pg_delete_secret(&self, secret: &str) -> Result<bool> {
        Ok(self.execute("DELETE FROM secrets WHERE id = $1", &[&secret])? > 0)
    }

    pub(crate) fn pg_secret(&self, secret: &str) -> Result<Option<SecretRow>> {
        self.query_opt(
            &format!("SELECT {SECRET_COLUMNS} FROM secrets WHERE id = $1"),
            &[&secret],
        )?
        .as_ref()
        .map(secret_row)
        .transpose()
    }

    pub(crate) fn pg_secret_named(
        &self,
        owner: &SecretOwnerRow,
        name: &str,
    ) -> Result<Option<SecretRow>> {
        let (uid, env) = owner_columns(owner);
        self.query_opt(
            &format!(
                "SELECT {SECRET_COLUMNS} FROM secrets WHERE name = $1 \
                 AND owner_uid IS NOT DISTINCT FROM $2 AND owner_env IS NOT DISTINCT FROM $3"
            ),
            &[&name, &uid, &env],
        )?
        .as_ref()
        .map(secret_row)
        .transpose()
    }

    pub(crate) fn pg_secrets(&self) -> Result<Vec<SecretRow>> {
        self.query(
            &format!("SELECT {SECRET_COLUMNS} FROM secrets ORDER BY id"),
            &[],
        )?
        .iter()
        .map(secret_row)
        .collect()
    }

    pub(crate) fn pg_insert_secret_revision(
        &self,
        secret: &str,
        r: &SecretRevisionRow,
        values: &[SealedValue],
    ) -> Result<()> {
        self.execute(
            "INSERT INTO secret_revisions (secret, revision, created, expires, checksum, checksum_key) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &secret,
                &rev(r.revision),
                &r.created,
                &r.expires,
                &r.checksum,
                &r.checksum_key,
            ],
        )?;
        for v in values {
            self.execute(
                "INSERT INTO secret_values (secret, revision, key, key_id, nonce, ciphertext) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &secret,
                    &rev(r.revision),
                    &v.key,
                    &v.key_id,
                    &v.nonce,
                    &v.ciphertext,
                ],
            )?;
        }
        Ok(())
    }

    pub(crate) fn pg_secret_revisions(&self, secret: &str) -> Result<Vec<SecretRevisionRow>> {
        self.query(
            "SELECT revision, created, expires, checksum, checksum_key FROM secret_revisions \
             WHERE secret = $1 ORDER BY revision",
            &[&secret],
        )?
        .iter()
        .map(|row| {
            Ok(SecretRevisionRow {
                revision: get_u32(row, 0)?,
                created: get(row, 1)?,
                expires: get(row, 2)?,
                checksum: get(row, 3)?,
                checksum_key: get(row, 4)?,
            })
        })
        .collect()
    }

    pub(crate) fn pg_delete_secret_revision(&self, secret: &str, revision: u32) -> Result<bool> {
        self.execute(
            "DELETE FROM secret_pins WHERE secret = $1 AND revision = $2",
            &[&secret, &rev(revision)],
        )?;
        Ok(self.execute(
            "DELETE FROM secret_revisions WHERE secret = $1 AND revision = $2",
            &[&secret, &rev(revision)],
        )? > 0)
    }

    pub(crate) fn pg_sealed_values(&self, secret: &str, revision: u32) -> Result<Vec<SealedValue>> {
        self.query(
            "SELECT key, key_id, nonce, ciphertext FROM secret_values \
             WHERE secret = $1 AND revision = $2 ORDER BY key",
            &[&secret, &rev(revision)],
        )?
        .iter()
        .map(|row| {
            Ok(SealedValue {
                key: get(row, 0)?,
                key_id: get(row, 1)?,
                nonce: get(row, 2)?,
                ciphertext: get(row, 3)?,
            })
        })
        .collect()
    }

    pub(crate) fn pg_reseal_value(
        &self,
        secret: &str,
        revision: u32,
        v: &SealedValue,
    ) -> Result<()> {
        self.execute(
            "UPDATE secret_values SET key_id = $4, nonce = $5, ciphertext = $6 \
             WHERE secret = $1 AND revision = $2 AND key = $3",
            &[
                &secret,
                &rev(revision),
                &v.key,
                &v.key_id,
                &v.nonce,
                &v.ciphertext,
            ],
        )?;
        Ok(())
    }

    pub(crate) fn pg_set_secret_expiry(
        &self,
        secret: &str,
        revision: u32,
        expires: Option<Timestamp>,
    ) -> Result<()> {
        self.execute(
            "UPDATE secret_revisions SET expires = $3 WHERE secret = $1 AND revision = $2",
            &[&secret, &rev(revision), &expires],
        )?;
        Ok(())
    }

    pub(crate) fn pg_set_secret_checksum(
        &self,
        secret: &str,
        revision: u32,
        checksum: &[u8],
        checksum_key: &str,
    ) -> Result<()> {
        self.execute(
            "UPDATE secret_revisions SET checksum = $3, checksum_key = $4 \
             WHERE secret = $1 AND revision = $2",
            &[&secret, &rev(revision), &checksum, &checksum_key],
        )?;
        Ok(())
    }

    pub(crate) fn pg_secret_key_ids(&self) -> Result<Vec<String>> {
        self.query(
            "SELECT key_id FROM secret_values UNION SELECT checksum_key FROM secret_revisions",
            &[],
        )?
        .iter()
        .map(|row| get(row, 0))
        .collect()
    }

    pub(crate) fn pg_secret_grants(&self, secret: &str) -> Result<Vec<SecretGrantRow>> {
        self.query(
            "SELECT uid, role FROM secret_grants WHERE secret = $1 ORDER BY uid",
            &[&secret],
        )?
        .iter()
        .map(|row| {
            let role: String = get(row, 1)?;
            Ok(SecretGrantRow {
                uid: get_u32(row, 0)?,
                role: SecretRole::parse(&role).ok_or_else(|| corrupt("secret role", &role))?,
            })
        })
        .collect()
    }

    pub(crate) fn pg_set_secret_grant(&self, secret: &str, grant: &SecretGrantRow) -> Result<()> {
        self.execute(
            "INSERT INTO secret_grants (secret, uid, role) VALUES ($1, $2, $3) \
             ON CONFLICT (secret, uid) DO UPDATE SET role = excluded.role",
            &[&secret, &id(grant.uid), &grant.role.as_str()],
        )?;
        Ok(())
    }

    pub(crate) fn pg_delete_secret_grant(&self, secret: &str, uid: u32) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM secret_grants WHERE secret = $1 AND uid = $2",
            &[&secret, &id(uid)],
        )? > 0)
    }

    pub(crate) fn pg_secret_pin(&self, secret: &str, uid: u32) -> Result<Option<u32>> {
        self.query_opt(
            "SELECT revision FROM secret_pins WHERE secret = $1 AND uid = $2",
            &[&secret, &id(uid)],
        )?
        .as_ref()
        .map(|row| get_u32(row, 0))
        .transpose()
    }

    pub(crate) fn pg_set_secret_pin(&self, secret: &str, uid: u32, revision: u32) -> Result<()> {
        self.execute(
            "INSERT INTO secret_pins (secret, uid, revision) VALUES ($1, $2, $3) \
             ON CONFLICT (secret, uid) DO UPDATE SET revision = excluded.revision",
            &[&secret, &id(uid), &rev(revision)],
        )?;
        Ok(())
    }

    pub(crate) fn pg_delete_secret_pin(&self, secret: &str, uid: u32) -> Result<()> {
        self.execute(
            "DELETE FROM secret_pins WHERE secret = $1 AND uid = $2",
            &[&secret, &id(uid)],
        )?;
        Ok(())
    }

    pub(crate) fn pg_secret_pins(&self, secret: &str) -> Result<Vec<(u32, u32)>> {
        self.query(
            "SELECT uid, revision FROM secret_pins WHERE secret = $1 ORDER BY uid",
            &[&secret],
        )?
        .iter()
        .map(|row| Ok((get_u32(row, 0)?, get_u32(row, 1)?)))
        .collect()
    }
}
