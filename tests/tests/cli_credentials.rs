//! The CLI's credential commands end to end: `roster register`, `roster
//! tokens …` with `--token-file`/`ROSTER_TOKEN`, `roster users keys …` and
//! `roster ssh-authorized-keys`.

mod cli_common;

use cli_common::{Host, assert_fails};
use roster_tests::STRANGER_UID;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The registration code `users create --register` / `password --reset`
/// printed (the indented line).
fn code_in(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("    ") && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| panic!("no code in\n{stdout}"))
}

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

#[test]
fn register_from_another_uid_activates_the_user() {
    let host = Host::start();
    let code = code_in(
        &host
            .root(&["users", "create", "newbie", "--register"])
            .expect_ok()
            .stdout,
    );
    let out = host
        .daemon
        .roster(&["register", "--stdin"])
        .as_uid(STRANGER_UID)
        .stdin(&format!("{code}\nChosen-Pass-1x\n"))
        .run()
        .expect_ok();
    assert!(out.stdout.contains("Welcome, newbie"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(&code) && !out.stderr.contains(&code),
        "the code is never echoed"
    );
    assert_eq!(host.show("newbie")["state"], "active");
    assert_eq!(auth_outcome(&host, "newbie", "Chosen-Pass-1x"), "success");
    // Never in a log line: the audit file (what syslog gets) and rosterd's stderr.
    let logs = format!("{}{}", host.daemon.audit_log(), host.daemon.stderr_log());
    assert!(logs.contains("newbie"), "the register is audited: {logs}");
    assert!(!logs.contains(&code), "the code reached a log: {logs}");
    assert!(
        !logs.contains("Chosen-Pass-1x"),
        "the password reached a log"
    );
    // Never on argv (world-readable in /proc): there is no way to pass it.
    let on_argv = host.daemon.roster(&["register", &code]).run();
    assert_eq!(on_argv.code, Some(2), "{}", on_argv.stderr);

    // Single use.
    let again = host
        .daemon
        .roster(&["register", "--stdin"])
        .as_uid(STRANGER_UID)
        .stdin(&format!("{code}\nAnother-Pass-2x\n"))
        .run();
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(again.stderr.starts_with("roster: "), "{}", again.stderr);
    assert_eq!(auth_outcome(&host, "newbie", "Chosen-Pass-1x"), "success");
}

#[test]
fn a_reset_voids_the_old_code() {
    let host = Host::start();
    let old = code_in(
        &host
            .root(&["users", "create", "otto", "--register"])
            .expect_ok()
            .stdout,
    );
    let new = code_in(
        &host
            .root(&["users", "password", "otto", "--reset"])
            .expect_ok()
            .stdout,
    );
    assert_ne!(old, new);
    let out = host
        .daemon
        .roster(&["register", "--stdin"])
        .stdin(&format!("{old}\nChosen-Pass-1y\n"))
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    host.daemon
        .roster(&["register", "--stdin"])
        .stdin(&format!("  {new}  \nChosen-Pass-1y\n"))
        .run()
        .expect_ok();
}

#[test]
fn register_failures_are_sentences() {
    let host = Host::start();
    host.root(&["users", "create", "pat", "--register"])
        .expect_ok();
    for input in [
        "garbage\nChosen-Pass-1z\n",
        "\nChosen-Pass-1z\n",
        "only-a-code\n",
        "",
    ] {
        let out = host
            .daemon
            .roster(&["register", "--stdin"])
            .stdin(input)
            .run();
        assert_eq!(out.code, Some(1), "{input:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("roster: "),
            "{input:?}: {}",
            out.stderr
        );
    }
    assert_eq!(host.show("pat")["state"], "pending");
    // Without --stdin and without a terminal: an error naming --stdin.
    assert_fails(&host.root(&["register"]), 2, "--stdin");
}

/// Runs `roster tokens create ARGS` as `uid`: the token (stdout) and the
/// description (stderr).
fn create_token(host: &Host, uid: u32, args: &[&str]) -> (String, String) {
    let mut all = vec!["tokens", "create"];
    all.extend_from_slice(args);
    let out = host.as_uid(uid, &all).expect_ok();
    let token = out.stdout.trim().to_owned();
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "stdout is the token alone: {}",
        out.stdout
    );
    (token, out.stderr)
}

