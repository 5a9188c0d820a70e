//! `/etc/roster/rosterd.toml`: every key of DESIGN.md with its default.
//! Unknown keys are an error naming the key.

use crate::level::Level;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// 0 = number of CPUs.
    pub max_concurrent: usize,
    pub queue_max: usize,
    pub queue_wait: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordConfig {
    pub min_length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutConfig {
    pub attempts: u32,
    pub window: Duration,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionsConfig {
    pub end_grace: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationConfig {
    pub ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        todo!("core engineer: DESIGN.md's defaults")
    }
}

impl Config {
    /// Parse a config file's text; unknown keys and bad values are
    /// `Error::Config` naming the key.
    pub fn parse(text: &str) -> crate::Result<Config> {
        let _ = text;
        todo!("core engineer")
    }

    /// Read and parse `path`.
    pub fn load(path: &Path) -> crate::Result<Config> {
        let _ = path;
        todo!("core engineer")
    }

    /// The id-range checks of DESIGN.md (login.defs, systemd's reserved
    /// ranges, subuid/subgid, local files, ≤ 2147483646), reading the
    /// files this config names. Each refusal names the clash.
    pub fn check_id_ranges(&self) -> crate::Result<()> {
        todo!("core engineer: see id_ranges")
    }
}
