//! Secrets in fleet mode, with real parts (a private PostgreSQL, a real
//! `roster-controller`, two Roster hosts each with their own dbus-daemon
//! and rosterd): every `roster secrets` call on an enrolled host goes to
//! the controller with the person's credential, the controller runs
//! core's rules with its own key file, and the hosts keep nothing of a
//! value (not in their databases, not in their logs). Each success beside
//! its failures: no credential, a stranger, a read-only token, the
//! controller down, the controller's key file missing.

mod fleet_common;
mod pam_common;

use fleet_common::{Fleet, PASSWORD};
use pam_common::World;
use roster_core::Actor;
use roster_core::level::Level;
use roster_core::secrets::SecretFilter;
use roster_tests::TestConfig;

const FIRST: &str = "first-plaintext-Qx7Kp2";
const SECOND: &str = "second-plaintext-Zr9Wm4";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@laptop";

fn host() -> World {
    World::start_with(TestConfig::new().fleet_host())
}

/// `roster …` run by root with a runtime folder of its own (where
/// `roster login` keeps the person's session).
struct Person<'a> {
    world: &'a World,
    runtime: tempfile::TempDir,
}

impl<'a> Person<'a> {
    fn on(world: &'a World) -> Person<'a> {
        Person {
            world,
            runtime: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str], stdin: &str) -> roster_tests::Run {
        self.world
            .daemon
            .roster(args)
            .env("XDG_RUNTIME_DIR", self.runtime.path().to_str().unwrap())
            .stdin(stdin)
            .run()
    }

    fn login(&self, user: &str) {
        self.run(
            &["login", user, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .expect_ok();
    }

    fn get(&self, extra: &[&str]) -> String {
        let mut args = vec!["secrets", "get", "alice/db", "password"];
        args.extend_from_slice(extra);
        self.run(&args, "").expect_ok().stdout
    }
}

fn refused(run: &roster_tests::Run, says: &str) {
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains(says), "expected {says:?} in {run:?}");
}

/// Standard base64 of `text`, as the fleet API carries values.
fn base64(text: &str) -> String {
    roster_fleet_agent::protocol::secrets::encode_base64(text.as_bytes())
}

/// Every file of the host's state folder (the database, its WAL, the
/// snapshot, the enrollment) and its logs: none holds a value.
fn assert_nothing_kept(world: &World, what: &str) {
    let mut files = vec![world.daemon.stderr_path(), world.daemon.audit_log_path()];
    let state = world.daemon.database_path().parent().unwrap().to_path_buf();
    for entry in walk(&state) {
        files.push(entry);
    }
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for plain in [FIRST, SECOND] {
            for form in [plain.to_string(), base64(plain)] {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{what}: {form:?} found in {}",
                    file.display()
                );
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            out.extend(walk(&path));
        } else if kind.is_file() {
            out.push(path);
        }
    }
    out
}

fn pg_text(fleet: &Fleet, sql: &str) -> String {
    let mut client = roster_store_postgres::test_server::connect(&fleet.conninfo);
    client
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn secrets_live_at_the_controller_and_hosts_keep_none() {
    let Some(mut fleet) = Fleet::start("fleet_secrets") else {
        return;
    };
    fleet.create_users(&["alice", "bob", "carol"], "prod", Level::Write);
    let a = host();
    let b = host();
    fleet_common::join_host(&a.daemon, &fleet, &fleet.join_token("prod"), "host-a").expect_ok();
    fleet_common::join_host(&b.daemon, &fleet, &fleet.join_token("prod"), "host-b").expect_ok();
    let alice = Person::on(&a);
    let bob = Person::on(&b);
    let carol = Person::on(&b);

    // No credential: refused on the host, nothing sent.
    refused(
        &alice.run(&["secrets", "add", "db", "password=-"], FIRST),
        "roster login",
    );
    refused(&alice.run(&["secrets", "list"], ""), "roster login");

    // alice adds on host A; it lives at the controller.
    alice.login("alice");
    let added = alice
        .run(&["secrets", "add", "db", "password=-"], FIRST)
        .expect_ok();
    assert!(added.stdout.contains("db"), "{added:?}");
    let at_controller = fleet
        .roster()
        .list_secrets(&Actor::Root, &SecretFilter::All)
        .unwrap();
    assert_eq!(at_controller.len(), 1);
    assert_eq!(at_controller[0].owner.name(), "alice");
    alice
        .run(&["secrets", "grant", "db", "bob"], "")
        .expect_ok();

    // bob reads it on host B with his own session: his first read pins
    // revision 1; a new revision doesn't move him until he refreshes.
    bob.login("bob");
    assert_eq!(bob.get(&[]), FIRST);
    let updated = alice
        .run(&["secrets", "update", "db", "password=-"], SECOND)
        .expect_ok();
    assert!(updated.stdout.contains("revision 2"), "{updated:?}");
    let same = alice
        .run(&["secrets", "update", "db", "password=-"], SECOND)
        .expect_ok();
    assert!(same.stdout.contains("identical"), "{same:?}");
    assert_eq!(bob.get(&[]), FIRST);
    assert_eq!(bob.get(&["--peek"]), SECOND);
    assert_eq!(bob.get(&[]), FIRST);
    assert_eq!(bob.get(&["--refresh"]), SECOND);
    assert_eq!(bob.get(&[]), SECOND);
    let shown = bob
        .run(&["secrets", "show", "alice/db", "--json"], "")
        .expect_ok()
        .json();
    assert_eq!(shown["tracking"], 2, "{shown}");
    assert_eq!(shown["manages"], false, "{shown}");
    let listed = bob.run(&["secrets", "list", "--json"], "").expect_ok();
    assert!(listed.stdout.contains("alice"), "{listed:?}");

    // A viewer changes nothing.
    refused(
        &bob.run(&["secrets", "update", "alice/db", "password=-"], "x-y-z"),
        "",
    );

    // carol: not-found, never permission-denied.
    carol.login("carol");
    refused(
        &carol.run(&["secrets", "get", "alice/db", "password"], ""),
        "not found",
    );
    let hers = carol.run(&["secrets", "list", "--json"], "").expect_ok();
    assert!(!hers.stdout.contains("alice"), "{hers:?}");

    // A read-only token reads (and pins) but changes nothing.
    let token = alice
        .run(
            &["tokens", "create", "--name", "ro", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )
        .expect_ok()
        .stdout
        .trim()
        .to_string();
    let with_token = |args: &[&str], stdin: &str| {
        a.daemon
            .roster(args)
            .env("ROSTER_TOKEN", &token)
            .stdin(stdin)
            .run()
    };
    let read = with_token(&["secrets", "get", "db", "password"], "").expect_ok();
    assert_eq!(read.stdout, SECOND);
    refused(
        &with_token(&["secrets", "update", "db", "password=-"], "a-b-c"),
        "",
    );
    refused(&with_token(&["secrets", "grant", "db", "carol"], ""), "");

    // Every reveal is an audit row at the controller: who, host,
    // secret, revision; never content.
    let audit = pg_text(
        &fleet,
        "SELECT person || ' ' || host || ' ' || action || ' ' || target || ' ' || detail FROM audit",
    );
    assert!(
        audit
            .lines()
            .any(|l| l.starts_with("bob host-b secret_get secret:") && l.contains("revision 1")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|l| l.starts_with("alice host-a secret_add")),
        "{audit}"
    );

    // No plaintext kept anywhere but sealed at the controller: not in
    // either host's files or logs, not in the controller's request ids
    // or audit, not in its secret tables.
    assert_nothing_kept(&a, "host-a");
    assert_nothing_kept(&b, "host-b");
    let kept = pg_text(
        &fleet,
        "SELECT coalesce(answer, '') FROM request_ids UNION ALL SELECT detail FROM audit",
    );
    for plain in [FIRST, SECOND] {
        assert!(
            !kept.contains(plain) && !kept.contains(&base64(plain)),
            "{kept}"
        );
    }
    let sealed = pg_text(
        &fleet,
        "SELECT encode(ciphertext, 'escape') FROM secret_values",
    );
    assert!(!sealed.contains(FIRST) && !sealed.contains(SECOND));

    // Watch and rekey are not a host's in fleet mode, and say where.
    refused(&alice.run(&["secrets", "watch"], ""), "poll");
    refused(
        &alice.run(&["secrets", "rekey"], ""),
        "roster-controller secrets rekey",
    );

    // The controller re-keys its own file; readers go on reading.
    let rekey = fleet.command(&["secrets", "rekey"]);
    assert!(
        rekey.status.success(),
        "{}",
        fleet_common::text(&rekey.stderr)
    );
    assert!(fleet_common::text(&rekey.stdout).contains("Re-sealed 2 value(s)"));
    assert_eq!(bob.get(&[]), SECOND);

    // The controller down: nothing sent, nothing changed.
    fleet.kill();
    refused(
        &alice.run(&["secrets", "update", "db", "password=-"], "n-e-w"),
        "controller unreachable: nothing changed",
    );
    refused(
        &bob.run(&["secrets", "get", "alice/db", "password"], ""),
        "controller unreachable",
    );
    fleet.serve();
    let db = fleet
        .roster()
        .list_secrets(&Actor::Root, &SecretFilter::All)
        .unwrap();
    assert_eq!(db[0].latest, 2);

    // The controller's key file missing: secret calls refused naming
    // it, every other op goes on; put back, secrets work again at the
    // next call (no restart).
    let key_file = fleet.dir.path().join("ca").join("secrets.key");
    let aside = fleet.dir.path().join("secrets.key.aside");
    std::fs::rename(&key_file, &aside).unwrap();
    let missing = bob.run(&["secrets", "get", "alice/db", "password"], "");
    refused(&missing, &key_file.display().to_string());
    refused(
        &alice.run(&["secrets", "add", "other", "password=-"], "o-t-h"),
        "secrets.key",
    );
    refused(&alice.run(&["secrets", "list"], ""), "secrets.key");
    assert!(!key_file.exists(), "no new key is made while secrets exist");
    let admin = Person::on(&a);
    admin.login("root-admin");
    admin
        .run(&["users", "keys", "add", "carol", KEY], "")
        .expect_ok();
    assert_eq!(
        fleet
            .roster()
            .list_keys(&Actor::Root, "carol")
            .unwrap()
            .len(),
        1
    );
    // A wrong key file (a valid key, not the one that sealed them): the
    // same refusal, naming it; the stored secrets are untouched.
    let wrong = roster_core::secrets::crypto::Keyring::new(
        vec![roster_core::secrets::crypto::SecretKey::generate().unwrap()],
        &key_file,
    )
    .unwrap();
    roster_core::secrets::crypto::write_key_file(&wrong, true).unwrap();
    refused(
        &bob.run(&["secrets", "get", "alice/db", "password"], ""),
        "wrong file",
    );
    refused(
        &alice.run(&["secrets", "update", "db", "password=-"], "w-r-o"),
        &key_file.display().to_string(),
    );
    admin
        .run(&["environments", "add", "staging"], "")
        .expect_ok();
    std::fs::rename(&aside, &key_file).unwrap();
    assert_eq!(bob.get(&[]), SECOND);
    assert_eq!(
        fleet
            .roster()
            .list_secrets(&Actor::Root, &SecretFilter::All)
            .unwrap()[0]
            .latest,
        2
    );
}
