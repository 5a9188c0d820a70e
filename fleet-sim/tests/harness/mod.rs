//! Real `roster-controller` processes over one store for the scale
//! scenarios and the bench: started, SIGKILLed and restarted on the same
//! ports (hosts keep their controller lists), join tokens made in bulk,
//! and core's rules on the store for the writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::clock::{Clock, SystemClock};
use roster_core::level::Level;
use roster_core::model::{NewUser, Role};
use roster_core::store::Backend;
use roster_core::{Actor, Roster, Secret};
use roster_fleet_agent::JoinRequest;
use roster_fleet_agent::protocol::LocalIds;
use roster_fleet_sim::{CachedState, HostState};
use roster_store_postgres::PgStore;
use roster_store_postgres::fleet::join_tokens::JoinTokenRow;
use roster_store_postgres::test_server::TestServer;
use roster_store_postgres::test_tier::TestTier;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The store every scenario runs on: the HA tier issue 18 asks for (3
/// etcd, 3 Patroni-managed PostgreSQL 15, synchronous replication; a
/// tier of its own, stopped when the fleet goes) and a fresh database on
/// it (NOTIFY is per database), or with `ROSTER_SIM_PLAIN_STORE=1` a
/// database on the plain shared test server (quicker to start, for
/// benching the controller alone). `None` (skipped, loudly) without
/// PostgreSQL 15, etcd or Patroni.
pub fn store(name: &str) -> Option<(Option<TestTier>, String)> {
    if std::env::var_os("ROSTER_SIM_PLAIN_STORE").is_some_and(|v| v == "1") {
        return Some((None, TestServer::shared()?.conninfo_for(name)));
    }
    let tier = TestTier::start()?;
    let conninfo = tier.conninfo_for(name);
    Some((Some(tier), conninfo))
}

/// The controller binary: `ROSTER_CONTROLLER_BIN`, else the one cargo
/// built beside this test or bench.
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ROSTER_CONTROLLER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/roster-controller
    let built = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("roster-controller");
    assert!(
        built.exists(),
        "{} is missing: run `cargo build -p roster-controller` first (or set ROSTER_CONTROLLER_BIN)",
        built.display()
    );
    built
}

/// A port free now on loopback (the controllers keep theirs across
/// restarts, as a real deployment's do).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `[limits]` the scale runs use: the product's, but for the
/// accept rate, which defaults to 200 a second (10,000 hosts could not
/// connect within 20 s at that rate); `ROSTER_SIM_ACCEPT_RATE` and
/// `ROSTER_SIM_ACCEPT_BURST` change it.
pub fn scale_limits() -> String {
    let rate = std::env::var("ROSTER_SIM_ACCEPT_RATE").unwrap_or_else(|_| "2000".into());
    let burst = std::env::var("ROSTER_SIM_ACCEPT_BURST").unwrap_or_else(|_| "2000".into());
    format!("accept_rate = {rate}\naccept_burst = {burst}\n")
}

/// One controller replica: its config (its own ports) and its process.
pub struct Replica {
    pub config: PathBuf,
    pub api: String,
    pub child: Option<Child>,
}

/// `count` controller replicas over one store, sharing the CA and the
/// server certificate (`init` once); every host's controller list names
/// them all.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub conninfo: String,
    pub replicas: Vec<Replica>,
    /// `SHA256:…` of the CA.
    pub fingerprint: String,
    /// The store tier, stopped after the controllers (fields drop after
    /// `Drop::drop`, in order: this one last).
    tier: Option<TestTier>,
}

