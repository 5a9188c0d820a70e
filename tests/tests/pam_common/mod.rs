//! Shared by the `pam_*` end-to-end tests: a real dbus-daemon and rosterd
//! (the harness), the real `pam_roster.so` loaded by real libpam from a
//! service file stacked like the packaged pam-auth-update profile, and
//! Roster users resolved through the real `libnss_roster.so.2` under
//! nss_wrapper.
//!
//! libpam is driven by `tests/pam/pam_driver.c` (compiled with `cc` on
//! first use), one process per PAM conversation, with
//! `pam_start_confdir` pointing at this test's own service folder: the
//! host's /etc/pam.d is never read. The driver is single-threaded, so the
//! thread counts it prints are exactly what the modules left behind.
//!
//! Needs: libpam0g-dev, libnss-wrapper, dbus, cc; the modules built alone
//! (`cargo build --profile modules -p pam_roster --target-dir target/pam`, and
//! the same for nss_roster into target/nss), or `ROSTER_PAM_SO` /
//! `ROSTER_NSS_SO` pointing at them (scripts/test.sh sets both).

#![allow(dead_code)]

use roster_tests::{TestBus, TestConfig, TestDaemon};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const SECURITY_DIR: &str = "/usr/lib/x86_64-linux-gnu/security";
pub const NSS_WRAPPER: &str = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so";

/// The local account every test has (nss_wrapper's passwd file), with a
/// password pam_unix checks from the passwd field itself.
pub const LOCAL_USER: &str = "localuser";
pub const LOCAL_UID: u32 = 1000;
pub const LOCAL_PASSWORD: &str = "local-password-1";

pub const PAM_SUCCESS: i32 = 0;
pub const PAM_PERM_DENIED: i32 = 6;
pub const PAM_AUTH_ERR: i32 = 7;
pub const PAM_CRED_INSUFFICIENT: i32 = 8;
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;
pub const PAM_USER_UNKNOWN: i32 = 10;
pub const PAM_MAXTRIES: i32 = 11;
pub const PAM_NEW_AUTHTOK_REQD: i32 = 12;
pub const PAM_ACCT_EXPIRED: i32 = 13;
pub const PAM_AUTHTOK_ERR: i32 = 20;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn built(var: &str, default: &str, how: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(default));
    assert!(
        path.exists(),
        "{} is missing: build it with `{how}` (or set {var})",
        path.display()
    );
    path
}

/// The module under test, built alone (never with tokio).
pub fn pam_so() -> PathBuf {
    built(
        "ROSTER_PAM_SO",
        "target/pam/modules/libpam_roster.so",
        "cargo build --profile modules -p pam_roster --target-dir target/pam",
    )
}

pub fn nss_so() -> PathBuf {
    built(
        "ROSTER_NSS_SO",
        "target/nss/modules/libnss_roster.so",
        "cargo build --profile modules -p nss_roster --target-dir target/nss",
    )
}

/// tests/pam/pam_driver.c, compiled once per test binary.
pub fn driver() -> &'static Path {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join(format!("pam_driver.{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-Wall", "-O1", "-o"])
            .arg(&out)
            .arg(workspace().join("tests/pam/pam_driver.c"))
            .arg("-lpam")
            .status()
            .unwrap_or_else(|e| panic!("can't run cc: {e}"));
        assert!(
            status.success(),
            "compiling tests/pam/pam_driver.c failed (apt-get install libpam0g-dev)"
        );
        out
    })
}

