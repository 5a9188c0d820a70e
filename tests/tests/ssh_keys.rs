//! SSH keys end to end: the real `roster` CLI against a real rosterd on a
//! private bus (`roster users keys add|list|remove`, `roster
//! ssh-authorized-keys`), and a real sshd (tests/ssh/run-sshd-test.sh)
//! taking a Roster user's key through `AuthorizedKeysCommand`.
//!
//! Needs `ssh-keygen` (openssh-client); the sshd test also needs root and
//! `/usr/sbin/sshd` (openssh-server) and skips loudly without them. Build
//! first: `cargo build -p rosterd -p roster` and
//! `cargo build --profile modules -p nss_roster --target-dir target/nss`.

use roster_tests::{STRANGER_UID, TestBus, TestDaemon, binary};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
/// sshd's usual AuthorizedKeysCommandUser: the command runs unprivileged.
const NOBODY: u32 = 65534;

/// A key pair made by ssh-keygen: the private key's path, the .pub line,
/// and what `ssh-keygen -lf` prints for it.
struct KeyPair {
    private: PathBuf,
    public: PathBuf,
    line: String,
    listing: String,
}

impl KeyPair {
    /// `SHA256:…` as `ssh-keygen -lf` prints it.
    fn fingerprint(&self) -> &str {
        self.listing.split(' ').nth(1).unwrap_or("")
    }

    /// `TYPE BASE64`, without the comment.
    fn type_and_blob(&self) -> String {
        self.line.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }
}

fn ssh_keygen(args: &[&str]) -> std::process::Output {
    Command::new("ssh-keygen")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("can't run ssh-keygen ({e}): apt-get install openssh-client"))
}

