//! Secrets over the fleet API (DESIGN.md "Secrets": in fleet mode they
//! live on the controller, and every call goes online with the person's
//! credential). The ops are [`crate::Op`]'s `secret_*` variants; these are
//! their parts and answers.
//!
//! A value travels only inside the mutual-TLS channel, in a
//! [`SecretEntry`]: base64 in the JSON (a 1 MiB revision fits the request
//! limit), `<redacted>` in every `Debug`, overwritten when dropped (best
//! effort: this crate links serde only, so no `zeroize`; the JSON buffers
//! of the transport are not covered).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One key's value, as a request sets it or a `secret_get` answers it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    pub key: String,
    #[serde(serialize_with = "to_base64", deserialize_with = "from_base64")]
    pub value: Vec<u8>,
}

impl Drop for SecretEntry {
    fn drop(&mut self) {
        for byte in self.value.iter_mut() {
            *byte = 0;
        }
        // Keeps the writes above from being dropped as dead stores.
        std::hint::black_box(&self.value);
    }
}

impl std::fmt::Debug for SecretEntry {
    // Never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretEntry({:?}, <redacted>)", self.key)
    }
}

/// One revision, as a manager sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRevisionView {
    pub revision: u32,
    pub created: i64,
    pub expires: Option<i64>,
    /// How many readers track it.
    pub readers: u32,
}

/// A user a secret is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGrantView {
    pub user: String,
    /// `view` or `manage`.
    pub role: String,
}

/// A secret's metadata as the asking person may see it: never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretView {
    /// `secret:` + 20 lowercase base32 characters.
    pub id: String,
    pub name: String,
    /// `user` or `environment`.
    pub owner_kind: String,
    pub owner: String,
    pub description: String,
    /// `never`, `hourly`, … `yearly`.
    pub rotation: String,
    pub next_rotation: Option<i64>,
    pub latest: u32,
    pub created: i64,
    pub updated: i64,
    /// Whether the person manages it (else they only view it).
    pub manages: bool,
    /// The revision the person tracks, if they read it before.
    pub tracking: Option<u32>,
    /// Managers only (empty for a viewer).
    #[serde(default)]
    pub revisions: Vec<SecretRevisionView>,
    /// Managers only.
    #[serde(default)]
    pub grants: Vec<SecretGrantView>,
}

/// Which revision a `secret_get` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretRead {
    /// The one the person tracks (the first read pins the latest).
    Tracked,
    /// The latest, without moving the pin.
    Peek,
    /// The latest, moving the pin to it.
    Refresh,
    /// One given revision (managers).
    Revision { revision: u32 },
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4).
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = ((n >> shift) & 63) as usize;
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard padded base64; None for anything else.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len().checked_rem(4) != Some(0) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (index, quad) in text.chunks(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in quad.get(..4 - padding)? {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - padding)?);
    }
    Some(out)
}

fn to_base64<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode_base64(value))
}

fn from_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    decode_base64(&text)
        .ok_or_else(|| serde::de::Error::custom("a secret value must be standard padded base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length_and_refuses_junk() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for len in 0..40 {
            let part = &bytes[..len];
            assert_eq!(decode_base64(&encode_base64(part)).unwrap(), part);
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        for junk in ["Zm8", "Zm=8", "Zm8=Zm8=", "Z===", "Zm9v!mFy"] {
            assert!(decode_base64(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn a_value_never_prints_and_travels_as_base64() {
        let entry = SecretEntry {
            key: "password".into(),
            value: b"hunter22".to_vec(),
        };
        assert!(!format!("{entry:?}").contains("hunter22"));
        let json = serde_json::to_string(&entry).unwrap();
        assert!(!json.contains("hunter22"), "{json}");
        let back: SecretEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry);
    }
}
