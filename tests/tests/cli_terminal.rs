//! The CLI on a real terminal: `script` gives it a pseudo-terminal, so it
//! prompts (the password twice, without echo; a missing user name; the
//! delete confirmation; a registration code) and the test types the
//! answers.

mod cli_common;

use cli_common::{Host, password_of};

/// What a terminal session showed, and how it ended.
struct Session {
    code: Option<i32>,
    screen: String,
}

/// Runs `command` (through `script`, so it has a pseudo-terminal) and
/// answers each prompt once it is on the screen, as a person would:
/// typing ahead would be echoed by the terminal before the program turns
/// echo off, which proves nothing.
fn converse(host: &Host, prefix: &[&str], command: &str, steps: &[(&str, &str)]) -> Session {
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let mut args: Vec<&str> = prefix.to_vec();
    let program = if args.is_empty() {
        "script"
    } else {
        args.remove(0)
    };
    let mut full: Vec<&str> = args;
    if program != "script" {
        full.push("script");
    }
    full.extend_from_slice(&["-qec", command, "/dev/null"]);
    let mut child = host
        .daemon
        .command(program)
        .args(&full)
        .stdin("")
        .to_command()
        .spawn()
        .unwrap_or_else(|e| panic!("script: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let mut seen = 0;
    for (prompt, answer) in steps {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = String::from_utf8_lossy(&screen).into_owned();
            if let Some(at) = text.get(seen..).and_then(|rest| rest.find(prompt)) {
                seen += at + prompt.len();
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {prompt:?} on the screen:\n{text}");
            if let Ok(chunk) = rx.recv_timeout(left.min(Duration::from_millis(100))) {
                screen.extend_from_slice(&chunk);
            }
        }
        // The prompt is written just before echo is turned off.
        std::thread::sleep(Duration::from_millis(200));
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap_or_else(|e| panic!("typing: {e}"));
    }
    drop(stdin);
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    let _ = reader.join();
    while let Ok(chunk) = rx.try_recv() {
        screen.extend_from_slice(&chunk);
    }
    Session {
        code: status.code(),
        screen: String::from_utf8_lossy(&screen).into_owned(),
    }
}

/// `roster ARGS` as root on a terminal.
fn on_terminal(host: &Host, args: &str, steps: &[(&str, &str)]) -> Session {
    let roster = roster_tests::binary("roster");
    converse(host, &[], &format!("{} {args}", roster.display()), steps)
}

#[test]
fn a_terminal_is_asked_for_the_password_twice_without_echo() {
    let host = Host::start();
    let pw = "Typed-Correct-Horse-1";
    let out = on_terminal(
        &host,
        "users create tilly",
        &[
            ("New password for tilly: ", pw),
            ("Retype new password: ", pw),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.screen);
    assert!(
        out.screen.contains("New password for tilly: "),
        "{}",
        out.screen
    );
    assert!(
        out.screen.contains("Retype new password: "),
        "{}",
        out.screen
    );
    assert!(
        out.screen.contains("User \"tilly\" created"),
        "{}",
        out.screen
    );
    assert!(
        !out.screen.contains(pw),
        "the password was echoed:\n{}",
        out.screen
    );
    assert_eq!(host.show("tilly")["state"], "active");
}

#[test]
fn a_mismatched_confirmation_creates_nothing() {
    let host = Host::start();
    let out = on_terminal(
        &host,
        "users create tom",
        &[
            ("New password for tom: ", "First-Password-11"),
            ("Retype new password: ", "Second-Password-22"),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.screen);
    assert!(out.screen.contains("don't match"), "{}", out.screen);
    assert!(host.names().is_empty());
}

#[test]
fn a_missing_user_name_is_asked_for() {
    let host = Host::start();
    let pw = "Typed-Correct-Horse-2";
    let out = on_terminal(
        &host,
        "users create",
        &[
            ("Username: ", "una"),
            ("New password for una: ", pw),
            ("Retype new password: ", pw),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.screen);
    assert!(out.screen.contains("Username: "), "{}", out.screen);
    assert_eq!(host.names(), ["una"]);
}

#[test]
fn delete_asks_for_confirmation_on_a_terminal() {
    let host = Host::start();
    host.user("dora");
    let out = on_terminal(&host, "users delete dora", &[("[y/N] ", "n")]);
    assert_eq!(out.code, Some(1), "{}", out.screen);
    assert!(
        out.screen.contains("Delete user \"dora\""),
        "{}",
        out.screen
    );
    assert!(out.screen.contains("[y/N]"), "{}", out.screen);
    assert!(out.screen.contains("not deleted"), "{}", out.screen);
    assert_eq!(host.names(), ["dora"]);

    let out = on_terminal(&host, "users delete dora", &[("[y/N] ", "y")]);
    assert_eq!(out.code, Some(0), "{}", out.screen);
    assert!(host.names().is_empty());
}

#[test]
fn your_own_password_asks_for_the_current_one_first() {
    let host = Host::start();
    let uid = host.user("owen");
    let new = "Owner-Changed-Pass-3";
    let roster = roster_tests::binary("roster");
    let current = password_of("owen");
    let (reuid, regid) = (format!("--reuid={uid}"), format!("--regid={uid}"));
    let out = converse(
        &host,
        &["setpriv", &reuid, &regid, "--clear-groups", "--"],
        &format!("{} users password", roster.display()),
        &[
            ("Current password: ", &current),
            ("New password for owen: ", new),
            ("Retype new password: ", new),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.screen);
    assert!(out.screen.contains("Current password: "), "{}", out.screen);
    assert!(!out.screen.contains(new), "{}", out.screen);
}

#[test]
fn register_asks_for_the_code_then_the_password_twice() {
    let host = Host::start();
    let created = host
        .root(&["users", "create", "reg", "--register"])
        .expect_ok()
        .stdout;
    let code = created
        .lines()
        .find(|l| l.starts_with("    ") && !l.trim().is_empty())
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let pw = "Onboarded-Pass-44";
    let out = on_terminal(
        &host,
        "register",
        &[
            ("Registration code: ", &code),
            ("New password: ", pw),
            ("Retype new password: ", pw),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.screen);
    assert!(out.screen.contains("Registration code: "), "{}", out.screen);
    assert!(
        !out.screen.contains(&code),
        "the code was echoed:\n{}",
        out.screen
    );
    assert!(out.screen.contains("Welcome, reg"), "{}", out.screen);
    assert_eq!(host.show("reg")["state"], "active");
}
