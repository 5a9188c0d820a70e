//! `/etc/roster/rosterd.toml`: every key of DESIGN.md with its default.
//!
//! Unknown keys are an error naming the key and its section: a typo must
//! never fall back to a default silently. Values are checked after
//! parsing ([`Config::validate`]) so a config that parses is one rosterd
//! can run with; the id-range checks read other files and are separate
//! ([`Config::check_id_ranges`]).

use crate::error::Error;
use crate::level::Level;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest file we read as a config: a config is a few hundred bytes,
/// so anything bigger is a mistake (or /dev/zero).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: PathBuf,
    pub nss_cache: PathBuf,
    /// The environment this host belongs to.
    pub environment: String,
    /// The level that may log in here.
    pub login_level: Level,
    pub uid_min: u32,
    pub uid_max: u32,
    pub admin_group: String,
    pub admin_gid: u32,
    pub home_base: PathBuf,
    pub shell: PathBuf,
    pub passwd_file: PathBuf,
    pub group_file: PathBuf,
    pub login_defs: PathBuf,
    pub subuid_file: PathBuf,
    pub subgid_file: PathBuf,
    pub create_home: bool,
    pub argon2: Argon2Config,
    pub password: PasswordConfig,
    pub lockout: LockoutConfig,
    pub sessions: SessionsConfig,
    pub registration: RegistrationConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// 0 = number of CPUs.
    pub max_concurrent: usize,
    pub queue_max: usize,
    #[serde(deserialize_with = "duration")]
    pub queue_wait: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub min_length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Failures per (user, remote host) within `window` that lock that
    /// pair (none = local: the console and sudo) for `duration`.
    pub attempts: u32,
    /// Failures per user from all remote hosts together within `window`
    /// that lock every remote login of the user for `duration` (the
    /// console and sudo stay open): so spreading guesses over many remote
    /// hosts gets no more of them than this.
    pub remote_attempts: u32,
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    #[serde(deserialize_with = "duration")]
    pub end_grace: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: PathBuf::from("/var/lib/roster/roster.db"),
            nss_cache: PathBuf::from("/var/cache/roster/nss.cache"),
            environment: "default".into(),
            login_level: Level::Write,
            uid_min: 1_879_048_193,
            uid_max: 1_895_825_407,
            admin_group: "roster-admins".into(),
            admin_gid: 1_879_048_192,
            home_base: PathBuf::from("/home"),
            shell: PathBuf::from("/bin/bash"),
            passwd_file: PathBuf::from("/etc/passwd"),
            group_file: PathBuf::from("/etc/group"),
            login_defs: PathBuf::from("/etc/login.defs"),
            subuid_file: PathBuf::from("/etc/subuid"),
            subgid_file: PathBuf::from("/etc/subgid"),
            create_home: true,
            argon2: Argon2Config::default(),
            password: PasswordConfig::default(),
            lockout: LockoutConfig::default(),
            sessions: SessionsConfig::default(),
            registration: RegistrationConfig::default(),
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        Argon2Config {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            queue_max: 64,
            queue_wait: Duration::from_secs(2),
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig { min_length: 8 }
    }
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            attempts: 5,
            remote_attempts: 20,
            window: Duration::from_secs(15 * 60),
            duration: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            end_grace: Duration::from_secs(5),
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            ttl: Duration::from_secs(72 * 3600),
        }
    }
}

/// The keys each table may hold, checked before serde so the error can
/// name the section (serde's message names only the field).
const TOP_KEYS: &[&str] = &[
    "database",
    "nss_cache",
    "environment",
    "login_level",
    "uid_min",
    "uid_max",
    "admin_group",
    "admin_gid",
    "home_base",
    "shell",
    "passwd_file",
    "group_file",
    "login_defs",
    "subuid_file",
    "subgid_file",
    "create_home",
    "argon2",
    "password",
    "lockout",
    "sessions",
    "registration",
];
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "argon2",
        &[
            "memory_kib",
            "iterations",
            "parallelism",
            "max_concurrent",
            "queue_max",
            "queue_wait",
        ],
    ),
    ("password", &["min_length"]),
    (
        "lockout",
        &["attempts", "remote_attempts", "window", "duration"],
    ),
    ("sessions", &["end_grace"]),
    ("registration", &["ttl"]),
];

