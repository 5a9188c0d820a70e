//! The shared integration-test harness: a real `dbus-daemon` on a private
//! socket, a real `rosterd` on a temporary database and config, and helpers
//! to drive the real `roster` CLI (or `roster-probe`, a thin proxy caller)
//! as root or as any other uid.
//!
//! Nothing here touches the host's `/etc`, `/var` or system bus: every path
//! rosterd reads or writes lives in a temporary folder the harness removes.
//!
//! # The API in one example
//!
//! ```no_run
//! use roster_tests::{TestBus, TestConfig, TestDaemon};
//!
//! let bus = TestBus::start();                       // dbus-daemon, any uid may connect
//! let daemon = TestDaemon::start(&bus);             // rosterd with cheap argon2 params
//! daemon.roster(&["users", "create", "alice", "--password-stdin"])
//!     .stdin("correct horse battery\n")
//!     .run()
//!     .expect_ok();
//! let out = daemon.roster(&["users", "list", "--json"]).as_uid(1879048193).run();
//! assert_eq!(out.code, Some(1));
//!
//! // The same call through the proxies, without the CLI:
//! let out = daemon.probe("Users.Show", &[r#""alice""#]).run().expect_ok();
//! assert_eq!(out.json()["ok"]["name"], "alice");
//!
//! // Config overrides: raw TOML values under dotted keys.
//! let daemon2 = TestDaemon::start_with(
//!     &bus,
//!     TestConfig::new().set("argon2.queue_max", "2").set_str("environment", "prod"),
//! );
//! # drop(daemon2);
//! ```
//!
//! * [`TestBus`]: `start()`, `address()`, `connect()` (a zbus connection as
//!   the test's own uid), `restart()` (kill dbus-daemon, start a new one at
//!   the same address). dbus-daemon refuses uids it can't resolve, so the
//!   bus runs under nss_wrapper with a passwd listing [`CONNECTABLE_UIDS`]
//!   (the first 1000 uids of Roster's range and the strangers 4242..4300)
//!   besides the host's accounts.
//! * [`TestConfig`]: `new()` (cheap argon2, temp paths), `set(key, raw)`,
//!   `set_str(key, s)`, `raw_line(line)` (e.g. a typo), `passwd(..)`,
//!   `group(..)`, `login_defs(..)`, `subuid(..)`, `subgid(..)`, `arg(..)`,
//!   `launcher(argv)` (a command that execs rosterd, e.g. `unshare -m …`),
//!   `render()`, `write_in(dir)` (the config and host files, for
//!   `rosterd --check-config` or `roster doctor --config`).
//! * [`TestDaemon`]: `start`, `start_with`, `try_start` (→ [`StartFailure`]
//!   with status and stderr), `try_start_at(address, …)` (any bus address);
//!   `roster(args)` / `probe(method, json_args)` / `command(program)` return
//!   a [`Cmd`] builder (`.as_uid(uid)`, `.stdin(text)`, `.env(k, v)`,
//!   `.run()` → [`Run`]); `stop()` (SIGTERM, the exit status), `kill9()`,
//!   `restart()`, `wait_exit(limit)`, `pid()`; paths: `dir()`, `config_path()`,
//!   `database_path()`, `nss_cache_path()`, `audit_log_path()`,
//!   `home_base()`, `passwd_path()`, `group_path()`; logs: `audit_log()`,
//!   `stderr_log()`; `sqlite(sql)` runs the sqlite3 CLI on the database.
//! * Setup shortcuts (as root, through the proxies): `create_user(name,
//!   role, password) -> uid`, `create_pending_user(name) -> (uid, code)`,
//!   `add_environment(name)`, `grant(user, level, environment)`.
//! * [`bin_dir`]: where `rosterd` and `roster` are found: `$ROSTER_BIN_DIR`,
//!   else the `target/<profile>` folder this test binary was built into.
//!   Build them first: `cargo build -p rosterd -p roster` (scripts/test.sh does).
//! * uids: each `TestDaemon` hands out its own block of [`UIDS_PER_DAEMON`]
//!   uids (`uid_range()`), so one test's suspend (which signals every
//!   process of a uid) never hits another test's processes; set `uid_min`
//!   and `uid_max` yourself for more users. Read a user's uid from the
//!   create reply (`create_user` answers it). [`STRANGER_UID`] (4242) is a
//!   uid no Roster user has that can still connect to the bus.
//!
//! `rosterd` also appends every audit line to `audit_log_path()` (through
//! `--audit-log`), so a test can grep them for secrets.

