//! Controller (server) certificates: a fresh P-256 key, the names hosts
//! connect to, serverAuth, one year.

use std::net::IpAddr;
use std::time::SystemTime;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use zeroize::Zeroizing;

use super::{Ca, PkiError, Result, SERVER_CERT_LIFETIME, random_serial, validity};

impl Ca {
    /// Issues a controller's server certificate for `names` (each a DNS name
    /// or an IP address, v4 or v6; at least one), valid
    /// [`SERVER_CERT_LIFETIME`] from `now`, with a new P-256 key. Returns the
    /// key (PKCS#8 PEM, wiped on drop) and the certificate chain PEM: the
    /// leaf, then the CA (enrolled hosts trust the CA they hold; a host
    /// joining has only its fingerprint and finds it in the chain).
    pub fn issue_server_cert(
        &self,
        names: &[String],
        now: SystemTime,
    ) -> Result<(Zeroizing<String>, String)> {
        let first = names.first().ok_or(PkiError::BadName {
            field: "server name",
            value: String::new(),
            reason: "at least one DNS name or IP address is needed",
        })?;
        let mut subject_alt_names = Vec::with_capacity(names.len());
        for name in names {
            subject_alt_names.push(server_name(name)?);
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Rcgen {
                action: "generate the server key",
                source,
            })?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, first.as_str());
        params.distinguished_name = subject;
        params.subject_alt_names = subject_alt_names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?.0);
        (params.not_before, params.not_after) = validity(now, SERVER_CERT_LIFETIME)?;
        let cert = params
            .signed_by(&key, self.issuer())
            .map_err(|source| PkiError::Rcgen {
                action: "sign the server certificate",
                source,
            })?;
        // The CA after the leaf: a joining host has only the CA's
        // fingerprint, and finds the CA it pins in the chain it is sent.
        let mut chain = cert.pem();
        if !chain.ends_with('\n') {
            chain.push('\n');
        }
        chain.push_str(self.cert_pem());
        Ok((Zeroizing::new(key.serialize_pem()), chain))
    }
}

/// One SAN: an IP address if it parses as one, else a DNS name (letters,
/// digits, `-`, `.`, an optional leading `*.`).
fn server_name(name: &str) -> Result<SanType> {
    if let Ok(address) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(address));
    }
    let refuse = |reason| PkiError::BadName {
        field: "server name",
        value: name.to_owned(),
        reason,
    };
    let host = name.strip_prefix("*.").unwrap_or(name);
    if host.is_empty() || host.len() > 253 {
        return Err(refuse("a DNS name is 1 to 253 characters"));
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    });
    if !labels_ok {
        return Err(refuse(
            "not a DNS name (labels of letters, digits and inner dashes) nor an IP address",
        ));
    }
    let dns = name.try_into().map_err(|_| refuse("not ASCII"))?;
    Ok(SanType::DnsName(dns))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use rcgen::PublicKeyData;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::FromDer;

    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn server_certificate_names_dns_and_ip_with_server_auth_for_a_year() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        let names = vec![
            "controller.example".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let (key_pem, chain_pem) = ca.issue_server_cert(&names, now()).unwrap();
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let certificates: Vec<_> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        // The leaf, then the CA a joining host pins.
        assert_eq!(certificates.len(), 2);
        assert_eq!(&certificates[1], ca.cert_der());
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(&certificates[0]).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            sans.value.general_names,
            vec![
                GeneralName::DNSName("controller.example"),
                GeneralName::IPAddress(&[127, 0, 0, 1]),
                GeneralName::IPAddress(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            ]
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert_eq!(
            cert.validity().not_after.timestamp(),
            1_800_000_000 + 365 * 24 * 3600
        );
        let key = KeyPair::from_pem(&key_pem).unwrap();
        assert_eq!(
            cert.public_key().raw,
            key.subject_public_key_info().as_slice()
        );
    }

    #[test]
    fn bad_server_names_are_refused_by_name() {
        let ca = Ca::create("Roster fleet CA", now()).unwrap();
        assert!(ca.issue_server_cert(&[], now()).is_err());
        for bad in [
            "",
            "exa mple.org",
            "-bad.example",
            "a..b",
            "é.example",
            "http://x",
        ] {
            let error = ca
                .issue_server_cert(&["ok.example".to_owned(), bad.to_owned()], now())
                .unwrap_err();
            assert!(
                matches!(error, PkiError::BadName { .. }),
                "{bad:?}: {error}"
            );
        }
        ca.issue_server_cert(&["*.fleet.example".to_owned()], now())
            .unwrap();
    }
}
