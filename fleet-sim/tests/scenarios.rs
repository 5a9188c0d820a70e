//! Issue 18's scale scenarios against real controllers and the host
//! simulator: (a) 10,000 hosts take a suspension, (b) every controller
//! SIGKILLed and restarted, all hosts back with no full resync, (e) 8
//! writers for 10 s and every cache equal to the store, (f) a rolling
//! upgrade, controllers one protocol version ahead of the hosts, then
//! the hosts, no change lost.
//!
//! Figures are printed (run with `--nocapture`), never asserted: the
//! machine is shared. `ROSTER_SIM_HOSTS` (default 10,000) sizes (a) and
//! (b), `ROSTER_SIM_HOSTS_SMALL` (default 1,000) sizes (e) and (f).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Fleet, cache_equals, create_user, run_writers, scale_limits, store_users};
use roster_core::Actor;
use roster_core::level::Level;
use roster_fleet_agent::AgentConfig;
use roster_fleet_agent::protocol::{OLDEST_SERVED, PROTOCOL_VERSION};
use roster_fleet_sim::{CachedState, Sim, SimConfig, Spread, own_rss_kib};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One scenario at a time: each puts thousands of connections on the
/// machine's two CPUs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn hosts(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// `count` hosts enrolled through replica 0 and synced, speaking `protocol`.
fn connect(fleet: &Fleet, prefix: &str, count: usize, protocol: u32, agent: AgentConfig) -> Sim {
    let mut sim = Sim::new(SimConfig {
        agent,
        ..SimConfig::default()
    })
    .unwrap();
    let tokens = fleet.tokens("default", count);
    let before = own_rss_kib().unwrap();
    let enrolled = sim.enroll(fleet.join_requests(tokens, prefix)).unwrap();
    eprintln!(
        "{count} hosts enrolled through POST /v1/enroll in {:.1} s",
        enrolled.as_secs_f64()
    );
    sim.start_all(protocol).unwrap();
    let synced = sim
        .wait_all("a first sync", Duration::from_secs(300), |s| {
            s.first_synced.is_some()
        })
        .unwrap();
    let grown = own_rss_kib().unwrap().saturating_sub(before);
    eprintln!(
        "{count} hosts connected and synced (protocol {protocol}) in {:.1} s; simulator RSS +{grown} KiB ({} KiB a host)",
        synced.as_secs_f64(),
        grown / count as u64
    );
    sim
}

/// When each host got the entry of `name` in `state`, from `since`.
fn arrivals(sim: &Sim, name: &str, state: CachedState, since: Instant) -> Spread {
    Spread::of(
        sim.hosts()
            .map(|host| {
                host.with(|s| {
                    let user = s.user(name).unwrap();
                    assert_eq!(user.state, state);
                    user.arrived.saturating_duration_since(since)
                })
            })
            .collect(),
    )
    .unwrap()
}

fn full_resyncs(sim: &Sim) -> u32 {
    sim.hosts()
        .map(|host| host.with(|s| s.snapshots.saturating_sub(1)))
        .sum()
}

