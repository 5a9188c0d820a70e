//! Every admin action and login result reaches syslog (authpriv) and the
//! audit file with actor, action, target and result — and no password,
//! code, token or hash ever does.

use roster_tests::{TestBus, TestConfig, TestDaemon};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[test]
fn audit_lines_name_the_action_and_never_a_secret() {
    let bus = TestBus::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let socket_path = dir.path().join("log");
    let socket = UnixDatagram::bind(&socket_path).unwrap_or_else(|e| panic!("{e}"));
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap_or_else(|e| panic!("{e}"));
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                    received.lock().map(|mut r| r.push(line)).unwrap_or(());
                }
            }
        })
    };
    let d = TestDaemon::start_with(
        &bus,
        TestConfig::new().arg(&format!("--syslog-socket={}", socket_path.display())),
    );

    let secrets = [
        "first-Secret-0001",
        "admin-Set-0002",
        "own-Change-0003",
        "wrong-Guess-0004",
        "registered-0005",
    ];
    let alice = d.create_user("alice", "user", secrets[0]);
    d.probe("Users.SetPassword", &[&q("alice"), &q(""), &q(secrets[1])])
        .run()
        .expect_ok();
    d.probe(
        "Users.SetPassword",
        &[&q("alice"), &q(secrets[1]), &q(secrets[2])],
    )
    .as_uid(alice)
    .run()
    .expect_ok();
    let auth = |pw: &str| {
        d.probe(
            "Pam.Authenticate",
            &[&q("alice"), &q(pw), &q("203.0.113.9")],
        )
        .run()
    };
    assert_eq!(
        auth(secrets[2]).expect_ok().json()["ok"]["outcome"],
        "success"
    );
    assert_eq!(
        auth(secrets[3]).expect_ok().json()["ok"]["outcome"],
        "failed"
    );
    let (_, code) = d.create_pending_user("bob");
    assert!(!code.is_empty());
    d.probe("Registration.Register", &[&q(&code), &q(secrets[4])])
        .run()
        .expect_ok();
    let reset = d
        .probe("Users.ResetPassword", &[&q("bob")])
        .run()
        .expect_ok();
    let code2 = reset.json()["ok"]["registration_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = d
        .probe("Tokens.Create", &[&q("ci"), &q("read-only"), "0"])
        .as_uid(alice)
        .run()
        .expect_ok()
        .json()["ok"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    d.probe("Users.WhoAmI", &[])
        .env("ROSTER_TOKEN", &token)
        .as_uid(alice)
        .run()
        .expect_ok();
    d.probe("Users.Suspend", &[&q("alice"), "true"])
        .run()
        .expect_ok();

    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = collector.join();
    let syslog = received.lock().map(|r| r.join("\n")).unwrap_or_default();
    let file = d.audit_log();
    let stderr = d.stderr_log();

    for line in syslog.lines() {
        // <86> info / <84> warning, facility authpriv (10 × 8).
        assert!(
            line.starts_with("<86>") || line.starts_with("<84>"),
            "{line}"
        );
    }
    for (what, text) in [
        ("syslog", &syslog),
        ("audit file", &file),
        ("stderr", &stderr),
    ] {
        for secret in secrets
            .iter()
            .copied()
            .chain([code.as_str(), code2.as_str(), token.as_str()])
        {
            assert!(!text.contains(secret), "{what} holds a secret: {text}");
        }
        assert!(!text.contains("$argon2"), "{what} holds a hash: {text}");
    }
    for expected in [
        "action=users.create target=alice uid=0",
        "action=users.password target=alice uid=0",
        &format!("action=users.password target=alice uid={alice}"),
        "action=pam.authenticate target=alice uid=0",
        "result=success",
        "result=failed",
        "rhost=203.0.113.9",
        "action=users.register",
        "action=users.password-reset target=bob",
        "action=tokens.create target=ci",
        "action=tokens.present",
        "action=users.suspend target=alice",
    ] {
        assert!(
            syslog.contains(expected),
            "syslog lacks {expected:?}:\n{syslog}"
        );
        assert!(
            file.contains(expected),
            "audit file lacks {expected:?}:\n{file}"
        );
    }
    if std::env::var_os("SHOW_AUDIT").is_some() {
        eprintln!("{file}");
    }
}
