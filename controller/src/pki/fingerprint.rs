//! CA fingerprints: `SHA256:` + unpadded base64 of the SHA-256 of the
//! certificate DER (ssh's form), with plain hex accepted on input.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

use super::{PkiError, Result};

const PREFIX: &str = "SHA256:";

/// The SHA-256 of a certificate's DER; displays as `SHA256:<base64>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate given as DER.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Whether `der` is the certificate this fingerprint names.
    pub fn matches(&self, der: &[u8]) -> bool {
        Fingerprint::of(der) == *self
    }

    /// The digest as lower-case hex (file names of retired CAs use its start).
    pub fn hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads a fingerprint in either form: `SHA256:` + 43 characters of
/// unpadded standard base64 (what [`Ca::fingerprint`](super::Ca::fingerprint)
/// prints), or 64 hex digits in either case, optionally as colon-separated
/// pairs (what `openssl x509 -fingerprint -sha256` prints). Surrounding
/// whitespace is ignored; anything else is refused.
pub fn parse_fingerprint(input: &str) -> Result<Fingerprint> {
    let trimmed = input.trim();
    let refuse = |reason| PkiError::BadFingerprint {
        input: input.to_owned(),
        reason,
    };
    if let Some(encoded) = trimmed.strip_prefix(PREFIX) {
        if encoded.len() != 43 {
            return Err(refuse("the base64 part must be 43 characters"));
        }
        let decoded = STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| refuse("the part after SHA256: is not unpadded base64"))?;
        let digest: [u8; 32] = decoded
            .try_into()
            .map_err(|_| refuse("the digest is not 32 bytes"))?;
        return Ok(Fingerprint(digest));
    }
    let hex: String = if trimmed.contains(':') {
        let pairs: Vec<&str> = trimmed.split(':').collect();
        if pairs.len() != 32 || pairs.iter().any(|pair| pair.len() != 2) {
            return Err(refuse("colon-separated hex must be 32 pairs of digits"));
        }
        pairs.concat()
    } else {
        trimmed.to_owned()
    };
    if hex.len() != 64 {
        return Err(refuse("hex must be 64 digits"));
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| refuse("not hex"))?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| refuse("not hex"))?;
    }
    Ok(Fingerprint(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_ssh_style_and_reads_back() {
        let fingerprint = Fingerprint::of(b"certificate bytes");
        let printed = fingerprint.to_string();
        assert!(printed.starts_with("SHA256:"));
        assert_eq!(printed.len(), 7 + 43);
        assert!(!printed.ends_with('='));
        assert_eq!(parse_fingerprint(&printed).unwrap(), fingerprint);
        assert_eq!(
            parse_fingerprint(&format!("  {printed}\n")).unwrap(),
            fingerprint
        );
        assert!(fingerprint.matches(b"certificate bytes"));
        assert!(!fingerprint.matches(b"other bytes"));
    }

    #[test]
    fn hex_forms_are_accepted() {
        let fingerprint = Fingerprint::of(b"x");
        let hex = fingerprint.hex();
        assert_eq!(parse_fingerprint(&hex).unwrap(), fingerprint);
        assert_eq!(parse_fingerprint(&hex.to_uppercase()).unwrap(), fingerprint);
        let openssl_style = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(parse_fingerprint(&openssl_style).unwrap(), fingerprint);
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        let good = Fingerprint::of(b"x").to_string();
        for bad in [
            "",
            "SHA256:",
            &good[..good.len() - 1],
            &format!("{good}="),
            &format!("{good}A"),
            &good.replace("SHA256:", "sha256:"),
            &good.replace("SHA256:", "MD5:"),
            &"0".repeat(63),
            &"g".repeat(64),
            &"0".repeat(66),
            "ab:cd",
        ] {
            let error = parse_fingerprint(bad).unwrap_err();
            assert!(
                matches!(error, PkiError::BadFingerprint { .. }),
                "{bad:?}: {error}"
            );
        }
    }
}