#![deny(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The first uid of Roster's default range (DESIGN.md's `uid_min`). Each
/// [`TestDaemon`] gets its own block of [`UIDS_PER_DAEMON`] uids from here
/// on (see [`TestDaemon::uid_range`]) unless its config sets `uid_min`.
pub const UID_MIN: u32 = 1_879_048_193;
/// The last uid of Roster's default range.
pub const UID_MAX: u32 = 1_895_825_407;
/// How many uids each [`TestDaemon`] may hand out by default.
///
/// Why blocks: ending a user's sessions signals every process of that uid
/// on the machine, so two tests running at once must never hand out the
/// same uid (one test's suspend would kill another's CLI or leader).
pub const UIDS_PER_DAEMON: u32 = 32;
/// How many blocks there are (all resolvable on a [`TestBus`]).
pub const UID_BLOCKS: u32 = 128;
static NEXT_BLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The next block: a counter, offset by the pid so test binaries run in
/// parallel (nextest, one process per test) rarely pick the same one.
pub fn next_uid_block() -> (u32, u32) {
    let n = NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let block = (std::process::id().wrapping_mul(7).wrapping_add(n)) % UID_BLOCKS;
    let min = UID_MIN + block * UIDS_PER_DAEMON;
    (min, min + UIDS_PER_DAEMON - 1)
}
/// A uid no Roster user and no local account has: a stranger to rosterd.
pub const STRANGER_UID: u32 = 4242;

/// How long a start may take before the harness gives up (a loaded CI
/// machine compiling in parallel is slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Reports a test that can't run on this machine (it then returns early):
/// loudly on stderr, or as a failure where `ROSTER_TESTS_REQUIRE_ALL=1`
/// (scripts/test.sh sets it, so CI never passes a test it skipped).
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var_os("ROSTER_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{test} can't run here ({why}) and ROSTER_TESTS_REQUIRE_ALL=1 forbids skipping it");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// Where `rosterd`, `roster` and the other built binaries live.
///
/// `$ROSTER_BIN_DIR` when set (scripts/test.sh sets it), a relative one
/// taken from the workspace root: cargo runs tests in the crate's folder,
/// while the README's commands are typed at the root. Otherwise the folder
/// this test binary was built into (`target/<profile>`, the parent of
/// `deps/`), so the harness finds the binaries of the same profile and
/// target dir as the test.
pub fn bin_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(&manifest);
    if let Some(dir) = std::env::var_os("ROSTER_BIN_DIR") {
        return workspace.join(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
    {
        let candidate = if deps.file_name().is_some_and(|n| n == "deps") {
            deps.parent().map(Path::to_path_buf)
        } else {
            Some(deps.to_path_buf())
        };
        if let Some(dir) = candidate
            && dir.join("rosterd").exists()
        {
            return dir;
        }
    }
    workspace.join("target").join("debug")
}

/// The path of a built binary, with a clear panic when it was not built.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p rosterd -p roster` \
         (or set ROSTER_BIN_DIR)",
        path.display()
    );
    path
}

/// The `roster-probe` helper of this crate (built with the tests).
pub fn probe_binary() -> PathBuf {
    helper_binary("roster-probe")
}

/// A helper binary of this crate (`roster-probe`, `roster-flood`), built
/// with the tests.
pub fn helper_binary(name: &str) -> PathBuf {
    let dir = bin_dir();
    let candidates = [
        dir.join(name),
        // `cargo test` puts the package's bins next to `deps/`.
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().and_then(Path::parent).map(Path::to_path_buf))
            .unwrap_or_default()
            .join(name),
    ];
    for c in &candidates {
        if c.exists() {
            return c.clone();
        }
    }
    panic!(
        "{name} is missing: it is built by `cargo test -p roster-tests` \
         (or `cargo build -p roster-tests --bins`)"
    );
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("can't create a temp dir: {e}"));
    // Other uids (the CLI run through setpriv) must reach the bus socket.
    set_mode(dir.path(), 0o755);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

