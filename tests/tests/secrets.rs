//! Secrets end to end (DESIGN.md "Secrets"): the CLI and raw D-Bus as
//! different uids, tracking, the key file, encryption at rest, signals
//! to the entitled connection only, and a `kill -9` during a rekey.

use roster_tests::{TestBus, TestDaemon};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn key_file(d: &TestDaemon) -> PathBuf {
    d.database_path().parent().unwrap().join("secrets.key")
}

/// Whether `needle` occurs in the database or its WAL.
fn database_holds(d: &TestDaemon, needle: &[u8]) -> bool {
    let mut files = vec![d.database_path()];
    let mut wal = d.database_path().into_os_string();
    wal.push("-wal");
    files.push(PathBuf::from(wal));
    files.iter().any(|f| {
        std::fs::read(f)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

#[test]
fn a_user_keeps_a_secret_shares_it_and_a_reader_tracks_it() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    let bob = d.create_user("bob", "user", "correct horse 1");
    let carol = d.create_user("carol", "user", "correct horse 1");

    d.roster(&[
        "secrets",
        "add",
        "db",
        "password=-",
        "--description",
        "the db",
    ])
    .as_uid(alice)
    .stdin("one")
    .run()
    .expect_ok();
    d.roster(&["secrets", "grant", "db", "bob"])
        .as_uid(alice)
        .run()
        .expect_ok();
    let get = |uid: u32, extra: &[&str]| {
        let mut args = vec!["secrets", "get", "alice/db", "password"];
        args.extend_from_slice(extra);
        d.roster(&args).as_uid(uid).run().expect_ok().stdout
    };
    assert_eq!(get(bob, &[]), "one");

    let file = d.dir().join("two.txt");
    std::fs::write(&file, "two").unwrap();
    let at = format!("password=@{}", file.display());
    let out = d
        .roster(&["secrets", "update", "db", &at])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert!(out.stdout.contains("revision 2"), "{}", out.stdout);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // Identical content makes no revision.
    let same = d
        .roster(&["secrets", "update", "db", &at])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert!(same.stdout.contains("identical"), "{}", same.stdout);

    // bob is pinned to revision 1 until he refreshes; a peek doesn't move.
    assert_eq!(get(bob, &[]), "one");
    assert_eq!(get(bob, &["--peek"]), "two");
    assert_eq!(get(bob, &[]), "one");
    assert_eq!(get(bob, &["--refresh"]), "two");
    assert_eq!(get(bob, &[]), "two");
    let shown = d
        .roster(&["secrets", "show", "alice/db", "--json"])
        .as_uid(bob)
        .run()
        .expect_ok()
        .json();
    assert_eq!(shown["tracking"], 2);
    assert_eq!(shown["manages"], false);

    // An inline value warns.
    let inline = d
        .roster(&["secrets", "add", "api", "api-key=visible"])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert!(inline.stderr.contains("warning"), "{}", inline.stderr);

    // carol: not-found everywhere, on the CLI and on the bus.
    let refused = d
        .roster(&["secrets", "get", "alice/db", "password"])
        .as_uid(carol)
        .run()
        .expect_code(1);
    assert!(refused.stderr.contains("not found"), "{}", refused.stderr);
    for (method, args) in [
        ("Secrets.Show", vec![q("alice/db")]),
        ("Secrets.Get", vec![q("alice/db"), q(""), "0".into()]),
        (
            "Secrets.Grant",
            vec![q("alice/db"), q("carol"), q("manage")],
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = d.probe(method, &args).as_uid(carol).run();
        assert_eq!(
            run.probe_error().as_deref(),
            Some("NotFound"),
            "{method}: {}",
            run.stdout
        );
    }
    let listed = d
        .roster(&["secrets", "list", "--json"])
        .as_uid(carol)
        .run()
        .expect_ok()
        .json();
    assert_eq!(listed, serde_json::json!([]));
    // bob views but may not manage.
    let run = d
        .probe("Secrets.Grant", &[&q("alice/db"), &q("carol"), &q("view")])
        .as_uid(bob)
        .run();
    assert_eq!(run.probe_error().as_deref(), Some("PermissionDenied"));
    // A revoke takes effect at once.
    d.roster(&["secrets", "revoke", "db", "bob"])
        .as_uid(alice)
        .run()
        .expect_ok();
    d.roster(&["secrets", "get", "alice/db", "password"])
        .as_uid(bob)
        .run()
        .expect_code(1);

    // Every reveal is an audit line, without content.
    let audit = d.audit_log();
    assert!(audit.contains("secrets.get"), "{audit}");
    assert!(!audit.contains("two") || !audit.contains("password=two"));
    for value in ["one", "visible"] {
        assert!(
            !audit
                .lines()
                .any(|l| l.contains("secrets") && l.contains(value)),
            "{audit}"
        );
    }
}

#[test]
fn environment_secrets_are_read_by_write_holders_only() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.add_environment("prod");
    let eve = d.create_user("eve", "user", "correct horse 1");
    let dave = d.create_user("dave", "user", "correct horse 1");
    let rod = d.create_user("rod", "user", "correct horse 1");
    let sid = d.create_user("sid", "user", "correct horse 1");
    d.grant("eve", "admin", "prod");
    d.grant("dave", "write", "prod");
    d.grant("rod", "read", "prod");
    d.grant("sid", "status", "prod");
    d.roster(&[
        "secrets",
        "add",
        "deploy",
        "key-data=-",
        "--environment",
        "prod",
    ])
    .as_uid(eve)
    .stdin("k1")
    .run()
    .expect_ok();
    let out = d
        .roster(&["secrets", "get", "prod/deploy", "key-data"])
        .as_uid(dave)
        .run()
        .expect_ok();
    assert_eq!(out.stdout, "k1");
    for uid in [rod, sid] {
        let run = d
            .probe("Secrets.Show", &[&q("prod/deploy")])
            .as_uid(uid)
            .run();
        assert_eq!(
            run.probe_error().as_deref(),
            Some("NotFound"),
            "{}",
            run.stdout
        );
        d.roster(&["secrets", "show", "prod/deploy"])
            .as_uid(uid)
            .run()
            .expect_code(1);
    }
    // dave (write) may not change it; eve (admin of prod) and root may.
    let request = serde_json::json!({
        "name": "", "environment": "", "description": "", "set_description": false,
        "rotation": "", "expire": "", "content": [{"key": "key-data", "value": [50]}],
        "set_content": true,
    });
    let run = d
        .probe("Secrets.Update", &[&q("prod/deploy"), &request.to_string()])
        .as_uid(dave)
        .run();
    assert_eq!(run.probe_error().as_deref(), Some("PermissionDenied"));
    d.probe("Secrets.Update", &[&q("prod/deploy"), &request.to_string()])
        .as_uid(eve)
        .run()
        .expect_ok();
    d.roster(&["secrets", "show", "prod/deploy", "--revisions"])
        .run()
        .expect_ok();
    // A user creating a secret for an environment they don't administer.
    d.roster(&[
        "secrets",
        "add",
        "other",
        "key-data=-",
        "--environment",
        "prod",
    ])
    .as_uid(dave)
    .stdin("x")
    .run()
    .expect_code(1);
}

#[test]
fn the_database_holds_no_plaintext_before_or_after_a_rekey() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    assert!(!key_file(&d).exists(), "no key before the first secret");
    let canary = "PLAINTEXT-CANARY-7f3a9c";
    d.roster(&["secrets", "add", "db", "password=-"])
        .as_uid(alice)
        .stdin(canary)
        .run()
        .expect_ok();
    let mode = std::fs::metadata(key_file(&d))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!database_holds(&d, canary.as_bytes()));
    let before = std::fs::read(key_file(&d)).unwrap();
    // Only root re-keys.
    d.roster(&["secrets", "rekey"])
        .as_uid(alice)
        .run()
        .expect_code(1);
    let out = d.roster(&["secrets", "rekey"]).run().expect_ok();
    assert!(out.stdout.contains("1 value"), "{}", out.stdout);
    assert_ne!(std::fs::read(key_file(&d)).unwrap(), before);
    assert!(!database_holds(&d, canary.as_bytes()));
    let got = d
        .roster(&["secrets", "get", "db", "password"])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert_eq!(got.stdout, canary);
}

