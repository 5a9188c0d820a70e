//! Ending every process of a user: DESIGN.md's `/proc` sweep.
//!
//! Each process whose real uid is the user's is opened as a pidfd, its uid
//! and start time are checked again through `/proc` (the pid may have been
//! recycled between the listing and the open), and it is signalled through
//! the pidfd, so a recycled pid is never hit: a pidfd names one process
//! for good. SIGTERM first, SIGKILL after `end_grace` to whatever is left;
//! then the sweep looks again (a process may have forked meanwhile) and
//! kills what it finds, until nothing is left.
//!
//! Only uids inside Roster's range are ever signalled: a bug elsewhere
//! must not be able to turn this into "kill every process of root".

use crate::procfs::Proc;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// After this many rounds the sweep gives up (a fork bomb faster than
/// SIGKILL); what is left is logged.
const MAX_ROUNDS: usize = 100;

/// How often the grace period checks whether everything has exited.
const POLL: Duration = Duration::from_millis(20);

struct Target {
    pid: u32,
    start: u64,
    fd: OwnedFd,
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) with a pid and no flags; the result is a new
    // fd we own or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this fd and nobody else holds it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn pidfd_signal(fd: &OwnedFd, signal: libc::c_int) -> bool {
    // SAFETY: pidfd_send_signal(2) on a pidfd we hold, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// A pidfd turns readable when its process has exited (even while it is
/// still a zombie waiting for its parent).
fn exited(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0
}

/// The live (non-zombie) processes of `uid`, each opened as a pidfd and
/// checked again after the open.
fn targets(proc: &Proc, uid: u32) -> Vec<Target> {
    let mut found = Vec::new();
    for pid in proc.pids() {
        if proc.real_uid(pid) != Some(uid) {
            continue;
        }
        let Some((state, start)) = proc.state_and_start(pid) else {
            continue;
        };
        if matches!(state, 'Z' | 'X') {
            continue;
        }
        let Some(fd) = pidfd_open(pid) else { continue };
        // The pidfd now pins one process: if it is still the one we listed
        // (same uid, same start time), signalling the fd can only hit it.
        if proc.real_uid(pid) != Some(uid) || proc.start_time(pid) != Some(start) {
            continue;
        }
        found.push(Target { pid, start, fd });
    }
    found
}

fn wait_exit(targets: &[Target], budget: Duration) {
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline && targets.iter().any(|t| !exited(&t.fd)) {
        std::thread::sleep(POLL);
    }
}

/// Ends every process of `uid`; answers how many were signalled (distinct
/// processes). `range` is Roster's `[uid_min, uid_max]`: any other uid is
/// refused and nothing is signalled.
pub fn end_processes(proc: &Proc, uid: u32, range: (u32, u32), grace: Duration) -> u32 {
    if uid == 0 || uid < range.0 || uid > range.1 {
        eprintln!("rosterd: refusing to sweep uid {uid}: outside Roster's uid range");
        return 0;
    }
    let mut signalled: HashSet<(u32, u64)> = HashSet::new();
    for round in 0..MAX_ROUNDS {
        let found = targets(proc, uid);
        if found.is_empty() {
            break;
        }
        if round == 0 {
            for t in &found {
                pidfd_signal(&t.fd, libc::SIGTERM);
            }
            wait_exit(&found, grace);
        }
        // First round: what ignored SIGTERM for `end_grace`. Later rounds:
        // processes forked during the sweep, which already had their
        // grace through their parent's SIGTERM.
        for t in found.iter().filter(|t| !exited(&t.fd)) {
            pidfd_signal(&t.fd, libc::SIGKILL);
        }
        wait_exit(&found, Duration::from_secs(2));
        signalled.extend(found.iter().map(|t| (t.pid, t.start)));
        if round + 1 == MAX_ROUNDS {
            eprintln!("rosterd: uid {uid} still has processes after {MAX_ROUNDS} sweeps");
        }
    }
    u32::try_from(signalled.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_uids_outside_the_range() {
        let p = Proc::default();
        assert_eq!(end_processes(&p, 0, (1000, 2000), Duration::ZERO), 0);
        assert_eq!(end_processes(&p, 999, (1000, 2000), Duration::ZERO), 0);
        assert_eq!(end_processes(&p, 2001, (1000, 2000), Duration::ZERO), 0);
    }

    #[test]
    fn a_pidfd_notices_exit() {
        let mut child = match std::process::Command::new("sleep").arg("5").spawn() {
            Ok(c) => c,
            Err(_) => return,
        };
        let Some(fd) = pidfd_open(child.id()) else {
            return;
        };
        assert!(!exited(&fd));
        assert!(pidfd_signal(&fd, libc::SIGKILL));
        let _ = child.wait();
        assert!(exited(&fd));
    }
}
