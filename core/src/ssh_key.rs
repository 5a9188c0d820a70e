//! SSH public keys: one `authorized_keys` line, parsed and validated.
//!
//! A key line is `TYPE BASE64 [COMMENT]` and nothing else. What is refused,
//! each with a sentence that says why and what to give instead:
//!
//! - an options prefix (`command="…"`, `from=…`, `no-pty`, `restrict`, …):
//!   options would let a user attach forced commands, source restrictions
//!   or environment settings to a key the administrator stores on their
//!   behalf, so Roster stores bare keys only;
//! - types other than the seven below (DSA, certificates, unknown names);
//! - base64 that isn't strict (RFC 4648 alphabet, padding, no stray bits);
//! - a blob whose own type string differs from the declared type, that is
//!   truncated or has bytes left over, or whose fields have the wrong size;
//! - RSA moduli under [`MIN_RSA_BITS`] or over [`MAX_RSA_BITS`];
//! - ECDSA points that are compressed or don't lie on their curve;
//! - lines over [`MAX_LINE_BYTES`], control characters, newlines, NUL, and
//!   a second key on the same line.
//!
//! The comment is kept, sanitized: whitespace runs become one space and
//! invisible formatting characters (bidi overrides, zero-width spaces) are
//! dropped, so a listing shows what is there.
//!
//! [`PublicKey::fingerprint`] and [`PublicKey::bits`] are what
//! `ssh-keygen -l` prints; [`PublicKey::line`] is the canonical line sshd
//! reads.
//!
//! The blob (the SSH wire format) is decoded by the `ssh-key` crate, which
//! knows every type above, computes the fingerprint, and through the
//! `p256`/`p384`/`p521` crates checks that an ECDSA point lies on its
//! curve. What stays here is Roster's policy on top of it: the line's
//! syntax and the refusals above, each with its own sentence, since the
//! crate's errors ("length invalid") don't say what to give instead.
//!
//! Pure: no I/O.

use crate::error::Error;
use crate::validate::shown;
use base64ct::{Base64, Base64Unpadded, Encoding};
use sha2::{Digest, Sha256};
use ssh_encoding::Decode;
use ssh_key::HashAlg;
use ssh_key::public::{EcdsaPublicKey, KeyData};
use std::fmt;

/// The longest key line accepted (a 16384-bit RSA key is about 2.8 KiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// The longest comment kept, after sanitizing.
pub const MAX_COMMENT_BYTES: usize = 1024;
/// RSA keys shorter than this are refused (NIST and OpenSSH's advice).
pub const MIN_RSA_BITS: u32 = 2048;
/// OpenSSH's own upper limit on RSA moduli.
pub const MAX_RSA_BITS: u32 = 16384;

/// The key types Roster accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Ed25519,
    Rsa,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    /// FIDO/U2F security key, Ed25519.
    SkEd25519,
    /// FIDO/U2F security key, ECDSA P-256.
    SkEcdsaP256,
}

impl KeyType {
    pub const ALL: [KeyType; 7] = [
        KeyType::Ed25519,
        KeyType::Rsa,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::EcdsaP521,
        KeyType::SkEd25519,
        KeyType::SkEcdsaP256,
    ];

    /// The name in key lines and blobs (`ssh-ed25519`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ssh-ed25519",
            KeyType::Rsa => "ssh-rsa",
            KeyType::EcdsaP256 => "ecdsa-sha2-nistp256",
            KeyType::EcdsaP384 => "ecdsa-sha2-nistp384",
            KeyType::EcdsaP521 => "ecdsa-sha2-nistp521",
            KeyType::SkEd25519 => "sk-ssh-ed25519@openssh.com",
            KeyType::SkEcdsaP256 => "sk-ecdsa-sha2-nistp256@openssh.com",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// What `ssh-keygen -l` prints in parentheses (`ED25519`, `RSA`,
    /// `ECDSA`, `ED25519-SK`, `ECDSA-SK`).
    pub fn label(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ED25519",
            KeyType::Rsa => "RSA",
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => "ECDSA",
            KeyType::SkEd25519 => "ED25519-SK",
            KeyType::SkEcdsaP256 => "ECDSA-SK",
        }
    }

    /// The curve name inside ECDSA blobs and its bit size.
    fn curve(self) -> Option<(&'static str, u32)> {
        match self {
            KeyType::EcdsaP256 | KeyType::SkEcdsaP256 => Some(("nistp256", 256)),
            KeyType::EcdsaP384 => Some(("nistp384", 384)),
            KeyType::EcdsaP521 => Some(("nistp521", 521)),
            _ => None,
        }
    }

    /// What a blob of this type holds after its type name, for the
    /// sentence that refuses a malformed one.
    fn contents(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "a 32-byte Ed25519 public key",
            KeyType::Rsa => "the public exponent and the modulus",
            KeyType::EcdsaP256 => "the curve name and an uncompressed nistp256 point",
            KeyType::EcdsaP384 => "the curve name and an uncompressed nistp384 point",
            KeyType::EcdsaP521 => "the curve name and an uncompressed nistp521 point",
            KeyType::SkEd25519 => "a 32-byte Ed25519 public key and an application string",
            KeyType::SkEcdsaP256 => {
                "the curve name, an uncompressed nistp256 point and an application string"
            }
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated SSH public key. Only [`PublicKey::parse`] and
/// [`PublicKey::from_blob`] make one, so every value is a key that passed
/// every check above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key_type: KeyType,
    blob: Vec<u8>,
    comment: String,
    bits: u32,
    fingerprint: String,
}

