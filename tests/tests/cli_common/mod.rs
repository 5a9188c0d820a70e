//! What the `cli_*` tests share: a bus and a rosterd per test, and the few
//! steps nearly every test takes (create a user, find its uid, grant).

#![allow(dead_code)]

use roster_tests::{Run, STRANGER_UID, TestConfig, TestDaemon, UID_MIN};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Each host of a test binary gets its own block of uids: ending a user's
/// sessions signals every process of that uid on the machine, so two
/// tests running at once must never hand out the same uid (one test's
/// suspend would kill the other's CLI or session leader).
const UIDS_PER_HOST: u32 = 32;
const MAX_HOSTS: u32 = 128;
/// How many of the test range's first uids the bus can resolve.
const RESOLVABLE_USERS: u32 = UIDS_PER_HOST * MAX_HOSTS;
static NEXT_BLOCK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A private system-like bus whose dbus-daemon resolves the test's uids.
///
/// dbus-daemon looks every connecting uid up (getpwuid, its groups) and
/// drops the connection of a uid NSS doesn't know. On a real host Roster's
/// users resolve through libnss_roster; here dbus-daemon runs under
/// nss_wrapper with a passwd and group file listing root, nobody, the
/// stranger (a local account Roster doesn't know) and the first uids of
/// the test range, so the CLI can run as any of them through setpriv.
pub struct WrappedBus {
    address: String,
    child: Child,
    _dir: tempfile::TempDir,
}

fn nss_wrapper_library() -> &'static str {
    const CANDIDATES: [&str; 3] = [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
        "/usr/lib64/libnss_wrapper.so",
        "/usr/lib/libnss_wrapper.so",
    ];
    CANDIDATES
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("libnss_wrapper.so is missing: apt-get install libnss-wrapper"))
}

impl WrappedBus {
    pub fn start() -> WrappedBus {
        let dir = tempfile::Builder::new()
            .prefix("roster-cli-bus-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let d = dir.path();
        // Other uids (the CLI through setpriv) must reach the socket.
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        let socket = d.join("bus");
        let mut passwd = String::from(
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        let mut group = String::from("root:x:0:\nnogroup:x:65534:\n");
        let ids = std::iter::once(("stranger".to_owned(), STRANGER_UID))
            .chain((0..RESOLVABLE_USERS).map(|i| (format!("rosteruid{i}"), UID_MIN + i)));
        for (name, id) in ids {
            passwd.push_str(&format!("{name}:x:{id}:{id}::/nonexistent:/bin/sh\n"));
            group.push_str(&format!("{name}:x:{id}:\n"));
        }
        let write = |name: &str, text: &str| {
            std::fs::write(d.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"))
        };
        write("passwd", &passwd);
        write("group", &group);
        write(
            "bus.conf",
            &format!(
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
            ),
        );
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", d.join("bus.conf").display()))
            .args(["--nofork", "--nopidfile"])
            .env("LD_PRELOAD", nss_wrapper_library())
            .env("NSS_WRAPPER_PASSWD", d.join("passwd"))
            .env("NSS_WRAPPER_GROUP", d.join("group"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("dbus-daemon (apt-get install dbus): {e}"));
        let mut bus = WrappedBus {
            address: format!("unix:path={}", socket.display()),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if let Ok(Some(status)) = bus.child.try_wait() {
                panic!("dbus-daemon exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "dbus-daemon did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        bus
    }

    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for WrappedBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private bus and a rosterd on it. The daemon is declared first so it
/// is dropped (killed) before its bus.
pub struct Host {
    pub daemon: TestDaemon,
    pub bus: WrappedBus,
}

impl Host {
    pub fn start() -> Host {
        Self::start_with(TestConfig::new())
    }

    pub fn start_with(config: TestConfig) -> Host {
        let block = NEXT_BLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(
            block < MAX_HOSTS,
            "more hosts than uid blocks: raise MAX_HOSTS"
        );
        let uid_min = UID_MIN + block * UIDS_PER_HOST;
        let config = config
            .set("uid_min", &uid_min.to_string())
            .set("uid_max", &(uid_min + UIDS_PER_HOST - 1).to_string());
        let bus = WrappedBus::start();
        let daemon = match TestDaemon::try_start_at(bus.address(), config) {
            Ok(daemon) => daemon,
            Err(f) => panic!("rosterd did not start ({:?}):\n{}", f.status, f.stderr),
        };
        Host { daemon, bus }
    }

    /// `roster ARGS` as root.
    pub fn root(&self, args: &[&str]) -> Run {
        self.daemon.roster(args).run()
    }

    /// `roster ARGS` as `uid`.
    pub fn as_uid(&self, uid: u32, args: &[&str]) -> Run {
        self.daemon.roster(args).as_uid(uid).run()
    }

    /// Creates `name` as root with its standard password; its uid.
    pub fn user(&self, name: &str) -> u32 {
        self.user_with(name, &[])
    }

    /// Creates `name` as root with extra flags (`--set-role admin`).
    pub fn user_with(&self, name: &str, extra: &[&str]) -> u32 {
        let mut args = vec!["users", "create", name, "--password-stdin"];
        args.extend_from_slice(extra);
        self.daemon
            .roster(&args)
            .stdin(&format!("{}\n", password_of(name)))
            .run()
            .expect_ok();
        self.uid_of(name)
    }

    pub fn uid_of(&self, name: &str) -> u32 {
        let shown = self
            .root(&["users", "show", name, "--json"])
            .expect_ok()
            .json();
        shown["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or_else(|| panic!("no uid in {shown}"))
    }

    /// `roster users grant NAME LEVEL [--environment ENV]` as root.
    pub fn grant(&self, name: &str, level: &str, environment: Option<&str>) {
        let mut args = vec!["users", "grant", name, level];
        if let Some(env) = environment {
            args.extend_from_slice(&["--environment", env]);
        }
        self.root(&args).expect_ok();
    }

    /// The names `users list --all --json` shows root.
    pub fn names(&self) -> Vec<String> {
        names_in(&self.root(&["users", "list", "--all", "--json"]).expect_ok())
    }

    /// The user as root sees it (`users show --json`).
    pub fn show(&self, name: &str) -> serde_json::Value {
        self.root(&["users", "show", name, "--json"])
            .expect_ok()
            .json()
    }
}

/// Every test user's password: long enough for the policy, and unique, so
/// a grep for it in logs means something.
///
/// The policy refuses a password holding the user name, so the name is
/// shifted a letter (`alice` → `bmjdf`) rather than copied.
pub fn password_of(name: &str) -> String {
    let shifted: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                (((c as u8 - b'a' + 1) % 26) + b'a') as char
            } else {
                c
            }
        })
        .collect();
    format!("Pw-{shifted}-Correct-Horse-9")
}

/// The `name`s of a `users list --json` output.
pub fn names_in(run: &Run) -> Vec<String> {
    let value = run.json();
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .filter_map(|u| u["name"].as_str().map(str::to_owned))
        .collect()
}

/// Asserts a failed run: exit `code`, a `roster:` sentence containing
/// `needle` on stderr, nothing on stdout.
#[track_caller]
pub fn assert_fails(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code,
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
    if code == 1 {
        assert!(
            run.stderr.starts_with("roster: "),
            "errors are sentences after `roster: `:\n{}",
            run.stderr
        );
    }
}