// ---------------------------------------------------------------- the bus

/// A private `dbus-daemon` behaving as a system bus that lets every uid
/// connect and call, and lets anyone own names (the test owns
/// `org.roster.Roster1` itself to prove "name taken").
pub struct TestBus {
    dir: tempfile::TempDir,
    address: String,
    child: Child,
}

impl TestBus {
    /// Starts dbus-daemon and waits until its socket answers.
    pub fn start() -> TestBus {
        let dir = temp_dir("roster-bus-");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        write_file(&config, &bus_config(&socket));
        // dbus-daemon refuses any uid getpwuid() can't resolve (it looks
        // up the caller's groups for its policy). On a real host Roster's
        // uids resolve through libnss_roster; here nss_wrapper gives
        // dbus-daemon a passwd that lists them (see [`CONNECTABLE_UIDS`]).
        write_file(&dir.path().join("passwd"), &wrapper_passwd());
        write_file(&dir.path().join("group"), &wrapper_group());
        let child = spawn_bus(dir.path());
        let address = format!("unix:path={}", socket.display());
        let mut bus = TestBus {
            dir,
            address,
            child,
        };
        bus.wait_ready();
        bus
    }

    /// Waits until the bus socket accepts connections.
    fn wait_ready(&mut self) {
        let socket = self.dir.path().join("bus");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                break;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dbus-daemon exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "dbus-daemon did not start");
            sleep(Duration::from_millis(10));
        }
    }

    /// Kills dbus-daemon (SIGKILL, as a crash would) and starts a new one
    /// at the same address: every connection on the old bus is closed.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A killed dbus-daemon leaves its socket file behind.
        let _ = fs::remove_file(self.dir.path().join("bus"));
        self.child = spawn_bus(self.dir.path());
        self.wait_ready();
    }

    /// The dbus-daemon's pid (to stop it in a test).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address to put in `DBUS_SYSTEM_BUS_ADDRESS` or a PAM `bus=`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The folder holding the socket and the bus config.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection as the test's own uid (root in CI).
    pub fn connect(&self) -> zbus::Connection {
        let address = self.address.clone();
        zbus::block_on(async move {
            zbus::connection::Builder::address(address.as_str())
                .build()
                .await
        })
        .unwrap_or_else(|e| panic!("can't connect to the test bus: {e}"))
    }

    /// Whether `name` has an owner on this bus.
    pub fn name_has_owner(&self, name: &str) -> bool {
        let address = self.address.clone();
        let name = name.to_owned();
        zbus::block_on(async move {
            let conn = zbus::connection::Builder::address(address.as_str())
                .build()
                .await?;
            let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
            let owned = dbus.name_has_owner(name.as_str().try_into()?).await?;
            Ok::<bool, zbus::Error>(owned)
        })
        .unwrap_or(false)
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs dbus-daemon on the config, passwd and group files in `dir`
/// (written by [`TestBus::start`]).
fn spawn_bus(dir: &Path) -> Child {
    // Its stderr goes to a file: it complains about fd limits in
    // containers, which is noise in every test's output.
    let log = fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("dbus-daemon.log"))
        .unwrap_or_else(|e| panic!("create dbus-daemon.log: {e}"));
    Command::new("dbus-daemon")
        .env("LD_PRELOAD", nss_wrapper_library())
        .env("NSS_WRAPPER_PASSWD", dir.join("passwd"))
        .env("NSS_WRAPPER_GROUP", dir.join("group"))
        .arg(format!("--config-file={}", dir.join("bus.conf").display()))
        .arg("--nofork")
        .arg("--nopidfile")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("can't run dbus-daemon (apt-get install dbus): {e}"))
}

/// The uids that may connect to a [`TestBus`] besides the host's own
/// accounts: every daemon's uid block and the strangers `4242..4300`
/// (dbus-daemon drops a uid it can't resolve).
pub const CONNECTABLE_UIDS: [std::ops::Range<u32>; 2] =
    [UID_MIN..UID_MIN + UIDS_PER_DAEMON * UID_BLOCKS, 4242..4300];

