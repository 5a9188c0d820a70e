//! The modes DESIGN.md gives Roster's files: the database 0600 root (it
//! holds password hashes) in a 0700 root folder, the NSS snapshot 0644 root
//! (every process reads it; only root may write it, or anyone could make
//! up users).

use super::{Finding, Host, Repair};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub fn check(host: &Host) -> Vec<Finding> {
    let database = host.path(&host.config.database);
    let mut out = vec![mode(
        "database",
        &database,
        0o600,
        "it holds password hashes",
        "start rosterd: it creates the database at its first start",
    )];
    // SQLite's journal files hold the same rows; they take the database's
    // mode when created, so a loose database leaves loose journals behind.
    for suffix in ["-wal", "-shm"] {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        let journal = std::path::PathBuf::from(name);
        if journal.exists() {
            let f = mode("database", &journal, 0o600, "it holds database rows", "");
            if f.status != super::Status::Ok {
                out.push(f);
            }
        }
    }
    if let Some(folder) = database.parent() {
        out.push(mode(
            "database-folder",
            folder,
            0o700,
            "nobody else needs to list it",
            "install the roster package (its unit's StateDirectory= creates it 0700), or mkdir -m 0700 it",
        ));
    }
    out.push(mode(
        "snapshot",
        &host.path(&host.config.nss_cache),
        0o644,
        "every process reads it; only root may write it",
        "start rosterd: it writes the snapshot at start and after every change",
    ));
    out
}

pub(super) fn mode(
    check: &'static str,
    path: &Path,
    want: u32,
    why: &str,
    when_missing: &str,
) -> Finding {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Finding::fail(check, format!("{shown} is missing"), when_missing);
        }
        Err(e) => {
            return Finding::fail(
                check,
                format!("can't inspect {shown}: {e}"),
                "run with sudo",
            );
        }
    };
    let have = meta.permissions().mode() & 0o7777;
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let mut repair = None;
    if have != want {
        problems.push(format!("is mode {have:04o}, not {want:04o} ({why})"));
        fixes.push(format!("chmod {want:04o} {shown}"));
        repair = Some(Repair::Chmod {
            path: path.to_path_buf(),
            mode: want,
        });
    }
    if meta.uid() != 0 {
        problems.push(format!("is owned by uid {}, not root", meta.uid()));
        fixes.push(format!("chown root:root {shown}"));
    }
    if problems.is_empty() {
        return Finding::ok(check, format!("{shown} is {want:04o}, owned by root"));
    }
    let finding = Finding::fail(
        check,
        format!("{shown} {}", problems.join(" and ")),
        format!(
            "{}{}",
            fixes.join("; "),
            if repair.is_some() {
                " (roster doctor --fix does the chmod)"
            } else {
                ""
            }
        ),
    );
    match repair {
        Some(r) => finding.repair(r),
        None => finding,
    }
}
