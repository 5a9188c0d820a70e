//! Join tokens: made by `token create`, printed once, burnt by the
//! enrollment that uses them (in the transaction that adds the host).
//! Only the secret's SHA-256 is stored; the controller hashes.

use crate::PgTx;
use crate::tx::{Result, get};
use postgres::Row;
use roster_core::clock::Timestamp;

/// A stored join token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinTokenRow {
    pub public_id: String,
    /// SHA-256 of the secret part.
    pub hash: Vec<u8>,
    /// The environment the host joins (from the token, never the host).
    pub environment: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    /// Who made it (a person's name, or `root` on the controller machine).
    pub created_by: String,
    /// When it was burnt, and by which host's enrollment.
    pub used: Option<Timestamp>,
    pub used_by: Option<i64>,
}

const COLUMNS: &str =
    "public_id, hash, environment, created, expires, created_by, used, used_by FROM join_tokens";

fn token_row(row: &Row) -> Result<JoinTokenRow> {
    Ok(JoinTokenRow {
        public_id: get(row, 0)?,
        hash: get(row, 1)?,
        environment: get(row, 2)?,
        created: get(row, 3)?,
        expires: get(row, 4)?,
        created_by: get(row, 5)?,
        used: get(row, 6)?,
        used_by: get(row, 7)?,
    })
}

impl PgTx<'_> {
    /// Store a new token (its `used` and `used_by` as given: None for a
    /// fresh one). A clashing public id or a missing environment is an
    /// [`Error::Store`](roster_core::error::Error::Store).
    pub fn insert_join_token(&self, token: &JoinTokenRow) -> Result<()> {
        self.execute(
            "INSERT INTO join_tokens (public_id, hash, environment, created, expires, \
             created_by, used, used_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &token.public_id,
                &token.hash,
                &token.environment,
                &token.created,
                &token.expires,
                &token.created_by,
                &token.used,
                &token.used_by,
            ],
        )?;
        Ok(())
    }

    pub fn join_token(&self, public_id: &str) -> Result<Option<JoinTokenRow>> {
        let sql = format!("SELECT {COLUMNS} WHERE public_id = $1");
        self.query_opt(&sql, &[&public_id])?
            .map(|row| token_row(&row))
            .transpose()
    }

    /// Every token, used ones included, oldest first.
    pub fn join_tokens(&self) -> Result<Vec<JoinTokenRow>> {
        let sql = format!("SELECT {COLUMNS} ORDER BY created, public_id");
        self.query(&sql, &[])?.iter().map(token_row).collect()
    }

    /// False when there was no such token.
    pub fn delete_join_token(&self, public_id: &str) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM join_tokens WHERE public_id = $1",
            &[&public_id],
        )? > 0)
    }

    /// Mark the token used by `host_id`: true for the one enrollment that
    /// burns it, false when it was used already (or doesn't exist). Two
    /// enrollments racing on one token: the second waits on the first's
    /// row lock, then sees it used.
    pub fn burn_join_token(&self, public_id: &str, host_id: i64, now: Timestamp) -> Result<bool> {
        let burnt = self.execute(
            "UPDATE join_tokens SET used = $3, used_by = $2 \
             WHERE public_id = $1 AND used IS NULL",
            &[&public_id, &host_id, &now],
        )?;
        Ok(burnt > 0)
    }
}