fn nss_wrapper_library() -> PathBuf {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
        "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
        "/usr/lib64/libnss_wrapper.so",
        "/usr/lib/libnss_wrapper.so",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("libnss_wrapper.so is missing: apt-get install libnss-wrapper"))
}

fn wrapper_passwd() -> String {
    let mut text = fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for range in CONNECTABLE_UIDS {
        for uid in range {
            text.push_str(&format!("u{uid}:x:{uid}:{uid}::/nonexistent:/bin/false\n"));
        }
    }
    text
}

fn wrapper_group() -> String {
    let mut text = fs::read_to_string("/etc/group").unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for range in CONNECTABLE_UIDS {
        for uid in range {
            text.push_str(&format!("u{uid}:x:{uid}:\n"));
        }
    }
    text
}

fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

// ------------------------------------------------------------- the config

/// A rosterd.toml for tests: DESIGN.md's keys, with every path in the
/// daemon's temp folder and argon2 made cheap, plus the test's overrides.
///
/// Values given to [`TestConfig::set`] are raw TOML (`"2"`, `"true"`,
/// `"\"prod\""`); [`TestConfig::set_str`] quotes a string for you. Keys are
/// dotted for tables (`argon2.queue_max`, `lockout.attempts`).
#[derive(Clone, Debug)]
pub struct TestConfig {
    values: BTreeMap<String, String>,
    raw_lines: Vec<String>,
    passwd: String,
    group: String,
    login_defs: String,
    subuid: String,
    subgid: String,
    extra_args: Vec<String>,
    launcher: Vec<String>,
    /// A host that joins a controller: no uid range of its own in the
    /// file (the controller decides it, and rosterd refuses the key).
    fleet_host: bool,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new()
    }
}

const TABLES: [&str; 6] = [
    "argon2",
    "password",
    "lockout",
    "sessions",
    "registration",
    "",
];

impl TestConfig {
    /// The defaults: cheap argon2 (1 MiB, 1 pass), `end_grace = "1s"`,
    /// local files with root, daemon, nobody and `localuser` (uid 1000).
    pub fn new() -> Self {
        let mut values = BTreeMap::new();
        for (k, v) in [
            ("argon2.memory_kib", "1024"),
            ("argon2.iterations", "1"),
            ("argon2.parallelism", "1"),
            ("sessions.end_grace", "\"1s\""),
        ] {
            values.insert(k.to_owned(), v.to_owned());
        }
        TestConfig {
            values,
            raw_lines: Vec::new(),
            passwd: "root:x:0:0:root:/root:/bin/bash\n\
                     daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                     nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                     localuser:x:1000:1000:Local User:/home/localuser:/bin/sh\n"
                .to_owned(),
            group: "root:x:0:\ndaemon:x:1:\nsudo:x:27:\nnogroup:x:65534:\nlocaluser:x:1000:\n"
                .to_owned(),
            login_defs: "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n".to_owned(),
            subuid: "localuser:100000:65536\n".to_owned(),
            subgid: "localuser:100000:65536\n".to_owned(),
            extra_args: Vec::new(),
            launcher: Vec::new(),
            fleet_host: false,
        }
    }

    /// A host to join to a controller: the file names no uid range (the
    /// harness gives every other daemon a block of its own), so the
    /// controller's users, in the default range, are this host's.
    pub fn fleet_host(mut self) -> Self {
        self.fleet_host = true;
        self
    }

    /// Sets a key to a raw TOML value (`set("lockout.attempts", "3")`).
    pub fn set(mut self, key: &str, raw_value: &str) -> Self {
        self.values.insert(key.to_owned(), raw_value.to_owned());
        self
    }

    /// Sets a key to a string value, quoted for TOML.
    pub fn set_str(self, key: &str, value: &str) -> Self {
        let quoted = serde_json::to_string(value).unwrap_or_default();
        self.set(key, &quoted)
    }

    /// Removes a key (rosterd then uses its built-in default).
    pub fn unset(mut self, key: &str) -> Self {
        self.values.remove(key);
        self
    }

