//! Failed-login lockout, per (user, remote host), faillock-style:
//! `attempts` failures within `window` lock that pair for `duration`.
//!
//! Per remote host (none = local) so a remote attacker can lock a user out
//! over ssh but never out of the console or sudo. On top of that, one
//! counter per user over all remote hosts together ([`ALL_REMOTE_HOSTS`]):
//! `remote_attempts` failures from anywhere remote lock every remote login
//! of the user, so spreading guesses over many hosts gets no more of them;
//! the console and sudo still stay open. Pure logic over a [`Counter`];
//! the store keeps one row per key, and time comes from the caller's clock.

use crate::clock::Timestamp;
use crate::config::LockoutConfig;
use crate::error::Error;

/// The key of a local login (console, sudo, `users password`,
/// registration): no remote host.
pub const LOCAL: &str = "";

/// The key of the per-user counter over all remote hosts together. No
/// remote host can have it: [`remote_host_key`] refuses `*`.
pub const ALL_REMOTE_HOSTS: &str = "*";

/// A DNS name is at most 253 bytes, an IPv6 address with a zone far less:
/// 255 leaves room and bounds what one lockout row can hold.
pub const MAX_REMOTE_HOST_BYTES: usize = 255;

/// The lockout key for `remote_host` (`PAM_RHOST`): [`LOCAL`] for none
/// (or empty), else the host itself once it is shown to be a host name,
/// an IPv4 or an IPv6 address (possibly with a `%zone`): at most
/// [`MAX_REMOTE_HOST_BYTES`] of ASCII letters, digits, `.`, `-`, `_`,
/// `:`, `%`. Anything else (spaces, control characters, NUL, `*`) is
/// `InvalidArgument`, before anything is counted or stored.
pub fn remote_host_key(remote_host: Option<&str>) -> crate::Result<&str> {
    let Some(host) = remote_host.filter(|h| !h.is_empty()) else {
        return Ok(LOCAL);
    };
    if host.len() > MAX_REMOTE_HOST_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the remote host {} is {} bytes long: a host name or address has at most {MAX_REMOTE_HOST_BYTES}",
            crate::validate::shown(host),
            host.len()
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%');
    if !host.chars().all(allowed) {
        return Err(Error::InvalidArgument(format!(
            "the remote host {} is not a host name or an IP address (letters, digits, '.', '-', '_', ':' and '%' only)",
            crate::validate::shown(host)
        )));
    }
    Ok(host)
}

/// The state of one (user, remote host) pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// Times of the recent failures, oldest first (at most `attempts`).
    pub failures: Vec<Timestamp>,
    pub locked_until: Option<Timestamp>,
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

impl Counter {
    /// The lockout's end when locked at `now`.
    pub fn locked_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|until| *until > now)
    }

    /// Count a failure at `now`. Answers the lockout's end when this
    /// failure locked the pair. Failures while locked don't extend the
    /// lock (rosterd doesn't even verify then).
    pub fn fail(&mut self, config: &LockoutConfig, now: Timestamp) -> Option<Timestamp> {
        self.fail_within(config.attempts, config, now)
    }

    /// [`Counter::fail`] for the counter over all remote hosts, which
    /// locks after `remote_attempts`.
    pub fn fail_remote(&mut self, config: &LockoutConfig, now: Timestamp) -> Option<Timestamp> {
        self.fail_within(config.remote_attempts, config, now)
    }

    /// `attempts` failures within `config.window` lock for `config.duration`.
    fn fail_within(
        &mut self,
        attempts: u32,
        config: &LockoutConfig,
        now: Timestamp,
    ) -> Option<Timestamp> {
        if self.locked_at(now).is_some() {
            return None;
        }
        let since = now.saturating_sub(secs(config.window));
        self.failures.retain(|t| *t > since);
        self.failures.push(now);
        let attempts = usize::try_from(attempts).unwrap_or(usize::MAX);
        if self.failures.len() >= attempts {
            let until = now.saturating_add(secs(config.duration));
            self.locked_until = Some(until);
            // A fresh count once the lock ends.
            self.failures.clear();
            return Some(until);
        }
        // Only the last `attempts` matter.
        let excess = self.failures.len().saturating_sub(attempts);
        self.failures.drain(..excess);
        None
    }

    /// Nothing left to remember at `now`: the row may go.
    pub fn is_clear(&self, config: &LockoutConfig, now: Timestamp) -> bool {
        let since = now.saturating_sub(secs(config.window));
        self.locked_at(now).is_none() && self.failures.iter().all(|t| *t <= since)
    }

    /// The failures as stored: space-separated timestamps.
    pub fn encode_failures(&self) -> String {
        self.failures
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn decode(failures: &str, locked_until: Option<Timestamp>) -> Counter {
        Counter {
            failures: failures
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect(),
            locked_until,
        }
    }
}

/// What a locked-out person is told, on every path (PAM, `users
/// password`, tokens, registration): "account locked after too many
/// failed attempts: try again in 15 minutes".
pub fn lock_message(until: Timestamp, now: Timestamp) -> String {
    let minutes = (until.saturating_sub(now).max(1) + 59) / 60;
    format!(
        "account locked after too many failed attempts: try again in {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    )
}

/// `Error::Locked` for a lockout ending at `until`, with [`lock_message`].
pub fn locked_error(until: Timestamp, now: Timestamp) -> crate::Error {
    crate::Error::Locked {
        until,
        message: lock_message(until, now),
    }
}
