//! `/etc/roster/rosterd.toml`: every key of DESIGN.md with its default.
//!
//! Unknown keys and values of the wrong type are errors naming the key and
//! its section, all of them at once: a typo must never fall back to a
//! default silently. Values are checked after parsing
//! ([`Config::validate`]) so a config that parses is one rosterd can run
//! with; the id-range checks read other files and are separate
//! ([`Config::check_id_ranges`]).

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::level::Level;
use crate::names::{MAX_PATH_BYTES, name_rule};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where rosterd and the doctor look for the config unless told.
pub const DEFAULT_PATH: &str = "/etc/roster/rosterd.toml";

/// The largest file we read as a config: a config is a few hundred bytes,
/// so anything bigger is a mistake (or /dev/zero).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
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
    /// The key that encrypts secrets at rest; empty (None) = `secrets.key`
    /// beside the database, in rosterd's state directory (writable under
    /// the unit's `ProtectSystem=strict`).
    #[serde(with = "optional_path")]
    pub secrets_key_file: Option<PathBuf>,
    pub argon2: Argon2Config,
    pub password: PasswordConfig,
    pub lockout: LockoutConfig,
    pub sessions: SessionsConfig,
    pub registration: RegistrationConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// 0 = number of CPUs.
    pub max_concurrent: usize,
    pub queue_max: usize,
    #[serde(with = "config_duration")]
    pub queue_wait: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    pub min_length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
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
    #[serde(with = "config_duration")]
    pub window: Duration,
    #[serde(with = "config_duration")]
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    #[serde(with = "config_duration")]
    pub end_grace: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    #[serde(with = "config_duration")]
    pub ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: PathBuf::from("/var/lib/roster/roster.db"),
            nss_cache: PathBuf::from(roster_snapshot::DEFAULT_PATH),
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
            secrets_key_file: None,
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

/// What a key holds, checked before serde so that every problem is
/// reported at once, each naming its key and section (serde stops at the
/// first and names only the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Path,
    Text,
    Number,
    Bool,
    Duration,
    Level,
    Section,
}

/// Every top-level key. [`SECTIONS`] lists the keys of each section; a
/// test holds both to the struct.
const TOP_KEYS: &[(&str, Kind)] = &[
    ("database", Kind::Path),
    ("nss_cache", Kind::Path),
    ("environment", Kind::Text),
    ("login_level", Kind::Level),
    ("uid_min", Kind::Number),
    ("uid_max", Kind::Number),
    ("admin_group", Kind::Text),
    ("admin_gid", Kind::Number),
    ("home_base", Kind::Path),
    ("shell", Kind::Path),
    ("passwd_file", Kind::Path),
    ("group_file", Kind::Path),
    ("login_defs", Kind::Path),
    ("subuid_file", Kind::Path),
    ("subgid_file", Kind::Path),
    ("create_home", Kind::Bool),
    ("secrets_key_file", Kind::Path),
    ("argon2", Kind::Section),
    ("password", Kind::Section),
    ("lockout", Kind::Section),
    ("sessions", Kind::Section),
    ("registration", Kind::Section),
];

type Keys = &'static [(&'static str, Kind)];

const SECTIONS: &[(&str, Keys)] = &[
    (
        "argon2",
        &[
            ("memory_kib", Kind::Number),
            ("iterations", Kind::Number),
            ("parallelism", Kind::Number),
            ("max_concurrent", Kind::Number),
            ("queue_max", Kind::Number),
            ("queue_wait", Kind::Duration),
        ],
    ),
    ("password", &[("min_length", Kind::Number)]),
    (
        "lockout",
        &[
            ("attempts", Kind::Number),
            ("remote_attempts", Kind::Number),
            ("window", Kind::Duration),
            ("duration", Kind::Duration),
        ],
    ),
    ("sessions", &[("end_grace", Kind::Duration)]),
    ("registration", &[("ttl", Kind::Duration)]),
];

