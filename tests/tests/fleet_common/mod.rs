//! A fleet for the host tests: a private PostgreSQL (store-postgres's
//! test server), a real `roster-controller` (init, serve, token create,
//! hosts revoke) on a loopback port, and core's rules on its store for
//! what an admin's change through the controller does.

#![allow(dead_code)]

use roster_core::clock::SystemClock;
use roster_core::flows::PasswordRequest;
use roster_core::level::Level;
use roster_core::model::{NewUser, Role};
use roster_core::store::Backend;
use roster_core::{Actor, Roster, Secret};
use roster_store_postgres::PgStore;
use roster_store_postgres::test_server::TestServer;
use roster_tests::{binary, next_uid_block};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Every fleet user's password in these tests.
pub const PASSWORD: &str = "a long fleet password";

pub mod netns;

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub conninfo: String,
    /// The first replica's URL (where hosts join).
    pub url: String,
    /// Every replica's URL, in `public_urls` order.
    pub urls: Vec<String>,
    pub ca_fingerprint: String,
    pub uid_min: u32,
    pub uid_max: u32,
    /// Each replica's `serve`, while it runs.
    serving: Vec<Option<Child>>,
}

/// Where the controllers listen and how many replicas serve the store.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// The address every replica listens on (each on a port of its own),
    /// and the name its server certificate carries.
    pub listen_ip: String,
    /// `serve` replicas of the one store (`init`, then `init --replica`).
    pub replicas: usize,
    /// The fleet's uid range; None: a harness block (32 uids).
    pub uids: Option<(u32, u32)>,
    /// The fleet's admin group (name, gid); None: the default.
    pub admin_group: Option<(String, u32)>,
    /// The store: None, a database of its own on the shared test server;
    /// or this connection string (a `TestTier`'s multi-host one).
    pub conninfo: Option<String>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            listen_ip: "127.0.0.1".into(),
            replicas: 1,
            uids: None,
            admin_group: None,
            conninfo: None,
        }
    }
}

