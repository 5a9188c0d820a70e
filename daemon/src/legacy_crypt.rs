//! Verifying adopted crypt hashes (yescrypt, sha512/256-crypt, bcrypt,
//! md5-crypt: `roster users import`) through the system's libcrypt.
//!
//! Only rosterd links libcrypt (`-lcrypt`, this module's extern block):
//! never the PAM or NSS modules, which run inside other people's
//! processes, and never core (DESIGN.md "What each crate may link"). No
//! crate: a pure-Rust one covering yescrypt and bcrypt both doesn't exist,
//! and `crypt_r` is one function.
//!
//! Every verify runs in the argon2 queue (its bounds hold for legacy
//! verifies too) and is followed by argon2 work of the same cost whatever
//! the answer: the argon2id rehash when the password is right (stored by
//! the login's own transaction), a dummy argon2 verify when it is wrong.
//! While adopted hashes remain in the store, every other verify (an
//! argon2id user's, an unknown or pending user's dummy) also runs a crypt
//! of the kind most adopted hashes have ([`LegacyDummy`], made from one of
//! them with its cost parameters), so a wrong password, an unknown user
//! and a pending user take the same time: one crypt and one argon2 each.
//! (A host whose adopted hashes mix kinds differs by the kinds' costs
//! until their users have logged in once.)

use roster_core::Secret;
use roster_core::legacy_hash::LegacyKind;
use roster_core::password::Hasher;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, Mutex};
use zeroize::Zeroize;

/// `sizeof(struct crypt_data)` in libxcrypt (crypt.h: "chosen to make
/// sizeof (struct crypt_data) add up to exactly 32768 bytes").
const CRYPT_DATA_BYTES: usize = 32768;

#[link(name = "crypt")]
unsafe extern "C" {
    /// `char *crypt_r(const char *phrase, const char *setting, struct
    /// crypt_data *data)`: thread-safe; on failure NULL or a string
    /// starting with `*`.
    fn crypt_r(phrase: *const c_char, setting: *const c_char, data: *mut u8) -> *mut c_char;
}

/// `crypt_r(password, setting)`'s output, None when libcrypt refuses
/// (an unknown scheme, a NUL in the password, a malformed setting).
fn crypt(password: &[u8], setting: &str) -> Option<String> {
    let phrase = CString::new(password).ok()?;
    let setting = CString::new(setting).ok()?;
    // Zeroed, as crypt.h asks for a first call ("initialized" = 0); on the
    // heap: 32 KiB is too much for a blocking thread's stack to assume.
    let mut data = vec![0u8; CRYPT_DATA_BYTES];
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `data` is a zeroed buffer of sizeof(struct crypt_data), exclusively
    // ours. The result points into `data` (or is NULL) and is copied out
    // before `data` is dropped.
    let out = unsafe { crypt_r(phrase.as_ptr(), setting.as_ptr(), data.as_mut_ptr()) };
    let answer = if out.is_null() {
        None
    } else {
        // SAFETY: non-NULL results of crypt_r are NUL-terminated strings
        // inside `data`, which is still alive.
        let text = unsafe { CStr::from_ptr(out) };
        text.to_str()
            .ok()
            .filter(|s| !s.starts_with('*'))
            .map(str::to_owned)
    };
    // The buffer held the password (the `input` field) and its state.
    data.zeroize();
    let mut phrase = phrase.into_bytes();
    phrase.zeroize();
    answer
}

/// Equal bytes, comparing all of them whatever differs first.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `password` matches the crypt string `hash`.
pub fn verify(password: &Secret, hash: &str) -> bool {
    match crypt(password.expose().as_bytes(), hash) {
        Some(mut computed) => {
            let right = same(computed.as_bytes(), hash.as_bytes());
            computed.zeroize();
            right
        }
        None => false,
    }
}

/// The answer of a legacy-aware verify: whether the password is right,
/// and for a right one against an adopted crypt hash, its argon2id rehash.
#[derive(Debug)]
pub struct Verified {
    pub right: bool,
    pub upgrade: Option<String>,
}

/// A crypt hash of a password nobody knows, with the cost parameters of
/// the store's adopted hashes: what an unknown or pending user's verify
/// runs besides the argon2 dummy while adopted hashes remain.
#[derive(Clone, Default)]
pub struct LegacyDummy(Arc<Mutex<Option<(LegacyKind, String)>>>);

impl std::fmt::Debug for LegacyDummy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LegacyDummy").field(&self.kind()).finish()
    }
}

impl LegacyDummy {
    /// The kind of the dummy in use, if any.
    pub fn kind(&self) -> Option<LegacyKind> {
        self.0.lock().ok().and_then(|d| d.as_ref().map(|(k, _)| *k))
    }

