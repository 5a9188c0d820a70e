//! Every user's credentials at once, for an environment's full snapshot:
//! two queries whatever the number of users, where a query per user would
//! take 100,000 round trips.

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
