//! The fleet's certificate authority: the CA itself, the certificates it
//! issues to hosts and to controllers, and the trust bundle across a
//! rotation. No network and no tokio here: everything takes `now` as an
//! argument, so tests move time instead of waiting.
//!
//! # What is issued
//!
//! | certificate | key | lifetime | names | extended key usage |
//! |---|---|---|---|---|
//! | CA | ECDSA P-256, made here | [`CA_LIFETIME`] (10 years) | CN given at `init` | (CA, path length 0) |
//! | controller (server) | ECDSA P-256, made here | [`SERVER_CERT_LIFETIME`] (1 year) | SANs: every DNS name or IP address given | serverAuth |
//! | host (client) | the host's own, from its CSR | [`HOST_CERT_LIFETIME`] (30 days) | CN = host name, O = environment, SAN URI `roster-host:<id>` | clientAuth |
//!
//! Every certificate starts [`BACKDATE`] before `now`, so a peer whose clock
//! runs a little behind still accepts a certificate issued a moment ago.
//! From a host's certificate request only the public key is used (its
//! subject, names and extensions are ignored); the URI SAN is the identity
//! the controller trusts ([`HostIdentity::from_cert_der`]).
//!
//! # Files: one directory ([`CaBundle`])
//!
//! | file | mode | what |
//! |---|---|---|
//! | `ca.key` | 0600, created with `O_EXCL` | the signing CA's private key (PEM, PKCS#8) |
//! | `ca.crt` | 0644 | the signing CA's certificate |
//! | `ca-old-<16 hex>.crt` | 0644 | a CA retired by `ca rotate` and still trusted; the hex is the start of its SHA-256 |
//!
//! `ca rotate` ([`CaBundle::rotate`]) writes a new `ca.key`/`ca.crt` (through
//! `ca.key.new`/`ca.crt.new`, renamed into place) and keeps the old
//! certificate as `ca-old-….crt`; the old key is not kept (nothing signs with
//! it again). Hosts pick the new bundle up at their next renewal, so an old CA
//! is dropped ([`CaBundle::drop_old`]) only once every host certificate it
//! signed has expired or been renewed (≤ 30 days). A controller's server
//! certificate issued by the new CA is only accepted by hosts that already
//! hold the new bundle: keep serving the old server certificate until every
//! host has renewed. Each controller replica needs a copy of the whole
//! directory (after a rotation too).
//!
//! # Fingerprints
//!
//! A CA is pinned (`roster hosts join URL --ca-fingerprint …`) by
//! `SHA256:` + the unpadded standard base64 of the SHA-256 of its certificate
//! DER, the form `ssh-keygen -l` prints for keys. [`parse_fingerprint`] also
//! accepts 64 hex digits, optionally in colon-separated pairs, which is what
//! `openssl x509 -noout -fingerprint -sha256 -in ca.crt` prints after its
//! `sha256 Fingerprint=`: an operator can check a pin with either tool.

mod bundle;
mod ca;
mod files;
mod fingerprint;
mod host_cert;
mod server_cert;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use bundle::{CA_CERT_FILE, CA_KEY_FILE, CaBundle, OldCa};
pub use ca::Ca;
pub use fingerprint::{Fingerprint, parse_fingerprint};
pub use host_cert::{HostIdentity, HostSubject, IssuedHostCert, MAX_CSR_PEM_BYTES};

/// How long a host certificate lasts; hosts renew at two thirds of it.
pub const HOST_CERT_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a controller's server certificate lasts.
pub const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long the CA certificate lasts (10 years, leap days included).
pub const CA_LIFETIME: Duration = Duration::from_secs(3652 * 24 * 3600);
/// How far before `now` every certificate starts (clock skew between peers).
pub const BACKDATE: Duration = Duration::from_secs(3600);

/// The URI scheme of the SAN that names a host: `roster-host:<id>`.
pub const HOST_URI_SCHEME: &str = "roster-host:";