fn check_known_keys(table: &toml::Table) -> crate::Result<()> {
    for (key, value) in table {
        if !TOP_KEYS.contains(&key.as_str()) {
            return Err(Error::Config(format!(
                "unknown key `{key}` at the top level of the config (known keys: {})",
                TOP_KEYS.join(", ")
            )));
        }
        if let Some((section, keys)) = SECTIONS.iter().find(|(s, _)| *s == key) {
            let Some(inner) = value.as_table() else {
                return Err(Error::Config(format!(
                    "`{section}` must be a section ([{section}]), not a value"
                )));
            };
            for inner_key in inner.keys() {
                if !keys.contains(&inner_key.as_str()) {
                    return Err(Error::Config(format!(
                        "unknown key `{inner_key}` in section [{section}] (known keys: {})",
                        keys.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Parse `30s`, `15m`, `72h`, `7d`: a whole number and one unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        format!(
            "invalid duration {text:?}: write a whole number and a unit, like 30s, 15m, 72h or 7d"
        )
    };
    if number.is_empty() || number.len() > 12 {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

impl Config {
    /// Parse a config file's text; unknown keys and bad values are
    /// `Error::Config` naming the key.
    pub fn parse(text: &str) -> crate::Result<Config> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::Config(format!("the config is not valid TOML: {e}"))
        })?;
        check_known_keys(&table)?;
        let config: Config = toml::from_str(text)
            .map_err(|e| Error::Config(format!("bad value in the config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse `path`.
    pub fn load(path: &Path) -> crate::Result<Config> {
        use std::io::Read;
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Config(format!("can't read the config {}: {e}", path.display())))?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::Config(format!("can't read the config {}: {e}", path.display())))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(Error::Config(format!(
                "the config {} is larger than 1 MiB: is it the right file?",
                path.display()
            )));
        }
        Config::parse(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The rules a parsed config must meet (each error names the key).
    /// `parse` calls it; call it yourself after building a `Config` in code.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (key, path) in [
            ("database", &self.database),
            ("nss_cache", &self.nss_cache),
            ("home_base", &self.home_base),
            ("shell", &self.shell),
            ("passwd_file", &self.passwd_file),
            ("group_file", &self.group_file),
            ("login_defs", &self.login_defs),
            ("subuid_file", &self.subuid_file),
            ("subgid_file", &self.subgid_file),
        ] {
            if !path.is_absolute() {
                return bad(format!(
                    "`{key}` must be an absolute path, not {:?}",
                    path.display().to_string()
                ));
            }
            let text = path.to_string_lossy();
            if text.len() > crate::validate::MAX_PATH_BYTES
                || text.contains(':')
                || text.chars().any(char::is_control)
            {
                return bad(format!(
                    "`{key}` holds a ':' or a control character or is too long"
                ));
            }
        }
        crate::validate::environment_name(&self.environment)
            .or_else(|e| bad(format!("`environment`: {e}")))?;
        crate::validate::user_name_syntax(&self.admin_group)
            .map_err(|e| Error::Config(format!("`admin_group` is not a valid group name: {e}")))?;
        if self.uid_min == 0 || self.uid_min > self.uid_max {
            return bad(format!(
                "`uid_min` ({}) must be above 0 and at most `uid_max` ({})",
                self.uid_min, self.uid_max
            ));
        }
        if self.admin_gid == 0 {
            return bad("`admin_gid` must not be 0 (root's group)".into());
        }
        if (self.uid_min..=self.uid_max).contains(&self.admin_gid) {
            return bad(format!(
                "`admin_gid` ({}) lies inside the user range {}–{}, where it would clash with a user's private group",
                self.admin_gid, self.uid_min, self.uid_max
            ));
        }
        let a = &self.argon2;
        if !(1..=64).contains(&a.parallelism) {
            return bad(format!(
                "[argon2] `parallelism` must be 1–64, not {}",
                a.parallelism
            ));
        }
        if a.memory_kib < 8 * a.parallelism.max(1) || a.memory_kib > 4 * 1024 * 1024 {
            return bad(format!(
                "[argon2] `memory_kib` must be between 8 × parallelism and 4194304 (4 GiB), not {}",
                a.memory_kib
            ));
        }
        if !(1..=100).contains(&a.iterations) {
            return bad(format!(
                "[argon2] `iterations` must be 1–100, not {}",
                a.iterations
            ));
        }
        if a.max_concurrent > 1024 || a.queue_max > 100_000 {
            return bad(
                "[argon2] `max_concurrent` (≤ 1024) or `queue_max` (≤ 100000) is too large".into(),
            );
        }
        if a.queue_wait.is_zero() {
            return bad("[argon2] `queue_wait` must be longer than 0s".into());
        }
        if !(1..=1024).contains(&self.password.min_length) {
            return bad(format!(
                "[password] `min_length` must be 1–1024, not {}",
                self.password.min_length
            ));
        }
        if self.lockout.attempts == 0 || self.lockout.attempts > 1000 {
            return bad(format!(
                "[lockout] `attempts` must be 1–1000, not {}",
                self.lockout.attempts
            ));
        }
        if self.lockout.remote_attempts == 0 || self.lockout.remote_attempts > 1000 {
            return bad(format!(
                "[lockout] `remote_attempts` must be 1–1000, not {}",
                self.lockout.remote_attempts
            ));
        }
        for (key, d) in [
            ("[lockout] `window`", self.lockout.window),
            ("[lockout] `duration`", self.lockout.duration),
            ("[registration] `ttl`", self.registration.ttl),
        ] {
            if d.is_zero() {
                return bad(format!("{key} must be longer than 0s"));
            }
            // Timestamps are i64 seconds; keep sums far from overflow.
            if d.as_secs() > 100 * 365 * 86400 {
                return bad(format!("{key} is longer than 100 years"));
            }
        }
        if self.sessions.end_grace.as_secs() > 3600 {
            return bad("[sessions] `end_grace` must be at most 1h".into());
        }
        Ok(())
    }

    /// The id-range checks of DESIGN.md (login.defs, systemd's reserved
    /// ranges, subuid/subgid, local files, ≤ 2147483646), reading the
    /// files this config names. Each refusal names the clash.
    pub fn check_id_ranges(&self) -> crate::Result<()> {
        crate::id_ranges::check(self)
    }
}
