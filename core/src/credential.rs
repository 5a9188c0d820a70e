//! Registration codes and API tokens as strings: a public id (so rosterd
//! finds the row, and the user, from the string alone) and a secret of 130
//! random bits, in lowercase Crockford base32 (no i, l, o, u: nothing to
//! confuse when read aloud or copied by hand).
//!
//! The secret has the entropy, so it is stored as a SHA-256 hash (no
//! argon2, no queue) and compared in constant time.

use crate::error::Error;
use crate::secret::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 8 characters = 40 bits: unique enough for ids, short enough to type.
pub const ID_CHARS: usize = 8;
/// 26 characters = 130 bits.
pub const SECRET_CHARS: usize = 26;

fn random_chars(n: usize) -> crate::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Store(format!("no randomness from the kernel: {e}")))?;
    // 256 is a multiple of 32, so `% 32` keeps the distribution uniform.
    let out = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
        .collect();
    bytes.zeroize();
    Ok(out)
}

/// A fresh credential: its public id, the whole string to hand out once,
/// and the hash to store.
pub struct Issued {
    pub id: String,
    pub full: Secret,
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A new `ID-SECRET` string.
pub fn issue() -> crate::Result<Issued> {
    let id = random_chars(ID_CHARS)?;
    let secret = Secret::new(random_chars(SECRET_CHARS)?);
    let hash = hash(&secret);
    let full = Secret::new(format!("{id}-{}", secret.expose()));
    Ok(Issued { id, full, hash })
}

pub fn hash(secret: &Secret) -> Vec<u8> {
    Sha256::digest(secret.expose().as_bytes()).to_vec()
}

/// Split a typed-in credential into (id, secret). Forgiving the way
/// Crockford base32 is: case, surrounding spaces, and `o`→`0`, `i`/`l`→`1`.
/// `None` when it can't be one of ours.
pub fn parse(text: &Secret) -> Option<(String, Secret)> {
    let text = text.expose().trim();
    if text.len() != ID_CHARS + 1 + SECRET_CHARS {
        return None;
    }
    let normal: String = text
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect();
    let normal = Secret::new(normal);
    let (id, rest) = normal.expose().split_once('-')?;
    let valid = |s: &str| s.bytes().all(|b| ALPHABET.contains(&b));
    if id.len() != ID_CHARS || rest.len() != SECRET_CHARS || !valid(id) || !valid(rest) {
        return None;
    }
    Some((id.to_string(), Secret::new(rest)))
}

/// Whether `secret` hashes to `stored`, in constant time.
pub fn matches(secret: &Secret, stored: &[u8]) -> bool {
    hash(secret).ct_eq(stored).into()
}
