//! The `roster` CLI end to end on a real bus and a real rosterd: every
//! issue-3 subcommand's success and failure paths, as root.

mod cli_common;

use cli_common::{Host, assert_fails, names_in, password_of};
use std::time::{Duration, Instant};

/// Authenticates `user` with `password` through rosterd (as root, as the
/// PAM module would): the outcome string.
fn auth_outcome(host: &Host, user: &str, password: &str) -> String {
    let out = host
        .daemon
        .probe(
            "Pam.Authenticate",
            &[
                &serde_json::to_string(user).unwrap_or_default(),
                &serde_json::to_string(password).unwrap_or_default(),
                "\"\"",
            ],
        )
        .run();
    out.json()["ok"]["outcome"]
        .as_str()
        .unwrap_or("<error>")
        .to_owned()
}

/// The PAM account check's outcome for `user` (as root).
fn account_outcome(host: &Host, user: &str) -> String {
    let out = host
        .daemon
        .probe(
            "Pam.CheckAccount",
            &[&serde_json::to_string(user).unwrap_or_default()],
        )
        .run();
    out.json()["ok"]["outcome"]
        .as_str()
        .unwrap_or("<error>")
        .to_owned()
}

#[test]
fn create_with_password_stdin_then_list_and_show() {
    let host = Host::start();
    let out = host
        .daemon
        .roster(&[
            "users",
            "create",
            "alice",
            "--password-stdin",
            "--display-name",
            "Alice Liddell",
            "--shell",
            "/bin/sh",
            "--home",
            "/srv/alice",
        ])
        .stdin(&format!("{}\n", password_of("alice")))
        .run()
        .expect_ok();
    assert!(
        out.stdout.contains("User \"alice\" created"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.is_empty(),
        "no warning without argv: {}",
        out.stderr
    );

    let list = host.root(&["users", "list"]).expect_ok();
    let header = list.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        header
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["Name", "Display name", "Role", "Created", "Last login"]
    );
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap_or_else(|| panic!("no alice in\n{}", list.stdout));
    for cell in ["Alice Liddell", "user", "just now", "never"] {
        assert!(row.contains(cell), "{cell:?} missing in {row:?}");
    }

    let shown = host.show("alice");
    assert_eq!(shown["display_name"], "Alice Liddell");
    assert_eq!(shown["shell"], "/bin/sh");
    assert_eq!(shown["home"], "/srv/alice");
    assert_eq!(shown["role"], "user");
    assert_eq!(shown["state"], "active");
    assert!(shown["last_login"].is_null());
    assert!(shown["created"].as_i64().unwrap_or(0) > 0);

    let text = host.root(&["users", "show", "alice"]).expect_ok().stdout;
    for line in [
        "name:",
        "display name:",
        "role:",
        "state:",
        "uid:",
        "home:",
        "shell:",
        "created:",
        "last login:",
        "password:",
        "locked:",
        "grants:",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    assert_eq!(
        auth_outcome(&host, "alice", &password_of("alice")),
        "success"
    );
}

#[test]
fn create_with_a_role_and_defaults() {
    let host = Host::start();
    host.user_with("ada", &["--set-role", "admin"]);
    let ada = host.show("ada");
    assert_eq!(ada["role"], "admin");
    host.user("bob");
    let bob = host.show("bob");
    assert_eq!(bob["role"], "user", "nothing becomes admin by default");
    assert!(
        bob["home"].as_str().unwrap_or("").ends_with("/bob"),
        "{bob}"
    );
    assert!(
        bob["shell"].as_str().unwrap_or("").starts_with('/'),
        "{bob}"
    );
}

#[test]
fn a_password_on_argv_works_with_a_warning_and_is_never_echoed() {
    let host = Host::start();
    let pw = "argv-Password-123";
    let out = host
        .root(&["users", "create", "carol", "--set-password", pw])
        .expect_ok();
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("--password-stdin"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains(pw) && !out.stderr.contains(pw));
    assert_eq!(auth_outcome(&host, "carol", pw), "success");
}

#[test]
fn create_register_prints_a_code_and_leaves_the_user_pending() {
    let host = Host::start();
    let out = host
        .root(&["users", "create", "dave", "--register"])
        .expect_ok();
    assert!(
        out.stdout.contains("pending registration"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("roster register"), "{}", out.stdout);
    let code_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("    ") && !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no code in\n{}", out.stdout));
    assert!(
        code_line.trim().len() >= 16,
        "a code carries 128+ bits: {code_line:?}"
    );
    assert_eq!(host.show("dave")["state"], "pending");
    let list = host.root(&["users", "list"]).expect_ok().stdout;
    assert!(list.contains("(pending)"), "{list}");
}

#[test]
fn create_refuses_a_user_that_exists() {
    let host = Host::start();
    host.user("erin");
    let out = host
        .daemon
        .roster(&["users", "create", "erin", "--password-stdin"])
        .stdin("Another-password-1\n")
        .run();
    assert_fails(&out, 1, "erin");
    assert_eq!(
        auth_outcome(&host, "erin", &password_of("erin")),
        "success",
        "unchanged"
    );
}

#[test]
fn create_with_no_password_and_no_terminal_is_an_error_not_a_wait() {
    let host = Host::start();
    let out = host.root(&["users", "create", "frank"]);
    assert_fails(&out, 2, "--password-stdin");
    assert!(out.stderr.contains("--register"), "{}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    let out = host.root(&["users", "create"]);
    assert_fails(&out, 2, "USERNAME");
    assert!(host.names().is_empty(), "nothing was created");
}

#[test]
fn password_stdin_with_empty_input_changes_nothing() {
    let host = Host::start();
    let out = host
        .daemon
        .roster(&["users", "create", "gina", "--password-stdin"])
        .stdin("")
        .run();
    assert_fails(&out, 1, "standard input ended");
    assert!(host.names().is_empty());
}

#[test]
fn edit_changes_role_and_profile() {
    let host = Host::start();
    host.user("hank");
    let out = host
        .root(&[
            "users",
            "edit",
            "hank",
            "--set-role",
            "admin",
            "--display-name",
            "Hank H",
            "--shell",
            "/bin/zsh",
        ])
        .expect_ok();
    assert!(out.stdout.contains("role admin"), "{}", out.stdout);
    let hank = host.show("hank");
    assert_eq!(hank["role"], "admin");
    assert_eq!(hank["display_name"], "Hank H");
    assert_eq!(hank["shell"], "/bin/zsh");

    // Demoting needs another active admin (never the last one).
    host.user_with("ada", &["--set-role", "admin"]);
    host.root(&["users", "edit", "hank", "--set-role", "user"])
        .expect_ok();
    assert_eq!(host.show("hank")["role"], "user");
}

#[test]
fn edit_sets_a_password_from_stdin() {
    let host = Host::start();
    host.user("ivy");
    host.daemon
        .roster(&["users", "edit", "ivy", "--password-stdin"])
        .stdin("New-Password-2x\n")
        .run()
        .expect_ok();
    assert_eq!(auth_outcome(&host, "ivy", "New-Password-2x"), "success");
    assert_eq!(auth_outcome(&host, "ivy", &password_of("ivy")), "failed");
}

#[test]
fn edit_applies_the_role_before_the_password() {
    let host = Host::start();
    host.user("jack");
    // The password is refused by the policy (too short): the role, applied
    // first, stays applied; the password stays as it was.
    let out = host
        .daemon
        .roster(&[
            "users",
            "edit",
            "jack",
            "--set-role",
            "admin",
            "--password-stdin",
        ])
        .stdin("short\n")
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(host.show("jack")["role"], "admin");
    assert_eq!(auth_outcome(&host, "jack", &password_of("jack")), "success");
}

#[test]
fn edit_failures() {
    let host = Host::start();
    assert_fails(
        &host.root(&["users", "edit", "ghost", "--set-role", "admin"]),
        1,
        "not found",
    );
    let out = host.root(&["users", "edit", "ghost"]);
    assert_eq!(
        out.code,
        Some(2),
        "nothing to change is a usage error: {}",
        out.stderr
    );
    host.user("kim");
    let before = host.show("kim");
    assert_fails(
        &host.root(&["users", "edit", "kim", "--shell", "relative/sh"]),
        1,
        "shell",
    );
    assert_eq!(host.show("kim"), before, "nothing changed");
    let out = host.root(&["users", "edit", "kim", "--set-role", "root"]);
    assert_eq!(out.code, Some(2));
}

#[test]
fn password_as_root_for_someone_else() {
    let host = Host::start();
    host.user("liam");
    let out = host
        .daemon
        .roster(&["users", "password", "liam", "--password-stdin"])
        .stdin("Rotated-Pass-3x\n")
        .run()
        .expect_ok();
    assert!(out.stdout.contains("Password changed"), "{}", out.stdout);
    assert_eq!(auth_outcome(&host, "liam", "Rotated-Pass-3x"), "success");
}

#[test]
fn password_of_your_own_takes_the_current_one() {
    let host = Host::start();
    let uid = host.user("mia");
    let wrong = host
        .daemon
        .roster(&["users", "password", "--password-stdin"])
        .as_uid(uid)
        .stdin("not-the-current-one\nNext-Password-4x\n")
        .run();
    assert_eq!(wrong.code, Some(1), "{}", wrong.stderr);
    assert_eq!(auth_outcome(&host, "mia", &password_of("mia")), "success");

    host.daemon
        .roster(&["users", "password", "--password-stdin"])
        .as_uid(uid)
        .stdin(&format!("{}\nNext-Password-4x\n", password_of("mia")))
        .run()
        .expect_ok();
    assert_eq!(auth_outcome(&host, "mia", "Next-Password-4x"), "success");
}

#[test]
fn password_failures() {
    let host = Host::start();
    host.user("nina");
    assert_fails(
        &host.root(&["users", "password", "nina"]),
        2,
        "--password-stdin",
    );
    assert_fails(
        &host.root(&["users", "password"]),
        2,
        "root is not a Roster user",
    );
    assert_fails(&host.root(&["users", "password", "--reset"]), 2, "USERNAME");
    let out = host
        .daemon
        .roster(&["users", "password", "ghost", "--password-stdin"])
        .stdin("Spooky-password-55\n")
        .run();
    assert_fails(&out, 1, "not found");
}

#[test]
fn password_reset_makes_the_user_pending_with_a_new_code() {
    let host = Host::start();
    host.user("otto");
    let out = host
        .root(&["users", "password", "otto", "--reset"])
        .expect_ok();
    assert!(
        out.stdout.contains("pending registration"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("roster register"), "{}", out.stdout);
    assert_eq!(host.show("otto")["state"], "pending");
    assert_ne!(auth_outcome(&host, "otto", &password_of("otto")), "success");
}

#[test]
fn delete_needs_yes_without_a_terminal() {
    let host = Host::start();
    host.user("pia");
    let out = host.root(&["users", "delete", "pia"]);
    assert_fails(&out, 2, "--yes");
    assert!(host.names().contains(&"pia".to_owned()), "not deleted");

    let out = host.root(&["users", "delete", "pia", "--yes"]).expect_ok();
    assert!(
        out.stdout.contains("User \"pia\" deleted"),
        "{}",
        out.stdout
    );
    assert!(!host.names().contains(&"pia".to_owned()));
    assert_fails(&host.root(&["users", "show", "pia"]), 1, "not found");
    assert_fails(
        &host.root(&["users", "delete", "pia", "--yes"]),
        1,
        "not found",
    );
}

#[test]
fn delete_never_reuses_a_uid() {
    let host = Host::start();
    let first = host.user("quinn");
    host.root(&["users", "delete", "quinn", "--yes", "--keep-sessions"])
        .expect_ok();
    let second = host.user("quinn");
    assert_ne!(first, second);
}

#[test]
fn suspend_hides_from_list_until_enabled() {
    let host = Host::start();
    host.user("rose");
    host.user("sam");
    let out = host.root(&["users", "suspend", "rose"]).expect_ok();
    assert!(out.stdout.contains("suspended"), "{}", out.stdout);
    assert_eq!(host.show("rose")["state"], "suspended");

    let listed = names_in(&host.root(&["users", "list", "--json"]).expect_ok());
    assert_eq!(listed, ["sam"]);
    let text = host.root(&["users", "list"]).expect_ok().stdout;
    assert!(!text.contains("rose"), "{text}");
    let all = host.root(&["users", "list", "--all"]).expect_ok().stdout;
    let row = all
        .lines()
        .find(|l| l.starts_with("rose "))
        .unwrap_or_default();
    assert!(row.contains("(suspended)"), "{all}");
    assert_eq!(account_outcome(&host, "rose"), "suspended");

    host.root(&["users", "enable", "rose"]).expect_ok();
    assert_eq!(host.show("rose")["state"], "active");
    let listed = names_in(&host.root(&["users", "list", "--json"]).expect_ok());
    assert_eq!(listed, ["rose", "sam"]);
}

#[test]
fn suspend_enable_unlock_failures() {
    let host = Host::start();
    for cmd in ["suspend", "enable", "unlock"] {
        assert_fails(&host.root(&["users", cmd, "ghost"]), 1, "not found");
    }
    // Nobody suspends themselves, not even an admin.
    let ada = host.user_with("ada", &["--set-role", "admin"]);
    assert_fails(
        &host.as_uid(ada, &["users", "suspend", "ada"]),
        1,
        "yourself",
    );
    assert_eq!(host.show("ada")["state"], "active");
    // The last active admin can't be deleted, suspended or demoted.
    host.user_with("ben", &["--set-role", "admin"]);
    host.root(&["users", "delete", "ben", "--yes"]).expect_ok();
    assert_eq!(host.root(&["users", "suspend", "ada"]).code, Some(1));
    assert_eq!(
        host.root(&["users", "edit", "ada", "--set-role", "user"])
            .code,
        Some(1)
    );
    assert_eq!(
        host.root(&["users", "delete", "ada", "--yes"]).code,
        Some(1)
    );
    assert_eq!(host.show("ada")["role"], "admin");
}

#[test]
fn unlock_clears_a_lockout() {
    let host = Host::start_with(roster_tests::TestConfig::new().set("lockout.attempts", "2"));
    host.user("tess");
    for _ in 0..3 {
        auth_outcome(&host, "tess", "wrong-password-x");
    }
    assert_eq!(auth_outcome(&host, "tess", &password_of("tess")), "locked");
    let out = host.root(&["users", "unlock", "tess"]).expect_ok();
    assert!(out.stdout.contains("unlocked"), "{}", out.stdout);
    assert_eq!(auth_outcome(&host, "tess", &password_of("tess")), "success");
}

#[test]
fn grant_is_additive_and_revoke_lowers() {
    let host = Host::start();
    host.user("uma");
    let out = host.root(&["users", "grant", "uma", "write"]).expect_ok();
    assert!(out.stdout.contains("holds write"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\"default\""),
        "names this host's environment: {}",
        out.stdout
    );
    let out = host.root(&["users", "grant", "uma", "read"]).expect_ok();
    assert!(out.stdout.contains("already holds write"), "{}", out.stdout);
    assert_eq!(
        host.show("uma")["grants"],
        serde_json::json!([{"environment": "default", "level": "write"}])
    );

    let out = host.root(&["users", "revoke", "uma", "read"]).expect_ok();
    assert!(out.stdout.contains("now holds status"), "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    host.root(&["environments", "add", "staging"]).expect_ok();
    host.grant("uma", "admin", Some("staging"));
    let out = host.root(&["users", "revoke", "uma"]).expect_ok();
    assert!(
        out.stdout.contains("holds nothing there now"),
        "{}",
        out.stdout
    );
    assert_eq!(
        host.show("uma")["grants"],
        serde_json::json!([{"environment": "staging", "level": "admin"}]),
        "other environments are never touched"
    );
    let out = host
        .root(&[
            "users",
            "revoke",
            "uma",
            "admin",
            "--environment",
            "staging",
        ])
        .expect_ok();
    assert!(out.stdout.contains("now holds write"), "{}", out.stdout);
}

#[test]
fn grant_and_revoke_failures() {
    let host = Host::start();
    host.user("vic");
    assert_fails(
        &host.root(&["users", "grant", "ghost", "write"]),
        1,
        "not found",
    );
    let out = host.root(&["users", "grant", "vic", "write", "--environment", "prod"]);
    assert_fails(&out, 1, "roster environments add prod");
    assert_eq!(host.show("vic")["grants"], serde_json::json!([]));
    let out = host.root(&["users", "grant", "vic", "owner"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = host.root(&["users", "grant", "vic"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_fails(&host.root(&["users", "revoke", "ghost"]), 1, "not found");
    assert_fails(
        &host.root(&["users", "revoke", "vic", "--environment", "prod"]),
        1,
        "prod",
    );
}

/// A process running as `uid` that rosterd can take as a session leader:
/// its pid and start time (field 22 of /proc/PID/stat).
fn spawn_leader(uid: u32) -> (std::process::Child, u32, u64) {
    let child = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
            "sleep",
            "300",
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv: {e}"));
    let pid = child.id();
    // setpriv execs sleep in place: wait until the uid has switched.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let start = loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let switched = status.lines().any(|l| {
            l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(&uid.to_string())
        });
        if switched && stat.contains("(sleep)") {
            break roster_client::stat_start_time(&stat).unwrap_or(0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "leader never switched uid"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    (child, pid, start)
}

fn open_session(host: &Host, user: &str, pid: u32, start: u64) {
    let request = serde_json::json!({
        "user": user, "service": "sshd", "tty": "pts/7", "remote_host": "10.1.2.3",
        "leader_pid": pid, "leader_start": start,
    });
    let out = host
        .daemon
        .probe("Pam.OpenSession", &[&request.to_string()])
        .run();
    assert!(out.probe_error().is_none(), "open session: {}", out.stdout);
}

#[test]
fn sessions_list_and_revoking_admin_warns_about_them() {
    let host = Host::start();
    let empty = host.root(&["users", "sessions"]).expect_ok();
    assert_eq!(empty.stdout, "No live sessions.\n");
    assert_eq!(
        host.root(&["users", "sessions", "--json"])
            .expect_ok()
            .json(),
        serde_json::json!([])
    );

    let uid = host.user("wes");
    host.grant("wes", "admin", None);
    let (mut leader, pid, start) = spawn_leader(uid);
    open_session(&host, "wes", pid, start);

    let table = host.root(&["users", "sessions"]).expect_ok().stdout;
    let row = table
        .lines()
        .find(|l| l.contains("wes"))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["sshd", "pts/7", "10.1.2.3", &pid.to_string()] {
        assert!(row.contains(cell), "{cell} missing in {row}");
    }
    let json = host
        .root(&["users", "sessions", "--user", "wes", "--json"])
        .expect_ok()
        .json();
    assert_eq!(json[0]["user"], "wes");
    assert_eq!(json[0]["leader_pid"], pid);
    assert!(json[0]["ended"].is_null());

    // Taking admin away while a session lives: a warning on stderr, and
    // the session keeps running.
    let out = host.root(&["users", "revoke", "wes", "admin"]).expect_ok();
    assert!(out.stdout.contains("now holds write"), "{}", out.stdout);
    assert!(out.stderr.starts_with("warning:"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 live session") && out.stderr.contains("--end-sessions"),
        "{}",
        out.stderr
    );
    assert!(
        matches!(leader.try_wait(), Ok(None)),
        "the session was left running"
    );

    // --end-sessions ends it.
    host.grant("wes", "admin", None);
    let out = host
        .root(&["users", "revoke", "wes", "admin", "--end-sessions"])
        .expect_ok();
    assert!(out.stdout.contains("ended 1 session"), "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while matches!(leader.try_wait(), Ok(None)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader survived --end-sessions"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let all = host
        .root(&["users", "sessions", "--all"])
        .expect_ok()
        .stdout;
    assert!(
        all.lines().next().unwrap_or_default().ends_with("Ended"),
        "{all}"
    );
    let _ = leader.kill();
    let _ = leader.wait();
}

#[test]
fn suspend_ends_sessions_unless_kept() {
    let host = Host::start();
    let uid = host.user("xena");
    host.grant("xena", "write", None);
    let (mut leader, pid, start) = spawn_leader(uid);
    open_session(&host, "xena", pid, start);

    let out = host
        .root(&["users", "suspend", "xena", "--keep-sessions"])
        .expect_ok();
    assert!(
        out.stdout.contains("1 live session left running"),
        "{}",
        out.stdout
    );
    assert!(matches!(leader.try_wait(), Ok(None)));
    host.root(&["users", "enable", "xena"]).expect_ok();

    let out = host.root(&["users", "suspend", "xena"]).expect_ok();
    assert!(out.stdout.contains("ended 1 session"), "{}", out.stdout);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while matches!(leader.try_wait(), Ok(None)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader survived suspend"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn environments_add_list_remove() {
    let host = Host::start();
    let out = host.root(&["environments", "add", "staging"]).expect_ok();
    assert!(
        out.stdout.contains("Environment \"staging\" added"),
        "{}",
        out.stdout
    );
    let list = host.root(&["environments", "list"]).expect_ok().stdout;
    assert!(list.starts_with("Name"), "{list}");
    assert!(
        list.contains("default*"),
        "this host's environment is marked: {list}"
    );
    assert!(list.lines().any(|l| l.starts_with("staging ")), "{list}");
    let json = host
        .root(&["environments", "list", "--json"])
        .expect_ok()
        .json();
    let names: Vec<&str> = json
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "staging"]);

    assert_fails(
        &host.root(&["environments", "add", "staging"]),
        1,
        "staging",
    );
    assert_fails(
        &host.root(&["environments", "add", "Bad Name"]),
        1,
        "Bad Name",
    );
    assert_fails(
        &host.root(&["environments", "remove", "nope"]),
        1,
        "not found",
    );

    host.user("yan");
    host.grant("yan", "read", Some("staging"));
    let out = host.root(&["environments", "remove", "staging"]);
    assert_eq!(
        out.code,
        Some(1),
        "refused while grants exist: {}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"), "says how: {}", out.stderr);
    let out = host
        .root(&["environments", "remove", "staging", "--force"])
        .expect_ok();
    assert!(
        out.stdout.contains("removed with its 1 grant"),
        "{}",
        out.stdout
    );
    assert_eq!(host.show("yan")["grants"], serde_json::json!([]));
    assert_eq!(
        host.root(&["environments", "remove", "default"]).code,
        Some(1),
        "default always exists"
    );
}

#[test]
fn whoami_for_root_a_user_and_a_stranger() {
    let host = Host::start();
    let out = host.root(&["whoami"]).expect_ok().stdout;
    assert!(out.contains("root"), "{out}");
    let json = host.root(&["whoami", "--json"]).expect_ok().json();
    assert_eq!(json["is_root"], true);
    assert_eq!(json["uid"], 0);
    assert_eq!(json["environment"], "default");

    let uid = host.user("zoe");
    host.grant("zoe", "write", None);
    let json = host.as_uid(uid, &["whoami", "--json"]).expect_ok().json();
    assert_eq!(json["user"], "zoe");
    assert_eq!(json["role"], "user");
    assert_eq!(json["grants"][0]["level"], "write");
    let text = host.as_uid(uid, &["whoami"]).expect_ok().stdout;
    assert!(text.contains("zoe (role user)"), "{text}");

    let stranger = host
        .as_uid(roster_tests::STRANGER_UID, &["whoami"])
        .expect_ok()
        .stdout;
    assert!(stranger.contains("not a Roster user"), "{stranger}");
}

#[test]
fn every_read_command_prints_json() {
    let host = Host::start();
    host.user("amy");
    host.grant("amy", "read", None);
    for args in [
        &["users", "list", "--json"][..],
        &["users", "list", "--all", "--json"],
        &["users", "show", "amy", "--json"],
        &["users", "sessions", "--json"],
        &["users", "sessions", "--all", "--json"],
        &["environments", "list", "--json"],
        &["whoami", "--json"],
    ] {
        let out = host.root(args).expect_ok();
        let value = out.json();
        assert!(value.is_array() || value.is_object(), "{args:?}: {value}");
        assert!(!out.stdout.contains("argon2"), "no hash in {args:?}");
    }
}

#[test]
fn rosterd_not_running_names_the_bus() {
    let mut host = Host::start();
    host.daemon.stop();
    let out = host.root(&["users", "list"]);
    assert_fails(
        &out,
        1,
        &format!("rosterd is not running (bus: {})", host.bus.address()),
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );

    // No bus at all at the address.
    let out = host
        .daemon
        .roster(&["whoami"])
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/roster-bus",
        )
        .run();
    assert_fails(
        &out,
        1,
        "rosterd is not running (bus: unix:path=/nonexistent/roster-bus)",
    );
}

#[test]
fn a_uid_the_bus_cannot_resolve_is_told_to_fix_nsswitch() {
    let host = Host::start();
    // A Roster uid past every block the test bus's passwd lists: what a
    // Roster user is to dbus-daemon on a host whose nsswitch.conf lacks
    // `roster`.
    let unresolvable =
        roster_tests::UID_MIN + roster_tests::UIDS_PER_DAEMON * roster_tests::UID_BLOCKS + 7;
    assert!(
        roster_tests::CONNECTABLE_UIDS
            .iter()
            .all(|r| !r.contains(&unresolvable))
    );
    let out = host.as_uid(unresolvable, &["whoami"]);
    assert_fails(
        &out,
        1,
        &format!(
            "the bus at {} closed the connection while checking who you are (uid {unresolvable})",
            host.bus.address()
        ),
    );
    assert!(out.stderr.contains("nsswitch.conf"), "{}", out.stderr);
    assert!(
        out.stderr.contains("passwd: files roster"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not running"), "{}", out.stderr);
    // A uid the bus resolves gets through the same bus (a stranger to
    // rosterd: an answer, not a refusal by the bus).
    let out = host.as_uid(roster_tests::STRANGER_UID, &["whoami"]);
    assert!(
        !out.stderr.contains("closed the connection"),
        "{}",
        out.stderr
    );
}

/// Sends SIGCONT to a stopped process when dropped, so a failed assert
/// never leaves rosterd stopped.
struct Stopped(u32);

impl Stopped {
    fn stop(pid: u32) -> Stopped {
        // SAFETY: kill(2) on a pid of our own child (rosterd, dbus-daemon).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own rosterd child's pid.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGCONT) };
    }
}

/// Stops `pid` (rosterd or the bus daemon), runs `roster users list`
/// with a 2 s timeout, and requires it to give up in time, saying what to
/// check; then resumes `pid`.
fn a_stopped_process_is_a_timeout(host: &Host, pid: u32, what: &str) {
    let stopped = Stopped::stop(pid);
    // The bus still accepts (and rosterd's name is still owned), so
    // without a bound the CLI would wait here forever: the test gives up
    // on it after 30 s rather than hang with it.
    let mut child = host
        .daemon
        .roster(&["users", "list"])
        .env("ROSTER_TIMEOUT", "2")
        .to_command()
        .spawn()
        .unwrap_or_else(|e| panic!("can't run roster: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("roster users list still waits on a stopped {what} after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for roster: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "roster: rosterd did not answer within 2 s (bus: {})",
        host.bus.address()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("systemctl status rosterd"), "{stderr}");
    drop(stopped);
    // Running again, the same command answers (the default timeout).
    let out = host.root(&["users", "list", "--json"]).expect_ok();
    assert!(out.stdout.contains("amy"), "{}", out.stdout);
}

#[test]
fn a_stopped_rosterd_is_a_timeout_that_says_what_to_check() {
    let host = Host::start();
    host.user("amy");
    a_stopped_process_is_a_timeout(&host, host.daemon.pid(), "rosterd");
    // A timeout that isn't whole seconds is a usage error.
    for bad in ["soon", "0", "5s"] {
        let out = host
            .daemon
            .roster(&["users", "list"])
            .env("ROSTER_TIMEOUT", bad)
            .run();
        assert_fails(&out, 2, "ROSTER_TIMEOUT");
    }
}

#[test]
fn a_stopped_bus_daemon_is_a_timeout_too() {
    let host = Host::start();
    host.user("amy");
    // The bus still accepts on its socket but never answers the SASL
    // handshake: the connect itself must be bounded, not only the calls.
    a_stopped_process_is_a_timeout(&host, host.bus.pid(), "dbus-daemon");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let host = Host::start();
    for args in [
        &["users"][..],
        &["users", "frobnicate"],
        &["users", "create", "a", "--password-stdin", "--register"],
        &["users", "delete"],
        &["users", "list", "--bogus"],
        &["environments", "add"],
        &["register", "CODE-ON-ARGV"],
    ] {
        let out = host.root(args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
    }
    let out = host.root(&["--help"]).expect_ok();
    assert!(out.stdout.contains("users"), "{}", out.stdout);
    host.root(&["users", "create", "--help"]).expect_ok();
    host.root(&["--version"]).expect_ok();
}