#[test]
fn a_missing_or_wrong_key_file_refuses_secrets_and_nothing_else() {
    let bus = TestBus::start();
    let mut d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    d.roster(&["secrets", "add", "db", "password=-"])
        .as_uid(alice)
        .stdin("kept")
        .run()
        .expect_ok();
    let key = key_file(&d);
    let saved = d.dir().join("saved.key");
    std::fs::copy(&key, &saved).unwrap();

    // Missing: refused naming the file, nothing created, users still work.
    std::fs::remove_file(&key).unwrap();
    d.restart();
    let refused = d
        .roster(&["secrets", "get", "db", "password"])
        .as_uid(alice)
        .run()
        .expect_code(1);
    assert!(
        refused.stderr.contains(&key.display().to_string()),
        "{}",
        refused.stderr
    );
    d.roster(&["secrets", "add", "new", "password=-"])
        .as_uid(alice)
        .stdin("x")
        .run()
        .expect_code(1);
    assert!(!key.exists(), "no new key while secrets exist");
    d.roster(&["users", "list"]).run().expect_ok();
    d.create_user("bob", "user", "correct horse 1");
    assert!(d.stderr_log().contains(&key.display().to_string()));

    // Restored: everything is there.
    std::fs::copy(&saved, &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    d.restart();
    d.roster(&["secrets", "rekey"]).run().expect_ok();
    // The old key after a rekey is the wrong one.
    std::fs::copy(&saved, &key).unwrap();
    d.restart();
    let wrong = d
        .roster(&["secrets", "show", "db"])
        .as_uid(alice)
        .run()
        .expect_code(1);
    assert!(
        wrong.stderr.contains(&key.display().to_string()),
        "{}",
        wrong.stderr
    );
    d.roster(&["users", "list"]).run().expect_ok();
}

#[test]
fn limits_give_clear_errors_and_change_nothing() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    let big = d.dir().join("big");
    std::fs::write(&big, vec![b'x'; (1 << 20) + 1]).unwrap();
    let at = format!("password=@{}", big.display());
    let out = d
        .roster(&["secrets", "add", "db", &at])
        .as_uid(alice)
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("1 MiB"), "{}", out.stderr);
    let out = d
        .roster(&["secrets", "add", "db", "Bad_Key=-"])
        .as_uid(alice)
        .stdin("x")
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("key"), "{}", out.stderr);
    let many = d.dir().join("many.txt");
    let lines: String = (0..10_000).map(|n| format!("key{n}=v\n")).collect();
    std::fs::write(&many, lines).unwrap();
    let out = d
        .roster(&[
            "secrets",
            "add",
            "db",
            "--file",
            &many.display().to_string(),
        ])
        .as_uid(alice)
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("keys"), "{}", out.stderr);
    let out = d
        .roster(&["secrets", "add", "d\u{1}b", "password=-"])
        .as_uid(alice)
        .stdin("x")
        .run()
        .expect_code(1);
    assert!(out.stderr.contains("name"), "{}", out.stderr);
    let listed = d
        .roster(&["secrets", "list", "--json"])
        .as_uid(alice)
        .run()
        .expect_ok()
        .json();
    assert_eq!(listed, serde_json::json!([]));
    // A value with a NUL byte is bytes, kept as they are.
    let nul = d.dir().join("nul");
    std::fs::write(&nul, b"a\0b").unwrap();
    d.roster(&[
        "secrets",
        "add",
        "db",
        &format!("password=@{}", nul.display()),
    ])
    .as_uid(alice)
    .run()
    .expect_ok();
    let out = d
        .roster(&["secrets", "get", "db", "password"])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert_eq!(out.stdout.as_bytes(), b"a\0b");
}