    /// Appends a line to the top level as it is (a typo, a bad value).
    pub fn raw_line(mut self, line: &str) -> Self {
        self.raw_lines.push(line.to_owned());
        self
    }

    /// The contents of the local passwd file rosterd checks names against.
    pub fn passwd(mut self, contents: &str) -> Self {
        self.passwd = contents.to_owned();
        self
    }

    pub fn group(mut self, contents: &str) -> Self {
        self.group = contents.to_owned();
        self
    }

    pub fn login_defs(mut self, contents: &str) -> Self {
        self.login_defs = contents.to_owned();
        self
    }

    pub fn subuid(mut self, contents: &str) -> Self {
        self.subuid = contents.to_owned();
        self
    }

    pub fn subgid(mut self, contents: &str) -> Self {
        self.subgid = contents.to_owned();
        self
    }

    /// An extra command-line argument for rosterd.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_owned());
        self
    }

    /// Runs rosterd as `launcher… rosterd ARGS…` (e.g. `unshare -m sh -c
    /// '…; exec "$@"'` to give it a mount of its own). The launcher must
    /// end by exec'ing rosterd in its own process: the harness knows
    /// rosterd by the pid it spawned.
    pub fn launcher(mut self, argv: &[&str]) -> Self {
        self.launcher = argv.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// The TOML text, with `dir`'s paths filled in where the test set none.
    pub fn render_in(&self, dir: &Path) -> String {
        let mut values = self.values.clone();
        let q = |p: PathBuf| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
        for (key, path) in [
            ("database", dir.join("db").join("roster.db")),
            ("nss_cache", dir.join("cache").join("nss.cache")),
            ("passwd_file", dir.join("etc").join("passwd")),
            ("group_file", dir.join("etc").join("group")),
            ("login_defs", dir.join("etc").join("login.defs")),
            ("subuid_file", dir.join("etc").join("subuid")),
            ("subgid_file", dir.join("etc").join("subgid")),
            ("home_base", dir.join("home")),
        ] {
            values.entry(key.to_owned()).or_insert_with(|| q(path));
        }
        let mut out = String::new();
        for (key, value) in &values {
            if !key.contains('.') {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        for line in &self.raw_lines {
            out.push_str(line);
            out.push('\n');
        }
        for table in TABLES.iter().filter(|t| !t.is_empty()) {
            let prefix = format!("{table}.");
            let keys: Vec<_> = values
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .collect();
            if keys.is_empty() {
                continue;
            }
            out.push_str(&format!("\n[{table}]\n"));
            for (key, value) in keys {
                out.push_str(&format!("{} = {value}\n", &key[prefix.len()..]));
            }
        }
        out
    }

    /// Lays out rosterd's files in `dir` as [`TestDaemon`] does (`db/`
    /// 0700, `cache/`, `home/`, the host files in `etc/`) and writes the
    /// config to `dir/rosterd.toml`, whose path it answers: for running
    /// `rosterd --check-config` or `roster doctor --config` on them.
    pub fn write_in(&self, dir: &Path) -> PathBuf {
        for sub in ["db", "cache", "etc", "home"] {
            fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.join(sub).display()));
        }
        // DESIGN.md: the database folder is 0700.
        set_mode(&dir.join("db"), 0o700);
        let etc = dir.join("etc");
        write_file(&etc.join("passwd"), &self.passwd);
        write_file(&etc.join("group"), &self.group);
        write_file(&etc.join("login.defs"), &self.login_defs);
        write_file(&etc.join("subuid"), &self.subuid);
        write_file(&etc.join("subgid"), &self.subgid);
        let path = dir.join("rosterd.toml");
        write_file(&path, &self.render_in(dir));
        path
    }

    /// The TOML text with placeholder paths (for reading in a failure).
    pub fn render(&self) -> String {
        self.render_in(Path::new("/tmp/roster-test"))
    }
}

// ------------------------------------------------------------- the daemon

/// Why rosterd did not come up: its exit status (None: it did not exit
/// but never owned the name in time) and what it wrote on stderr.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stderr: String,
}

