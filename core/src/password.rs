//! argon2id hashing and verification, and the password policy.
//!
//! Hashing is slow on purpose; rosterd runs these calls off its async
//! threads through its bounded queue.

use crate::config::{Argon2Config, PasswordConfig};
use crate::secret::Secret;

/// Hashes and verifies with the configured argon2id parameters.
#[derive(Clone, Debug)]
pub struct Hasher {
    _params: Argon2Config,
}

impl Hasher {
    pub fn new(params: &Argon2Config) -> crate::Result<Self> {
        Ok(Hasher {
            _params: params.clone(),
        })
    }

    /// An argon2id PHC string for `password`, with a fresh salt.
    pub fn hash(&self, password: &Secret) -> crate::Result<String> {
        let _ = password;
        todo!("core engineer")
    }

    /// True when `password` matches `phc`. With `phc = None` (unknown or
    /// pending user) it verifies against a dummy hash of the same cost and
    /// answers false, so both take the same time.
    pub fn verify(&self, password: &Secret, phc: Option<&str>) -> bool {
        let _ = (password, phc);
        todo!("core engineer")
    }
}

/// The policy for a new password: minimum length, not the user name, not
/// the old password. `InvalidArgument` with a sentence per failure.
pub fn check_policy(
    policy: &PasswordConfig,
    user: &str,
    new: &Secret,
    old: Option<&Secret>,
) -> crate::Result<()> {
    let _ = (policy, user, new, old);
    todo!("core engineer")
}
