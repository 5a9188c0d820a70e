//! Pruning the change log (src/fleet/retention.rs) against a real
//! PostgreSQL 15: the floors feeds publish, the prefix that goes (below
//! the lowest floor and before the cut-off, never leaving a hole), and
//! one pruner at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_store_postgres::PgStore;
use roster_store_postgres::test_server::{TestServer, connect};
use std::time::{Duration, Instant};

/// The advisory lock `prune_changes` takes (0x726f_7374_6572_0002).
const PRUNE_LOCK: i64 = 8_245_936_386_494_038_018;

const NOW: i64 = 1_800_000_000;

/// A user row written by hand in a transaction whose change rows carry
/// `at`: one change-log row.
fn change_at(client: &mut postgres::Client, uid: u32, at: i64) {
    client
        .batch_execute(&format!(
            "BEGIN;
             SET LOCAL roster.change_time = '{at}';
             INSERT INTO users (uid, name, display_name, role, state, home, shell, created)
               VALUES ({uid}, 'u{uid}', '', 'user', 'active', '/home/u{uid}', '/bin/sh', {NOW});
             COMMIT;"
        ))
        .unwrap();
}

fn oldest(store: &mut PgStore) -> Option<i64> {
    store.fleet_read(|tx| tx.oldest_change()).unwrap()
}

#[test]
fn the_log_is_pruned_as_a_prefix_below_the_lowest_floor_one_pruner_at_a_time() {
    let Some(conninfo) = TestServer::shared().map(|server| server.conninfo_for("prune")) else {
        return;
    };
    let mut store = PgStore::open(&conninfo).unwrap();
    let mut client = connect(&conninfo);
    // seq 1..=6 old (at 101..=106), seq 7 and 8 recent.
    for i in 1..=6u32 {
        change_at(&mut client, 70_000 + i, 100 + i64::from(i));
    }
    change_at(&mut client, 70_007, NOW);
    change_at(&mut client, 70_008, NOW);
    assert_eq!(oldest(&mut store), Some(1));

    // No feed connected: nothing may go.
    assert_eq!(store.fleet_read(|tx| tx.lowest_feed_floor()).unwrap(), None);
    // Two feeds (sessions of their own) and a stranger whose name only
    // looks like one.
    let mut feed_a = PgStore::open(&conninfo).unwrap();
    let mut feed_b = PgStore::open(&conninfo).unwrap();
    feed_a.fleet_read(|tx| tx.publish_feed_floor(4)).unwrap();
    feed_b.fleet_read(|tx| tx.publish_feed_floor(7)).unwrap();
    let mut stranger = connect(&conninfo);
    stranger
        .batch_execute("SET application_name = 'roster-feed floor=abc'")
        .unwrap();
    assert_eq!(
        store.fleet_read(|tx| tx.lowest_feed_floor()).unwrap(),
        Some(4)
    );

    // Below floor 4, before 105: seq 1..=4 (seq 5 is at 105).
    assert_eq!(
        store
            .fleet_write(|tx| tx.prune_changes(4, 105, 100))
            .unwrap(),
        Some(4)
    );
    assert_eq!(oldest(&mut store), Some(5));
    // Before 103 only: seq 5 is newer, nothing more goes.
    assert_eq!(
        store
            .fleet_write(|tx| tx.prune_changes(7, 103, 100))
            .unwrap(),
        Some(0)
    );
    // A pass removes at most its limit.
    assert_eq!(
        store.fleet_write(|tx| tx.prune_changes(8, NOW, 1)).unwrap(),
        Some(1)
    );
    assert_eq!(oldest(&mut store), Some(6));
    // The prefix stops at the first recent row, whatever the floor.
    assert_eq!(
        store
            .fleet_write(|tx| tx.prune_changes(8, NOW, 100))
            .unwrap(),
        Some(1)
    );
    assert_eq!(oldest(&mut store), Some(7));

    // Another pruner holds the lock: this one passes.
    let mut other = connect(&conninfo);
    let mut holding = other.transaction().unwrap();
    holding
        .execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_LOCK])
        .unwrap();
    assert_eq!(
        store
            .fleet_write(|tx| tx.prune_changes(8, NOW + 1, 100))
            .unwrap(),
        None
    );
    holding.rollback().unwrap();
    assert_eq!(
        store
            .fleet_write(|tx| tx.prune_changes(8, NOW + 1, 100))
            .unwrap(),
        Some(2)
    );
    assert_eq!(oldest(&mut store), None);

    // A feed that goes drops out by itself.
    drop(feed_a);
    let began = Instant::now();
    while store.fleet_read(|tx| tx.lowest_feed_floor()).unwrap() != Some(7) {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "a closed session's floor still counts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(feed_b);
}
