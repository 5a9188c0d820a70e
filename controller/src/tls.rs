//! TLS for the hosts' API: rustls on `ring` only (no aws-lc-rs, no OpenSSL,
//! and never the process-wide default provider, so nothing else linked in
//! can change which crypto we use).
//!
//! The server asks every client for a certificate but lets a client without
//! one through, because enrollment has none yet ([`server_config`]); a
//! presented certificate must chain to a trusted CA, be valid now and carry
//! clientAuth, or the handshake fails. [`MtlsAcceptor`] then gives every
//! request of the connection a [`PeerHost`]: `Some` identity for a
//! certificate, `None` for none; each handler decides whether `None` is
//! enough (only enrollment). Accepting is rate-limited by a token bucket
//! ([`AcceptLimiter`]) before any handshake work, and [`AcceptStats`] counts
//! what the limiter dropped and which handshakes failed, for `/metrics`.

mod acceptor;
mod limiter;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use acceptor::{AcceptStats, MtlsAcceptor, PeerHost, PeerHostService};
pub use limiter::{AcceptLimiter, HostLimiter};

/// The ALPN protocol offered and accepted (the API is HTTP/1.1 only).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// What went wrong building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM string held no usable certificate or key.
    #[error("{what}: {reason}")]
    BadPem { what: &'static str, reason: String },
    /// rustls refused the configuration (a key not matching its certificate,
    /// an unusable trust anchor…).
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// No CA to trust was given.
    #[error("cannot build the TLS configuration: no trusted CA certificate")]
    NoTrustAnchor,
    /// The accept limiter's numbers are unusable.
    #[error("accept limit: {0}")]
    BadLimit(&'static str),
}

/// The result of everything in this module.
pub type Result<T, E = TlsError> = std::result::Result<T, E>;

/// rustls' `ring` provider, handed to every builder explicitly.
///
/// rustls 0.23.48 marks this function deprecated because *ring* has no
/// post-quantum key exchange (X25519MLKEM768 needs aws-lc-rs, whose C build
/// this project keeps out). It is still the supported way to get the ring
/// provider; the allow is deliberate until the project revisits that choice.
#[allow(deprecated)]
pub fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The controller's server configuration: its certificate chain and key
/// (PEM), clients verified against `client_trust` when they present a
/// certificate (and let through without one, for enrollment), TLS 1.3 and
/// 1.2, ALPN `http/1.1`.
pub fn server_config(
    server_chain_pem: &str,
    server_key_pem: &str,
    client_trust: &[CertificateDer<'_>],
) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(ring_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(root_store(client_trust)?),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|error| TlsError::Rustls(rustls::Error::General(error.to_string())))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certificates(server_chain_pem, "server certificate chain")?,
            private_key(server_key_pem, "server key")?,
        )?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// A host's client configuration: controllers verified against `ca_trust`
/// (the CA bundle), the host's certificate chain and key presented.
pub fn client_config(
    ca_trust: &[CertificateDer<'_>],
    client_chain_pem: &str,
    client_key_pem: &str,
) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(root_store(ca_trust)?)
        .with_client_auth_cert(
            certificates(client_chain_pem, "client certificate chain")?,
            private_key(client_key_pem, "client key")?,
        )?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// The client configuration for enrollment: controllers verified against
/// `ca_trust` (the CA whose fingerprint the operator pinned), no client
/// certificate.
pub fn enrollment_client_config(ca_trust: &[CertificateDer<'_>]) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(root_store(ca_trust)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM string (a CA bundle or a chain), in order.
pub fn certificates(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::BadPem {
            what,
            reason: format!("unreadable PEM ({error})"),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::BadPem {
            what,
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    Ok(certificates)
}

fn private_key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|error| TlsError::BadPem {
        what,
        reason: format!("no usable PRIVATE KEY block ({error})"),
    })
}

fn root_store(trust: &[CertificateDer<'_>]) -> Result<RootCertStore> {
    if trust.is_empty() {
        return Err(TlsError::NoTrustAnchor);
    }
    let mut roots = RootCertStore::empty();
    for certificate in trust {
        roots.add(certificate.clone().into_owned())?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::pki::Ca;

    #[test]
    fn configurations_build_from_what_pki_issues() {
        let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
        let (key, chain) = ca
            .issue_server_cert(&["localhost".to_owned()], SystemTime::now())
            .unwrap();
        let trust = [ca.cert_der().clone()];
        let server = server_config(&chain, &key, &trust).unwrap();
        assert_eq!(server.alpn_protocols, vec![b"http/1.1".to_vec()]);
        enrollment_client_config(&trust).unwrap();
        client_config(&trust, &chain, &key).unwrap();
    }

    #[test]
    fn bad_inputs_are_named() {
        let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
        let (key, chain) = ca
            .issue_server_cert(&["localhost".to_owned()], SystemTime::now())
            .unwrap();
        let trust = [ca.cert_der().clone()];
        let error = server_config("", &key, &trust).unwrap_err();
        assert!(
            error.to_string().contains("server certificate chain"),
            "{error}"
        );
        let error = server_config(&chain, "garbage", &trust).unwrap_err();
        assert!(error.to_string().contains("server key"), "{error}");
        assert!(matches!(
            server_config(&chain, &key, &[]).unwrap_err(),
            TlsError::NoTrustAnchor
        ));
        // A key that isn't the certificate's.
        let (other_key, _) = ca
            .issue_server_cert(&["localhost".to_owned()], SystemTime::now())
            .unwrap();
        assert!(server_config(&chain, &other_key, &trust).is_err());
    }
}
