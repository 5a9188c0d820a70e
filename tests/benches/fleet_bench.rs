//! Fleet hosts' figures (issue 17, "Performance"), side by side in one
//! run (a measurement, never a test):
//!
//! 1. a change committed at the controller → applied on every real host
//!    (three hosts, each its own dbus-daemon and rosterd in fleet mode on
//!    its own database, joined with `roster hosts join` to one
//!    controller on loopback);
//! 2. the full sync of a 100,000-user environment on a fourth host
//!    (`roster hosts join`, answered once NSS shows it), its split, a
//!    forced resync, and a change applied on that host afterwards;
//! 3. a login (PAM auth + account through the test driver, default
//!    argon2 cost) on a fleet host against a standalone host's, and on
//!    the fleet host with its controller down.
//!
//! Run through `scripts/bench-fleet.sh` (release builds; a private
//! PostgreSQL 15 like the tests'). Knobs: `ROSTER_BENCH_CHANGES`
//! (default 50, at most 50: the fleet's uid block), `ROSTER_BENCH_LOGINS`
//! (per side, default 200), `ROSTER_BENCH_USERS` (default 100000).
//!
//! "Applied" on a host is read where the host's own readers read it, by
//! this process, polling every 2 ms without a process per look: a created
//! user when the host's NSS snapshot lists it *and* its cache holds its
//! password hash (what a login there needs: the create and the grant, two
//! commits, have both arrived and NSS was rewritten); a suspension when
//! the host's cache (the SQLite database rosterd's account check reads)
//! says `suspended` (NSS carries no state).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/fleet_common/mod.rs"]
mod fleet_common;
#[path = "../tests/pam_common/mod.rs"]
mod pam_common;

use fleet_common::{Fleet, PASSWORD, text};
use pam_common::{PAM_SUCCESS, World};
use roster_core::clock::SystemClock;
use roster_core::flows::PasswordRequest;
use roster_core::level::Level;
use roster_core::model::{NewUser, Role, UserChanges};
use roster_core::store::Backend;
use roster_core::{Actor, Roster, Secret};
use roster_store_postgres::PgStore;
use roster_tests::TestConfig;
use rusqlite::{OpenFlags, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one change may take to reach a host before it counts as
/// never applied (far past the 5 s bar).
const GIVE_UP: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(2);

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A rosterd.toml with rosterd's own argon2 defaults (the harness makes
/// them cheap): a login costs what it costs on a real host.
fn real_cost(config: TestConfig) -> TestConfig {
    config
        .unset("argon2.memory_kib")
        .unset("argon2.iterations")
        .unset("argon2.parallelism")
}

fn fleet_host() -> World {
    World::start_with(real_cost(TestConfig::new().fleet_host()))
}

fn join(world: &World, fleet: &Fleet, environment: &str, name: &str) -> Duration {
    let token = fleet.join_token(environment);
    let run = world
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
        ])
        .stdin(&format!("{token}\n"))
        .run()
        .expect_ok();
    run.elapsed
}

/// Core's rules on the controller's store, hashing with `argon2`.
fn roster_on(fleet: &Fleet, argon2: roster_core::config::Argon2Config) -> Roster {
    let config = roster_core::Config {
        uid_min: fleet.uid_min,
        uid_max: fleet.uid_max,
        argon2,
        ..Default::default()
    };
    Roster::with_backend(
        config,
        Arc::new(SystemClock),
        Box::new(PgStore::open(&fleet.conninfo).unwrap()) as Box<dyn Backend>,
    )
    .unwrap()
}

fn cheap_argon2() -> roster_core::config::Argon2Config {
    roster_core::config::Argon2Config {
        memory_kib: 64,
        iterations: 1,
        ..Default::default()
    }
}

