//! Every user's credentials at once, for an environment's full snapshot:
//! two queries whatever the number of users, where a query per user would
//! take 100,000 round trips; and the retired list, read whole and added to.

use crate::PgTx;
use crate::tx::{Result, get, get_u32};
use roster_core::store::KeyRow;
use std::collections::HashMap;

impl PgTx<'_> {
    /// uid → stored hash, for every user that has one.
    pub fn all_password_hashes(&self) -> Result<HashMap<u32, String>> {
        self.query(
            "SELECT uid, password_hash FROM users WHERE password_hash IS NOT NULL",
            &[],
        )?
        .iter()
        .map(|row| Ok((get_u32(row, 0)?, get(row, 1)?)))
        .collect()
    }

    /// Every uid ever handed out and since deleted, ascending.
    pub fn retired_uids(&self) -> Result<Vec<u32>> {
        self.query("SELECT uid FROM retired_uids ORDER BY uid", &[])?
            .iter()
            .map(|row| get_u32(row, 0))
            .collect()
    }

    /// Adds `uid` to the retired list (a host that joins with `--adopt`
    /// or `--discard` brings the uids it used): false when it was on it
    /// already, which stays as it was.
    pub fn retire_uid(
        &self,
        uid: u32,
        name: &str,
        now: roster_core::clock::Timestamp,
    ) -> Result<bool> {
        let added = self.execute(
            "INSERT INTO retired_uids (uid, name, retired) VALUES ($1, $2, $3) \
             ON CONFLICT (uid) DO NOTHING",
            &[&crate::tx::id(uid), &name, &now],
        )?;
        Ok(added > 0)
    }

    /// uid → SSH keys, oldest first (as `keys_of` lists them).
    pub fn all_keys(&self) -> Result<HashMap<u32, Vec<KeyRow>>> {
        let mut keys: HashMap<u32, Vec<KeyRow>> = HashMap::new();
        for row in self.query(
            "SELECT uid, key_type, blob, comment, fingerprint, added FROM ssh_keys \
             ORDER BY uid, added, seq",
            &[],
        )? {
            keys.entry(get_u32(&row, 0)?).or_default().push(KeyRow {
                key_type: get(&row, 1)?,
                blob: get(&row, 2)?,
                comment: get(&row, 3)?,
                fingerprint: get(&row, 4)?,
                added: get(&row, 5)?,
            });
        }
        Ok(keys)
    }
}

/// A user with the credentials a host may be sent, as the feed loads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserState {
    pub user: roster_core::model::User,
    pub hash: Option<String>,
    pub keys: Vec<KeyRow>,
}

impl PgTx<'_> {
    /// The users with these uids (those that still exist), with grants,
    /// hashes and keys: four queries for a whole batch of the change log
    /// (a bulk create makes thousands of rows naming thousands of users).
    pub fn users_by_uid(
        &self,
        uids: &[u32],
        now: roster_core::clock::Timestamp,
    ) -> Result<HashMap<u32, UserState>> {
        use crate::tx::{USER_COLUMNS, level, user_row};
        let ids: Vec<i64> = uids.iter().map(|uid| i64::from(*uid)).collect();
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.uid = ANY($2)");
        let mut found: HashMap<u32, UserState> = HashMap::new();
        for row in self.query(&sql, &[&now, &ids])? {
            let user = user_row(&row)?;
            found.insert(
                user.uid,
                UserState {
                    user,
                    hash: None,
                    keys: Vec::new(),
                },
            );
        }
        for row in self.query(
            "SELECT uid, environment, level FROM grants WHERE uid = ANY($1)",
            &[&ids],
        )? {
            if let Some(state) = found.get_mut(&get_u32(&row, 0)?) {
                state
                    .user
                    .grants
                    .insert(get(&row, 1)?, level(&get::<String>(&row, 2)?)?);
            }
        }
        for row in self.query(
            "SELECT uid, password_hash FROM users WHERE uid = ANY($1) AND password_hash IS NOT NULL",
            &[&ids],
        )? {
            if let Some(state) = found.get_mut(&get_u32(&row, 0)?) {
                state.hash = Some(get(&row, 1)?);
            }
        }
        for row in self.query(
            "SELECT uid, key_type, blob, comment, fingerprint, added FROM ssh_keys \
             WHERE uid = ANY($1) ORDER BY uid, added, seq",
            &[&ids],
        )? {
            if let Some(state) = found.get_mut(&get_u32(&row, 0)?) {
                state.keys.push(KeyRow {
                    key_type: get(&row, 1)?,
                    blob: get(&row, 2)?,
                    comment: get(&row, 3)?,
                    fingerprint: get(&row, 4)?,
                    added: get(&row, 5)?,
                });
            }
        }
        Ok(found)
    }
}