fn names(keys: Keys) -> String {
    keys.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// The problem with `value` for a key of `kind`, if any. `key` is the
/// key as the message names it (`` `uid_min` ``, `` `window` in [lockout] ``).
fn kind_problem(key: &str, kind: Kind, value: &toml::Value) -> Option<String> {
    use toml::Value as V;
    match (kind, value) {
        (Kind::Path | Kind::Text, V::String(_)) | (Kind::Bool, V::Boolean(_)) => None,
        (Kind::Number, V::Integer(i)) => u32::try_from(*i)
            .is_err()
            .then(|| format!("{key} = {i} is out of range (0–{})", u32::MAX)),
        (Kind::Duration, V::String(text)) => config_duration::parse(text)
            .err()
            .map(|e| format!("{key}: {e}")),
        (Kind::Level, V::String(text)) => {
            text.parse::<Level>().err().map(|e| format!("{key}: {e}"))
        }
        (Kind::Path | Kind::Text | Kind::Duration | Kind::Level, _) => {
            Some(format!("{key} should be a string"))
        }
        (Kind::Number, _) => Some(format!("{key} should be a number")),
        (Kind::Bool, _) => Some(format!("{key} should be true or false")),
        (Kind::Section, _) => None,
    }
}

/// Unknown keys and values of the wrong kind, every one of them.
fn key_problems(table: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in table {
        let Some(&(_, kind)) = TOP_KEYS.iter().find(|(k, _)| k == key) else {
            out.push(format!(
                "unknown key `{key}` at the top level of the config (known keys: {})",
                names(TOP_KEYS)
            ));
            continue;
        };
        if kind != Kind::Section {
            out.extend(kind_problem(&format!("`{key}`"), kind, value));
            continue;
        }
        let Some(inner) = value.as_table() else {
            out.push(format!("`{key}` must be a section ([{key}]), not a value"));
            continue;
        };
        let keys = SECTIONS
            .iter()
            .find(|(s, _)| s == key)
            .map(|(_, keys)| *keys)
            .unwrap_or_default();
        for (inner_key, inner_value) in inner {
            match keys.iter().find(|(k, _)| k == inner_key) {
                Some(&(_, kind)) => out.extend(kind_problem(
                    &format!("`{inner_key}` in [{key}]"),
                    kind,
                    inner_value,
                )),
                None => out.push(format!(
                    "unknown key `{inner_key}` in section [{key}] (known keys: {})",
                    names(keys)
                )),
            }
        }
    }
    out
}

/// Durations in the config: the one parser, around which the config (and
/// only the config) allows spaces, as it always has.
mod config_duration {
    use super::{Duration, parse_duration};
    use crate::duration::DurationError;

    pub fn parse(text: &str) -> Result<Duration, DurationError> {
        parse_duration(text.trim())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::duration::format(*duration))
    }
}

/// A path that may be left empty (`""` = the built-in default), kept as
/// `None`; written back as `""` so every key shows in a serialized config.
mod optional_path {
    use std::path::PathBuf;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }

    pub fn serialize<S: serde::Serializer>(
        path: &Option<PathBuf>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match path {
            Some(path) => serializer.serialize_str(&path.to_string_lossy()),
            None => serializer.serialize_str(""),
        }
    }
}

/// The keys a controller decides for its hosts (DESIGN.md "Fleet-wide
/// rules"): while a host is enrolled, rosterd refuses each of them in
/// `rosterd.toml`, naming it, rather than silently ignoring one.
pub const FLEET_DECIDED_KEYS: &[&str] = &[
    "environment",
    "login_level",
    "uid_min",
    "uid_max",
    "admin_group",
    "admin_gid",
];

/// Which of [`FLEET_DECIDED_KEYS`] a config's text sets.
pub fn fleet_decided_keys_set(text: &str) -> Result<Vec<&'static str>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError::invalid(format!("the config is not valid TOML: {e}"))
    })?;
    Ok(FLEET_DECIDED_KEYS
        .iter()
        .copied()
        .filter(|key| table.contains_key(*key))
        .collect())
}

