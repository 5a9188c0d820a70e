//! Access levels, ordered `status < read < write < admin`. Here rather
//! than in core because the config names one (`login_level`); core
//! re-exports it.

use std::fmt;
use std::str::FromStr;

/// What a grant allows in one environment. Each level includes the ones
/// below it (the derive order is the level order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// May see the environment's sessions and health.
    Status,
    /// Status + may see the users holding grants in the environment.
    Read,
    /// Read + may log in to the environment's hosts.
    Write,
    /// Write + member of the host's admin group + may grant and revoke there.
    Admin,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Status, Level::Read, Level::Write, Level::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Status => "status",
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }

    /// The level just below this one; `None` below `status`.
    pub fn below(self) -> Option<Level> {
        match self {
            Level::Status => None,
            Level::Read => Some(Level::Status),
            Level::Write => Some(Level::Read),
            Level::Admin => Some(Level::Write),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that isn't one of the four levels (core answers it as an
/// invalid argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLevel(String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?}: use one of status, read, write, admin",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

/// Levels appear in the config (`login_level`) as their names.
impl<'de> serde::Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
