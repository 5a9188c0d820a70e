//! What rosterd reads from `/proc`: a process's start time (to tell a
//! session leader from a recycled pid), its real uid (for the sweep) and
//! its login uid (for the audit line).
//!
//! Every reader answers `None` when the process is gone or the file is not
//! what we expect: a process can vanish between any two reads.

use roster_client::{stat_start_time, stat_state_and_start};
use std::fs;
use std::path::PathBuf;

/// The root to read from: `/proc`, or a fake tree in unit tests.
#[derive(Clone, Debug)]
pub struct Proc {
    root: PathBuf,
}

impl Default for Proc {
    fn default() -> Self {
        Proc {
            root: PathBuf::from("/proc"),
        }
    }
}

impl Proc {
    fn file(&self, pid: u32, name: &str) -> PathBuf {
        self.root.join(pid.to_string()).join(name)
    }

    /// Field 22 of `/proc/PID/stat`: the start time in clock ticks since boot.
    pub fn start_time(&self, pid: u32) -> Option<u64> {
        let text = fs::read_to_string(self.file(pid, "stat")).ok()?;
        stat_start_time(&text)
    }

    /// The process's state letter (field 3: `R`, `S`, `Z` …) and start time.
    pub fn state_and_start(&self, pid: u32) -> Option<(char, u64)> {
        let text = fs::read_to_string(self.file(pid, "stat")).ok()?;
        stat_state_and_start(&text)
    }

    /// The real uid (the first of the four on `Uid:` in `/proc/PID/status`).
    pub fn real_uid(&self, pid: u32) -> Option<u32> {
        let text = fs::read_to_string(self.file(pid, "status")).ok()?;
        parse_real_uid(&text)
    }

    /// The login uid the kernel keeps for the process (`sudo` keeps the
    /// person's), or None when unreadable; [`NO_LOGIN_UID`] when unset.
    pub fn login_uid(&self, pid: u32) -> Option<u32> {
        let text = fs::read_to_string(self.file(pid, "loginuid")).ok()?;
        text.trim().parse().ok()
    }

    /// Every pid listed now (the numeric entries of the root).
    pub fn pids(&self) -> Vec<u32> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect()
    }

    /// Whether the process `pid` that started at `start` is still there
    /// (a recycled pid has another start time).
    #[cfg(test)]
    pub fn is_alive(&self, pid: u32, start: u64) -> bool {
        self.start_time(pid) == Some(start)
    }
}

fn parse_real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_our_own_process_is_readable() {
        let me = std::process::id();
        let p = Proc::default();
        let start = p.start_time(me).unwrap_or(0);
        assert!(start > 0);
        assert!(p.is_alive(me, start));
        assert!(!p.is_alive(me, start + 1));
    }

    #[test]
    fn real_uid_is_the_first_uid() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(parse_real_uid(status), Some(1000));
    }
}
