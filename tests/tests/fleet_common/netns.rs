//! Fleet hosts each in network, PID and mount namespaces of their own.
//!
//! A host is this test binary started again as `unshare --net --pid
//! --mount --fork --mount-proc --kill-child EXE host_agent …` (the
//! `host_agent` test, run only with [`AGENT_ENV`] set): the agent is PID 1
//! of its namespaces and starts pam_common's [`World`] there, unchanged —
//! its dbus-daemon, rosterd, the PAM driver and the NSS lookups all run
//! inside, with a `/proc` that shows the host's processes only (so one
//! host's session sweep can't reach another's). The test drives the agent
//! with one JSON line per request on its stdin; it answers one line
//! `@@ {json}` on stdout.
//!
//! The network: a veth pair per host, the host's end named `eth0` inside
//! its namespace with `10.77.K.(10+N)`, the test's end in the test's
//! namespace with the controllers' address `10.77.K.1` (the same address
//! on every test-side end, point to point, so taking one link down cuts
//! that host alone). No default route: nothing leaves the machine.
//!
//! Cleanup: dropping a [`NsHost`] asks the agent to stop, then SIGKILLs
//! the launcher; `--kill-child` kills the agent (PID 1), which takes every
//! process of its PID namespace with it, and the namespace's veth end (so
//! the pair) goes with the network namespace. The launcher dies with the
//! test thread that started it (`PR_SET_PDEATHSIG`), so even a killed test
//! leaves nothing running.