/// A user-role user with [`PASSWORD`] and `write` in `environment`: the
/// hash made first, then `before_commit` (the clock starts), then the
/// create and the grant (two commits, as an admin's two commands).
fn create_user(roster: &mut Roster, name: &str, environment: &str, before_commit: impl FnOnce()) {
    let hasher = roster_core::password::Hasher::new(&roster.config().argon2).unwrap();
    let request = PasswordRequest::create(
        NewUser {
            name: name.into(),
            display_name: None,
            role: Some(Role::User),
            home: None,
            shell: None,
        },
        Secret::new(PASSWORD),
    )
    .unwrap();
    let plan = roster.plan_password_change(&Actor::Root, request).unwrap();
    let phc = plan
        .password_to_hash(false)
        .unwrap()
        .map(|new| hasher.hash(&new).unwrap());
    before_commit();
    roster
        .commit_password_change(&Actor::Root, plan, false, phc)
        .unwrap();
    roster
        .grant(&Actor::Root, name, Some(environment), Level::Write)
        .unwrap();
}

/// What this process reads of one host: its NSS snapshot file and its
/// SQLite cache (read-only; WAL readers never block rosterd's writes).
struct Watch {
    nss: PathBuf,
    db: rusqlite::Connection,
    /// The snapshot last read: its (inode, size, mtime) and bytes.
    seen: Option<((u64, u64, i64), Vec<u8>)>,
}

impl Watch {
    fn of(world: &World) -> Watch {
        Watch::at(
            &world.daemon.nss_cache_path(),
            &world.daemon.database_path(),
        )
    }

    fn at(nss: &Path, database: &Path) -> Watch {
        let db = rusqlite::Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        Watch {
            nss: nss.to_path_buf(),
            db,
            seen: None,
        }
    }

    /// The snapshot's bytes, read again only when the file was replaced.
    fn snapshot(&mut self) -> Option<&[u8]> {
        let meta = std::fs::metadata(&self.nss).ok()?;
        let key = (meta.ino(), meta.size(), meta.mtime_nsec());
        if self.seen.as_ref().is_none_or(|(k, _)| *k != key) {
            let bytes = std::fs::read(&self.nss).ok()?;
            self.seen = Some((key, bytes));
        }
        self.seen.as_ref().map(|(_, bytes)| bytes.as_slice())
    }

    fn nss_inode(&self) -> Option<u64> {
        std::fs::metadata(&self.nss).ok().map(|m| m.ino())
    }

    fn nss_gecos(&mut self, name: &str) -> Option<String> {
        let bytes = self.snapshot()?;
        let snapshot = roster_snapshot::Snapshot::parse(bytes).ok()?;
        let user = snapshot.user_by_name(name.as_bytes())?;
        Some(String::from_utf8_lossy(user.gecos()).into_owned())
    }

    fn nss_users(&mut self) -> usize {
        self.snapshot()
            .and_then(|bytes| roster_snapshot::Snapshot::parse(bytes).ok())
            .map_or(0, |s| s.user_count())
    }

    /// The cached user's (state, has a hash, display name).
    fn cached(&self, name: &str) -> Option<(String, bool, String)> {
        self.db
            .query_row(
                "SELECT state, password_hash IS NOT NULL, display_name FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .ok()
            .flatten()
    }

    fn epoch(&self) -> Option<String> {
        self.db
            .query_row("SELECT epoch FROM fleet_state WHERE one = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
    }
}

#[derive(Clone, Copy)]
enum Change {
    Create,
    Suspend,
}

/// Polls every host until `applied` holds on each: each host's delay
/// from `t0` (None: not within [`GIVE_UP`]).
fn until_applied(
    watches: &mut [Watch],
    t0: Instant,
    mut applied: impl FnMut(&mut Watch) -> bool,
) -> Vec<Option<Duration>> {
    let mut seen: Vec<Option<Duration>> = vec![None; watches.len()];
    while seen.iter().any(Option::is_none) && t0.elapsed() < GIVE_UP {
        for (watch, when) in watches.iter_mut().zip(seen.iter_mut()) {
            if when.is_none() && applied(watch) {
                *when = Some(t0.elapsed());
            }
        }
        std::thread::sleep(POLL);
    }
    seen
}

/// A pause of 50–250 ms between changes, drawn from the clock.
fn pause() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(50 + u64::from(nanos % 200)));
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

struct LoginFigures {
    auth_acct_ms: Vec<f64>,
    wall_ms: Vec<f64>,
}

impl LoginFigures {
    fn new() -> LoginFigures {
        LoginFigures {
            auth_acct_ms: Vec::new(),
            wall_ms: Vec::new(),
        }
    }