fn free_port(ip: &str) -> u16 {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

impl Fleet {
    /// None (skipped, or a failure under ROSTER_TESTS_REQUIRE_ALL) where
    /// PostgreSQL can't run.
    pub fn start(name: &str) -> Option<Fleet> {
        Fleet::start_with(name, FleetOptions::default())
    }

    /// As [`Fleet::start`], with `options.replicas` controllers on
    /// `options.listen_ip`, each listing every replica in `public_urls`.
    pub fn start_with(name: &str, options: FleetOptions) -> Option<Fleet> {
        let conninfo = match &options.conninfo {
            Some(conninfo) => conninfo.clone(),
            None => TestServer::shared()?.conninfo_for(name),
        };
        let dir = tempfile::tempdir().unwrap();
        let ip = options.listen_ip.as_str();
        let ports: Vec<u16> = (0..options.replicas.max(1))
            .map(|_| free_port(ip))
            .collect();
        let urls: Vec<String> = ports.iter().map(|p| format!("https://{ip}:{p}")).collect();
        let public_urls = urls
            .iter()
            .map(|u| format!("{u:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (uid_min, uid_max) = options.uids.unwrap_or_else(next_uid_block);
        let admin_group = options
            .admin_group
            .as_ref()
            .map(|(name, gid)| format!("admin_group = {name:?}\nadmin_gid = {gid}\n"))
            .unwrap_or_default();
        for (replica, port) in ports.iter().enumerate() {
            let suffix = replica_suffix(replica);
            std::fs::create_dir(dir.path().join(format!("ca{suffix}"))).unwrap();
            std::fs::write(
                dir.path().join(format!("controller{suffix}.toml")),
                format!(
                    r#"uid_min = {uid_min}
uid_max = {uid_max}
{admin_group}[store]
conninfo = "{conninfo}"
[listen]
api = "{ip}:{port}"
metrics = "127.0.0.1:0"
public_urls = [{public_urls}]
[tls]
ca_dir = "{dir}/ca{suffix}"
server_cert = "{dir}/server{suffix}.crt"
server_key = "{dir}/server{suffix}.key"
server_names = ["localhost", "{ip}"]
[limits]
long_poll = "1s"
[argon2]
memory_kib = 64
iterations = 1
"#,
                    dir = dir.path().display()
                ),
            )
            .unwrap();
        }
        let mut fleet = Fleet {
            dir,
            conninfo,
            url: urls[0].clone(),
            urls,
            ca_fingerprint: String::new(),
            uid_min,
            uid_max,
            serving: (0..ports.len()).map(|_| None).collect(),
        };
        let init = fleet.command_with_stdin(
            &["init", "--admin", "root-admin", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(init.status.success(), "init: {}", text(&init.stderr));
        let out = text(&init.stdout);
        fleet.ca_fingerprint = out
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .unwrap_or_else(|| panic!("no CA fingerprint in\n{out}"))
            .to_string();
        let ca_key = fleet.dir.path().join("ca").join("ca.key");
        for replica in 1..fleet.serving.len() {
            let out = fleet.replica_command(
                replica,
                &[
                    "init",
                    "--replica",
                    "--ca-key",
                    &ca_key.display().to_string(),
                ],
            );
            assert!(
                out.status.success(),
                "init --replica: {}",
                text(&out.stderr)
            );
        }
        fleet.serve();
        let mut roster = fleet.roster();
        roster.add_environment(&Actor::Root, "prod").unwrap();
        Some(fleet)
    }

    /// Replica `n`'s config: `controller.toml` for the first.
    pub fn replica_config(&self, replica: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("controller{}.toml", replica_suffix(replica)))
    }

    /// `roster-controller` with replica `n`'s config.
    pub fn replica_command(&self, replica: usize, args: &[&str]) -> Output {
        Command::new(binary("roster-controller"))
            .arg("--config")
            .arg(self.replica_config(replica))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("can't run roster-controller: {e}"))
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("controller.toml")
    }

    pub fn command(&self, args: &[&str]) -> Output {
        self.command_with_stdin(args, "")
    }

    pub fn command_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(binary("roster-controller"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("can't run roster-controller: {e}"));
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// `roster-controller serve` of every replica not running, each
    /// waited for until it listens.
    pub fn serve(&mut self) {
        let stopped: Vec<usize> = (0..self.serving.len())
            .filter(|&replica| self.serving[replica].is_none())
            .collect();
        for replica in stopped {
            self.serve_replica(replica);
        }
    }

    /// Replica `n`'s `serve`, waited for until it listens.
    pub fn serve_replica(&mut self, replica: usize) {
        let mut child = Command::new(binary("roster-controller"))
            .arg("--config")
            .arg(self.replica_config(replica))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains("serving hosts on") {
                    let _ = sender.send(());
                    sent = true;
                }
                eprintln!("[controller {replica}] {line}");
            }
        });
        receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the controller announces where it listens");
        self.serving[replica] = Some(child);
    }

    /// SIGKILL of every replica's `serve` (hosts see no controller).
    pub fn kill(&mut self) {
        for replica in 0..self.serving.len() {
            self.kill_replica(replica);
        }
    }

    /// SIGKILL of replica `n`'s `serve`.
    pub fn kill_replica(&mut self, replica: usize) {
        if let Some(mut child) = self.serving[replica].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The store's change-log head: the cursor of a host that has
    /// applied everything.
    pub fn head(&self) -> i64 {
        let mut client = roster_store_postgres::test_server::connect(&self.conninfo);
        client
            .query_one("SELECT seq FROM change_head", &[])
            .unwrap()
            .get(0)
    }

    /// A join token for `environment`, printed once.
    pub fn join_token(&self, environment: &str) -> String {
        let out = self.command(&["token", "create", "--environment", environment]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    pub fn roster(&self) -> Roster {
        let store = PgStore::open(&self.conninfo).unwrap();
        let config = roster_core::Config {
            uid_min: self.uid_min,
            uid_max: self.uid_max,
            argon2: roster_core::config::Argon2Config {
                memory_kib: 64,
                iterations: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        Roster::with_backend(
            config,
            Arc::new(SystemClock),
            Box::new(store) as Box<dyn Backend>,
        )
        .unwrap()
    }

    /// A user-role user with [`PASSWORD`] and `level` in `environment`.
    pub fn create_user(&self, name: &str, environment: &str, level: Level) {
        self.create_users(&[name], environment, level);
    }

    /// As [`Fleet::create_user`] for each of `names`, one after the
    /// other on one connection (a burst of batches for the hosts).
    pub fn create_users(&self, names: &[&str], environment: &str, level: Level) {
        let mut roster = self.roster();
        let hasher = roster_core::password::Hasher::new(&roster.config().argon2).unwrap();
        for name in names {
            create_one(&mut roster, &hasher, name, environment, level);
        }
    }
}

fn create_one(
    roster: &mut Roster,
    hasher: &roster_core::password::Hasher,
    name: &str,
    environment: &str,
    level: Level,
) {
    let request = PasswordRequest::create(
        NewUser {
            name: name.into(),
            display_name: None,
            role: Some(Role::User),
            home: None,
            shell: None,
        },
        Secret::new(PASSWORD),
    )
    .unwrap();
    let plan = roster.plan_password_change(&Actor::Root, request).unwrap();
    let phc = plan
        .password_to_hash(false)
        .unwrap()
        .map(|new| hasher.hash(&new).unwrap());
    roster
        .commit_password_change(&Actor::Root, plan, false, phc)
        .unwrap();
    roster
        .grant(&Actor::Root, name, Some(environment), level)
        .unwrap();
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The file-name suffix of replica `n`'s files: none for the first.
fn replica_suffix(replica: usize) -> String {
    if replica == 0 {
        String::new()
    } else {
        format!("-{replica}")
    }
}

/// `roster hosts join` of the host `daemon` serves, the token on stdin.
pub fn join_host(
    daemon: &roster_tests::TestDaemon,
    fleet: &Fleet,
    token: &str,
    name: &str,
) -> roster_tests::Run {
    daemon
        .roster(&[
            "hosts",
            "join",
            &fleet.url,
            "--ca-fingerprint",
            &fleet.ca_fingerprint,
            "--name",
            name,
            "--token-stdin",
        ])
        .stdin(&format!("{token}\n"))
        .run()
}

/// Waits until `check` holds (a change travelling to a host), at most
/// `within`; answers how long it took.
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = std::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() < within,
            "{what}: not seen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
