//! The CA: an ECDSA P-256 key and its self-signed certificate.

use std::path::Path;
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::FromDer;

use super::files::{
    CERT_MODE, KEY_MODE, read_private, read_public, refuse_existing, write_new_file,
};
use super::{CA_LIFETIME, Fingerprint, PkiError, Result, random_serial, validity};

/// A certificate authority that can sign: its key, its certificate, and the
/// issuer data (subject, key identifier) certificates it signs refer to.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl std::fmt::Debug for Ca {
    // The key stays out of logs: only the certificate's fingerprint shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Makes a new CA named `common_name`, valid [`CA_LIFETIME`] from `now`
    /// (backdated by [`BACKDATE`](super::BACKDATE)). It may sign end-entity
    /// certificates only (path length 0).
    pub fn create(common_name: &str, now: SystemTime) -> Result<Ca> {
        if common_name.trim().is_empty() {
            return Err(PkiError::BadName {
                field: "CA common name",
                value: common_name.to_owned(),
                reason: "it is empty",
            });
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Rcgen {
                action: "generate the CA key",
                source,
            })?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        params.distinguished_name = subject;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        (params.not_before, params.not_after) = validity(now, CA_LIFETIME)?;
        params.serial_number = Some(random_serial()?.0);
        let cert = params.self_signed(&key).map_err(|source| PkiError::Rcgen {
            action: "self-sign the CA certificate",
            source,
        })?;
        Ok(Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Writes the key to `key_path` (created 0600, never over an existing
    /// file) and the certificate to `cert_path` (created 0644, never over an
    /// existing file either: a new key beside an old certificate would be a
    /// broken pair). Both paths are checked before anything is written.
    pub fn write(&self, key_path: &Path, cert_path: &Path) -> Result<()> {
        refuse_existing(key_path)?;
        refuse_existing(cert_path)?;
        write_new_file(key_path, self.key_pem().as_bytes(), KEY_MODE)?;
        write_new_file(cert_path, self.cert_pem.as_bytes(), CERT_MODE)
    }

    /// The private key, PKCS#8 PEM, wiped on drop (only for writing it).
    pub(super) fn key_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(self.issuer.key().serialize_pem())
    }

    /// Reads a CA written by [`Ca::write`]. Refuses a key file that group or
    /// others may access (naming the `chmod 600` fix) and a key that is not
    /// the certificate's.
    pub fn load(key_path: &Path, cert_path: &Path) -> Result<Ca> {
        let key_pem = read_private(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| PkiError::BadPem {
            what: key_path.display().to_string(),
            reason: format!("not a PEM private key rcgen can sign with ({source})"),
        })?;
        let cert_pem = read_public(cert_path)?;
        let cert_der = single_certificate(&cert_pem, &cert_path.display().to_string())?;
        let (_, parsed) =
            x509_parser::certificate::X509Certificate::from_der(&cert_der).map_err(|error| {
                PkiError::BadPem {
                    what: cert_path.display().to_string(),
                    reason: format!("not an X.509 certificate ({error})"),
                }
            })?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::KeyMismatch {
                key_path: key_path.to_owned(),
                cert_path: cert_path.to_owned(),
            });
        }
        if !parsed.is_ca() {
            return Err(PkiError::BadPem {
                what: cert_path.display().to_string(),
                reason: "the certificate is not a CA certificate".to_owned(),
            });
        }
        let issuer =
            Issuer::from_ca_cert_der(&cert_der, key).map_err(|source| PkiError::Rcgen {
                action: "use the CA certificate as an issuer",
                source,
            })?;
        Ok(Ca {
            issuer,
            cert_der,
            cert_pem,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// `SHA256:` + unpadded base64 of the SHA-256 of the certificate DER.
    pub fn fingerprint(&self) -> String {
        Fingerprint::of(&self.cert_der).to_string()
    }

    /// The common name the CA was created with.
    pub fn common_name(&self) -> String {
        x509_parser::certificate::X509Certificate::from_der(&self.cert_der)
            .ok()
            .and_then(|(_, cert)| {
                cert.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|name| name.as_str().ok().map(str::to_owned))
            })
            .unwrap_or_default()
    }

    /// What signs certificates in the sibling modules.
    pub(super) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// The one certificate in `pem` (a file named by `what`), refusing none or
/// several.
pub(super) fn single_certificate(pem: &str, what: &str) -> Result<CertificateDer<'static>> {
    let mut certificates = CertificateDer::pem_slice_iter(pem.as_bytes());
    let bad = |reason: String| PkiError::BadPem {
        what: what.to_owned(),
        reason,
    };
    let first = match certificates.next() {
        Some(Ok(der)) => der,
        Some(Err(error)) => return Err(bad(format!("unreadable PEM ({error})"))),
        None => return Err(bad("no CERTIFICATE block".to_owned())),
    };
    if certificates.next().is_some() {
        return Err(bad("more than one certificate".to_owned()));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_ca_is_a_p256_ca_for_ten_years() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca.cert_der()).unwrap();
        assert!(cert.is_ca());
        assert_eq!(ca.common_name(), "Roster fleet CA");
        assert_eq!(
            cert.validity().not_after.timestamp(),
            1_800_000_000 + CA_LIFETIME.as_secs() as i64
        );
        assert_eq!(
            cert.public_key()
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .as_oid()
                .unwrap(),
            x509_parser::oid_registry::OID_EC_P256
        );
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(Ca::create(" ", now()).is_err());
    }

    #[test]
    fn written_ca_has_private_key_and_public_cert_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("ca.key"), dir.path().join("ca.crt"));
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        ca.write(&key, &cert).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        let loaded = Ca::load(&key, &cert).unwrap();
        assert_eq!(loaded.fingerprint(), ca.fingerprint());
        assert_eq!(loaded.cert_der(), ca.cert_der());
    }

    #[test]
    fn write_never_overwrites_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("ca.key"), dir.path().join("ca.crt"));
        let first = Ca::create("first", now()).unwrap();
        first.write(&key, &cert).unwrap();
        let second = Ca::create("second", now()).unwrap();
        let error = second
            .write(&key, &dir.path().join("other.crt"))
            .unwrap_err();
        assert!(matches!(error, PkiError::FileExists { .. }));
        assert!(error.to_string().contains(&key.display().to_string()));
        // The cert path is checked before the key is written.
        let other_key = dir.path().join("other.key");
        let error = second.write(&other_key, &cert).unwrap_err();
        assert!(error.to_string().contains(&cert.display().to_string()));
        assert!(!other_key.exists());
        assert_eq!(
            Ca::load(&key, &cert).unwrap().fingerprint(),
            first.fingerprint()
        );
    }

    #[test]
    fn load_refuses_a_key_readable_by_others_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("ca.key"), dir.path().join("ca.crt"));
        Ca::create("Roster fleet CA", now())
            .unwrap()
            .write(&key, &cert)
            .unwrap();
        for loose in [0o640, 0o604, 0o660, 0o602] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(loose)).unwrap();
            let error = Ca::load(&key, &cert).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, PkiError::KeyFileTooOpen { .. }),
                "{message}"
            );
            assert!(
                message.contains(&format!("chmod 600 {}", key.display())),
                "{message}"
            );
        }
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        Ca::load(&key, &cert).unwrap();
    }

    #[test]
    fn load_refuses_a_key_that_is_not_the_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ca::create("first", now()).unwrap();
        let second = Ca::create("second", now()).unwrap();
        first
            .write(&dir.path().join("a.key"), &dir.path().join("a.crt"))
            .unwrap();
        second
            .write(&dir.path().join("b.key"), &dir.path().join("b.crt"))
            .unwrap();
        let error = Ca::load(&dir.path().join("a.key"), &dir.path().join("b.crt")).unwrap_err();
        assert!(matches!(error, PkiError::KeyMismatch { .. }), "{error}");
    }

    #[test]
    fn load_names_missing_and_garbled_files() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("ca.key"), dir.path().join("ca.crt"));
        let error = Ca::load(&key, &cert).unwrap_err();
        assert!(error.to_string().contains("ca.key"), "{error}");
        Ca::create("x", now()).unwrap().write(&key, &cert).unwrap();
        std::fs::write(&cert, "not a certificate").unwrap();
        let error = Ca::load(&key, &cert).unwrap_err();
        assert!(error.to_string().contains("ca.crt"), "{error}");
    }
}