/// (a) then (b), on one fleet of `ROSTER_SIM_HOSTS` hosts (enrolling
/// 10,000 twice would double the time for nothing).
#[test]
fn scale_a_suspension_reaches_every_host_then_b_all_controllers_killed_and_every_host_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let Some(mut fleet) = Fleet::start("scale_ab", 2, &scale_limits()) else {
        return;
    };
    let count = hosts("ROSTER_SIM_HOSTS", 10_000);
    let mut roster = fleet.roster();
    create_user(&mut roster, "ann", "default", Level::Write);
    create_user(&mut roster, "bob", "default", Level::Write);
    let sim = connect(
        &fleet,
        "ab",
        count,
        PROTOCOL_VERSION,
        AgentConfig::default(),
    );
    assert!(
        sim.hosts()
            .all(|h| h.with(|s| s.user("ann").unwrap().state == CachedState::Active))
    );

    // (a) A suspension committed → applied on every host.
    let committed = Instant::now();
    roster.suspend_user(&Actor::Root, "ann").unwrap();
    let all = sim
        .wait_all("ann's suspension", Duration::from_secs(120), |s| {
            s.user("ann")
                .is_some_and(|u| u.state == CachedState::Suspended)
        })
        .unwrap();
    eprintln!(
        "(a) suspension → all {count} hosts within {:.2} s: {}",
        all.as_secs_f64(),
        arrivals(&sim, "ann", CachedState::Suspended, committed)
    );
    assert_eq!(full_resyncs(&sim), 0);

    // (b) Every controller SIGKILLed; a change committed while none
    // runs; restarted: every host back (it has the change) from its
    // cursor, none with a full resync.
    for replica in 0..fleet.replicas.len() {
        fleet.kill(replica);
    }
    std::thread::sleep(Duration::from_secs(1));
    roster.suspend_user(&Actor::Root, "bob").unwrap();
    let restarted = Instant::now();
    for replica in 0..fleet.replicas.len() {
        fleet.serve(replica);
    }
    let listening = restarted.elapsed();
    let failures_before: u32 = sim.hosts().map(|h| h.with(|s| s.failures)).sum();
    let back = sim
        .wait_all(
            "every host back with bob's suspension",
            Duration::from_secs(180),
            |s| {
                s.user("bob")
                    .is_some_and(|u| u.state == CachedState::Suspended)
            },
        )
        .unwrap();
    let resyncs = full_resyncs(&sim);
    let failures: u32 = sim.hosts().map(|h| h.with(|s| s.failures)).sum();
    eprintln!(
        "(b) all controllers SIGKILLed and restarted (listening again {:.1} s after the restart began) → all {count} hosts back in {:.1} s ({}), {resyncs} full resyncs, {} failed tries in all ({} after they listened)",
        listening.as_secs_f64(),
        (listening + back).as_secs_f64(),
        arrivals(&sim, "bob", CachedState::Suspended, restarted),
        failures,
        failures - failures_before
    );
    assert_eq!(
        resyncs, 0,
        "a restarted controller rebuilds its window from the store's change log: hosts' cursors stay valid"
    );
    // Nothing else changed on the way.
    let expected = store_users(&fleet.conninfo);
    assert!(sim.hosts().all(|h| h.with(|s| cache_equals(s, &expected))));
    eprintln!(
        "(a)+(b) took {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// (e) 8 writers for 10 s → every host's final cache equals the store.
#[test]
fn scale_e_eight_writers_for_ten_seconds_leave_every_cache_equal_to_the_store() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let Some(fleet) = Fleet::start("scale_e", 2, &scale_limits()) else {
        return;
    };
    let count = hosts("ROSTER_SIM_HOSTS_SMALL", 1_000);
    let mut sim = connect(&fleet, "e", count, PROTOCOL_VERSION, AgentConfig::default());
    let head = fleet.change_head();
    let commits = run_writers(&fleet.conninfo, "w", 8, Duration::from_secs(10));
    let expected = store_users(&fleet.conninfo);
    let converged = sim
        .wait_all(
            "a cache equal to the store",
            Duration::from_secs(120),
            |s| cache_equals(s, &expected),
        )
        .unwrap();
    eprintln!(
        "(e) 8 writers, {} commits ({} changes logged) in 10 s; every one of {count} caches equal to the store {:.2} s after they stopped",
        commits.iter().sum::<usize>(),
        fleet.change_head() - head,
        converged.as_secs_f64()
    );
    assert!(commits.iter().all(|&n| n > 0), "{commits:?}");
    assert_eq!(full_resyncs(&sim), 0);
    // Equal in every field too (hashes, keys, levels): each entry's
    // digest against a host that joins now and takes the store whole.
    sim.enroll(fleet.join_requests(fleet.tokens("default", 1), "e-fresh"))
        .unwrap();
    let fresh = sim.len() - 1;
    sim.start(fresh, PROTOCOL_VERSION).unwrap();
    sim.wait_all("the fresh host's sync", Duration::from_secs(60), |s| {
        cache_equals(s, &expected)
    })
    .unwrap();
    let reference: BTreeMap<u32, u64> = sim.agents()[fresh]
        .host
        .with(|s| s.users.iter().map(|(uid, u)| (*uid, u.digest)).collect());
    for host in sim.hosts() {
        let digests: BTreeMap<u32, u64> =
            host.with(|s| s.users.iter().map(|(uid, u)| (*uid, u.digest)).collect());
        assert_eq!(digests, reference);
    }
    eprintln!("(e) took {:.0} s in all", started.elapsed().as_secs_f64());
}

