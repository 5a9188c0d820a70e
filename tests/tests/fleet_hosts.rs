//! Fleet hosts with real parts: PostgreSQL, a real `roster-controller`,
//! and Roster hosts (each its own private dbus-daemon and rosterd, PAM
//! through pam_wrapper and the driver, NSS through nss_wrapper) joining
//! it with `roster hosts join`, then following what changes at the
//! controller: users arriving, suspensions, a revocation, an outage past
//! the offline grace, leaving.

mod fleet_common;
mod pam_common;

use fleet_common::{Fleet, FleetOptions, PASSWORD, text};
use pam_common::{PAM_PERM_DENIED, PAM_SUCCESS, World};
use roster_core::Actor;
use roster_core::level::Level;
use roster_tests::TestConfig;
use std::time::Duration;

/// How long a change may take to reach a host here (the bar is seconds;
/// a loaded CI machine gets slack, the figure is in the note, not here).
const ARRIVES_WITHIN: Duration = Duration::from_secs(20);

fn host() -> World {
    World::start_with(TestConfig::new().fleet_host())
}

fn join(world: &World, fleet: &Fleet, token: &str, name: &str) -> roster_tests::Run {
    fleet_common::join_host(&world.daemon, fleet, token, name)
}

/// A login (auth + account) of `user` with the fleet's password.
fn login(world: &World, user: &str) -> (i32, i32) {
    let out = world
        .pam(user)
        .steps(&["auth", "acct"])
        .answers(&[PASSWORD])
        .run();
    (out.code("auth"), out.code("acct"))
}

/// Waits until `check` holds (a change travelling to the host).
fn eventually(what: &str, check: impl FnMut() -> bool) -> Duration {
    fleet_common::eventually(what, ARRIVES_WITHIN, check)
}

fn status(world: &World) -> serde_json::Value {
    world
        .daemon
        .roster(&["hosts", "status", "--json"])
        .run()
        .expect_ok()
        .json()
}

