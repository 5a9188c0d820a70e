//! argon2id hashing and verification, and the password policy.
//!
//! Hashing is slow on purpose; rosterd runs these calls off its async
//! threads through its bounded queue.

use crate::config::{Argon2Config, PasswordConfig};
use crate::error::Error;
use crate::secret::Secret;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, Version};
use std::sync::{Arc, Mutex};
use zeroize::{Zeroize, Zeroizing};

/// The longest password we hash: argon2 takes any length, but a megabyte
/// "password" is an attack on memory, not a password.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies with the configured argon2id parameters.
#[derive(Clone, Debug)]
pub struct Hasher {
    params: Params,
    /// The dummy hash `verify(_, None)` checks against, made when the
    /// hasher is, with the same parameters so it costs what a real one
    /// costs. Never empty: a hasher that can't make one isn't made.
    dummy: Arc<String>,
    /// argon2's working memory, kept between verifies (see [`Memory`]).
    memory: Arc<Memory>,
}

/// Block buffers kept for reuse by [`Hasher::verify`].
///
/// Why: argon2 allocates its `memory_kib` (19 MiB by default) afresh per
/// hash, and in rosterd, whose allocator returns such blocks to the kernel
/// at once, every verify page-faulted all 19 MiB back in: measured ~13 ms
/// of a ~30 ms verify on a 2-CPU VM, the bulk of pam_roster's overhead.
/// At most `keep` buffers are kept (rosterd: its concurrent-hash limit, so
/// the memory stays capped), each wiped before it is kept (see
/// [`Hasher::verify_then`]).
#[derive(Debug)]
struct Memory {
    free: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

/// Where random bytes come from: the kernel's `getrandom`, or in tests a
/// source that fails.
pub(crate) type Randomness = fn(&mut [u8]) -> Result<(), String>;

fn kernel_randomness(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| e.to_string())
}

impl Hasher {
    /// Also makes the dummy hash (one argon2 hash): an error when the
    /// kernel gives no randomness for it, so rosterd refuses to start
    /// rather than answer unknown users at no cost (a timing oracle).
    pub fn new(params: &Argon2Config) -> crate::Result<Self> {
        Self::with_randomness(params, kernel_randomness)
    }

