//! Issue 18's performance figures from one run (scripts/bench-fleet-scale.sh):
//! one controller process and the host simulator sharing the machine,
//! N hosts (`ROSTER_BENCH_HOSTS`, default 10,000):
//!
//! - enrollment of every host through `POST /v1/enroll`;
//! - all hosts connected (first sync applied) — bar ≤ 20 s;
//! - a suspension committed → applied on every host: p50/p99/max — bars
//!   p99 ≤ 1 s, max ≤ 5 s;
//! - the controller SIGKILLed and restarted: all hosts back (holding a
//!   change committed while it was down) — bar ≤ 30 s, with 0 full resyncs;
//! - the controller's RSS per connected host (VmRSS minus its idle RSS) —
//!   bar ≤ 64 KiB; the simulator's RSS per agent.
//!
//! Printed with the load average: the machine is shared.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{Fleet, create_user, scale_limits};
use roster_core::Actor;
use roster_core::level::Level;
use roster_fleet_agent::AgentConfig;
use roster_fleet_agent::protocol::PROTOCOL_VERSION;
use roster_fleet_sim::{CachedState, Sim, SimConfig, Spread, load_average, own_rss_kib, rss_kib};
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let count: usize = std::env::var("ROSTER_BENCH_HOSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let load_before = load_average();
    let Some(mut fleet) = Fleet::start("bench_scale", 1, &scale_limits()) else {
        eprintln!("no PostgreSQL 15: nothing measured");
        return;
    };
    let mut roster = fleet.roster();
    create_user(&mut roster, "ann", "default", Level::Write);
    create_user(&mut roster, "bob", "default", Level::Write);
    // Let the controller settle (its feed read, its allocator warm).
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(fleet.pid(0)).unwrap();

    // The product's pacing (rosterd's), unless ROSTER_BENCH_BACKOFF_MAX
    // (seconds) caps the retries' backoff lower.
    let mut agent = AgentConfig::default();
    if let Some(max) = std::env::var("ROSTER_BENCH_BACKOFF_MAX")
        .ok()
        .and_then(|secs| secs.parse().ok())
    {
        agent.backoff_max = Duration::from_secs(max);
    }
    let mut sim = Sim::new(SimConfig {
        agent: agent.clone(),
        ..SimConfig::default()
    })
    .unwrap();
    let tokens = fleet.tokens("default", count);
    let sim_before = own_rss_kib().unwrap();
    let enrolled = sim.enroll(fleet.join_requests(tokens, "bench")).unwrap();

    let started = Instant::now();
    sim.start_all(PROTOCOL_VERSION).unwrap();
    let connected = sim
        .wait_all("a first sync", Duration::from_secs(600), |s| {
            s.first_synced.is_some()
        })
        .unwrap();
    // Every host's long poll is in: the controller holds them all now.
    std::thread::sleep(Duration::from_secs(3));
    let controller_rss = rss_kib(fleet.pid(0)).unwrap();
    let sim_rss = own_rss_kib().unwrap();

    let committed = Instant::now();
    roster.suspend_user(&Actor::Root, "ann").unwrap();
    sim.wait_all("the suspension", Duration::from_secs(300), |s| {
        s.user("ann")
            .is_some_and(|u| u.state == CachedState::Suspended)
    })
    .unwrap();
    let suspension = spread(&sim, "ann", committed);

    fleet.kill(0);
    std::thread::sleep(Duration::from_secs(1));
    roster.suspend_user(&Actor::Root, "bob").unwrap();
    let restarted = Instant::now();
    fleet.serve(0);
    let listening = restarted.elapsed();
    let back = sim
        .wait_all("every host back", Duration::from_secs(600), |s| {
            s.user("bob")
                .is_some_and(|u| u.state == CachedState::Suspended)
        })
        .unwrap()
        + listening;
    let back_spread = spread(&sim, "bob", restarted);
    let failures: u32 = sim.hosts().map(|h| h.with(|s| s.failures)).sum();
    let resyncs: u32 = sim
        .hosts()
        .map(|h| h.with(|s| s.snapshots.saturating_sub(1)))
        .sum();
    let load_after = load_average();

    let per_host = controller_rss.saturating_sub(idle) as f64 / count as f64;
    let per_agent = sim_rss.saturating_sub(sim_before) as f64 / count as f64;
    let ms = |d: Duration| d.as_millis();
    println!();
    println!("fleet at scale: {count} simulated hosts, one controller, 2 CPUs shared");
    println!(
        "agents: backoff {:?} → {:?} (full jitter), protocol {PROTOCOL_VERSION}; controller [limits] {}",
        agent.backoff_min,
        agent.backoff_max,
        scale_limits().replace('\n', " ")
    );
    println!("load average before: {load_before}; after: {load_after}");
    println!("| what | figure | bar |");
    println!("|---|---|---|");
    println!(
        "| enrollment of {count} hosts (POST /v1/enroll, P-256 keys, 32 at once) | {:.1} s | — |",
        enrolled.as_secs_f64()
    );
    println!(
        "| {count} hosts connected (first sync applied) | {:.1} s | ≤ 20 s |",
        connected.as_secs_f64()
    );
    println!(
        "| suspension → all hosts | p50 {} ms, p99 {} ms, max {} ms | p99 ≤ 1 s, max ≤ 5 s |",
        ms(suspension.p50),
        ms(suspension.p99),
        ms(suspension.max)
    );
    println!(
        "| controller SIGKILL + restart → all back | {:.1} s (p50 {} ms, p99 {} ms) | ≤ 30 s |",
        back.as_secs_f64(),
        ms(back_spread.p50),
        ms(back_spread.p99)
    );
    println!(
        "| … of which the controller's own start (until it listens) | {:.1} s | — |",
        listening.as_secs_f64()
    );
    println!("| full resyncs after the restart | {resyncs} | 0 |");
    println!("| agents' failed tries in all (the outage and the storm) | {failures} | — |");
    println!(
        "| controller RSS per connected host | {per_host:.1} KiB ({controller_rss} KiB − {idle} KiB idle) | ≤ 64 KiB |"
    );
    println!("| simulator RSS per agent | {per_agent:.1} KiB | — |");
    println!(
        "| elapsed since the first connection | {:.0} s | — |",
        started.elapsed().as_secs_f64()
    );
}

fn spread(sim: &Sim, name: &str, since: Instant) -> Spread {
    Spread::of(
        sim.hosts()
            .map(|h| {
                h.with(|s| {
                    s.user(name)
                        .unwrap()
                        .arrived
                        .saturating_duration_since(since)
                })
            })
            .collect(),
    )
    .unwrap()
}