impl StartFailure {
    /// The exit code, when rosterd exited.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// A running rosterd on a temporary database, config and NSS cache.
/// Killed (SIGKILL) on drop; the temp folder goes with it.
pub struct TestDaemon {
    dir: tempfile::TempDir,
    bus_address: String,
    config: TestConfig,
    child: Option<Child>,
}

impl TestDaemon {
    /// rosterd with [`TestConfig::new`]; panics (with its stderr) if it fails.
    pub fn start(bus: &TestBus) -> TestDaemon {
        Self::start_with(bus, TestConfig::new())
    }

    /// rosterd with the given config; panics (with its stderr) if it fails.
    pub fn start_with(bus: &TestBus, config: TestConfig) -> TestDaemon {
        match Self::try_start(bus, config) {
            Ok(d) => d,
            Err(f) => panic!("rosterd did not start ({:?}):\n{}", f.status, f.stderr),
        }
    }

    /// rosterd with the given config; a failure to start is returned.
    pub fn try_start(bus: &TestBus, config: TestConfig) -> Result<TestDaemon, StartFailure> {
        Self::try_start_at(bus.address(), config)
    }

    /// As [`TestDaemon::try_start`], on any bus address (e.g. one where no
    /// bus listens, to prove "bus unreachable").
    pub fn try_start_at(address: &str, config: TestConfig) -> Result<TestDaemon, StartFailure> {
        let mut config = config;
        if !config.fleet_host
            && !config.values.contains_key("uid_min")
            && !config.values.contains_key("uid_max")
        {
            let (min, max) = next_uid_block();
            config = config
                .set("uid_min", &min.to_string())
                .set("uid_max", &max.to_string());
        }
        let dir = temp_dir("rosterd-");
        config.write_in(dir.path());
        let mut daemon = TestDaemon {
            dir,
            bus_address: address.to_owned(),
            config,
            child: None,
        };
        daemon.spawn()?;
        Ok(daemon)
    }

