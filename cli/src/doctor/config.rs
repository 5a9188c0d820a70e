//! `rosterd.toml`, read and judged by the code rosterd reads it with
//! (`roster-hostconfig`): an unknown key, a wrong type, a bad duration or
//! any value rosterd would refuse fails here with rosterd's own words.
//! When the config can't be used, the other checks run with DESIGN.md's
//! defaults, and say so.

use super::Finding;
use roster_hostconfig::ConfigError;
use std::path::Path;

pub use roster_hostconfig::{Config, DEFAULT_PATH};

/// Reads the config at `path`: the config to check with (the defaults when
/// it can't be used) and the finding about the file itself.
pub fn load(path: &Path) -> (Config, Finding) {
    let shown = path.display();
    let failed =
        |message: String, fix: String| (Config::default(), Finding::fail("config", message, fix));
    match Config::load(path) {
        Ok(config) => (config, Finding::ok("config", format!("{shown} read"))),
        Err(ConfigError::Missing(_)) => failed(
            format!(
                "{shown} is missing (rosterd won't start without it); checking with the defaults"
            ),
            "reinstall the roster package, or copy its rosterd.toml there".into(),
        ),
        Err(e @ ConfigError::TooLarge(_)) => {
            failed(e.to_string(), "point --config at rosterd.toml".into())
        }
        Err(e @ ConfigError::Unreadable { .. }) => failed(
            format!("{e}; checking with the defaults"),
            "run with sudo".into(),
        ),
        // rosterd's own sentence ("PATH: problem; problem"), word for word.
        Err(e) => failed(
            format!("{e}; checking with the defaults"),
            format!(
                "correct it (rosterd --check-config --config {shown} says what rosterd thinks)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_stand_for_what_is_not_set() {
        let config = parse("environment = \"prod\"\n[argon2]\nmemory_kib = 1024\n").unwrap();
        assert_eq!(
            config,
            Config {
                environment: "prod".into(),
                argon2: roster_hostconfig::Argon2Config {
                    memory_kib: 1024,
                    ..Default::default()
                },
                ..Config::default()
            }
        );
    }

    #[test]
    fn the_keys_the_doctor_needs_are_read() {
        let config = parse(
            "database = \"/srv/r.db\"\nuid_min = 5000000\nadmin_group = \"ops\"\nadmin_gid = 4999999\n",
        )
        .unwrap();
        assert_eq!(config.database, PathBuf::from("/srv/r.db"));
        assert_eq!(config.uid_min, 5_000_000);
        assert_eq!(config.admin_group, "ops");
        assert_eq!(config.admin_gid, 4_999_999);
    }

    #[test]
    fn wrong_types_and_bad_toml_are_named() {
        let err = parse("uid_min = \"1\"\ndatabase = 3\nadmin_gid = -1\n").unwrap_err();
        assert!(err.contains("`uid_min` should be a number"), "{err}");
        assert!(err.contains("`database` should be a string"), "{err}");
        assert!(err.contains("`admin_gid` = -1"), "{err}");
        assert!(parse("database = ").unwrap_err().contains("not valid TOML"));
    }

    #[test]
    fn what_rosterd_refuses_the_doctor_refuses() {
        // The doctor once read only the keys it needed and let an unknown
        // key, a bad duration or an out-of-range value pass.
        for (text, key) in [
            ("databse = \"/x\"\n", "`databse`"),
            ("[lockout]\nwindow = \"15 minutes\"\n", "window"),
            ("[argon2]\nmemory_kib = 1\n", "memory_kib"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text:?}: {err}");
        }
    }
}
