//! SSH keys through rosterd: who may add, list and remove them, and what
//! sshd's AuthorizedKeysCommand gets.

use roster_tests::{STRANGER_UID, TestBus, TestDaemon};

const PW: &str = "correct horse battery";

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A fresh ed25519 public key line.
fn key_line(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("ssh-keygen (apt-get install openssh-client): {e}"));
    assert!(out.status.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn keys_belong_to_their_user_and_reach_sshd_only_for_who_may_log_in() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let alice = d.create_user("alice", "user", PW);
    let bob = d.create_user("bob", "user", PW);
    let boss = d.create_user("boss", "admin", PW);
    d.grant("alice", "write", "");
    let (k1, k2) = (key_line(tmp.path(), "k1"), key_line(tmp.path(), "k2"));

    // Own keys: yes. Someone else's: only root and role admins.
    let added = d
        .probe("Keys.Add", &[&q("alice"), &q(&k1)])
        .as_uid(alice)
        .run()
        .expect_ok();
    let fingerprint = added.json()["ok"]["fingerprint"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{}", added.stdout);
    let refused = d
        .probe("Keys.Add", &[&q("alice"), &q(&k2)])
        .as_uid(bob)
        .run();
    assert_eq!(refused.probe_error().as_deref(), Some("PermissionDenied"));
    d.probe("Keys.Add", &[&q("bob"), &q(&k2)])
        .as_uid(boss)
        .run()
        .expect_ok();
    let dup = d.probe("Keys.Add", &[&q("alice"), &q(&k1)]).run();
    assert_eq!(dup.probe_error().as_deref(), Some("AlreadyExists"));
    let junk = d
        .probe("Keys.Add", &[&q("alice"), &q("ssh-ed25519 not-base64!")])
        .run();
    assert_eq!(junk.probe_error().as_deref(), Some("InvalidArgument"));

    let listed = d
        .probe("Keys.List", &[&q("alice")])
        .as_uid(alice)
        .run()
        .expect_ok()
        .json();
    assert_eq!(listed["ok"].as_array().map(Vec::len), Some(1));
    assert_ne!(
        d.probe("Keys.List", &[&q("alice")])
            .as_uid(bob)
            .run()
            .probe_error(),
        None
    );

    // sshd's view, asked by anyone: alice may log in here, bob may not.
    let lines = d
        .probe("Keys.AuthorizedKeys", &[&q("alice")])
        .as_uid(STRANGER_UID)
        .run()
        .expect_ok()
        .json();
    assert_eq!(
        lines["ok"][0]
            .as_str()
            .map(|l| l.starts_with("ssh-ed25519 ")),
        Some(true)
    );
    let none = d
        .probe("Keys.AuthorizedKeys", &[&q("bob")])
        .run()
        .expect_ok()
        .json();
    assert_eq!(none["ok"].as_array().map(Vec::len), Some(0));
    let unknown = d
        .probe("Keys.AuthorizedKeys", &[&q("ghost")])
        .run()
        .expect_ok()
        .json();
    assert_eq!(unknown["ok"].as_array().map(Vec::len), Some(0));

    d.probe("Keys.Remove", &[&q("alice"), &q(&fingerprint)])
        .as_uid(alice)
        .run()
        .expect_ok();
    let after = d
        .probe("Keys.AuthorizedKeys", &[&q("alice")])
        .run()
        .expect_ok()
        .json();
    assert_eq!(after["ok"].as_array().map(Vec::len), Some(0));
    assert!(d.audit_log().contains("action=keys.add target=alice"));
    assert!(d.audit_log().contains("action=keys.remove target=alice"));
}