use crate::pam_common::{self, Conversation, World};
use roster_tests::TestConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set (to the host's name) in the agent's environment: the `host_agent`
/// test serves requests only then.
pub const AGENT_ENV: &str = "ROSTER_NETNS_AGENT";

/// How long one request may take in the agent (waits included).
const REQUEST_LIMIT: Duration = Duration::from_secs(120);

/// Microseconds since the epoch: agents and the test share the clock, so
/// "seen at" in a host minus "committed at" in the test is a latency.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The test's side of every host link.
#[derive(Clone, Debug)]
pub struct Net {
    /// The third octet of this run's addresses (from the test's pid, so
    /// two runs at once don't share routes).
    pub octet: u8,
    /// The controllers' address, on every test-side veth end.
    pub gateway: String,
    /// Prefix of the test-side interface names.
    tag: String,
}

impl Net {
    /// A network of its own for each test of this process (at most 4),
    /// apart from other processes' (by pid).
    pub fn new() -> Net {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4;
        let pid = std::process::id();
        let octet = (20 + (pid % 50) * 4 + n) as u8;
        Net {
            octet,
            gateway: format!("10.77.{octet}.1"),
            tag: format!("rn{}n{n}", pid % 100_000),
        }
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

/// What the test asks an agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `roster ARGS` as root inside the host (stdin given or closed).
    Roster {
        args: Vec<String>,
        stdin: Option<String>,
    },
    /// One PAM conversation through pam_driver.
    Pam {
        user: String,
        steps: Vec<String>,
        answers: Vec<String>,
    },
    /// Logs in (auth + acct) until the outcome is `want` (see
    /// [`Outcome`]): when (`seen_at_us`) and how many tries.
    WaitLogin {
        user: String,
        password: String,
        want: Outcome,
        /// The account check alone (no auth: a refused auth waits out
        /// pam_unix's fail delay, which would hide the figure).
        account_only: bool,
        timeout_ms: u64,
    },
    /// Asks `roster users show USER --json` until the user's state is
    /// `state` (None: until the user is unknown): when.
    WaitState {
        user: String,
        state: Option<String>,
        timeout_ms: u64,
    },
    /// A PAM session of `user` held open by pam_driver (root, waiting for
    /// a file), and a process of `uid` beside it, as a login's shell.
    OpenSession {
        user: String,
        password: String,
        uid: u32,
    },
    /// A process of `uid` (`sleep`) in the host.
    SpawnAs {
        uid: u32,
    },
    /// Whether a process started by `open_session`/`spawn_as` still runs.
    Alive {
        id: u64,
    },
    /// Waits until that process has ended: when.
    WaitGone {
        id: u64,
        timeout_ms: u64,
    },
    /// SIGKILL of rosterd (as a crash).
    Kill9Rosterd,
    /// rosterd started again on the same files.
    RestartRosterd,
    Quit,
}

/// What a login came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// auth and acct both PAM_SUCCESS.
    LoggedIn,
    /// Anything else.
    Refused,
}

// ------------------------------------------------------------ the test's side

/// A host in its own namespaces, driven through its agent.
pub struct NsHost {
    pub name: String,
    /// The host's address (its `eth0`).
    pub address: String,
    /// The test-side veth end.
    pub link: String,
    /// The agent's pid in the test's namespace (PID 1 in the host's).
    pub pid: u32,
    /// rosterd's state folder (its enrollment is in `db/fleet/`).
    pub daemon_dir: PathBuf,
    pub database: PathBuf,
    launcher: Child,
    channel: Mutex<(ChildStdin, Receiver<String>)>,
    /// TMPDIR of the agent: every folder the host's World makes.
    _tmp: tempfile::TempDir,
}

impl NsHost {
    /// Starts host `index` (1, 2, 3 …) named `name`: its namespaces, its
    /// link, and the World inside (not waited for: [`NsHost::start_all`]).
    fn start(net: &Net, index: u8, name: &str) -> NsHost {
        let tmp = tempfile::Builder::new()
            .prefix("roster-netns-")
            .tempdir()
            .unwrap();
        // Other uids (the CLI run as a user) must reach the bus socket.
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut command = Command::new("unshare");
        command
            .args([
                "--net",
                "--pid",
                "--mount",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "--",
            ])
            .arg(exe)
            .args([
                "host_agent",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(AGENT_ENV, name)
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl in the child between fork and exec, no allocation.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut launcher = command
            .spawn()
            .unwrap_or_else(|e| panic!("can't run unshare (util-linux): {e}"));
        let stdin = launcher.stdin.take().unwrap();
        let (sender, replies) = channel();
        let stdout = launcher.stdout.take().unwrap();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest's "test host_agent ... " may begin the line.
                match line.find("@@ ").map(|at| &line[at + 3..]) {
                    Some(reply) => {
                        if sender.send(reply.to_owned()).is_err() {
                            break;
                        }
                    }
                    None if line.trim().is_empty() => {}
                    None => eprintln!("[{label}] {line}"),
                }
            }
        });
        let stderr = launcher.stderr.take().unwrap();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
            }
        });
        let pid = child_of(launcher.id());
        let address = format!("10.77.{}.{}", net.octet, 10 + index);
        let link = format!("{}x{index}", net.tag);
        let host = NsHost {
            name: name.to_owned(),
            address: address.clone(),
            link: link.clone(),
            pid,
            daemon_dir: PathBuf::new(),
            database: PathBuf::new(),
            launcher,
            channel: Mutex::new((stdin, replies)),
            _tmp: tmp,
        };
        ip(&[
            "link",
            "add",
            &link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &pid.to_string(),
        ]);
        ip(&["addr", "add", &net.gateway, "peer", &address, "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        let inside = format!(
            "ip link set lo up && ip addr add {address} peer {} dev eth0 && ip link set eth0 up",
            net.gateway
        );
        let out = Command::new("nsenter")
            .args(["--target", &pid.to_string(), "--net", "--", "sh", "-c"])
            .arg(&inside)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{inside}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        host
    }

    /// Hosts `names` (numbered from 1), started together, each waited for
    /// until its World runs.
    pub fn start_all(net: &Net, names: &[&str]) -> Vec<NsHost> {
        let mut hosts: Vec<NsHost> = names
            .iter()
            .enumerate()
            .map(|(i, name)| NsHost::start(net, i as u8 + 1, name))
            .collect();
        for host in &mut hosts {
            let ready = host.reply();
            host.daemon_dir = PathBuf::from(ready["dir"].as_str().unwrap());
            host.database = PathBuf::from(ready["database"].as_str().unwrap());
        }
        hosts
    }

    fn reply(&self) -> Value {
        let channel = self.channel.lock().unwrap();
        Self::receive(&self.name, &channel.1)
    }

    fn receive(name: &str, replies: &Receiver<String>) -> Value {
        let line = replies
            .recv_timeout(REQUEST_LIMIT + Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{name}: no answer from its agent ({e})"));
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
        if let Some(panic) = value.get("panic") {
            panic!("{name}: {}", panic.as_str().unwrap_or_default());
        }
        value
    }

    /// One request, its answer.
    pub fn call(&self, request: &Request) -> Value {
        let mut channel = self.channel.lock().unwrap();
        let line = serde_json::to_string(request).unwrap();
        writeln!(channel.0, "{line}")
            .and_then(|()| channel.0.flush())
            .unwrap_or_else(|e| panic!("{}: the agent is gone ({e})", self.name));
        Self::receive(&self.name, &channel.1)
    }

    /// `roster ARGS` inside the host: (exit code, stdout, stderr).
    pub fn roster(&self, args: &[&str]) -> (i32, String, String) {
        self.roster_with_stdin(args, None)
    }

    pub fn roster_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let v = self.call(&Request::Roster {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdin: stdin.map(str::to_owned),
        });
        (
            v["code"].as_i64().unwrap_or(-1) as i32,
            v["stdout"].as_str().unwrap_or_default().to_owned(),
            v["stderr"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// `roster hosts status --json`.
    pub fn status(&self) -> Value {
        let (code, stdout, stderr) = self.roster(&["hosts", "status", "--json"]);
        assert_eq!(code, 0, "{}: hosts status: {stderr}", self.name);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// (auth, acct) of a login of `user` with `password`; the
    /// conversation's error messages.
    pub fn login(&self, user: &str, password: &str) -> ((i32, i32), Vec<String>) {
        let v = self.call(&Request::Pam {
            user: user.into(),
            steps: vec!["auth".into(), "acct".into()],
            answers: vec![password.into()],
        });
        let code = |name: &str| {
            v["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == name))
                .and_then(|s| s["code"].as_i64())
                .unwrap_or(-1) as i32
        };
        let errors = v["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ((code("auth"), code("acct")), errors)
    }

    /// Partition: the test's end of the link down (or up again).
    pub fn link_up(&self, up: bool) {
        ip(&["link", "set", &self.link, if up { "up" } else { "down" }]);
    }
}

impl Drop for NsHost {
    fn drop(&mut self) {
        // A test failing: no time for a clean stop (the kill below is one).
        let polite = !std::thread::panicking();
        if polite && let Ok(mut channel) = self.channel.lock() {
            let _ = writeln!(channel.0, "{}", json!({"op": "quit"}));
            let _ = channel.0.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(if polite { 3 } else { 0 });
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.launcher.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SIGKILL of unshare: --kill-child takes PID 1, and with it the
        // namespaces and the veth pair.
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
        let deadline = Instant::now() + Duration::from_secs(3);
        while link_exists(&self.link) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if link_exists(&self.link) {
            let _ = Command::new("ip")
                .args(["link", "del", &self.link])
                .output();
        }
    }
}

fn link_exists(link: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(link).exists()
}

/// The pid of `parent`'s one child (unshare's forked PID 1).
fn child_of(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "unshare started no child");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------- the agent

/// The agent: a World in this process's namespaces, serving requests
/// until `quit` or the end of stdin.
pub fn serve_agent(name: &str) {
    // pam_common compiles pam_driver into the target's tmp folder under a
    // name made of the pid, which is 1 in every host: a folder of the
    // host's own there (this mount namespace alone sees it).
    let target_tmp = env!("CARGO_TARGET_TMPDIR");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "roster-netns", target_tmp])
        .status()
        .unwrap();
    assert!(mounted.success(), "mount a tmpfs on {target_tmp}");
    let mut world = World::start_with(TestConfig::new().fleet_host());
    pam_common::driver();
    answer(&json!({
        "ready": name,
        "dir": world.daemon.dir(),
        "database": world.daemon.database_path(),
    }));
    let mut processes: HashMap<u64, Child> = HashMap::new();
    let mut next_id = 0u64;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines().map_while(Result::ok) {
        let request: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                answer(&json!({"panic": format!("bad request {line}: {e}")}));
                continue;
            }
        };
        if matches!(request, Request::Quit) {
            break;
        }
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&mut world, &mut processes, &mut next_id, request)
        }));
        match reply {
            Ok(value) => answer(&value),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                answer(&json!({ "panic": message }));
            }
        }
    }
    for (_, mut child) in processes {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(world);
    let _ = Command::new("umount").arg(target_tmp).status();
}

