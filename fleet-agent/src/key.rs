//! The host's private key: ECDSA P-256, made on the host, never sent.

use crate::AgentError;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use std::fmt;
use zeroize::Zeroizing;

/// A host's private key, PKCS#8 PEM, wiped from memory on drop. Its
/// Debug never shows it.
#[derive(Clone)]
pub struct HostKey(Zeroizing<String>);

impl HostKey {
    /// A new ECDSA P-256 key.
    pub fn generate() -> Result<HostKey, AgentError> {
        let pair = KeyPair::generate()
            .map_err(|e| AgentError::Bad(format!("cannot make the host's key: {e}")))?;
        Ok(HostKey(Zeroizing::new(pair.serialize_pem())))
    }

    /// A key read back (PKCS#8 PEM, as [`HostKey::pem`] gave it); refused
    /// unless it is a usable private key.
    pub fn from_pem(pem: String) -> Result<HostKey, AgentError> {
        let pem = Zeroizing::new(pem);
        KeyPair::from_pem(&pem).map_err(|e| {
            AgentError::Bad(format!(
                "the host's key is not a PKCS#8 PEM private key ({e}): join again to make a new one"
            ))
        })?;
        Ok(HostKey(pem))
    }

    /// The PKCS#8 PEM (for rosterd to store in a 0600 file).
    pub fn pem(&self) -> &str {
        &self.0
    }

    /// A PKCS#10 request for this key, in PEM. The controller takes only
    /// the public key from it; the common name is the host's for a
    /// person reading it.
    pub(crate) fn certificate_request(&self, hostname: &str) -> Result<String, AgentError> {
        let pair = KeyPair::from_pem(&self.0)
            .map_err(|e| AgentError::Bad(format!("the host's key: {e}")))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, hostname);
        params.distinguished_name = name;
        params
            .serialize_request(&pair)
            .and_then(|request| request.pem())
            .map_err(|e| AgentError::Bad(format!("cannot make the certificate request: {e}")))
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_requests_certificates_and_never_shows_itself() {
        let key = HostKey::generate().unwrap();
        assert!(key.pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(format!("{key:?}"), "HostKey(<redacted>)");
        let again = HostKey::from_pem(key.pem().to_owned()).unwrap();
        assert_eq!(again.pem(), key.pem());
        let request = key.certificate_request("web-1").unwrap();
        assert!(request.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let error = HostKey::from_pem("not a key".into()).unwrap_err();
        assert!(error.to_string().contains("PKCS#8"), "{error}");
    }
}