fn write_token(host: &Host, name: &str, token: &str) -> PathBuf {
    let path = host.daemon.dir().join(name);
    std::fs::write(&path, format!("{token}\n")).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn tokens_are_shown_once_and_act_as_their_user() {
    let host = Host::start();
    let uid = host.user("tia");
    host.grant("tia", "read", None);
    let (token, said) = create_token(&host, uid, &["--name", "monitoring"]);
    assert!(
        said.contains("read-only") && said.contains("once"),
        "{said}"
    );

    // Listing never shows the secret.
    for args in [&["tokens", "list"][..], &["tokens", "list", "--json"]] {
        let out = host.as_uid(uid, args).expect_ok();
        assert!(out.stdout.contains("monitoring"), "{}", out.stdout);
        assert!(
            !out.stdout.contains(&token),
            "the secret leaked into {args:?}"
        );
    }
    let listed = host
        .as_uid(uid, &["tokens", "list", "--json"])
        .expect_ok()
        .json();
    let id = listed[0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(listed[0]["scope"], "read-only");

    // A stranger's uid with the token acts as tia, by env or by file.
    let me = host
        .daemon
        .roster(&["whoami", "--json"])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &token)
        .run()
        .expect_ok()
        .json();
    assert_eq!(me["user"], "tia");
    assert_eq!(me["token_scope"], "read-only");
    let file = write_token(&host, "tia.token", &token);
    let me = host
        .as_uid(
            0,
            &[
                "--token-file",
                file.to_str().unwrap_or_default(),
                "whoami",
                "--json",
            ],
        )
        .expect_ok()
        .json();
    assert_eq!(
        me["user"], "tia",
        "root with a token acts as the token's user"
    );

    // Rename, then delete: the token stops working.
    host.as_uid(uid, &["tokens", "rename", &id, "nagios"])
        .expect_ok();
    let listed = host
        .as_uid(uid, &["tokens", "list", "--json"])
        .expect_ok()
        .json();
    assert_eq!(listed[0]["name"], "nagios");
    host.as_uid(uid, &["tokens", "delete", &id]).expect_ok();
    let out = host
        .daemon
        .roster(&["whoami"])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &token)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with("roster: "), "{}", out.stderr);
}

#[test]
fn a_read_only_token_is_refused_on_changes_and_a_full_one_allowed() {
    let host = Host::start();
    let ada = host.user_with("ada", &["--set-role", "admin"]);
    let (read_only, _) = create_token(&host, ada, &[]);
    let (full, said) = create_token(&host, ada, &["--scope", "full", "--expires", "1h"]);
    assert!(
        said.contains("scope full") && said.contains("expires in"),
        "{said}"
    );

    let ro = write_token(&host, "ro.token", &read_only);
    let ro = ro.to_str().unwrap_or_default();
    let listed = host
        .as_uid(
            STRANGER_UID,
            &["--token-file", ro, "users", "list", "--json"],
        )
        .expect_ok();
    assert!(listed.json().is_array());
    for args in [
        &["users", "create", "viaro", "--register"][..],
        &["environments", "add", "viaro"],
        &["users", "suspend", "ada"],
    ] {
        let mut all = vec!["--token-file", ro];
        all.extend_from_slice(args);
        let out = host.as_uid(STRANGER_UID, &all);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("--scope full") || out.stderr.contains("read-only"),
            "{}",
            out.stderr
        );
    }
    let full_file = write_token(&host, "full.token", &full);
    host.as_uid(
        STRANGER_UID,
        &[
            "--token-file",
            full_file.to_str().unwrap_or_default(),
            "users",
            "create",
            "viafull",
            "--register",
        ],
    )
    .expect_ok();
    assert_eq!(host.show("viafull")["state"], "pending");
}

