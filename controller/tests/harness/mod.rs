//! The tests' and the bench's controller: a real `roster-controller` on a
//! database of its own in roster-store-postgres's test server, `init`ed
//! and serving on loopback, and a client of the hosts' API (hyper over
//! rustls, with and without a host certificate).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use roster_controller::pki::CaBundle;
use roster_core::clock::SystemClock;
use roster_core::level::Level;
use roster_core::model::{NewUser, Role};
use roster_core::store::Backend;
use roster_core::{Actor, Roster, Secret};
use roster_fleet_protocol::PROTOCOL_HEADER;
use roster_store_postgres::PgStore;
use roster_store_postgres::test_server::TestServer;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The controller binary: cargo's for the integration tests, else
/// `ROSTER_CONTROLLER_BIN` (the bench), else the release build's.
pub fn bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_roster-controller") {
        Some(built) => PathBuf::from(built),
        None => std::env::var_os("ROSTER_CONTROLLER_BIN").map_or_else(
            || PathBuf::from("target/release/roster-controller"),
            PathBuf::from,
        ),
    }
}

/// The tests' limits: a long poll shorter than the tests' timeout, a
/// small window, one argon2 check per host.
pub const TEST_LIMITS: &str = "long_poll = \"20s\"\nwindow_changes = 1000\nargon2_per_host = 1\n";

/// argon2 at its cheapest: the tests hash and verify, they don't measure.
pub const CHEAP_ARGON2: &str = "[argon2]\nmemory_kib = 64\niterations = 1\n";

pub fn server() -> Option<&'static TestServer> {
    static SERVER: OnceLock<Option<TestServer>> = OnceLock::new();
    SERVER.get_or_init(TestServer::start).as_ref()
}

/// A controller on its own database: initialized, serving on loopback.
pub struct Controller {
    pub dir: tempfile::TempDir,
    pub conninfo: String,
    pub child: Option<Child>,
    pub api: String,
    pub metrics: String,
    pub trust: Vec<CertificateDer<'static>>,
    pub runtime: tokio::runtime::Runtime,
}

/// A host's credentials after enrollment.
#[derive(Clone)]
pub struct HostCert {
    pub chain_pem: String,
    pub key_pem: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub json: Value,
}

impl Controller {
    pub fn start(name: &str) -> Option<Controller> {
        Controller::start_with(name, TEST_LIMITS, CHEAP_ARGON2)
    }

    /// With `limits` as the config's [limits] section and `extra` after
    /// it (sections of its own).
    pub fn start_with(name: &str, limits: &str, extra: &str) -> Option<Controller> {
        let server = server()?;
        let conninfo = server.conninfo_for(name);
        Some(Controller::start_on_store(conninfo, limits, extra))
    }