/// What went wrong with a key, a certificate or a request; each message
/// names the file or the field and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read, written or renamed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key (or a rotation's new file) would overwrite an existing file.
    #[error(
        "{} already exists: refusing to overwrite it (move it away first if you mean to replace it)",
        path.display()
    )]
    FileExists { path: PathBuf },
    /// The CA key file is readable or writable by group or others.
    #[error(
        "{} is accessible by group or others (mode {mode:04o}): the CA key must be private; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    /// A PEM file or string held no usable object of the expected kind.
    #[error("{what}: {reason}")]
    BadPem { what: String, reason: String },
    /// The CA key and certificate are not a pair.
    #[error(
        "{} does not hold the key of the certificate in {}: restore the pair from the same backup",
        key_path.display(),
        cert_path.display()
    )]
    KeyMismatch {
        key_path: PathBuf,
        cert_path: PathBuf,
    },
    /// rcgen refused to build or sign something (a bug or an invalid name).
    #[error("cannot {action}: {source}")]
    Rcgen {
        action: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// A certificate request is larger than [`MAX_CSR_PEM_BYTES`].
    #[error("certificate request is {size} bytes, over the limit of {limit}")]
    CsrTooLarge { size: usize, limit: usize },
    /// A certificate request could not be parsed.
    #[error("certificate request is not a valid PKCS#10 request: {reason}")]
    CsrUnparsable { reason: String },
    /// A certificate request's signature does not match its own public key.
    #[error("certificate request's signature does not match its public key")]
    CsrBadSignature,
    /// A certificate request carries a key type we don't issue for.
    #[error(
        "certificate request's key is {algorithm}: only ECDSA P-256, ECDSA P-384 and Ed25519 keys are accepted"
    )]
    CsrKeyUnsupported { algorithm: String },
    /// A name given for a certificate is not usable.
    #[error("{field} {value:?} is not usable in a certificate: {reason}")]
    BadName {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A fingerprint string is in neither accepted form.
    #[error(
        "{input:?} is not a CA fingerprint: expected SHA256: followed by 43 base64 characters, or 64 hex digits ({reason})"
    )]
    BadFingerprint { input: String, reason: &'static str },
    /// A certificate could not be parsed or lacks what a host certificate has.
    #[error("not a Roster host certificate: {reason}")]
    NotAHostCert { reason: String },
    /// A certificate does not verify against the trusted CAs.
    #[error("certificate refused: {0}")]
    Untrusted(rustls::Error),
    /// A crashed `ca rotate` left files behind; `fix` says how to finish or
    /// undo it.
    #[error("{}: left by an interrupted `ca rotate`: {fix}", path.display())]
    InterruptedRotation { path: PathBuf, fix: String },
    /// The system's random source failed (for a serial number).
    #[error("cannot read random bytes for a serial number: {0}")]
    Random(String),
    /// `drop_old` was asked for a CA that is not among the retired ones.
    #[error("no retired CA with fingerprint {fingerprint} in {}", dir.display())]
    NoSuchOldCa { fingerprint: String, dir: PathBuf },
}

/// The result of everything in this module.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

/// `now` as rcgen's time type (whole seconds; before 1970 is clamped to it).
fn to_offset_date_time(time: SystemTime) -> Result<time::OffsetDateTime> {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| PkiError::BadName {
        field: "time",
        value: format!("{seconds}"),
        reason: "out of the range a certificate can hold",
    })
}

/// A certificate's validity bound (seconds since the epoch) as a `SystemTime`.
fn system_time_from_unix(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()),
    }
}

/// `start`/`end` of a certificate issued at `now` for `lifetime`.
fn validity(
    now: SystemTime,
    lifetime: Duration,
) -> Result<(time::OffsetDateTime, time::OffsetDateTime)> {
    let not_before = to_offset_date_time(now.checked_sub(BACKDATE).unwrap_or(UNIX_EPOCH))?;
    let not_after = to_offset_date_time(now + lifetime)?;
    Ok((not_before, not_after))
}

/// A random positive 128-bit serial; returns it with its hex form (lower
/// case, no leading zero bytes: the form [`serial_hex`] reads back).
fn random_serial() -> Result<(rcgen::SerialNumber, String)> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| PkiError::Random(error.to_string()))?;
    // A serial of zero is not allowed (RFC 5280 §4.1.2.2).
    if bytes.iter().all(|byte| *byte == 0) {
        bytes[15] = 1;
    }
    Ok((rcgen::SerialNumber::from_slice(&bytes), serial_hex(&bytes)))
}

/// A serial number's big-endian bytes as lower-case hex, leading zero bytes
/// dropped (DER keeps one for positive numbers whose top bit is set).
fn serial_hex(bytes: &[u8]) -> String {
    let significant = match bytes.iter().position(|byte| *byte != 0) {
        Some(first) => bytes.get(first..).unwrap_or_default(),
        None => &[0],
    };
    significant
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_hex_drops_leading_zeros_only() {
        assert_eq!(serial_hex(&[0, 0x80, 0x01, 0x00]), "800100");
        assert_eq!(serial_hex(&[0x0f, 0xff]), "0fff");
        assert_eq!(serial_hex(&[0, 0]), "00");
    }

    #[test]
    fn random_serials_differ_and_fit_128_bits() {
        let (_, first) = random_serial().unwrap();
        let (_, second) = random_serial().unwrap();
        assert_ne!(first, second);
        assert!(first.len() <= 32 && first.len() >= 2);
    }

    #[test]
    fn validity_is_backdated_and_bounded() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (start, end) = validity(now, HOST_CERT_LIFETIME).unwrap();
        assert_eq!(start.unix_timestamp(), 1_800_000_000 - 3600);
        assert_eq!(end.unix_timestamp(), 1_800_000_000 + 30 * 24 * 3600);
        assert_eq!(
            system_time_from_unix(end.unix_timestamp()),
            now + HOST_CERT_LIFETIME
        );
    }
}
