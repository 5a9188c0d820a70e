//! TLS to the store with libpq's `sslmode=verify-full` semantics, over
//! rustls on ring (as the controller's API and the fleet agent: no
//! OpenSSL, no aws-lc): every server's certificate must chain to a CA in
//! `sslrootcert` and name the host it was reached by (the `postgres`
//! crate hands each host of a multi-host string its own name, an IP
//! address being checked against the certificate's IP names).
//!
//! A small connector of our own rather than `tokio-postgres-rustls`: the
//! same ~100 lines, with no other crate, and the handshake's failure
//! turned into a sentence that names the host, the CA file and the fix
//! where the crate would pass on rustls's words. SCRAM's channel binding
//! (`tls-server-end-point`, RFC 5929) is given, so `channel_binding=require`
//! works.

use crate::conninfo::ConninfoError;
use postgres::Socket;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// rustls' `ring` provider. rustls 0.23.48 marks it deprecated because
/// *ring* has no post-quantum key exchange (that needs aws-lc-rs, whose C
/// build the project keeps out, as the controller's src/tls.rs says): the
/// allow is deliberate.
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a TLS connection to one store node failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreTlsError {
    #[error(
        "{host}'s certificate isn't signed by the CA in {} (sslrootcert): give the CA that signed the store's certificates, or reissue the node's certificate from it",
        .roots.display()
    )]
    UnknownIssuer { host: String, roots: PathBuf },
    #[error(
        "{host}'s certificate doesn't name host {host} (it names {presented}): connect by a name the certificate holds, or reissue it with {host} in its subjectAltName"
    )]
    WrongName { host: String, presented: String },
    #[error(
        "{host}'s certificate is out of its validity period ({why}): renew the node's certificate (or check this machine's clock)"
    )]
    Expired { host: String, why: String },
    #[error(
        "{host}'s certificate was refused ({why}): the store's certificates must chain to the CA in {} and name their host",
        .roots.display()
    )]
    BadCertificate {
        host: String,
        roots: PathBuf,
        why: String,
    },
    #[error("TLS handshake with {host} failed: {why}")]
    Handshake { host: String, why: String },
    #[error(
        "{host:?} isn't a host name or IP address a certificate can name: give host= names with sslmode=verify-full"
    )]
    NotAName { host: String },
}

impl StoreTlsError {
    /// A check the server failed (a certificate, a name): the store's or
    /// the config's to fix, which no retry cures, unlike a connection
    /// lost mid-handshake.
    pub fn is_verification(&self) -> bool {
        !matches!(self, StoreTlsError::Handshake { .. })
    }
}

/// The TLS client of one parsed connection string: the rustls config
/// (its roots read once) and where each attempt's failures are noted.
#[derive(Clone)]
pub(crate) struct VerifyFull {
    config: Arc<ClientConfig>,
    roots: Arc<Path>,
    /// Every host's TLS failure during one connect: the `postgres` crate
    /// answers with the last host's error only, so a refused certificate
    /// on the first host would hide behind the second one's timeout.
    failures: Arc<Mutex<Vec<String>>>,
}

impl VerifyFull {
    /// The client for the CAs in `file` (PEM, one or more certificates).
    pub(crate) fn from_roots_file(file: &Path) -> Result<VerifyFull, ConninfoError> {
        let pem = std::fs::read(file).map_err(|source| ConninfoError::RootUnreadable {
            file: file.to_path_buf(),
            source,
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| ConninfoError::BadRoot {
                file: file.to_path_buf(),
                why: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| ConninfoError::BadRoot {
                file: file.to_path_buf(),
                why: e.to_string(),
            })?;
        }
        if roots.is_empty() {
            return Err(ConninfoError::NoCertificate {
                file: file.to_path_buf(),
            });
        }
        let mut config = ClientConfig::builder_with_provider(ring_provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ConninfoError::BadRoot {
                file: file.to_path_buf(),
                why: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // What libpq 17 sends (PostgreSQL 17's direct TLS requires it;
        // older servers ignore it).
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(VerifyFull {
            config: Arc::new(config),
            roots: Arc::from(file),
            failures: Arc::default(),
        })
    }

    pub(crate) fn roots_file(&self) -> &Path {
        &self.roots
    }

    /// A connector for one connect, with a fresh failure list.
    pub(crate) fn for_one_connect(&self) -> VerifyFull {
        VerifyFull {
            failures: Arc::default(),
            ..self.clone()
        }
    }

    /// The TLS failures of the connect this connector made, one a host.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl MakeTlsConnect<Socket> for VerifyFull {
    type Stream = StoreTlsStream;
    type TlsConnect = VerifyHost;
    type Error = StoreTlsError;

    fn make_tls_connect(&mut self, host: &str) -> Result<VerifyHost, StoreTlsError> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            let error = StoreTlsError::NotAName {
                host: host.to_string(),
            };
            self.note(&error);
            error
        })?;
        Ok(VerifyHost {
            client: self.clone(),
            host: host.to_string(),
            name,
        })
    }
}

