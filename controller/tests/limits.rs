//! The controller's limits against a real PostgreSQL (the test server):
//! a host over its own request rate is throttled while another is
//! served; the snapshot limiter queues, answers "retry later" when its
//! queue is full and takes back the turn of a host that stopped reading;
//! the change log is pruned below every replica's window and a host left
//! behind by the pruning resyncs in full while hosts within sync on.
//!
//! The measurement behind the snapshot limiter's defaults (1,000 hosts
//! asking for a 100,000-user environment's snapshot at once) is the
//! ignored test at the end: `cargo test -p roster-controller --test
//! limits -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{CHEAP_ARGON2, Controller, HostCert, create_user};
use roster_core::level::Level;
use std::io::Write;
use std::time::{Duration, Instant};

/// A metric's value in `/metrics`' text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

#[test]
fn a_host_over_its_limit_is_throttled_while_another_is_served() {
    let Some(controller) = Controller::start_with(
        "host_limit",
        "long_poll = \"20s\"\nhost_rate = 1\nhost_burst = 3\n",
        CHEAP_ARGON2,
    ) else {
        return;
    };
    let (hammer, _) = controller.enroll("default", "hammer");
    let (quiet, _) = controller.enroll("default", "quiet");
    // A request a call (each on a new connection): well over 1 a second,
    // so the burst of 3 runs out within a few.
    let mut throttled = None;
    for _ in 0..50 {
        let reply = controller.call("GET", "/v1/hello", None, Some(&hammer));
        if reply.status != 200 {
            throttled = Some(reply);
            break;
        }
    }
    let throttled = throttled.expect("a host calling faster than host_rate is throttled");
    assert_eq!(throttled.status, 429, "{}", throttled.json);
    assert_eq!(throttled.json["code"], "too_many_requests");
    let message = throttled.json["message"].as_str().unwrap();
    assert!(message.contains("retry after"), "{message}");
    assert_eq!(throttled.headers["retry-after"], "1");
    // The version header still comes with the refusal.
    assert!(throttled.headers.contains_key("roster-protocol"));
    // The other host has its own bucket.
    let served = controller.call("GET", "/v1/hello", None, Some(&quiet));
    assert_eq!(served.status, 200, "{}", served.json);
    assert_eq!(served.json["body"]["hostname"], "quiet");
    // Enrollment (no certificate) isn't counted against any host.
    let (third, _) = controller.enroll("default", "third");
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&third))
            .status,
        200
    );
    let metrics = controller.metrics_text();
    assert!(metric(&metrics, "roster_host_throttled_total") >= 1);
    // After a pause the hammering host is served again.
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&hammer))
            .status,
        200
    );
}

/// `count` users straight into PostgreSQL (no change-log rows: the
/// snapshot reads the tables), each granted `write` in `environment`,
/// with minimal-cost hashes (the sizes of real ones, none of the cost).
fn bulk_users(controller: &Controller, environment: &str, count: u32) {
    let mut db = roster_store_postgres::test_server::connect(&controller.conninfo);
    db.batch_execute(&format!(
        "SET session_replication_role = replica;
         INSERT INTO users (uid, name, display_name, role, state, home, shell, created, password_hash, password_changed)
           SELECT 1880000000 + n, 'user' || n, 'User ' || n, 'user', 'active', '/home/user' || n, '/bin/bash', 1800000000,
                  '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$' || md5(n::text), 1800000000
           FROM generate_series(1, {count}) AS n;
         INSERT INTO grants (uid, environment, level)
           SELECT 1880000000 + n, '{environment}', 'write' FROM generate_series(1, {count}) AS n;
         SET session_replication_role = origin;"
    ))
    .unwrap();
}

