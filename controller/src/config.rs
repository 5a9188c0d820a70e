//! `/etc/roster/controller.toml`: every key with its default. Unknown
//! keys and values of the wrong type are refused naming the key (a typo
//! never falls back to a default), and a config that parses is checked
//! for what can't work ([`ControllerConfig::validate`]) before anything
//! starts. `roster-controller --check-config` runs exactly that.

use roster_core::config::{Argon2Config, LockoutConfig, PasswordConfig, RegistrationConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/etc/roster/controller.toml";

/// A config is a few hundred bytes: anything bigger is a mistake.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: can't read the controller's config: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: the config is larger than 1 MiB: is it the right file?")]
    TooLarge { path: PathBuf },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    pub store: StoreConfig,
    pub listen: ListenConfig,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    /// How long hosts' reports and the audit rows are kept.
    #[serde(deserialize_with = "duration")]
    pub report_retention: Duration,
    /// uids the controller hands out, fleet-wide (never reused).
    pub uid_min: u32,
    pub uid_max: u32,
    /// The group every host's NSS shows with the admins who may log in
    /// there (hosts take it, with the uid range, at enrollment).
    pub admin_group: String,
    pub admin_gid: u32,
    pub home_base: PathBuf,
    pub shell: PathBuf,
    pub argon2: Argon2Config,
    pub password: PasswordConfig,
    /// The controller's own lockout for online checks, per user and
    /// reporting host (`attempts`) and per user over all hosts
    /// (`remote_attempts`).
    pub lockout: LockoutConfig,
    pub registration: RegistrationConfig,
    /// The key that seals secrets at rest (DESIGN.md "Secrets"); None:
    /// `secrets.key` beside the CA key, in `tls.ca_dir`. Made 0600 by the
    /// first `roster secrets add` while no secret exists; every replica
    /// needs a copy, as of the CA key.
    pub secrets_key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// A libpq connection string; several hosts with
    /// `target_session_attrs=read-write` for an HA store tier;
    /// `sslmode=verify-full sslrootcert=FILE` for TLS (the only TLS mode
    /// taken, see roster-store-postgres's `StoreConninfo`).
    pub conninfo: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// The hosts' API: HTTPS with mutual TLS.
    pub api: SocketAddr,
    /// Prometheus text over plain HTTP, on its own listener.
    pub metrics: SocketAddr,
    /// The URLs enrolled hosts are told to try, in order: every
    /// controller replica.
    pub public_urls: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA's folder: its key (0600) and certificates, written by `init`.
    pub ca_dir: PathBuf,
    /// This replica's server certificate and key, written by `init`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The names hosts reach this replica by (DNS names or addresses):
    /// the server certificate's names.
    pub server_names: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// New connections accepted per second, beyond `accept_burst`.
    pub accept_rate: u32,
    pub accept_burst: u32,
    /// How many changes the in-memory window keeps; an older cursor gets
    /// 410 and the full snapshot.
    pub window_changes: usize,
    /// Full snapshots built or being sent at once; more requests queue.
    pub snapshots_at_once: usize,
    /// Snapshot requests waiting for a turn; beyond, 429 (retry later).
    pub snapshot_queue: usize,
    /// The longest a snapshot request waits for its turn before its 429.
    #[serde(deserialize_with = "duration")]
    pub snapshot_queue_wait: Duration,
    /// The longest one snapshot may take to send: a host reading slower
    /// loses it (and its turn goes to the next).
    #[serde(deserialize_with = "duration")]
    pub snapshot_send_timeout: Duration,
    /// Requests a second each host may make, beyond `host_burst`.
    pub host_rate: u32,
    pub host_burst: u32,
    /// A connection with no request for this long (and a request whose
    /// headers take this long) is closed.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// How often change-log rows no replica needs any more are pruned.
    #[serde(deserialize_with = "duration")]
    pub change_log_prune_every: Duration,
    /// The longest a long poll waits before its empty answer.
    #[serde(deserialize_with = "duration")]
    pub long_poll: Duration,
    /// argon2 verifies each host may have running at once at the
    /// controller (online logins, codes, current passwords).
    pub argon2_per_host: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        let host = roster_core::Config::default();
        ControllerConfig {
            store: StoreConfig::default(),
            listen: ListenConfig::default(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            report_retention: Duration::from_secs(90 * 24 * 3600),
            uid_min: host.uid_min,
            uid_max: host.uid_max,
            admin_group: host.admin_group,
            admin_gid: host.admin_gid,
            home_base: host.home_base,
            shell: host.shell,
            argon2: host.argon2,
            password: host.password,
            lockout: host.lockout,
            registration: host.registration,
            secrets_key_file: None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            conninfo: "host=/run/postgresql dbname=roster user=roster".into(),
        }
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            api: SocketAddr::from(([0, 0, 0, 0], 8443)),
            metrics: SocketAddr::from(([127, 0, 0, 1], 9464)),
            public_urls: Vec::new(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_dir: PathBuf::from("/var/lib/roster-controller/ca"),
            server_cert: PathBuf::from("/var/lib/roster-controller/server.crt"),
            server_key: PathBuf::from("/var/lib/roster-controller/server.key"),
            server_names: Vec::new(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            accept_rate: 500,
            accept_burst: 2000,
            window_changes: 100_000,
            snapshots_at_once: 4,
            snapshot_queue: 2000,
            snapshot_queue_wait: Duration::from_secs(60),
            snapshot_send_timeout: Duration::from_secs(60),
            host_rate: 20,
            host_burst: 200,
            idle_timeout: Duration::from_secs(60),
            change_log_prune_every: Duration::from_secs(3600),
            long_poll: Duration::from_secs(roster_fleet_protocol::LONG_POLL_MAX_SECS),
            argon2_per_host: 2,
        }
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    roster_core::config::parse_duration(text.trim()).map_err(serde::de::Error::custom)
}

impl ControllerConfig {
    pub fn load(path: &Path) -> Result<ControllerConfig, ConfigError> {
        use std::io::Read;
        let unreadable = |e: std::io::Error| ConfigError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(unreadable)?
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(unreadable)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        ControllerConfig::parse(&text).map_err(|problem| ConfigError::Invalid {
            path: path.to_owned(),
            problem,
        })
    }

    /// Parse and check; the problem names the key.
    pub fn parse(text: &str) -> Result<ControllerConfig, String> {
        let config: ControllerConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// What parses but can't work, every problem at once.
    pub fn validate(&self) -> Result<(), String> {
        // The keys a host's configuration has too (uid range, admin
        // group, argon2, password, lockout, registration): the hosts' own
        // rules, so the two can't drift.
        let mut problems = match self.rules().validate() {
            Err(roster_core::config::ConfigError::Invalid { problems, .. }) => problems,
            Err(other) => vec![other.to_string()],
            Ok(()) => Vec::new(),
        };
        if self.limits.accept_rate == 0 || self.limits.accept_burst == 0 {
            problems.push("limits.accept_rate and limits.accept_burst must be above 0".into());
        }
        if self.limits.window_changes == 0 || self.limits.snapshots_at_once == 0 {
            problems
                .push("limits.window_changes and limits.snapshots_at_once must be above 0".into());
        }
        if self.limits.long_poll.is_zero()
            || self.limits.long_poll.as_secs() > roster_fleet_protocol::LONG_POLL_MAX_SECS
        {
            problems.push(format!(
                "limits.long_poll must be between 1s and {}s (hosts time out after that)",
                roster_fleet_protocol::LONG_POLL_MAX_SECS
            ));
        }
        if self.limits.snapshot_queue_wait.is_zero() || self.limits.snapshot_send_timeout.is_zero()
        {
            problems.push(
                "limits.snapshot_queue_wait and limits.snapshot_send_timeout must be above 0"
                    .into(),
            );
        }
        if self.limits.host_rate == 0 || self.limits.host_burst == 0 {
            problems.push("limits.host_rate and limits.host_burst must be above 0".into());
        }
        if self.limits.change_log_prune_every < Duration::from_secs(1) {
            problems.push("limits.change_log_prune_every must be at least 1s".into());
        }
        // Counted between requests only: a long poll waiting isn't idle.
        if self.limits.idle_timeout.is_zero() {
            problems.push("limits.idle_timeout must be above 0".into());
        }
        if self.limits.argon2_per_host == 0 {
            problems.push("limits.argon2_per_host must be above 0".into());
        }
        if self.report_retention < Duration::from_secs(24 * 3600) {
            problems.push("report_retention must be at least 1d".into());
        }
        for url in &self.listen.public_urls {
            if !url.starts_with("https://") {
                problems.push(format!(
                    "listen.public_urls: {url:?} must be an https:// URL"
                ));
            }
        }
        // Port 0 (any free port, for tests) can't collide.
        if self.listen.api == self.listen.metrics && self.listen.api.port() != 0 {
            problems.push("listen.api and listen.metrics must differ".into());
        }
        // The connection string as the store reads it: a weak sslmode, a
        // missing or unreadable sslrootcert are said here, by
        // --check-config, not at the first connection.
        if let Err(e) = roster_store_postgres::StoreConninfo::parse(&self.store.conninfo) {
            problems.push(format!("store.conninfo: {e}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Where the secrets key is: `secrets_key_file`, or `secrets.key` in
    /// the CA's folder.
    pub fn secrets_key_path(&self) -> PathBuf {
        self.secrets_key_file
            .clone()
            .unwrap_or_else(|| self.tls.ca_dir.join("secrets.key"))
    }

    /// The core config the rules run with on the controller: its uid
    /// range, password, lockout and registration settings; nothing of a
    /// host's (no local files: hosts report their ids).
    pub fn rules(&self) -> roster_core::Config {
        roster_core::Config {
            uid_min: self.uid_min,
            uid_max: self.uid_max,
            admin_group: self.admin_group.clone(),
            admin_gid: self.admin_gid,
            home_base: self.home_base.clone(),
            shell: self.shell.clone(),
            argon2: self.argon2.clone(),
            password: self.password.clone(),
            lockout: self.lockout.clone(),
            registration: self.registration.clone(),
            secrets_key_file: Some(self.secrets_key_path()),
            ..roster_core::Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_is_every_default() {
        assert_eq!(
            ControllerConfig::parse("").unwrap(),
            ControllerConfig::default()
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_naming_the_key() {
        let unknown = ControllerConfig::parse("[store]\nconn_info = \"x\"\n").unwrap_err();
        assert!(unknown.contains("conn_info"), "{unknown}");
        let top = ControllerConfig::parse("windw = 3\n").unwrap_err();
        assert!(top.contains("windw"), "{top}");
        let typed = ControllerConfig::parse("[limits]\naccept_rate = \"fast\"\n").unwrap_err();
        assert!(typed.contains("accept_rate"), "{typed}");
    }

    #[test]
    fn a_store_conninfo_that_cant_be_safe_is_refused_by_check_config() {
        let weak = ControllerConfig::parse(
            "[store]\nconninfo = \"host=db1 password=s3cret sslmode=require\"\n",
        )
        .unwrap_err();
        assert!(weak.contains("store.conninfo: sslmode=require"), "{weak}");
        assert!(weak.contains("write sslmode=verify-full"), "{weak}");
        assert!(!weak.contains("s3cret"), "{weak}");
        let missing = ControllerConfig::parse(
            "[store]\nconninfo = \"host=db1 sslmode=verify-full sslrootcert=/nonexistent/store-ca.crt\"\n",
        )
        .unwrap_err();
        assert!(
            missing.contains("can't read sslrootcert /nonexistent/store-ca.crt"),
            "{missing}"
        );
    }

    #[test]
    fn values_that_cant_work_are_refused() {
        for (text, named) in [
            ("uid_min = 10\nuid_max = 5\n", "uid_min"),
            ("[limits]\nlong_poll = \"2m\"\n", "long_poll"),
            ("report_retention = \"1h\"\n", "report_retention"),
            (
                "[listen]\npublic_urls = [\"http://c1:8443\"]\n",
                "public_urls",
            ),
            (
                "[listen]\napi = \"127.0.0.1:1\"\nmetrics = \"127.0.0.1:1\"\n",
                "listen.metrics",
            ),
        ] {
            let problem = ControllerConfig::parse(text).unwrap_err();
            assert!(problem.contains(named), "{text}: {problem}");
        }
    }

    #[test]
    fn the_secrets_key_is_beside_the_ca_key_unless_named() {
        let config = ControllerConfig::parse("[tls]\nca_dir = \"/srv/ca\"\n").unwrap();
        assert_eq!(config.secrets_key_path(), Path::new("/srv/ca/secrets.key"));
        assert_eq!(
            config.rules().secrets_key_file.as_deref(),
            Some(Path::new("/srv/ca/secrets.key"))
        );
        let named = ControllerConfig::parse("secrets_key_file = \"/etc/k\"\n").unwrap();
        assert_eq!(named.secrets_key_path(), Path::new("/etc/k"));
    }

    #[test]
    fn durations_read_as_rosterd_reads_them() {
        let config =
            ControllerConfig::parse("report_retention = \"30d\"\n[limits]\nlong_poll = \"10s\"\n")
                .unwrap();
        assert_eq!(config.report_retention, Duration::from_secs(30 * 86400));
        assert_eq!(config.limits.long_poll, Duration::from_secs(10));
    }
}
