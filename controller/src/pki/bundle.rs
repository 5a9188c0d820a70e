//! The CA directory: the signing CA plus the retired CAs still trusted
//! (file layout in the module doc of [`pki`](super)).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;

use super::ca::single_certificate;
use super::files::{CERT_MODE, KEY_MODE, read_public, rename_into_place, sync_dir, write_new_file};
use super::{Ca, Fingerprint, HostIdentity, PkiError, Result, parse_fingerprint};

/// The signing CA's key in the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// The signing CA's certificate in the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
const NEW_SUFFIX: &str = ".new";
const OLD_PREFIX: &str = "ca-old-";
const OLD_SUFFIX: &str = ".crt";

/// The CA that signs now and every CA certificate still trusted.
#[derive(Debug)]
pub struct CaBundle {
    /// Signs every new certificate.
    pub signing: Ca,
    /// The signing CA's certificate first, then the retired ones still
    /// trusted (in file-name order).
    pub trusted: Vec<CertificateDer<'static>>,
}

/// Which retired CAs [`CaBundle::drop_old`] removes.
#[derive(Clone, Copy, Debug)]
pub enum OldCa<'a> {
    /// Every retired CA.
    All,
    /// The one with this fingerprint (either form [`parse_fingerprint`]
    /// reads).
    Fingerprint(&'a str),
}

impl CaBundle {
    /// Makes the CA directory for `init`: creates `dir` (0755) if missing and
    /// a new CA named `common_name` in it; refuses if `ca.key` or `ca.crt`
    /// exists.
    pub fn init(dir: &Path, common_name: &str, now: SystemTime) -> Result<CaBundle> {
        fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            action: "create the CA directory",
            path: dir.to_owned(),
            source,
        })?;
        let ca = Ca::create(common_name, now)?;
        ca.write(&dir.join(CA_KEY_FILE), &dir.join(CA_CERT_FILE))?;
        sync_dir(dir)?;
        CaBundle::load(dir)
    }

    /// Reads the CA directory: `ca.key` + `ca.crt` (the signing CA, with
    /// [`Ca::load`]'s checks) and every `ca-old-*.crt`. Refuses a directory
    /// with `ca.key.new` or `ca.crt.new` left by an interrupted rotation.
    pub fn load(dir: &Path) -> Result<CaBundle> {
        refuse_interrupted_rotation(dir)?;
        let signing = Ca::load(&dir.join(CA_KEY_FILE), &dir.join(CA_CERT_FILE))?;
        let mut trusted = vec![signing.cert_der().clone()];
        for (_, der) in retired(dir)? {
            if !trusted.contains(&der) {
                trusted.push(der);
            }
        }
        Ok(CaBundle { signing, trusted })
    }

    /// `ca rotate`: a new CA signs from now on; the current certificate is
    /// kept as `ca-old-<hex>.crt` and stays trusted. The new CA's name is the
    /// current one's with `(from <UTC time>)` in place of any earlier such
    /// suffix, so the two subjects differ. The old key is removed (replaced
    /// by the rename). Returns the new bundle.
    pub fn rotate(dir: &Path, now: SystemTime) -> Result<CaBundle> {
        let current = CaBundle::load(dir)?;
        let base_name = current.signing.common_name();
        let base_name = match base_name.find(" (from ") {
            Some(at) => base_name.get(..at).unwrap_or_default().to_owned(),
            None => base_name,
        };
        let new_ca = Ca::create(&format!("{base_name} (from {})", utc_stamp(now)), now)?;

        let old_path = old_cert_path(dir, current.signing.cert_der());
        if !old_path.exists() {
            write_new_file(&old_path, current.signing.cert_pem().as_bytes(), CERT_MODE)?;
        }
        // The order makes every crash point recognizable by the files left
        // (see `refuse_interrupted_rotation`): the new certificate is
        // written first and renamed first, the new key written and renamed
        // second.
        let new_key = dir.join(format!("{CA_KEY_FILE}{NEW_SUFFIX}"));
        let new_cert = dir.join(format!("{CA_CERT_FILE}{NEW_SUFFIX}"));
        write_new_file(&new_cert, new_ca.cert_pem().as_bytes(), CERT_MODE)?;
        write_new_file(&new_key, new_ca.key_pem().as_bytes(), KEY_MODE)?;
        sync_dir(dir)?;
        rename_into_place(&new_cert, &dir.join(CA_CERT_FILE))?;
        rename_into_place(&new_key, &dir.join(CA_KEY_FILE))?;
        CaBundle::load(dir)
    }

    /// Stops trusting retired CAs (their `ca-old-*.crt` files are removed).
    /// Returns the fingerprints dropped; asking for a fingerprint that is not
    /// a retired CA (the signing one included) is an error.
    pub fn drop_old(dir: &Path, which: OldCa<'_>) -> Result<Vec<String>> {
        let wanted = match which {
            OldCa::All => None,
            OldCa::Fingerprint(text) => Some(parse_fingerprint(text)?),
        };
        let mut dropped = Vec::new();
        for (path, der) in retired(dir)? {
            let fingerprint = Fingerprint::of(&der);
            if wanted.is_none_or(|wanted| wanted == fingerprint) {
                fs::remove_file(&path).map_err(|source| PkiError::Io {
                    action: "remove",
                    path: path.clone(),
                    source,
                })?;
                dropped.push(fingerprint.to_string());
            }
        }
        if let (Some(wanted), true) = (wanted, dropped.is_empty()) {
            return Err(PkiError::NoSuchOldCa {
                fingerprint: wanted.to_string(),
                dir: dir.to_owned(),
            });
        }
        sync_dir(dir)?;
        Ok(dropped)
    }

    /// Every trusted CA certificate, PEM, concatenated: what hosts store and
    /// verify the controllers with.
    pub fn bundle_pem(&self) -> String {
        let mut pem = String::new();
        for der in &self.trusted {
            pem.push_str(&pem_certificate(der));
        }
        pem
    }

    /// The fingerprints of every trusted CA, the signing one first.
    pub fn fingerprints(&self) -> Vec<String> {
        self.trusted
            .iter()
            .map(|der| Fingerprint::of(der).to_string())
            .collect()
    }

    /// Verifies a client certificate the way the TLS server does (chain to a
    /// trusted CA, validity at `now`, clientAuth) and reads its identity:
    /// for renewal, which takes the presented certificate, and for tests.
    pub fn verify_host_cert(&self, der: &[u8], now: SystemTime) -> Result<HostIdentity> {
        let mut roots = RootCertStore::empty();
        for trusted in &self.trusted {
            roots.add(trusted.clone()).map_err(PkiError::Untrusted)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(crate::tls::ring_provider()),
        )
        .build()
        .map_err(|error| PkiError::Untrusted(rustls::Error::General(error.to_string())))?;
        let since_epoch = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        verifier
            .verify_client_cert(
                &CertificateDer::from(der.to_vec()),
                &[],
                UnixTime::since_unix_epoch(since_epoch),
            )
            .map_err(PkiError::Untrusted)?;
        HostIdentity::from_cert_der(der)
    }
}