fn answer(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n@@ {value}");
    let _ = out.flush();
}

fn conversation(c: &Conversation) -> Value {
    json!({
        "steps": c.steps.iter().map(|s| json!({"name": s.name, "code": s.code})).collect::<Vec<_>>(),
        "errors": c.errors,
        "stdout": c.stdout,
        "stderr": c.stderr,
    })
}

fn login_codes(world: &World, user: &str, password: &str) -> (i32, i32) {
    let out = world
        .pam(user)
        .steps(&["auth", "acct"])
        .answers(&[password])
        .run();
    (out.code("auth"), out.code("acct"))
}

fn as_uid(uid: u32) -> Child {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .args(["--clear-groups", "--", "sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv: {e}"))
}

fn handle(
    world: &mut World,
    processes: &mut HashMap<u64, Child>,
    next_id: &mut u64,
    request: Request,
) -> Value {
    match request {
        Request::Roster { args, stdin } => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = world.daemon.roster(&args);
            if let Some(text) = stdin {
                cmd = cmd.stdin(&text);
            }
            let run = cmd.run();
            json!({"code": run.code.unwrap_or(-1), "stdout": run.stdout, "stderr": run.stderr})
        }
        Request::Pam {
            user,
            steps,
            answers,
        } => {
            let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
            let answers: Vec<&str> = answers.iter().map(String::as_str).collect();
            conversation(&world.pam(&user).steps(&steps).answers(&answers).run())
        }
        Request::WaitState {
            user,
            state,
            timeout_ms,
        } => {
            let started = Instant::now();
            let limit = Duration::from_millis(timeout_ms).min(REQUEST_LIMIT);
            let mut tries = 0;
            loop {
                tries += 1;
                let run = world
                    .daemon
                    .roster(&["users", "show", &user, "--json"])
                    .run();
                let now = if run.success() {
                    serde_json::from_str::<Value>(&run.stdout)
                        .ok()
                        .and_then(|v| v["state"].as_str().map(str::to_owned))
                } else {
                    None
                };
                if now == state {
                    return json!({"seen": true, "seen_at_us": now_us(), "tries": tries});
                }
                if started.elapsed() > limit {
                    return json!({"seen": false, "last": now, "stderr": run.stderr, "tries": tries});
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Request::WaitLogin {
            user,
            password,
            want,
            account_only,
            timeout_ms,
        } => {
            let started = Instant::now();
            let limit = Duration::from_millis(timeout_ms).min(REQUEST_LIMIT);
            let mut tries = 0;
            loop {
                tries += 1;
                let codes = if account_only {
                    let out = world.pam(&user).steps(&["acct"]).run();
                    (0, out.code("acct"))
                } else {
                    login_codes(world, &user, &password)
                };
                let outcome = if codes == (0, 0) {
                    Outcome::LoggedIn
                } else {
                    Outcome::Refused
                };
                if outcome == want {
                    return json!({"seen": true, "seen_at_us": now_us(), "tries": tries});
                }
                if started.elapsed() > limit {
                    return json!({"seen": false, "last": [codes.0, codes.1], "tries": tries});
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Request::OpenSession {
            user,
            password,
            uid,
        } => {
            *next_id += 1;
            let go = world.dir().join(format!("go-{next_id}"));
            let leader = world
                .pam(&user)
                .steps(&[
                    "auth",
                    "acct",
                    "open",
                    &format!("waitfile:{}", go.display()),
                    "close",
                ])
                .answers(&[password.as_str()])
                .spawn();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let run = world
                    .daemon
                    .roster(&["users", "sessions", "--user", &user, "--json"])
                    .run();
                let open = serde_json::from_str::<Value>(&run.stdout)
                    .ok()
                    .and_then(|v| v.as_array().map(|a| !a.is_empty()))
                    .unwrap_or(false);
                if open {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no session of {user} opened: {run:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let leader_id = *next_id;
            processes.insert(leader_id, leader);
            *next_id += 1;
            processes.insert(*next_id, as_uid(uid));
            json!({"leader": leader_id, "shell": *next_id})
        }
        Request::SpawnAs { uid } => {
            *next_id += 1;
            processes.insert(*next_id, as_uid(uid));
            json!({"id": *next_id})
        }
        Request::Alive { id } => {
            let child = processes
                .get_mut(&id)
                .unwrap_or_else(|| panic!("no process {id}"));
            json!({"alive": matches!(child.try_wait(), Ok(None))})
        }
        Request::WaitGone { id, timeout_ms } => {
            let child = processes
                .get_mut(&id)
                .unwrap_or_else(|| panic!("no process {id}"));
            let deadline = Instant::now() + Duration::from_millis(timeout_ms).min(REQUEST_LIMIT);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return json!({"gone": true, "seen_at_us": now_us(), "status": format!("{status}")});
                }
                if Instant::now() > deadline {
                    return json!({"gone": false});
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Request::Kill9Rosterd => {
            world.daemon.kill9();
            json!({"killed": true})
        }
        Request::RestartRosterd => match world.daemon.try_restart() {
            Ok(()) => json!({"started": true}),
            Err(failure) => json!({"started": false, "stderr": failure.stderr}),
        },
        Request::Quit => json!({}),
    }
}