/// The packaged profile's lines, as pam-auth-update writes them into
/// common-{auth,account,password,session} after pam_unix (priority 256
/// before Roster's 128), with `args` added to each pam_roster line.
pub fn packaged_stack(roster: &Path, args: &str) -> String {
    let unix = format!("{SECURITY_DIR}/pam_unix.so");
    let deny = format!("{SECURITY_DIR}/pam_deny.so");
    let permit = format!("{SECURITY_DIR}/pam_permit.so");
    let roster = roster.display();
    format!(
        "auth\t[success=2 default=ignore]\t{unix} nullok\n\
         auth\t[success=1 new_authtok_reqd=done default=ignore]\t{roster} use_first_pass {args}\n\
         auth\trequisite\t{deny}\n\
         auth\trequired\t{permit}\n\
         account\t[success=1 new_authtok_reqd=done default=ignore]\t{unix}\n\
         account\trequisite\t{deny}\n\
         account\trequired\t{permit}\n\
         account\t[default=bad success=ok new_authtok_reqd=done user_unknown=ignore]\t{roster} {args}\n\
         password\t[success=2 default=ignore]\t{unix} obscure yescrypt\n\
         password\t[success=1 default=ignore]\t{roster} try_first_pass {args}\n\
         password\trequisite\t{deny}\n\
         password\trequired\t{permit}\n\
         session\t[default=1]\t{permit}\n\
         session\trequisite\t{deny}\n\
         session\trequired\t{permit}\n\
         session\trequired\t{unix}\n\
         session\toptional\t{roster} {args}\n"
    )
}

/// One test's world: bus, rosterd, a service folder and NSS files.
pub struct World {
    pub bus: TestBus,
    pub daemon: TestDaemon,
    dir: tempfile::TempDir,
}

impl World {
    pub fn start() -> World {
        World::start_with(TestConfig::new())
    }

