//! Secrets at rest: XChaCha20-Poly1305 per value under a key kept in a
//! root-only file (`secrets_key_file`), and the keyed checksum that tells
//! identical content apart without a plain hash of it.
//!
//! Each value is sealed with a fresh random 24-byte nonce and the secret
//! id, the revision and the key name as associated data, so a sealed
//! value moved to another secret, revision or key (by editing the
//! database) fails to open rather than reading as that one. Each value
//! records the id of the key that sealed it: the key file is a ring whose
//! first key seals and whose others only open, which lets
//! `roster secrets rekey` survive a `kill -9` at any point (see
//! [`write_key_file`]).

use crate::error::Error;
use crate::store::SealedValue;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

/// The bytes of one key (256 bits).
pub const KEY_BYTES: usize = 32;
/// XChaCha20's nonce: long enough that random nonces never repeat.
pub const NONCE_BYTES: usize = 24;

/// The first line of a key file, so a stray file is recognized as one.
const HEADER: &str = "# roster secrets key file: keep it 0600, back it up apart from the database";

/// One key and its public id (a truncated hash of it: naming a key
/// reveals nothing about it).
pub struct SecretKey {
    id: String,
    key: Zeroizing<[u8; KEY_BYTES]>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn key_id(key: &[u8; KEY_BYTES]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"roster secrets key id v1\0");
    hasher.update(key);
    hex(&hasher.finalize()[..8])
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> crate::Result<SecretKey> {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(key.as_mut())
            .map_err(|e| Error::Store(format!("no randomness from the kernel: {e}")))?;
        Ok(SecretKey::from_bytes(key))
    }

