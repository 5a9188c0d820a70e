//! The controller's figures, side by side in one run (a benchmark, never
//! a test): a committed change → visible in waiting long polls (p50/p99),
//! mTLS connections accepted per second, the controller's memory per open
//! long poll, and a full environment snapshot for 100,000 users.
//!
//! Run through `scripts/bench-controller.sh` (release builds of the
//! controller and of this bench; a private PostgreSQL 15 like the tests').
//! Knobs: `ROSTER_BENCH_POLLS` (waiting long polls, default 100),
//! `ROSTER_BENCH_CHANGES` (default 200), `ROSTER_BENCH_IDLE` (extra
//! connections for the memory figure, default 1000), `ROSTER_BENCH_USERS`
//! (snapshot size, default 100000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{CHEAP_ARGON2, Controller, HostCert, create_user};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use roster_core::Actor;
use roster_core::level::Level;
use roster_core::model::UserChanges;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let polls = knob("ROSTER_BENCH_POLLS", 100);
    let changes = knob("ROSTER_BENCH_CHANGES", 200);
    let idle = knob("ROSTER_BENCH_IDLE", 1000);
    let users = knob("ROSTER_BENCH_USERS", 100_000);
    let limits = "long_poll = \"25s\"\nwindow_changes = 100000\naccept_rate = 100000\naccept_burst = 100000\nargon2_per_host = 2\n";
    let controller = Controller::start_with("bench", limits, CHEAP_ARGON2)
        .expect("a PostgreSQL 15 to start (postgresql-15, run as root)");
    let (host, enrolled) = controller.enroll("default", "bench-1");
    // The snapshot first, while no cached one exists.
    let (built, cached, bytes) = snapshot(&controller, &host, users);
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    create_user(&mut controller.roster(), "bench", "default", Level::Write);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let (p50, p99, samples) = runtime.block_on(latency(&controller, &host, &epoch, polls, changes));
    let (full, resumed) = runtime.block_on(accept_rate(&controller, &host));
    let per_poll = runtime.block_on(memory_per_poll(&controller, &host, &epoch, idle));

    println!();
    println!("roster-controller figures (2 vCPU, controller, PostgreSQL and clients on one box)");
    println!("| what | figure | bar |");
    println!("|---|---|---|");
    println!(
        "| committed change → visible in {polls} waiting long polls ({changes} changes, {samples} deliveries) | p50 {:.1} ms, p99 {:.1} ms | p99 ≤ 50 ms |",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "| mTLS connections accepted, 8 clients, one GET each | {full:.0}/s full handshakes, {resumed:.0}/s resumed | — |"
    );
    println!(
        "| controller RSS per open long poll ({idle} open) | {:.1} KiB | ≤ 64 KiB |",
        per_poll / 1024.0
    );
    println!(
        "| full snapshot of {users} users | built in {:.2} s, {:.1} MiB; cached: {:.0} ms | ≤ 2 s to build |",
        built.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0),
        cached.as_secs_f64() * 1e3
    );
}

