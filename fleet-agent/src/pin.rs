//! TLS: the CA pin that enrollment trusts, the verifier that checks a
//! controller against it, and the mutual-TLS configuration after.
//! rustls on *ring* only, handed to every builder (never the process-wide
//! default provider).

use crate::AgentError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "SHA256:";

/// The API is HTTP/1.1 only.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// rustls' *ring* provider. rustls 0.23.48 marks it deprecated because
/// *ring* has no post-quantum key exchange; the project keeps aws-lc out
/// (as the controller does), so the allow is deliberate.
#[allow(deprecated)]
pub(crate) fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 of the fleet CA's certificate (DER), as the operator
/// pins it: `SHA256:` + unpadded base64 (what `roster-controller ca
/// fingerprint` prints), or 64 hex digits, optionally colon-separated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaPin(pub [u8; 32]);

impl CaPin {
    pub fn parse(input: &str) -> Result<CaPin, AgentError> {
        let trimmed = input.trim();
        let refuse = |reason: &str| {
            AgentError::Bad(format!(
                "the CA fingerprint {input:?} is not one ({reason}): give it as `roster-controller ca fingerprint` prints it, SHA256:…"
            ))
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
            return Ok(CaPin(digest));
        }
        let hex: String = trimmed.chars().filter(|c| *c != ':').collect();
        if trimmed.contains(':')
            && (trimmed.split(':').count() != 32 || trimmed.split(':').any(|pair| pair.len() != 2))
        {
            return Err(refuse("colon-separated hex must be 32 pairs of digits"));
        }
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(refuse("hex must be 64 digits"));
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| refuse("not hex"))?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| refuse("not hex"))?;
        }
        Ok(CaPin(digest))
    }

    pub fn of(der: &[u8]) -> CaPin {
        CaPin(Sha256::digest(der).into())
    }

    pub fn matches(&self, der: &[u8]) -> bool {
        CaPin::of(der) == *self
    }
}

impl fmt::Display for CaPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for CaPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Every certificate of a PEM string, in order; none is an error.
pub(crate) fn certificates(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, AgentError> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AgentError::Bad(format!("{what}: unreadable PEM ({e})")))?;
    if certificates.is_empty() {
        return Err(AgentError::Bad(format!("{what}: no CERTIFICATE in it")));
    }
    Ok(certificates)
}

fn roots(ca_bundle_pem: &str) -> Result<RootCertStore, AgentError> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(ca_bundle_pem, "the CA bundle")? {
        roots
            .add(ca)
            .map_err(|e| AgentError::Tls(format!("the CA bundle holds an unusable CA: {e}")))?;
    }
    Ok(roots)
}

/// The mutual-TLS configuration of an enrolled host: controllers
/// verified against exactly the enrollment's CA bundle, the host's
/// certificate and key presented.
pub(crate) fn mtls_config(
    ca_bundle_pem: &str,
    certificate_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>, AgentError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| AgentError::Bad(format!("the host's key: {e}")))?;
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots(ca_bundle_pem)?)
        .with_client_auth_cert(
            certificates(certificate_pem, "the host's certificate")?,
            key,
        )
        .map_err(|e| {
            AgentError::Tls(format!(
                "the host's certificate and key don't go together: {e}"
            ))
        })?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // Sessions to resume, one per controller at most: rustls's default
    // cache reserves room for 256 servers in every configuration, which
    // the host simulator pays thousands of times over.
    config.resumption = rustls::client::Resumption::in_memory_sessions(RESUMED_SESSIONS);
    Ok(Arc::new(config))
}

/// TLS sessions a host keeps to resume (a host has a few controllers).
const RESUMED_SESSIONS: usize = 8;

