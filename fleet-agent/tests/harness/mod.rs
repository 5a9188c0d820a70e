//! A real `roster-controller` for the agent's tests (as the controller's
//! own tests start it: `init` on a database of its own in
//! roster-store-postgres's test server, `serve` on loopback), and an
//! in-memory [`Host`] that records what the agent did.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::clock::SystemClock;
use roster_core::level::Level;
use roster_core::model::{NewUser, Role};
use roster_core::store::Backend;
use roster_core::{Actor, Roster, Secret};
use roster_fleet_agent::protocol::HostUser;
use roster_fleet_agent::{
    AgentError, Enrollment, Host, HostError, HostKey, JoinRequest, LocalIds, Position, ReportEntry,
    SnapshotAnswer, SyncAnswer,
};
use roster_store_postgres::PgStore;
use roster_store_postgres::test_server::TestServer;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The controller binary: `ROSTER_CONTROLLER_BIN`, else the one cargo
/// built beside this test (`cargo build` builds it: the controller is a
/// default member).
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ROSTER_CONTROLLER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test> → target/debug/roster-controller
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

pub fn server() -> Option<&'static TestServer> {
    static SERVER: OnceLock<Option<TestServer>> = OnceLock::new();
    SERVER.get_or_init(TestServer::start).as_ref()
}

/// A controller on its own database: initialized, serving on loopback.
pub struct Controller {
    pub dir: tempfile::TempDir,
    pub conninfo: String,
    pub child: Option<Child>,
    /// `127.0.0.1:PORT`
    pub api: String,
    /// `SHA256:…` of its CA.
    pub fingerprint: String,
}

impl Controller {
    /// A controller whose server certificate file holds its CA after its
    /// own certificate (what a host pinning the CA needs).
    pub fn start(name: &str) -> Option<Controller> {
        Controller::start_with(name, true)
    }

    /// With `chain_holds_ca` false: the server certificate alone, as
    /// `init` writes it.
    pub fn start_with(name: &str, chain_holds_ca: bool) -> Option<Controller> {
        let server = server()?;
        let conninfo = server.conninfo_for(name);
        Some(Controller::start_on(conninfo, chain_holds_ca))
    }

    /// A controller initialized on the store at `conninfo` (e.g. a
    /// [`TestTier`](roster_store_postgres::test_tier::TestTier)'s
    /// multi-host string), serving.
    pub fn start_on(conninfo: String, chain_holds_ca: bool) -> Controller {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        write_config(dir.path(), &conninfo, "127.0.0.1:0");
        let mut controller = Controller {
            dir,
            conninfo,
            child: None,
            api: String::new(),
            fingerprint: String::new(),
        };
        let init = controller.command_with_stdin(
            &["init", "--admin", "alice", "--password-stdin"],
            "a long password\n",
        );
        assert!(
            init.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        // `init` writes the controller's certificate and then its CA; a
        // controller set up by hand may send its own certificate alone.
        if !chain_holds_ca {
            let path = controller.dir.path().join("server.crt");
            let chain = std::fs::read_to_string(&path).unwrap();
            let end = "-----END CERTIFICATE-----";
            let leaf = &chain[..chain.find(end).unwrap() + end.len()];
            std::fs::write(&path, format!("{leaf}\n")).unwrap();
        }
        let printed = controller.command(&["ca", "fingerprint"]);
        assert!(printed.status.success());
        controller.fingerprint = String::from_utf8_lossy(&printed.stdout)
            .split_whitespace()
            .find(|word| word.starts_with("SHA256:"))
            .unwrap()
            .to_string();
        controller.serve();
        controller
    }

    /// A further replica serving the same store (`init --replica` with a
    /// copy of this one's CA key), serving.
    pub fn replica(&self) -> Controller {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        write_config(dir.path(), &self.conninfo, "127.0.0.1:0");
        let mut replica = Controller {
            dir,
            conninfo: self.conninfo.clone(),
            child: None,
            api: String::new(),
            fingerprint: self.fingerprint.clone(),
        };
        let ca_key = self.dir.path().join("ca/ca.key");
        let init = replica.command(&[
            "init",
            "--replica",
            "--ca-key",
            &ca_key.display().to_string(),
        ]);
        assert!(
            init.status.success(),
            "init --replica failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        replica.serve();
        replica
    }

    /// Point this controller at another store (a restored one): its
    /// config is rewritten, keeping the port it listened on; `serve`
    /// again to use it.
    pub fn set_conninfo(&mut self, conninfo: String) {
        write_config(self.dir.path(), &conninfo, &self.api);
        self.conninfo = conninfo;
    }

    /// SIGKILL its `serve`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_config(dir: &std::path::Path, conninfo: &str, api: &str) {
    std::fs::write(
        dir.join("controller.toml"),
        format!(
            r#"
[store]
conninfo = "{conninfo}"
[listen]
api = "{api}"
metrics = "127.0.0.1:0"
public_urls = ["https://controller.test:8443"]
[tls]
ca_dir = "{dir}/ca"
server_cert = "{dir}/server.crt"
server_key = "{dir}/server.key"
server_names = ["localhost", "127.0.0.1"]
[limits]
long_poll = "5s"
window_changes = 1000
argon2_per_host = 1
[argon2]
memory_kib = 64
iterations = 1
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
}

impl Controller {
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("controller.toml")
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.api)
    }

    pub fn command(&self, args: &[&str]) -> std::process::Output {
        self.command_with_stdin(args, "")
    }

    pub fn command_with_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub fn serve(&mut self) {
        let mut child = Command::new(bin())
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
                    sender.send(line.clone()).unwrap();
                    sent = true;
                }
                eprintln!("[controller] {line}");
            }
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("the controller announces where it listens");
        let start = line.find("https://").unwrap() + "https://".len();
        self.api = line[start..].split(',').next().unwrap().to_string();
        self.child = Some(child);
    }