impl PublicKey {
    /// Parse one `authorized_keys` line (`TYPE BASE64 [COMMENT]`). Leading
    /// and trailing blanks and one final line ending (`\n` or `\r\n`, as
    /// a `.pub` file has) are allowed; anything else is checked as the
    /// module docs say.
    pub fn parse(line: &str) -> crate::Result<PublicKey> {
        if line.len() > MAX_LINE_BYTES {
            return Err(invalid(format!(
                "the SSH key line is {} bytes long; at most {MAX_LINE_BYTES} are accepted: \
                 give one public key (the one line of a .pub file)",
                line.len()
            )));
        }
        let line = line
            .strip_suffix("\r\n")
            .or_else(|| line.strip_suffix('\n'))
            .unwrap_or(line);
        if line.contains('\0') {
            return Err(invalid(
                "the SSH key contains a NUL byte: give the text of the .pub file".into(),
            ));
        }
        if line.contains(['\n', '\r']) {
            return Err(invalid(
                "the SSH key spans more than one line: give exactly one key, \
                 the one line of a .pub file"
                    .into(),
            ));
        }
        if let Some(c) = line.chars().find(|&c| c.is_control() && c != '\t') {
            return Err(invalid(format!(
                "the SSH key contains the control character {:?}: \
                 give the text of the .pub file",
                c
            )));
        }

        let mut words = line.split([' ', '\t']).filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            return Err(invalid(
                "the SSH key is empty: give one line like \"ssh-ed25519 AAAA… comment\" \
                 (the contents of a .pub file)"
                    .into(),
            ));
        };
        let Some(key_type) = KeyType::from_name(first) else {
            return Err(invalid(unknown_first_word(first, line)));
        };
        let Some(encoded) = words.next() else {
            return Err(invalid(format!(
                "the SSH key has its type {key_type} but no base64 key data after it: \
                 give the whole line of the .pub file"
            )));
        };
        let blob = base64_decode(encoded).map_err(|why| {
            invalid(format!(
                "the {key_type} key's data is not valid base64 ({why}): \
                 give the line of the .pub file unchanged"
            ))
        })?;
        let comment_words: Vec<&str> = words.collect();
        for word in &comment_words {
            if KeyType::from_name(word).is_some() || looks_like_key_data(word) {
                return Err(invalid(
                    "the line holds more than one SSH key: add one key at a time".into(),
                ));
            }
        }
        let comment = sanitize_comment(&comment_words.join(" "))?;
        PublicKey::build(key_type, blob, comment)
    }

    /// Rebuild a key from its type name, blob and comment (as the store
    /// keeps them), checking it exactly as [`PublicKey::parse`] does.
    pub fn from_blob(key_type: &str, blob: &[u8], comment: &str) -> crate::Result<PublicKey> {
        let Some(kt) = KeyType::from_name(key_type) else {
            return Err(invalid(format!(
                "unknown SSH key type {}; {}",
                shown(key_type),
                known_types_sentence()
            )));
        };
        if comment.contains(|c: char| c.is_control()) {
            return Err(invalid(
                "the SSH key comment contains a control character".into(),
            ));
        }
        PublicKey::build(kt, blob.to_vec(), sanitize_comment(comment)?)
    }

    fn build(key_type: KeyType, blob: Vec<u8>, comment: String) -> crate::Result<PublicKey> {
        let (bits, fingerprint) = check_blob(key_type, &blob)?;
        Ok(PublicKey {
            key_type,
            blob,
            comment,
            bits,
            fingerprint,
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The SSH wire-format blob (what the base64 encodes).
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The sanitized comment; may be empty.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The size `ssh-keygen -l` prints: 256 for Ed25519 (also with a
    /// security key), the modulus bits for RSA, 256/384/521 for ECDSA.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as
    /// `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The canonical `authorized_keys` line: `TYPE BASE64[ COMMENT]`,
    /// no line ending.
    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.key_type, base64_encode(&self.blob, true));
        if !self.comment.is_empty() {
            line.push(' ');
            line.push_str(&self.comment);
        }
        line
    }

    /// The line `ssh-keygen -l` prints for this key:
    /// `BITS SHA256:… COMMENT (TYPE)`, with `no comment` for none.
    pub fn keygen_listing(&self) -> String {
        let comment = if self.comment.is_empty() {
            "no comment"
        } else {
            &self.comment
        };
        format!(
            "{} {} {} ({})",
            self.bits,
            self.fingerprint,
            comment,
            self.key_type.label()
        )
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

/// `SHA256:` followed by the unpadded base64 of SHA-256(`blob`).
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", base64_encode(&Sha256::digest(blob), false))
}

/// Check a fingerprint typed by a person (`keys remove USER FINGERPRINT`)
/// and return it in the stored form. `SHA256:` may be left out; the rest
/// must be the 43 characters `ssh-keygen -l` prints. MD5 fingerprints
/// (`MD5:…` or `aa:bb:…`) are refused with a sentence saying how to get
/// the SHA256 one.
pub fn parse_fingerprint(text: &str) -> crate::Result<String> {
    let text = text.trim();
    let digest = text.strip_prefix("SHA256:").unwrap_or(text);
    if text.starts_with("MD5:") || (text.len() == 47 && text.matches(':').count() == 15) {
        return Err(invalid(format!(
            "{} is an MD5 fingerprint; Roster names keys by their SHA256 fingerprint: \
             see `roster users keys list USER` or `ssh-keygen -lf KEY.pub`",
            shown(text)
        )));
    }
    let well_formed = digest.len() == 43
        && digest.bytes().all(|b| decode_symbol(b).is_some())
        && base64_decode(&format!("{digest}=")).is_ok_and(|d| d.len() == 32);
    if !well_formed {
        return Err(invalid(format!(
            "{} is not an SSH key fingerprint: give it as `ssh-keygen -lf KEY.pub` or \
             `roster users keys list USER` prints it (SHA256: and 43 characters)",
            shown(text)
        )));
    }
    Ok(format!("SHA256:{digest}"))
}

fn invalid(sentence: String) -> Error {
    Error::InvalidArgument(sentence)
}

fn known_types_sentence() -> String {
    let names: Vec<&str> = KeyType::ALL.iter().map(|t| t.name()).collect();
    format!("known types: {}", names.join(", "))
}

/// Why the first word of a line isn't a key type: an options prefix, a
/// refused type, or something else.
fn unknown_first_word(first: &str, line: &str) -> String {
    const OPTION_WORDS: &[&str] = &[
        "agent-forwarding",
        "cert-authority",
        "command",
        "environment",
        "expiry-time",
        "from",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-touch-required",
        "no-user-rc",
        "no-x11-forwarding",
        "permitlisten",
        "permitopen",
        "port-forwarding",
        "principals",
        "pty",
        "restrict",
        "tunnel",
        "user-rc",
        "verify-required",
        "x11-forwarding",
    ];
    if first.starts_with('#') {
        return "the line is a comment, not an SSH key: give the key line itself".into();
    }
    let option_name = first
        .split([',', '='])
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase();
    let later_type = line
        .split([' ', '\t'])
        .skip(1)
        .any(|w| KeyType::from_name(w).is_some());
    if first.contains('=') || OPTION_WORDS.contains(&option_name.as_str()) || later_type {
        return "the SSH key line starts with options (command=, from=, no-pty, …); \
                Roster refuses them because options would let a key carry forced \
                commands or restrictions the administrator never set: give just the \
                key, TYPE BASE64 [COMMENT], as in a .pub file"
            .into();
    }
    if first == "ssh-dss" {
        return format!(
            "DSA (ssh-dss) keys are refused: OpenSSH has disabled them as too weak; \
             make a new key with `ssh-keygen -t ed25519` ({})",
            known_types_sentence()
        );
    }
    if first.contains("-cert-v01@openssh.com") {
        return format!(
            "SSH certificates are not accepted as keys: give the plain public key ({})",
            known_types_sentence()
        );
    }
    format!(
        "{} is not a known SSH key type; {}",
        shown(first),
        known_types_sentence()
    )
}

/// A comment word that decodes to the start of a key blob is a second key.
fn looks_like_key_data(word: &str) -> bool {
    if !word.starts_with("AAAA") {
        return false;
    }
    let Ok(bytes) = base64_decode(word) else {
        return false;
    };
    blob_type(&bytes)
        .and_then(|name| std::str::from_utf8(name).ok())
        .is_some_and(|name| KeyType::from_name(name).is_some())
}

/// Collapse whitespace runs into one space, drop invisible formatting
/// characters, and bound the length. Control characters never get here.
fn sanitize_comment(comment: &str) -> crate::Result<String> {
    let visible: String = comment
        .chars()
        .filter(|&c| !is_invisible_format(c))
        .collect();
    let clean = visible.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.len() > MAX_COMMENT_BYTES {
        return Err(invalid(format!(
            "the SSH key's comment is {} bytes long; at most {MAX_COMMENT_BYTES} are kept: \
             shorten it (the comment is only a label, e.g. user@host)",
            clean.len()
        )));
    }
    Ok(clean)
}

/// Zero-width and bidirectional formatting characters: they would let a
/// comment display as something other than what it is.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// Check the blob against its declared type, decode it with `ssh-key` and
/// apply Roster's rules to what it holds; returns the key's bits and its
/// `SHA256:` fingerprint.
fn check_blob(key_type: KeyType, blob: &[u8]) -> crate::Result<(u32, String)> {
    let malformed = || {
        invalid(format!(
            "the {key_type} key's data is truncated or malformed (it should hold {}): \
             give the whole line of the .pub file",
            key_type.contents()
        ))
    };
    // The blob's own type first, so that a mismatch names both types.
    let inner = blob_type(blob).ok_or_else(malformed)?;
    if inner != key_type.name().as_bytes() {
        let inner_shown = match std::str::from_utf8(inner) {
            Ok(s) => shown(s),
            Err(_) => "a non-text type".into(),
        };
        return Err(invalid(format!(
            "the key data says it is {inner_shown} but the line says {key_type}: \
             the line was edited or assembled from two keys; give the line of the \
             .pub file unchanged"
        )));
    }
    let mut rest = blob;
    let data = KeyData::decode(&mut rest).map_err(|_| malformed())?;
    if !rest.is_empty() {
        return Err(invalid(format!(
            "the {key_type} key's data has {} bytes left over after the key: \
             give the line of the .pub file unchanged",
            rest.len()
        )));
    }
    let bits = match &data {
        KeyData::Ed25519(_) => 256,
        KeyData::SkEd25519(sk) => {
            check_application(key_type, sk.application())?;
            256
        }
        KeyData::Rsa(rsa) => check_rsa(rsa.e.as_bytes(), rsa.n.as_bytes())?,
        KeyData::Ecdsa(point) => check_point(key_type, point)?,
        KeyData::SkEcdsaSha2NistP256(sk) => {
            check_application(key_type, sk.application())?;
            check_point(key_type, &EcdsaPublicKey::NistP256(*sk.ec_point()))?
        }
        // The type name matched one of Roster's, so ssh-key decoded that type.
        _ => return Err(malformed()),
    };
    Ok((bits, data.fingerprint(HashAlg::Sha256).to_string()))
}

/// The first `string` of an SSH wire blob (a big-endian u32 length and the
/// bytes): the blob's type name. Read by hand, not allocated, since every
/// comment word that might be a second key is peeked at.
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    rest.get(..usize::try_from(u32::from_be_bytes(*len)).ok()?)
}

/// An uncompressed point (what OpenSSH writes, and what the fingerprint
/// is computed over) on the key's curve; returns the curve's bits.
fn check_point(key_type: KeyType, point: &EcdsaPublicKey) -> crate::Result<u32> {
    let Some((curve, bits)) = key_type.curve() else {
        return Err(invalid(format!("the {key_type} key is not an ECDSA key")));
    };
    let sec1 = point.as_sec1_bytes();
    if sec1.first() != Some(&0x04) {
        return Err(invalid(format!(
            "the {key_type} key's public point is not an uncompressed {curve} \
             point ({} bytes): give the line of the .pub file unchanged",
            sec1.len()
        )));
    }
    let on_curve = match point {
        EcdsaPublicKey::NistP256(_) => p256::ecdsa::VerifyingKey::try_from(point).is_ok(),
        EcdsaPublicKey::NistP384(_) => p384::ecdsa::VerifyingKey::try_from(point).is_ok(),
        EcdsaPublicKey::NistP521(_) => p521::ecdsa::VerifyingKey::try_from(point).is_ok(),
    };
    if !on_curve {
        return Err(invalid(format!(
            "the {key_type} key's public point is not on the {curve} curve, so the key \
             can never log in: it was damaged or edited; give the line of the .pub \
             file unchanged"
        )));
    }
    Ok(bits)
}

fn check_application(key_type: KeyType, application: &str) -> crate::Result<()> {
    if application.is_empty() {
        return Err(invalid(format!(
            "the {key_type} key's application string is empty: \
             give the line of the .pub file unchanged"
        )));
    }
    Ok(())
}

fn check_rsa(e: &[u8], n: &[u8]) -> crate::Result<u32> {
    let malformed = |what: &str| {
        invalid(format!(
            "the ssh-rsa key's {what}: give the line of the .pub file unchanged"
        ))
    };
    // mpints: two's complement, big-endian; a key's values are positive.
    if e.first().is_some_and(|b| b & 0x80 != 0) || n.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed("numbers are negative"));
    }
    let e = strip_leading_zeros(e);
    let n = strip_leading_zeros(n);
    let (Some(&e_last), Some(&n_first), Some(&n_last)) = (e.last(), n.first(), n.last()) else {
        return Err(malformed("exponent or modulus is zero"));
    };
    if e_last & 1 == 0 || (e.len() == 1 && e_last == 1) {
        return Err(malformed("public exponent is not an odd number above 1"));
    }
    if n_last & 1 == 0 {
        return Err(malformed("modulus is even"));
    }
    if e.len() > 8 {
        return Err(malformed("public exponent is unreasonably large"));
    }
    let bits = u32::try_from(n.len())
        .ok()
        .and_then(|len| len.checked_sub(1))
        .and_then(|full| full.checked_mul(8))
        .and_then(|b| b.checked_add(8 - n_first.leading_zeros()))
        .unwrap_or(u32::MAX);
    if bits < MIN_RSA_BITS {
        return Err(invalid(format!(
            "the ssh-rsa key has {bits} bits; RSA keys need at least {MIN_RSA_BITS}: \
             make a new key with `ssh-keygen -t ed25519` (or `-t rsa -b 3072`)"
        )));
    }
    if bits > MAX_RSA_BITS {
        return Err(invalid(format!(
            "the ssh-rsa key has {bits} bits; OpenSSH accepts at most {MAX_RSA_BITS}"
        )));
    }
    Ok(bits)
}

