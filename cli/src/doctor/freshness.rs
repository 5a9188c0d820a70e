//! Is the NSS snapshot as new as the database? When rosterd can't write
//! the snapshot (a full or read-only cache folder), changes are still
//! saved but NSS (`getent`, `id`, sudo) shows the state from before them
//! until a write succeeds. rosterd keeps `<database>.snapshot-stale`
//! meanwhile (since when, and why) and removes it at the next successful
//! write; the file stays if rosterd stops before that, which is stale
//! too. The file's times alone can't tell: logins, sessions and lockouts
//! change the database without changing the snapshot.

use super::{Finding, Host};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHECK: &str = "snapshot-current";

/// The file rosterd keeps beside `database` while the snapshot lags.
pub fn stale_mark(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".snapshot-stale");
    PathBuf::from(name)
}

pub fn check(host: &Host) -> Vec<Finding> {
    let snapshot = host.path(&host.config.nss_cache);
    let mark = stale_mark(&host.path(&host.config.database));
    let folder = snapshot
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let text = match std::fs::read_to_string(&mark) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Finding::ok(
                CHECK,
                format!(
                    "{} holds every change (rosterd reports no failed write)",
                    snapshot.display()
                ),
            )];
        }
        Err(e) => {
            return vec![Finding::warn(
                CHECK,
                format!(
                    "can't tell whether {} holds every change: {}: {e}",
                    snapshot.display(),
                    mark.display()
                ),
                "run with sudo",
            )];
        }
    };
    let mut lines = text.lines();
    let since = lines.next().and_then(|l| l.trim().parse::<u64>().ok());
    let why = lines.next().unwrap_or("").trim();
    let marked_at = since.map(|s| UNIX_EPOCH + Duration::from_secs(s));
    // A mark rosterd failed to remove after a later successful write
    // (the mark's own time: `since` has only whole seconds).
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(marked), Some(written)) = (modified(&mark), modified(&snapshot))
        && written > marked
    {
        return vec![Finding::warn(
            CHECK,
            format!(
                "{} was written after the failure {} records",
                snapshot.display(),
                mark.display()
            ),
            format!(
                "rm {} (rosterd couldn't remove it: see its log)",
                mark.display()
            ),
        )];
    }
    let how_long = marked_at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|d| format!(" for {}", span(d)))
        .unwrap_or_default();
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    vec![Finding::fail(
        CHECK,
        format!(
            "{} is older than the database: rosterd couldn't write it{how_long}{why}, \
             so NSS (getent, id, sudo) doesn't show the latest changes",
            snapshot.display()
        ),
        format!(
            "check the disk of {folder} (df {folder}: free space, read-only) and rosterd's log \
             (journalctl -u rosterd); rosterd retries on its own and this clears at its next \
             successful write (if rosterd is stopped, start it: it writes the snapshot at start)",
            folder = folder.display()
        ),
    )]
}

/// "42 s", "5 min", "3 h", "2 days": how long, roughly.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_sits_beside_the_database() {
        assert_eq!(
            stale_mark(Path::new("/var/lib/roster/roster.db")),
            PathBuf::from("/var/lib/roster/roster.db.snapshot-stale")
        );
    }

    #[test]
    fn spans_read_as_a_person_would_say_them() {
        assert_eq!(span(Duration::from_secs(42)), "42 s");
        assert_eq!(span(Duration::from_secs(300)), "5 min");
        assert_eq!(span(Duration::from_secs(3 * 3600)), "3 h");
        assert_eq!(span(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