    /// Makes the dummy from `sample`, a stored adopted hash (its scheme,
    /// salt and cost), by hashing a random password with it; None clears
    /// it (no adopted hash left).
    pub fn set_from(&self, sample: Option<&str>) {
        let made = sample.and_then(|sample| {
            let kind = LegacyKind::of(sample)?;
            let mut seed = [0u8; 16];
            getrandom::fill(&mut seed).ok()?;
            let mut password: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            let dummy = crypt(password.as_bytes(), sample);
            password.zeroize();
            dummy.map(|d| (kind, d))
        });
        if let Ok(mut slot) = self.0.lock() {
            *slot = made;
        }
    }

    fn hash(&self) -> Option<String> {
        self.0
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|(_, h)| h.clone()))
    }
}

/// The verify rosterd runs for every password: `hash` an argon2id PHC
/// string, an adopted crypt string, or None (unknown or pending user: the
/// dummies). Runs on a queue thread; see the module's timing note.
pub fn verify_any(
    hasher: &Hasher,
    dummy: &LegacyDummy,
    password: &Secret,
    hash: Option<&str>,
    upgrade: bool,
) -> Verified {
    match hash {
        Some(hash) if LegacyKind::of(hash).is_some() => {
            let right = verify(password, hash);
            if right && upgrade {
                // The rehash costs what the dummy verify below costs.
                match hasher.hash(password) {
                    Ok(phc) => Verified {
                        right,
                        upgrade: Some(phc),
                    },
                    // Still a right password: the hash stays legacy.
                    Err(_) => Verified {
                        right,
                        upgrade: None,
                    },
                }
            } else {
                hasher.verify(password, None);
                Verified {
                    right,
                    upgrade: None,
                }
            }
        }
        Some(phc) => {
            // While adopted hashes remain, every verify pays their crypt:
            // an argon2id user costs what an unknown one does.
            if let Some(legacy) = dummy.hash() {
                verify(password, &legacy);
            }
            Verified {
                right: hasher.verify(password, Some(phc)),
                upgrade: None,
            }
        }
        None => {
            if let Some(legacy) = dummy.hash() {
                verify(password, &legacy);
            }
            Verified {
                right: hasher.verify(password, None),
                upgrade: None,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // `mkpasswd -m … secret-pw` (whois's mkpasswd, libxcrypt).
    const HASHES: [&str; 5] = [
        "$y$j9T$lPqG5gXn0tFKsi58akc.p.$aXS93zivkaC/.FlQC8Ftt./KkwOgdtCOCAMv2zmt88A",
        "$6$saltsalt$IG4VjV/YSq/MNgIB45HCraj2ZVoOSH7w7Kmdnqbp3QUKqCLjZHLltSXHE4yBSLdnLa0QoF75KtXO.LtmabF3o1",
        "$5$8SstYHgvTacHjnz6$N3NAPm9aia9lgmR5rGsMDQGMKbgtqJEdilZtvd4uEw8",
        "$2b$05$itCJblzS6PGwaOaVEN8LwOw/xSJ/QkMCyr6QMfh4ikKhXNSUjUcB.",
        "$1$saltsalt$ChKD3Oxmp6askVIePEOkk0",
    ];

    fn hasher() -> Hasher {
        let config = roster_core::config::Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            ..Default::default()
        };
        Hasher::new(&config).unwrap()
    }

    #[test]
    fn libcrypt_verifies_every_adopted_scheme() {
        for hash in HASHES {
            assert!(verify(&Secret::new("secret-pw"), hash), "{hash}");
            assert!(!verify(&Secret::new("secret-px"), hash), "{hash}");
            assert!(!verify(&Secret::new(""), hash), "{hash}");
            assert!(!verify(&Secret::new("secret\0pw"), hash), "{hash}");
        }
        assert!(!verify(&Secret::new("x"), "*"));
        assert!(!verify(&Secret::new("x"), "$9$nonsense"));
    }

    #[test]
    fn a_right_legacy_password_comes_back_rehashed_a_wrong_one_does_not() {
        let (hasher, dummy) = (hasher(), LegacyDummy::default());
        for hash in HASHES {
            let right = verify_any(&hasher, &dummy, &Secret::new("secret-pw"), Some(hash), true);
            assert!(right.right);
            let phc = right.upgrade.unwrap();
            assert!(phc.starts_with("$argon2id$"));
            assert!(hasher.verify(&Secret::new("secret-pw"), Some(&phc)));
            let wrong = verify_any(&hasher, &dummy, &Secret::new("nope"), Some(hash), true);
            assert!(!wrong.right && wrong.upgrade.is_none());
        }
    }

    #[test]
    fn the_dummy_takes_the_stored_kind_and_never_verifies() {
        let dummy = LegacyDummy::default();
        assert_eq!(dummy.kind(), None);
        dummy.set_from(Some(HASHES[0]));
        assert_eq!(dummy.kind(), Some(LegacyKind::Yescrypt));
        let made = dummy.hash().unwrap();
        assert!(made.starts_with("$y$j9T$"));
        assert!(!verify(&Secret::new("secret-pw"), &made));
        let none = verify_any(&hasher(), &dummy, &Secret::new("secret-pw"), None, true);
        assert!(!none.right && none.upgrade.is_none());
        dummy.set_from(None);
        assert_eq!(dummy.kind(), None);
    }
}
