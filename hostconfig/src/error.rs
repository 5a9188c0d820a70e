//! What can be wrong with a config or the host files it names.

use std::fmt;
use std::path::PathBuf;

/// Why a config can't be used. Each message names the file, key or clash
/// and says what to do; `Display` is the sentence rosterd prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The config file doesn't exist.
    Missing(PathBuf),
    /// A file (the config, or a host file it names) exists but can't be
    /// read: a silent "nothing found" would pass a check never made.
    Unreadable { path: PathBuf, reason: String },
    /// Larger than any config: most likely the wrong file.
    TooLarge(PathBuf),
    /// Read, but wrong: not TOML, unknown keys, wrong types, bad values.
    /// `file` is set when it was read from a file.
    Invalid {
        file: Option<PathBuf>,
        problems: Vec<String>,
    },
    /// Roster's ids clash with the host's (see [`crate::id_ranges`]).
    IdClash(Vec<String>),
}

impl ConfigError {
    /// An `Invalid` with one problem and no file.
    pub fn invalid(problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: None,
            problems: vec![problem.into()],
        }
    }

    /// The problems only, without the file's name (`Invalid`), or the
    /// whole sentence otherwise.
    pub fn problems(&self) -> String {
        match self {
            ConfigError::Invalid { problems, .. } => problems.join("; "),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(path) => {
                write!(
                    f,
                    "can't read the config {}: it doesn't exist",
                    path.display()
                )
            }
            ConfigError::Unreadable { path, reason } => {
                write!(f, "can't read {}: {reason}", path.display())
            }
            ConfigError::TooLarge(path) => write!(
                f,
                "the config {} is larger than 1 MiB: is it the right file?",
                path.display()
            ),
            ConfigError::Invalid { file, problems } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                f.write_str(&problems.join("; "))
            }
            ConfigError::IdClash(clashes) => write!(
                f,
                "{}; change `uid_min`/`uid_max`/`admin_gid` in the config",
                crate::id_ranges::clash_sentence(clashes)
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