impl Fleet {
    pub fn start(name: &str, count: usize, limits: &str) -> Option<Fleet> {
        // Before the controllers start: they inherit it.
        roster_fleet_sim::raise_open_files_limit();
        let (tier, conninfo) = store(name)?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        let apis: Vec<String> = (0..count)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let urls: Vec<String> = apis
            .iter()
            .map(|api| format!("\"https://{api}\""))
            .collect();
        let replicas = apis
            .iter()
            .enumerate()
            .map(|(index, api)| {
                let config = dir.path().join(format!("controller-{index}.toml"));
                std::fs::write(
                    &config,
                    format!(
                        r#"
[store]
conninfo = "{conninfo}"
[listen]
api = "{api}"
metrics = "127.0.0.1:0"
public_urls = [{urls}]
[tls]
ca_dir = "{dir}/ca"
server_cert = "{dir}/server.crt"
server_key = "{dir}/server.key"
server_names = ["localhost", "127.0.0.1"]
[limits]
{limits}
[argon2]
memory_kib = 64
iterations = 1
"#,
                        urls = urls.join(", "),
                        dir = dir.path().display()
                    ),
                )
                .unwrap();
                Replica {
                    config,
                    api: api.clone(),
                    child: None,
                }
            })
            .collect();
        let mut fleet = Fleet {
            dir,
            conninfo,
            replicas,
            fingerprint: String::new(),
            tier,
        };
        let init = fleet.command_with_stdin(
            &["init", "--admin", "alice", "--password-stdin"],
            "a long password\n",
        );
        assert!(
            init.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let printed = fleet.command(&["ca", "fingerprint"]);
        assert!(printed.status.success());
        fleet.fingerprint = String::from_utf8_lossy(&printed.stdout)
            .split_whitespace()
            .find(|word| word.starts_with("SHA256:"))
            .unwrap()
            .to_string();
        for index in 0..count {
            fleet.serve(index);
        }
        Some(fleet)
    }

    pub fn url(&self, index: usize) -> String {
        format!("https://{}", self.replicas[index].api)
    }

    pub fn command(&self, args: &[&str]) -> std::process::Output {
        self.command_with_stdin(args, "")
    }

    pub fn command_with_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&self.replicas[0].config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// Starts replica `index` (again) and waits until it listens.
    pub fn serve(&mut self, index: usize) {
        let replica = &mut self.replicas[index];
        assert!(replica.child.is_none(), "replica {index} runs already");
        let started = Instant::now();
        let mut child = loop {
            let mut child = Command::new(bin())
                .arg("--config")
                .arg(&replica.config)
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let (sender, receiver) = std::sync::mpsc::channel();
            let tag = format!("[controller {index}]");
            std::thread::spawn(move || {
                let mut sent = false;
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if !sent && line.contains("serving hosts on") {
                        let _ = sender.send(());
                        sent = true;
                    } else if !sent || !quiet(&line) {
                        eprintln!("{tag} {line}");
                    }
                }
            });
            if receiver.recv_timeout(Duration::from_secs(60)).is_ok() {
                break child;
            }
            // Its port may still be held a moment after a SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "controller {index} does not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = child.stdin.take();
        replica.child = Some(child);
    }

    /// SIGKILL of replica `index` (no goodbye to its hosts).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.replicas[index].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn pid(&self, index: usize) -> u32 {
        self.replicas[index].child.as_ref().unwrap().id()
    }

    /// `count` join tokens for `environment`, made straight in the store
    /// in one transaction (as `token create` makes each: its SHA-256
    /// stored, the whole string handed out once).
    pub fn tokens(&self, environment: &str, count: usize) -> Vec<String> {
        let mut store = PgStore::open(&self.conninfo).unwrap();
        let now = SystemClock.now();
        let issued: Vec<_> = (0..count)
            .map(|_| roster_core::credential::issue().unwrap())
            .collect();
        store
            .fleet_write(|tx| {
                for token in &issued {
                    tx.insert_join_token(&JoinTokenRow {
                        public_id: token.id.clone(),
                        hash: token.hash.clone(),
                        environment: environment.to_string(),
                        created: now,
                        expires: now + 3600,
                        created_by: "root".into(),
                        used: None,
                        used_by: None,
                    })?;
                }
                Ok(())
            })
            .unwrap();
        issued
            .iter()
            .map(|token| token.full.expose().to_string())
            .collect()
    }

