//! pam_roster's auth through real libpam against a real rosterd: in the
//! packaged stack (after pam_unix), and alone where a test needs the
//! module's own code.

mod pam_common;
use pam_common::*;
use roster_tests::TestConfig;
use std::time::Duration;

#[test]
fn right_and_wrong_password() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let ok = w
        .pam("alice")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(ok.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{ok:?}");
    // pam_unix asks; pam_roster (use_first_pass) takes its token.
    assert_eq!(ok.prompts, vec!["Password: "]);
    let bad = w
        .pam("alice")
        .steps(&["auth"])
        .answers(&["wrong horse"])
        .run();
    assert_eq!(bad.code("auth"), PAM_AUTH_ERR, "{bad:?}");

    // Alone, the module prompts itself and returns its own codes.
    w.roster_only("alone", &w.module_args());
    let alone = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "setcred"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(alone.codes(), vec![PAM_SUCCESS; 2], "{alone:?}");
    assert_eq!(alone.prompts, vec!["Password: "]);
    let alone_bad = w
        .pam("alice")
        .service("alone")
        .steps(&["auth"])
        .answers(&["nope"])
        .run();
    assert_eq!(alone_bad.code("auth"), PAM_AUTH_ERR);
}

#[test]
fn a_non_roster_user_reaches_pam_unix() {
    let w = World::start();
    let ok = w
        .pam(LOCAL_USER)
        .steps(&["auth", "acct", "open", "close"])
        .answers(&[LOCAL_PASSWORD])
        .run();
    assert_eq!(ok.codes(), vec![PAM_SUCCESS; 4], "{ok:?}");
    let bad = w
        .pam(LOCAL_USER)
        .steps(&["auth"])
        .answers(&["not it"])
        .run();
    assert_eq!(bad.code("auth"), PAM_AUTH_ERR);
    // pam_roster itself: user unknown, without a prompt.
    w.roster_only("alone", &w.module_args());
    let alone = w
        .pam(LOCAL_USER)
        .service("alone")
        .steps(&["auth", "setcred", "acct", "open", "close", "chauthtok"])
        .run();
    assert_eq!(alone.codes(), vec![PAM_USER_UNKNOWN; 6], "{alone:?}");
    assert!(alone.prompts.is_empty());
}

#[test]
fn local_user_and_root_never_wait_on_a_stopped_or_hung_rosterd() {
    let mut w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let hung = SilentBus::start();
    let args = format!(
        "bus={} snapshot={} timeout=5",
        hung.address(),
        w.daemon.nss_cache_path().display()
    );
    w.service("login", &args);
    w.roster_only("alone", &args);

    for round in ["hung", "stopped"] {
        if round == "stopped" {
            w.daemon.stop();
            let args = w.module_args() + " timeout=5";
            w.service("login", &args);
            w.roster_only("alone", &args);
        }
        let local = w
            .pam(LOCAL_USER)
            .steps(&["auth", "acct", "open", "close"])
            .answers(&[LOCAL_PASSWORD])
            .run();
        assert_eq!(local.codes(), vec![PAM_SUCCESS; 4], "{round}: {local:?}");
        assert!(local.elapsed < Duration::from_secs(2), "{round}: {local:?}");
        for user in ["root", LOCAL_USER] {
            let alone = w
                .pam(user)
                .service("alone")
                .steps(&["auth", "acct", "open", "close", "chauthtok"])
                .run();
            assert_eq!(alone.codes(), vec![PAM_USER_UNKNOWN; 5], "{round} {user}");
            for step in &alone.steps {
                assert!(step.ms < 500.0, "{round} {user}: {step:?}");
            }
        }
    }
}

