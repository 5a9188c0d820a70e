//! What a command or the server can fail with, each a message for the
//! operator naming the thing and the fix.

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Fail {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] roster_core::Error),
    #[error("certificates: {0}")]
    Pki(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{0}")]
    Usage(String),
}

impl Fail {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Fail {
        let what = what.into();
        move |error| Fail::Io { what, error }
    }

    pub fn pki(error: impl std::fmt::Display) -> Fail {
        Fail::Pki(error.to_string())
    }
}
