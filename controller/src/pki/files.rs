//! File rules for keys and certificates: new files only (`O_EXCL`), modes
//! set explicitly (the umask could only narrow them, a copied file could
//! widen them), data synced before anyone relies on it.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::{PkiError, Result};

/// Mode of a private key file.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of a certificate file.
pub(crate) const CERT_MODE: u32 = 0o644;

/// Creates `path` with `mode` and writes `contents`, refusing an existing
/// file (even a dangling symlink: `O_EXCL` doesn't follow it).
pub(crate) fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => PkiError::FileExists {
                path: path.to_owned(),
            },
            _ => PkiError::Io {
                action: "create",
                path: path.to_owned(),
                source,
            },
        })?;
    let io_error = |action, source| PkiError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    // The umask may have cleared bits we want (0644 for a certificate).
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|source| io_error("set the mode of", source))?;
    file.write_all(contents)
        .map_err(|source| io_error("write", source))?;
    file.sync_all().map_err(|source| io_error("sync", source))
}

/// Fails with [`PkiError::FileExists`] if anything is at `path`.
pub(crate) fn refuse_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(PkiError::FileExists {
            path: path.to_owned(),
        }),
        Err(source) if source.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PkiError::Io {
            action: "look at",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads a certificate (or any public) file.
pub(crate) fn read_public(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

/// Reads a private key file after checking that only its owner can read
/// or write it; the contents are wiped from memory when dropped.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<String>> {
    let mut file = File::open(path).map_err(|source| PkiError::Io {
        action: "open",
        path: path.to_owned(),
        source,
    })?;
    // Checked on the open file, so a rename in between can't swap it.
    let mode = file
        .metadata()
        .map_err(|source| PkiError::Io {
            action: "look at",
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyFileTooOpen {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    let mut contents = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut file, &mut contents).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    Ok(contents)
}

/// Renames `from` over `to` and syncs the directory so the rename survives a
/// crash.
pub(crate) fn rename_into_place(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|source| PkiError::Io {
        action: "rename into place",
        path: from.to_owned(),
        source,
    })?;
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync of a directory, so the names in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| PkiError::Io {
            action: "sync the directory",
            path: dir.to_owned(),
            source,
        })
}