/// A `roster secrets watch --json` as `uid`, its lines on a channel.
fn watcher(d: &TestDaemon, uid: u32) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut command = d
        .roster(&["secrets", "watch", "--json"])
        .as_uid(uid)
        .to_command();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Ready once it says so on stderr.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let ready = lines.next();
    assert!(
        ready
            .as_ref()
            .is_some_and(|l| l.as_ref().is_ok_and(|l| l.contains("Watching"))),
        "{ready:?}"
    );
    (child, rx)
}

#[test]
fn signals_reach_the_entitled_connection_and_no_other() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    let bob = d.create_user("bob", "user", "correct horse 1");
    let carol = d.create_user("carol", "user", "correct horse 1");
    d.roster(&["secrets", "add", "db", "password=-"])
        .as_uid(alice)
        .stdin("one")
        .run()
        .expect_ok();
    d.roster(&["secrets", "grant", "db", "bob"])
        .as_uid(alice)
        .run()
        .expect_ok();

    // A third connection listening to every signal on the bus.
    let (eavesdrop_tx, eavesdrop_rx) = mpsc::channel::<String>();
    let conn = d.connect();
    let listener = std::thread::spawn(move || {
        zbus::block_on(async move {
            let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .build();
            dbus.add_match_rule(rule.unwrap()).await.unwrap();
            let mut stream = zbus::MessageStream::from(&conn);
            let _ = eavesdrop_tx.send("ready".into());
            use zbus::export::futures_core::Stream;
            loop {
                let next =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await;
                let Some(Ok(message)) = next else { break };
                let header = message.header();
                if let Some(member) = header.member()
                    && member.as_str().starts_with("Secret")
                {
                    let _ = eavesdrop_tx.send(member.to_string());
                }
            }
        });
    });
    assert_eq!(
        eavesdrop_rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        "ready"
    );

    let (mut bob_watch, bob_lines) = watcher(&d, bob);
    let (mut carol_watch, carol_lines) = watcher(&d, carol);
    d.roster(&["secrets", "update", "db", "password=-"])
        .as_uid(alice)
        .stdin("two")
        .run()
        .expect_ok();
    let line = bob_lines.recv_timeout(Duration::from_secs(30)).unwrap();
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "changed");
    assert_eq!(event["revision"], 2);
    // The removal: bob (a viewer) hears it too.
    d.roster(&["secrets", "remove", "db"])
        .as_uid(alice)
        .run()
        .expect_ok();
    let line = bob_lines.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(line.contains("removed"), "{line}");
    // Once bob heard both, carol and the eavesdropper would have heard
    // theirs: they heard nothing.
    assert!(carol_lines.try_recv().is_err());
    assert!(eavesdrop_rx.try_recv().is_err());
    let _ = bob_watch.kill();
    let _ = carol_watch.kill();
    let _ = bob_watch.wait();
    let _ = carol_watch.wait();
    drop(listener);
}

