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

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub conninfo: String,
    pub url: String,
    pub ca_fingerprint: String,
    pub uid_min: u32,
    pub uid_max: u32,
    serving: Option<Child>,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Fleet {
    /// None (skipped, or a failure under ROSTER_TESTS_REQUIRE_ALL) where
    /// PostgreSQL can't run.
    pub fn start(name: &str) -> Option<Fleet> {
        let server = TestServer::shared()?;
        let conninfo = server.conninfo_for(name);
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (uid_min, uid_max) = next_uid_block();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        std::fs::write(
            dir.path().join("controller.toml"),
            format!(
                r#"uid_min = {uid_min}
uid_max = {uid_max}
[store]
conninfo = "{conninfo}"
[listen]
api = "127.0.0.1:{port}"
metrics = "127.0.0.1:0"
public_urls = ["https://127.0.0.1:{port}"]
[tls]
ca_dir = "{dir}/ca"
server_cert = "{dir}/server.crt"
server_key = "{dir}/server.key"
server_names = ["localhost", "127.0.0.1"]
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
        let mut fleet = Fleet {
            dir,
            conninfo,
            url: format!("https://127.0.0.1:{port}"),
            ca_fingerprint: String::new(),
            uid_min,
            uid_max,
            serving: None,
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
        fleet.serve();
        let mut roster = fleet.roster();
        roster.add_environment(&Actor::Root, "prod").unwrap();
        Some(fleet)
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

    /// `roster-controller serve`, waited for until it listens.
    pub fn serve(&mut self) {
        let mut child = Command::new(binary("roster-controller"))
            .arg("--config")
            .arg(self.config())
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
                eprintln!("[controller] {line}");
            }
        });
        receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the controller announces where it listens");
        self.serving = Some(child);
    }

    /// SIGKILL of `serve` (hosts see no controller).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.serving.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
        let mut roster = self.roster();
        let hasher = roster_core::password::Hasher::new(&roster.config().argon2).unwrap();
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
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
