//! Crypt hashes adopted from a host's `shadow` file (`roster users
//! import`): yescrypt, sha512-crypt, sha256-crypt, bcrypt and md5-crypt,
//! kept as they are until the user's first successful login rehashes the
//! password with argon2id in the login's own transaction
//! ([`crate::Roster::finish_login_upgrading`]).
//!
//! Core only recognises and checks them: verifying one takes the system's
//! libcrypt (`crypt_r`), which rosterd links and nothing else does (never
//! the PAM or NSS modules, never core: DESIGN.md "What each crate may
//! link").

use crate::error::Error;
use std::fmt;

/// The longest crypt string we store: libcrypt's own output limit is 384.
pub const MAX_LEGACY_HASH_BYTES: usize = 384;

/// A crypt scheme Roster adopts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegacyKind {
    Yescrypt,
    Sha512Crypt,
    Sha256Crypt,
    Bcrypt,
    Md5Crypt,
}

impl LegacyKind {
    pub const ALL: [LegacyKind; 5] = [
        LegacyKind::Yescrypt,
        LegacyKind::Sha512Crypt,
        LegacyKind::Sha256Crypt,
        LegacyKind::Bcrypt,
        LegacyKind::Md5Crypt,
    ];

    /// The name `roster users show` prints ("legacy hash (yescrypt)").
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyKind::Yescrypt => "yescrypt",
            LegacyKind::Sha512Crypt => "sha512-crypt",
            LegacyKind::Sha256Crypt => "sha256-crypt",
            LegacyKind::Bcrypt => "bcrypt",
            LegacyKind::Md5Crypt => "md5-crypt",
        }
    }

    /// The scheme of a crypt string, by its prefix; None for anything else
    /// (argon2id PHC strings included).
    pub fn of(hash: &str) -> Option<LegacyKind> {
        let prefixes: [(&str, LegacyKind); 7] = [
            ("$y$", LegacyKind::Yescrypt),
            ("$6$", LegacyKind::Sha512Crypt),
            ("$5$", LegacyKind::Sha256Crypt),
            ("$2b$", LegacyKind::Bcrypt),
            ("$2a$", LegacyKind::Bcrypt),
            ("$2y$", LegacyKind::Bcrypt),
            ("$1$", LegacyKind::Md5Crypt),
        ];
        prefixes
            .iter()
            .find(|(prefix, _)| hash.starts_with(prefix))
            .map(|(_, kind)| *kind)
    }
}

impl fmt::Display for LegacyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a stored password hash is, as `roster users show` tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashKind {
    Argon2id,
    Legacy(LegacyKind),
}

impl HashKind {
    /// None for a hash that is neither (the store refuses those).
    pub fn of(hash: &str) -> Option<HashKind> {
        if let Some(kind) = LegacyKind::of(hash) {
            return Some(HashKind::Legacy(kind));
        }
        hash.starts_with("$argon2id$").then_some(HashKind::Argon2id)
    }

    /// "argon2id", or "legacy hash (yescrypt), upgraded at next login".
    pub fn describe(self) -> String {
        match self {
            HashKind::Argon2id => "argon2id".into(),
            HashKind::Legacy(kind) => format!("legacy hash ({kind}), upgraded at next login"),
        }
    }
}

