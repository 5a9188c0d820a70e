//! The store's epoch: a random id made by `init` and again by `restore`.
//! A host that sees another epoch than its cursor's drops the cursor and
//! resyncs in full (DESIGN.md "Fleet mode"). 26 characters of core's
//! lowercase base32 alphabet (Crockford's: no i, l, o, u), 130 bits.

use crate::PgTx;
use crate::tx::{Result, get};
use roster_core::clock::Timestamp;
use roster_core::error::Error;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// The schema's CHECK holds every epoch to this length.
pub const EPOCH_CHARS: usize = 26;

/// A fresh epoch from the kernel's random bits.
pub fn random_epoch() -> Result<String> {
    let mut bytes = [0u8; EPOCH_CHARS];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Store(format!("no randomness from the kernel for the epoch: {e}")))?;
    // 256 is a multiple of 32, so `% 32` keeps the distribution uniform.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
        .collect())
}

impl PgTx<'_> {
    /// The store's epoch; `None` before `init`.
    pub fn epoch(&self) -> Result<Option<String>> {
        self.query_opt("SELECT epoch FROM store_meta", &[])?
            .map(|row| get(&row, 0))
            .transpose()
    }

    /// Make the store's first epoch (`init`) and answer it; refused when
    /// the store has one already (it was initialized: `restore` makes a
    /// new one).
    pub fn init_epoch(&self, now: Timestamp) -> Result<String> {
        let epoch = random_epoch()?;
        let made = self.execute(
            "INSERT INTO store_meta (epoch, created) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&epoch, &now],
        )?;
        if made == 0 {
            let existing = self.epoch()?.unwrap_or_default();
            return Err(Error::AlreadyExists(format!(
                "the store was initialized already (epoch {existing}): nothing changed; a restored backup gets a new epoch from `restore`"
            )));
        }
        Ok(epoch)
    }

    /// Replace the epoch (`restore`), or make it if there was none;
    /// answers the new one. Every host's cursor becomes invalid.
    pub fn new_epoch(&self, now: Timestamp) -> Result<String> {
        let epoch = random_epoch()?;
        self.execute(
            "INSERT INTO store_meta (epoch, created) VALUES ($1, $2) \
             ON CONFLICT (only_row) DO UPDATE SET epoch = excluded.epoch, created = excluded.created",
            &[&epoch, &now],
        )?;
        Ok(epoch)
    }
}