#[test]
fn a_local_account_shadowing_a_roster_name_is_user_unknown() {
    let w = World::start();
    w.user("alice", "roster password 1", Some("write"));
    let local_hash = crypt_sha512("local alice pw");
    w.set_local_accounts(&format!(
        "alice:{local_hash}:1001:1001:Local Alice:/home/alice:/bin/sh\n"
    ));
    w.roster_only("alone", &w.module_args());
    let alone = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "acct"])
        .answers(&["roster password 1"])
        .run();
    assert_eq!(alone.codes(), vec![PAM_USER_UNKNOWN; 2], "{alone:?}");
    assert!(
        alone.prompts.is_empty(),
        "no prompt for someone else's user"
    );
    // In the packaged stack the Roster password gets nowhere; the local
    // account's own password is pam_unix's business.
    let roster_pw = w
        .pam("alice")
        .steps(&["auth"])
        .answers(&["roster password 1"])
        .run();
    assert_eq!(roster_pw.code("auth"), PAM_AUTH_ERR);
    let local_pw = w
        .pam("alice")
        .steps(&["auth", "acct"])
        .answers(&["local alice pw"])
        .run();
    assert_eq!(local_pw.codes(), vec![PAM_SUCCESS; 2], "{local_pw:?}");
}

#[test]
fn rosterd_down_is_authinfo_unavail_within_the_timeout_and_leaves_no_thread() {
    let mut w = World::start();
    w.user("alice", "correct horse 1", Some("write"));

    // Hung: the bus accepts and never answers. timeout=1 bounds it.
    let hung = SilentBus::start();
    let args = format!(
        "bus={} snapshot={} timeout=1",
        hung.address(),
        w.daemon.nss_cache_path().display()
    );
    w.roster_only("alone", &args);
    w.service("login", &args);
    let login = w.pam("alice").steps(&["acct"]);
    let child = login.spawn();
    // During the call: sample the driver's threads while it waits.
    let pid = child.id();
    let mut during = Vec::new();
    std::thread::sleep(Duration::from_millis(150));
    for _ in 0..8 {
        during.push(threads_of(pid));
        std::thread::sleep(Duration::from_millis(80));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("step acct 9 "), "fails closed: {stdout}");
    let ms: f64 = stdout
        .split("ms=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        (950.0..2500.0).contains(&ms),
        "bounded by timeout=1: {ms} ms"
    );
    assert!(stdout.contains("threads 1\n"), "{stdout}");
    assert!(stdout.contains("threads=1"), "no thread after: {stdout}");
    let live: Vec<_> = during.iter().filter(|&&n| n > 0).collect();
    assert!(
        !live.is_empty() && live.iter().all(|&&n| n == 1),
        "during: {during:?}"
    );
    println!("threads of the driver during a hung call: {during:?}");

    let alone = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "acct", "open", "chauthtok"])
        .answers(&["correct horse 1"])
        .run();
    // auth, acct: AUTHINFO_UNAVAIL; open: SESSION_ERR; chauthtok prelim: AUTHINFO_UNAVAIL.
    assert_eq!(alone.codes(), vec![9, 9, 14, 9], "{alone:?}");
    assert!(alone.steps.iter().all(|s| s.threads == 1), "{alone:?}");

    // Stopped: no owner of the name, an answer from the bus at once.
    w.daemon.stop();
    w.roster_only("alone", &(w.module_args() + " timeout=1"));
    let stopped = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(stopped.codes(), vec![9, 9], "{stopped:?}");
    assert!(stopped.elapsed < Duration::from_secs(1), "{stopped:?}");
    // The packaged account line fails closed (default=bad).
    w.service("login", &w.module_args());
    let packaged = w.pam("alice").steps(&["acct"]).run();
    assert_eq!(packaged.code("acct"), PAM_AUTHINFO_UNAVAIL);
}

#[test]
fn the_bus_address_never_comes_from_the_environment() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    // No bus= here: the module must use the standard system bus socket,
    // where no rosterd answers, even though every variable points at the
    // test bus, where one would say yes.
    let args = format!("snapshot={} timeout=1", w.daemon.nss_cache_path().display());
    w.roster_only("alone", &args);
    let out = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", w.daemon.bus_address())
        .env("DBUS_SESSION_BUS_ADDRESS", w.daemon.bus_address())
        .env("DBUS_STARTER_ADDRESS", w.daemon.bus_address())
        .run();
    assert_eq!(out.codes(), vec![9, 9], "{out:?}");
    // With bus= the same call succeeds: it was the address, nothing else.
    w.roster_only("alone", &w.module_args());
    let ok = w
        .pam("alice")
        .service("alone")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(ok.codes(), vec![0, 0], "{ok:?}");
}