/// Refuses a directory a crashed `ca rotate` left behind, saying how to
/// finish or undo it. `rotate` writes `ca.crt.new`, then `ca.key.new`, then
/// renames the certificate, then the key, so:
/// - `ca.crt.new` present: nothing was renamed, `ca.key`/`ca.crt` are still
///   the previous CA: remove the `.new` files and rotate again;
/// - only `ca.key.new` present: `ca.crt` is already the new CA, its key is
///   in `ca.key.new`: finish with `mv ca.key.new ca.key`.
fn refuse_interrupted_rotation(dir: &Path) -> Result<()> {
    let new_key = dir.join(format!("{CA_KEY_FILE}{NEW_SUFFIX}"));
    let new_cert = dir.join(format!("{CA_CERT_FILE}{NEW_SUFFIX}"));
    let (path, fix) = if new_cert.exists() {
        (
            new_cert,
            format!(
                "it stopped before changing anything, so {CA_KEY_FILE} and {CA_CERT_FILE} are still the previous CA; remove {CA_CERT_FILE}{NEW_SUFFIX} and {CA_KEY_FILE}{NEW_SUFFIX} (if present), then run `ca rotate` again"
            ),
        )
    } else if new_key.exists() {
        let fix = format!(
            "it stopped half-way: {CA_CERT_FILE} is already the new CA and this file holds its key; finish with `mv {} {}`",
            new_key.display(),
            dir.join(CA_KEY_FILE).display()
        );
        (new_key, fix)
    } else {
        return Ok(());
    };
    Err(PkiError::InterruptedRotation { path, fix })
}

