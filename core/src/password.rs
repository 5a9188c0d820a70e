//! argon2id hashing and verification, and the password policy.
//!
//! Hashing is slow on purpose; rosterd runs these calls off its async
//! threads through its bounded queue.

use crate::config::{Argon2Config, PasswordConfig};
use crate::error::Error;
use crate::secret::Secret;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use std::sync::{Arc, OnceLock};

/// The longest password we hash: argon2 takes any length, but a megabyte
/// "password" is an attack on memory, not a password.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies with the configured argon2id parameters.
#[derive(Clone, Debug)]
pub struct Hasher {
    params: Params,
    /// The dummy hash `verify(_, None)` checks against, computed on first
    /// use with the same parameters so it costs what a real one costs.
    dummy: Arc<OnceLock<String>>,
}

impl Hasher {
    pub fn new(params: &Argon2Config) -> crate::Result<Self> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| Error::Config(format!("[argon2] parameters refused by argon2: {e}")))?;
        Ok(Hasher {
            params,
            dummy: Arc::new(OnceLock::new()),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// An argon2id PHC string for `password`, with a fresh salt.
    pub fn hash(&self, password: &Secret) -> crate::Result<String> {
        if password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(too_long());
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| Error::Store(format!("no randomness from the kernel for a salt: {e}")))?;
        let hash = self
            .argon2()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map_err(|e| Error::InvalidArgument(format!("can't hash this password: {e}")))?;
        Ok(hash.to_string())
    }

    /// True when `password` matches `phc`. With `phc = None` (unknown or
    /// pending user) it verifies against a dummy hash of the same cost and
    /// answers false, so both take the same time.
    pub fn verify(&self, password: &Secret, phc: Option<&str>) -> bool {
        // Too long to be one of ours: still spend the time (on an empty
        // stand-in) so the length doesn't answer faster.
        let too_long = password.expose().len() > MAX_PASSWORD_BYTES;
        let parsed = phc.and_then(|p| PasswordHash::new(p).ok());
        match parsed {
            // The parameters come from the PHC string, so hashes made under
            // older settings keep verifying.
            Some(parsed) if !too_long => self
                .argon2()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok(),
            _ => {
                let bytes = if too_long {
                    &b""[..]
                } else {
                    password.expose().as_bytes()
                };
                if let Ok(parsed) = PasswordHash::new(self.dummy()) {
                    let _ = self.argon2().verify_password(bytes, &parsed);
                }
                false
            }
        }
    }

    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            // Random so nobody can log in with the dummy's password.
            let mut seed = [0u8; 16];
            let _ = getrandom::fill(&mut seed);
            let seed: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            self.hash(&Secret::new(seed)).unwrap_or_default()
        })
    }
}

fn too_long() -> Error {
    Error::InvalidArgument(format!(
        "the password is longer than {MAX_PASSWORD_BYTES} bytes"
    ))
}

/// Whether `phc` is an argon2id PHC string we could verify: what the store
/// accepts as a password hash.
pub fn check_phc(phc: &str) -> crate::Result<()> {
    let bad = || {
        Error::InvalidArgument(
            "the password hash is not an argon2id PHC string ($argon2id$v=19$…)".into(),
        )
    };
    if phc.len() > 512 {
        return Err(bad());
    }
    let parsed = PasswordHash::new(phc).map_err(|_| bad())?;
    if parsed.algorithm.as_str() != "argon2id" || parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(bad());
    }
    Ok(())
}

/// The policy for a new password: minimum length, not the user name, not
/// the old password. `InvalidArgument` with a sentence per failure.
///
/// For a registration, pass the code as `old`: a new password equal to the
/// code is refused too.
pub fn check_policy(
    policy: &PasswordConfig,
    user: &str,
    new: &Secret,
    old: Option<&Secret>,
) -> crate::Result<()> {
    let pw = new.expose();
    let mut problems = Vec::new();
    let chars = pw.chars().count();
    if chars < policy.min_length {
        problems.push(format!(
            "it has {chars} characters, fewer than the {} required",
            policy.min_length
        ));
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        problems.push(format!("it is longer than {MAX_PASSWORD_BYTES} bytes"));
    }
    if pw.contains('\0') {
        problems.push("it holds a NUL byte, which PAM can't pass".into());
    }
    // Containment only for names of 3+ characters: for `a` or `_` it would
    // refuse nearly every password.
    let (lower_pw, lower_user) = (pw.to_lowercase(), user.to_lowercase());
    if !user.is_empty()
        && (lower_pw == lower_user || (user.chars().count() >= 3 && lower_pw.contains(&lower_user)))
    {
        problems.push("it contains the user name".into());
    }
    if old.is_some_and(|old| old.expose() == pw) {
        problems.push("it is the same as the old password (or the registration code)".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "the new password is refused: {}",
            problems.join("; ")
        )))
    }
}