/// A host's TLS client, with session resumption or (every handshake a
/// full one) without.
fn host_client(
    trust: &[rustls::pki_types::CertificateDer<'static>],
    host: &HostCert,
    resume: bool,
) -> Arc<rustls::ClientConfig> {
    let config =
        roster_controller::tls::client_config(trust, &host.chain_pem, &host.key_pem).unwrap();
    if resume {
        return config;
    }
    let mut fresh = (*config).clone();
    fresh.resumption = rustls::client::Resumption::disabled();
    Arc::new(fresh)
}

/// One persistent mTLS connection to the controller.
async fn connect(
    controller: &Controller,
    host: &HostCert,
    resume: bool,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let config = host_client(&controller.trust, host, resume);
    let tcp = tokio::net::TcpStream::connect(&controller.api)
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

async fn get(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
) -> (u16, Bytes) {
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .header(roster_fleet_protocol::PROTOCOL_HEADER, "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

async fn head_cursor(controller: &Controller, host: &HostCert) -> i64 {
    let mut sender = connect(controller, host, true).await;
    let (_, body) = get(&mut sender, "/v1/hello").await;
    let json: Value = serde_json::from_slice(&body).unwrap();
    json["body"]["head"].as_i64().unwrap()
}

/// `polls` long polls wait; `changes` commits, one every 20 ms; each
/// delivery's delay from just before its commit.
async fn latency(
    controller: &Controller,
    host: &HostCert,
    epoch: &str,
    polls: usize,
    changes: usize,
) -> (Duration, Duration, usize) {
    let start_cursor = head_cursor(controller, host).await;
    let began: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; changes]));
    let delays: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut pollers = Vec::new();
    for _ in 0..polls {
        let mut sender = connect(controller, host, true).await;
        let (epoch, began, delays) = (epoch.to_string(), Arc::clone(&began), Arc::clone(&delays));
        pollers.push(tokio::spawn(async move {
            let mut cursor = start_cursor;
            let mut seen = 0;
            while seen < changes {
                let (status, body) = get(
                    &mut sender,
                    &format!("/v1/sync?after={cursor}&epoch={epoch}"),
                )
                .await;
                let now = Instant::now();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let json: Value = serde_json::from_slice(&body).unwrap();
                cursor = json["body"]["cursor"].as_i64().unwrap();
                for change in json["body"]["changes"].as_array().unwrap() {
                    let Some(n) = change["display_name"]
                        .as_str()
                        .and_then(|d| d.strip_prefix("bench-"))
                    else {
                        continue;
                    };
                    let n: usize = n.parse().unwrap();
                    if let Some(t0) = began.lock().unwrap()[n] {
                        delays.lock().unwrap().push(now - t0);
                    }
                    seen = seen.max(n + 1);
                }
            }
        }));
    }
    // Let every poll reach its wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store_conninfo = controller.conninfo.clone();
    let writer_began = Arc::clone(&began);
    tokio::task::spawn_blocking(move || {
        let mut roster = harness::roster_on(&store_conninfo);
        for n in 0..changes {
            writer_began.lock().unwrap()[n] = Some(Instant::now());
            roster
                .edit_user(
                    &Actor::Root,
                    "bench",
                    UserChanges {
                        display_name: Some(format!("bench-{n}")),
                        ..UserChanges::default()
                    },
                )
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    for poller in pollers {
        tokio::time::timeout(Duration::from_secs(60), poller)
            .await
            .unwrap()
            .unwrap();
    }
    let mut delays = delays.lock().unwrap().clone();
    delays.sort();
    let at = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    (at(0.50), at(0.99), delays.len())
}

/// Connections per second over 5 s from 8 clients, each a new TCP + TLS
/// connection with the host's certificate and one `GET /v1/hello`;
/// without and with session resumption.
async fn accept_rate(controller: &Controller, host: &HostCert) -> (f64, f64) {
    let mut rates = Vec::new();
    for resume in [false, true] {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut clients = Vec::new();
        for _ in 0..8 {
            let (controller_api, trust, host) = (
                controller.api.clone(),
                controller.trust.clone(),
                host.clone(),
            );
            clients.push(tokio::spawn(async move {
                let mut done = 0u64;
                let config = host_client(&trust, &host, resume);
                while Instant::now() < deadline {
                    let tcp = tokio::net::TcpStream::connect(&controller_api)
                        .await
                        .unwrap();
                    let tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
                        .connect(ServerName::try_from("localhost").unwrap(), tcp)
                        .await
                        .unwrap();
                    let (mut sender, connection) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                            .await
                            .unwrap();
                    tokio::spawn(connection);
                    let (status, _) = get(&mut sender, "/v1/hello").await;
                    assert_eq!(status, 200);
                    done += 1;
                }
                done
            }));
        }
        let mut total = 0;
        for client in clients {
            total += client.await.unwrap();
        }
        rates.push(total as f64 / 5.0);
    }
    (rates[0], rates[1])
}

fn rss_bytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024.0
}

/// The controller's RSS before and after `idle` more long polls are
/// waiting (each its own TLS connection), per poll.
async fn memory_per_poll(
    controller: &Controller,
    host: &HostCert,
    epoch: &str,
    idle: usize,
) -> f64 {
    let pid = controller.child.as_ref().unwrap().id();
    let cursor = head_cursor(controller, host).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_bytes(pid);
    let mut waiting = Vec::new();
    for _ in 0..idle {
        let mut sender = connect(controller, host, true).await;
        let path = format!("/v1/sync?after={cursor}&epoch={epoch}");
        waiting.push(tokio::spawn(async move { get(&mut sender, &path).await }));
    }
    // Until the controller counts them all waiting.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The harness's own runtime answers, on a thread outside this one.
        let metrics = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| scope.spawn(|| controller.metrics_text()).join().unwrap())
        });
        let open: usize = metrics
            .lines()
            .find_map(|line| line.strip_prefix("roster_connected_hosts "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if open >= idle || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = rss_bytes(pid);
    for poll in waiting {
        poll.abort();
    }
    (after - before).max(0.0) / idle as f64
}

/// `users` users with minimal hashes inserted straight into the store
/// (triggers off: a bulk load, not a change hosts follow), then the
/// environment's snapshot: built, then served from the cache.
fn snapshot(controller: &Controller, host: &HostCert, users: usize) -> (Duration, Duration, usize) {
    let mut db = roster_store_postgres::test_server::connect(&controller.conninfo);
    db.batch_execute(&format!(
        "SET session_replication_role = replica;
         INSERT INTO users (uid, name, display_name, role, state, home, shell, created, password_hash, password_changed)
           SELECT 1880000000 + n, 'user' || n, 'User ' || n, 'user', 'active', '/home/user' || n, '/bin/bash', 1800000000,
                  '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$' || md5(n::text), 1800000000
           FROM generate_series(1, {users}) AS n;
         INSERT INTO grants (uid, environment, level) SELECT 1880000000 + n, 'default', 'write' FROM generate_series(1, {users}) AS n;
         SET session_replication_role = origin;"
    ))
    .unwrap();
    let fetch = || {
        let started = Instant::now();
        let reply = controller
            .request("GET", "/v1/snapshot", None, Some(host), Some("1"))
            .unwrap();
        assert_eq!(reply.status, 200);
        (started.elapsed(), reply.json.to_string().len())
    };
    let (built, bytes) = fetch();
    let (cached, _) = fetch();
    (built, cached, bytes)
}