    /// rosterd hands each test daemon its own block of uids (the harness:
    /// a suspend ends every process of a uid, so tests never share one),
    /// and the harness's bus resolves them for dbus-daemon.
    pub fn start_with(config: TestConfig) -> World {
        let bus = TestBus::start();
        let daemon = TestDaemon::start_with(&bus, config);
        let dir = tempfile::Builder::new()
            .prefix("roster-pam-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let world = World { bus, daemon, dir };
        std::fs::create_dir_all(world.services()).unwrap_or_else(|e| panic!("mkdir: {e}"));
        world.set_local_accounts("");
        world.service("login", &world.module_args());
        world
    }

    /// The folder handed to pam_start_confdir.
    pub fn services(&self) -> PathBuf {
        self.dir.path().join("pam.d")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `bus=` and `snapshot=` for this test's rosterd.
    pub fn module_args(&self) -> String {
        format!(
            "bus={} snapshot={}",
            self.daemon.bus_address(),
            self.daemon.nss_cache_path().display()
        )
    }

    /// Writes service `name` with the packaged stack and `args`.
    pub fn service(&self, name: &str, args: &str) {
        write(
            &self.services().join(name),
            &packaged_stack(&pam_so(), args),
        );
    }

    /// Writes service `name` with pam_roster alone on every line, so a
    /// test sees the module's own codes (in the packaged stack most of
    /// them become "ignore, then pam_deny") and no pam_unix fail delay.
    pub fn roster_only(&self, name: &str, args: &str) {
        let so = pam_so();
        let so = so.display();
        let text: String = ["auth", "account", "password", "session"]
            .iter()
            .map(|t| format!("{t}\trequired\t{so} {args}\n"))
            .collect();
        write(&self.services().join(name), &text);
    }

    /// Makes the test's folders readable by a non-root driver (as they
    /// are on a host: /var/cache/roster is 0755, the snapshot 0644).
    pub fn open_to_everyone(&self) {
        use std::os::unix::fs::PermissionsExt;
        let cache = self.daemon.nss_cache_path();
        for dir in [
            Some(self.dir.path().to_path_buf()),
            Some(self.services()),
            cache.parent().map(Path::to_path_buf),
            cache.parent().and_then(Path::parent).map(Path::to_path_buf),
        ]
        .into_iter()
        .flatten()
        {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        }
    }

    /// Writes service `name` as given (for one-module stacks).
    pub fn raw_service(&self, name: &str, text: &str) {
        write(&self.services().join(name), text);
    }

    /// nss_wrapper's local files: root, `localuser` (whose password is in
    /// the passwd field, where pam_unix reads it when it isn't `x`), plus
    /// `extra` lines (a local account shadowing a Roster name).
    pub fn set_local_accounts(&self, extra: &str) {
        let hash = crypt_sha512(LOCAL_PASSWORD);
        write(
            &self.dir.path().join("passwd"),
            &format!(
                "root:x:0:0:root:/root:/bin/bash\n\
                 {LOCAL_USER}:{hash}:{LOCAL_UID}:{LOCAL_UID}:Local:/home/{LOCAL_USER}:/bin/sh\n{extra}"
            ),
        );
        write(
            &self.dir.path().join("group"),
            &format!("root:x:0:\n{LOCAL_USER}:x:{LOCAL_UID}:\n"),
        );
    }

    /// Runs `roster` as root and panics unless it succeeds.
    pub fn roster(&self, args: &[&str]) -> String {
        self.daemon.roster(args).run().expect_ok().stdout
    }

    /// Creates an active user with `password` and a grant at `level`
    /// (None: no grant), answers its uid.
    pub fn user(&self, name: &str, password: &str, level: Option<&str>) -> u32 {
        self.daemon
            .roster(&["users", "create", name, "--password-stdin"])
            .stdin(&format!("{password}\n"))
            .run()
            .expect_ok();
        if let Some(level) = level {
            self.roster(&["users", "grant", name, level]);
        }
        self.uid(name)
    }

    /// Creates a pending user; answers its registration code.
    pub fn pending_user(&self, name: &str, level: &str) -> String {
        let out = self.roster(&["users", "create", name, "--register"]);
        self.roster(&["users", "grant", name, level]);
        out.lines()
            .find(|l| l.starts_with("    ") && !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .unwrap_or_else(|| panic!("no registration code in\n{out}"))
    }

    pub fn uid(&self, name: &str) -> u32 {
        let out = self.roster(&["users", "show", name, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["uid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no uid in {out}")) as u32
    }

    pub fn state(&self, name: &str) -> String {
        let out = self.roster(&["users", "show", name, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["state"].as_str().unwrap_or_default().to_owned()
    }

    /// A PAM conversation for `user` on service `login`.
    pub fn pam(&self, user: &str) -> Login<'_> {
        Login {
            world: self,
            service: "login".into(),
            user: user.into(),
            steps: Vec::new(),
            answers: Vec::new(),
            rhost: None,
            uid: None,
            env: Vec::new(),
        }
    }
}

/// A PAM conversation to run through pam_driver.
pub struct Login<'w> {
    world: &'w World,
    service: String,
    user: String,
    steps: Vec<String>,
    answers: Vec<String>,
    rhost: Option<String>,
    uid: Option<u32>,
    env: Vec<(String, String)>,
}

impl Login<'_> {
    pub fn service(mut self, name: &str) -> Self {
        self.service = name.into();
        self
    }
    pub fn steps(mut self, steps: &[&str]) -> Self {
        self.steps = steps.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// The conversation's answers to prompts, in order.
    pub fn answers(mut self, answers: &[&str]) -> Self {
        self.answers = answers.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    pub fn rhost(mut self, host: &str) -> Self {
        self.rhost = Some(host.into());
        self
    }
    /// Run libpam as this uid (a screen locker, `passwd` run by a user).
    pub fn run_as(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self) -> Command {
        let w = self.world;
        let mut cmd = Command::new(driver());
        cmd.arg("--confdir").arg(w.services());
        if let Some(h) = &self.rhost {
            cmd.args(["--rhost", h]);
        }
        if let Some(uid) = self.uid {
            cmd.args(["--uid", &uid.to_string()]);
        }
        cmd.arg(&self.service).arg(&self.user).args(&self.steps);
        // The module must never need the environment: start from none.
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LD_PRELOAD", NSS_WRAPPER)
            .env("NSS_WRAPPER_PASSWD", w.dir.path().join("passwd"))
            .env("NSS_WRAPPER_GROUP", w.dir.path().join("group"))
            .env("NSS_WRAPPER_MODULE_SO_PATH", nss_so())
            .env("NSS_WRAPPER_MODULE_FN_PREFIX", "roster")
            .env("ROSTER_NSS_CACHE", w.daemon.nss_cache_path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the driver (for a session kept open while the test acts).
    pub fn spawn(&self) -> Child {
        let mut child = self
            .command()
            .spawn()
            .unwrap_or_else(|e| panic!("can't run pam_driver: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(self.stdin_text().as_bytes());
        }
        child
    }

    fn stdin_text(&self) -> String {
        self.answers.iter().map(|a| format!("{a}\n")).collect()
    }

    pub fn run(&self) -> Conversation {
        let started = Instant::now();
        let child = self.spawn();
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for pam_driver: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "pam_driver failed\nstdout: {stdout}\nstderr: {stderr}"
        );
        Conversation::parse(&stdout, &stderr, started.elapsed())
    }
}

/// What pam_driver printed.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub stdout: String,
    pub stderr: String,
    pub threads_before: usize,
    pub fds_before: usize,
    pub steps: Vec<Step>,
    pub prompts: Vec<String>,
    pub errors: Vec<String>,
    pub infos: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub code: i32,
    pub ms: f64,
    pub threads: usize,
    pub fds: usize,
}

impl Conversation {
    fn parse(stdout: &str, stderr: &str, elapsed: Duration) -> Conversation {
        let mut c = Conversation {
            stdout: stdout.into(),
            stderr: stderr.into(),
            threads_before: 0,
            fds_before: 0,
            steps: Vec::new(),
            prompts: Vec::new(),
            errors: Vec::new(),
            infos: Vec::new(),
            elapsed,
        };
        for line in stdout.lines() {
            let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
            match kind {
                "threads" => c.threads_before = rest.parse().unwrap_or(0),
                "fds" => c.fds_before = rest.parse().unwrap_or(0),
                "prompt" => c.prompts.push(rest.into()),
                "error" => c.errors.push(rest.into()),
                "info" => c.infos.push(rest.into()),
                "step" => {
                    let f: Vec<&str> = rest.split(' ').collect();
                    c.steps.push(Step {
                        name: f.first().copied().unwrap_or_default().into(),
                        code: f.get(1).and_then(|v| v.parse().ok()).unwrap_or(-1),
                        ms: f
                            .get(2)
                            .and_then(|v| v.strip_prefix("ms="))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(-1.0),
                        threads: f
                            .get(3)
                            .and_then(|v| v.strip_prefix("threads="))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                        fds: f
                            .get(4)
                            .and_then(|v| v.strip_prefix("fds="))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0),
                    });
                }
                _ => {}
            }
        }
        c
    }

    /// The code of the step named `name` (the first one).
    #[track_caller]
    pub fn code(&self, name: &str) -> i32 {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.code)
            .unwrap_or_else(|| panic!("no step {name} in\n{}\n{}", self.stdout, self.stderr))
    }

    /// The codes of every step, in order.
    pub fn codes(&self) -> Vec<i32> {
        self.steps.iter().map(|s| s.code).collect()
    }

    #[track_caller]
    pub fn step(&self, name: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name} in\n{}", self.stdout))
    }
}

/// A socket that accepts connections and never answers: a hung bus or
/// rosterd. Kept open until dropped.
pub struct SilentBus {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
    _accepted: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl SilentBus {
    pub fn start() -> SilentBus {
        let dir = tempfile::Builder::new()
            .prefix("roster-silent-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("bus");
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind: {e}"));
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(mut held) = keep.lock() {
                    held.push(stream);
                }
            }
        });
        // The socket may need to be reachable by a non-root driver.
        let _ = std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        SilentBus {
            path,
            _dir: dir,
            _accepted: accepted,
        }
    }

    pub fn address(&self) -> String {
        format!("unix:path={}", self.path.display())
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A sha512-crypt hash (`openssl passwd -6`), which pam_unix verifies.
pub fn crypt_sha512(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-salt", "rostertestsalt", password])
        .output()
        .unwrap_or_else(|e| panic!("openssl passwd: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The number of threads of process `pid` (0 when it is gone).
pub fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
