//! The module's arguments from the PAM service file.
//!
//! Nothing here reads the environment: `su`, `sudo` and `passwd` are
//! setuid and keep their caller's environment, so a variable would let any
//! local user point the module at a fake rosterd. The service file (owned
//! by root) is the only input.

use roster_snapshot::duration::parse_short_duration;
use std::path::PathBuf;
use std::time::Duration;

/// The standard system bus socket, used when no `bus=` is given.
pub use roster_client::DEFAULT_SYSTEM_BUS;

/// rosterd's default `nss_cache`: the public snapshot naming Roster users.
pub use roster_snapshot::DEFAULT_PATH as DEFAULT_SNAPSHOT;

/// How long one call may talk with rosterd (connect, handshake, call)
/// unless `timeout=` says otherwise. Above rosterd's own hash-queue wait
/// (2 s) so a queued verification still answers in time.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest `timeout=` accepted: a login must never hang on rosterd for
/// minutes because of a typo in a service file.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub debug: bool,
    /// auth: only the token an earlier module set; never prompt.
    pub use_first_pass: bool,
    /// auth: an earlier module's token if any, else prompt.
    /// password: the same for the current password (PAM_OLDAUTHTOK).
    pub try_first_pass: bool,
    /// password: take the new password from PAM_AUTHTOK when an earlier
    /// module set one (prompt when none is set).
    pub use_authtok: bool,
    /// The D-Bus address of the system bus.
    pub bus: String,
    /// The NSS snapshot that says who is a Roster user.
    pub snapshot: PathBuf,
    /// The bound on each call's talk with rosterd.
    pub timeout: Duration,
    /// Arguments the module didn't understand (logged, never fatal: a
    /// typo must not lock everyone out of the host).
    pub problems: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            debug: false,
            use_first_pass: false,
            try_first_pass: false,
            use_authtok: false,
            bus: DEFAULT_SYSTEM_BUS.to_owned(),
            snapshot: PathBuf::from(DEFAULT_SNAPSHOT),
            timeout: DEFAULT_TIMEOUT,
            problems: Vec::new(),
        }
    }
}

impl Options {
    /// Parses the service file's arguments. Never fails: anything it
    /// can't use is listed in `problems` and the default stays.
    pub fn parse<I, S>(args: I) -> Options
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut opts = Options::default();
        for arg in args {
            let arg = arg.as_ref();
            match arg.split_once('=') {
                None => match arg {
                    "debug" => opts.debug = true,
                    "use_first_pass" => opts.use_first_pass = true,
                    "try_first_pass" => opts.try_first_pass = true,
                    "use_authtok" => opts.use_authtok = true,
                    _ => opts
                        .problems
                        .push(format!("unknown option \"{arg}\" ignored")),
                },
                Some(("bus", value)) if !value.is_empty() => opts.bus = value.to_owned(),
                Some(("snapshot", value)) if value.starts_with('/') => {
                    opts.snapshot = PathBuf::from(value)
                }
                // Roster's one duration form (rosterd.toml's `30s`, `1m`),
                // plus `500ms` and a bare number of seconds.
                Some(("timeout", value)) => match parse_short_duration(value) {
                    Ok(d) if !d.is_zero() && d <= MAX_TIMEOUT => opts.timeout = d,
                    _ => opts.problems.push(format!(
                        "timeout=\"{value}\" is not a duration between 1ms and 60s \
                         (like 3, 3s or 500ms); using {}s",
                        DEFAULT_TIMEOUT.as_secs()
                    )),
                },
                Some((key @ ("bus" | "snapshot"), value)) => opts.problems.push(format!(
                    "{key}=\"{value}\" ignored: {}",
                    if key == "bus" {
                        "empty address"
                    } else {
                        "the snapshot path must be absolute"
                    }
                )),
                Some(_) => opts
                    .problems
                    .push(format!("unknown option \"{arg}\" ignored")),
            }
        }
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_system_bus_and_the_packaged_snapshot() {
        let opts = Options::parse(Vec::<String>::new());
        assert_eq!(opts.bus, "unix:path=/run/dbus/system_bus_socket");
        assert_eq!(opts.snapshot, PathBuf::from("/var/cache/roster/nss.cache"));
        assert_eq!(opts.timeout, Duration::from_secs(3));
        assert!(!opts.debug && !opts.use_first_pass && !opts.try_first_pass);
        assert!(opts.problems.is_empty());
    }

    #[test]
    fn every_documented_option_is_understood() {
        let opts = Options::parse([
            "debug",
            "use_first_pass",
            "try_first_pass",
            "use_authtok",
            "bus=unix:path=/tmp/bus",
            "snapshot=/tmp/nss.cache",
            "timeout=500ms",
        ]);
        assert!(opts.debug && opts.use_first_pass && opts.try_first_pass && opts.use_authtok);
        assert_eq!(opts.bus, "unix:path=/tmp/bus");
        assert_eq!(opts.snapshot, PathBuf::from("/tmp/nss.cache"));
        assert_eq!(opts.timeout, Duration::from_millis(500));
        assert!(opts.problems.is_empty(), "{:?}", opts.problems);
    }

    #[test]
    fn timeouts_in_seconds_with_or_without_unit() {
        assert_eq!(
            Options::parse(["timeout=7"]).timeout,
            Duration::from_secs(7)
        );
        assert_eq!(
            Options::parse(["timeout=2s"]).timeout,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn unknown_or_bad_options_are_reported_not_fatal() {
        let opts = Options::parse([
            "nullok",
            "debgu",
            "timeout=forever",
            "timeout=0",
            "timeout=3600",
            "snapshot=relative/path",
            "bus=",
            "colour=blue",
        ]);
        assert_eq!(opts.problems.len(), 8, "{:?}", opts.problems);
        assert_eq!(opts.timeout, DEFAULT_TIMEOUT);
        assert_eq!(opts.snapshot, PathBuf::from(DEFAULT_SNAPSHOT));
        assert_eq!(opts.bus, DEFAULT_SYSTEM_BUS);
        assert!(opts.problems[0].contains("nullok"));
    }

    #[test]
    fn the_environment_never_chooses_the_bus() {
        // SAFETY: unit tests of this crate don't read the environment from
        // other threads; the variable only proves it is ignored.
        unsafe { std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/evil") };
        assert_eq!(Options::parse(["debug"]).bus, DEFAULT_SYSTEM_BUS);
        assert_eq!(
            Options::parse(["bus=unix:path=/tmp/ok"]).bus,
            "unix:path=/tmp/ok"
        );
    }
}