/// A host that asks for the snapshot and never reads it: once the
/// socket buffers are full the controller's send of it stalls, holding
/// its turn.
fn stalled_snapshot(
    controller: &Controller,
    host: &HostCert,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let config =
        roster_controller::tls::client_config(&controller.trust, &host.chain_pem, &host.key_pem)
            .unwrap();
    let tcp = std::net::TcpStream::connect(&controller.api).unwrap();
    let connection = rustls::ClientConnection::new(
        config,
        rustls::pki_types::ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    write!(
        stream,
        "GET /v1/snapshot HTTP/1.1\r\nhost: localhost\r\nroster-protocol: 2\r\n\r\n"
    )
    .unwrap();
    stream.flush().unwrap();
    stream
}

#[test]
fn a_full_snapshot_queue_answers_retry_later_and_a_stalled_send_gives_its_turn_back() {
    let Some(controller) = Controller::start_with(
        "snapshot_queue",
        "long_poll = \"20s\"\nsnapshots_at_once = 1\nsnapshot_queue = 1\n\
         snapshot_queue_wait = \"60s\"\nsnapshot_send_timeout = \"4s\"\n",
        CHEAP_ARGON2,
    ) else {
        return;
    };
    // Big enough (~25 MB) to fill any loopback socket's buffers.
    bulk_users(&controller, "default", 100_000);
    let hosts: Vec<HostCert> = (0..3)
        .map(|i| controller.enroll("default", &format!("web-{i}")).0)
        .collect();
    let stalled = stalled_snapshot(&controller, &hosts[0]);
    // The stalled send has the only turn once the controller answers it
    // (its build included): wait for the metric that says it was served.
    let began = Instant::now();
    while metric(&controller.metrics_text(), "roster_snapshots_served_total") < 1 {
        assert!(began.elapsed() < Duration::from_secs(60), "never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::scope(|scope| {
        // The next request waits in the queue (its one place)…
        let queued = scope.spawn(|| {
            let reply = controller
                .request("GET", "/v1/snapshot", None, Some(&hosts[1]), Some("2"))
                .unwrap();
            (
                reply.status,
                reply.json["body"]["users"].as_array().map(Vec::len),
            )
        });
        let began = Instant::now();
        while metric(&controller.metrics_text(), "roster_snapshot_queued_total") < 1 {
            assert!(began.elapsed() < Duration::from_secs(30), "never queued");
            std::thread::sleep(Duration::from_millis(20));
        }
        // …and one more finds the queue full: retry later, at once.
        let refused = controller.call("GET", "/v1/snapshot", None, Some(&hosts[2]));
        assert_eq!(refused.status, 429, "{}", refused.json);
        assert_eq!(refused.json["code"], "too_many_requests");
        assert!(refused.headers.contains_key("retry-after"));
        assert!(
            refused.json["message"]
                .as_str()
                .unwrap()
                .contains("retry later")
        );
        // The stalled host's send is cut at snapshot_send_timeout: the
        // queued request gets the turn and the whole snapshot.
        let (status, users) = queued.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(users, Some(100_001), "the bulk users and the first admin");
    });
    drop(stalled);
    let metrics = controller.metrics_text();
    assert_eq!(metric(&metrics, "roster_snapshot_refused_total"), 1);
    assert_eq!(metric(&metrics, "roster_snapshot_send_timeouts_total"), 1);
    // Built once, served to both.
    assert_eq!(metric(&metrics, "roster_snapshots_built_total"), 1);
    // The refused host comes back later and is served.
    let later = controller.call("GET", "/v1/snapshot", None, Some(&hosts[2]));
    assert_eq!(later.status, 200);
}

fn sync(controller: &Controller, host: &HostCert, epoch: &str, after: i64) -> harness::Reply {
    controller.call(
        "GET",
        &format!("/v1/sync?after={after}&epoch={epoch}"),
        None,
        Some(host),
    )
}

/// Syncs `host` from `cursor` to the head (changes exist, so no long
/// poll waits); the new cursor.
fn catch_up(controller: &Controller, host: &HostCert, epoch: &str, cursor: i64) -> i64 {
    let reply = sync(controller, host, epoch, cursor);
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json["body"]["cursor"].as_i64().unwrap()
}

#[test]
fn pruned_changes_send_a_host_behind_them_to_the_snapshot_and_hosts_within_sync_on() {
    let Some(mut controller) = Controller::start_with(
        "prune",
        "long_poll = \"20s\"\nwindow_changes = 4\nchange_log_prune_every = \"1s\"\n",
        CHEAP_ARGON2,
    ) else {
        return;
    };
    let set = controller.command(&["environments", "set", "default", "offline_grace=1s"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let (within, enrolled) = controller.enroll("default", "within");
    let (behind, _) = controller.enroll("default", "behind");
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    let snapshot = controller.call("GET", "/v1/snapshot", None, Some(&within));
    assert_eq!(snapshot.status, 200, "{}", snapshot.json);
    let start = snapshot.json["body"]["cursor"].as_i64().unwrap();
    // "behind" stays at `start`; "within" follows every change.
    let mut cursor = start;
    let mut roster = controller.roster();
    for i in 0..6 {
        create_user(&mut roster, &format!("user{i}"), "default", Level::Write);
        cursor = catch_up(&controller, &within, &epoch, cursor);
    }
    assert!(cursor - start > 4, "more changes than the window holds");
    // Rows the window has passed, older than the longest offline grace,
    // go (the pruner runs every second).
    let oldest = || -> i64 {
        roster_store_postgres::test_server::connect(&controller.conninfo)
            .query_one("SELECT coalesce(min(seq), 0) FROM change_log", &[])
            .unwrap()
            .get(0)
    };
    let began = Instant::now();
    while oldest() <= start + 1 {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the change log was never pruned"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let kept_from = oldest();
    assert!(kept_from <= cursor, "the rows the window holds stay");
    assert!(metric(&controller.metrics_text(), "roster_changes_pruned_total") > 0);

    // Restarted with a window far larger than the log: without the
    // pruning it would take "behind" back from its cursor; the log now
    // starts above it, so the window starts there too.
    let config = std::fs::read_to_string(controller.config()).unwrap();
    std::fs::write(
        controller.config(),
        config.replace("window_changes = 4", "window_changes = 100000"),
    )
    .unwrap();
    let mut old = controller.child.take().unwrap();
    old.kill().unwrap();
    old.wait().unwrap();
    controller.serve();
    // The host within the kept log syncs on from its cursor (a change
    // made now comes to it incrementally)…
    create_user(&mut roster, "late", "default", Level::Write);
    let began = Instant::now();
    let mut late_seen = false;
    while !late_seen {
        assert!(began.elapsed() < Duration::from_secs(30), "late never came");
        let reply = sync(&controller, &within, &epoch, cursor);
        assert_eq!(reply.status, 200, "{}", reply.json);
        late_seen = reply.json["body"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|change| change["name"] == "late");
        cursor = reply.json["body"]["cursor"].as_i64().unwrap();
    }
    // …and the host behind the pruned rows is sent to the snapshot,
    // which holds everything.
    let gone = sync(&controller, &behind, &epoch, start);
    assert_eq!(gone.status, 410, "{}", gone.json);
    assert_eq!(gone.json["code"], "cursor_too_old");
    let full = controller.call("GET", "/v1/snapshot", None, Some(&behind));
    assert_eq!(full.status, 200, "{}", full.json);
    let names: Vec<&str> = full.json["body"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["name"].as_str().unwrap())
        .collect();
    for name in ["user0", "user5", "late"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let resumed = full.json["body"]["cursor"].as_i64().unwrap();
    assert!(resumed >= kept_from);
    assert_eq!(
        sync_status_at_head(&controller, &behind, &epoch, resumed),
        200
    );
}

/// A sync from the head answers (the heartbeat comes after the long
/// poll; a change is made so it comes at once).
fn sync_status_at_head(controller: &Controller, host: &HostCert, epoch: &str, at: i64) -> u16 {
    create_user(&mut controller.roster(), "later", "default", Level::Write);
    sync(controller, host, epoch, at).status
}