impl Config {
    /// Parse a config file's text: every unknown key, wrong type and bad
    /// value is a problem of [`ConfigError::Invalid`] naming the key.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError::invalid(format!("the config is not valid TOML: {e}"))
        })?;
        let problems = key_problems(&table);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                file: None,
                problems,
            });
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e| ConfigError::invalid(format!("bad value in the config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            Err(e) => {
                return Err(ConfigError::Unreadable {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| ConfigError::Unreadable {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge(path.to_owned()));
        }
        Config::parse(&text).map_err(|e| match e {
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid {
                file: Some(path.to_owned()),
                problems,
            },
            other => other,
        })
    }

    /// The rules a parsed config must meet, every broken one named.
    /// `parse` calls it; call it yourself after building a `Config` in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                file: None,
                problems,
            })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
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
                out.push(format!(
                    "`{key}` must be an absolute path, not {:?}",
                    path.display().to_string()
                ));
                continue;
            }
            let text = path.to_string_lossy();
            if text.len() > MAX_PATH_BYTES
                || text.contains(':')
                || text.chars().any(char::is_control)
            {
                out.push(format!(
                    "`{key}` holds a ':' or a control character or is too long"
                ));
            }
        }
        if let Some(path) = &self.secrets_key_file {
            let text = path.to_string_lossy();
            if !path.is_absolute() {
                out.push(format!(
                    "`secrets_key_file` must be an absolute path (or empty for the default beside the database), not {:?}",
                    text
                ));
            } else if text.len() > MAX_PATH_BYTES || text.chars().any(char::is_control) {
                out.push("`secrets_key_file` holds a control character or is too long".into());
            }
        }
        if let Err(e) = name_rule(&self.environment, "environment name") {
            out.push(format!("`environment`: {e}"));
        }
        if let Err(e) = name_rule(&self.admin_group, "user name") {
            out.push(format!("`admin_group` is not a valid group name: {e}"));
        }
        if self.uid_min == 0 || self.uid_min > self.uid_max {
            out.push(format!(
                "`uid_min` ({}) must be above 0 and at most `uid_max` ({})",
                self.uid_min, self.uid_max
            ));
        }
        if self.admin_gid == 0 {
            out.push("`admin_gid` must not be 0 (root's group)".into());
        }
        if (self.uid_min..=self.uid_max).contains(&self.admin_gid) {
            out.push(format!(
                "`admin_gid` ({}) lies in the user range {}–{}, where it would clash with a user's private group",
                self.admin_gid, self.uid_min, self.uid_max
            ));
        }
        let a = &self.argon2;
        if !(1..=64).contains(&a.parallelism) {
            out.push(format!(
                "[argon2] `parallelism` must be 1–64, not {}",
                a.parallelism
            ));
        }
        if a.memory_kib < 8 * a.parallelism.clamp(1, 64) || a.memory_kib > 4 * 1024 * 1024 {
            out.push(format!(
                "[argon2] `memory_kib` must be between 8 × parallelism and 4194304 (4 GiB), not {}",
                a.memory_kib
            ));
        }
        if !(1..=100).contains(&a.iterations) {
            out.push(format!(
                "[argon2] `iterations` must be 1–100, not {}",
                a.iterations
            ));
        }
        if a.max_concurrent > 1024 || a.queue_max > 100_000 {
            out.push(
                "[argon2] `max_concurrent` (≤ 1024) or `queue_max` (≤ 100000) is too large".into(),
            );
        }
        if a.queue_wait.is_zero() {
            out.push("[argon2] `queue_wait` must be longer than 0s".into());
        }
        if !(1..=1024).contains(&self.password.min_length) {
            out.push(format!(
                "[password] `min_length` must be 1–1024, not {}",
                self.password.min_length
            ));
        }
        if self.lockout.attempts == 0 || self.lockout.attempts > 1000 {
            out.push(format!(
                "[lockout] `attempts` must be 1–1000, not {}",
                self.lockout.attempts
            ));
        }
        if self.lockout.remote_attempts == 0 || self.lockout.remote_attempts > 1000 {
            out.push(format!(
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
                out.push(format!("{key} must be longer than 0s"));
            }
            // Timestamps are i64 seconds; keep sums far from overflow.
            if d.as_secs() > 100 * 365 * 86400 {
                out.push(format!("{key} is longer than 100 years"));
            }
        }
        if self.sessions.end_grace.as_secs() > 3600 {
            out.push("[sessions] `end_grace` must be at most 1h".into());
        }
        out
    }

    /// The id-range checks of DESIGN.md (login.defs, systemd's reserved
    /// ranges, subuid/subgid, local files, ≤ 2147483646), reading the
    /// files this config names. Each refusal names the clash.
    pub fn check_id_ranges(&self) -> Result<(), ConfigError> {
        crate::id_ranges::check(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key tables above are what the struct holds: every key of the
    /// default config, serialized, is listed with its kind, and no other.
    #[test]
    fn the_key_tables_are_the_struct() {
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut top: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut listed: Vec<&str> = TOP_KEYS.iter().map(|(k, _)| *k).collect();
        top.sort_unstable();
        listed.sort_unstable();
        assert_eq!(top, listed);
        for (key, value) in &table {
            let kind = TOP_KEYS.iter().find(|(k, _)| k == key).unwrap().1;
            match value.as_table() {
                Some(inner) => {
                    assert_eq!(kind, Kind::Section, "{key}");
                    let keys = SECTIONS.iter().find(|(s, _)| s == key).unwrap().1;
                    let mut have: Vec<&str> = inner.keys().map(String::as_str).collect();
                    let mut listed: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
                    have.sort_unstable();
                    listed.sort_unstable();
                    assert_eq!(have, listed, "[{key}]");
                    for (inner_key, inner_value) in inner {
                        let kind = keys.iter().find(|(k, _)| k == inner_key).unwrap().1;
                        assert_eq!(kind_problem(inner_key, kind, inner_value), None);
                    }
                }
                None => assert_eq!(kind_problem(key, kind, value), None, "{key}"),
            }
        }
        // And what it serializes reads back as itself.
        let text = toml::to_string(&Config::default()).unwrap();
        assert_eq!(Config::parse(&text).unwrap(), Config::default());
    }

    #[test]
    fn the_keys_a_controller_decides_are_found_by_name() {
        let text = "environment = \"prod\"\nuid_min = 70000\ncreate_home = false\n";
        assert_eq!(
            fleet_decided_keys_set(text).unwrap(),
            vec!["environment", "uid_min"]
        );
        assert!(fleet_decided_keys_set("").unwrap().is_empty());
        assert!(fleet_decided_keys_set("environment = ").is_err());
    }
}