    /// One enrollment request per token, through replica 0, hosts named
    /// `PREFIX-N`.
    pub fn join_requests(&self, tokens: Vec<String>, prefix: &str) -> Vec<JoinRequest> {
        tokens
            .into_iter()
            .enumerate()
            .map(|(index, token)| JoinRequest {
                url: self.url(0),
                ca_fingerprint: self.fingerprint.clone(),
                join_token: zeroize::Zeroizing::new(token),
                hostname: format!("{prefix}-{index}"),
                local: LocalIds::default(),
                standalone: None,
            })
            .collect()
    }

    /// core's rules on the store: what an admin's change through a
    /// controller commits.
    pub fn roster(&self) -> Roster {
        roster_on(&self.conninfo)
    }

    /// The store's change head (the newest seq).
    pub fn change_head(&self) -> i64 {
        let mut store = PgStore::open(&self.conninfo).unwrap();
        store.fleet_read(|tx| tx.change_head()).unwrap()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for index in 0..self.replicas.len() {
            if let Some(mut child) = self.replicas[index].child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Lines a controller prints per host failure (thousands in a storm).
fn quiet(line: &str) -> bool {
    line.contains("handshake") || line.contains("connection")
}

/// core's rules on a store, with cheap argon2 (the scale runs measure
/// the feed, not the hashing).
pub fn roster_on(conninfo: &str) -> Roster {
    let store = PgStore::open(conninfo).unwrap();
    let config = roster_core::Config {
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

/// A `user`-role user with a password and `level` in `environment`.
pub fn create_user(roster: &mut Roster, name: &str, environment: &str, level: Level) {
    use roster_core::flows::PasswordRequest;
    let hasher = roster_core::password::Hasher::new(&roster.config().argon2).unwrap();
    let request = PasswordRequest::create(
        NewUser {
            name: name.into(),
            display_name: None,
            role: Some(Role::User),
            home: None,
            shell: None,
        },
        Secret::new("a long password"),
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

/// Every user the store holds, by uid: name and state, as each host's
/// cache should hold them (hosts receive every user's entry).
pub fn store_users(conninfo: &str) -> std::collections::BTreeMap<u32, (String, CachedState)> {
    roster_on(conninfo)
        .list_users(&Actor::Root, true)
        .unwrap()
        .into_iter()
        .map(|user| {
            (
                user.uid,
                (user.name.clone(), CachedState::of(user.state.as_str())),
            )
        })
        .collect()
}

/// Whether `host` holds exactly `expected` (uids, names, states).
pub fn cache_equals(
    host: &HostState,
    expected: &std::collections::BTreeMap<u32, (String, CachedState)>,
) -> bool {
    host.users.len() == expected.len()
        && expected.iter().all(|(uid, (name, state))| {
            host.users
                .get(uid)
                .is_some_and(|cached| &*cached.name == name && cached.state == *state)
        })
}

/// `count` writers, each on a connection of its own, committing for
/// `run`: each step creates a user (a change no later one overwrites,
/// so a host that lost one ends without that user) or suspends or
/// enables one of its own. Answers each writer's number of commits.
pub fn run_writers(conninfo: &str, prefix: &str, count: usize, run: Duration) -> Vec<usize> {
    let deadline = Instant::now() + run;
    let writers: Vec<_> = (0..count)
        .map(|writer| {
            let conninfo = conninfo.to_string();
            let prefix = prefix.to_string();
            std::thread::spawn(move || {
                let mut roster = roster_on(&conninfo);
                let mut mine: Vec<String> = Vec::new();
                let mut commits = 0;
                while Instant::now() < deadline {
                    if commits % 3 == 0 || mine.is_empty() {
                        let name = format!("{prefix}{writer}x{commits}");
                        create_user(&mut roster, &name, "default", Level::Write);
                        mine.push(name);
                    } else {
                        let name = &mine[commits % mine.len()];
                        if commits % 2 == 0 {
                            roster.suspend_user(&Actor::Root, name).unwrap();
                        } else {
                            roster.enable_user(&Actor::Root, name).unwrap();
                        }
                    }
                    commits += 1;
                }
                commits
            })
        })
        .collect();
    writers.into_iter().map(|w| w.join().unwrap()).collect()
}