/// Large values make the rekey's one transaction long enough (tens to
/// hundreds of milliseconds here) that the kills below land inside it,
/// before it or after it, over the rounds.
#[test]
fn kill_9_during_a_rekey_loses_nothing() {
    let bus = TestBus::start();
    let mut d = TestDaemon::start(&bus);
    let alice = d.create_user("alice", "user", "correct horse 1");
    let count = 24;
    let padding = "p".repeat(256 * 1024);
    let value = |n: u32| format!("value-{n}-{padding}");
    for n in 0..count {
        d.roster(&["secrets", "add", &format!("s{n}"), "password=-"])
            .as_uid(alice)
            .stdin(&value(n))
            .run()
            .expect_ok();
    }
    let (mut interrupted, mut staged) = (0, 0);
    for round in 0..6u64 {
        let mut rekey = d.roster(&["secrets", "rekey"]).to_command();
        let mut child = rekey
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(10 + 30 * round));
        d.kill9();
        if !child.wait().unwrap().success() {
            interrupted += 1;
        }
        // Two keys in the file: killed between staging the new key and
        // the rekey's end (inside or just after its transaction).
        let keys = std::fs::read_to_string(key_file(&d)).unwrap();
        if keys.lines().filter(|l| l.starts_with("key ")).count() > 1 {
            staged += 1;
        }
        d.restart();
        for n in 0..count {
            let got = d
                .roster(&["secrets", "get", &format!("s{n}"), "password", "--peek"])
                .as_uid(alice)
                .run()
                .expect_ok();
            assert!(got.stdout == value(n), "round {round}: s{n} changed");
        }
    }
    eprintln!(
        "rekeys killed before they answered: {interrupted} of 6, with the new key staged: {staged}"
    );
}
