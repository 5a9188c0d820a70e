//! Host certificates: signing a host's CSR (its public key only) and reading
//! the identity back from a certificate a host presents.

use std::time::SystemTime;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PublicKeyData, SanType,
    SignatureAlgorithm,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use super::{
    Ca, HOST_CERT_LIFETIME, HOST_URI_SCHEME, PkiError, Result, random_serial, serial_hex,
    system_time_from_unix, validity,
};

/// The largest certificate request accepted, PEM bytes (a P-384 CSR with a
/// long subject is under 1 KiB; this only bounds the parser's work).
pub const MAX_CSR_PEM_BYTES: usize = 16 * 1024;

/// What a host certificate says, taken from the host's row, never from the
/// request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSubject {
    pub id: i64,
    pub name: String,
    pub environment: String,
}

/// A signed host certificate and what the controller stores about it.
#[derive(Clone, Debug)]
pub struct IssuedHostCert {
    /// The certificate, PEM (the host adds the CA bundle itself).
    pub cert_pem: String,
    /// The serial number, lower-case hex without leading zero bytes.
    pub serial: String,
    pub not_after: SystemTime,
    /// The host's public key as a DER SubjectPublicKeyInfo (the request's,
    /// byte for byte).
    pub public_key_der: Vec<u8>,
}

/// Who a verified client certificate names: read from what
/// [`Ca::sign_host_csr`] wrote. The `roster-host:<id>` URI is the identity;
/// name and environment are informative (the host's row is authoritative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostIdentity {
    pub id: i64,
    pub name: String,
    pub environment: String,
    pub serial: String,
    pub not_after: SystemTime,
}

/// The public key of a request, in the form rcgen writes into a certificate.
struct RequestedKey {
    subject_public_key: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl PublicKeyData for RequestedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.subject_public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl Ca {
    /// Signs a host's certificate request: checks its size, parses it,
    /// refuses a key type other than ECDSA P-256/P-384 or Ed25519 and a
    /// signature that doesn't match the request's own key, then issues a
    /// certificate for that key alone: subject CN = `host.name`,
    /// O = `host.environment`, SAN URI `roster-host:<id>`, clientAuth, a
    /// random 128-bit serial, [`HOST_CERT_LIFETIME`] from `now`. The request's
    /// subject, names and extensions are ignored.
    pub fn sign_host_csr(
        &self,
        csr_pem: &str,
        host: &HostSubject,
        now: SystemTime,
    ) -> Result<IssuedHostCert> {
        let key = requested_key(csr_pem)?;
        for (field, value) in [
            ("host name", &host.name),
            ("environment", &host.environment),
        ] {
            if value.trim().is_empty() {
                return Err(PkiError::BadName {
                    field,
                    value: value.clone(),
                    reason: "it is empty",
                });
            }
        }
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, host.name.as_str());
        subject.push(DnType::OrganizationName, host.environment.as_str());
        params.distinguished_name = subject;
        let uri = format!("{HOST_URI_SCHEME}{}", host.id);
        params.subject_alt_names =
            vec![SanType::URI(uri.as_str().try_into().map_err(|source| {
                PkiError::Rcgen {
                    action: "encode the host's URI name",
                    source,
                }
            })?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let (serial_number, serial) = random_serial()?;
        params.serial_number = Some(serial_number);
        (params.not_before, params.not_after) = validity(now, HOST_CERT_LIFETIME)?;
        let not_after = system_time_from_unix(params.not_after.unix_timestamp());
        let cert = params
            .signed_by(&key, self.issuer())
            .map_err(|source| PkiError::Rcgen {
                action: "sign the host certificate",
                source,
            })?;
        Ok(IssuedHostCert {
            cert_pem: cert.pem(),
            serial,
            not_after,
            public_key_der: key.subject_public_key_info(),
        })
    }
}

/// The verified public key of a request, or why it is refused.
fn requested_key(csr_pem: &str) -> Result<RequestedKey> {
    if csr_pem.len() > MAX_CSR_PEM_BYTES {
        return Err(PkiError::CsrTooLarge {
            size: csr_pem.len(),
            limit: MAX_CSR_PEM_BYTES,
        });
    }
    let unparsable = |reason: String| PkiError::CsrUnparsable { reason };
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|error| unparsable(format!("no CERTIFICATE REQUEST PEM block ({error})")))?;
    let (rest, request) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|error| unparsable(error.to_string()))?;
    if !rest.is_empty() {
        return Err(unparsable("trailing bytes after the request".to_owned()));
    }
    let spki = &request.certification_request_info.subject_pki;
    let key_type = &spki.algorithm.algorithm;
    let algorithm: &'static SignatureAlgorithm = if *key_type == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.as_oid().ok());
        match curve {
            Some(curve) if curve == OID_EC_P256 => &PKCS_ECDSA_P256_SHA256,
            Some(curve) if curve == OID_NIST_EC_P384 => &PKCS_ECDSA_P384_SHA384,
            Some(curve) => {
                return Err(PkiError::CsrKeyUnsupported {
                    algorithm: format!("ECDSA on curve {curve}"),
                });
            }
            None => {
                return Err(PkiError::CsrKeyUnsupported {
                    algorithm: "ECDSA without a named curve".to_owned(),
                });
            }
        }
    } else if *key_type == OID_SIG_ED25519 {
        if spki.algorithm.parameters.is_some() {
            return Err(unparsable(
                "an Ed25519 key must have no parameters".to_owned(),
            ));
        }
        &PKCS_ED25519
    } else {
        let name = x509_parser::oid_registry::OidRegistry::default()
            .with_all_crypto()
            .get(key_type)
            .map(|entry| entry.sn().to_owned())
            .unwrap_or_else(|| key_type.to_id_string());
        return Err(PkiError::CsrKeyUnsupported { algorithm: name });
    };
    request
        .verify_signature()
        .map_err(|_| PkiError::CsrBadSignature)?;
    Ok(RequestedKey {
        subject_public_key: spki.subject_public_key.data.to_vec(),
        algorithm,
    })
}

