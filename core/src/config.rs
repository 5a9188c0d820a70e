//! `/etc/roster/rosterd.toml`: the schema, its defaults and its checks
//! live in `roster-hostconfig`, which the doctor links too; core re-exports
//! them so rosterd keeps naming `roster_core::Config`. Its errors become
//! [`Error::Config`](crate::Error::Config) through `?`.

pub use roster_hostconfig::config::*;
pub use roster_hostconfig::{ConfigError, parse_duration};
