//! Sessions through real libpam: open/close recorded by rosterd with the
//! leader (the process calling pam_open_session), the home created at the
//! first session, and a suspend ending everything the user runs.

mod pam_common;
use pam_common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn sessions(w: &World, all: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["users", "sessions", "--json"];
    if all {
        args.push("--all");
    }
    let out = w.roster(&args);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (not zombie) processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let real_uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        if real_uid == Some(uid) && !zombie {
            found.push(pid);
        }
    }
    found
}

fn as_user(uid: u32, shell: &str) -> Child {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .args(["--clear-groups", "--", "sh", "-c", shell])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv: {e}"))
}

#[test]
fn open_and_close_show_in_users_sessions_and_the_home_is_created() {
    let w = World::start();
    let uid = w.user("alice", "correct horse 1", Some("write"));
    let home = w.daemon.home_base().join("alice");
    assert!(!home.exists());
    let go = w.dir().join("go");
    let driver = w
        .pam("alice")
        .rhost("192.0.2.10")
        .steps(&[
            "auth",
            "acct",
            "open",
            &format!("waitfile:{}", go.display()),
            "close",
        ])
        .answers(&["correct horse 1"])
        .spawn();
    let leader = driver.id();
    wait_for("the session", || !sessions(&w, false).is_empty());
    let live = sessions(&w, false);
    assert_eq!(live.len(), 1, "{live:?}");
    let s = &live[0];
    assert_eq!(s["user"], "alice");
    assert_eq!(s["uid"], uid);
    assert_eq!(s["service"], "login");
    assert_eq!(s["remote_host"], "192.0.2.10");
    assert_eq!(
        s["leader_pid"], leader,
        "the process that opened it leads it"
    );

    let meta = std::fs::metadata(&home).expect("home created at the first session");
    assert_eq!(meta.uid(), uid);
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    std::fs::write(&go, "").unwrap();
    let out = driver.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("step close 0 "), "{stdout}");
    assert!(sessions(&w, false).is_empty(), "closed");
    let all = sessions(&w, true);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0]["ended"].as_i64().unwrap_or(0) > 0, "{all:?}");
    // Last login is recorded.
    let show = w.roster(&["users", "show", "alice", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert!(v["last_login"].as_i64().unwrap_or(0) > 0, "{show}");
}

#[test]
fn a_non_root_caller_records_no_session() {
    let w = World::start();
    let uid = w.user("alice", "correct horse 1", Some("write"));
    w.open_to_everyone();
    let out = w.pam("alice").run_as(uid).steps(&["open", "close"]).run();
    // optional in the packaged stack; PAM_IGNORE leaves the result to the others.
    assert_eq!(out.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{out:?}");
    assert!(sessions(&w, true).is_empty());
}

#[test]
fn suspend_ends_a_live_session_its_setsid_child_and_a_process_from_elsewhere() {
    let w = World::start();
    let uid = w.user("alice", "correct horse 1", Some("write"));
    let go = w.dir().join("go");
    let driver = w
        .pam("alice")
        .steps(&[
            "acct",
            "open",
            &format!("waitfile:{}", go.display()),
            "close",
        ])
        .spawn();
    wait_for("the session", || !sessions(&w, false).is_empty());
    // The session's shell with a setsid child, and a process of the same
    // user started outside the session with the real `su` (root needs no
    // password; alice resolves through libnss_roster under nss_wrapper).
    let mut shell = as_user(uid, "setsid sleep 1001 & exec sleep 1000");
    let nss = w.pam("alice").command();
    let mut su = Command::new("su");
    su.args(["-s", "/bin/sh", "alice", "-c", "exec sleep 1002"])
        .env_clear()
        .envs(nss.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut elsewhere = su.spawn().unwrap_or_else(|e| panic!("su: {e}"));
    wait_for("three processes", || processes_of(uid).len() >= 3);

    let out = w.roster(&["users", "suspend", "alice"]);
    assert!(out.contains("ended"), "says what it ended: {out}");
    wait_for("every process of alice to end", || {
        processes_of(uid).is_empty()
    });
    let _ = shell.wait();
    let _ = elsewhere.wait();
    assert!(sessions(&w, false).is_empty(), "the session is over");

    std::fs::write(&go, "").unwrap();
    let out = driver.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The root leader survives (only uids in Roster's range are signalled),
    // and closing an ended session is fine.
    assert!(stdout.contains("step close 0 "), "{stdout}");
}