/// (f) A rolling upgrade under a stream of writes: hosts one protocol
/// version behind the controllers while each controller restarts in
/// turn (the controllers' upgrade), then the hosts restarted one by one
/// speaking the controllers' version on the caches they had. No host
/// loses a change: every cache ends equal to the store, every user
/// created on the way included, with no full resync.
#[test]
fn scale_f_a_rolling_upgrade_controllers_first_then_hosts_loses_no_change() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let Some(mut fleet) = Fleet::start("scale_f", 2, &scale_limits()) else {
        return;
    };
    let count = hosts("ROSTER_SIM_HOSTS_SMALL", 1_000);
    let older = OLDEST_SERVED;
    assert!(
        older < PROTOCOL_VERSION,
        "this build serves an older version"
    );
    let mut sim = connect(&fleet, "f", count, older, AgentConfig::default());
    let conninfo = fleet.conninfo.clone();
    let writes =
        std::thread::spawn(move || run_writers(&conninfo, "u", 2, Duration::from_secs(20)));

    // The controllers, one at a time: the other serves meanwhile.
    for replica in 0..fleet.replicas.len() {
        std::thread::sleep(Duration::from_secs(2));
        fleet.kill(replica);
        std::thread::sleep(Duration::from_secs(1));
        fleet.serve(replica);
    }
    // Then the hosts, one at a time, each on the cache it had.
    let upgrading = Instant::now();
    for index in 0..sim.len() {
        sim.stop(index);
        sim.start(index, PROTOCOL_VERSION).unwrap();
    }
    eprintln!(
        "(f) {count} hosts restarted speaking protocol {PROTOCOL_VERSION} (from {older}) in {:.1} s",
        upgrading.elapsed().as_secs_f64()
    );
    let commits: usize = writes.join().unwrap().iter().sum();
    let expected = store_users(&fleet.conninfo);
    let converged = sim
        .wait_all(
            "a cache equal to the store",
            Duration::from_secs(120),
            |s| cache_equals(s, &expected),
        )
        .unwrap();
    eprintln!(
        "(f) {commits} commits during the upgrade; every cache equal to the store {:.2} s after the last",
        converged.as_secs_f64()
    );
    assert!(
        sim.agents()
            .iter()
            .all(|a| a.protocol() == Some(PROTOCOL_VERSION))
    );
    assert_eq!(full_resyncs(&sim), 0, "no host fell back to a full resync");
    for host in sim.hosts() {
        host.with(|s| {
            assert!(
                !s.last_failure
                    .as_deref()
                    .is_some_and(|f| f.contains("protocol")),
                "{:?}",
                s.last_failure
            );
        });
    }
    eprintln!("(f) took {:.0} s in all", started.elapsed().as_secs_f64());
}

/// The failure cases beside the scenarios: an agent speaking a version
/// this build doesn't (newer, or older than any controller of it
/// serves) can't be started, and a used join token is refused by the
/// real endpoint.
#[test]
fn only_known_versions_are_spoken_and_a_used_token_is_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(fleet) = Fleet::start("scale_newer", 1, &scale_limits()) else {
        return;
    };
    let mut sim = Sim::new(SimConfig::default()).unwrap();
    sim.enroll(fleet.join_requests(fleet.tokens("default", 1), "n"))
        .unwrap();
    assert!(sim.start(0, PROTOCOL_VERSION + 1).is_err());
    assert!(sim.start(0, 0).is_err());
    sim.start(0, PROTOCOL_VERSION).unwrap();
    sim.wait_all("a first sync", Duration::from_secs(60), |s| {
        s.first_synced.is_some()
    })
    .unwrap();
    // A used token is refused: enrollment is the real endpoint's.
    let again = fleet.join_requests(fleet.tokens("default", 1), "again");
    let used = again.clone();
    sim.enroll(again).unwrap();
    let error = sim.enroll(used).unwrap_err();
    assert!(
        error.to_string().contains("1 of 1 enrollments failed"),
        "{error}"
    );
}
