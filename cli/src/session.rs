//! A `roster login` session on an enrolled host (DESIGN.md "Who may act
//! at the controller"): kept in the person's runtime folder
//! (`$XDG_RUNTIME_DIR/roster/session`, tmpfs, never on a network home),
//! 0600 in a 0700 folder owned by that person. `sudo roster …` uses the
//! session of the person who ran sudo (`SUDO_UID`'s runtime folder).

use crate::errors::CliError;
use roster_client::Secret;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// The person the session belongs to and where it lives.
pub struct SessionFile {
    pub path: PathBuf,
    /// The person's uid (the invoking user's under sudo).
    pub uid: u32,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and can't fail.
    unsafe { libc::geteuid() }
}

impl SessionFile {
    /// Where this invocation's session lives; none when there is no
    /// runtime folder to keep one in.
    pub fn locate() -> Option<SessionFile> {
        let sudo_uid = std::env::var("SUDO_UID")
            .ok()
            .and_then(|u| u.parse::<u32>().ok())
            .filter(|_| euid() == 0);
        let (uid, runtime) = match sudo_uid {
            Some(uid) => (uid, PathBuf::from(format!("/run/user/{uid}"))),
            None => (euid(), PathBuf::from(std::env::var_os("XDG_RUNTIME_DIR")?)),
        };
        Some(SessionFile {
            path: runtime.join("roster").join("session"),
            uid,
        })
    }

    /// The session, when one is kept and it is the person's own file.
    pub fn load(&self) -> Option<Secret> {
        let meta = fs::metadata(&self.path).ok()?;
        // Someone else's file, or one others may read: not a session.
        if meta.uid() != self.uid || meta.mode() & 0o077 != 0 {
            return None;
        }
        let text = Secret::new(fs::read_to_string(&self.path).ok()?);
        let token = text.expose().lines().next().unwrap_or("").trim();
        (!token.is_empty()).then(|| Secret::from(token))
    }

    pub fn save(&self, token: &Secret) -> Result<(), CliError> {
        let folder = self
            .path
            .parent()
            .ok_or_else(|| CliError::Local("the session's path has no folder".into()))?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|e| CliError::Local(format!("can't create {}: {e}", folder.display())))?;
        let temporary = self.path.with_extension("new");
        let _ = fs::remove_file(&temporary);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| CliError::Local(format!("can't create {}: {e}", temporary.display())))?;
        file.write_all(format!("{}\n", token.expose()).as_bytes())
            .map_err(|e| CliError::Local(format!("can't write {}: {e}", temporary.display())))?;
        // Under sudo the file is the invoking person's, not root's.
        if euid() == 0 && self.uid != 0 {
            for path in [folder, temporary.as_path()] {
                std::os::unix::fs::chown(path, Some(self.uid), None).map_err(|e| {
                    CliError::Local(format!(
                        "can't give {} to uid {}: {e}",
                        path.display(),
                        self.uid
                    ))
                })?;
            }
        }
        fs::rename(&temporary, &self.path).map_err(|e| {
            CliError::Local(format!("can't put {} in place: {e}", self.path.display()))
        })
    }

    pub fn remove(&self) -> Result<bool, CliError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CliError::Local(format!(
                "can't remove {}: {e}",
                self.path.display()
            ))),
        }
    }
}