    /// One login of `user` on `world`: both steps must succeed.
    fn login(&mut self, world: &World, user: &str) {
        let out = world
            .pam(user)
            .steps(&["auth", "acct"])
            .answers(&[PASSWORD])
            .run();
        assert_eq!(
            (out.code("auth"), out.code("acct")),
            (PAM_SUCCESS, PAM_SUCCESS),
            "{user}'s login: {out:?}"
        );
        self.auth_acct_ms
            .push(out.step("auth").ms + out.step("acct").ms);
        self.wall_ms.push(out.elapsed.as_secs_f64() * 1e3);
    }

    fn summary(&self) -> String {
        let steps = sorted(self.auth_acct_ms.clone());
        let wall = sorted(self.wall_ms.clone());
        format!(
            "median {:.1} ms, p99 {:.1} ms (driver process: median {:.1} ms)",
            pct(&steps, 0.5),
            pct(&steps, 0.99),
            pct(&wall, 0.5)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let changes = knob("ROSTER_BENCH_CHANGES", 50).min(50);
    let logins = knob("ROSTER_BENCH_LOGINS", 200);
    let bulk = knob("ROSTER_BENCH_USERS", 100_000);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());

    // The controller as shipped paces its long polls (25 s, not the
    // tests' 1 s): heartbeats don't load the hosts.
    let mut fleet =
        Fleet::start("fleet_bench").expect("a PostgreSQL 15 to start (postgresql-15, run as root)");
    fleet.kill();
    let config = std::fs::read_to_string(fleet.config()).unwrap();
    std::fs::write(
        fleet.config(),
        config.replace("long_poll = \"1s\"", "long_poll = \"25s\""),
    )
    .unwrap();
    fleet.serve();
    let mut cheap = roster_on(&fleet, cheap_argon2());
    let mut real = roster_on(&fleet, roster_core::config::Argon2Config::default());

    // ---- 1. commit → applied on three real hosts
    eprintln!("==> three hosts join");
    let hosts: Vec<World> = (0..3).map(|_| fleet_host()).collect();
    let mut small_joins = Vec::new();
    for (n, host) in hosts.iter().enumerate() {
        small_joins.push(join(host, &fleet, "prod", &format!("host-{n}")));
    }
    let mut watches: Vec<Watch> = hosts.iter().map(Watch::of).collect();
    let mut plan = Vec::new();
    let creates = changes.div_ceil(2);
    for n in 0..creates {
        plan.push((Change::Create, n));
        if n > 0 && plan.len() < changes {
            plan.push((Change::Suspend, n - 1));
        }
    }
    if plan.len() < changes {
        plan.push((Change::Suspend, creates - 1));
    }
    eprintln!("==> {} changes at the controller", plan.len());
    let mut delays: Vec<f64> = Vec::new();
    let mut lost = 0;
    let mut slowest_host = vec![0usize; hosts.len()];
    for (change, n) in &plan {
        let name = format!("fleet{n}");
        let mut t0 = Instant::now();
        let seen = match change {
            Change::Create => {
                create_user(&mut cheap, &name, "prod", || t0 = Instant::now());
                until_applied(&mut watches, t0, |w| {
                    w.cached(&name).is_some_and(|(_, hash, _)| hash) && w.nss_gecos(&name).is_some()
                })
            }
            Change::Suspend => {
                cheap.suspend_user(&Actor::Root, &name).unwrap();
                until_applied(&mut watches, t0, |w| {
                    w.cached(&name)
                        .is_some_and(|(state, _, _)| state == "suspended")
                })
            }
        };
        let mut last = Duration::ZERO;
        let mut last_host = 0;
        for (host, when) in seen.iter().enumerate() {
            match when {
                Some(d) => {
                    if *d >= last {
                        last = *d;
                        last_host = host;
                    }
                }
                None => lost += 1,
            }
        }
        slowest_host[last_host] += 1;
        // The figure: when the last of the three hosts had it.
        delays.push(ms(if seen.iter().any(Option::is_none) {
            GIVE_UP
        } else {
            last
        }));
        pause();
    }
    let applied = sorted(delays.clone());

    // ---- 3. logins: fleet host vs standalone host, same cost, interleaved
    eprintln!("==> logins: {logins} on a fleet host, {logins} on a standalone host");
    create_user(&mut real, "flogin", "prod", || {});
    let fleet_login_host = &hosts[0];
    let mut watch = Watch::of(fleet_login_host);
    let arrived = until_applied(std::slice::from_mut(&mut watch), Instant::now(), |w| {
        w.cached("flogin").is_some_and(|(_, hash, _)| hash) && w.nss_gecos("flogin").is_some()
    });
    assert!(arrived[0].is_some(), "flogin never reached host-0");
    let standalone = World::start_with(real_cost(TestConfig::new()));
    standalone.user("solo", PASSWORD, Some("write"));
    let mut on_fleet = LoginFigures::new();
    let mut on_standalone = LoginFigures::new();
    // Warm both (the driver's first exec, page cache).
    LoginFigures::new().login(fleet_login_host, "flogin");
    LoginFigures::new().login(&standalone, "solo");
    for round in 0..logins {
        if round % 2 == 0 {
            on_fleet.login(fleet_login_host, "flogin");
            on_standalone.login(&standalone, "solo");
        } else {
            on_standalone.login(&standalone, "solo");
            on_fleet.login(fleet_login_host, "flogin");
        }
    }
    // The controller gone: the same logins, from the cache alone.
    let offline_logins = (logins / 4).max(10);
    fleet.kill();
    let mut offline = LoginFigures::new();
    for _ in 0..offline_logins {
        offline.login(fleet_login_host, "flogin");
    }
    fleet.serve();

    // ---- 2. a 100,000-user environment's full sync on a fourth host
    eprintln!("==> {bulk} users with minimal hashes, straight into PostgreSQL");
    cheap.add_environment(&Actor::Root, "bulk").unwrap();
    let mut db = roster_store_postgres::test_server::connect(&fleet.conninfo);
    let loaded = Instant::now();
    db.batch_execute(&format!(
        "SET session_replication_role = replica;
         INSERT INTO users (uid, name, display_name, role, state, home, shell, created, password_hash, password_changed)
           SELECT 1880000000 + n, 'user' || n, 'User ' || n, 'user', 'active', '/home/user' || n, '/bin/bash', 1800000000,
                  '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$' || md5(n::text), 1800000000
           FROM generate_series(1, {bulk}) AS n;
         INSERT INTO grants (uid, environment, level) SELECT 1880000000 + n, 'bulk', 'write' FROM generate_series(1, {bulk}) AS n;
         SET session_replication_role = origin;"
    ))
    .unwrap();
    eprintln!("    loaded in {:.1} s", loaded.elapsed().as_secs_f64());
    let big = fleet_host();
    let mut big_watch = Watch::of(&big);
    eprintln!("==> the fourth host joins environment bulk");
    // Watched from another thread while `roster hosts join` runs.
    let (nss_path, db_path) = (big.daemon.nss_cache_path(), big.daemon.database_path());
    let started = Instant::now();
    let watcher = std::thread::spawn(move || {
        let mut w = Watch::at(&nss_path, &db_path);
        let (mut in_sqlite, mut in_nss) = (None, None);
        while (in_sqlite.is_none() || in_nss.is_none()) && started.elapsed() < GIVE_UP * 2 {
            if in_sqlite.is_none() && w.epoch().is_some() {
                in_sqlite = Some(started.elapsed());
            }
            if in_nss.is_none() && w.nss_users() >= bulk {
                in_nss = Some(started.elapsed());
            }
            std::thread::sleep(POLL);
        }
        (in_sqlite, in_nss)
    });
    let big_join = join(&big, &fleet, "bulk", "host-bulk");
    let (in_sqlite, in_nss) = watcher.join().unwrap();
    let cached_users = big_watch.nss_users();
    assert!(
        cached_users >= bulk,
        "the host's NSS shows {cached_users} users, fewer than the {bulk} loaded"
    );

    // The controller's part alone, with the host's own certificate:
    // served from its cache, then built afresh (a policy change voids it).
    let fetch_cached = fetch_snapshot(&fleet, &big);
    let set = fleet.command(&["environments", "set", "bulk", "offline_grace=2d"]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    let fetch_built = fetch_snapshot(&fleet, &big);

    // A change on the host that holds 100,000 users.
    eprintln!("==> 10 changes applied on the 100,000-user host");
    let mut big_delays = Vec::new();
    let mut big_sqlite = Vec::new();
    for n in 1..=10 {
        let name = format!("user{n}");
        let gecos = format!("Renamed {n}");
        let t0 = Instant::now();
        cheap
            .edit_user(
                &Actor::Root,
                &name,
                UserChanges {
                    display_name: Some(gecos.clone()),
                    ..UserChanges::default()
                },
            )
            .unwrap();
        let mut in_db = None;
        let seen = until_applied(std::slice::from_mut(&mut big_watch), t0, |w| {
            if in_db.is_none() && w.cached(&name).is_some_and(|(_, _, d)| d == gecos) {
                in_db = Some(t0.elapsed());
            }
            w.nss_gecos(&name).as_deref() == Some(gecos.as_str())
        });
        big_delays.push(ms(seen[0].unwrap_or(GIVE_UP)));
        big_sqlite.push(ms(in_db.unwrap_or(GIVE_UP)));
        pause();
    }
    let big_delays = sorted(big_delays);
    let big_sqlite = sorted(big_sqlite);

    // A forced resync: rosterd stopped, its cache told another epoch,
    // started again: its first long poll gets 410 and the full state.
    eprintln!("==> a forced resync of the 100,000-user host");
    let mut big = big;
    let real_epoch = big_watch.epoch().unwrap();
    drop(big_watch);
    big.daemon.stop();
    {
        let db = rusqlite::Connection::open(big.daemon.database_path()).unwrap();
        db.execute(
            "UPDATE fleet_state SET epoch = 'bench-stale' WHERE one = 1",
            [],
        )
        .unwrap();
    }
    let restarted = Instant::now();
    big.daemon.restart();
    let started_in = restarted.elapsed();
    let mut big_watch = Watch::of(&big);
    // The snapshot rosterd wrote at its start; the resync writes another.
    let at_start = big_watch.nss_inode();
    let back = until_applied(std::slice::from_mut(&mut big_watch), restarted, |w| {
        w.epoch().as_deref() == Some(real_epoch.as_str())
    });
    let rewritten = until_applied(std::slice::from_mut(&mut big_watch), restarted, |w| {
        w.nss_inode() != at_start
    });

    // ---- the table
    let p = |v: &[f64], q| pct(v, q);
    println!();
    println!(
        "Fleet host figures ({cpus} CPUs; PostgreSQL (fsync off, as in the tests), the controller, \
         {} rosterd hosts, a standalone rosterd and the bench on one box)",
        hosts.len() + 1
    );
    println!("| what | figure | bar |");
    println!("|---|---|---|");
    println!(
        "| committed at the controller → applied on all 3 hosts ({} changes: {} creates, {} suspensions; slowest host per change: {:?}{}) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms | p99 ≤ 1 s, max ≤ 5 s |",
        plan.len(),
        plan.iter()
            .filter(|(c, _)| matches!(c, Change::Create))
            .count(),
        plan.iter()
            .filter(|(c, _)| matches!(c, Change::Suspend))
            .count(),
        slowest_host,
        if lost > 0 {
            format!("; {lost} never applied within {GIVE_UP:?}")
        } else {
            String::new()
        },
        p(&applied, 0.5),
        p(&applied, 0.99),
        p(&applied, 1.0)
    );
    println!(
        "| `roster hosts join` of an environment of {} users (three hosts; enrollment + first sync) | {} | — |",
        3,
        small_joins
            .iter()
            .map(|d| format!("{:.0} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| full sync of {bulk} users: `roster hosts join` until it answers (NSS shows them) | {:.2} s (fleet state in SQLite at {}, NSS snapshot of {cached_users} users at {}) | ≤ 10 s |",
        big_join.as_secs_f64(),
        secs(in_sqlite),
        secs(in_nss),
    );
    println!(
        "| … the controller's part alone: GET /v1/snapshot with the host's certificate | built afresh {}; from its cache {} | — |",
        fetch_built, fetch_cached
    );
    println!(
        "| forced resync of {bulk} users (rosterd restarted on another epoch → 410 → full state) | rosterd up in {:.2} s; state swapped in SQLite {} after the restart began; NSS rewritten {} | ≤ 10 s |",
        started_in.as_secs_f64(),
        secs(back[0]),
        secs(rewritten[0]),
    );
    println!(
        "| committed → applied on the host holding {bulk} users (10 display-name edits) | in SQLite: p50 {:.0} ms, max {:.0} ms; in NSS: p50 {:.0} ms, max {:.0} ms | p99 ≤ 1 s, max ≤ 5 s |",
        p(&big_sqlite, 0.5),
        p(&big_sqlite, 1.0),
        p(&big_delays, 0.5),
        p(&big_delays, 1.0),
    );
    println!(
        "| login (PAM auth + account, default argon2 m=19456 KiB t=2), {logins} interleaved each: fleet host | {} | equal within noise |",
        on_fleet.summary()
    );
    println!(
        "| … standalone host, same run | {} | |",
        on_standalone.summary()
    );
    println!(
        "| … fleet host with its controller killed ({offline_logins} logins, from the cache) | {} | |",
        offline.summary()
    );
    drop(fleet);
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// `GET /v1/snapshot` with `host`'s certificate and key (curl): its
/// time and size, or why not.
fn fetch_snapshot(fleet: &Fleet, host: &World) -> String {
    let state = host.daemon.database_path().parent().unwrap().join("fleet");
    let enrollment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("enrollment.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&cert, enrollment["certificate_pem"].as_str().unwrap_or("")).unwrap();
    std::fs::write(&ca, enrollment["ca_bundle_pem"].as_str().unwrap_or("")).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total} %{size_download}",
        ])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(state.join("host.key"))
        .arg("--cacert")
        .arg(&ca)
        .args(["-H", &format!("{}: 1", roster_fleet_protocol_header())])
        .arg(format!("{}/v1/snapshot", fleet.url))
        .output();
    let Ok(out) = out else {
        return "n/a (no curl)".into();
    };
    let said = text(&out.stdout);
    let fields: Vec<&str> = said.split_whitespace().collect();
    match fields.as_slice() {
        ["200", time, size] => format!(
            "{:.2} s, {:.1} MiB",
            time.parse::<f64>().unwrap_or(f64::NAN),
            size.parse::<f64>().unwrap_or(f64::NAN) / (1024.0 * 1024.0)
        ),
        _ => format!("n/a ({} {})", said.trim(), text(&out.stderr).trim()),
    }
}

/// The protocol header's name (fleet-protocol's `PROTOCOL_HEADER`; this
/// crate doesn't link fleet-protocol).
fn roster_fleet_protocol_header() -> &'static str {
    "roster-protocol"
}