    fn from_bytes(key: Zeroizing<[u8; KEY_BYTES]>) -> SecretKey {
        SecretKey {
            id: key_id(&key),
            key,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys of a key file: the first seals new values, every one opens.
#[derive(Debug)]
pub struct Keyring {
    current: SecretKey,
    older: Vec<SecretKey>,
    path: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The associated data binding a sealed value to its place.
fn associated_data(secret: &str, revision: u32, key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(secret.len() + key.len() + 16);
    aad.extend_from_slice(b"roster secret v1\0");
    aad.extend_from_slice(secret.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&revision.to_be_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad
}

impl Keyring {
    /// A ring of `keys` (the first seals) kept in `path`.
    pub fn new(keys: Vec<SecretKey>, path: &Path) -> crate::Result<Keyring> {
        let mut keys = keys.into_iter();
        let Some(current) = keys.next() else {
            return Err(Error::Store(format!(
                "the secrets key file {} holds no key: restore it from its backup",
                path.display()
            )));
        };
        Ok(Keyring {
            current,
            older: keys.collect(),
            path: path.to_path_buf(),
        })
    }

    fn keys(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    /// The key file this ring was read from (or is to be written to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key that seals new values.
    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys().map(|k| k.id.clone()).collect()
    }

    pub fn holds(&self, id: &str) -> bool {
        self.keys().any(|k| k.id == id)
    }

    fn key(&self, id: &str) -> crate::Result<&SecretKey> {
        self.keys().find(|k| k.id == id).ok_or_else(|| {
            Error::Store(format!(
                "a secret value is sealed with key {id}, which the secrets key file {} does not hold: restore the key file that belongs to this database",
                self.path.display()
            ))
        })
    }

    /// Seal `plaintext` as `key` of `secret`'s `revision`, under the
    /// current key and a fresh random nonce.
    pub fn seal(
        &self,
        secret: &str,
        revision: u32,
        key: &str,
        plaintext: &[u8],
    ) -> crate::Result<SealedValue> {
        let current = self.current();
        let cipher = XChaCha20Poly1305::new(current.key.as_ref().into());
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Store(format!("no randomness from the kernel: {e}")))?;
        let aad = associated_data(secret, revision, key);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Store(format!("can't encrypt the value {key:?} of {secret}")))?;
        Ok(SealedValue {
            key: key.to_string(),
            key_id: current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// The plaintext of a sealed value of `secret`'s `revision`.
    pub fn open(
        &self,
        secret: &str,
        revision: u32,
        value: &SealedValue,
    ) -> crate::Result<Zeroizing<Vec<u8>>> {
        let key = self.key(&value.key_id)?;
        if value.nonce.len() != NONCE_BYTES {
            return Err(Error::Store(format!(
                "the value {:?} of {secret} revision {revision} is damaged (its nonce is {} bytes)",
                value.key,
                value.nonce.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new(key.key.as_ref().into());
        let aad = associated_data(secret, revision, &value.key);
        cipher
            .decrypt(
                XNonce::from_slice(&value.nonce),
                Payload {
                    msg: &value.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::Store(format!(
                    "the value {:?} of {secret} revision {revision} does not decrypt: it was changed in the database, or the key file {} is not the one it was sealed with",
                    value.key,
                    self.path.display()
                ))
            })
    }

    /// The keyed checksum of a revision's content under key `key_id`:
    /// HMAC-SHA-256 under a key derived from that key, over the secret id
    /// and every key and value, length-prefixed. Comparing it tells
    /// identical content without storing anything that confirms a
    /// guessed value to someone holding the database only.
    pub fn checksum<'v>(
        &self,
        key_id: &str,
        secret: &str,
        content: impl IntoIterator<Item = (&'v str, &'v [u8])>,
    ) -> crate::Result<Vec<u8>> {
        let key = self.key(key_id)?;
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(key.key.as_ref())
            .map_err(|e| Error::Store(format!("can't key the checksum: {e}")))?;
        derive.update(b"roster secret checksum v1");
        let mut derived = derive.finalize().into_bytes();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&derived)
            .map_err(|e| Error::Store(format!("can't key the checksum: {e}")))?;
        derived.zeroize();
        mac.update(
            &u64::try_from(secret.len())
                .unwrap_or(u64::MAX)
                .to_be_bytes(),
        );
        mac.update(secret.as_bytes());
        for (name, value) in content {
            mac.update(&u64::try_from(name.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(name.as_bytes());
            mac.update(&u64::try_from(value.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(value);
        }
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// This ring with `new` in front (it seals; the others still open).
    pub fn with_new_key(self, new: SecretKey) -> Keyring {
        let mut older = vec![self.current];
        older.extend(self.older);
        Keyring {
            current: new,
            older,
            path: self.path,
        }
    }

    /// Only the current key (after every value was re-sealed with it).
    pub fn current_only(self) -> Keyring {
        Keyring {
            older: Vec::new(),
            ..self
        }
    }
}

/// Read the key ring in `path`. The file must be a regular file of ours,
/// not readable by others.
pub fn read_key_file(path: &Path) -> crate::Result<Keyring> {
    let meta = fs::symlink_metadata(path).map_err(|e| {
        Error::Store(format!(
            "can't read the secrets key file {}: {e}",
            path.display()
        ))
    })?;
    // SAFETY: geteuid has no preconditions and can't fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.file_type().is_file() || meta.uid() != euid || meta.mode() & 0o077 != 0 {
        return Err(Error::Store(format!(
            "the secrets key file {} must be a regular file owned by this service's uid {euid} with mode 600 (it has mode {:o}, owner {})",
            path.display(),
            meta.mode() & 0o7777,
            meta.uid()
        )));
    }
    if meta.len() > 64 * 1024 {
        return Err(Error::Store(format!(
            "{} is too large to be a secrets key file",
            path.display()
        )));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
        Error::Store(format!(
            "can't read the secrets key file {}: {e}",
            path.display()
        ))
    })?);
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            Error::Store(format!(
                "line {} of the secrets key file {} is not `key ID HEX`: restore the file from its backup",
                n + 1,
                path.display()
            ))
        };
        let mut words = line.split_whitespace();
        let (Some("key"), Some(id), Some(material), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(bad());
        };
        let bytes = Zeroizing::new(unhex(material).ok_or_else(bad)?);
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        if bytes.len() != KEY_BYTES {
            return Err(bad());
        }
        key.copy_from_slice(&bytes);
        let key = SecretKey::from_bytes(key);
        if key.id != id {
            return Err(Error::Store(format!(
                "line {} of the secrets key file {} names key {id} but holds key {}: the file was edited; restore it from its backup",
                n + 1,
                path.display(),
                key.id
            )));
        }
        keys.push(key);
    }
    Keyring::new(keys, path)
}

/// Write `ring` to its file, replacing it at once: a temp file (0600) in
/// the same folder, synced, renamed over the old one, the folder synced.
/// A crash leaves the old file or the new one, never a mix. `create_new`
/// refuses to replace an existing file (the first key of a store).
pub fn write_key_file(ring: &Keyring, create_new: bool) -> crate::Result<()> {
    let path = ring.path();
    let failed = |e: std::io::Error| {
        Error::Store(format!(
            "can't write the secrets key file {}: {e}",
            path.display()
        ))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(failed)?;
    }
    if create_new && fs::symlink_metadata(path).is_ok() {
        return Err(Error::Store(format!(
            "the secrets key file {} exists already: rosterd never replaces a key it did not read",
            path.display()
        )));
    }
    let mut text = Zeroizing::new(format!("{HEADER}\n"));
    for key in ring.keys() {
        text.push_str(&format!("key {} {}\n", key.id, hex(key.key.as_ref())));
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".new");
    let temp = PathBuf::from(temp);
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    fs::rename(&temp, path).map_err(failed)?;
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(failed)?;
    Ok(())
}

/// Where the key file is: the configured one, else `secrets.key` beside
/// the database (rosterd's state directory).
pub fn key_file_path(config: &crate::Config) -> PathBuf {
    match &config.secrets_key_file {
        Some(path) => path.clone(),
        None => config
            .database
            .parent()
            .map(|dir| dir.join("secrets.key"))
            .unwrap_or_else(|| PathBuf::from("secrets.key")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ring(dir: &Path) -> Keyring {
        Keyring::new(
            vec![SecretKey::generate().unwrap()],
            &dir.join("secrets.key"),
        )
        .unwrap()
    }

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let ring = ring(dir.path());
        let sealed = ring.seal("secret:a", 1, "password", b"hunter2").unwrap();
        assert_eq!(
            ring.open("secret:a", 1, &sealed).unwrap().as_slice(),
            b"hunter2"
        );
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        // Another secret, revision or key name: refused.
        assert!(ring.open("secret:b", 1, &sealed).is_err());
        assert!(ring.open("secret:a", 2, &sealed).is_err());
        let renamed = SealedValue {
            key: "username".into(),
            ..sealed.clone()
        };
        assert!(ring.open("secret:a", 1, &renamed).is_err());
        // Two seals of one value differ (a fresh nonce each).
        let again = ring.seal("secret:a", 1, "password", b"hunter2").unwrap();
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn the_key_file_round_trips_and_a_wrong_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = ring(dir.path());
        write_key_file(&first, true).unwrap();
        let mode = fs::metadata(first.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(write_key_file(&first, true).is_err());
        let read = read_key_file(first.path()).unwrap();
        assert_eq!(read.ids(), first.ids());
        let sealed = first.seal("secret:a", 1, "password", b"x").unwrap();
        assert_eq!(read.open("secret:a", 1, &sealed).unwrap().as_slice(), b"x");
        let other = ring(dir.path());
        let e = other.open("secret:a", 1, &sealed).unwrap_err().to_string();
        assert!(e.contains("secrets.key"), "{e}");
    }

    #[test]
    fn checksums_are_keyed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (ring(dir.path()), ring(dir.path()));
        let content = [("password", b"x".as_slice())];
        let of = |r: &Keyring| r.checksum(r.current().id(), "secret:a", content).unwrap();
        assert_eq!(of(&a), of(&a));
        assert_ne!(of(&a), of(&b));
        assert_ne!(of(&a), Sha256::digest(b"x").to_vec());
    }
}
