//! Registration codes and API tokens: public ids and SHA-256 hashes.

use super::{SqliteTx, corrupt};
use crate::clock::Timestamp;
use crate::model::{Scope, Token};
use crate::store::{CodeRow, TokenRow};
use rusqlite::{OptionalExtension, Row, params};

const TOKEN_COLUMNS: &str = "t.public_id, COALESCE(u.name, r.name, ''), t.uid, t.name, t.scope, \
     t.created, t.last_used, t.expires, t.hash, t.revoked \
     FROM tokens t LEFT JOIN users u ON u.uid = t.uid LEFT JOIN retired_uids r ON r.uid = t.uid";

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    let scope: String = r.get(4)?;
    let scope = Scope::from_word(&scope).ok_or_else(|| corrupt("token scope", &scope))?;
    Ok(TokenRow {
        token: Token {
            id: r.get(0)?,
            user: r.get(1)?,
            uid: r.get(2)?,
            name: r.get(3)?,
            scope,
            created: r.get(5)?,
            last_used: r.get(6)?,
            expires: r.get(7)?,
        },
        hash: r.get(8)?,
        revoked: r.get(9)?,
    })
}

impl SqliteTx<'_> {
    /// Store the user's one code, voiding any earlier one.
    pub fn set_code(&self, code: &CodeRow) -> crate::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO registration_codes (uid, public_id, hash, created, expires) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                code.uid,
                code.public_id,
                code.hash,
                code.created,
                code.expires
            ],
        )?;
        Ok(())
    }

    pub fn code_by_id(&self, public_id: &str) -> crate::Result<Option<CodeRow>> {
        self.code_where("public_id = ?1", params![public_id])
    }

    pub fn code_of(&self, uid: u32) -> crate::Result<Option<CodeRow>> {
        self.code_where("uid = ?1", params![uid])
    }

    fn code_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> crate::Result<Option<CodeRow>> {
        let sql = format!(
            "SELECT uid, public_id, hash, created, expires FROM registration_codes WHERE {condition}"
        );
        Ok(self
            .conn
            .query_row(&sql, args, |r| {
                Ok(CodeRow {
                    uid: r.get(0)?,
                    public_id: r.get(1)?,
                    hash: r.get(2)?,
                    created: r.get(3)?,
                    expires: r.get(4)?,
                })
            })
            .optional()?)
    }

    pub fn delete_code(&self, uid: u32) -> crate::Result<()> {
        self.conn.execute(
            "DELETE FROM registration_codes WHERE uid = ?1",
            params![uid],
        )?;
        Ok(())
    }

    pub fn insert_token(&self, token: &Token, hash: &[u8]) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO tokens (public_id, uid, name, scope, hash, created, last_used, expires) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                token.id,
                token.uid,
                token.name,
                token.scope.as_str(),
                hash,
                token.created,
                token.last_used,
                token.expires
            ],
        )?;
        Ok(())
    }

    pub fn token(&self, public_id: &str) -> crate::Result<Option<TokenRow>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} WHERE t.public_id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![public_id], token_row)
            .optional()?)
    }

    /// Tokens that aren't revoked, of one user or (None) everyone's,
    /// oldest first.
    pub fn tokens(&self, uid: Option<u32>) -> crate::Result<Vec<Token>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} WHERE (?1 IS NULL OR t.uid = ?1) AND t.revoked IS NULL \
             ORDER BY t.created, t.public_id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params![uid], token_row)?
            .map(|r| r.map(|row| row.token))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn rename_token(&self, public_id: &str, name: &str) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE tokens SET name = ?2 WHERE public_id = ?1",
            params![public_id, name],
        )?;
        Ok(())
    }

    pub fn delete_token(&self, public_id: &str) -> crate::Result<()> {
        self.conn.execute(
            "DELETE FROM tokens WHERE public_id = ?1",
            params![public_id],
        )?;
        Ok(())
    }

    pub fn touch_token(&self, public_id: &str, now: Timestamp) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE tokens SET last_used = ?2 WHERE public_id = ?1",
            params![public_id, now],
        )?;
        Ok(())
    }

    /// Void every live token of the user (password change, suspend,
    /// delete); they stay, revoked, so using one says "revoked".
    pub fn revoke_tokens(&self, uid: u32, now: Timestamp) -> crate::Result<u32> {
        let n = self.conn.execute(
            "UPDATE tokens SET revoked = ?2 WHERE uid = ?1 AND revoked IS NULL",
            params![uid, now],
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}
