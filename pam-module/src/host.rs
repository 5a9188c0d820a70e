//! What the decisions ask of the host process: its NSS view of a name,
//! whether it runs as root, and which process leads a session.

use crate::codes::Error;
use roster_client::stat_start_time;
use std::ffi::CString;

pub trait Host {
    /// The uid `getpwnam_r` gives `name` (through every NSS source the
    /// host has), `None` when it resolves nothing.
    fn passwd_uid(&self, name: &str) -> Option<u32>;
    /// The process's real uid is 0. Deliberately not the effective uid:
    /// a setuid `passwd` or `su` runs with euid 0 for everyone.
    fn is_root(&self) -> bool;
    /// The session leader: this process's pid and start time (clock ticks
    /// after boot, field 22 of /proc/self/stat), so rosterd can tell it
    /// from a later process that reuses the pid.
    fn session_leader(&self) -> Result<(u32, u64), Error>;
}

/// The real host.
pub struct RealHost;

impl Host for RealHost {
    fn passwd_uid(&self, name: &str) -> Option<u32> {
        let name = CString::new(name).ok()?;
        // SAFETY: sysconf has no preconditions.
        let hint = unsafe { libc::sysconf(libc::_SC_GETPW_R_SIZE_MAX) };
        let mut size = usize::try_from(hint)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(1024);
        loop {
            let mut buf = vec![0 as libc::c_char; size];
            // SAFETY: a zeroed passwd is a valid out-value for getpwnam_r.
            let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            // SAFETY: valid name, out-struct, buffer of `size` bytes and
            // out-pointer, all alive for the call.
            let rc = unsafe {
                libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), size, &mut result)
            };
            if rc == libc::ERANGE && size < (1 << 20) {
                size *= 2;
                continue;
            }
            return (rc == 0 && !result.is_null()).then_some(pwd.pw_uid);
        }
    }

    fn is_root(&self) -> bool {
        // SAFETY: getuid has no preconditions and can't fail.
        unsafe { libc::getuid() == 0 }
    }

    fn session_leader(&self) -> Result<(u32, u64), Error> {
        // The process calling pam_open_session is the one that lives as
        // long as the session: sshd's per-connection privileged process,
        // login waiting for the shell it forks, su waiting for its child.
        let pid = std::process::id();
        let stat = std::fs::read_to_string("/proc/self/stat")
            .map_err(|e| Error::System(format!("can't read /proc/self/stat: {e}")))?;
        let start = stat_start_time(&stat)
            .ok_or_else(|| Error::System("can't parse /proc/self/stat".into()))?;
        Ok((pid, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_root_resolves() {
        let (pid, start) = RealHost.session_leader().unwrap();
        assert_eq!(pid, std::process::id());
        assert!(start > 0);
        assert_eq!(RealHost.passwd_uid("root"), Some(0));
        assert_eq!(RealHost.passwd_uid("no-such-user-here"), None);
        assert_eq!(RealHost.passwd_uid("nul\0byte"), None);
    }
}
