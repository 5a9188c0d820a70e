//! Acting on the fleet from an enrolled host, with real parts (a private
//! PostgreSQL, a real `roster-controller`, Roster hosts each with their
//! own dbus-daemon and rosterd, PAM through the driver): every change the
//! CLI makes there goes to the controller with the person's credential
//! (keys, tokens, environments, `roster register`, a registration code at
//! a login, root's `passwd USER` where the environment makes root an
//! admin of it), the fleet's admin commands and `users sessions --fleet`
//! go through the local rosterd, and reads say how old the cache is.
//! Each success beside its failures: no credential, the wrong one, the
//! controller down (nothing changed).

mod fleet_common;
mod pam_common;

use fleet_common::{Fleet, PASSWORD, text};
use pam_common::{PAM_AUTHINFO_UNAVAIL, PAM_NEW_AUTHTOK_REQD, PAM_SUCCESS, World};
use roster_core::Actor;
use roster_core::level::Level;
use roster_core::model::NewUser;
use roster_core::roster::InitialCredential;
use roster_tests::TestConfig;
use std::time::Duration;

const ARRIVES_WITHIN: Duration = Duration::from_secs(30);
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@laptop";

fn host() -> World {
    World::start_with(TestConfig::new().fleet_host())
}

fn join(world: &World, fleet: &Fleet, token: &str, name: &str) {
    fleet_common::join_host(&world.daemon, fleet, token, name).expect_ok();
}

fn eventually(what: &str, check: impl FnMut() -> bool) {
    fleet_common::eventually(what, ARRIVES_WITHIN, check);
}

/// `roster …` run by root with `runtime` as its runtime folder (where
/// `roster login` keeps the session).
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
}

fn refused(run: &roster_tests::Run, says: &str) {
    assert!(!run.success(), "{run:?}");
    assert!(run.stderr.contains(says), "expected {says:?} in {run:?}");
}

/// On an enrolled host `roster users import` is refused by rosterd (core's
/// rule: adoption there is `roster hosts join --adopt`) before the CLI backs
/// up or edits any account file.
fn import_is_refused_before_any_file_is_touched(world: &World) {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let files = [
        (
            "passwd",
            "root:x:0:0:root:/root:/bin/bash\nzed:x:1500:1500:Zed:/home/zed:/bin/bash\n",
        ),
        (
            "shadow",
            "root:*:19000:0:99999:7:::\nzed:$6$salt$hash:19000:0:99999:7:::\n",
        ),
        ("group", "root:x:0:\nzed:x:1500:\n"),
        ("login.defs", "UID_MIN 1000\nUID_MAX 60000\n"),
    ];
    for (name, text) in files {
        std::fs::write(etc.join(name), text).unwrap();
    }
    let run = world
        .daemon
        .roster(&[
            "users",
            "import",
            "--root",
            root.path().to_str().unwrap(),
            "--users",
            "zed",
            "--level",
            "read",
        ])
        .run();
    refused(&run, "roster hosts join --adopt");
    for (name, text) in files {
        assert_eq!(
            std::fs::read_to_string(etc.join(name)).unwrap(),
            text,
            "{name}"
        );
    }
    assert!(
        !root.path().join("var/backups").exists(),
        "a backup was taken before the refusal"
    );
}

/// A `roster login` session is voided like a token: after a password
/// reset at the controller the next command says so (and goes on as the
/// uid).
fn a_session_is_voided_by_a_password_reset(world: &World, fleet: &Fleet) {
    let carol = Person::on(world);
    carol.login("carol");
    let before = carol.run(&["whoami"], "").expect_ok();
    assert!(!before.stderr.contains("no longer accepted"), "{before:?}");
    fleet
        .roster()
        .reset_password(&Actor::Root, "carol")
        .unwrap();
    let after = carol.run(&["whoami"], "");
    assert!(
        after
            .stderr
            .contains("your `roster login` session is no longer accepted"),
        "{after:?}"
    );
}

fn keys_at_controller(fleet: &Fleet, user: &str) -> usize {
    fleet.roster().list_keys(&Actor::Root, user).unwrap().len()
}

