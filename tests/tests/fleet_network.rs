//! A fleet with real parts and real isolation: PostgreSQL, two
//! `roster-controller serve` replicas of one store, and three full Roster
//! hosts, each in network, PID and mount namespaces of its own (its
//! dbus-daemon, rosterd, PAM driver and NSS lookups inside; a veth pair to
//! the test's namespace, where the controllers listen; see
//! fleet_common/netns.rs). Issue 17's multi-host scenarios: joining,
//! changes arriving everywhere (timed, commit → applied per host),
//! suspension ending a live session on one host alone, a revocation below
//! the login level, a partition past the offline grace and its healing, a
//! controller killed, rosterd killed while applying batches, and what a
//! stolen host certificate can't do.
//!
//! Needs root (namespaces, veth), util-linux's unshare and nsenter,
//! iproute2, and what fleet_hosts.rs needs.

mod fleet_common;
mod pam_common;

use fleet_common::netns::{AGENT_ENV, Net, NsHost, Outcome, Request, now_us};
use fleet_common::{Fleet, FleetOptions, PASSWORD, text};
use pam_common::PAM_SUCCESS;
use roster_core::Actor;
use roster_core::level::Level;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a change may take to reach a host here (the bar is seconds;
/// the figures are printed, never asserted).
const ARRIVES_WITHIN_MS: u64 = 20_000;

/// The offline grace the environment gets: small, so a partition ends
/// logins soon (the controllers' long poll is 1 s, so connected hosts
/// hear from them well within it).
const GRACE_SECS: u64 = 5;

/// Not a test: the agent each host runs inside its namespaces (started by
/// the scenarios with [`AGENT_ENV`] set; without it, nothing).
#[test]
#[ignore = "the agent the scenarios start inside each host's namespaces, not a test on its own"]
fn host_agent() {
    if let Ok(name) = std::env::var(AGENT_ENV) {
        fleet_common::netns::serve_agent(&name);
    }
}

/// Whether this machine can make the namespaces (root, unshare, ip).
fn can_isolate(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["unshare", "nsenter", "ip"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !root || !tools {
        roster_tests::skip_or_fail(
            test,
            "needs root, util-linux's unshare and nsenter, and iproute2",
        );
        return false;
    }
    true
}

/// 512 uids past the harness's blocks (so no rosterd of another test,
/// in the test's namespaces, ever hands one out), by pid and test.
fn fleet_uids() -> (u32, u32) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let first_free =
        roster_tests::UID_MIN + roster_tests::UIDS_PER_DAEMON * roster_tests::UID_BLOCKS;
    let min = first_free + ((std::process::id() * 4 + n) % 1024) * 512;
    (min, min + 511)
}

struct Setup {
    fleet: Fleet,
    hosts: Vec<NsHost>,
}

/// The hosts first (their links carry the controllers' address), then
/// PostgreSQL and two controllers listening on it.
fn setup(name: &str, hosts: &[&str]) -> Option<Setup> {
    if !can_isolate(name) {
        return None;
    }
    let net = Net::new();
    let hosts = NsHost::start_all(&net, hosts);
    let fleet = Fleet::start_with(
        name,
        FleetOptions {
            listen_ip: net.gateway.clone(),
            replicas: 2,
            uids: Some(fleet_uids()),
            ..FleetOptions::default()
        },
    )?;
    Some(Setup { fleet, hosts })
}

fn join(host: &NsHost, fleet: &Fleet, token: &str) -> (i32, String, String) {
    host.roster_with_stdin(
        &[
            "hosts",
            "join",
            &fleet.url,
            "--ca-fingerprint",
            &fleet.ca_fingerprint,
            "--name",
            &host.name,
            "--token-stdin",
        ],
        Some(&format!("{token}\n")),
    )
}

/// Runs `commit` while every host waits for what it changes (`wait`
/// gives each host's request); answers each host's latency from the
/// commit's end, in ms (None: not seen in time), and that end (µs).
fn timed(
    hosts: &[&NsHost],
    wait: impl Fn(&NsHost) -> Request,
    commit: impl FnOnce(),
) -> (Vec<Option<f64>>, i64) {
    std::thread::scope(|scope| {
        let waiting: Vec<_> = hosts
            .iter()
            .map(|host| {
                let request = wait(host);
                scope.spawn(move || host.call(&request))
            })
            .collect();
        // The waits start before the commit: give them their first look.
        std::thread::sleep(Duration::from_millis(50));
        commit();
        let committed = now_us();
        let latencies = waiting
            .into_iter()
            .map(|w| {
                let v: Value = w.join().unwrap();
                (v["seen"] == true).then(|| since(committed, &v))
            })
            .collect();
        (latencies, committed)
    })
}

/// ms from `committed` to the answer's `seen_at_us`.
fn since(committed: i64, answer: &Value) -> f64 {
    let seen = answer["seen_at_us"].as_i64().unwrap_or(committed);
    (seen - committed).max(0) as f64 / 1000.0
}

/// Waits for an account check with the outcome `want` (no auth: see
/// [`Request::WaitLogin`]).
fn wait_account(user: &str, want: Outcome) -> impl Fn(&NsHost) -> Request {
    let user = user.to_owned();
    move |_| Request::WaitLogin {
        user: user.clone(),
        password: String::new(),
        want,
        account_only: true,
        timeout_ms: ARRIVES_WITHIN_MS,
    }
}

fn wait_login(host: &NsHost, user: &str, want: Outcome, timeout_ms: u64) -> Value {
    host.call(&Request::WaitLogin {
        user: user.into(),
        password: PASSWORD.into(),
        want,
        account_only: false,
        timeout_ms,
    })
}

/// Every figure of one kind, for the summary at the end.
#[derive(Default)]
struct Figures {
    rows: Vec<(String, String, f64)>,
}

impl Figures {
    fn add(&mut self, what: &str, hosts: &[&NsHost], latencies: &[Option<f64>]) {
        for (host, latency) in hosts.iter().zip(latencies) {
            let latency = latency.unwrap_or_else(|| {
                panic!(
                    "{what}: not applied on {} within {ARRIVES_WITHIN_MS} ms",
                    host.name
                )
            });
            eprintln!("{what}: {} after {latency:.1} ms", host.name);
            self.rows
                .push((what.to_owned(), host.name.clone(), latency));
        }
    }

    fn summary(&self) {
        let mut all: Vec<f64> = self.rows.iter().map(|r| r.2).collect();
        all.sort_by(f64::total_cmp);
        if all.is_empty() {
            return;
        }
        let p50 = all[all.len() / 2];
        let max = all[all.len() - 1];
        eprintln!(
            "commit → applied on a host: {} samples, p50 {p50:.1} ms, max {max:.1} ms",
            all.len()
        );
        let mut hosts: Vec<&String> = self.rows.iter().map(|r| &r.1).collect();
        hosts.sort();
        hosts.dedup();
        for host in hosts {
            let mut mine: Vec<f64> = self
                .rows
                .iter()
                .filter(|r| &r.1 == host)
                .map(|r| r.2)
                .collect();
            mine.sort_by(f64::total_cmp);
            eprintln!(
                "  {host}: p50 {:.1} ms, max {:.1} ms ({} samples)",
                mine[mine.len() / 2],
                mine[mine.len() - 1],
                mine.len()
            );
        }
    }
}

fn uid_of(host: &NsHost, user: &str) -> u32 {
    let (code, stdout, stderr) = host.roster(&["users", "show", user, "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["uid"].as_u64().unwrap() as u32
}

/// `users list --all --json` on a host: every user's (name, uid).
fn users_on(host: &NsHost) -> Vec<(String, u64)> {
    let (code, stdout, stderr) = host.roster(&["users", "list", "--all", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {stdout}"))
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap_or_default().to_owned(),
                u["uid"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// A process of `uid` in the test's own namespaces (outside every host).
fn outside_process(uid: u32) -> std::process::Child {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .args(["--clear-groups", "--", "sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn alive(host: &NsHost, id: &Value) -> bool {
    host.call(&Request::Alive {
        id: id.as_u64().unwrap(),
    })["alive"]
        == true
}

#[test]
fn three_isolated_hosts_follow_two_controllers() {
    let started = Instant::now();
    let Some(Setup { mut fleet, hosts }) =
        setup("fleet_network_three_hosts", &["host-a", "host-b", "host-c"])
    else {
        return;
    };
    let (a, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let all = [a, b, c];
    let mut figures = Figures::default();
    let set = fleet.command(&[
        "environments",
        "set",
        "prod",
        &format!("offline_grace={GRACE_SECS}s"),
    ]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    fleet.create_user("carol", "prod", Level::Write);
    fleet.create_user("bob", "prod", Level::Write);
    eprintln!("set up in {:?}", started.elapsed());

    // ---- 1. Three hosts join, each with a token of its own; a used
    // token is refused on another host.
    let tokens: Vec<String> = (0..3).map(|_| fleet.join_token("prod")).collect();
    let (code, stdout, stderr) = join(a, &fleet, &tokens[0]);
    assert_eq!(code, 0, "host-a joins: {stdout}{stderr}");
    let (code, _, stderr) = join(b, &fleet, &tokens[0]);
    assert_ne!(code, 0, "a used token must be refused on host-b");
    assert_eq!(b.status()["enrolled"], false, "{stderr}");
    for (host, token) in [(b, &tokens[1]), (c, &tokens[2])] {
        let (code, stdout, stderr) = join(host, &fleet, token);
        assert_eq!(code, 0, "{} joins: {stdout}{stderr}", host.name);
    }
    for host in all {
        let status = host.status();
        assert_eq!(status["enrolled"], true, "{status}");
        assert_eq!(status["environment"], "prod", "{status}");
        assert_eq!(status["offline_grace_secs"], GRACE_SECS, "{status}");
        let controllers = status["controllers"].to_string();
        for url in &fleet.urls {
            assert!(controllers.contains(url.as_str()), "{url} in {status}");
        }
        // The first sync brought carol: she logs in from the cache.
        assert_eq!(host.login("carol", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));
    }
    let carol = uid_of(a, "carol");
    let bob = uid_of(a, "bob");

    // ---- 2. Users created at the controller (user, password, grant)
    // arrive on every host within seconds (commit → the account check
    // passes on each host), then log in.
    for n in 0..5 {
        let user = format!("new{n}");
        let (latencies, _) = timed(&all, wait_account(&user, Outcome::LoggedIn), || {
            fleet.create_user(&user, "prod", Level::Write)
        });
        figures.add("create", &all, &latencies);
    }
    assert_eq!(b.login("new0", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));
    assert_ne!(b.login("nobody-here", PASSWORD).0.0, PAM_SUCCESS);

    // ---- 3. A suspension ends carol's live session on host-b (its sweep,
    // in host-b's PID namespace), and her logins everywhere; bob's
    // process on host-a and a process of carol's uid outside every host
    // are untouched.
    let session = b.call(&Request::OpenSession {
        user: "carol".into(),
        password: PASSWORD.into(),
        uid: carol,
    });
    let bobs = a.call(&Request::SpawnAs { uid: bob });
    let mut outside = outside_process(carol);
    assert!(alive(b, &session["shell"]));
    let shell = session["shell"].as_u64().unwrap();
    let suspended = std::thread::scope(|scope| {
        let ended = scope.spawn(|| {
            b.call(&Request::WaitGone {
                id: shell,
                timeout_ms: ARRIVES_WITHIN_MS,
            })
        });
        let (others, committed) = timed(&[a, c], wait_account("carol", Outcome::Refused), || {
            fleet.roster().suspend_user(&Actor::Root, "carol").unwrap();
        });
        let ended: Value = ended.join().unwrap();
        assert_eq!(ended["gone"], true, "carol's session on host-b: {ended}");
        vec![others[0], Some(since(committed, &ended)), others[1]]
    });
    figures.add("suspend", &all, &suspended);
    let ((auth, acct), _) = c.login("carol", PASSWORD);
    assert!(
        (auth, acct) != (PAM_SUCCESS, PAM_SUCCESS),
        "carol is refused on host-c"
    );
    assert!(alive(a, &bobs["id"]), "bob's process on host-a lives on");
    assert!(
        matches!(outside.try_wait(), Ok(None)),
        "a process of carol's uid outside the hosts is out of their sweeps' reach"
    );
    let _ = outside.kill();
    let _ = outside.wait();

    // ---- 4. A grant revoked below the login level (write → read) ends
    // bob's session on host-a and refuses his login on host-c.
    let session = a.call(&Request::OpenSession {
        user: "bob".into(),
        password: PASSWORD.into(),
        uid: bob,
    });
    let shell = session["shell"].as_u64().unwrap();
    let revoked = std::thread::scope(|scope| {
        let ended = scope.spawn(|| {
            a.call(&Request::WaitGone {
                id: shell,
                timeout_ms: ARRIVES_WITHIN_MS,
            })
        });
        let refused = scope.spawn(|| c.call(&wait_account("bob", Outcome::Refused)(c)));
        std::thread::sleep(Duration::from_millis(50));
        fleet
            .roster()
            .revoke(&Actor::Root, "bob", Some("prod"), Some(Level::Write))
            .unwrap();
        let committed = now_us();
        let latency = |v: Value, what: &str| {
            assert_eq!(
                v["seen"].as_bool().or(v["gone"].as_bool()),
                Some(true),
                "{what}: {v}"
            );
            Some(since(committed, &v))
        };
        vec![
            latency(ended.join().unwrap(), "bob's session on host-a"),
            latency(refused.join().unwrap(), "bob refused on host-c"),
        ]
    });
    figures.add("revoke below login", &[a, c], &revoked);
    let other = a.call(&Request::WaitGone {
        id: bobs["id"].as_u64().unwrap(),
        timeout_ms: ARRIVES_WITHIN_MS,
    });
    assert_eq!(other["gone"], true, "bob's other process goes too: {other}");
    let ((auth, acct), _) = b.login("bob", PASSWORD);
    assert_ne!(
        (auth, acct),
        (PAM_SUCCESS, PAM_SUCCESS),
        "bob refused on host-b"
    );

    // ---- 5. Host-c partitioned: it lets eligible users in until the
    // grace ends, then refuses; healed, it applies what it missed.
    fleet.create_user("erin", "prod", Level::Write);
    let arrived = c.call(&wait_account("erin", Outcome::LoggedIn)(c));
    assert_eq!(arrived["seen"], true, "erin on host-c: {arrived}");
    c.link_up(false);
    let cut = Instant::now();
    assert_eq!(
        c.login("erin", PASSWORD).0,
        (PAM_SUCCESS, PAM_SUCCESS),
        "within the grace, erin logs in on the partitioned host"
    );
    let refused = wait_login(c, "erin", Outcome::Refused, 30_000);
    assert_eq!(refused["seen"], true, "the grace must end: {refused}");
    let grace_ended = cut.elapsed();
    eprintln!("partition → host-c refuses erin: {grace_ended:?} (grace {GRACE_SECS} s)");
    let ((_, _), errors) = c.login("erin", PASSWORD);
    assert!(
        errors.iter().any(|e| e.contains("offline grace")),
        "{errors:?}"
    );
    assert_eq!(c.status()["within_grace"], false);
    // Past the grace, host-c still resolves erin (NSS, `users show`).
    let resolves = c.call(&Request::WaitState {
        user: "erin".into(),
        state: Some("active".into()),
        timeout_ms: 0,
    });
    assert_eq!(resolves["seen"], true, "{resolves}");
    // Meanwhile the others go on: frank arrives on host-a, not on host-c.
    fleet.create_user("frank", "prod", Level::Write);
    assert_eq!(
        wait_login(a, "frank", Outcome::LoggedIn, ARRIVES_WITHIN_MS)["seen"],
        true
    );
    assert_eq!(a.login("erin", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));
    c.link_up(true);
    let healed = Instant::now();
    let frank = c.call(&Request::WaitState {
        user: "frank".into(),
        state: Some("active".into()),
        timeout_ms: 60_000,
    });
    assert_eq!(
        frank["seen"], true,
        "host-c catches up after healing: {frank}"
    );
    eprintln!("healed → host-c has frank: {:?}", healed.elapsed());
    assert_eq!(
        wait_login(c, "frank", Outcome::LoggedIn, ARRIVES_WITHIN_MS)["seen"],
        true
    );
    assert_eq!(c.login("erin", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));

    // ---- 6. The first controller killed: hosts move to the other and
    // keep receiving changes.
    fleet.kill_replica(0);
    let (latencies, _) = timed(&all, wait_account("gina", Outcome::LoggedIn), || {
        fleet.create_user("gina", "prod", Level::Write)
    });
    figures.add("create, one controller down", &all, &latencies);
    assert_eq!(c.login("gina", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));
    // `roster hosts status` names the controller that answers now.
    for host in all {
        let status = host.status();
        assert_eq!(status["controller"], fleet.urls[1].as_str(), "{status}");
    }
    fleet.serve_replica(0);

    // ---- 7. rosterd on host-a killed (-9) again and again while 200
    // users are created: once caught up, its cache holds each exactly
    // once and its cursor is the controller's head.
    let creating = std::thread::scope(|scope| {
        let creator = scope.spawn(|| {
            let roster_started = Instant::now();
            let names: Vec<String> = (0..200).map(|n| format!("bulk{n:03}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            fleet.create_users(&names, "prod", Level::Write);
            roster_started.elapsed()
        });
        let mut kills = 0;
        while !creator.is_finished() && kills < 8 {
            std::thread::sleep(Duration::from_millis(300));
            a.call(&Request::Kill9Rosterd);
            kills += 1;
            let restarted = a.call(&Request::RestartRosterd);
            assert_eq!(restarted["started"], true, "{restarted}");
        }
        eprintln!("rosterd on host-a killed {kills} times during the batch");
        creator.join().unwrap()
    });
    eprintln!("200 users created at the controller in {creating:?}");
    let head = fleet.head();
    let deadline = Instant::now() + Duration::from_secs(30);
    for host in all {
        loop {
            let cursor = host.status()["cursor"].as_i64().unwrap_or(-1);
            if cursor == head {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: cursor {cursor}, the controller's head {head}",
                host.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let on_a = users_on(a);
    let on_b = users_on(b);
    let bulk: Vec<&(String, u64)> = on_a.iter().filter(|u| u.0.starts_with("bulk")).collect();
    assert_eq!(bulk.len(), 200, "every user on host-a once");
    let mut names: Vec<&String> = on_a.iter().map(|u| &u.0).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), on_a.len(), "no user twice on host-a");
    let mut uids: Vec<u64> = on_a.iter().map(|u| u.1).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), on_a.len(), "no uid twice on host-a");
    let mut sorted_a = on_a.clone();
    sorted_a.sort();
    let mut sorted_b = on_b.clone();
    sorted_b.sort();
    assert_eq!(sorted_a, sorted_b, "host-a's cache is host-b's");
    assert_eq!(a.login("bulk199", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));

    figures.summary();
    fleet.kill();
    eprintln!("the scenario took {:?}", started.elapsed());
}

/// What a thief holding host-a's key and certificate (read from its state
/// folder) can do with them: read its own environment's users, and no
/// other's hashes; change nothing without a person's credential; report
/// only as host-a.
#[test]
fn a_stolen_host_certificate_is_confined_to_its_host() {
    use roster_fleet_agent::protocol::ops::{Credential, Op};
    use roster_fleet_agent::protocol::report::{ReportEntry, ReportKind};
    use roster_fleet_agent::{Client, Enrollment, HostKey, OpsRequest, ReportRequest};

    let Some(Setup { fleet, hosts }) =
        setup("fleet_network_stolen_certificate", &["host-a", "host-b"])
    else {
        return;
    };
    let (a, b) = (&hosts[0], &hosts[1]);
    fleet
        .roster()
        .add_environment(&Actor::Root, "staging")
        .unwrap();
    fleet.create_user("carol", "prod", Level::Write);
    fleet.create_user("stan", "staging", Level::Write);
    for (host, environment) in [(a, "prod"), (b, "staging")] {
        let (code, stdout, stderr) = join(host, &fleet, &fleet.join_token(environment));
        assert_eq!(code, 0, "{} joins: {stdout}{stderr}", host.name);
    }
    // host-b serves stan: his hash is in the fleet, in another environment.
    assert_eq!(b.login("stan", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));

    let fleet_dir = a.daemon_dir.join("db").join("fleet");
    let enrollment: Enrollment =
        serde_json::from_str(&std::fs::read_to_string(fleet_dir.join("enrollment.json")).unwrap())
            .unwrap();
    let key =
        HostKey::from_pem(std::fs::read_to_string(fleet_dir.join("host.key")).unwrap()).unwrap();
    let client = Client::new(&enrollment, &key).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Its own environment's state, with its users' hashes; nothing of
    // staging's users' credentials.
    let snapshot = runtime.block_on(client.snapshot()).unwrap().body;
    assert_eq!(snapshot.environment.name, "prod");
    let carol = snapshot.users.iter().find(|u| u.name == "carol").unwrap();
    assert!(carol.password.hash.is_some(), "host-a caches carol's hash");
    for user in snapshot.users.iter().filter(|u| u.name == "stan") {
        assert_eq!(
            user.password.hash, None,
            "stan's hash must not reach host-a"
        );
        assert!(user.keys.is_empty());
        assert_eq!(user.level, None);
    }

    // No change without a person's credential: a made-up token, and a
    // real user's password (not an admin's), are both refused.
    let ops = |credential: Credential, op: Op| {
        let request = OpsRequest {
            request_id: format!("stolen-cert-{}", now_us()),
            credential,
            op,
        };
        runtime.block_on(client.ops(&request))
    };
    let forged = ops(
        Credential::Token {
            token: "AAAAAAAAAAAAAAAA-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB".into(),
        },
        Op::SuspendUser {
            name: "stan".into(),
        },
    );
    assert!(forged.is_err(), "a forged token: {forged:?}");
    let not_admin = ops(
        Credential::Password {
            user: "carol".into(),
            password: PASSWORD.into(),
        },
        Op::SuspendUser {
            name: "stan".into(),
        },
    );
    assert!(not_admin.is_err(), "carol may not suspend: {not_admin:?}");
    let created = ops(
        Credential::Password {
            user: "carol".into(),
            password: PASSWORD.into(),
        },
        Op::CreateUser {
            name: "mallory".into(),
            display_name: None,
            role: Some("admin".into()),
            password: Some(PASSWORD.into()),
        },
    );
    assert!(created.is_err(), "carol may not create users: {created:?}");
    let mut roster = fleet.roster();
    assert_eq!(
        roster.show_user(&Actor::Root, "stan").unwrap().state,
        roster_core::model::UserState::Active
    );
    assert!(roster.show_user(&Actor::Root, "mallory").is_err());
    assert_eq!(b.login("stan", PASSWORD).0, (PAM_SUCCESS, PAM_SUCCESS));

    // Reports: as host-a, accepted; as host-b, refused.
    let entry = ReportEntry {
        at: now_us() / 1_000_000,
        kind: ReportKind::Audit,
        text: "a line from the thief".into(),
    };
    let as_other = runtime.block_on(client.report(&ReportRequest {
        host: "host-b".into(),
        entries: vec![entry.clone()],
    }));
    assert!(as_other.is_err(), "a report for host-b: {as_other:?}");
    let as_self = runtime.block_on(client.report(&ReportRequest {
        host: "host-a".into(),
        entries: vec![entry],
    }));
    assert!(as_self.is_ok(), "a report as host-a: {as_self:?}");
}