    /// [`Controller::start_with`] on the store at `conninfo` (e.g. one
    /// over TLS).
    pub fn start_on_store(conninfo: String, limits: &str, extra: &str) -> Controller {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("controller.toml");
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        std::fs::write(
            &config,
            format!(
                r#"
[store]
conninfo = "{conninfo}"
[listen]
api = "127.0.0.1:0"
metrics = "127.0.0.1:0"
public_urls = ["https://controller.test:8443"]
[tls]
ca_dir = "{dir}/ca"
server_cert = "{dir}/server.crt"
server_key = "{dir}/server.key"
server_names = ["localhost", "127.0.0.1"]
[limits]
{limits}
{extra}"#,
                dir = dir.path().display()
            ),
        )
        .unwrap();
        let mut controller = Controller {
            dir,
            conninfo,
            child: None,
            api: String::new(),
            metrics: String::new(),
            trust: Vec::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
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
        controller.trust = CaBundle::load(&controller.dir.path().join("ca"))
            .unwrap()
            .trusted;
        controller.serve();
        controller
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("controller.toml")
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
        // A command that exits early (a refusal) closes its stdin: fine.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub fn serve(&mut self) {
        let (child, api, metrics) = self.spawn_serve();
        self.api = api;
        self.metrics = metrics;
        self.child = Some(child);
    }

    /// Another replica serving the same store (its own listeners), killed
    /// when the answer is dropped.
    pub fn another_replica(&self) -> Replica {
        let (child, api, _) = self.spawn_serve();
        Replica { child, api }
    }

    /// `serve` started; its process and where it listens (API, metrics).
    fn spawn_serve(&self) -> (Child, String, String) {
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
        let address = |after: &str, until: char| {
            let start = line.find(after).unwrap() + after.len();
            line[start..].split(until).next().unwrap().to_string()
        };
        (child, address("https://", ','), address("http://", '/'))
    }

    /// core's rules on the controller's own store: what an admin's change
    /// through the controller does.
    pub fn roster(&self) -> Roster {
        roster_on(&self.conninfo)
    }

    pub fn join_token(&self, environment: &str, expires: &str) -> String {
        let out = self.command(&[
            "token",
            "create",
            "--environment",
            environment,
            "--expires",
            expires,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        host: Option<&HostCert>,
        protocol: Option<&str>,
    ) -> Result<Reply, String> {
        self.request_to(&self.api, method, path, body, host, protocol)
    }

    /// [`Controller::request`] to the replica listening at `api`.
    pub fn request_to(
        &self,
        api: &str,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        host: Option<&HostCert>,
        protocol: Option<&str>,
    ) -> Result<Reply, String> {
        let config = match host {
            Some(host) => {
                roster_controller::tls::client_config(&self.trust, &host.chain_pem, &host.key_pem)
                    .map_err(|e| e.to_string())?
            }
            None => roster_controller::tls::enrollment_client_config(&self.trust)
                .map_err(|e| e.to_string())?,
        };
        let api = api.to_string();
        let method = method.to_string();
        let path = path.to_string();
        let path_shown = path.clone();
        let protocol = protocol.map(str::to_string);
        let exchange = async move {
            let tcp = tokio::net::TcpStream::connect(&api)
                .await
                .map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let mut builder = hyper::Request::builder()
                .method(method.as_str())
                .uri(&path)
                .header("host", "localhost")
                .header("content-type", "application/json");
            if let Some(protocol) = &protocol {
                builder = builder.header(PROTOCOL_HEADER, protocol.as_str());
            }
            let request = builder
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .unwrap();
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let json = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Ok(Reply {
                status,
                headers,
                json,
            })
        };
        // Longer than any long poll here: a hang fails the test, not CI.
        self.runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), exchange).await })
            .map_err(|_| format!("no answer to {path_shown} within 60 s"))?
    }

    /// The status of a request whose head announces `length` body bytes,
    /// of which only the first KiB is sent, read straight off the TLS
    /// stream.
    pub fn status_of_raw(&self, line: &str, length: usize) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = roster_controller::tls::enrollment_client_config(&self.trust).unwrap();
        let api = self.api.clone();
        let head = format!(
            "{line} HTTP/1.1\r\nhost: localhost\r\n{PROTOCOL_HEADER}: 1\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
        );
        self.runtime.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(&api).await.unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(config)
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            tls.write_all(head.as_bytes()).await.unwrap();
            let _ = tls.write_all(&[b' '; 1024]).await;
            let mut answer = vec![0u8; 64];
            let read = tls.read(&mut answer).await.unwrap();
            let text = String::from_utf8_lossy(&answer[..read]).into_owned();
            text.split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .unwrap_or(0)
        })
    }

    /// `/metrics`, plain HTTP on its own listener.
    pub fn metrics_text(&self) -> String {
        let address = self.metrics.clone();
        self.runtime.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = hyper::Request::get("/metrics")
                .header("host", "localhost")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(body.to_vec()).unwrap()
        })
    }

    /// A call as a host of this protocol version makes it.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        host: Option<&HostCert>,
    ) -> Reply {
        self.request(
            method,
            path,
            body.map(|b| b.to_string().into_bytes()),
            host,
            Some("1"),
        )
        .unwrap()
    }

    pub fn enroll_request(&self, token: &str, hostname: &str) -> (Value, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        // Fields the controller must ignore: only the public key counts.
        let mut params = rcgen::CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "root-of-everything");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (
            json!({
                "join_token": token,
                "hostname": hostname,
                "csr_pem": csr,
                "local": {"ranges": [{"kind": "subuid", "first": 100000, "count": 65536},
                                     {"kind": "uid", "first": 1879048193u32, "count": 16777215}],
                          "used": [{"kind": "user", "name": "backup", "id": 1879048200u32}]}
            }),
            key.serialize_pem(),
        )
    }

    pub fn enroll(&self, environment: &str, hostname: &str) -> (HostCert, Value) {
        let token = self.join_token(environment, "1h");
        let (body, key_pem) = self.enroll_request(&token, hostname);
        let reply = self.call("POST", "/v1/enroll", Some(body), None);
        assert_eq!(reply.status, 200, "{}", reply.json);
        let answer = reply.json["body"].clone();
        (
            HostCert {
                chain_pem: answer["certificate_pem"].as_str().unwrap().to_string(),
                key_pem,
            },
            answer,
        )
    }
}

/// A further replica of the store.
pub struct Replica {
    pub child: Child,
    pub api: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// core's rules on a store, with cheap argon2.
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
