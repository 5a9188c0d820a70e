//! Failed-login lockout, per (user, remote host), faillock-style:
//! `attempts` failures within `window` lock that pair for `duration`.
//!
//! Per remote host (none = local) so a remote attacker can lock a user out
//! over ssh but never out of the console or sudo. Pure logic over a
//! [`Counter`]; the store keeps one row per pair, and time comes from the
//! caller's clock.

use crate::clock::Timestamp;
use crate::config::LockoutConfig;

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
        if self.locked_at(now).is_some() {
            return None;
        }
        let since = now.saturating_sub(secs(config.window));
        self.failures.retain(|t| *t > since);
        self.failures.push(now);
        let attempts = usize::try_from(config.attempts).unwrap_or(usize::MAX);
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