fn environments_at_controller(fleet: &Fleet) -> Vec<String> {
    fleet
        .roster()
        .list_environments(&Actor::Root)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[test]
fn keys_tokens_environments_and_register_go_to_the_controller() {
    let Some(mut fleet) = Fleet::start("fleet_ops_changes") else {
        return;
    };
    fleet.create_user("carol", "prod", Level::Write);
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a");
    let admin = Person::on(&a);

    // No credential: refused on the host, nothing sent.
    refused(
        &admin.run(&["users", "keys", "add", "carol", KEY], ""),
        "roster login",
    );
    import_is_refused_before_any_file_is_touched(&a);
    refused(
        &admin.run(&["environments", "add", "staging"], ""),
        "roster login",
    );
    assert_eq!(keys_at_controller(&fleet, "carol"), 0);

    admin.login("root-admin");

    // SSH keys: made at the controller, back through the feed.
    admin
        .run(&["users", "keys", "add", "carol", KEY], "")
        .expect_ok();
    assert_eq!(keys_at_controller(&fleet, "carol"), 1);
    eventually("carol's key on host-a", || {
        a.daemon
            .roster(&["users", "keys", "list", "carol", "--json"])
            .run()
            .json()
            .as_array()
            .is_some_and(|keys| keys.len() == 1)
    });
    let fingerprint = fleet.roster().list_keys(&Actor::Root, "carol").unwrap()[0]
        .fingerprint
        .clone();
    refused(
        &admin.run(&["users", "keys", "remove", "carol", "SHA256:nope"], ""),
        "",
    );
    admin
        .run(&["users", "keys", "remove", "carol", &fingerprint], "")
        .expect_ok();
    assert_eq!(keys_at_controller(&fleet, "carol"), 0);

    // Environments.
    admin
        .run(&["environments", "add", "staging"], "")
        .expect_ok();
    assert!(environments_at_controller(&fleet).contains(&"staging".to_string()));
    refused(&admin.run(&["environments", "add", "staging"], ""), "");
    admin
        .run(&["environments", "remove", "staging"], "")
        .expect_ok();
    assert!(!environments_at_controller(&fleet).contains(&"staging".to_string()));

    // Tokens: a session makes no lasting credential; the password does.
    refused(
        &admin.run(&["tokens", "create", "--name", "ci"], ""),
        "password",
    );
    refused(
        &admin.run(
            &["tokens", "create", "--name", "ci", "--password-stdin"],
            "not the password\n",
        ),
        "",
    );
    assert!(
        fleet
            .roster()
            .list_tokens(&Actor::Root, Some("root-admin"))
            .unwrap()
            .iter()
            .all(|t| t.name != "ci")
    );
    let created = admin
        .run(
            &[
                "tokens",
                "create",
                "--name",
                "ci",
                "--scope",
                "full",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .expect_ok();
    let secret = created.stdout.trim().to_string();
    let id = secret.split('-').next().unwrap().to_string();
    let token = |name: &str| {
        fleet
            .roster()
            .list_tokens(&Actor::Root, Some("root-admin"))
            .unwrap()
            .into_iter()
            .find(|t| t.name == name)
    };
    assert_eq!(token("ci").map(|t| t.id), Some(id.clone()));
    // The new token acts from the host, as its user.
    let with_token = a
        .daemon
        .roster(&["users", "keys", "add", "carol", KEY])
        .env("ROSTER_TOKEN", &secret)
        .run()
        .expect_ok();
    assert!(with_token.stdout.contains("Added"), "{with_token:?}");
    // Tokens live at the controller only: the list is read there.
    let listed = admin.run(&["tokens", "list", "--json"], "").expect_ok();
    assert!(
        listed.stdout.contains(&format!("\"{id}\"")) && listed.stdout.contains("\"ci\""),
        "{listed:?}"
    );
    admin
        .run(&["tokens", "rename", &id, "ci-renamed"], "")
        .expect_ok();
    assert!(token("ci-renamed").is_some());
    admin.run(&["tokens", "delete", &id], "").expect_ok();
    assert!(token("ci-renamed").is_none());
    let gone = a
        .daemon
        .roster(&["users", "list"])
        .env("ROSTER_TOKEN", &secret)
        .run();
    assert!(!gone.success(), "{gone:?}");

    a_session_is_voided_by_a_password_reset(&a, &fleet);

    // `roster register`: the code is the credential, the answer names
    // the account.
    let (_, code) = fleet
        .roster()
        .create_user(
            &Actor::Root,
            NewUser {
                name: "pete".into(),
                display_name: None,
                role: None,
                home: None,
                shell: None,
            },
            InitialCredential::Register,
        )
        .unwrap();
    let code = code.unwrap().code.expose().to_string();
    let anyone = Person::on(&a);
    refused(
        &anyone.run(&["register", "--stdin"], "not-a-code\nhis new password\n"),
        "",
    );
    let welcome = anyone
        .run(
            &["register", "--stdin"],
            &format!("{code}\nhis new password\n"),
        )
        .expect_ok();
    assert!(welcome.stdout.contains("Welcome, pete"), "{welcome:?}");
    let pete = fleet.roster().user_by_name("pete").unwrap().unwrap();
    assert_eq!(pete.state.as_str(), "active");

    // The controller down: nothing sent, nothing changed.
    fleet.kill();
    refused(
        &admin.run(&["users", "keys", "add", "carol", KEY], ""),
        "controller unreachable: nothing changed",
    );
    refused(
        &admin.run(&["environments", "add", "qa"], ""),
        "controller unreachable: nothing changed",
    );
    fleet.serve();
    assert!(!environments_at_controller(&fleet).contains(&"qa".to_string()));
}

#[test]
fn a_registration_code_at_a_login_is_checked_online() {
    let Some(mut fleet) = Fleet::start("fleet_ops_code_login") else {
        return;
    };
    let (_, code) = fleet
        .roster()
        .create_user(
            &Actor::Root,
            NewUser {
                name: "rita".into(),
                display_name: None,
                role: None,
                home: None,
                shell: None,
            },
            InitialCredential::Register,
        )
        .unwrap();
    let code = code.unwrap().code.expose().to_string();
    fleet
        .roster()
        .grant(&Actor::Root, "rita", Some("prod"), Level::Write)
        .unwrap();
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a");
    eventually("rita pending on host-a", || a.state("rita") == "pending");

    // A wrong code: refused (and counted at the controller).
    let wrong = a
        .pam("rita")
        .steps(&["auth"])
        .answers(&["rt_wrong-code"])
        .run();
    assert_ne!(wrong.code("auth"), PAM_SUCCESS, "{wrong:?}");

    // Offline: said, never taken for a wrong code.
    fleet.kill();
    // The module's own code (the packaged stack turns it into pam_deny's).
    a.roster_only("roster-only", &a.module_args());
    let offline = a
        .pam("rita")
        .service("roster-only")
        .steps(&["auth"])
        .answers(&[&code])
        .run();
    assert_eq!(offline.code("auth"), PAM_AUTHINFO_UNAVAIL, "{offline:?}");
    eventually("the unreachable controller in the audit line", || {
        a.daemon
            .audit_log()
            .lines()
            .any(|l| l.contains("online=code") && l.contains("result=unavailable"))
    });
    fleet.serve();

    // login/sshd's one-handle flow: the code, then a new password.
    const NEW: &str = "a passphrase of her own";
    let out = a
        .pam("rita")
        .steps(&["auth", "acct", "chauthtok-expired"])
        .answers(&[&code, NEW, NEW])
        .run();
    assert_eq!(
        out.codes(),
        vec![PAM_SUCCESS, PAM_NEW_AUTHTOK_REQD, PAM_SUCCESS],
        "{out:?}"
    );
    let rita = fleet.roster().user_by_name("rita").unwrap().unwrap();
    assert_eq!(rita.state.as_str(), "active");
    eventually("rita's password on host-a", || {
        let out = a.pam("rita").steps(&["auth", "acct"]).answers(&[NEW]).run();
        out.codes() == vec![PAM_SUCCESS; 2]
    });
    // The code is spent.
    let reuse = a.pam("rita").steps(&["auth"]).answers(&[&code]).run();
    assert_ne!(reuse.code("auth"), PAM_SUCCESS, "{reuse:?}");
}

#[test]
fn root_is_an_environment_admin_only_where_the_environment_says() {
    let Some(fleet) = Fleet::start("fleet_ops_host_root") else {
        return;
    };
    fleet.create_user("gina", "prod", Level::Write);
    fleet.create_user("hank", "prod", Level::Write);
    fleet
        .roster()
        .add_environment(&Actor::Root, "staging")
        .unwrap();
    fleet
        .roster()
        .grant(&Actor::Root, "hank", Some("staging"), Level::Write)
        .unwrap();
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a");
    eventually("gina on host-a", || a.state("gina") == "active");
    const NEW: &str = "set by the host's root";
    let root_passwd = |user: &str| {
        a.pam(user)
            .service("passwd")
            .steps(&["chauthtok"])
            .answers(&[NEW, NEW])
            .run()
            .code("chauthtok")
    };
    a.service("passwd", &a.module_args());
    let root = Person::on(&a);

    // Off by default: root is nobody at the controller.
    assert_ne!(root_passwd("gina"), PAM_SUCCESS);
    refused(
        &root.run(&["users", "grant", "gina", "admin"], ""),
        "roster login",
    );

    let set = fleet.command(&["environments", "set", "prod", "host_root_is_admin=true"]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    eventually("root's passwd gina goes through", || {
        root_passwd("gina") == PAM_SUCCESS
    });
    eventually("gina's new password on host-a", || {
        a.pam("gina")
            .steps(&["auth"])
            .answers(&[NEW])
            .run()
            .code("auth")
            == PAM_SUCCESS
    });
    // Not a role admin's, nor a user's with access elsewhere.
    assert_ne!(root_passwd("root-admin"), PAM_SUCCESS);
    assert_ne!(root_passwd("hank"), PAM_SUCCESS);
    // An admin of prod may grant in prod, nothing beyond.
    root.run(&["users", "grant", "gina", "admin"], "")
        .expect_ok();
    let gina = fleet.roster().user_by_name("gina").unwrap().unwrap();
    assert_eq!(gina.grants.get("prod"), Some(&Level::Admin));
    refused(
        &root.run(
            &[
                "users",
                "grant",
                "gina",
                "write",
                "--environment",
                "staging",
            ],
            "",
        ),
        "",
    );
    refused(
        &root.run(&["users", "create", "ivan", "--register"], ""),
        "",
    );
    assert!(fleet.roster().user_by_name("ivan").unwrap().is_none());
}

#[test]
fn fleet_admin_commands_and_fleet_sessions_go_through_the_local_rosterd() {
    let Some(mut fleet) = Fleet::start("fleet_ops_admin") else {
        return;
    };
    fleet.create_user("carol", "prod", Level::Write);
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a");
    let admin = Person::on(&a);
    let nobody = Person::on(&a);

    // A standalone host has no fleet to ask.
    let standalone = World::start();
    let alone = standalone.daemon.roster(&["hosts", "list"]).run();
    refused(&alone, "standalone");

    // No credential; a non-admin's session.
    refused(&nobody.run(&["hosts", "list"], ""), "roster login");
    let carol = Person::on(&a);
    carol.login("carol");
    refused(&carol.run(&["hosts", "list"], ""), "");
    refused(
        &carol.run(&["environments", "set", "prod", "offline_grace=2h"], ""),
        "",
    );

    admin.login("root-admin");
    // A join token: the person's password, not the session, makes one.
    refused(
        &admin.run(&["hosts", "token", "create", "--environment", "prod"], ""),
        "password",
    );
    let made = admin
        .run(
            &[
                "hosts",
                "token",
                "create",
                "--environment",
                "prod",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .expect_ok();
    let join_token = made.stdout.trim().to_string();
    let b = host();
    join(&b, &fleet, &join_token, "host-b");

    let listed = admin
        .run(&["hosts", "token", "list", "--json"], "")
        .expect_ok()
        .json();
    let tokens = listed.as_array().unwrap();
    assert!(tokens.iter().any(|t| t["used"].is_i64()), "{listed}");
    let spare = admin
        .run(
            &[
                "hosts",
                "token",
                "create",
                "--environment",
                "prod",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .expect_ok();
    let spare_id = spare.stderr.split_whitespace().nth(2).unwrap().to_string();
    admin
        .run(&["hosts", "token", "delete", &spare_id], "")
        .expect_ok();
    refused(&admin.run(&["hosts", "token", "delete", &spare_id], ""), "");

    let hosts = admin
        .run(&["hosts", "list", "--json"], "")
        .expect_ok()
        .json();
    let names: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert!(
        names.contains(&"host-a") && names.contains(&"host-b"),
        "{hosts}"
    );

    // environments set reaches every host of the environment.
    admin
        .run(&["environments", "set", "prod", "offline_grace=2h"], "")
        .expect_ok();
    refused(
        &admin.run(&["environments", "set", "prod", "grace=2h"], ""),
        "grace",
    );
    eventually("the new grace on host-b", || {
        b.daemon.roster(&["hosts", "status", "--json"]).run().json()["offline_grace_secs"] == 7200
    });

    // users sessions --fleet: what every host last reported.
    let go = a.dir().join("go");
    let mut driver = a
        .pam("carol")
        .steps(&[
            "auth",
            "acct",
            "open",
            &format!("waitfile:{}", go.display()),
            "close",
        ])
        .answers(&[PASSWORD])
        .spawn();
    let fleet_sessions = |who: &Person| {
        who.run(&["users", "sessions", "--fleet", "--json"], "")
            .expect_ok()
            .json()
    };
    eventually("carol's session seen from host-b's admin", || {
        fleet_sessions(&admin)
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["user"] == "carol" && s["host"] == "host-a")
    });
    // carol sees her own.
    assert!(
        fleet_sessions(&carol)
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["user"] == "carol")
    );
    refused(
        &nobody.run(&["users", "sessions", "--fleet"], ""),
        "roster login",
    );
    std::fs::write(&go, "").unwrap();
    let _ = driver.wait();
    eventually("carol's session ended in the report", || {
        !fleet_sessions(&admin)
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["user"] == "carol")
    });

    // The controller down: nothing sent, nothing changed.
    fleet.kill();
    refused(
        &admin.run(&["hosts", "revoke", "host-b"], ""),
        "controller unreachable: nothing changed",
    );
    refused(&admin.run(&["hosts", "list"], ""), "controller unreachable");
    fleet.serve();
    assert_eq!(
        b.daemon.roster(&["hosts", "status", "--json"]).run().json()["revoked"],
        false
    );

    // Revoking a host from another host.
    admin.run(&["hosts", "revoke", "host-b"], "").expect_ok();
    eventually("host-b told it is revoked", || {
        b.daemon.roster(&["hosts", "status", "--json"]).run().json()["revoked"] == true
    });
}

#[test]
fn reads_from_a_stale_cache_say_how_old_it_is() {
    let Some(mut fleet) = Fleet::start("fleet_ops_stale") else {
        return;
    };
    fleet.create_user("carol", "prod", Level::Write);
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a");
    // Fresh: nothing said, the JSON as on a standalone host.
    let fresh = a.daemon.roster(&["users", "show", "carol", "--json"]).run();
    let fresh = fresh.expect_ok();
    assert!(!fresh.stderr.contains("cache"), "{fresh:?}");
    assert!(fresh.json().get("cache_age_secs").is_none());
    let standalone = World::start();
    let alone = standalone
        .daemon
        .roster(&["users", "list"])
        .run()
        .expect_ok();
    assert!(!alone.stderr.contains("cache"), "{alone:?}");

    // The controller gone for over a minute: every read says so.
    fleet.kill();
    std::thread::sleep(Duration::from_secs(62));
    let listed = a.daemon.roster(&["users", "list"]).run().expect_ok();
    assert!(listed.stdout.contains("carol"), "{listed:?}");
    assert!(
        listed.stderr.contains("from this host's cache"),
        "{listed:?}"
    );
    let shown = a
        .daemon
        .roster(&["users", "show", "carol", "--json"])
        .run()
        .expect_ok();
    assert!(shown.stderr.contains("last answered"), "{shown:?}");
    assert!(
        shown.json()["cache_age_secs"].as_i64().unwrap_or(0) > 60,
        "{}",
        shown.stdout
    );
}
