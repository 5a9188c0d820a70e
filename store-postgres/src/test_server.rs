//! A private PostgreSQL 15 for tests (feature `test-server`): Debian's
//! `postgresql-15` binaries, `initdb` into a fresh folder under /tmp as
//! the `postgres` system user (PostgreSQL refuses to run as root),
//! listening on a unix socket in that folder only (no TCP port, so tests
//! running at once never collide), trust authentication, fsync off. The
//! server stops and the folder goes when the [`TestServer`] drops, also
//! when a test fails; [`TestServer::shared`] keeps one for the whole test
//! binary and stops it when the process exits.
//!
//! Each caller takes a fresh, empty database of its own
//! ([`TestServer::conninfo_for`]): NOTIFY channels are per database, so a
//! test's doorbell never rings for another test's commits.
//!
//! [`TestServer::start_tcp`] starts one that also listens on a loopback
//! TCP port, plain or with `ssl = on` and a certificate signed by a test
//! CA of its own ([`TestServer::ca_file`]), made with `openssl`, for the
//! TLS tests (tests/tls.rs).
//!
//! Without the binaries, [`TestServer::start`] says so loudly and answers
//! `None` (the test passes, skipped), or panics where
//! `ROSTER_TESTS_REQUIRE_ALL=1` (as scripts/test.sh sets it, so CI never
//! passes a test skipped). Any other failure to start panics with the
//! server's log: this is test support, whose failure is the test's.

// A failure here is the calling test's failure: panicking with the
// server's log is the clearest way to say it.
#![allow(clippy::panic)]

use postgres::NoTls;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Where Debian's `postgresql-15` puts the server binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// How long the server may take to accept (a loaded CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running private cluster: stopped and removed on drop.
pub struct TestServer {
    child: Mutex<Child>,
    dir: tempfile::TempDir,
    /// Numbers each database and schema handed out.
    next: AtomicU32,
    /// The loopback TCP port ([`TestServer::start_tcp`]), which also
    /// names the socket; None: the socket only, at 5432.
    tcp_port: Option<u16>,
}

/// How [`TestServer::start_tcp`]'s server listens on 127.0.0.1.
#[derive(Clone, Debug)]
pub enum TcpListen {
    /// Plain TCP (`host` lines in pg_hba.conf): no TLS offered.
    Plain,
    /// `ssl = on`, and `hostssl` lines only: the server certificate names
    /// these subjectAltName entries (`DNS:localhost`, `IP:127.0.0.1`) and
    /// is signed by the server's test CA ([`TestServer::ca_file`]).
    Tls { names: Vec<String> },
}

