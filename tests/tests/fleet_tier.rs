//! The admin's CLI on an enrolled host while the store fails over (the
//! real HA tier: 3 etcd, 3 Patroni-managed PostgreSQL 15), with real parts
//! (a real `roster-controller`, a host with its own dbus-daemon and
//! rosterd, PAM through the driver): a change made while the PostgreSQL
//! leader is SIGKILLed prints "store failing over, retrying", waits, and
//! lands (once); logins on the host keep working throughout, from its
//! cache. The scenarios with many writers and hosts are in
//! fleet-agent/tests/fleet_tier.rs.

mod fleet_common;
mod pam_common;

use fleet_common::{Fleet, FleetOptions, PASSWORD};
use pam_common::{PAM_SUCCESS, World};
use roster_core::level::Level;
use roster_store_postgres::test_tier::TestTier;
use roster_tests::TestConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn a_change_during_the_failover_says_so_waits_and_lands_while_logins_go_on() {
    let started = Instant::now();
    let Some(tier) = TestTier::start() else {
        return;
    };
    let Some(fleet) = Fleet::start_with(
        "tier_cli",
        FleetOptions {
            conninfo: Some(tier.conninfo_for("tier_cli")),
            ..FleetOptions::default()
        },
    ) else {
        return;
    };
    fleet.create_user("carol", "prod", Level::Write);
    let host = Arc::new(World::start_with(TestConfig::new().fleet_host()));
    fleet_common::join_host(&host.daemon, &fleet, &fleet.join_token("prod"), "host-a").expect_ok();
    let logs_in = |host: &World| {
        host.pam("carol")
            .steps(&["auth", "acct"])
            .answers(&[PASSWORD])
            .run()
            .codes()
            == vec![PAM_SUCCESS; 2]
    };
    fleet_common::eventually("carol's login on host-a", Duration::from_secs(30), || {
        logs_in(&host)
    });
    let runtime = tempfile::tempdir().unwrap();
    let roster = |args: &[&str], stdin: &str| {
        host.daemon
            .roster(args)
            .env("XDG_RUNTIME_DIR", runtime.path().to_str().unwrap())
            .stdin(stdin)
            .run()
    };
    roster(
        &["login", "root-admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .expect_ok();

    // Logins on the host, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let logins = {
        let (host, stop, ok, failed) = (
            Arc::clone(&host),
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let counter = if logs_in(&host) { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let killed = tier.kill_leader();
    let killed_at = Instant::now();
    let create = roster(&["users", "create", "dave", "--register"], "");
    let took = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    logins.join().unwrap();
    eprintln!(
        "PostgreSQL leader (node {killed}) SIGKILLed; `roster users create` answered after {took:?}; \
         logins meanwhile: {} succeeded, {} failed",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    let create = create.expect_ok();
    assert!(
        create.stderr.contains("store failing over, retrying"),
        "the CLI says why it waits: {create:?}"
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "logins failed during the failover"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
    // The change landed once.
    let dave = fleet.roster().user_by_name("dave").unwrap();
    assert!(dave.is_some(), "dave was created");
    // A second create of the same name is refused by the rules, not lost.
    let again = roster(&["users", "create", "dave", "--register"], "");
    assert!(!again.success(), "{again:?}");
    eprintln!("the CLI failover test took {:?}", started.elapsed());
}
