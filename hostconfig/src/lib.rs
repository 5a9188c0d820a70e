//! A host's Roster configuration, and the checks of it against the host's
//! own account files: the one place rosterd (through `roster-core`) and
//! `roster doctor` (which must not link core) read them from, so the
//! doctor's verdict is rosterd's.
//!
//! - [`Config`]: every key of `rosterd.toml` with its default; unknown keys,
//!   wrong types and bad values are refused, each naming the key.
//! - [`id_ranges`]: Roster's uids and `admin_gid` against login.defs,
//!   systemd's reserved ranges, subuid/subgid, the local files and
//!   2147483646.
//! - [`local_files`]: reading passwd, group, shadow, login.defs and
//!   subuid/subgid as Roster reads them.
//! - [`parse_duration`]: `30s`, `15m`, `72h`, `7d` (the parser itself is
//!   roster-snapshot's, which pam_roster links too).
//!
//! Dependencies: serde and toml, and the dependency-free roster-snapshot.

pub mod calendar;
pub mod config;
pub mod duration;
pub mod error;
pub mod id_ranges;
pub mod level;
pub mod local_files;
pub mod names;

pub use config::{
    Argon2Config, Config, DEFAULT_PATH, LockoutConfig, PasswordConfig, RegistrationConfig,
    SessionsConfig,
};
pub use duration::{DurationError, parse_duration};
pub use error::ConfigError;
pub use id_ranges::HostFiles;
pub use level::{Level, UnknownLevel};