#[test]
fn tokens_die_with_a_password_change_and_garbage_is_refused() {
    let host = Host::start();
    let uid = host.user("uli");
    let (token, _) = create_token(&host, uid, &[]);
    host.daemon
        .roster(&["users", "password", "uli", "--password-stdin"])
        .stdin("Rotated-Pass-5x\n")
        .run()
        .expect_ok();
    let out = host
        .daemon
        .roster(&["whoami"])
        .as_uid(STRANGER_UID)
        .env("ROSTER_TOKEN", &token)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);

    let truncated = &token[..token.len() / 2];
    let long = "x".repeat(10_000);
    for bad in ["garbage", truncated, "rt_", long.as_str()] {
        let out = host
            .daemon
            .roster(&["whoami"])
            .as_uid(STRANGER_UID)
            .env("ROSTER_TOKEN", bad)
            .run();
        assert_eq!(out.code, Some(1), "{bad:.20}: {}", out.stderr);
        assert!(out.stderr.starts_with("roster: "), "{}", out.stderr);
        assert!(
            !out.stderr.contains(bad) || bad.len() < 12,
            "the token isn't echoed back"
        );
    }
    let missing = host.root(&["--token-file", "/nonexistent/token", "whoami"]);
    assert_fails(&missing, 1, "can't read the token file");
    let out = host.root(&["tokens", "create", "--expires", "soon"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = host.root(&["tokens", "create", "--scope", "admin"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn a_token_past_its_expiry_is_refused() {
    let host = Host::start();
    let uid = host.user("eve");
    let (token, said) = create_token(&host, uid, &["--expires", "2s"]);
    assert!(said.contains("expires in"), "{said}");
    let whoami = || {
        host.daemon
            .roster(&["whoami", "--json"])
            .as_uid(STRANGER_UID)
            .env("ROSTER_TOKEN", &token)
            .run()
    };
    assert_eq!(whoami().expect_ok().json()["user"], "eve");
    // Expiry is kept in whole seconds: 3 s is past it whatever the rounding.
    std::thread::sleep(Duration::from_secs(3));
    let out = whoami();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    // Its owner still sees it, marked expired, until it is deleted.
    let listed = host.as_uid(uid, &["tokens", "list"]).expect_ok().stdout;
    assert!(listed.contains("expired"), "{listed}");
}

/// A fresh ed25519 key pair in `dir`: (public key line, path of the .pub).
fn keygen(dir: &Path, name: &str) -> (String, PathBuf) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            &format!("{name}@test"),
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap_or_else(|e| panic!("ssh-keygen (apt-get install openssh-client): {e}"));
    assert!(status.success());
    let public = key.with_extension("pub");
    let line = std::fs::read_to_string(&public).unwrap_or_else(|e| panic!("{e}"));
    (line.trim().to_owned(), public)
}

fn fingerprint(public: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn keys_add_list_remove_with_ssh_keygen_fingerprints() {
    let host = Host::start();
    let uid = host.user("kai");
    let (line, public) = keygen(host.daemon.dir(), "kai");
    let fp = fingerprint(&public);

    // As a file, by the user themselves.
    let out = host
        .as_uid(
            uid,
            &[
                "users",
                "keys",
                "add",
                "kai",
                "--file",
                public.to_str().unwrap_or_default(),
            ],
        )
        .expect_ok();
    assert!(out.stdout.contains(&fp), "{}", out.stdout);
    let listed = host
        .root(&["users", "keys", "list", "kai", "--json"])
        .expect_ok()
        .json();
    assert_eq!(listed[0]["fingerprint"], fp);
    assert_eq!(listed[0]["key_type"], "ssh-ed25519");
    assert_eq!(listed[0]["bits"], 256);
    let table = host
        .as_uid(uid, &["users", "keys", "list", "kai"])
        .expect_ok()
        .stdout;
    assert!(table.contains(&fp) && table.contains("kai@test"), "{table}");

    // As words, by root.
    let (line2, public2) = keygen(host.daemon.dir(), "kai2");
    let words: Vec<&str> = line2.split(' ').collect();
    let mut args = vec!["users", "keys", "add", "kai"];
    args.extend_from_slice(&words);
    host.root(&args).expect_ok();
    assert_eq!(
        host.root(&["users", "keys", "list", "kai", "--json"])
            .expect_ok()
            .json()
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    host.as_uid(uid, &["users", "keys", "remove", "kai", &fp])
        .expect_ok();
    let listed = host
        .root(&["users", "keys", "list", "kai", "--json"])
        .expect_ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["fingerprint"], fingerprint(&public2));
    assert!(!line.is_empty());
}

#[test]
fn malformed_keys_and_strangers_are_refused() {
    let host = Host::start();
    let uid = host.user("lea");
    let other = host.user("max");
    let (line, _) = keygen(host.daemon.dir(), "lea");
    let (kind, body) = line.split_once(' ').unwrap_or_default();
    let truncated = format!("{kind} {}", &body[..body.len() / 2]);
    for bad in [
        "not a key".to_owned(),
        format!("ssh-foo {body}"),
        truncated,
        format!("command=\"sh\" {line}"),
        format!("{kind} !!!notbase64!!!"),
    ] {
        let out = host.root(&["users", "keys", "add", "lea", &bad]);
        assert_eq!(out.code, Some(1), "{bad:.40}: {}", out.stderr);
        assert!(out.stderr.starts_with("roster: "), "{}", out.stderr);
    }
    let big = host.daemon.dir().join("big.pub");
    std::fs::write(&big, format!("{kind} {}\n", "A".repeat(1024 * 1024)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        host.root(&[
            "users",
            "keys",
            "add",
            "lea",
            "--file",
            big.to_str().unwrap_or_default()
        ])
        .code,
        Some(1)
    );
    // max may not touch lea's keys.
    let out = host.as_uid(other, &["users", "keys", "add", "lea", &line]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        host.as_uid(other, &["users", "keys", "list", "lea"]).code,
        Some(1)
    );
    assert_fails(
        &host.root(&["users", "keys", "add", "ghost", &line]),
        1,
        "not found",
    );
    assert_eq!(
        host.as_uid(uid, &["users", "keys", "list", "lea", "--json"])
            .expect_ok()
            .json(),
        serde_json::json!([])
    );
}

#[test]
fn ssh_authorized_keys_prints_only_for_users_allowed_here() {
    let mut host = Host::start();
    let (line, public) = keygen(host.daemon.dir(), "sid");
    let cache = host.daemon.nss_cache_path();
    let cache = cache.to_str().unwrap_or_default().to_owned();
    let authorized = |host: &Host, name: &str| {
        host.as_uid(
            STRANGER_UID,
            &["ssh-authorized-keys", name, "--snapshot", &cache],
        )
        .expect_ok()
    };
    host.user("sid");
    host.root(&[
        "users",
        "keys",
        "add",
        "sid",
        "--file",
        public.to_str().unwrap_or_default(),
    ])
    .expect_ok();

    // No grant: nothing.
    assert_eq!(authorized(&host, "sid").stdout, "");
    // write (the login level): the key.
    host.grant("sid", "write", None);
    assert_eq!(authorized(&host, "sid").stdout.trim(), line);
    // Suspended: nothing. Unknown: nothing. Pending: nothing.
    host.root(&["users", "suspend", "sid"]).expect_ok();
    assert_eq!(authorized(&host, "sid").stdout, "");
    host.root(&["users", "enable", "sid"]).expect_ok();
    assert_eq!(authorized(&host, "ghost").stdout, "");
    host.root(&["users", "create", "pend", "--register"])
        .expect_ok();
    host.grant("pend", "write", None);
    assert_eq!(authorized(&host, "pend").stdout, "");

    // rosterd down: nothing, exit 0, quickly.
    host.daemon.stop();
    let out = authorized(&host, "sid");
    assert_eq!(out.stdout, "");
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    // A name the snapshot doesn't list never waits on rosterd.
    let out = authorized(&host, "localuser");
    assert!(
        out.stderr.is_empty(),
        "rosterd was not asked: {}",
        out.stderr
    );
}