#[test]
fn lockout_from_one_remote_host_leaves_the_console_working_until_unlock() {
    let w = World::start_with(TestConfig::new().set("lockout.attempts", "3"));
    w.user("alice", "correct horse 1", Some("write"));
    w.roster_only("alone", &w.module_args());
    let attempt = |pw: &str, rhost: Option<&str>| {
        let mut l = w
            .pam("alice")
            .service("alone")
            .steps(&["auth"])
            .answers(&[pw]);
        if let Some(h) = rhost {
            l = l.rhost(h);
        }
        l.run()
    };
    let attacker = Some("203.0.113.66");
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(attempt("guess", attacker).code("auth"));
    }
    assert_eq!(codes[..2], [PAM_AUTH_ERR, PAM_AUTH_ERR], "{codes:?}");
    assert!(
        [PAM_AUTH_ERR, PAM_MAXTRIES].contains(&codes[2]),
        "{codes:?}"
    );
    let locked = attempt("correct horse 1", attacker);
    assert_eq!(locked.code("auth"), PAM_MAXTRIES, "{locked:?}");
    assert!(
        locked
            .errors
            .iter()
            .any(|e| e.contains("account locked after too many failed attempts: try again in ")),
        "says until when: {:?}",
        locked.errors
    );
    // The console (no PAM_RHOST) and another host are not locked out.
    assert_eq!(attempt("correct horse 1", None).code("auth"), PAM_SUCCESS);
    assert_eq!(
        attempt("correct horse 1", Some("198.51.100.1")).code("auth"),
        PAM_SUCCESS
    );
    w.roster(&["users", "unlock", "alice"]);
    assert_eq!(
        attempt("correct horse 1", attacker).code("auth"),
        PAM_SUCCESS
    );
}

#[test]
fn a_wrong_password_and_a_pending_users_attempt_take_the_same_time() {
    // The packaged argon2 parameters, so the figures mean something.
    let w = World::start_with(
        TestConfig::new()
            .set("argon2.memory_kib", "19456")
            .set("argon2.iterations", "2")
            .set("lockout.attempts", "1000"),
    );
    w.user("alice", "correct horse 1", Some("write"));
    w.pending_user("pete", "write");
    w.roster_only("alone", &w.module_args());
    let (mut wrong, mut pending) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let a = w
            .pam("alice")
            .service("alone")
            .steps(&["auth"])
            .answers(&["wrong pw 1"])
            .run();
        assert_eq!(a.code("auth"), PAM_AUTH_ERR);
        wrong.push(a.step("auth").ms);
        let p = w
            .pam("pete")
            .service("alone")
            .steps(&["auth"])
            .answers(&["some pw 1"])
            .run();
        assert_eq!(p.code("auth"), PAM_AUTH_ERR);
        pending.push(p.step("auth").ms);
    }
    let (mw, mp) = (median(wrong), median(pending));
    println!(
        "median pam_authenticate: wrong password {mw:.1} ms, pending user's attempt {mp:.1} ms"
    );
    let ratio = mw / mp;
    assert!(
        (0.6..1.67).contains(&ratio),
        "wrong {mw:.1} ms vs pending {mp:.1} ms"
    );
}