fn strip_leading_zeros(mut bytes: &[u8]) -> &[u8] {
    while let Some((&0, rest)) = bytes.split_first() {
        bytes = rest;
    }
    bytes
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn decode_symbol(b: u8) -> Option<u8> {
    let position = ALPHABET.iter().position(|&symbol| symbol == b)?;
    u8::try_from(position).ok()
}

/// Standard base64 (RFC 4648 §4), with or without `=` padding.
fn base64_encode(data: &[u8], pad: bool) -> String {
    if pad {
        Base64::encode_string(data)
    } else {
        Base64Unpadded::encode_string(data)
    }
}

/// Strict standard base64 (`base64ct`): the RFC 4648 alphabet, length a
/// multiple of 4, `=` only as the final one or two characters, and the
/// unused bits before the padding zero (so each blob has exactly one
/// encoding). The checks before the decoder only name what is wrong.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if !text.len().is_multiple_of(4) {
        return Err(format!(
            "its length, {}, is not a multiple of 4: it was cut short or copied with a piece missing",
            text.len()
        ));
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return Err("it ends with more than two '='".into());
    }
    if let Some((position, b)) = body
        .bytes()
        .enumerate()
        .find(|&(_, b)| decode_symbol(b).is_none())
    {
        return Err(if b == b'=' {
            format!("'=' at position {} before the end", position + 1)
        } else {
            format!(
                "the character {:?} at position {} is not base64",
                char::from(b),
                position + 1
            )
        });
    }
    Base64::decode_vec(text)
        .map_err(|_| "its last characters carry stray bits (not a canonical encoding)".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn err(line: &str) -> String {
        match PublicKey::parse(line) {
            Err(Error::InvalidArgument(s)) => s,
            other => panic!("expected InvalidArgument for {line:?}, got {other:?}"),
        }
    }

    fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(args)
            .args(["-q", "-N", "", "-C", &format!("{name}@roster-test"), "-f"])
            .arg(&path)
            .output()
            .expect("ssh-keygen must be installed for these tests (apt install openssh-client)");
        assert!(
            out.status.success(),
            "ssh-keygen {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path.with_extension("pub")
    }

    /// `ssh-keygen -lf FILE`, split into bits, fingerprint, comment, label.
    fn keygen_listing(pub_file: &Path) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(pub_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ssh-keygen -lf {}: {}",
            pub_file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    fn valid_line(dir: &Path) -> String {
        let pub_file = keygen(dir, "base", &["-t", "ed25519"]);
        std::fs::read_to_string(pub_file).unwrap()
    }

    /// Rebuild a wire blob from strings.
    fn wire(fields: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    /// Split a wire blob into its strings.
    fn fields(mut blob: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !blob.is_empty() {
            let field = blob_type(blob).unwrap();
            out.push(field.to_vec());
            blob = &blob[4 + field.len()..];
        }
        out
    }

    #[test]
    fn ssh_key_matches_ssh_keygen_for_generated_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &[&str], KeyType, u32)] = &[
            ("ed", &["-t", "ed25519"], KeyType::Ed25519, 256),
            ("rsa2048", &["-t", "rsa", "-b", "2048"], KeyType::Rsa, 2048),
            ("rsa3072", &["-t", "rsa", "-b", "3072"], KeyType::Rsa, 3072),
            (
                "ec256",
                &["-t", "ecdsa", "-b", "256"],
                KeyType::EcdsaP256,
                256,
            ),
            (
                "ec384",
                &["-t", "ecdsa", "-b", "384"],
                KeyType::EcdsaP384,
                384,
            ),
            (
                "ec521",
                &["-t", "ecdsa", "-b", "521"],
                KeyType::EcdsaP521,
                521,
            ),
        ];
        for (name, args, key_type, bits) in cases {
            let pub_file = keygen(dir.path(), name, args);
            let text = std::fs::read_to_string(&pub_file).unwrap();
            let key = PublicKey::parse(&text).unwrap();
            assert_eq!(key.key_type(), *key_type, "{name}");
            assert_eq!(key.bits(), *bits, "{name}");
            assert_eq!(key.comment(), format!("{name}@roster-test"));
            assert_eq!(key.keygen_listing(), keygen_listing(&pub_file), "{name}");
            assert_eq!(key.line(), text.trim_end(), "{name}: canonical line");
            let again =
                PublicKey::from_blob(key.key_type().name(), key.blob(), key.comment()).unwrap();
            assert_eq!(again, key, "{name}: from_blob");
            assert_eq!(
                parse_fingerprint(key.fingerprint()).unwrap(),
                key.fingerprint()
            );
        }
    }

    #[test]
    fn ssh_key_security_key_types_match_ssh_keygen() {
        // No token here: build sk blobs from real Ed25519 and P-256 public
        // keys (ssh-keygen -l checks that the point is on the curve).
        let dir = tempfile::tempdir().unwrap();
        let ed = PublicKey::parse(&valid_line(dir.path())).unwrap();
        let ec_file = keygen(dir.path(), "ec", &["-t", "ecdsa", "-b", "256"]);
        let ec = PublicKey::parse(&std::fs::read_to_string(ec_file).unwrap()).unwrap();
        let ed_fields = fields(ed.blob());
        let ec_fields = fields(ec.blob());
        let sk_ed = wire(&[b"sk-ssh-ed25519@openssh.com", &ed_fields[1], b"ssh:"]);
        let sk_ec = wire(&[
            b"sk-ecdsa-sha2-nistp256@openssh.com",
            b"nistp256",
            &ec_fields[2],
            b"ssh:roster",
        ]);
        for (blob, key_type) in [(sk_ed, KeyType::SkEd25519), (sk_ec, KeyType::SkEcdsaP256)] {
            let line = format!("{} {} me@token", key_type, base64_encode(&blob, true));
            let key = PublicKey::parse(&line).unwrap();
            assert_eq!(key.key_type(), key_type);
            assert_eq!(key.bits(), 256);
            let file = dir.path().join("sk.pub");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            assert_eq!(key.keygen_listing(), keygen_listing(&file));
            assert_eq!(key.line(), line);
        }
    }

    #[test]
    fn ssh_key_canonical_line_is_accepted_by_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let text = valid_line(dir.path());
        let (t, rest) = text.trim_end().split_once(' ').unwrap();
        let (b64, _) = rest.split_once(' ').unwrap();
        let messy = format!("  {t}\t {b64}   two\t words\u{202E}here \r\n");
        let key = PublicKey::parse(&messy).unwrap();
        assert_eq!(key.comment(), "two wordshere");
        let file = dir.path().join("canon.pub");
        std::fs::write(&file, key.line()).unwrap();
        assert_eq!(key.keygen_listing(), keygen_listing(&file));
        let bare = PublicKey::parse(&format!("{t} {b64}")).unwrap();
        assert_eq!(bare.comment(), "");
        assert_eq!(bare.line(), format!("{t} {b64}"));
        assert_eq!(bare.fingerprint(), key.fingerprint());
        std::fs::write(&file, bare.line()).unwrap();
        assert_eq!(bare.keygen_listing(), keygen_listing(&file));
    }

    #[test]
    fn ssh_key_short_rsa_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pub_file = keygen(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]);
        let msg = err(&std::fs::read_to_string(pub_file).unwrap());
        assert!(msg.contains("1024 bits") && msg.contains("2048"), "{msg}");
    }

    #[test]
    fn ssh_key_options_prefix_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let line = valid_line(dir.path());
        for prefix in [
            "command=\"/bin/sh\" ",
            "from=\"10.0.0.0/8\" ",
            "no-pty ",
            "restrict ",
            "restrict,command=\"x\" ",
            "no-port-forwarding,no-X11-forwarding ",
            "environment=\"LD_PRELOAD=/tmp/x.so\" ",
            "cert-authority ",
            "zzz ",
        ] {
            let msg = err(&format!("{prefix}{line}"));
            assert!(msg.contains("options"), "{prefix}: {msg}");
            assert!(msg.contains("forced"), "{prefix}: {msg}");
        }
    }

    #[test]
    fn ssh_key_malformed_lines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let line = valid_line(dir.path());
        let line = line.trim_end();
        let (t, rest) = line.split_once(' ').unwrap();
        let (b64, comment) = rest.split_once(' ').unwrap();
        let blob = base64_decode(b64).unwrap();

        // Bad base64: stray character, wrong length, padding in the middle,
        // non-canonical trailing bits, URL-safe alphabet.
        let mut bad = b64.to_string();
        bad.replace_range(10..11, "*");
        assert!(err(&format!("{t} {bad}")).contains("not valid base64"));
        assert!(err(&format!("{t} {}", &b64[..b64.len() - 1])).contains("multiple of 4"));
        assert!(err(&format!("{t} AAAA=AAA")).contains("base64"));
        // 50 bytes end in one '=' with two unused bits; set one of them.
        let canon = base64_encode(&blob[..50], true);
        let n = canon.len();
        assert!(canon.ends_with('=') && !canon.ends_with("=="));
        let sym = decode_symbol(canon.as_bytes()[n - 2]).unwrap();
        let flipped = char::from(ALPHABET[usize::from(sym | 1)]);
        let noncanon = format!("{}{}=", &canon[..n - 2], flipped);
        assert!(err(&format!("{t} {noncanon}")).contains("stray bits"));
        let urlsafe = base64_encode(&[0xfb, 0xff, 0xfe], true)
            .replace('+', "-")
            .replace('/', "_");
        assert!(err(&format!("{t} {urlsafe}")).contains("not base64"));

        // The blob's own type differs from the declared one.
        assert!(err(&format!("ssh-rsa {b64}")).contains("says it is \"ssh-ed25519\""));
        assert!(err(&format!("ecdsa-sha2-nistp256 {b64}")).contains("line says"));
        let sk_declared = format!("sk-ssh-ed25519@openssh.com {b64}");
        assert!(err(&sk_declared).contains("line says"));

        // Truncated, and with bytes left over.
        let cut = base64_encode(&blob[..blob.len() - 1], true);
        assert!(err(&format!("{t} {cut}")).contains("truncated"));
        let cut = base64_encode(&blob[..3], true);
        assert!(err(&format!("{t} {cut}")).contains("truncated"));
        let mut long = blob.clone();
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert!(err(&format!("{t} {}", base64_encode(&long, true))).contains("left over"));
        let short_pk = wire(&[b"ssh-ed25519", &[7u8; 31]]);
        assert!(err(&format!("{t} {}", base64_encode(&short_pk, true))).contains("32"));

        // A type but no data; empty; a comment line; unknown and refused types.
        assert!(err(t).contains("no base64"));
        assert!(err("").contains("empty"));
        assert!(err("   \n").contains("empty"));
        assert!(err(&format!("# {line}")).contains("comment"));
        assert!(err("# just a note").contains("comment"));
        assert!(err(&format!("ssh-dss {b64}")).contains("DSA"));
        assert!(err(&format!("ssh-ed25519-cert-v01@openssh.com {b64}")).contains("certificates"));
        assert!(err(&format!("ssh-foo {b64}")).contains("known types"));

        // Control characters, NUL, newlines inside, huge lines.
        assert!(err(&format!("{t} {b64} a\0b")).contains("NUL"));
        assert!(err(&format!("{line}\n{line}")).contains("more than one line"));
        assert!(err(&format!("{t} {b64} a\rb")).contains("more than one line"));
        assert!(err(&format!("{t} {b64} a\x1b[31mred")).contains("control character"));
        assert!(err(&format!("{t} {b64} a\u{85}b")).contains("control character"));
        let huge = format!("{line} {}", "x".repeat(MAX_LINE_BYTES));
        assert!(err(&huge).contains("bytes long"));
        let long_comment = format!("{t} {b64} {}", "x".repeat(MAX_COMMENT_BYTES + 1));
        assert!(err(&long_comment).contains("comment"));

        // Two keys on one line, with and without the second type.
        assert!(err(&format!("{line} {line}")).contains("more than one SSH key"));
        assert!(err(&format!("{t} {b64} {b64} {comment}")).contains("more than one SSH key"));
    }

    #[test]
    fn ssh_key_rsa_number_checks() {
        let modulus = |bytes: usize| {
            let mut n = vec![0xC5u8; bytes];
            *n.last_mut().unwrap() |= 1;
            n
        };
        let rsa = |e: &[u8], n: &[u8]| {
            let blob = wire(&[b"ssh-rsa", e, n]);
            PublicKey::parse(&format!("ssh-rsa {}", base64_encode(&blob, true)))
        };
        let mut n = vec![0u8];
        n.extend(modulus(256));
        assert_eq!(rsa(&[1, 0, 1], &n).unwrap().bits(), 2048);
        assert!(rsa(&[1, 0, 1], &modulus(256)).is_err(), "negative modulus");
        let mut odd_size = vec![0x01u8];
        odd_size.extend(modulus(256));
        assert_eq!(rsa(&[1, 0, 1], &odd_size).unwrap().bits(), 2049);
        let mut too_short = vec![0x7Fu8];
        too_short.extend(modulus(254));
        let msg = rsa(&[1, 0, 1], &too_short).unwrap_err().to_string();
        assert!(msg.contains("2039 bits"), "{msg}");
        assert!(rsa(&[2], &n).is_err(), "even exponent");
        assert!(rsa(&[1], &n).is_err(), "exponent 1");
        assert!(rsa(&[], &n).is_err(), "zero exponent");
        let mut even = n.clone();
        *even.last_mut().unwrap() = 0x10;
        assert!(rsa(&[3], &even).is_err(), "even modulus");
        let mut big = vec![0u8];
        big.extend(modulus(2049));
        assert!(rsa(&[3], &big).unwrap_err().to_string().contains("at most"));
    }

    #[test]
    fn ssh_key_fingerprint_input() {
        let fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
        assert_eq!(fingerprint(b""), fp);
        assert_eq!(parse_fingerprint(fp).unwrap(), fp);
        assert_eq!(parse_fingerprint(&fp[7..]).unwrap(), fp);
        assert_eq!(parse_fingerprint(&format!(" {fp}\n")).unwrap(), fp);
        assert!(
            parse_fingerprint("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48")
                .unwrap_err()
                .to_string()
                .contains("MD5")
        );
        assert!(
            parse_fingerprint("16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48")
                .unwrap_err()
                .to_string()
                .contains("MD5")
        );
        assert!(parse_fingerprint("SHA256:abc").is_err());
        assert!(parse_fingerprint(&format!("{fp}x")).is_err());
        assert!(parse_fingerprint("").is_err());
    }

    #[test]
    fn ssh_key_base64_round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let padded = base64_encode(&data, true);
            assert_eq!(padded.len() % 4, 0);
            if len > 0 {
                assert_eq!(base64_decode(&padded).unwrap(), data);
            }
        }
        assert_eq!(base64_encode(b"foobar", true), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fooba", true), "Zm9vYmE=");
        assert_eq!(base64_encode(b"foob", false), "Zm9vYg");
        assert!(base64_decode("Zm9vYg===").is_err());
        assert!(base64_decode("Zm9vYh==").is_err(), "stray bits");
        assert!(base64_decode("Zm9v YmFy").is_err());
    }

    /// One generated key of each of the five types ssh-keygen makes here,
    /// plus both security-key types built from them (no token here).
    fn one_key_of_each_type(dir: &Path) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = [
            ("ed", &["-t", "ed25519"][..]),
            ("rsa", &["-t", "rsa", "-b", "2048"][..]),
            ("ec256", &["-t", "ecdsa", "-b", "256"][..]),
            ("ec384", &["-t", "ecdsa", "-b", "384"][..]),
            ("ec521", &["-t", "ecdsa", "-b", "521"][..]),
        ]
        .into_iter()
        .map(|(name, args)| {
            let text = std::fs::read_to_string(keygen(dir, name, args)).unwrap();
            PublicKey::parse(&text).unwrap()
        })
        .collect();
        let ed = fields(keys[0].blob());
        let ec = fields(keys[2].blob());
        let sk_ed = wire(&[b"sk-ssh-ed25519@openssh.com", &ed[1], b"ssh:"]);
        let sk_ec = wire(&[
            b"sk-ecdsa-sha2-nistp256@openssh.com",
            &ec[1],
            &ec[2],
            b"ssh:",
        ]);
        for (key_type, blob) in [(KeyType::SkEd25519, sk_ed), (KeyType::SkEcdsaP256, sk_ec)] {
            keys.push(PublicKey::from_blob(key_type.name(), &blob, "").unwrap());
        }
        keys
    }

    #[test]
    fn ssh_key_fingerprint_is_the_hash_of_the_blob_for_every_type() {
        // ssh-key computes the fingerprint over its own encoding of the key;
        // for every key accepted that is the blob itself, as ssh-keygen has it.
        let dir = tempfile::tempdir().unwrap();
        let keys = one_key_of_each_type(dir.path());
        assert_eq!(keys.len(), KeyType::ALL.len());
        for key in keys {
            assert_eq!(
                key.fingerprint(),
                fingerprint(key.blob()),
                "{}",
                key.key_type()
            );
        }
    }

    #[test]
    fn ssh_key_ecdsa_point_off_its_curve_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for key in one_key_of_each_type(dir.path()) {
            let Some((curve, _)) = key.key_type().curve() else {
                continue;
            };
            let mut parts = fields(key.blob());
            let point = &mut parts[2];
            // Flip bit 1 of Y: X stays, and the only other Y on the curve
            // for that X, p - Y, has the other parity (p is odd).
            *point.last_mut().unwrap() ^= 0x02;
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let line = format!("{} {}", key.key_type(), base64_encode(&wire(&refs), true));
            let msg = err(&line);
            assert!(msg.contains(&format!("not on the {curve} curve")), "{msg}");
            // OpenSSH refuses it too.
            let file = dir.path().join("off-curve.pub");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            let out = Command::new("ssh-keygen")
                .arg("-lf")
                .arg(&file)
                .output()
                .unwrap();
            assert!(!out.status.success(), "ssh-keygen accepted {line}");

            // The same point compressed (02/03 || X): ssh-key decodes it, but
            // OpenSSH writes uncompressed points and fingerprints those.
            let mut parts = fields(key.blob());
            let point = &mut parts[2];
            let x_len = (point.len() - 1) / 2;
            let tag = 0x02 | (point.last().unwrap() & 1);
            let compressed: Vec<u8> = std::iter::once(tag)
                .chain(point[1..=x_len].iter().copied())
                .collect();
            *point = compressed;
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let line = format!("{} {}", key.key_type(), base64_encode(&wire(&refs), true));
            let msg = err(&line);
            assert!(msg.contains("not an uncompressed"), "{msg}");
        }
        // (0, 0), what a zeroed point decodes to, is on no curve.
        let zero_point = [&[4u8][..], &[0u8; 64]].concat();
        let blob = wire(&[b"ecdsa-sha2-nistp256", b"nistp256", &zero_point]);
        let msg = err(&format!(
            "ecdsa-sha2-nistp256 {}",
            base64_encode(&blob, true)
        ));
        assert!(msg.contains("not on the nistp256 curve"), "{msg}");
    }

    #[test]
    fn ssh_key_truncated_blobs_and_trailing_bytes_are_refused_for_every_type() {
        let dir = tempfile::tempdir().unwrap();
        for key in one_key_of_each_type(dir.path()) {
            let blob = key.blob();
            let t = key.key_type();
            for cut in 1..blob.len() {
                let line = format!("{t} {}", base64_encode(&blob[..cut], true));
                let msg = err(&line);
                assert!(msg.contains("truncated"), "{t} cut at {cut}: {msg}");
            }
            for extra in [&[0u8][..], &[0, 0, 0, 0], b"\0\0\0\x04ssh:"] {
                let long = [blob, extra].concat();
                let msg = err(&format!("{t} {}", base64_encode(&long, true)));
                let left_over = format!("{} bytes left over", extra.len());
                assert!(msg.contains(&left_over), "{t} + {extra:?}: {msg}");
            }
            // A declared length far past the end, in the first field and the last.
            let mut huge = blob.to_vec();
            huge[..4].copy_from_slice(&0x000F_FFFFu32.to_be_bytes());
            assert!(err(&format!("{t} {}", base64_encode(&huge, true))).contains("truncated"));
            let mut parts = fields(blob);
            let last = parts.len() - 1;
            parts[last].truncate(1);
            let mut cut = wire(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let at = cut.len() - 5;
            cut[at..at + 4].copy_from_slice(&0x000F_FFFFu32.to_be_bytes());
            assert!(err(&format!("{t} {}", base64_encode(&cut, true))).contains("truncated"));
        }
    }

    #[test]
    fn ssh_key_rsa_number_with_a_needless_leading_zero_is_refused() {
        // ssh-keygen accepts `00 01 00 01` for 65537 but fingerprints the
        // minimal encoding, so a stored hash of this blob would match no
        // fingerprint ssh-keygen prints; no tool writes such a key.
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(keygen(dir.path(), "r", &["-t", "rsa"])).unwrap();
        let key = PublicKey::parse(&text).unwrap();
        let parts = fields(key.blob());
        let e = [&[0u8][..], &parts[1]].concat();
        let blob = wire(&[&parts[0], &e, &parts[2]]);
        let msg = err(&format!("ssh-rsa {}", base64_encode(&blob, true)));
        assert!(msg.contains("truncated or malformed"), "{msg}");
        assert!(msg.contains("exponent"), "{msg}");
    }

    /// Valid ECDSA blobs without ssh-keygen: each curve's generator point
    /// is a public key (of the private key 1); and a 2048-bit RSA blob.
    fn fixed_blobs() -> Vec<(KeyType, Vec<u8>)> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let p256 = p256::AffinePoint::GENERATOR.to_encoded_point(false);
        let p384 = p384::AffinePoint::GENERATOR.to_encoded_point(false);
        let p521 = p521::AffinePoint::GENERATOR.to_encoded_point(false);
        let mut modulus = vec![0u8, 0xC5];
        modulus.extend([0x5Cu8; 254]);
        modulus.push(0x01);
        vec![
            (
                KeyType::EcdsaP256,
                wire(&[b"ecdsa-sha2-nistp256", b"nistp256", p256.as_bytes()]),
            ),
            (
                KeyType::EcdsaP384,
                wire(&[b"ecdsa-sha2-nistp384", b"nistp384", p384.as_bytes()]),
            ),
            (
                KeyType::EcdsaP521,
                wire(&[b"ecdsa-sha2-nistp521", b"nistp521", p521.as_bytes()]),
            ),
            (
                KeyType::SkEcdsaP256,
                wire(&[
                    b"sk-ecdsa-sha2-nistp256@openssh.com",
                    b"nistp256",
                    p256.as_bytes(),
                    b"ssh:",
                ]),
            ),
            (KeyType::Rsa, wire(&[b"ssh-rsa", &[1, 0, 1], &modulus])),
        ]
    }

    #[test]
    fn ssh_key_curve_generators_are_keys() {
        for (key_type, blob) in fixed_blobs() {
            let key = PublicKey::from_blob(key_type.name(), &blob, "").unwrap();
            assert_eq!(key.key_type(), key_type);
        }
    }

    proptest::proptest! {
        #[test]
        fn ssh_key_parse_never_panics(line in "\\PC{0,200}") {
            let _ = PublicKey::parse(&line);
            let _ = parse_fingerprint(&line);
        }

        #[test]
        fn ssh_key_mutated_blobs_never_panic(
            cut in 0usize..60,
            flip in 0usize..60,
            byte in proptest::num::u8::ANY,
        ) {
            let mut blob = wire(&[b"ssh-ed25519", &[9u8; 32]]);
            if let Some(b) = blob.get_mut(flip) { *b = byte; }
            blob.truncate(cut.max(1));
            let _ = PublicKey::parse(&format!("ssh-ed25519 {}", base64_encode(&blob, true)));
            let _ = PublicKey::from_blob("ssh-rsa", &blob, "c");
        }

        #[test]
        fn ssh_key_mutated_ecdsa_and_rsa_blobs_never_panic(
            which in 0usize..5,
            cut in 0usize..300,
            flip in 0usize..300,
            byte in proptest::num::u8::ANY,
        ) {
            let (key_type, mut blob) = fixed_blobs().swap_remove(which);
            if let Some(b) = blob.get_mut(flip) { *b = byte; }
            blob.truncate(cut.max(1));
            let _ = PublicKey::parse(&format!("{key_type} {}", base64_encode(&blob, true)));
        }
    }
}