/// `ssh-keygen -t KIND` into `dir/name`.
fn keygen(dir: &Path, name: &str, kind: &[&str]) -> KeyPair {
    let private = dir.join(name);
    let path = private.to_str().unwrap_or_default().to_owned();
    let comment = format!("{name}@roster-test");
    let mut args = vec!["-q", "-N", "", "-C", &comment, "-f", &path];
    args.extend_from_slice(kind);
    let out = ssh_keygen(&args);
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = private.with_extension("pub");
    let line = std::fs::read_to_string(&public)
        .unwrap_or_else(|e| panic!("read {}: {e}", public.display()))
        .trim()
        .to_owned();
    let out = ssh_keygen(&["-lf", public.to_str().unwrap_or_default()]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(listing.contains(" SHA256:"), "{listing}");
    KeyPair {
        private,
        public,
        line,
        listing,
    }
}

fn ed25519(dir: &Path, name: &str) -> KeyPair {
    keygen(dir, name, &["-t", "ed25519"])
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

/// `roster users keys list USER --json` as root: the fingerprints.
fn fingerprints(d: &TestDaemon, user: &str) -> Vec<String> {
    let v = d
        .roster(&["users", "keys", "list", user, "--json"])
        .run()
        .expect_ok()
        .json();
    v.as_array()
        .unwrap_or_else(|| panic!("keys list --json is not an array: {v}"))
        .iter()
        .map(|k| k["fingerprint"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `roster ssh-authorized-keys USER` as sshd runs it: as nobody, finding
/// the snapshot through rosterd's config (`nss_cache`).
fn authorized(d: &TestDaemon, user: &str) -> roster_tests::Run {
    let config = d.config_path();
    d.roster(&[
        "ssh-authorized-keys",
        "--config",
        config.to_str().unwrap_or_default(),
        user,
    ])
    .as_uid(NOBODY)
    .run()
}

/// Asserts that `roster ssh-authorized-keys USER` exits 0 and prints
/// exactly these keys (TYPE BASE64, in any order).
#[track_caller]
fn assert_authorized(d: &TestDaemon, user: &str, keys: &[&KeyPair]) {
    let run = authorized(d, user);
    assert_eq!(
        run.code,
        Some(0),
        "ssh-authorized-keys {user} must exit 0\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let mut got: Vec<String> = run
        .stdout
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let mut want: Vec<String> = keys.iter().map(|k| k.type_and_blob()).collect();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "ssh-authorized-keys {user} printed:\n{}\nstderr: {}",
        run.stdout, run.stderr
    );
}

#[test]
fn users_manage_their_own_keys_and_admins_anyones() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempdir();
    let alice = d.create_user("alice", "user", PW);
    let bob = d.create_user("bob", "user", PW);
    let boss = d.create_user("boss", "admin", PW);
    let a1 = ed25519(tmp.path(), "a1");
    let a2 = keygen(tmp.path(), "a2", &["-t", "ecdsa", "-b", "256"]);
    let b1 = keygen(tmp.path(), "b1", &["-t", "rsa", "-b", "3072"]);
    let b2 = ed25519(tmp.path(), "b2");
    let b3 = keygen(tmp.path(), "b3", &["-t", "ecdsa", "-b", "384"]);

    // Alice adds her own key, given as words on the command line; what the
    // CLI says is what `ssh-keygen -lf` says.
    let words: Vec<&str> = a1.line.split(' ').collect();
    let mut args = vec!["users", "keys", "add", "alice"];
    args.extend_from_slice(&words);
    let added = d.roster(&args).as_uid(alice).run().expect_ok();
    assert!(
        added.stdout.contains(&a1.listing),
        "`keys add` should describe the key as ssh-keygen -l does ({}):\n{}",
        a1.listing,
        added.stdout
    );
    // …and one from a file.
    d.roster(&[
        "users",
        "keys",
        "add",
        "alice",
        "--file",
        a2.public.to_str().unwrap_or_default(),
    ])
    .as_uid(alice)
    .run()
    .expect_ok();
    // The same key twice is refused.
    d.roster(&["users", "keys", "add", "alice", &a1.line])
        .as_uid(alice)
        .run()
        .expect_code(1);

    // Bob (a plain user) and a stranger may not touch alice's keys.
    for (uid, who) in [(bob, "bob"), (STRANGER_UID, "a stranger")] {
        let run = d
            .roster(&["users", "keys", "add", "alice", &b2.line])
            .as_uid(uid)
            .run();
        assert_eq!(run.code, Some(1), "{who} added a key to alice: {run:?}");
        assert!(!run.stderr.is_empty(), "{who}: no reason given");
        let run = d
            .roster(&["users", "keys", "remove", "alice", a1.fingerprint()])
            .as_uid(uid)
            .run();
        assert_eq!(run.code, Some(1), "{who} removed alice's key: {run:?}");
        let run = d
            .roster(&["users", "keys", "list", "alice"])
            .as_uid(uid)
            .run();
        assert_eq!(run.code, Some(1), "{who} listed alice's keys: {run:?}");
        assert!(
            !run.stdout.contains(a1.fingerprint()),
            "{who} saw alice's keys: {}",
            run.stdout
        );
    }
    let refused = d
        .roster(&["users", "keys", "add", "alice", &b2.line])
        .as_uid(bob)
        .run();
    assert!(
        refused.stderr.contains("sudo") || refused.stderr.contains("admin"),
        "a refusal should say how to get the right: {}",
        refused.stderr
    );

    // Alice's list (table and JSON) shows ssh-keygen's fingerprints.
    let table = d
        .roster(&["users", "keys", "list", "alice"])
        .as_uid(alice)
        .run()
        .expect_ok();
    for k in [&a1, &a2] {
        assert!(
            table.stdout.contains(k.fingerprint()),
            "keys list lacks {} ({}):\n{}",
            k.fingerprint(),
            k.listing,
            table.stdout
        );
    }
    let mut want = vec![a1.fingerprint().to_owned(), a2.fingerprint().to_owned()];
    let mut got = fingerprints(&d, "alice");
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // A role admin and root manage anyone's: boss adds to bob, root adds
    // a file of two keys (with a comment line and a blank one).
    d.roster(&["users", "keys", "add", "bob", &b1.line])
        .as_uid(boss)
        .run()
        .expect_ok();
    let file = tmp.path().join("bob-keys");
    std::fs::write(
        &file,
        format!("# bob's other keys\n\n{}\n{}\n", b2.line, b3.line),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let added = d
        .roster(&[
            "users",
            "keys",
            "add",
            "bob",
            "--file",
            file.to_str().unwrap_or_default(),
        ])
        .run()
        .expect_ok();
    for k in [&b2, &b3] {
        assert!(added.stdout.contains(&k.listing), "{}", added.stdout);
    }

    // JSON: parses, each entry's fingerprint, bits and type match
    // ssh-keygen; nothing private anywhere.
    let json_run = d
        .roster(&["users", "keys", "list", "bob", "--json"])
        .as_uid(boss)
        .run()
        .expect_ok();
    let listed = json_run.json();
    let entries = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{listed}");
    for k in [&b1, &b2, &b3] {
        let entry = entries
            .iter()
            .find(|e| e["fingerprint"] == k.fingerprint())
            .unwrap_or_else(|| panic!("{} not in {listed}", k.listing));
        let bits = k.listing.split(' ').next().unwrap_or("");
        assert_eq!(entry["bits"].to_string(), bits, "{entry} vs {}", k.listing);
        assert_eq!(
            entry["line"]
                .as_str()
                .map(|l| l.starts_with(&k.type_and_blob())),
            Some(true),
            "{entry}"
        );
    }
    assert_no_private_material(&json_run.stdout, &[&b1, &b2, &b3]);
    assert_no_private_material(&table.stdout, &[&a1, &a2]);
    let boss_view = d
        .roster(&["users", "keys", "list", "bob"])
        .as_uid(boss)
        .run()
        .expect_ok();
    assert!(boss_view.stdout.contains(b1.fingerprint()));
    // Bob sees his own.
    let own = d
        .roster(&["users", "keys", "list", "bob", "--json"])
        .as_uid(bob)
        .run()
        .expect_ok()
        .json();
    assert_eq!(own.as_array().map(Vec::len), Some(3));

    // Remove: alice her own; boss and root bob's. Removing what is gone
    // (or a malformed fingerprint) is an error that changes nothing.
    d.roster(&["users", "keys", "remove", "alice", a1.fingerprint()])
        .as_uid(alice)
        .run()
        .expect_ok();
    assert_eq!(fingerprints(&d, "alice"), [a2.fingerprint()]);
    d.roster(&["users", "keys", "remove", "alice", a1.fingerprint()])
        .as_uid(alice)
        .run()
        .expect_code(1);
    d.roster(&[
        "users",
        "keys",
        "remove",
        "alice",
        "SHA256:not-a-fingerprint",
    ])
    .as_uid(alice)
    .run()
    .expect_code(1);
    // Alice can't remove bob's key even by its exact fingerprint.
    d.roster(&["users", "keys", "remove", "bob", b1.fingerprint()])
        .as_uid(alice)
        .run()
        .expect_code(1);
    d.roster(&["users", "keys", "remove", "bob", b1.fingerprint()])
        .as_uid(boss)
        .run()
        .expect_ok();
    d.roster(&["users", "keys", "remove", "bob", b2.fingerprint()])
        .run()
        .expect_ok();
    assert_eq!(fingerprints(&d, "bob"), [b3.fingerprint()]);
    assert_eq!(fingerprints(&d, "alice"), [a2.fingerprint()]);
    let empty = d
        .roster(&["users", "keys", "list", "boss"])
        .as_uid(boss)
        .run()
        .expect_ok();
    assert!(empty.stdout.contains("No keys"), "{}", empty.stdout);
    // Keys of a user who doesn't exist: a clear error naming them.
    let ghost = d
        .roster(&["users", "keys", "list", "ghost"])
        .run()
        .expect_code(1);
    assert!(ghost.stderr.contains("ghost"), "{}", ghost.stderr);

    // The audit names the actions and never carries private material.
    let audit = d.audit_log();
    assert!(audit.contains("action=keys.add target=alice"), "{audit}");
    assert!(audit.contains("action=keys.remove target=bob"), "{audit}");
    assert_no_private_material(&audit, &[&a1, &a2, &b1, &b2, &b3]);
}

/// No line of any private key's body appears in `text`.
#[track_caller]
fn assert_no_private_material(text: &str, keys: &[&KeyPair]) {
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for k in keys {
        let private = std::fs::read_to_string(&k.private).unwrap_or_default();
        for line in private.lines().filter(|l| !l.starts_with("-----")) {
            assert!(
                line.len() < 20 || !text.contains(line),
                "private key material of {} in:\n{text}",
                k.private.display()
            );
        }
    }
}

#[test]
fn malformed_keys_are_refused_and_change_nothing() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempdir();
    let alice = d.create_user("alice", "user", PW);
    let good = ed25519(tmp.path(), "good");
    let other = ed25519(tmp.path(), "other");
    let rsa = keygen(tmp.path(), "rsa", &["-t", "rsa", "-b", "2048"]);
    d.roster(&["users", "keys", "add", "alice", &good.line])
        .run()
        .expect_ok();
    let before = fingerprints(&d, "alice");
    let blob = other.line.split(' ').nth(1).unwrap_or("").to_owned();
    let rsa_blob = rsa.line.split(' ').nth(1).unwrap_or("").to_owned();
    let huge = format!("ssh-ed25519 {} x", "A".repeat(100_000));
    let long_comment = format!("{} {}", other.type_and_blob(), "c".repeat(20_000));

    let bad_lines: Vec<(&str, String)> = vec![
        (
            "bad base64",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5!!!!== me".into(),
        ),
        (
            "truncated blob",
            format!("ssh-ed25519 {} me", &blob[..blob.len() / 2]),
        ),
        (
            "options prefix",
            format!("command=\"/bin/sh\" {}", other.line),
        ),
        ("restrict prefix", format!("no-pty,restrict {}", other.line)),
        (
            "from= prefix",
            format!("from=\"10.0.0.0/8\" {}", other.line),
        ),
        ("unknown type", format!("ssh-foo {blob} me")),
        (
            "type and blob disagree",
            format!("ssh-ed25519 {rsa_blob} me"),
        ),
        ("DSA", format!("ssh-dss {blob} me")),
        ("only a type", "ssh-ed25519".into()),
        ("empty", String::new()),
        ("blanks", "   ".into()),
        (
            "second key on a new line",
            format!("{}\n{}", other.line, rsa.line),
        ),
        (
            "options on a second line",
            format!("{}\ncommand=\"sh\" {}", other.line, rsa.line),
        ),
        ("a control character", format!("{}\u{1b}[2J", other.line)),
        ("huge", huge),
        ("huge comment", long_comment),
    ];
    for (what, line) in &bad_lines {
        let run = d
            .roster(&["users", "keys", "add", "alice", line])
            .as_uid(alice)
            .run();
        assert!(
            matches!(run.code, Some(1 | 2)),
            "{what}: must be refused with exit 1 (or 2), got {:?}\nstdout: {}\nstderr: {}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert!(!run.stderr.trim().is_empty(), "{what}: no reason given");
        assert!(
            run.stderr.len() < 4096,
            "{what}: the error echoes the whole input ({} bytes)",
            run.stderr.len()
        );
        assert_eq!(fingerprints(&d, "alice"), before, "{what} changed the keys");
    }

    // The same through --file (NUL bytes can't go on argv), and from stdin.
    let nul = format!("{}\0 me\n", other.type_and_blob()).into_bytes();
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("a NUL byte", nul.clone()),
        (
            "a NUL before a good line",
            [b"\0\n".to_vec(), good.line.clone().into_bytes()].concat(),
        ),
        ("not UTF-8", b"ssh-ed25519 \xff\xfe me\n".to_vec()),
        ("only comments", b"# nothing here\n\n".to_vec()),
        (
            "huge",
            format!("ssh-rsa {}\n", "A".repeat(2 << 20)).into_bytes(),
        ),
    ];
    // A private key given by mistake: refused, and not echoed back.
    files.push((
        "a private key",
        std::fs::read(&other.private).unwrap_or_default(),
    ));
    for (what, bytes) in &files {
        let path = tmp.path().join("bad.pub");
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        let run = d
            .roster(&[
                "users",
                "keys",
                "add",
                "alice",
                "--file",
                path.to_str().unwrap_or_default(),
            ])
            .run();
        assert!(
            matches!(run.code, Some(1 | 2)),
            "--file with {what}: must be refused, got {:?}\nstdout: {}\nstderr: {}",
            run.code,
            run.stdout,
            run.stderr
        );
        assert!(
            !run.stderr.trim().is_empty(),
            "--file with {what}: no reason"
        );
        assert_no_private_material(&run.stderr, &[&other]);
        assert_no_private_material(&run.stdout, &[&other]);
        let stdin = d
            .roster(&["users", "keys", "add", "alice", "--file", "-"])
            .stdin_bytes(bytes)
            .run();
        assert!(
            matches!(stdin.code, Some(1 | 2)),
            "--file - with {what}: must be refused, got {:?}\nstdout: {}\nstderr: {}",
            stdin.code,
            stdin.stdout,
            stdin.stderr
        );
        assert_eq!(
            fingerprints(&d, "alice"),
            before,
            "--file with {what} changed the keys"
        );
    }
    assert_no_private_material(&d.audit_log(), &[&other]);
    assert_no_private_material(&d.stderr_log(), &[&other]);
}

#[test]
fn authorized_keys_only_for_users_who_may_log_in_here() {
    let bus = TestBus::start();
    let mut d = TestDaemon::start(&bus);
    let tmp = tempdir();
    d.add_environment("prod");
    // name → (key, setup); every one of them gets a key.
    let users = [
        "writer",
        "hostadmin",
        "boss",
        "reader",
        "status",
        "nogrant",
        "elsewhere",
        "frozen",
        "later",
    ];
    let keys: Vec<KeyPair> = users.iter().map(|u| ed25519(tmp.path(), u)).collect();
    for u in users.iter().filter(|u| **u != "later") {
        d.create_user(u, if *u == "boss" { "admin" } else { "user" }, PW);
    }
    let (_later_uid, _code) = d.create_pending_user("later");
    d.grant("writer", "write", "");
    d.grant("hostadmin", "admin", "");
    d.grant("reader", "read", "");
    d.grant("status", "status", "");
    d.grant("elsewhere", "write", "prod");
    d.grant("frozen", "write", "");
    for (u, k) in users.iter().zip(&keys) {
        d.roster(&["users", "keys", "add", u, &k.line])
            .run()
            .expect_ok();
    }
    let key = |name: &str| &keys[users.iter().position(|u| *u == name).unwrap_or(0)];
    d.roster(&["users", "suspend", "frozen"]).run().expect_ok();
    // A second key for writer: both printed.
    let writer2 = keygen(tmp.path(), "writer2", &["-t", "rsa", "-b", "2048"]);
    d.roster(&["users", "keys", "add", "writer", &writer2.line])
        .run()
        .expect_ok();

    assert_authorized(&d, "writer", &[key("writer"), &writer2]);
    assert_authorized(&d, "hostadmin", &[key("hostadmin")]);
    assert_authorized(&d, "boss", &[key("boss")]);
    for nobody_gets_keys in [
        "reader",
        "status",
        "nogrant",
        "elsewhere",
        "frozen",
        "later", // Roster users
        "root",
        "nobody",
        "daemon",
        "localuser", // local accounts
        "ghost",
        "no-such-user-xyz", // unknown
    ] {
        assert_authorized(&d, nobody_gets_keys, &[]);
    }
    // Names that aren't names at all: nothing, exit 0, no hang.
    for odd in ["", "-", "../etc/passwd", "a b", &"x".repeat(5000)] {
        let run = authorized(&d, odd);
        assert_eq!(run.code, Some(0), "{odd:?}: {run:?}");
        assert_eq!(run.stdout, "", "{odd:?}");
    }

    // Changes reach it at once: suspend, enable, revoke below write, grant.
    d.roster(&["users", "suspend", "writer"]).run().expect_ok();
    assert_authorized(&d, "writer", &[]);
    d.roster(&["users", "enable", "writer"]).run().expect_ok();
    assert_authorized(&d, "writer", &[key("writer"), &writer2]);
    d.roster(&["users", "revoke", "writer", "write"])
        .run()
        .expect_ok();
    assert_authorized(&d, "writer", &[]);
    d.roster(&["users", "grant", "writer", "write"])
        .run()
        .expect_ok();
    assert_authorized(&d, "writer", &[key("writer"), &writer2]);
    d.roster(&["users", "keys", "remove", "writer", writer2.fingerprint()])
        .run()
        .expect_ok();
    assert_authorized(&d, "writer", &[key("writer")]);

    // A local account that shadows a Roster name (the host's passwd has
    // it, the daemon's test passwd doesn't): its logins must never be
    // opened by the Roster user's keys.
    if let Some(shadowed) = ["games", "man", "lp", "mail"]
        .into_iter()
        .find(|n| host_has_user(n))
    {
        d.create_user(shadowed, "user", PW);
        d.grant(shadowed, "write", "");
        let k = ed25519(tmp.path(), "shadowed");
        d.roster(&["users", "keys", "add", shadowed, &k.line])
            .run()
            .expect_ok();
        let run = authorized(&d, shadowed);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert_eq!(
            run.stdout, "",
            "the Roster user's keys opened the local account {shadowed}"
        );
    } else {
        eprintln!("(no local account to shadow on this host: that case not checked)");
    }

    // rosterd hung (SIGSTOP): nothing, exit 0, within the deadline.
    let pid = d.pid() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let run = authorized(&d, "writer");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "", "keys printed while rosterd was hung");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "ssh-authorized-keys took {:?} with rosterd hung",
        run.elapsed
    );
    assert_authorized(&d, "writer", &[key("writer")]);

    // rosterd stopped: nothing, exit 0, quickly — for Roster and local
    // names alike.
    d.stop();
    for user in ["writer", "boss", "root", "ghost"] {
        let started = Instant::now();
        let run = authorized(&d, user);
        let took = started.elapsed();
        assert_eq!(run.code, Some(0), "{user} with rosterd stopped: {run:?}");
        assert_eq!(run.stdout, "", "{user}: keys printed with rosterd stopped");
        assert!(
            took < Duration::from_secs(5),
            "ssh-authorized-keys {user} took {took:?} with rosterd stopped"
        );
    }
}

fn host_has_user(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ------------------------------------------------------------ real sshd

/// Why the sshd test can't run here, if it can't.
fn sshd_unavailable() -> Option<String> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return Some("needs root (a private mount namespace and sshd)".into());
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        return Some("/usr/sbin/sshd missing: apt-get install openssh-server".into());
    }
    if Command::new("ssh")
        .arg("-V")
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Some("ssh missing: apt-get install openssh-client".into());
    }
    None
}

fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(&manifest).to_path_buf()
}

/// tests/ssh/run-sshd-test.sh in the background; stops it on drop.
struct Sshd {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Sshd {
    fn start(d: &TestDaemon, dir: &Path) -> Sshd {
        let roster = binary("roster");
        let so = repo_root().join("target/nss/modules/libnss_roster.so");
        assert!(
            so.exists(),
            "{} is missing: cargo build --profile modules -p nss_roster --target-dir target/nss",
            so.display()
        );
        let cache = d.nss_cache_path();
        let cache = cache.to_str().unwrap_or_default();
        let log = dir.join("sshd.log");
        let mut child = Command::new(repo_root().join("tests/ssh/run-sshd-test.sh"))
            .arg("--keys-command")
            .arg(&roster)
            .args(["--keys-arg", "ssh-authorized-keys"])
            .args(["--keys-arg", "--snapshot", "--keys-arg", cache])
            .args(["--keys-arg", "%u"])
            .arg("--keys-env")
            .arg(format!("DBUS_SYSTEM_BUS_ADDRESS={}", d.bus_address()))
            .args(["--nss-cache", cache])
            .arg("--so")
            .arg(&so)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("can't run run-sshd-test.sh: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let port = first
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            drop(child.stdin.take());
            let status = child.wait().ok().and_then(|s| s.code());
            panic!(
                "run-sshd-test.sh did not start sshd (exit {status:?}; 97 = setup failed): \
                 {first:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Sshd { child, port, log }
    }

    /// `ssh -i KEY USER@127.0.0.1 true`: whether the login succeeded.
    fn login(&self, user: &str, key: &KeyPair) -> (bool, String) {
        let started = Instant::now();
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&key.private)
            .args(["-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "PreferredAuthentications=publickey",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("{user}@127.0.0.1"))
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("can't run ssh: {e}"));
        let text = format!(
            "ssh {user} exit {:?} after {:?}: {}",
            out.status.code(),
            started.elapsed(),
            String::from_utf8_lossy(&out.stderr)
        );
        match out.status.code() {
            Some(0) => (true, text),
            Some(255) => (false, text),
            _ => panic!("ssh neither logged in nor was refused: {text}"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // End of stdin stops sshd and everything it started.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_sshd_takes_roster_keys_until_suspend_or_revoke() {
    if let Some(why) = sshd_unavailable() {
        roster_tests::skip_or_fail(
            "a_real_sshd_takes_roster_keys_until_suspend_or_revoke",
            &why,
        );
        return;
    }
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempdir();
    for (name, level) in [
        ("carol", Some("write")),
        ("dave", Some("write")),
        ("erin", None),
    ] {
        d.create_user(name, "user", PW);
        if let Some(level) = level {
            d.grant(name, level, "");
        }
    }
    let carol = ed25519(tmp.path(), "carol");
    let dave = keygen(tmp.path(), "dave", &["-t", "ecdsa", "-b", "256"]);
    let erin = ed25519(tmp.path(), "erin");
    let stranger = ed25519(tmp.path(), "stranger");
    for (user, key) in [("carol", &carol), ("dave", &dave), ("erin", &erin)] {
        d.roster(&["users", "keys", "add", user, &key.line])
            .run()
            .expect_ok();
    }
    let sshd = Sshd::start(&d, tmp.path());
    let expect = |user: &str, key: &KeyPair, accepted: bool, why: &str| {
        let (ok, text) = sshd.login(user, key);
        assert_eq!(
            ok,
            accepted,
            "{why}: {text}\n--- sshd log ---\n{}\n--- rosterd stderr ---\n{}",
            sshd.log(),
            d.stderr_log()
        );
    };

    expect("carol", &carol, true, "carol (write, her key) must get in");
    expect("dave", &dave, true, "dave (write, his key) must get in");
    expect("carol", &stranger, false, "a key that isn't carol's");
    expect("carol", &dave, false, "dave's key for carol");
    expect("erin", &erin, false, "erin has a key but no grant");

    d.roster(&["users", "suspend", "carol"]).run().expect_ok();
    expect("carol", &carol, false, "carol is suspended");
    d.roster(&["users", "revoke", "dave", "write"])
        .run()
        .expect_ok();
    expect("dave", &dave, false, "dave holds only read now");
    // And back: enabling carol lets her key in again.
    d.roster(&["users", "enable", "carol"]).run().expect_ok();
    expect("carol", &carol, true, "carol is enabled again");
}

/// DESIGN.md: bad input "changes nothing". A key file whose second line is
/// bad must not leave its first line added (docs/SSH-FINDINGS.md, F2,
/// fixed: the CLI sends the whole file in one `Keys.AddMany`, which rosterd
/// parses whole and adds in one transaction; the error names the line).
#[test]
fn a_key_file_with_one_bad_line_adds_nothing() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempdir();
    d.create_user("alice", "user", PW);
    let good = ed25519(tmp.path(), "good");
    let rsa = keygen(tmp.path(), "rsa", &["-t", "rsa", "-b", "2048"]);
    for (what, text) in [
        (
            "a bad line",
            format!("{}\nssh-ed25519 !!!! me\n", good.line),
        ),
        (
            "an options line",
            format!("{}\ncommand=\"sh\" {}\n", good.line, rsa.line),
        ),
    ] {
        let path = tmp.path().join("keys");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let out = d
            .roster(&[
                "users",
                "keys",
                "add",
                "alice",
                "--file",
                path.to_str().unwrap_or_default(),
            ])
            .run()
            .expect_code(1);
        assert!(out.stderr.contains("line 2"), "{what}: {}", out.stderr);
        assert_eq!(
            fingerprints(&d, "alice"),
            Vec::<String>::new(),
            "a key file with {what} after a good line added the good line"
        );
    }
    // A good file with comments: every key added, in one call.
    let path = tmp.path().join("keys");
    std::fs::write(
        &path,
        format!("# two keys\n{}\n\n{}\n", good.line, rsa.line),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    d.roster(&[
        "users",
        "keys",
        "add",
        "alice",
        "--file",
        path.to_str().unwrap_or_default(),
    ])
    .run()
    .expect_ok();
    assert_eq!(fingerprints(&d, "alice").len(), 2);
}

/// sshd's AuthorizedKeysCommand trusts the snapshot only as the NSS and
/// PAM modules do: owned by root and writable by nobody else.
#[test]
fn a_snapshot_others_could_have_written_gives_no_keys() {
    use std::os::unix::fs::PermissionsExt;
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempdir();
    let key = ed25519(tmp.path(), "writer");
    d.create_user("writer", "user", PW);
    d.grant("writer", "write", "");
    d.roster(&["users", "keys", "add", "writer", &key.line])
        .run()
        .expect_ok();
    assert_authorized(&d, "writer", &[&key]);
    let snapshot = d.nss_cache_path();
    let chmod = |mode| {
        std::fs::set_permissions(&snapshot, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", snapshot.display()))
    };
    chmod(0o666);
    assert_authorized(&d, "writer", &[]);
    chmod(0o644);
    assert_authorized(&d, "writer", &[&key]);
}