/// Whether `hash` is a crypt string of a scheme Roster adopts, made only
/// of crypt's alphabet (`./0-9A-Za-z`, `$`, and yescrypt's and the
/// sha-crypts' `=`/`,` in parameters): what import stores. The answer is
/// its scheme; `InvalidArgument` names the problem otherwise, never the
/// hash itself.
pub fn check_legacy(hash: &str) -> crate::Result<LegacyKind> {
    let Some(kind) = LegacyKind::of(hash) else {
        return Err(Error::InvalidArgument(
            "the password hash is not one Roster adopts: yescrypt ($y$), sha512-crypt ($6$), \
             sha256-crypt ($5$), bcrypt ($2b$, $2a$, $2y$) or md5-crypt ($1$)"
                .into(),
        ));
    };
    if hash.len() > MAX_LEGACY_HASH_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the {kind} hash is longer than {MAX_LEGACY_HASH_BYTES} bytes"
        )));
    }
    let crypt_alphabet =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '$' | '=' | ',');
    if !hash.chars().all(crypt_alphabet) {
        return Err(Error::InvalidArgument(format!(
            "the {kind} hash holds characters crypt never writes"
        )));
    }
    // A prefix with nothing after the salt is a setting, not a hash:
    // crypt would hash any password against it to something else, but a
    // setting in a shadow file means the entry was hand-edited.
    let fields = hash.split('$').filter(|f| !f.is_empty()).count();
    let least = if kind == LegacyKind::Yescrypt { 3 } else { 2 };
    if fields <= least {
        return Err(Error::InvalidArgument(format!(
            "the {kind} hash is incomplete (a salt with no hash after it)"
        )));
    }
    Ok(kind)
}

/// What import may store as a password hash: an argon2id PHC string or an
/// adopted crypt string.
pub fn check_stored_hash(hash: &str) -> crate::Result<HashKind> {
    if hash.starts_with("$argon2") {
        return crate::password::check_phc(hash).map(|()| HashKind::Argon2id);
    }
    check_legacy(hash).map(HashKind::Legacy)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `mkpasswd -m yescrypt|sha-512|sha-256|bcrypt|md5 secret-pw`.
    const YESCRYPT: &str =
        "$y$j9T$lPqG5gXn0tFKsi58akc.p.$aXS93zivkaC/.FlQC8Ftt./KkwOgdtCOCAMv2zmt88A";
    const SHA512: &str = "$6$saltsalt$IG4VjV/YSq/MNgIB45HCraj2ZVoOSH7w7Kmdnqbp3QUKqCLjZHLltSXHE4yBSLdnLa0QoF75KtXO.LtmabF3o1";
    const SHA256: &str = "$5$8SstYHgvTacHjnz6$N3NAPm9aia9lgmR5rGsMDQGMKbgtqJEdilZtvd4uEw8";
    const BCRYPT: &str = "$2b$05$itCJblzS6PGwaOaVEN8LwOw/xSJ/QkMCyr6QMfh4ikKhXNSUjUcB.";
    const MD5: &str = "$1$saltsalt$ChKD3Oxmp6askVIePEOkk0";

    #[test]
    fn every_adopted_scheme_is_recognised_and_checked() {
        for (hash, kind) in [
            (YESCRYPT, LegacyKind::Yescrypt),
            (SHA512, LegacyKind::Sha512Crypt),
            (SHA256, LegacyKind::Sha256Crypt),
            (BCRYPT, LegacyKind::Bcrypt),
            (MD5, LegacyKind::Md5Crypt),
        ] {
            assert_eq!(check_legacy(hash).unwrap(), kind, "{hash}");
            assert_eq!(HashKind::of(hash), Some(HashKind::Legacy(kind)));
            assert_eq!(check_stored_hash(hash).unwrap(), HashKind::Legacy(kind));
        }
        assert_eq!(
            HashKind::Legacy(LegacyKind::Yescrypt).describe(),
            "legacy hash (yescrypt), upgraded at next login"
        );
    }

    #[test]
    fn what_is_not_an_adopted_hash_is_refused_without_echoing_it() {
        for bad in [
            "",
            "*",
            "!$6$saltsalt$abc",
            "x",
            "$6$",
            "$6$saltonly",
            "$y$j9T$saltonly",
            "$7$DES-ish",
            "abDES0123456",
            "$6$salt$has:colon",
            "$6$salt$has space",
            "$6$salt$new\nline",
        ] {
            let err = check_stored_hash(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
            if bad.len() > 3 {
                assert!(!err.to_string().contains(bad), "{bad:?} echoed: {err}");
            }
        }
        let long = format!("$6$salt${}", "a".repeat(MAX_LEGACY_HASH_BYTES));
        assert!(check_legacy(&long).is_err());
        assert_eq!(
            LegacyKind::of("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA"),
            None
        );
    }
}
