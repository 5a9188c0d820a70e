//! An acknowledged change survives `kill -9` of rosterd: users created
//! while rosterd is killed mid-stream are all there after a restart, and
//! the database passes SQLite's integrity check.

use roster_client::{CreateUser, UsersProxy};
use roster_tests::{TestBus, TestConfig, TestDaemon};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn acknowledged_users_survive_kill_9() {
    let bus = TestBus::start();
    // Thousands of users: the whole range (they never run processes, so
    // sharing uids with other tests' blocks is harmless).
    let mut daemon = TestDaemon::start_with(
        &bus,
        TestConfig::new()
            .set("uid_min", &roster_tests::UID_MIN.to_string())
            .set("uid_max", &roster_tests::UID_MAX.to_string()),
    );
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));

    // Four clients create users as fast as rosterd acknowledges them.
    let mut writers = Vec::new();
    for w in 0..4 {
        let (address, acked) = (bus.address().to_owned(), acknowledged.clone());
        writers.push(std::thread::spawn(move || {
            zbus::block_on(async move {
                let conn = zbus::connection::Builder::address(address.as_str())
                    .build()
                    .await?;
                let users = UsersProxy::new(&conn).await?;
                for i in 0..10_000 {
                    let request = CreateUser {
                        name: format!("w{w}u{i}"),
                        ..CreateUser::default()
                    };
                    match users.create(&request, "correct horse battery").await {
                        Ok(_) => acked.lock().map(|mut a| a.push(request.name)).unwrap_or(()),
                        Err(_) => break,
                    }
                }
                Ok::<(), zbus::Error>(())
            })
        }));
    }
    // Kill once a fair number went through, while the rest are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().map(|a| a.len()).unwrap_or(0) < 60 {
        assert!(
            std::time::Instant::now() < deadline,
            "rosterd made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill9();
    for w in writers {
        let _ = w.join();
    }
    let acked = acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(acked.len() >= 60);

    assert_eq!(daemon.sqlite("PRAGMA integrity_check;").trim(), "ok");
    daemon.restart();
    let listed = daemon
        .probe("Users.List", &["true"])
        .run()
        .expect_ok()
        .json();
    let names: std::collections::HashSet<String> = listed["ok"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(daemon.sqlite("PRAGMA integrity_check;").trim(), "ok");
    // And the snapshot written at restart lists them too.
    let bytes = std::fs::read(daemon.nss_cache_path()).unwrap_or_default();
    let snapshot = roster_snapshot::Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
    for name in &acked {
        assert!(
            snapshot.user_by_name(name.as_bytes()).is_some(),
            "{name} not in the snapshot"
        );
    }
}