#[test]
fn a_non_root_caller_may_check_only_its_own_password() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let bob = w.user("bob", "another secret 2", Some("write"));
    w.roster_only("alone", &w.module_args());
    w.open_to_everyone();
    let other = w
        .pam("alice")
        .service("alone")
        .run_as(bob)
        .steps(&["auth"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(other.code("auth"), PAM_CRED_INSUFFICIENT, "{other:?}");
    // A screen locker: bob's own password, as bob.
    let own = w
        .pam("bob")
        .service("alone")
        .run_as(bob)
        .steps(&["auth"])
        .answers(&["another secret 2"])
        .run();
    assert_eq!(own.code("auth"), PAM_SUCCESS, "{own:?}");
}

#[test]
fn no_thread_is_left_behind_by_any_call() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let out = w
        .pam("alice")
        .steps(&["auth", "setcred", "acct", "open", "close"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(out.codes(), vec![PAM_SUCCESS; 5], "{out:?}");
    assert_eq!(out.threads_before, 1);
    for step in &out.steps {
        assert_eq!(step.threads, 1, "{step:?}");
    }
    // Nor a descriptor: the connection and zbus's reactor are closed. (In
    // the packaged stack pam_unix's failure log opens libc's syslog
    // socket, so this looks at pam_roster alone.)
    w.roster_only("alone", &w.module_args());
    let alone = w
        .pam("alice")
        .service("alone")
        .steps(&[
            "fdlist", "auth", "setcred", "acct", "open", "close", "auth", "fdlist",
        ])
        .answers(&["correct horse 1", "wrong password 9"])
        .run();
    assert_eq!(
        alone.codes(),
        vec![0, 0, 0, 0, 0, PAM_AUTH_ERR],
        "{alone:?}"
    );
    for step in &alone.steps {
        assert_eq!(step.threads, 1, "{step:?}");
    }
    // What is open at the end beyond what was open at the start: only
    // nss_wrapper's cached passwd/group files (the test's NSS stand-in),
    // never a socket, an epoll, a timer or a pipe of zbus's.
    let fds = |chunk: &str| -> Vec<String> {
        chunk
            .lines()
            .filter_map(|l| l.strip_prefix("fd "))
            .filter_map(|l| l.split_once(' ').map(|(_, target)| target.to_owned()))
            .filter(|t| !t.starts_with("/proc/"))
            .collect()
    };
    let chunks: Vec<&str> = alone.stdout.split("\nstep ").collect();
    let (first, last) = (fds(chunks[0]), fds(chunks[chunks.len() - 1]));
    let new: Vec<&String> = last.iter().filter(|t| !first.contains(t)).collect();
    let ours = w.dir().display().to_string();
    assert!(
        new.iter().all(|t| t.starts_with(&ours)),
        "left open by the calls: {new:?}\n{}",
        alone.stdout
    );
    assert!(
        !first.is_empty() && last.len() <= first.len() + 2,
        "{}",
        alone.stdout
    );
    println!(
        "driver threads: before {}, after each step {:?}",
        out.threads_before,
        out.steps.iter().map(|s| s.threads).collect::<Vec<_>>()
    );
}

#[test]
fn no_secret_reaches_the_audit_log_or_stderr() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    w.roster_only("alone", &(w.module_args() + " debug"));
    for pw in ["correct horse 1", "wrong-but-secret-77"] {
        w.pam("alice")
            .service("alone")
            .steps(&["auth", "acct"])
            .answers(&[pw])
            .run();
    }
    for text in [w.daemon.audit_log(), w.daemon.stderr_log()] {
        assert!(!text.contains("correct horse"), "{text}");
        assert!(!text.contains("wrong-but-secret"), "{text}");
    }
}

/// Where pam_roster's time goes, in-process (no exec): run with
/// `cargo test -p roster-tests --test pam_auth cost_breakdown -- --ignored --nocapture`.
#[test]
#[ignore]
fn cost_breakdown() {
    let w = World::start_with(
        TestConfig::new()
            .set("argon2.memory_kib", "19456")
            .set("argon2.iterations", "2"),
    );
    w.user("alice", "correct horse 1", Some("write"));
    w.roster_only("alone", &w.module_args());
    let rounds = 15;
    let steps: Vec<&str> = std::iter::repeat_n(["auth", "acct"], rounds)
        .flatten()
        .collect();
    let answers = vec!["correct horse 1"; rounds];
    let out = w
        .pam("alice")
        .service("alone")
        .steps(&steps)
        .answers(&answers)
        .run();
    let of = |name: &str| {
        median(
            out.steps
                .iter()
                .filter(|s| s.name == name)
                .map(|s| s.ms)
                .collect(),
        )
    };
    let root = w
        .pam("root")
        .service("alone")
        .steps(&std::iter::repeat_n("acct", rounds).collect::<Vec<_>>())
        .run();
    let unknown = median(root.steps.iter().map(|s| s.ms).collect());
    println!(
        "median in-process: auth {:.2} ms, acct {:.2} ms, root (snapshot check only) {unknown:.3} ms",
        of("auth"),
        of("acct")
    );
}