/// The retired CA files in `dir`, in file-name order.
fn retired(dir: &Path) -> Result<Vec<(PathBuf, CertificateDer<'static>)>> {
    let entries = fs::read_dir(dir).map_err(|source| PkiError::Io {
        action: "list the CA directory",
        path: dir.to_owned(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| PkiError::Io {
            action: "list the CA directory",
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(OLD_PREFIX) && name.ends_with(OLD_SUFFIX) {
            paths.push(entry.path());
        }
    }
    paths.sort();
    let mut retired = Vec::with_capacity(paths.len());
    for path in paths {
        let pem = read_public(&path)?;
        let der = single_certificate(&pem, &path.display().to_string())?;
        retired.push((path, der));
    }
    Ok(retired)
}

/// Where a retired CA certificate goes: `ca-old-` + 16 hex digits of its
/// SHA-256 + `.crt`.
fn old_cert_path(dir: &Path, der: &[u8]) -> PathBuf {
    let hex = Fingerprint::of(der).hex();
    dir.join(format!(
        "{OLD_PREFIX}{}{OLD_SUFFIX}",
        hex.get(..16).unwrap_or(&hex)
    ))
}

/// A certificate as PEM text.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// `YYYY-MM-DD HH:MM:SSZ` of `now`, for the rotated CA's name.
fn utc_stamp(now: SystemTime) -> String {
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, UNIX_EPOCH};

    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
    use rustls::pki_types::pem::PemObject;

    use super::*;
    use crate::pki::HostSubject;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn host_cert(ca: &Ca, id: i64) -> Vec<u8> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let host = HostSubject {
            id,
            name: format!("host-{id}"),
            environment: "prod".to_owned(),
        };
        let issued = ca.sign_host_csr(&csr, &host, now()).unwrap();
        CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn init_writes_the_layout_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let bundle = CaBundle::init(&ca_dir, "Roster fleet CA", now()).unwrap();
        assert_eq!(bundle.trusted.len(), 1);
        let key_mode = fs::metadata(ca_dir.join(CA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let error = CaBundle::init(&ca_dir, "Roster fleet CA", now()).unwrap_err();
        assert!(matches!(error, PkiError::FileExists { .. }), "{error}");
        let loaded = CaBundle::load(&ca_dir).unwrap();
        assert_eq!(loaded.fingerprints(), bundle.fingerprints());
    }

    #[test]
    fn after_rotate_both_generations_verify_and_after_drop_only_the_new() {
        let dir = tempfile::tempdir().unwrap();
        let first = CaBundle::init(dir.path(), "Roster fleet CA", now()).unwrap();
        let signed_by_old = host_cert(&first.signing, 1);
        assert_eq!(first.verify_host_cert(&signed_by_old, now()).unwrap().id, 1);

        let later = now() + Duration::from_secs(3600);
        let rotated = CaBundle::rotate(dir.path(), later).unwrap();
        assert_ne!(rotated.signing.fingerprint(), first.signing.fingerprint());
        assert_eq!(
            rotated.signing.common_name(),
            "Roster fleet CA (from 2027-01-15 09:00:00Z)"
        );
        assert_eq!(rotated.trusted.len(), 2);
        assert_eq!(rotated.fingerprints()[1], first.signing.fingerprint());
        let signed_by_new = host_cert(&rotated.signing, 2);
        assert_eq!(
            rotated.verify_host_cert(&signed_by_old, later).unwrap().id,
            1
        );
        assert_eq!(
            rotated.verify_host_cert(&signed_by_new, later).unwrap().id,
            2
        );
        // The old bundle alone doesn't know the new CA.
        assert!(first.verify_host_cert(&signed_by_new, later).is_err());
        // What hosts store holds both.
        let pem = rotated.bundle_pem();
        let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certificates, rotated.trusted);
        // The reloaded directory is the same bundle.
        assert_eq!(
            CaBundle::load(dir.path()).unwrap().fingerprints(),
            rotated.fingerprints()
        );

        let dropped = CaBundle::drop_old(dir.path(), OldCa::All).unwrap();
        assert_eq!(dropped, vec![first.signing.fingerprint()]);
        let after_drop = CaBundle::load(dir.path()).unwrap();
        assert_eq!(after_drop.trusted.len(), 1);
        assert!(matches!(
            after_drop.verify_host_cert(&signed_by_old, later),
            Err(PkiError::Untrusted(_))
        ));
        assert_eq!(
            after_drop
                .verify_host_cert(&signed_by_new, later)
                .unwrap()
                .id,
            2
        );
    }

    #[test]
    fn rotating_twice_keeps_both_old_cas_and_drop_takes_one_by_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let first = CaBundle::init(dir.path(), "Roster fleet CA", now()).unwrap();
        let second = CaBundle::rotate(dir.path(), now() + Duration::from_secs(60)).unwrap();
        let third = CaBundle::rotate(dir.path(), now() + Duration::from_secs(120)).unwrap();
        assert_eq!(third.trusted.len(), 3);
        assert_eq!(
            third.signing.common_name(),
            "Roster fleet CA (from 2027-01-15 08:02:00Z)"
        );
        // The signing CA is not a retired one.
        let error =
            CaBundle::drop_old(dir.path(), OldCa::Fingerprint(&third.signing.fingerprint()))
                .unwrap_err();
        assert!(matches!(error, PkiError::NoSuchOldCa { .. }), "{error}");
        // Hex works as well as SHA256:.
        let first_hex = Fingerprint::of(first.signing.cert_der()).hex();
        let dropped = CaBundle::drop_old(dir.path(), OldCa::Fingerprint(&first_hex)).unwrap();
        assert_eq!(dropped, vec![first.signing.fingerprint()]);
        let left = CaBundle::load(dir.path()).unwrap();
        assert_eq!(
            left.fingerprints(),
            vec![third.signing.fingerprint(), second.signing.fingerprint()]
        );
        assert!(CaBundle::drop_old(dir.path(), OldCa::Fingerprint("nonsense")).is_err());
    }

    #[test]
    fn an_interrupted_rotation_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let first = CaBundle::init(dir.path(), "Roster fleet CA", now()).unwrap();
        // Crashed after writing the new certificate, before any rename.
        fs::write(dir.path().join("ca.crt.new"), "partial").unwrap();
        let error = CaBundle::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("ca.crt.new"), "{error}");
        assert!(error.to_string().contains("rotate` again"), "{error}");
        assert!(CaBundle::rotate(dir.path(), now()).is_err());
        fs::remove_file(dir.path().join("ca.crt.new")).unwrap();
        assert_eq!(
            CaBundle::load(dir.path()).unwrap().signing.fingerprint(),
            first.signing.fingerprint()
        );

        // Crashed between the renames: the certificate is new, the key old.
        let rotated = CaBundle::rotate(dir.path(), now()).unwrap();
        let new_key = fs::read(dir.path().join(CA_KEY_FILE)).unwrap();
        fs::write(dir.path().join("ca.key.new"), &new_key).unwrap();
        fs::set_permissions(
            dir.path().join("ca.key.new"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        first
            .signing
            .write(&dir.path().join("old.key"), &dir.path().join("old.crt"))
            .unwrap();
        fs::rename(dir.path().join("old.key"), dir.path().join(CA_KEY_FILE)).unwrap();
        let error = CaBundle::load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("mv "), "{error}");
        // Following the advice restores the rotated CA.
        fs::rename(dir.path().join("ca.key.new"), dir.path().join(CA_KEY_FILE)).unwrap();
        assert_eq!(
            CaBundle::load(dir.path()).unwrap().signing.fingerprint(),
            rotated.signing.fingerprint()
        );
    }

    #[test]
    fn an_expired_or_foreign_host_certificate_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = CaBundle::init(dir.path(), "Roster fleet CA", now()).unwrap();
        let cert = host_cert(&bundle.signing, 7);
        let expired_at = now() + Duration::from_secs(31 * 24 * 3600);
        assert!(matches!(
            bundle.verify_host_cert(&cert, expired_at),
            Err(PkiError::Untrusted(_))
        ));
        let foreign = Ca::create("someone else", now()).unwrap();
        assert!(
            bundle
                .verify_host_cert(&host_cert(&foreign, 7), now())
                .is_err()
        );
        // A server certificate of our own CA lacks clientAuth.
        let (_, server) = bundle
            .signing
            .issue_server_cert(&["controller.example".to_owned()], now())
            .unwrap();
        let server_der = CertificateDer::from_pem_slice(server.as_bytes()).unwrap();
        assert!(bundle.verify_host_cert(&server_der, now()).is_err());
    }

    #[test]
    fn utc_stamp_is_calendar_time() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "1970-01-01 00:00:00Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00Z"
        );
        assert_eq!(utc_stamp(now()), "2027-01-15 08:00:00Z");
    }
}