/// The enrollment configuration: no client certificate; the controller
/// verified by [`PinnedCa`]. Returns the verifier too, to read why it
/// refused.
pub(crate) fn pinned_config(pin: CaPin) -> Result<(Arc<ClientConfig>, Arc<PinnedCa>), AgentError> {
    let provider = ring_provider();
    let verifier = Arc::new(PinnedCa {
        pin,
        provider: Arc::clone(&provider),
        refusal: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok((Arc::new(config), verifier))
}

/// Verifies a controller with nothing but the CA's fingerprint: the CA
/// must be in the chain the server presents (after the leaf), its
/// SHA-256 must be the pin, and the leaf must verify against it as a
/// trust anchor with webpki (signature, validity now, the name dialled,
/// serverAuth). Anything else is refused.
#[derive(Debug)]
pub(crate) struct PinnedCa {
    pin: CaPin,
    provider: Arc<CryptoProvider>,
    /// Why the last handshake was refused, in words for a person.
    refusal: Mutex<Option<String>>,
}

impl PinnedCa {
    pub(crate) fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn refuse(&self, why: String) -> rustls::Error {
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
        rustls::Error::General(why)
    }
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = self.pin;
        let Some(ca) = intermediates.iter().find(|cert| pin.matches(cert)) else {
            return Err(self.refuse(format!(
                "the controller's CA does not match {pin}: none of the {} certificate(s) it presents has that fingerprint (check the fingerprint with `roster-controller ca fingerprint`; a controller must send its CA after its own certificate in its server_cert file)",
                intermediates.len() + 1
            )));
        };
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| self.refuse(format!("the pinned CA {pin} is not a usable CA: {e}")))?;
        let others: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|cert| !pin.matches(cert))
            .cloned()
            .collect();
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|e| self.refuse(format!("the pinned CA {pin}: {e}")))?;
        webpki
            .verify_server_cert(end_entity, &others, server_name, ocsp_response, now)
            .map_err(|e| {
                self.refuse(format!(
                    "the controller's certificate is not valid under the CA {pin}: {e}"
                ))
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A certificate's (first in the PEM) not-before and not-after.
pub fn certificate_validity(certificate_pem: &str) -> Result<(SystemTime, SystemTime), AgentError> {
    with_certificate(certificate_pem, |parsed| {
        let at =
            |seconds: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        let validity = parsed.validity();
        (
            at(validity.not_before.timestamp()),
            at(validity.not_after.timestamp()),
        )
    })
}

/// The first certificate's subject in `certificate_pem` as one line
/// (`CN=web-1, O=…`): who the host is to the fleet.
pub fn certificate_subject(certificate_pem: &str) -> Result<String, AgentError> {
    with_certificate(certificate_pem, |parsed| parsed.subject().to_string())
}

fn with_certificate<T>(
    certificate_pem: &str,
    read: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> Result<T, AgentError> {
    let certificates = certificates(certificate_pem, "the host's certificate")?;
    let der = certificates
        .first()
        .ok_or_else(|| AgentError::Bad("the host's certificate: empty".into()))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| AgentError::Bad(format!("the host's certificate can't be read: {e}")))?;
    Ok(read(&parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_in_both_forms_and_malformed_ones_are_refused() {
        let pin = CaPin::of(b"a CA");
        let printed = pin.to_string();
        assert!(printed.starts_with("SHA256:") && printed.len() == 50);
        assert_eq!(CaPin::parse(&printed).unwrap(), pin);
        let hex: String = pin.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(CaPin::parse(&hex).unwrap(), pin);
        assert_eq!(CaPin::parse(&hex.to_uppercase()).unwrap(), pin);
        let pairs: Vec<String> = pin.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(CaPin::parse(&pairs.join(":")).unwrap(), pin);
        for bad in [
            "",
            "SHA256:",
            &printed[..printed.len() - 1],
            &format!("{printed}A"),
            "ab:cd",
            &"g".repeat(64),
        ] {
            assert!(
                matches!(CaPin::parse(bad), Err(AgentError::Bad(_))),
                "{bad:?}"
            );
        }
    }
}
