//! CA fingerprints: the fleet protocol's one definition, refused here as
//! a PKI error.

pub use roster_fleet_protocol::fingerprint::Fingerprint;

use super::{PkiError, Result};

/// [`roster_fleet_protocol::fingerprint::parse_fingerprint`], as a PKI error.
pub fn parse_fingerprint(input: &str) -> Result<Fingerprint> {
    roster_fleet_protocol::fingerprint::parse_fingerprint(input).map_err(|refused| {
        PkiError::BadFingerprint {
            input: refused.input,
            reason: refused.reason,
        }
    })
}