    pub(crate) fn with_randomness(
        params: &Argon2Config,
        random: Randomness,
    ) -> crate::Result<Self> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| Error::Config(format!("[argon2] parameters refused by argon2: {e}")))?;
        let mut hasher = Hasher {
            params,
            dummy: Arc::new(String::new()),
            memory: Arc::new(Memory {
                free: Mutex::new(Vec::new()),
                keep: 1,
            }),
        };
        hasher.dummy = Arc::new(hasher.make_dummy(random)?);
        Ok(hasher)
    }

    /// A hash of a random password nobody knows (so nobody can log in
    /// with the dummy's password), with a random salt.
    fn make_dummy(&self, random: Randomness) -> crate::Result<String> {
        let no_randomness = |e: String| {
            Error::Config(format!(
                "no randomness from the kernel for the dummy password hash ({e}): \
                 without it an unknown user's login would be refused at no cost, \
                 which tells an attacker which users exist; check that getrandom(2) \
                 works in this sandbox or container"
            ))
        };
        let (mut seed, mut salt) = ([0u8; 16], [0u8; 16]);
        random(&mut seed).map_err(no_randomness)?;
        random(&mut salt).map_err(no_randomness)?;
        let seed: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let dummy = self.hash_with_salt(&Secret::new(seed), &salt)?;
        if dummy.is_empty() {
            return Err(no_randomness("the dummy hash came out empty".into()));
        }
        Ok(dummy)
    }

    /// Keeps up to `buffers` argon2 working buffers between verifies (1 by
    /// default): as many as verifies may run at once, so none pays the page
    /// faults of a fresh buffer. Idle memory cost: `buffers` × `memory_kib`.
    pub fn keep_buffers(mut self, buffers: usize) -> Self {
        self.memory = Arc::new(Memory {
            free: Mutex::new(Vec::new()),
            keep: buffers,
        });
        self
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
        self.hash_with_salt(password, &salt)
    }

    fn hash_with_salt(&self, password: &Secret, salt: &[u8]) -> crate::Result<String> {
        let hash = self
            .argon2()
            .hash_password_with_salt(password.expose().as_bytes(), salt)
            .map_err(|e| Error::InvalidArgument(format!("can't hash this password: {e}")))?;
        Ok(hash.to_string())
    }

    /// True when `password` matches `phc`. With `phc = None` (unknown or
    /// pending user) it verifies against a dummy hash of the same cost and
    /// answers false, so both take the same time.
    pub fn verify(&self, password: &Secret, phc: Option<&str>) -> bool {
        let mut answer = false;
        self.verify_then(password, phc, |right| answer = right);
        answer
    }

    /// As [`Hasher::verify`], handing the answer to `answer` as soon as it
    /// is known, before the working buffer is wiped (a few ms for 19 MiB):
    /// rosterd replies from `answer`, so the wipe is off the login's path.
    pub fn verify_then(&self, password: &Secret, phc: Option<&str>, answer: impl FnOnce(bool)) {
        // Too long to be one of ours: still spend the time (on an empty
        // stand-in) so the length doesn't answer faster.
        let too_long = password.expose().len() > MAX_PASSWORD_BYTES;
        let parsed = phc.and_then(|p| PasswordHash::new(p).ok());
        let mut memory = self.memory.take();
        let (right, used) = match parsed {
            // The parameters come from the PHC string, so hashes made under
            // older settings keep verifying.
            Some(parsed) if !too_long => {
                verify_in(password.expose().as_bytes(), &parsed, &mut memory)
            }
            _ => {
                let bytes = if too_long {
                    &b""[..]
                } else {
                    password.expose().as_bytes()
                };
                let used = PasswordHash::new(&self.dummy)
                    .map(|parsed| verify_in(bytes, &parsed, &mut memory).1)
                    .unwrap_or(0);
                (false, used)
            }
        };
        answer(right);
        self.memory
            .give_back(memory, used, self.params.block_count());
    }

    /// For tests: per kept buffer, whether it is all zeros.
    #[cfg(test)]
    pub(crate) fn kept_buffers_wiped(&self) -> Vec<bool> {
        self.memory
            .free
            .lock()
            .map(|free| {
                free.iter()
                    .map(|b| b.iter().all(|block| block.as_ref().iter().all(|w| *w == 0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// For tests: per kept buffer, its length in blocks.
    #[cfg(test)]
    pub(crate) fn kept_buffer_blocks(&self) -> Vec<usize> {
        self.memory
            .free
            .lock()
            .map(|free| free.iter().map(Vec::len).collect())
            .unwrap_or_default()
    }

    /// For tests: the dummy hash.
    #[cfg(test)]
    pub(crate) fn dummy_hash(&self) -> &str {
        &self.dummy
    }
}

impl Memory {
    fn take(&self) -> Vec<Block> {
        self.free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }

    /// Wipes the first `used` blocks of `buffer` (they derive from the
    /// password: block 0 alone would let a guess be checked with one
    /// Blake2b) and keeps it if there is room and it is no larger than the
    /// configured parameters need (an old hash's larger memory is not
    /// kept). Only the used blocks: the rest are zero already (fresh, or
    /// wiped when last given back), so a verify of a cheaper hash than the
    /// configured one doesn't pay for wiping memory it never touched.
    fn give_back(&self, mut buffer: Vec<Block>, used: usize, configured_blocks: usize) {
        // zeroize: volatile writes, never optimized away (the buffer may be
        // freed right after); as fast as a memset here (~2.7 ms for 19 MiB).
        // Wiped before anything else, a buffer that is not kept included.
        let used = used.min(buffer.len());
        for block in buffer.iter_mut().take(used) {
            block.zeroize();
        }
        if buffer.is_empty() || buffer.len() > configured_blocks {
            return;
        }
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.keep
        {
            free.push(buffer);
        }
    }
}

/// argon2's own verify, with `memory` as its working buffer (grown when
/// `phc`'s parameters need more). False for any PHC string that doesn't
/// verify, parse into parameters, or match. Also answers how many blocks
/// at the start of `memory` it may have written (0 when it bailed out
/// before hashing): the ones to wipe.
fn verify_in(password: &[u8], phc: &PasswordHash, memory: &mut Vec<Block>) -> (bool, usize) {
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return (false, 0);
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return (false, 0);
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return (false, 0),
    };
    let Ok(params) = Params::try_from(phc) else {
        return (false, 0);
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let Some(work) = memory.get_mut(..blocks) else {
        return (false, 0);
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return (false, 0);
    };
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password, salt, out, work)
        .is_err()
    {
        return (false, blocks);
    }
    // Output's == is constant-time.
    let right = Output::new(out).is_ok_and(|computed| &computed == expected);
    (right, blocks)
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
    // A lowercased copy of the password is a copy of it: wiped on drop too.
    let lower_pw = Zeroizing::new(pw.to_lowercase());
    let lower_user = user.to_lowercase();
    if !user.is_empty()
        && (*lower_pw == lower_user
            || (user.chars().count() >= 3 && lower_pw.contains(lower_user.as_str())))
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
