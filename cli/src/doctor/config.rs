//! The keys of `rosterd.toml` the doctor needs (paths, the id range, the
//! admin group), with DESIGN.md's defaults.
//!
//! rosterd is the judge of the whole file (unknown keys, durations, every
//! rule): `rosterd --check-config` says what it thinks. The doctor reads
//! only what it checks, and still reports a key of the wrong type, since a
//! default used in its place would check the wrong thing.

use super::Finding;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/roster/rosterd.toml";
const MAX_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub database: PathBuf,
    pub nss_cache: PathBuf,
    pub uid_min: u32,
    pub uid_max: u32,
    pub admin_group: String,
    pub admin_gid: u32,
    pub passwd_file: PathBuf,
    pub group_file: PathBuf,
    pub login_defs: PathBuf,
    pub subuid_file: PathBuf,
    pub subgid_file: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database: "/var/lib/roster/roster.db".into(),
            nss_cache: "/var/cache/roster/nss.cache".into(),
            uid_min: 1_879_048_193,
            uid_max: 1_895_825_407,
            admin_group: "roster-admins".into(),
            admin_gid: 1_879_048_192,
            passwd_file: "/etc/passwd".into(),
            group_file: "/etc/group".into(),
            login_defs: "/etc/login.defs".into(),
            subuid_file: "/etc/subuid".into(),
            subgid_file: "/etc/subgid".into(),
        }
    }
}

/// The config from `text`; the defaults stand for what it doesn't set.
pub fn parse(text: &str) -> Result<Config, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
    let mut config = Config::default();
    let mut bad = Vec::new();
    let mut path = |key: &str, slot: &mut PathBuf| match table.get(key) {
        None => {}
        Some(toml::Value::String(s)) => *slot = PathBuf::from(s),
        Some(_) => bad.push(format!("`{key}` should be a string")),
    };
    path("database", &mut config.database);
    path("nss_cache", &mut config.nss_cache);
    path("passwd_file", &mut config.passwd_file);
    path("group_file", &mut config.group_file);
    path("login_defs", &mut config.login_defs);
    path("subuid_file", &mut config.subuid_file);
    path("subgid_file", &mut config.subgid_file);
    let mut id = |key: &str, slot: &mut u32| match table.get(key) {
        None => {}
        Some(toml::Value::Integer(i)) => match u32::try_from(*i) {
            Ok(v) => *slot = v,
            Err(_) => bad.push(format!("`{key}` = {i} is not a valid id")),
        },
        Some(_) => bad.push(format!("`{key}` should be a number")),
    };
    id("uid_min", &mut config.uid_min);
    id("uid_max", &mut config.uid_max);
    id("admin_gid", &mut config.admin_gid);
    match table.get("admin_group") {
        None => {}
        Some(toml::Value::String(s)) => config.admin_group = s.clone(),
        Some(_) => bad.push("`admin_group` should be a string".to_owned()),
    }
    if bad.is_empty() {
        Ok(config)
    } else {
        Err(bad.join("; "))
    }
}

/// Reads the config at `path`: the config to check with (the defaults when
/// it can't be read) and the finding about the file itself.
pub fn load(path: &Path) -> (Config, Finding) {
    let shown = path.display();
    let text = match super::accounts::read(path) {
        Ok(Some(text)) if text.len() as u64 <= MAX_BYTES => text,
        Ok(Some(_)) => {
            return (
                Config::default(),
                Finding::fail(
                    "config",
                    format!("{shown} is larger than 1 MiB: is it the right file?"),
                    "point --config at rosterd.toml",
                ),
            );
        }
        Ok(None) => {
            return (
                Config::default(),
                Finding::fail(
                    "config",
                    format!(
                        "{shown} is missing (rosterd won't start without it); checking with the defaults"
                    ),
                    "reinstall the roster package, or copy its rosterd.toml there",
                ),
            );
        }
        Err(e) => {
            return (
                Config::default(),
                Finding::fail(
                    "config",
                    format!("{e}; checking with the defaults"),
                    "run with sudo",
                ),
            );
        }
    };
    match parse(&text) {
        Ok(config) => (config, Finding::ok("config", format!("{shown} read"))),
        Err(e) => (
            Config::default(),
            Finding::fail(
                "config",
                format!("{shown}: {e}; checking with the defaults"),
                format!(
                    "correct it (rosterd --check-config --config {shown} says what rosterd thinks)"
                ),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stand_for_what_is_not_set() {
        let config = parse("environment = \"prod\"\n[argon2]\nmemory_kib = 1\n").unwrap();
        assert_eq!(config, Config::default());
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
}