impl HostIdentity {
    /// Reads the identity out of a host certificate (already verified
    /// against the CA bundle by whoever calls this). The one
    /// `roster-host:<id>` URI SAN gives the id; CN and O give name and
    /// environment.
    pub fn from_cert_der(der: &[u8]) -> Result<HostIdentity> {
        let refuse = |reason: String| PkiError::NotAHostCert { reason };
        let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|error| refuse(format!("unparsable certificate ({error})")))?;
        if !rest.is_empty() {
            return Err(refuse("trailing bytes after the certificate".to_owned()));
        }
        let names = cert
            .subject_alternative_name()
            .map_err(|error| refuse(format!("unreadable subject alternative names ({error})")))?
            .map(|extension| extension.value.general_names.as_slice())
            .unwrap_or_default();
        let mut ids = names.iter().filter_map(|name| match name {
            GeneralName::URI(uri) => uri.strip_prefix(HOST_URI_SCHEME),
            _ => None,
        });
        let id_text = ids
            .next()
            .ok_or_else(|| refuse(format!("no {HOST_URI_SCHEME}<id> URI name")))?;
        if ids.next().is_some() {
            return Err(refuse(format!(
                "more than one {HOST_URI_SCHEME}<id> URI name"
            )));
        }
        let id = id_text.parse::<i64>().map_err(|_| {
            refuse(format!(
                "{HOST_URI_SCHEME}{id_text} does not end in a number"
            ))
        })?;
        let subject = cert.subject();
        let text_of = |attribute: Option<&x509_parser::x509::AttributeTypeAndValue<'_>>,
                       what: &str|
         -> Result<String> {
            attribute
                .and_then(|value| value.as_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| refuse(format!("no {what} in the subject")))
        };
        Ok(HostIdentity {
            id,
            name: text_of(subject.iter_common_name().next(), "common name (host name)")?,
            environment: text_of(
                subject.iter_organization().next(),
                "organization (environment)",
            )?,
            serial: serial_hex(cert.raw_serial()),
            not_after: system_time_from_unix(cert.validity().not_after.timestamp()),
        })
    }

    /// The same from a PEM certificate (the first block).
    pub fn from_cert_pem(pem: &str) -> Result<HostIdentity> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|error| {
            PkiError::NotAHostCert {
                reason: format!("no CERTIFICATE PEM block ({error})"),
            }
        })?;
        HostIdentity::from_cert_der(&der)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use rcgen::{CustomExtension, KeyPair, PKCS_ECDSA_P256_SHA256};
    use x509_parser::extensions::ParsedExtension;

    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn subject() -> HostSubject {
        HostSubject {
            id: 42,
            name: "web-1".to_owned(),
            environment: "prod".to_owned(),
        }
    }

    /// A request whose subject, names and extensions all try to claim more
    /// than the host's row gives it.
    fn greedy_csr(key: &KeyPair) -> String {
        let mut params =
            CertificateParams::new(vec!["controller.example".to_owned(), "10.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "evil-name");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "admin-env");
        params
            .subject_alt_names
            .push(SanType::URI("roster-host:1".try_into().unwrap()));
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 2, 3, 4, 5],
                vec![5, 0],
            ));
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    fn parse(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn issued_certificate_takes_only_the_requests_public_key() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let host_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let issued = ca
            .sign_host_csr(&greedy_csr(&host_key), &subject(), now())
            .unwrap();
        let der = parse(&issued.cert_pem);
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();

        assert_eq!(
            cert.public_key().raw,
            host_key.subject_public_key_info().as_slice()
        );
        assert_eq!(issued.public_key_der, host_key.subject_public_key_info());
        assert_eq!(cert.subject().to_string(), "CN=web-1, O=prod");
        assert_eq!(cert.issuer().to_string(), "CN=Roster fleet CA");
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            sans.value.general_names,
            vec![GeneralName::URI("roster-host:42")]
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any && eku.other.is_empty());
        assert!(!cert.is_ca());
        for extension in cert.extensions() {
            assert!(
                !matches!(
                    extension.parsed_extension(),
                    ParsedExtension::UnsupportedExtension { .. }
                ),
                "the request's custom extension leaked: {}",
                extension.oid
            );
        }
        assert_eq!(
            cert.validity().not_after.timestamp(),
            1_800_000_000 + 30 * 24 * 3600
        );
        assert_eq!(issued.not_after, now() + HOST_CERT_LIFETIME);

        let identity = HostIdentity::from_cert_der(&der).unwrap();
        assert_eq!(
            identity,
            HostIdentity {
                id: 42,
                name: "web-1".to_owned(),
                environment: "prod".to_owned(),
                serial: issued.serial.clone(),
                not_after: issued.not_after,
            }
        );
        assert_eq!(
            HostIdentity::from_cert_pem(&issued.cert_pem).unwrap(),
            identity
        );
    }

    #[test]
    fn p384_and_ed25519_requests_are_signed() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        for algorithm in [&PKCS_ECDSA_P384_SHA384, &PKCS_ED25519] {
            let host_key = KeyPair::generate_for(algorithm).unwrap();
            let issued = ca
                .sign_host_csr(&greedy_csr(&host_key), &subject(), now())
                .unwrap();
            assert_eq!(issued.public_key_der, host_key.subject_public_key_info());
            let identity = HostIdentity::from_cert_pem(&issued.cert_pem).unwrap();
            assert_eq!(identity.id, 42);
        }
    }

    #[test]
    fn serials_are_random_per_certificate() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let host_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = greedy_csr(&host_key);
        let first = ca.sign_host_csr(&csr, &subject(), now()).unwrap();
        let second = ca.sign_host_csr(&csr, &subject(), now()).unwrap();
        assert_ne!(first.serial, second.serial);
    }

    #[test]
    fn a_request_with_a_tampered_signature_is_refused() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let host_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = greedy_csr(&host_key);
        let mut der = CertificateSigningRequestDer::from_pem_slice(csr.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec();
        // Change the signed subject (evil-name → evil-nbme): the DER stays
        // well-formed, only the signature no longer covers it.
        let at = der
            .windows(9)
            .position(|window| window == b"evil-name")
            .unwrap();
        der[at + 6] = b'b';
        let tampered = pem_of("CERTIFICATE REQUEST", &der);
        let error = ca.sign_host_csr(&tampered, &subject(), now()).unwrap_err();
        assert!(matches!(error, PkiError::CsrBadSignature), "{error}");
    }

    pub(crate) fn pem_of(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = format!("-----BEGIN {label}-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {label}-----\n"));
        pem
    }

    #[test]
    fn oversized_garbled_and_foreign_requests_are_refused() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let huge = "A".repeat(MAX_CSR_PEM_BYTES + 1);
        assert!(matches!(
            ca.sign_host_csr(&huge, &subject(), now()).unwrap_err(),
            PkiError::CsrTooLarge { .. }
        ));
        for garbled in [
            "",
            "hello",
            &pem_of("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00"),
        ] {
            assert!(matches!(
                ca.sign_host_csr(garbled, &subject(), now()).unwrap_err(),
                PkiError::CsrUnparsable { .. }
            ));
        }
        // A certificate is not a request.
        assert!(matches!(
            ca.sign_host_csr(ca.cert_pem(), &subject(), now())
                .unwrap_err(),
            PkiError::CsrUnparsable { .. }
        ));
    }

    #[test]
    fn an_rsa_request_is_refused_by_key_type() {
        // A 1024-bit RSA request made by OpenSSL (rcgen on ring can't make
        // RSA keys): `openssl req -new -newkey rsa:1024 -nodes -subj /CN=x`.
        let error = ca_for_test()
            .sign_host_csr(RSA_1024_CSR, &subject(), now())
            .unwrap_err();
        assert!(
            matches!(error, PkiError::CsrKeyUnsupported { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("rsa"), "{error}");
        let error = ca_for_test()
            .sign_host_csr(P521_CSR, &subject(), now())
            .unwrap_err();
        assert!(
            matches!(error, PkiError::CsrKeyUnsupported { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("ECDSA on curve"), "{error}");
    }

    #[test]
    fn empty_host_fields_are_refused() {
        let ca = ca_for_test();
        let host_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = greedy_csr(&host_key);
        let mut host = subject();
        host.environment = String::new();
        assert!(matches!(
            ca.sign_host_csr(&csr, &host, now()).unwrap_err(),
            PkiError::BadName {
                field: "environment",
                ..
            }
        ));
    }

    #[test]
    fn identity_needs_the_host_uri() {
        let ca = ca_for_test();
        let (_, chain) = ca
            .issue_server_cert(&["controller.example".to_owned()], now())
            .unwrap();
        let error = HostIdentity::from_cert_pem(&chain).unwrap_err();
        assert!(error.to_string().contains("roster-host:"), "{error}");
        assert!(HostIdentity::from_cert_der(b"junk").is_err());
    }

    fn ca_for_test() -> Ca {
        Ca::create("Roster fleet CA", now()).unwrap()
    }

    const RSA_1024_CSR: &str = "\
-----BEGIN CERTIFICATE REQUEST-----\n\
MIIBSzCBtQIBADAMMQowCAYDVQQDDAF4MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCB\n\
iQKBgQDXW5dK8KtAqoe+LL/J+84QVPVjI9SuKryoaDsHKVo3K0cuMevqaZ9C8Tr5\n\
miHOLHlfA8lgm5iv8TyH1cVQL1j2t7Ppe8a881gFw9Ls/OYhrRP+qo2lTsC2Emca\n\
usMurzIj1x1yHIuLipbx4PnF8uZSUBNQf1HlcIzdkh9zjoPCVwIDAQABoAAwDQYJ\n\
KoZIhvcNAQELBQADgYEAVXQtFnljBEYnegMJ5ujl/l/tfQSgQ1WGTKtoRvifmVCV\n\
VfoIm4ZccXsiJrZ0u7xq17735gkR/6yaGI3eSxGEs2KW4U+yAeS9CJZy6blgDjGQ\n\
hGu/t8sPIQT7nqPtyVWVD2xET5zwX7947XMkQSXdFyvcWowQtQNrDoa65sXHwtw=\n\
-----END CERTIFICATE REQUEST-----\n\
";

    /// `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:secp521r1 -nodes -subj /CN=x`
    const P521_CSR: &str = "\
-----BEGIN CERTIFICATE REQUEST-----\n\
MIIBTzCBsQIBADAMMQowCAYDVQQDDAF4MIGbMBAGByqGSM49AgEGBSuBBAAjA4GG\n\
AAQBG0t2FqRDH63N4w3WzP6thUnMVGDekc1xaC3iClWUx0gHmP4GdY4V4Pq5WbEm\n\
8H62fUFfGMOB9GQee/ZjLDN4tg0AQa2GO13woQBZEQo6u/JskcC87KaJN5dpR6+A\n\
uuNpAtvd1LwEn4/z8n6J9tiH5lPSyER7SLqkH6VWAbGysDhlzBigADAKBggqhkjO\n\
PQQDAgOBjAAwgYgCQgD2X/R1F1AnzQkDAS4vNVv0HplbJ0amu0vQKCzo+i1zAdaK\n\
r3WGqI/mFwzBWl9duiOWmVpqXIPqCiJPsYTeJBsccwJCAfJqGQnt2od2T+kohFR5\n\
CreSlbQnzdgnNz3nSkPurrOCUZ3r+qDLH4Pz396ElQjhfcnIUs2eFY855+7k1NvH\n\
0B/3\n\
-----END CERTIFICATE REQUEST-----\n\
";
}