    pub fn join_token(&self, environment: &str) -> String {
        let out = self.command(&[
            "token",
            "create",
            "--environment",
            environment,
            "--expires",
            "1h",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn join_request(&self, token: &str, hostname: &str) -> JoinRequest {
        JoinRequest {
            url: self.url(),
            ca_fingerprint: self.fingerprint.clone(),
            join_token: zeroize::Zeroizing::new(token.to_string()),
            hostname: hostname.to_string(),
            local: LocalIds::default(),
            standalone: None,
        }
    }

    /// Enrolled in "default" as `hostname`, the controller list pointed
    /// at this controller's real address (its config names a public URL
    /// nobody listens on).
    pub fn enroll(
        &self,
        runtime: &tokio::runtime::Runtime,
        hostname: &str,
    ) -> (Enrollment, HostKey) {
        let token = self.join_token("default");
        let key = HostKey::generate().unwrap();
        let mut enrollment = runtime
            .block_on(roster_fleet_agent::enroll(
                &self.join_request(&token, hostname),
                &key,
            ))
            .unwrap();
        enrollment.controllers = vec![self.url()];
        (enrollment, key)
    }

    /// core's rules on the controller's own store.
    pub fn roster(&self) -> Roster {
        let store = PgStore::open(&self.conninfo).unwrap();
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

    pub fn create_user(&self, name: &str) {
        use roster_core::flows::PasswordRequest;
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
            .grant(&Actor::Root, name, Some("default"), Level::Read)
            .unwrap();
    }

    /// What the store kept of `host_id`'s reports.
    pub fn reports_of(&self, host_id: i64) -> Vec<String> {
        let mut store = PgStore::open(&self.conninfo).unwrap();
        store
            .fleet_read(|tx| tx.reports(Some(host_id), 0))
            .unwrap()
            .into_iter()
            .map(|row| row.body)
            .collect()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A multi-threaded runtime for the agent; the test's own thread stays
/// outside it (core's PostgreSQL client runs a runtime of its own).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What the agent did to the host, as a cache would keep it.
#[derive(Debug, Default)]
pub struct State {
    pub position: Option<Position>,
    pub users: BTreeMap<String, HostUser>,
    pub snapshots: usize,
    pub batches: usize,
    pub heartbeats: usize,
    pub revoked: usize,
    /// Not yet sent, by the host's id.
    pub pending: BTreeMap<i64, ReportEntry>,
    /// Every id `reports_sent` named, as often as it did.
    pub sent: Vec<i64>,
    pub renewed: Vec<(String, String)>,
    pub errors: Vec<String>,
    pub last_controller_time: i64,
}

#[derive(Debug, Default)]
pub struct MemoryHost {
    pub state: Mutex<State>,
}

impl MemoryHost {
    pub fn new() -> Arc<MemoryHost> {
        Arc::new(MemoryHost::default())
    }

    pub fn at(position: Position) -> Arc<MemoryHost> {
        let host = MemoryHost::default();
        host.state.lock().unwrap().position = Some(position);
        Arc::new(host)
    }

    pub fn with<T>(&self, look: impl FnOnce(&State) -> T) -> T {
        look(&self.state.lock().unwrap())
    }

    /// Waits (up to `within`) for `condition` on the state; panics with
    /// the state otherwise.
    pub fn wait_for(&self, what: &str, within: Duration, condition: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            {
                let state = self.state.lock().unwrap();
                if condition(&state) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {what} within {within:?}: {state:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Host for MemoryHost {
    fn position(&self) -> Result<Option<Position>, HostError> {
        Ok(self.state.lock().unwrap().position.clone())
    }

    fn apply_changes(&self, answer: &SyncAnswer, controller_time: i64) -> Result<(), HostError> {
        use roster_fleet_agent::protocol::HostChange;
        let mut state = self.state.lock().unwrap();
        if answer.changes.is_empty() {
            state.heartbeats += 1;
        } else {
            state.batches += 1;
        }
        for change in &answer.changes {
            match change {
                HostChange::User(user) => {
                    state.users.insert(user.name.clone(), user.clone());
                }
                HostChange::UserDeleted { uid } => state.users.retain(|_, u| u.uid != *uid),
                HostChange::Environment(_) | HostChange::Revoked => {}
            }
        }
        state.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        state.last_controller_time = controller_time;
        Ok(())
    }

    fn apply_snapshot(
        &self,
        answer: &SnapshotAnswer,
        controller_time: i64,
    ) -> Result<(), HostError> {
        let mut state = self.state.lock().unwrap();
        state.snapshots += 1;
        state.users = answer
            .users
            .iter()
            .map(|user| (user.name.clone(), user.clone()))
            .collect();
        state.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        state.last_controller_time = controller_time;
        Ok(())
    }

    fn revoked(&self) -> Result<(), HostError> {
        let mut state = self.state.lock().unwrap();
        state.revoked += 1;
        state.users.clear();
        Ok(())
    }

    fn pending_reports(&self, max: usize) -> Result<Vec<(i64, ReportEntry)>, HostError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .pending
            .iter()
            .take(max)
            .map(|(id, entry)| (*id, entry.clone()))
            .collect())
    }

    fn reports_sent(&self, ids: &[i64]) -> Result<(), HostError> {
        let mut state = self.state.lock().unwrap();
        let ids: BTreeSet<i64> = ids.iter().copied().collect();
        state.pending.retain(|id, _| !ids.contains(id));
        state.sent.extend(ids);
        Ok(())
    }

    fn certificate_renewed(
        &self,
        certificate_pem: &str,
        ca_bundle_pem: &str,
        key: &HostKey,
    ) -> Result<(), HostError> {
        let _ = ca_bundle_pem;
        self.state
            .lock()
            .unwrap()
            .renewed
            .push((certificate_pem.to_string(), key.pem().to_string()));
        Ok(())
    }

    fn unreachable(&self, error: &AgentError) {
        self.state.lock().unwrap().errors.push(error.to_string());
    }
}

/// A stand-in controller on loopback with `controller`'s server
/// certificate (so an enrolled client trusts it), answering each request
/// with what `answer` makes of its request line: a whole raw HTTP
/// response, or `None` to close the connection without one. Reads
/// request heads only (no bodies): for GETs.
pub fn fake_controller(
    runtime: &tokio::runtime::Runtime,
    controller: &Controller,
    answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let read = |name: &str| std::fs::read_to_string(controller.dir.path().join(name)).unwrap();
    let trust = roster_controller::pki::CaBundle::load(&controller.dir.path().join("ca"))
        .unwrap()
        .trusted;
    let config =
        roster_controller::tls::server_config(&read("server.crt"), &read("server.key"), &trust)
            .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&config));
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(read) = tls.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    head.extend_from_slice(&buffer[..read]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&head[..end]).into_owned();
                        head.drain(..end + 4);
                        let line = text.lines().next().unwrap_or_default().to_string();
                        match answer(&line) {
                            Some(response) => {
                                if tls.write_all(response.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            None => {
                                let _ = tls.shutdown().await;
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

/// A raw HTTP/1.1 response with a JSON body and the protocol header.
pub fn raw_response(status: u16, protocol: u32, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nroster-protocol: {protocol}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}