impl VerifyFull {
    fn note(&self, error: &StoreTlsError) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(error.to_string());
    }
}

/// The handshake with one host, checked against its name.
pub(crate) struct VerifyHost {
    client: VerifyFull,
    host: String,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for VerifyHost {
    type Stream = StoreTlsStream;
    type Error = StoreTlsError;
    type Future = Pin<Box<dyn Future<Output = Result<StoreTlsStream, StoreTlsError>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.client.config));
            match connector.connect(self.name.clone(), socket).await {
                Ok(stream) => Ok(StoreTlsStream(stream)),
                Err(e) => {
                    let error = handshake_error(&e, &self.host, &self.client.roots);
                    self.client.note(&error);
                    Err(error)
                }
            }
        })
    }
}

/// rustls's refusal (inside tokio-rustls's io::Error) as a sentence.
fn handshake_error(error: &io::Error, host: &str, roots: &Path) -> StoreTlsError {
    let host = host.to_string();
    let Some(rustls::Error::InvalidCertificate(why)) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return StoreTlsError::Handshake {
            host,
            why: error.to_string(),
        };
    };
    match why {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            StoreTlsError::UnknownIssuer {
                host,
                roots: roots.to_path_buf(),
            }
        }
        CertificateError::NotValidForName => StoreTlsError::WrongName {
            host,
            presented: "other names".into(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => StoreTlsError::WrongName {
            host,
            presented: if presented.is_empty() {
                "no name".into()
            } else {
                presented
                    .iter()
                    .map(|name| plain_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        },
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => StoreTlsError::Expired {
            host,
            why: why.to_string(),
        },
        other => StoreTlsError::BadCertificate {
            host,
            roots: roots.to_path_buf(),
            why: other.to_string(),
        },
    }
}

/// A name as webpki lists it (`DnsName("db1.example.org")`,
/// `IpAddress(10.0.0.11)`) as a person writes it.
fn plain_name(listed: &str) -> &str {
    listed
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            listed
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(listed)
}

/// A verified TLS connection to a store node.
pub struct StoreTlsStream(tokio_rustls::client::TlsStream<Socket>);

impl AsyncRead for StoreTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for StoreTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl TlsStream for StoreTlsStream {
    /// RFC 5929's tls-server-end-point: the server certificate's hash,
    /// by the hash of its signature algorithm (SHA-256 for MD5 and
    /// SHA-1), as PostgreSQL computes it; none for an algorithm with no
    /// such hash (SCRAM then runs without channel binding, unless
    /// `channel_binding=require` refuses that).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        let Some(leaf) = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
        else {
            return ChannelBinding::none();
        };
        match end_point_hash(leaf) {
            Some(algorithm) => ChannelBinding::tls_server_end_point(
                ring::digest::digest(algorithm, leaf).as_ref().to_vec(),
            ),
            None => ChannelBinding::none(),
        }
    }
}

/// The hash RFC 5929 binds `cert` with, from its signature algorithm.
fn end_point_hash(cert: &[u8]) -> Option<&'static ring::digest::Algorithm> {
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert).ok()?;
    let oid = parsed.signature_algorithm.algorithm.to_id_string();
    match oid.as_str() {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => Some(&ring::digest::SHA256),
        // sha384WithRSA, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Some(&ring::digest::SHA384),
        // sha512WithRSA, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Some(&ring::digest::SHA512),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn listed_names_read_as_written() {
        assert_eq!(plain_name("DnsName(\"db.invalid\")"), "db.invalid");
        assert_eq!(plain_name("IpAddress(10.0.0.11)"), "10.0.0.11");
        assert_eq!(plain_name("DirectoryName"), "DirectoryName");
    }
}