/// The role [`TcpListen::Tls`]'s pg_hba.conf lets in over TCP with a
/// password (SCRAM), for the channel-binding test; the postgres user gets
/// in with no password, as over the socket.
pub const SCRAM_USER: &str = "roster_scram";

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("socket_dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// The server [`TestServer::shared`] started (leaked: statics are never
/// dropped), taken out by the exit hook, which stops it.
static SHARED: OnceLock<Mutex<Option<&'static TestServer>>> = OnceLock::new();
/// The same for [`TestServer::shared_tls`].
static SHARED_TLS: OnceLock<Mutex<Option<&'static TestServer>>> = OnceLock::new();

/// What a [`TcpListen::Tls`] server's certificate names by default.
pub const LOCAL_NAMES: [&str; 2] = ["DNS:localhost", "IP:127.0.0.1"];

impl TestServer {
    /// Start a private cluster; `None` (after a loud message on stderr)
    /// when PostgreSQL 15 isn't installed, unless
    /// `ROSTER_TESTS_REQUIRE_ALL=1`, which makes that a panic.
    pub fn start() -> Option<TestServer> {
        TestServer::start_logged(None, None, |server| {
            format!("(socket in {})", server.dir.path().display())
        })
    }

    /// Start one as [`TestServer::start_with`] says, as the postgres user
    /// when one exists (else `None`, or a panic under
    /// `ROSTER_TESTS_REQUIRE_ALL=1`), saying on stderr how long it took
    /// and `where_` it is.
    #[allow(clippy::type_complexity)]
    fn start_logged<'f>(
        fill: Option<Box<dyn FnOnce(&Path) + 'f>>,
        tcp: Option<&TcpListen>,
        where_: impl FnOnce(&TestServer) -> String,
    ) -> Option<TestServer> {
        let run_as = match server_user() {
            Ok(run_as) => run_as,
            Err(why) => {
                skip_or_fail(&why);
                return None;
            }
        };
        let started = Instant::now();
        let server = TestServer::start_with(run_as, fill, tcp);
        eprintln!(
            "PostgreSQL test server up in {:?} {}",
            started.elapsed(),
            where_(&server)
        );
        Some(server)
    }

    /// A private server that also listens on a free loopback TCP port
    /// ([`TestServer::port`]), plain or with TLS (see [`TcpListen`]).
    /// `None` as [`TestServer::start`].
    pub fn start_tcp(listen: TcpListen) -> Option<TestServer> {
        TestServer::start_logged(None, Some(&listen), |server| {
            format!("({listen:?}) on 127.0.0.1:{}", server.port())
        })
    }

    /// A private server started from a data folder `fill` writes (at the
    /// path it is given, which doesn't exist yet; run as root, `fill`
    /// writes it as the postgres user), e.g. a `pg_basebackup` of another
    /// server ([`TestTier::basebackup`](crate::test_tier::TestTier::basebackup)):
    /// a store restored from a backup. `None` as [`TestServer::start`].
    pub fn start_from(fill: impl FnOnce(&Path)) -> Option<TestServer> {
        TestServer::start_logged(Some(Box::new(fill)), None, |server| {
            format!(
                "from a data folder (socket in {})",
                server.dir.path().display()
            )
        })
    }

    /// One server for the whole test binary, started by the first caller
    /// and stopped (its folder removed) when the process exits, also when
    /// tests failed. `None` as [`TestServer::start`] answers it.
    pub fn shared() -> Option<&'static TestServer> {
        shared_in(&SHARED, TestServer::start, stop_shared)
    }

    /// One TLS server ([`TcpListen::Tls`] naming [`LOCAL_NAMES`]) for the
    /// whole test binary, as [`TestServer::shared`].
    pub fn shared_tls() -> Option<&'static TestServer> {
        shared_in(
            &SHARED_TLS,
            || {
                TestServer::start_tcp(TcpListen::Tls {
                    names: LOCAL_NAMES.iter().map(|name| name.to_string()).collect(),
                })
            },
            stop_shared_tls,
        )
    }

    /// The socket folder (the server's `-k`), which is also the cluster's
    /// folder: `host=` of a connection string.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The TCP port ([`TestServer::start_tcp`]), else the socket's 5432.
    pub fn port(&self) -> u16 {
        self.tcp_port.unwrap_or(5432)
    }

    /// The CA that signed a [`TcpListen::Tls`] server's certificate (PEM).
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The superuser's connection string to `database` over TCP, to
    /// `host` (e.g. `localhost`, `127.0.0.1`) at [`TestServer::port`],
    /// without any TLS key.
    pub fn tcp_conninfo(&self, host: &str, database: &str) -> String {
        format!(
            "host={host} port={} user=postgres dbname={database}",
            self.port()
        )
    }

    /// A fresh, empty database of its own (as [`TestServer::conninfo_for`])
    /// and its name.
    pub fn database_for(&self, name: &str) -> String {
        let database = format!("{}_{}", identifier(name), self.number());
        let mut admin = self.admin();
        // A tiny template: template0 (nothing in it) copied file by file,
        // which at fsync=off is the fastest way to a new database.
        if let Err(e) = admin.batch_execute(&format!(
            "CREATE DATABASE {database} TEMPLATE template0 STRATEGY file_copy"
        )) {
            panic!("CREATE DATABASE {database} failed: {e}\n{}", self.log());
        }
        database
    }

    /// The superuser's connection string to the `postgres` database.
    pub fn admin_conninfo(&self) -> String {
        self.conninfo("postgres")
    }

    /// The superuser's connection to the `postgres` database.
    pub fn admin(&self) -> postgres::Client {
        connect(&self.admin_conninfo())
    }

    /// A fresh, empty database of its own (named after `name`, plus a
    /// number: asking twice gives two databases) and the connection string
    /// to it, as the superuser over the socket.
    pub fn conninfo_for(&self, name: &str) -> String {
        let database = self.database_for(name);
        self.conninfo(&database)
    }

    /// A fresh, empty schema of its own in the `postgres` database, and a
    /// connection string whose search path is that schema: cheaper than a
    /// database, for tests that never LISTEN (notifications are per
    /// database, so stores in schemas hear each other's doorbells).
    pub fn schema_conninfo_for(&self, name: &str) -> String {
        let schema = format!("{}_{}", identifier(name), self.number());
        let mut admin = self.admin();
        if let Err(e) = admin.batch_execute(&format!("CREATE SCHEMA {schema}")) {
            panic!("CREATE SCHEMA {schema} failed: {e}\n{}", self.log());
        }
        format!(
            "{} options='-c search_path={schema}'",
            self.admin_conninfo()
        )
    }

    /// How many databases and schemas were handed out.
    pub fn handed_out(&self) -> u32 {
        self.next.load(Ordering::Relaxed)
    }

    /// The server's log so far (for a failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn number(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn conninfo(&self, database: &str) -> String {
        match self.tcp_port {
            None => format!(
                "host={} user=postgres dbname={database}",
                self.dir.path().display()
            ),
            // The socket is named after the port.
            Some(port) => format!(
                "host={} port={port} user=postgres dbname={database}",
                self.dir.path().display()
            ),
        }
    }

    /// Start a cluster, as `run_as` (uid, gid) when given (as root), else
    /// as ourselves, on the data folder `fill` writes when given, else on a
    /// fresh `initdb`; listening on a loopback TCP port too when `tcp` says
    /// how.
    #[allow(clippy::type_complexity)]
    fn start_with(
        run_as: Option<(u32, u32)>,
        fill: Option<Box<dyn FnOnce(&Path) + '_>>,
        tcp: Option<&TcpListen>,
    ) -> TestServer {
        // In /tmp, not $TMPDIR: the postgres user must reach the folder
        // (a TMPDIR under /root is 0700), and the socket's path must stay
        // under the 107 bytes a unix socket name allows.
        let dir = tempfile::Builder::new()
            .prefix("roster-pg-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("can't make the test server's folder in /tmp: {e}"));
        let data = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("can't create {}: {e}", log_path.display()));
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), log_path.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("can't chown {}: {e}", path.display()));
            }
        }
        let as_server_user = |command: &mut Command| {
            if let Some((uid, gid)) = run_as {
                // std drops root's supplementary groups with the uid.
                command.uid(uid).gid(gid);
            }
        };
        if let Some(fill) = fill {
            fill(&data);
        } else {
            let mut initdb = Command::new(Path::new(PG_BIN).join("initdb"));
            initdb
                .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
                .args(["--locale=C", "--no-sync", "--no-instructions", "-D"])
                .arg(&data)
                .current_dir(dir.path());
            as_server_user(&mut initdb);
            let initdb = initdb
                .output()
                .unwrap_or_else(|e| panic!("can't run initdb: {e}"));
            if !initdb.status.success() {
                panic!(
                    "initdb failed: {}\n{}",
                    String::from_utf8_lossy(&initdb.stdout),
                    String::from_utf8_lossy(&initdb.stderr)
                );
            }
        }
        // The socket's port, and with TCP the listener's: a free one (the
        // kernel's pick, given back just before postgres binds it).
        let tcp_port = tcp.map(|_| free_port());
        let mut listen_args: Vec<String> = vec![
            "listen_addresses=".into(),
            format!("port={}", tcp_port.unwrap_or(5432)),
        ];
        if let Some(listen) = tcp {
            listen_args[0] = "listen_addresses=127.0.0.1".into();
            let hba = match listen {
                TcpListen::Plain => {
                    "local all all trust\nhost all all 127.0.0.1/32 trust\n".to_string()
                }
                TcpListen::Tls { names } => {
                    let (cert, key) = make_server_certificate(dir.path(), names);
                    if let Some((uid, gid)) = run_as {
                        for path in [&cert, &key] {
                            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                                .unwrap_or_else(|e| panic!("can't chown {}: {e}", path.display()));
                        }
                    }
                    listen_args.push("ssl=on".into());
                    listen_args.push(format!("ssl_cert_file={}", cert.display()));
                    listen_args.push(format!("ssl_key_file={}", key.display()));
                    // TCP with TLS only: a plain TCP client matches no line.
                    format!(
                        "local all all trust\nhostssl all postgres 127.0.0.1/32 trust\nhostssl all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n"
                    )
                }
            };
            // Written over initdb's (the file keeps its owner).
            let hba_path = data.join("pg_hba.conf");
            std::fs::write(&hba_path, hba)
                .unwrap_or_else(|e| panic!("can't write {}: {e}", hba_path.display()));
        }
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("can't share the server log's handle: {e}"));
        let mut postgres = Command::new(Path::new(PG_BIN).join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=100"])
            // A data folder from elsewhere (a backup of a tier's leader)
            // may name a port and synchronous standbys in its
            // postgresql.conf: here, the socket's default port (or the TCP
            // port) and no standby to wait for.
            .args(["-c", "synchronous_standby_names="])
            .args(listen_args.iter().flat_map(|arg| ["-c", arg.as_str()]))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        as_server_user(&mut postgres);
        let child = postgres
            .spawn()
            .unwrap_or_else(|e| panic!("can't start postgres: {e}"));
        let server = TestServer {
            child: Mutex::new(child),
            dir,
            next: AtomicU32::new(0),
            tcp_port,
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&self) {
        let started = Instant::now();
        loop {
            if self
                .admin_conninfo()
                .parse::<postgres::Config>()
                .is_ok_and(|c| c.connect(NoTls).is_ok())
            {
                return;
            }
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .try_wait();
            if let Ok(Some(status)) = exited {
                panic!(
                    "postgres exited ({status}) before accepting:\n{}",
                    self.log()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                panic!(
                    "postgres didn't accept within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&self) {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SIGINT: fast shutdown (open connections are cut, every child
        // process exits), so the folder can go.
        let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
        if pid > 0 {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let asked = Instant::now();
        while asked.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("postgres didn't stop within {STOP_TIMEOUT:?}: killing it");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        // The TempDir field then removes the folder.
    }
}

/// The server in `slot`, started by `start` on the first call, stopped
/// by `stop` when the process exits.
fn shared_in(
    slot: &'static OnceLock<Mutex<Option<&'static TestServer>>>,
    start: impl FnOnce() -> Option<TestServer>,
    stop: extern "C" fn(),
) -> Option<&'static TestServer> {
    let slot = slot.get_or_init(|| {
        let server = start().map(|server| {
            let leaked: &'static TestServer = Box::leak(Box::new(server));
            // SAFETY: atexit takes a plain function with no
            // preconditions; it runs once, when the process exits.
            unsafe { libc::atexit(stop) };
            leaked
        });
        Mutex::new(server)
    });
    *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The exit hook of [`TestServer::shared`]: stop the server and remove its
/// folder. The server itself stays allocated (a thread still running at
/// exit may hold a reference): only its process and its files go.
extern "C" fn stop_shared() {
    stop_slot(&SHARED);
}

/// The exit hook of [`TestServer::shared_tls`].
extern "C" fn stop_shared_tls() {
    stop_slot(&SHARED_TLS);
}

fn stop_slot(slot: &OnceLock<Mutex<Option<&'static TestServer>>>) {
    let Some(slot) = slot.get() else { return };
    let taken = slot
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    if let Some(server) = taken {
        server.stop();
        let _ = std::fs::remove_dir_all(server.dir.path());
    }
}

/// A connection to a conninfo the server handed out; panics with the
/// reason (test support).
pub fn connect(conninfo: &str) -> postgres::Client {
    let config: postgres::Config = conninfo
        .parse()
        .unwrap_or_else(|e| panic!("bad connection string {conninfo:?}: {e}"));
    config
        .connect(NoTls)
        .unwrap_or_else(|e| panic!("can't connect to the test server ({conninfo}): {e}"))
}

/// A loopback TCP port nothing listens on now (the kernel's pick).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("can't find a free loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("can't read a listener's port: {e}"))
        .port()
}

/// The openssl config the test certificates are made with: a CA, and a
/// server certificate for `names` (subjectAltName entries).
fn openssl_config(names: &[String]) -> String {
    format!(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = roster test\n\
         [ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [server]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = {}\n",
        if names.is_empty() {
            // An entry none of the tests connect by: a certificate must name something.
            "DNS:nothing.invalid".to_string()
        } else {
            names.join(",")
        }
    )
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("can't run openssl (scripts/deps.sh installs it): {e}"));
    if !out.status.success() {
        panic!(
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A throw-away CA (P-256) in `dir`: `{name}.crt` and `{name}.key`;
/// answers the certificate's path.
pub fn make_test_ca(dir: &Path, name: &str) -> std::path::PathBuf {
    let config = dir.join(format!("{name}.cnf"));
    std::fs::write(&config, openssl_config(&[]))
        .unwrap_or_else(|e| panic!("can't write {}: {e}", config.display()));
    let (cert, key) = (format!("{name}.crt"), format!("{name}.key"));
    let subject = format!("/CN=roster test CA {name}");
    let config = config.display().to_string();
    openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "2",
            "-config",
            &config,
            "-extensions",
            "ca",
            "-subj",
            &subject,
        ],
        dir,
    );
    dir.join(cert)
}

/// The server's key and certificate (naming `names`) in `dir`, signed by
/// a fresh CA there (`ca.crt`, [`TestServer::ca_file`]).
fn make_server_certificate(
    dir: &Path,
    names: &[String],
) -> (std::path::PathBuf, std::path::PathBuf) {
    make_test_ca(dir, "ca");
    let config = dir.join("server.cnf");
    std::fs::write(&config, openssl_config(names))
        .unwrap_or_else(|e| panic!("can't write {}: {e}", config.display()));
    let config = config.display().to_string();
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-config",
            &config,
            "-subj",
            "/CN=roster test store",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-sha256",
            "-out",
            "server.crt",
            "-extfile",
            &config,
            "-extensions",
            "server",
        ],
        dir,
    );
    let key = dir.join("server.key");
    // PostgreSQL refuses a key others can read.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap_or_else(|e| panic!("can't chmod {}: {e}", key.display()));
    (dir.join("server.crt"), key)
}

/// `name` as a lowercase SQL identifier: letters, digits and `_` kept,
/// anything else `_`, at most 40 characters (PostgreSQL keeps 63).
pub(crate) fn identifier(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert(0, 't');
    }
    out
}

/// Who runs the server: the `postgres` system user's (uid, gid) when we
/// are root, ourselves (None) otherwise; or why it can't run here.
pub(crate) fn server_user() -> Result<Option<(u32, u32)>, String> {
    for tool in ["initdb", "postgres"] {
        if !Path::new(PG_BIN).join(tool).exists() {
            return Err(format!(
                "{PG_BIN}/{tool} is missing: install postgresql-15 (scripts/deps.sh does)"
            ));
        }
    }
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("can't run id: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "there is no postgres system user (postgresql-15 makes it)".to_string())
    };
    // SAFETY: geteuid has no preconditions and can't fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    Ok(Some((id("-u")?, id("-g")?)))
}

pub(crate) fn skip_or_fail(why: &str) {
    let test = std::thread::current()
        .name()
        .map_or_else(|| "a PostgreSQL test".to_string(), str::to_string);
    if std::env::var_os("ROSTER_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{test} can't run here ({why}) and ROSTER_TESTS_REQUIRE_ALL=1 forbids skipping it");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}
