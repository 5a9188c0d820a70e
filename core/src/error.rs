//! What can go wrong, by what the caller should do about it.
//!
//! The variants map one to one onto the D-Bus errors `org.roster.Error.*`
//! (the daemon does that in one function). Every message is a sentence
//! that names the thing and, where there is one, the fix.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named user, environment, session, token or key does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this; nothing changed.
    #[error("{0}")]
    PermissionDenied(String),
    /// The input breaks a rule (name, level, size, policy); nothing changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// It exists already; nothing changed.
    #[error("{0}")]
    AlreadyExists(String),
    /// It contradicts the current state (last admin, grants left, self-suspend).
    #[error("{0}")]
    Conflict(String),
    /// Wrong password or code (counted toward the lockout).
    #[error("{0}")]
    AuthFailed(String),
    /// Locked out until the given time.
    #[error("{message}")]
    Locked {
        until: crate::clock::Timestamp,
        message: String,
    },
    /// The token was voided (password change, suspend, delete).
    #[error("{0}")]
    TokenRevoked(String),
    /// The token is past its expiry.
    #[error("{0}")]
    TokenExpired(String),
    /// The configuration file is wrong: the message names the key or clash.
    #[error("{0}")]
    Config(String),
    /// The database failed or is not one we can use (newer schema, modes).
    #[error("database: {0}")]
    Store(String),
}

/// The config or the host files it names (rosterd's startup checks).
impl From<roster_hostconfig::ConfigError> for Error {
    fn from(error: roster_hostconfig::ConfigError) -> Self {
        Error::Config(error.to_string())
    }
}

/// A level name from a caller: a bad argument, not a bad config.
impl From<roster_hostconfig::UnknownLevel> for Error {
    fn from(error: roster_hostconfig::UnknownLevel) -> Self {
        Error::InvalidArgument(error.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Store(error.to_string())
    }
}
