//! The HA store tier's test support itself (src/test_tier.rs): a store
//! opened through the multi-host string keeps every acknowledged write
//! across a SIGKILL of the leader, and a `pg_basebackup` of the tier
//! starts as a plain server with the data it held.

use roster_store_postgres::test_server::{TestServer, connect};
use roster_store_postgres::test_tier::TestTier;
use std::time::{Duration, Instant};

#[test]
fn a_killed_leader_loses_no_acknowledged_write_and_a_basebackup_restores() {
    let Some(tier) = TestTier::start() else {
        return;
    };
    let conninfo = tier.conninfo_for("tier");
    let mut client = connect(&conninfo);
    client
        .batch_execute("CREATE TABLE acked (n integer PRIMARY KEY)")
        .unwrap();
    for n in 0..20 {
        client
            .execute("INSERT INTO acked VALUES ($1)", &[&n])
            .unwrap();
    }
    let killed = tier.kill_leader();
    let killed_at = Instant::now();
    // A write on the old leader's connection fails, or lands: its backend
    // outlives the killed postmaster for a moment, and a commit it
    // acknowledges was replicated synchronously first. Acknowledged, it
    // must survive like the others (checked below).
    let late_acknowledged = client
        .execute("INSERT INTO acked VALUES (1000)", &[])
        .is_ok();
    let back = tier.wait_writable(Duration::from_secs(90));
    eprintln!(
        "node {killed} killed: writes accepted again after {:?} (probe {back:?})",
        killed_at.elapsed()
    );
    assert_ne!(tier.leader(), Some(killed), "a new leader was elected");
    let mut client = connect(&conninfo);
    let count: i64 = client
        .query_one("SELECT count(*) FROM acked WHERE n < 1000", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 20, "every acknowledged write survived the failover");
    if late_acknowledged {
        let late: i64 = client
            .query_one("SELECT count(*) FROM acked WHERE n = 1000", &[])
            .unwrap()
            .get(0);
        assert_eq!(late, 1, "the write the old leader acknowledged survived");
    }
    client
        .execute("INSERT INTO acked VALUES (20)", &[])
        .unwrap();
    tier.start_node(killed);

    // The backup of the new leader starts as a plain server.
    let database = conninfo
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("dbname="))
        .unwrap()
        .to_string();
    let restored = TestServer::start_from(|data| tier.basebackup(data)).unwrap();
    let mut client = connect(&format!(
        "host={} user=postgres dbname={database}",
        restored.socket_dir().display()
    ));
    let count: i64 = client
        .query_one("SELECT count(*) FROM acked WHERE n < 1000", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 21, "the backup holds what was committed before it");
    // And the restored server takes writes (no synchronous standby awaited).
    client
        .execute("INSERT INTO acked VALUES (21)", &[])
        .unwrap();
}