#[test]
fn a_host_joins_follows_the_controller_and_leaves() {
    let Some(mut fleet) = Fleet::start("fleet_hosts_follow") else {
        return;
    };
    fleet.create_user("carol", "prod", Level::Write);
    let a = host();
    assert_eq!(status(&a)["enrolled"], false);
    // A standalone host's whoami says nothing of a fleet.
    let alone = a
        .daemon
        .roster(&["whoami", "--json"])
        .run()
        .expect_ok()
        .json();
    assert!(alone.get("fleet").is_none(), "{alone}");

    // A wrong pin: nothing sent, nothing enrolled.
    let token = fleet.join_token("prod");
    let wrong = a
        .daemon
        .roster(&[
            "hosts",
            "join",
            &fleet.url,
            "--ca-fingerprint",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "--token-stdin",
        ])
        .stdin(&format!("{token}\n"))
        .run();
    assert!(!wrong.success(), "{wrong:?}");
    assert_eq!(status(&a)["enrolled"], false);

    // Not root: refused before anything else.
    let stranger = a
        .daemon
        .roster(&[
            "hosts",
            "join",
            &fleet.url,
            "--ca-fingerprint",
            &fleet.ca_fingerprint,
            "--token-stdin",
        ])
        .stdin(&format!("{token}\n"))
        .as_uid(roster_tests::STRANGER_UID)
        .run();
    assert!(!stranger.success());
    assert!(stranger.stderr.contains("only root"), "{stranger:?}");

    let joined = join(&a, &fleet, &token, "host-a").expect_ok();
    assert!(joined.stdout.contains("host-a"), "{joined:?}");
    let now = status(&a);
    assert_eq!(now["enrolled"], true);
    assert_eq!(now["environment"], "prod");
    assert_eq!(now["within_grace"], true);
    assert!(
        now["certificate_not_after"].as_i64().unwrap_or(0) > 0,
        "{now}"
    );
    // The controller that answers, and who this host is to the fleet.
    assert_eq!(now["controller"], fleet.url.as_str(), "{now}");
    let shown = a.daemon.roster(&["hosts", "status"]).run().expect_ok();
    assert!(
        shown
            .stdout
            .contains(&format!("{} (answers now)", fleet.url)),
        "{shown:?}"
    );
    let whoami = a.daemon.roster(&["whoami"]).run().expect_ok();
    assert!(
        whoami.stdout.contains(&fleet.url) && whoami.stdout.contains("CN=host-a"),
        "{whoami:?}"
    );
    let whoami = a
        .daemon
        .roster(&["whoami", "--json"])
        .run()
        .expect_ok()
        .json();
    assert_eq!(
        whoami["fleet"]["controller"],
        fleet.url.as_str(),
        "{whoami}"
    );
    assert_eq!(whoami["fleet"]["hostname"], "host-a", "{whoami}");

    // The token works once: a second host is refused with it.
    let b = host();
    let again = join(&b, &fleet, &token, "host-b");
    assert!(!again.success(), "{again:?}");
    assert_eq!(status(&b)["enrolled"], false);

    // The first sync brought carol, her hash and her grant: she logs in
    // from the cache.
    assert_eq!(login(&a, "carol"), (PAM_SUCCESS, PAM_SUCCESS));
    assert_ne!(login(&a, "nobody-here").0, PAM_SUCCESS);

    // A user created at the controller arrives within seconds.
    fleet.create_user("dave", "prod", Level::Write);
    let took = eventually("dave on host-a", || {
        login(&a, "dave") == (PAM_SUCCESS, PAM_SUCCESS)
    });
    eprintln!("created at the controller → logs in on the host: {took:?}");

    // `passwd` through PAM: the user's own change goes to the controller
    // with the current password; root's `passwd USER` sets nothing there.
    fleet.create_user("gina", "prod", Level::Write);
    eventually("gina on host-a", || {
        login(&a, "gina") == (PAM_SUCCESS, PAM_SUCCESS)
    });
    let gina = a.uid("gina");
    a.service("passwd", &a.module_args());
    a.open_to_everyone();
    const NEW: &str = "a fresh phrase of hers";
    let changed = a
        .pam("gina")
        .service("passwd")
        .run_as(gina)
        .steps(&["chauthtok"])
        .answers(&[PASSWORD, NEW, NEW])
        .run();
    assert_eq!(changed.code("chauthtok"), PAM_SUCCESS, "{changed:?}");
    eventually("gina's new password on host-a", || {
        let out = a.pam("gina").steps(&["auth"]).answers(&[NEW]).run();
        out.code("auth") == PAM_SUCCESS
    });
    let by_root = a
        .pam("gina")
        .steps(&["chauthtok"])
        .answers(&["root sets this", "root sets this"])
        .run();
    assert_ne!(by_root.code("chauthtok"), PAM_SUCCESS, "{by_root:?}");

    // A role admin's hash is not spread to every host: the first login
    // here is checked online, then the hash is cached.
    assert_eq!(login(&a, "root-admin"), (PAM_SUCCESS, PAM_SUCCESS));
    let wrong = a
        .pam("root-admin")
        .steps(&["auth"])
        .answers(&["not the password"])
        .run();
    assert_ne!(wrong.code("auth"), PAM_SUCCESS, "{wrong:?}");

    // What happened here reaches the controller as reports.
    let mut store = roster_store_postgres::test_server::connect(&fleet.conninfo);
    eventually("login results reported", || {
        let row = store
            .query_one(
                "SELECT count(*) FROM host_reports WHERE kind = 'login_result' AND body LIKE '%root-admin%'",
                &[],
            )
            .unwrap();
        row.get::<_, i64>(0) >= 2
    });

    // Acting from the host: a change goes to the controller with the
    // person's own credential. Root on the host is nobody there.
    let runtime = tempfile::tempdir().unwrap();
    let rt = runtime.path().to_str().unwrap().to_owned();
    let as_person = |args: &[&str], stdin: &str| {
        a.daemon
            .roster(args)
            .env("XDG_RUNTIME_DIR", &rt)
            .stdin(stdin)
            .run()
    };
    let nobody = as_person(&["users", "create", "frank", "--password-stdin"], PASSWORD);
    assert!(!nobody.success(), "{nobody:?}");
    assert!(nobody.stderr.contains("roster login"), "{nobody:?}");
    let wrong = as_person(&["login", "root-admin", "--password-stdin"], "nope\n");
    assert!(!wrong.success(), "{wrong:?}");
    as_person(
        &["login", "root-admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .expect_ok();
    as_person(
        &["users", "create", "frank", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .expect_ok();
    as_person(&["users", "grant", "frank", "write"], "").expect_ok();
    eventually("frank, made from host-a, logs in there", || {
        login(&a, "frank") == (PAM_SUCCESS, PAM_SUCCESS)
    });
    as_person(&["users", "suspend", "frank"], "").expect_ok();
    eventually("frank suspended from host-a", || {
        login(&a, "frank").1 != PAM_SUCCESS
    });
    // Keys go to the controller too, never made in the cache (the other
    // changes sent there: tests/tests/fleet_ops.rs).
    let key = as_person(
        &[
            "users",
            "keys",
            "add",
            "frank",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x",
        ],
        "",
    );
    assert!(key.success(), "{key:?}");
    assert_eq!(
        fleet
            .roster()
            .list_keys(&Actor::Root, "frank")
            .unwrap()
            .len(),
        1
    );
    let edited = as_person(&["users", "edit", "frank", "--display-name", "Frank F"], "");
    edited.expect_ok();
    as_person(&["logout"], "").expect_ok();
    let after = as_person(&["users", "enable", "frank"], "");
    assert!(after.stderr.contains("roster login"), "{after:?}");

    // A suspension at the controller ends logins on the host.
    fleet.roster().suspend_user(&Actor::Root, "carol").unwrap();
    eventually("carol suspended on host-a", || {
        login(&a, "carol").1 != PAM_SUCCESS
    });

    // While enrolled, the keys the controller decides are refused in
    // rosterd.toml, each named.
    let mut a = a;
    a.daemon.rewrite_config(
        TestConfig::new()
            .fleet_host()
            .set_str("environment", "staging")
            .set("uid_min", "1879048193"),
    );
    let refused = a
        .daemon
        .try_restart()
        .expect_err("rosterd refuses the keys");
    assert!(
        refused.stderr.contains("environment") && refused.stderr.contains("uid_min"),
        "{}",
        refused.stderr
    );
    a.daemon.rewrite_config(TestConfig::new().fleet_host());
    a.daemon
        .try_restart()
        .unwrap_or_else(|e| panic!("{}", e.stderr));
    // Restarted in fleet mode from its files: dave still logs in.
    assert_eq!(login(&a, "dave"), (PAM_SUCCESS, PAM_SUCCESS));

    // Leaving keeps the cache as the host's own store, serving
    // rosterd.toml's environment again (said, with how to keep "prod").
    let left = a.daemon.roster(&["hosts", "leave"]).run().expect_ok();
    assert!(left.stdout.contains("standalone"), "{left:?}");
    assert!(left.stdout.contains("environment = \"prod\""), "{left:?}");
    assert_eq!(status(&a)["enrolled"], false);
    assert_eq!(login(&a, "dave"), (PAM_SUCCESS, PAM_PERM_DENIED));
    a.daemon.rewrite_config(
        TestConfig::new()
            .fleet_host()
            .set_str("environment", "prod"),
    );
    a.daemon
        .try_restart()
        .unwrap_or_else(|e| panic!("{}", e.stderr));
    assert_eq!(login(&a, "dave"), (PAM_SUCCESS, PAM_SUCCESS));
    let again = a.daemon.roster(&["hosts", "leave"]).run();
    assert!(!again.success());
    fleet.kill();
}

#[test]
fn a_revoked_host_wipes_its_credentials_and_an_outage_ends_logins_at_the_grace() {
    let Some(mut fleet) = Fleet::start("fleet_hosts_revoke") else {
        return;
    };
    fleet.create_user("erin", "prod", Level::Write);
    let set = fleet.command(&["environments", "set", "prod", "offline_grace=4s"]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    let a = host();
    join(&a, &fleet, &fleet.join_token("prod"), "host-a").expect_ok();
    assert_eq!(login(&a, "erin"), (PAM_SUCCESS, PAM_SUCCESS));
    assert_eq!(status(&a)["offline_grace_secs"], 4);

    // The role admin's first login here is online; cached after.
    assert_eq!(login(&a, "root-admin"), (PAM_SUCCESS, PAM_SUCCESS));

    // The controller gone: logins go on within the grace (the admin's
    // from the hash cached at the first login), then stop; NSS keeps
    // resolving.
    fleet.kill();
    assert_eq!(login(&a, "root-admin"), (PAM_SUCCESS, PAM_SUCCESS));
    eventually("the grace ends", || login(&a, "erin").1 == PAM_PERM_DENIED);
    let late = status(&a);
    assert_eq!(late["within_grace"], false, "{late}");
    let conversation = a.pam("erin").steps(&["acct"]).run();
    assert!(
        conversation
            .errors
            .iter()
            .any(|e| e.contains("offline grace")),
        "{conversation:?}"
    );

    // Back: the next answer reopens logins.
    fleet.serve();
    eventually("logins again after the outage", || {
        login(&a, "erin") == (PAM_SUCCESS, PAM_SUCCESS)
    });

    // Revoked at the controller: the host wipes every cached hash.
    let revoke = fleet.command(&["hosts", "revoke", "host-a"]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    eventually("host-a told it is revoked", || {
        status(&a)["revoked"] == true
    });
    assert_eq!(login(&a, "erin").0, pam_common::PAM_AUTH_ERR);

    // Remembered across a restart, with no controller to say it again.
    fleet.kill();
    let mut a = a;
    a.daemon.restart();
    let after = status(&a);
    assert_eq!(after["revoked"], true, "{after}");
    assert!(after["revoked_at"].as_i64().unwrap_or(0) > 0, "{after}");
    assert!(after["controller"].is_null(), "{after}");
    let config = a.daemon.config_path();
    let doctor = a
        .daemon
        .roster(&["doctor", "--config", config.to_str().unwrap()])
        .run();
    assert!(doctor.stdout.contains("revoked this host"), "{doctor:?}");
    assert_eq!(login(&a, "erin").0, pam_common::PAM_AUTH_ERR);
}

/// A standalone host with its own users, in the fleet's uid range
/// (`first..=last`), made while standalone; then its rosterd.toml names
/// no uid range any more (the controller decides it), ready to join.
fn standalone_host(first: u32, last: u32, users: &[(&str, &str)]) -> World {
    let config = || TestConfig::new().fleet_host();
    let mut world = World::start_with(
        config()
            .set("uid_min", &first.to_string())
            .set("uid_max", &last.to_string()),
    );
    for (name, password) in users {
        world.user(name, password, Some("write"));
    }
    world.daemon.rewrite_config(config());
    world
        .daemon
        .try_restart()
        .unwrap_or_else(|e| panic!("{}", e.stderr));
    world
}

fn join_with(
    world: &World,
    fleet: &Fleet,
    token: &str,
    name: &str,
    mode: &str,
) -> roster_tests::Run {
    world
        .daemon
        .roster(&[
            "hosts",
            "join",
            &fleet.url,
            "--ca-fingerprint",
            &fleet.ca_fingerprint,
            "--name",
            name,
            "--token-stdin",
            mode,
        ])
        .stdin(&format!("{token}\n"))
        .run()
}

fn retired_at_controller(fleet: &Fleet, uid: u32) -> bool {
    let mut store = roster_store_postgres::test_server::connect(&fleet.conninfo);
    store
        .query_opt(
            "SELECT 1 FROM retired_uids WHERE uid = $1",
            &[&i64::from(uid)],
        )
        .unwrap()
        .is_some()
}

#[test]
fn a_standalone_host_joins_with_adopt_or_discard_and_a_clash_changes_nothing() {
    let Some(fleet) = Fleet::start("fleet_hosts_adopt") else {
        return;
    };
    let max = fleet.uid_max;
    // carol takes the fleet's first uid.
    fleet.create_user("carol", "prod", Level::Write);
    let carol = fleet.roster().show_user(&Actor::Root, "carol").unwrap().uid;

    // A host whose bob has carol's uid: adopting is refused naming both,
    // and so is discarding (carol would inherit bob's files there).
    let clash = standalone_host(carol, max, &[("bob", "an old standalone phrase")]);
    assert_eq!(clash.uid("bob"), carol);
    let token = fleet.join_token("prod");
    let plain = join(&clash, &fleet, &token, "host-clash");
    assert!(
        !plain.success() && plain.stderr.contains("--adopt") && plain.stderr.contains("bob"),
        "{plain:?}"
    );
    for mode in ["--adopt", "--discard"] {
        let refused = join_with(&clash, &fleet, &token, "host-clash", mode);
        assert!(!refused.success(), "{mode}: {refused:?}");
        assert!(
            refused.stderr.contains("bob")
                && refused.stderr.contains("carol")
                && refused.stderr.contains(&carol.to_string()),
            "{mode}: {refused:?}"
        );
        // Nothing changed: not enrolled, bob still here, no bob at the
        // controller.
        assert_eq!(status(&clash)["enrolled"], false);
        assert_eq!(clash.uid("bob"), carol);
        assert!(fleet.roster().show_user(&Actor::Root, "bob").is_err());
    }

    // A host whose users fit: they move with their passwords, keys and
    // grants (the host's environment's, now prod's), on the token the
    // refused joins left usable.
    const DORA: &str = "her old standalone phrase";
    let adopting = standalone_host(carol + 8, max, &[("dora", DORA), ("eli", DORA)]);
    let dora = adopting.uid("dora");
    adopting.roster(&[
        "users",
        "keys",
        "add",
        "dora",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl dora@laptop",
    ]);
    adopting.roster(&["users", "edit", "eli", "--set-role", "admin"]);
    let joined = join_with(&adopting, &fleet, &token, "host-adopt", "--adopt").expect_ok();
    assert!(
        joined.stdout.contains("adopted 2 user(s)") && joined.stdout.contains("dora"),
        "{joined:?}"
    );
    // A role admin of one host is not made an admin of the whole fleet:
    // said, by name.
    assert!(joined.stdout.contains("eli was a role admin"), "{joined:?}");
    let at_controller = fleet.roster().show_user(&Actor::Root, "dora").unwrap();
    assert_eq!(at_controller.uid, dora);
    assert_eq!(at_controller.level_in("prod"), Some(Level::Write));
    let eli = fleet.roster().show_user(&Actor::Root, "eli").unwrap();
    assert_eq!(eli.role, roster_core::model::Role::User);
    assert_eq!(eli.level_in("prod"), Some(Level::Admin));
    // The host holds the controller's view now: carol too, dora with her
    // uid, her key and her old password.
    assert_eq!(adopting.uid("carol"), carol);
    assert_eq!(adopting.uid("dora"), dora);
    let keys = adopting.roster(&["users", "keys", "list", "dora"]);
    assert!(keys.contains("dora@laptop"), "{keys}");
    let out = adopting
        .pam("dora")
        .steps(&["auth", "acct"])
        .answers(&[DORA])
        .run();
    assert_eq!(
        (out.code("auth"), out.code("acct")),
        (PAM_SUCCESS, PAM_SUCCESS),
        "{out:?}"
    );
    assert_eq!(login(&adopting, "carol"), (PAM_SUCCESS, PAM_SUCCESS));
    // The token was burnt by that join.
    let burnt = join_with(&clash, &fleet, &token, "host-clash", "--discard");
    assert!(
        !burnt.success() && burnt.stderr.contains("used"),
        "{burnt:?}"
    );

    // A host discarding its users: they go, their uids are retired in the
    // fleet (nobody inherits their files there).
    let discarding = standalone_host(carol + 16, max, &[("gus", "a phrase of the past")]);
    let gus = discarding.uid("gus");
    assert!(!retired_at_controller(&fleet, gus));
    let joined = join_with(
        &discarding,
        &fleet,
        &fleet.join_token("prod"),
        "host-discard",
        "--discard",
    )
    .expect_ok();
    assert!(joined.stdout.contains("gus"), "{joined:?}");
    assert!(retired_at_controller(&fleet, gus));
    let shown = discarding.daemon.roster(&["users", "show", "gus"]).run();
    assert!(!shown.success(), "{shown:?}");
    assert_eq!(discarding.uid("dora"), dora);
    assert!(fleet.roster().show_user(&Actor::Root, "gus").is_err());
}

/// The admin group (and the uid range) come from the controller: a host
/// whose rosterd runs with another admin group takes the fleet's at the
/// join by restarting (said by `join`), NSS then shows the fleet's group
/// with its admins, and rosterd.toml's may not bring its own back.
#[test]
fn the_fleets_admin_group_reaches_the_host_through_a_restart() {
    let Some(fleet) = Fleet::start_with(
        "fleet_admin_group",
        FleetOptions {
            admin_group: Some(("fleet-admins".into(), 1_879_048_000)),
            ..FleetOptions::default()
        },
    ) else {
        return;
    };
    fleet.create_user("ada", "prod", Level::Admin);
    fleet.create_user("walt", "prod", Level::Write);
    let mut a = World::start_with(TestConfig::new().fleet_host());
    let joined =
        fleet_common::join_host(&a.daemon, &fleet, &fleet.join_token("prod"), "host-a").expect_ok();
    assert!(
        joined
            .stdout
            .contains("rosterd restarts now: the fleet uses admin group fleet-admins (1879048000)"),
        "{}",
        joined.stdout
    );
    let exited = a.daemon.wait_exit(Duration::from_secs(20));
    assert!(
        exited.is_some_and(|status| !status.success()),
        "rosterd did not exit for its restart: {exited:?}"
    );
    a.daemon
        .try_restart()
        .unwrap_or_else(|e| panic!("{}", e.stderr));
    let bytes = std::fs::read(a.daemon.nss_cache_path()).unwrap();
    let snapshot = roster_snapshot::Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
    let group = snapshot
        .group_by_name(b"fleet-admins")
        .expect("the fleet's admin group in the host's NSS snapshot");
    assert_eq!(group.gid(), 1_879_048_000);
    let members: Vec<String> = group
        .members()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    // ada holds admin in prod; root-admin is a role admin (logs in
    // everywhere); walt (write) is not an admin.
    assert_eq!(members, ["ada", "root-admin"]);
    assert!(snapshot.group_by_name(b"roster-admins").is_none());
    // Running with the fleet's settings now: nothing more to take.
    let status = a.daemon.roster(&["hosts", "status"]).run().expect_ok();
    assert!(status.stdout.contains("host-a"), "{}", status.stdout);
    // rosterd.toml may not set them while enrolled, each named.
    a.daemon.rewrite_config(
        TestConfig::new()
            .fleet_host()
            .set_str("admin_group", "local-admins"),
    );
    let refused = a
        .daemon
        .try_restart()
        .expect_err("rosterd refuses admin_group while enrolled");
    assert!(refused.stderr.contains("admin_group"), "{}", refused.stderr);
}

/// A join reads the host's own users, enrolls, then swaps the store for
/// the fleet's: a local change in between would vanish, so changes are
/// refused while a join runs (here one stuck on a controller that never
/// answers its TLS handshake), and work again once it has failed.
#[test]
fn changes_wait_while_a_join_is_in_flight() {
    let a = World::start_with(TestConfig::new().fleet_host());
    let create = |name: &str| {
        a.daemon
            .roster(&["users", "create", name, "--password-stdin"])
            .stdin(&format!("{PASSWORD}\n"))
            .run()
    };
    // A user of its own, so that `--discard` has something to retire.
    create("early").expect_ok();
    // Accepts TCP (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", silent.local_addr().unwrap());
    let mut join = a
        .daemon
        .roster(&[
            "hosts",
            "join",
            &url,
            "--ca-fingerprint",
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "--token-stdin",
            "--discard",
        ])
        .to_command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = join.stdin.take().unwrap();
        stdin.write_all(b"some-join-token\n").unwrap();
    }
    // Creates made before the join took its turn go through; once it
    // runs, each is refused.
    let mut refused = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    for attempt in 0.. {
        if std::time::Instant::now() > deadline {
            break;
        }
        let run = create(&format!("zed{attempt}"));
        if !run.success() && run.stderr.contains("joining or leaving a fleet") {
            refused = Some(run);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(refused) = refused else {
        let out = join.wait_with_output().unwrap();
        panic!(
            "no change was refused while the join ran; the join: {} {}",
            text(&out.stdout),
            text(&out.stderr)
        );
    };
    assert!(refused.stderr.contains("nothing changed"), "{refused:?}");
    let joined = join.wait_with_output().unwrap();
    assert!(!joined.status.success(), "{}", text(&joined.stdout));
    drop(silent);
    // The join failed: standalone as before (nothing retired), and
    // changes work again.
    a.daemon
        .roster(&["users", "show", "early"])
        .run()
        .expect_ok();
    create("late").expect_ok();
}
