//! Figures for the closing note (ignored by default; run with
//! `cargo test -p roster-tests --test daemon_bench -- --ignored --nocapture`,
//! ideally with ROSTER_BIN_DIR pointing at release builds):
//! one create's time with DESIGN.md's argon2 parameters, rosterd's idle RSS
//! (empty and with 10,000 users), and `roster users list --json` with
//! 10,000 users.

use roster_client::{CreateUser, UsersProxy};
use roster_tests::{TestBus, TestConfig, TestDaemon, UID_MAX, UID_MIN, bin_dir};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore]
fn figures() {
    let bus = TestBus::start();
    let d = TestDaemon::start_with(
        &bus,
        TestConfig::new()
            .set("uid_min", &UID_MIN.to_string())
            .set("uid_max", &UID_MAX.to_string())
            // DESIGN.md's defaults, not the tests' cheap ones.
            .set("argon2.memory_kib", "19456")
            .set("argon2.iterations", "2"),
    );
    std::thread::sleep(Duration::from_millis(500));
    eprintln!("binaries: {}", bin_dir().display());
    eprintln!("rosterd idle RSS, empty: {} KiB", rss_kib(d.pid()));

    let conn = d.connect();
    let users = zbus::block_on(UsersProxy::new(&conn)).unwrap_or_else(|e| panic!("{e}"));
    let mut creates = Vec::new();
    for i in 0..15 {
        let request = CreateUser {
            name: format!("timed{i}"),
            ..CreateUser::default()
        };
        let t = Instant::now();
        zbus::block_on(users.create(&request, "correct horse battery"))
            .unwrap_or_else(|e| panic!("{e}"));
        creates.push(t.elapsed());
    }
    eprintln!(
        "one create with a password (argon2 m=19456 t=2), median of 15: {:?}",
        median(creates)
    );

    // 10,000 users from 8 clients (registration codes: no hash to wait on).
    let per_worker: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10_000)
        / 8;
    let total = per_worker * 8 + 15;
    eprintln!(
        "rosterd RSS after 15 hashed creates: {} KiB",
        rss_kib(d.pid())
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let address = bus.address().to_owned();
            std::thread::spawn(move || {
                zbus::block_on(async move {
                    let conn = zbus::connection::Builder::address(address.as_str())
                        .build()
                        .await?;
                    let users = UsersProxy::new(&conn).await?;
                    for i in 0..per_worker {
                        let request = CreateUser {
                            name: format!("w{w}n{i}"),
                            register: true,
                            ..CreateUser::default()
                        };
                        users
                            .create(&request, "")
                            .await
                            .map_err(|e| zbus::Error::Failure(e.to_string()))?;
                    }
                    Ok::<(), zbus::Error>(())
                })
            })
        })
        .collect();
    for w in workers {
        w.join()
            .unwrap_or_else(|_| panic!("a worker panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!(
        "{} creates from 8 clients: {:?}",
        total - 15,
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    eprintln!("rosterd idle RSS, {total} users: {} KiB", rss_kib(d.pid()));

    let mut proxy_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let list = zbus::block_on(users.list(true)).unwrap_or_else(|e| panic!("{e}"));
        proxy_times.push(t.elapsed());
        assert_eq!(list.len(), total);
    }
    eprintln!(
        "Users.List(all) through the proxy, median of 5: {:?}",
        median(proxy_times)
    );
    if bin_dir().join("roster").exists() {
        let mut cli_times = Vec::new();
        for _ in 0..5 {
            let out = d.roster(&["users", "list", "--json"]).run();
            assert!(out.success(), "{}", out.stderr);
            cli_times.push(out.elapsed);
        }
        eprintln!(
            "`roster users list --json`, {total} users, median of 5: {:?}",
            median(cli_times)
        );
    }
    eprintln!("rosterd RSS after the lists: {} KiB", rss_kib(d.pid()));
}