    fn spawn(&mut self) -> Result<(), StartFailure> {
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .unwrap_or_else(|e| panic!("open rosterd.stderr: {e}"));
        let start_offset = stderr.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        let mut command = match self.config.launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary("rosterd"));
                c
            }
            None => Command::new(binary("rosterd")),
        };
        let mut child = command
            .arg("--config")
            .arg(self.config_path())
            .arg("--audit-log")
            .arg(self.audit_log_path())
            .args(&self.config.extra_args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus_address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("can't run rosterd: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        let stderr_since = |this: &TestDaemon| {
            this.stderr_log()
                .get(start_offset..)
                .unwrap_or_default()
                .to_owned()
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(StartFailure {
                    status: Some(status),
                    stderr: stderr_since(self),
                });
            }
            if Self::owned_by(&self.bus_address, child.id()) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartFailure {
                    status: None,
                    stderr: stderr_since(self),
                });
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Whether `pid` (our rosterd) owns the name: not merely anyone (a
    /// squatter, or another test's rosterd on a shared bus).
    fn owned_by(address: &str, pid: u32) -> bool {
        let address = address.to_owned();
        zbus::block_on(async move {
            let conn = zbus::connection::Builder::address(address.as_str())
                .build()
                .await?;
            let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
            let name = zbus::names::BusName::try_from(roster_client::BUS_NAME)?;
            Ok::<u32, zbus::Error>(dbus.get_connection_unix_process_id(name).await?)
        })
        .is_ok_and(|owner| owner == pid)
    }

    /// The uids this daemon hands out (`uid_min..=uid_max` of its config).
    pub fn uid_range(&self) -> std::ops::RangeInclusive<u32> {
        let get = |k: &str, d: u32| {
            self.config
                .values
                .get(k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        get("uid_min", UID_MIN)..=get("uid_max", UID_MAX)
    }

    /// rosterd's pid (panics when it is not running).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("rosterd is not running"))
    }

    /// Whether the rosterd process is still alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits at most `limit` for rosterd to exit on its own: its exit
    /// status, or None when it is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait (at most 20 s) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("rosterd is not running"));
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rosterd did not exit within 20 s of SIGTERM");
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (`kill -9`) and reap: nothing rosterd hasn't committed survives.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start rosterd again on the same files (after `stop` or `kill9`).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        if let Err(f) = self.spawn() {
            panic!("rosterd did not restart ({:?}):\n{}", f.status, f.stderr);
        }
    }

    /// As [`TestDaemon::restart`], returning a failure instead of panicking.
    pub fn try_restart(&mut self) -> Result<(), StartFailure> {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn()
    }

    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("rosterd.toml")
    }

    /// Rewrite the config file (takes effect at the next restart).
    pub fn rewrite_config(&mut self, config: TestConfig) {
        write_file(&self.config_path(), &config.render_in(self.dir()));
        self.config = config;
    }

    fn path_of(&self, key: &str, default: PathBuf) -> PathBuf {
        match self.config.values.get(key) {
            Some(v) => PathBuf::from(serde_json::from_str::<String>(v).unwrap_or(v.clone())),
            None => default,
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.path_of("database", self.dir().join("db").join("roster.db"))
    }

    pub fn nss_cache_path(&self) -> PathBuf {
        self.path_of("nss_cache", self.dir().join("cache").join("nss.cache"))
    }

    pub fn home_base(&self) -> PathBuf {
        self.path_of("home_base", self.dir().join("home"))
    }

    pub fn passwd_path(&self) -> PathBuf {
        self.path_of("passwd_file", self.dir().join("etc").join("passwd"))
    }

    pub fn group_path(&self) -> PathBuf {
        self.path_of("group_file", self.dir().join("etc").join("group"))
    }

    /// The file rosterd appends its audit lines to (besides syslog).
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir().join("audit.log")
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.dir().join("rosterd.stderr")
    }

    /// Every audit line so far.
    pub fn audit_log(&self) -> String {
        fs::read_to_string(self.audit_log_path()).unwrap_or_default()
    }

    /// Everything rosterd wrote on stderr, over all its starts.
    pub fn stderr_log(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// The `roster` CLI against this daemon (as root unless `.as_uid`).
    pub fn roster(&self, args: &[&str]) -> Cmd {
        Cmd::new(binary("roster"), &self.bus_address).args(args)
    }

    /// `roster-probe METHOD ARG_JSON…`: one proxy call, printing
    /// `{"ok": reply}` or `{"error": "org.roster.Error.X", "message": …}`
    /// (exit 0 / 1). METHOD is `Interface.Method` as on the bus, e.g.
    /// `Users.Create`, `Grants.Revoke`, `Pam.Authenticate`; each argument
    /// is JSON (`"\"alice\""`, `"true"`, `{"name":"bob",…}` for structs).
    /// `.env("ROSTER_TOKEN", t)` makes it present a token first.
    pub fn probe(&self, method: &str, args: &[&str]) -> Cmd {
        Cmd::new(probe_binary(), &self.bus_address)
            .arg(method)
            .args(args)
    }

    /// Any program with `DBUS_SYSTEM_BUS_ADDRESS` pointing at this bus.
    pub fn command(&self, program: impl AsRef<Path>) -> Cmd {
        Cmd::new(program.as_ref().to_path_buf(), &self.bus_address)
    }

    /// Runs the sqlite3 CLI on the database (read-only): its stdout.
    pub fn sqlite(&self, sql: &str) -> String {
        let out = Command::new("sqlite3")
            .arg("-readonly")
            .arg(self.database_path())
            .arg(sql)
            .output()
            .unwrap_or_else(|e| panic!("can't run sqlite3 (apt-get install sqlite3): {e}"));
        assert!(
            out.status.success(),
            "sqlite3 {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates an active user with `password` as root (through the
    /// proxies, not the CLI); `role` is `"user"` or `"admin"`. Answers its uid.
    #[track_caller]
    pub fn create_user(&self, name: &str, role: &str, password: &str) -> u32 {
        let request = serde_json::json!({
            "name": name, "display_name": "", "role": role,
            "home": "", "shell": "", "register": false,
        });
        let out = self
            .probe(
                "Users.Create",
                &[
                    &request.to_string(),
                    &serde_json::to_string(password).unwrap_or_default(),
                ],
            )
            .run()
            .expect_ok();
        out.json()["ok"]["user"]["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or_else(|| panic!("no uid in {}", out.stdout))
    }

    /// Creates a pending user (`--register`) as root: its uid and code.
    #[track_caller]
    pub fn create_pending_user(&self, name: &str) -> (u32, String) {
        let request = serde_json::json!({
            "name": name, "display_name": "", "role": "",
            "home": "", "shell": "", "register": true,
        });
        let out = self
            .probe("Users.Create", &[&request.to_string(), "\"\""])
            .run()
            .expect_ok();
        let v = out.json();
        let uid = v["ok"]["user"]["uid"].as_u64().unwrap_or(0) as u32;
        let code = v["ok"]["registration_code"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        (uid, code)
    }

    /// Adds an environment as root.
    #[track_caller]
    pub fn add_environment(&self, name: &str) {
        let arg = serde_json::to_string(name).unwrap_or_default();
        self.probe("Environments.Add", &[&arg]).run().expect_ok();
    }

    /// Grants `level` in `environment` (empty = this host's) as root.
    #[track_caller]
    pub fn grant(&self, user: &str, level: &str, environment: &str) {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        self.probe("Grants.Grant", &[&q(user), &q(level), &q(environment)])
            .run()
            .expect_ok();
    }

    /// A zbus connection to this daemon's bus as the test's own uid.
    pub fn connect(&self) -> zbus::Connection {
        let address = self.bus_address.clone();
        zbus::block_on(async move {
            zbus::connection::Builder::address(address.as_str())
                .build()
                .await
        })
        .unwrap_or_else(|e| panic!("can't connect to the test bus: {e}"))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ------------------------------------------------------------ commands

/// A command to run against the test bus: as root by default, as another
/// uid with [`Cmd::as_uid`] (through `setpriv --reuid --regid
/// --clear-groups`), with stdin closed unless [`Cmd::stdin`] gives text
/// (so nothing ever waits on a terminal).
#[derive(Clone, Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    uid: Option<u32>,
    stdin: Option<Vec<u8>>,
    bus_address: String,
}

impl Cmd {
    fn new(program: PathBuf, bus_address: &str) -> Cmd {
        Cmd {
            program,
            args: Vec::new(),
            env: Vec::new(),
            uid: None,
            stdin: None,
            bus_address: bus_address.to_owned(),
        }
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Run as `uid` (gid = uid, no supplementary groups).
    pub fn as_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.as_bytes().to_vec());
        self
    }

    pub fn stdin_bytes(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// The std `Command` this describes (to spawn it in the background).
    pub fn to_command(&self) -> Command {
        let mut cmd = match self.uid {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(&self.args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus_address)
            .env_remove("ROSTER_TOKEN");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Runs it to the end (at most 60 s) and collects its output.
    pub fn run(&self) -> Run {
        let started = Instant::now();
        let mut child = self
            .to_command()
            .spawn()
            .unwrap_or_else(|e| panic!("can't run {}: {e}", self.program.display()));
        if let Some(bytes) = &self.stdin
            && let Some(mut stdin) = child.stdin.take()
        {
            // A child that exits without reading gives EPIPE: not our concern.
            let _ = stdin.write_all(bytes);
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.program.display()));
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
            description: format!("{} {}", self.program.display(), self.args.join(" ")),
        }
    }
}

/// What a command did.
#[derive(Clone, Debug)]
pub struct Run {
    /// The exit code (None when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    description: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with both outputs unless the exit code is 0.
    #[track_caller]
    pub fn expect_ok(self) -> Self {
        assert!(
            self.success(),
            "`{}` failed ({:?})\nstdout: {}\nstderr: {}",
            self.description,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics with both outputs unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "`{}`\nstdout: {}\nstderr: {}",
            self.description,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as JSON (panics when it isn't).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// For `roster-probe`: the D-Bus error name's last part (`NotFound`),
    /// or None when the call succeeded.
    pub fn probe_error(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.stdout).ok()?;
        let name = v.get("error")?.as_str()?;
        Some(name.rsplit('.').next().unwrap_or(name).to_owned())
    }
}
