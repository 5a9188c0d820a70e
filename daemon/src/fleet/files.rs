//! The enrollment on disk: `fleet/enrollment.json` (certificate, CA
//! bundle, controller list, CA pin) and `fleet/host.key` (the host's key,
//! which never leaves it) in rosterd's state directory, beside the
//! database, 0600 in a 0700 folder, written by rosterd alone. Where the
//! feed stands (epoch, cursor) lives in the database, in the transaction
//! that applies each batch. `rosterd.toml` is never rewritten. A
//! controller's word that the host is revoked is kept too
//! (`fleet/revoked`, its time): a restart offline still says so.

use roster_fleet_agent::{Enrollment, HostKey};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct FleetFiles {
    dir: PathBuf,
}

impl FleetFiles {
    /// The `fleet` folder in the database's folder.
    pub fn beside(database: &Path) -> FleetFiles {
        let state = database
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        FleetFiles {
            dir: state.join("fleet"),
        }
    }

    fn enrollment_path(&self) -> PathBuf {
        self.dir.join("enrollment.json")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("host.key")
    }

    fn revoked_path(&self) -> PathBuf {
        self.dir.join("revoked")
    }

    /// When the controller said this host is revoked (seconds since the
    /// epoch; 0 when the file's time can't be read); none: not revoked.
    pub fn revoked_since(&self) -> Option<i64> {
        let path = self.revoked_path();
        match fs::read_to_string(&path) {
            Ok(text) => Some(text.trim().parse().unwrap_or(0)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // Unreadable but there: revoked is the safe answer.
            Err(_) => Some(0),
        }
    }

    /// Keeps the controller's word that this host is revoked (`at`: when),
    /// once: a later word keeps the first time.
    pub fn mark_revoked(&self, at: i64) -> Result<(), String> {
        if self.revoked_since().is_some() {
            return Ok(());
        }
        write_private(&self.revoked_path(), format!("{at}\n").as_bytes())
    }

    /// Whether this host holds an enrollment (fleet mode).
    pub fn enrolled(&self) -> bool {
        self.enrollment_path().exists()
    }

    /// The enrollment and the host's key; none when standalone.
    pub fn load(&self) -> Result<Option<(Enrollment, HostKey)>, String> {
        let path = self.enrollment_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("can't read {}: {e}", path.display())),
        };
        let enrollment: Enrollment = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not an enrollment this rosterd reads ({e}): `roster hosts leave` and join again",
                path.display()
            )
        })?;
        let key_path = self.key_path();
        let key = fs::read_to_string(&key_path)
            .map_err(|e| format!("can't read the host's key {}: {e}", key_path.display()))?;
        let key = HostKey::from_pem(key)
            .map_err(|e| format!("the host's key {} is unusable: {e}", key_path.display()))?;
        Ok(Some((enrollment, key)))
    }

    /// Writes the key, then the enrollment (its presence is what says
    /// "enrolled"), each replaced atomically.
    pub fn save(&self, enrollment: &Enrollment, key: &HostKey) -> Result<(), String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("can't create {}: {e}", self.dir.display()))?;
        // A new enrollment: whatever revoked the last one is over.
        remove_if_there(&self.revoked_path())?;
        write_private(&self.key_path(), key.pem().as_bytes())?;
        let json = serde_json::to_vec_pretty(enrollment)
            .map_err(|e| format!("can't encode the enrollment: {e}"))?;
        write_private(&self.enrollment_path(), &json)
    }

    /// Back to standalone: the enrollment goes first (then nothing says
    /// "enrolled" even if the key's removal fails).
    pub fn remove(&self) -> Result<(), String> {
        for path in [self.enrollment_path(), self.key_path(), self.revoked_path()] {
            remove_if_there(&path)?;
        }
        Ok(())
    }
}

fn remove_if_there(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("can't remove {}: {e}", path.display())),
    }
}

/// `bytes` into `path` through a 0600 temporary file renamed over it, so
/// a crash leaves the old file or the new one, never half of one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temporary = path.with_extension("new");
    let _ = fs::remove_file(&temporary);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| format!("can't create {}: {e}", temporary.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("can't write {}: {e}", temporary.display()))?;
    fs::rename(&temporary, path).map_err(|e| format!("can't put {} in place: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn enrollment() -> Enrollment {
        Enrollment {
            host_id: 7,
            hostname: "web-1".into(),
            environment: "prod".into(),
            certificate_pem: "cert".into(),
            ca_bundle_pem: "ca".into(),
            controllers: vec!["https://127.0.0.1:8443".into()],
            ca_fingerprint: "SHA256:x".into(),
            epoch: "e".into(),
            cursor: 3,
            fleet: None,
        }
    }

    #[test]
    fn saved_private_loaded_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = FleetFiles::beside(&dir.path().join("roster.db"));
        assert!(!files.enrolled());
        assert!(files.load().unwrap().is_none());
        let key = HostKey::generate().unwrap();
        files.save(&enrollment(), &key).unwrap();
        assert!(files.enrolled());
        for name in ["enrollment.json", "host.key"] {
            let mode = fs::metadata(dir.path().join("fleet").join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let folder = fs::metadata(dir.path().join("fleet")).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        let (loaded, loaded_key) = files.load().unwrap().unwrap();
        assert_eq!(loaded, enrollment());
        assert_eq!(loaded_key.pem(), key.pem());
        files.remove().unwrap();
        assert!(!files.enrolled());
    }

    #[test]
    fn a_revocation_is_kept_with_its_first_time_until_leaving_or_joining_again() {
        let dir = tempfile::tempdir().unwrap();
        let files = FleetFiles::beside(&dir.path().join("roster.db"));
        let key = HostKey::generate().unwrap();
        files.save(&enrollment(), &key).unwrap();
        assert_eq!(files.revoked_since(), None);
        files.mark_revoked(1_800_000_000).unwrap();
        files.mark_revoked(1_800_000_500).unwrap();
        // Another FleetFiles over the same folder: what a restart reads.
        let again = FleetFiles::beside(&dir.path().join("roster.db"));
        assert_eq!(again.revoked_since(), Some(1_800_000_000));
        let mode = fs::metadata(dir.path().join("fleet/revoked"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        files.remove().unwrap();
        assert_eq!(files.revoked_since(), None);
        files.save(&enrollment(), &key).unwrap();
        files.mark_revoked(1_800_000_000).unwrap();
        files.save(&enrollment(), &key).unwrap();
        assert_eq!(files.revoked_since(), None);
    }

    #[test]
    fn a_damaged_enrollment_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = FleetFiles::beside(&dir.path().join("roster.db"));
        fs::create_dir_all(dir.path().join("fleet")).unwrap();
        fs::write(dir.path().join("fleet/enrollment.json"), "{").unwrap();
        let error = files.load().unwrap_err();
        assert!(error.contains("enrollment.json"), "{error}");
    }
}
