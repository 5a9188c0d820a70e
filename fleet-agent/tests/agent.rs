//! The agent against a real controller (PostgreSQL 15 from
//! roster-store-postgres's test server, `roster-controller serve` on
//! loopback): enrollment and its pin, the long poll, snapshots,
//! revocation, failover, reports and renewal, driving an in-memory host.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Controller, MemoryHost, fake_controller, raw_response, runtime};
use roster_fleet_agent::protocol::{PROTOCOL_VERSION, ReportKind, report::MAX_ENTRY_BYTES};
use roster_fleet_agent::{
    AgentConfig, AgentError, CaPin, Client, ErrorCode, Host, HostKey, Position, ReportEntry,
    enroll, run,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Quick retries and reports, for tests.
fn quick() -> AgentConfig {
    AgentConfig {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        report_every: Duration::from_millis(200),
        report_first: Duration::from_millis(50),
        ..AgentConfig::default()
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), AgentError>>,
}

fn start(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    key: &HostKey,
    host: &Arc<MemoryHost>,
    config: AgentConfig,
) -> Running {
    let shutdown = CancellationToken::new();
    let task = runtime.spawn(run(
        client.clone(),
        key.clone(),
        Arc::clone(host) as Arc<dyn Host>,
        config,
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

impl Running {
    /// Shut down: the agent ends with `Ok`.
    fn stop(self, runtime: &tokio::runtime::Runtime) {
        self.shutdown.cancel();
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), self.task).await })
            .expect("the agent stops when told")
            .unwrap()
            .unwrap();
    }
}

#[test]
fn a_host_enrolls_with_the_right_pin_only_and_a_token_once() {
    let Some(controller) = Controller::start("agent_enroll") else {
        return;
    };
    let runtime = runtime();
    let token = controller.join_token("default");
    let key = HostKey::generate().unwrap();

    // The wrong pin: refused before the token is sent.
    let mut wrong = controller.join_request(&token, "web-1");
    wrong.ca_fingerprint = CaPin::of(b"another CA").to_string();
    let error = runtime.block_on(enroll(&wrong, &key)).unwrap_err();
    assert!(matches!(error, AgentError::CaMismatch(_)), "{error:?}");
    assert!(
        error.to_string().contains(&format!(
            "the controller's CA does not match {}",
            wrong.ca_fingerprint
        )),
        "{error}"
    );
    // A pin that isn't one.
    let mut garbled = controller.join_request(&token, "web-1");
    garbled.ca_fingerprint = "SHA256:nope".into();
    let error = runtime.block_on(enroll(&garbled, &key)).unwrap_err();
    assert!(matches!(error, AgentError::Bad(_)), "{error:?}");

    // The right pin, in hex: the token (unburnt by the attempts above) joins.
    let mut right = controller.join_request(&token, "web-1");
    right.ca_fingerprint = CaPin::parse(&controller.fingerprint)
        .unwrap()
        .0
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let started = Instant::now();
    let mut enrollment = runtime.block_on(enroll(&right, &key)).unwrap();
    eprintln!("one enrollment took {:?}", started.elapsed());
    assert_eq!(enrollment.hostname, "web-1");
    assert_eq!(enrollment.environment, "default");
    assert_eq!(enrollment.ca_fingerprint, controller.fingerprint);
    assert_eq!(
        enrollment.controllers,
        ["https://controller.test:8443".to_string(), controller.url()]
    );
    assert_eq!(enrollment.epoch.len(), 26);
    // What rosterd stores reads back.
    let stored = serde_json::to_string(&enrollment).unwrap();
    assert_eq!(
        serde_json::from_str::<roster_fleet_agent::Enrollment>(&stored).unwrap(),
        enrollment
    );

    // The certificate is this key's, and trusted by the controller.
    enrollment.controllers = vec![controller.url()];
    let client = Client::new(&enrollment, &key).unwrap();
    let hello = runtime.block_on(client.hello()).unwrap();
    assert_eq!(hello.body.hostname, "web-1");
    assert_eq!(hello.body.epoch, enrollment.epoch);
    let stranger = HostKey::generate().unwrap();
    assert!(matches!(
        Client::new(&enrollment, &stranger),
        Err(AgentError::Tls(_))
    ));

    // The token once only.
    let again = runtime
        .block_on(enroll(
            &controller.join_request(&token, "web-2"),
            &HostKey::generate().unwrap(),
        ))
        .unwrap_err();
    assert!(
        matches!(
            again,
            AgentError::Refused {
                code: ErrorCode::Conflict,
                ..
            }
        ),
        "{again:?}"
    );
    assert!(again.to_string().contains("used already"), "{again}");
}

#[test]
fn a_controller_whose_chain_lacks_the_pinned_ca_is_refused() {
    let Some(controller) = Controller::start_with("agent_leaf_only", false) else {
        return;
    };
    let runtime = runtime();
    let token = controller.join_token("default");
    let error = runtime
        .block_on(enroll(
            &controller.join_request(&token, "web-1"),
            &HostKey::generate().unwrap(),
        ))
        .unwrap_err();
    assert!(matches!(error, AgentError::CaMismatch(_)), "{error:?}");
    assert!(
        error.to_string().contains("server_cert"),
        "the fix is named: {error}"
    );
}

#[test]
fn the_agent_takes_a_snapshot_then_a_user_created_at_the_controller_within_seconds() {
    let Some(controller) = Controller::start("agent_sync") else {
        return;
    };
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::new();
    let agent = start(&runtime, &client, &key, &host, quick());
    host.wait_for("first snapshot", Duration::from_secs(20), |s| {
        s.snapshots == 1
    });
    assert!(host.with(|s| s.users.contains_key("alice")));
    assert!(host.with(|s| s.last_controller_time > 1_700_000_000));

    let committed = Instant::now();
    controller.create_user("bob");
    // Two commits (the user, then the grant): both arrive.
    host.wait_for("bob with his grant", Duration::from_secs(10), |s| {
        s.users
            .get("bob")
            .is_some_and(|bob| bob.level.as_deref() == Some("read"))
    });
    eprintln!(
        "a user's creation and grant, committed → applied on the host: {:?}",
        committed.elapsed()
    );
    assert_eq!(host.with(|s| s.snapshots), 1, "no resync for changes");
    assert!(host.with(|s| s.batches) >= 1);

    // One sync round trip, measured: a cursor just behind the head is
    // answered at once.
    let position = host.with(|s| s.position.clone()).unwrap();
    let rounds = 100u32;
    let started = Instant::now();
    for _ in 0..rounds {
        let answer = runtime
            .block_on(client.sync(&position.epoch, position.cursor - 1))
            .unwrap();
        assert_eq!(answer.body.cursor, position.cursor);
    }
    eprintln!(
        "one sync round trip (kept-alive connection): {:?}",
        started.elapsed() / rounds
    );
    agent.stop(&runtime);
}

#[test]
fn a_stale_cursor_or_another_epoch_brings_a_full_snapshot_and_heartbeats_are_applied() {
    let Some(controller) = Controller::start("agent_stale") else {
        return;
    };
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let client = Client::new(&enrollment, &key).unwrap();
    // The first admin was made before the window: cursor 0 is too old.
    let gone = runtime
        .block_on(client.sync(&enrollment.epoch, 0))
        .unwrap_err();
    assert!(
        matches!(
            gone,
            AgentError::Gone {
                epoch_changed: false
            }
        ),
        "{gone:?}"
    );
    let other_epoch = runtime.block_on(client.sync("another", 5)).unwrap_err();
    assert!(
        matches!(
            other_epoch,
            AgentError::Gone {
                epoch_changed: true
            }
        ),
        "{other_epoch:?}"
    );

    for position in [
        Position {
            epoch: enrollment.epoch.clone(),
            cursor: 0,
        },
        Position {
            epoch: "an-older-epoch".into(),
            cursor: 5,
        },
    ] {
        let host = MemoryHost::at(position);
        let agent = start(&runtime, &client, &key, &host, quick());
        host.wait_for("a snapshot", Duration::from_secs(20), |s| s.snapshots == 1);
        assert_eq!(
            host.with(|s| s.position.clone().unwrap().epoch),
            enrollment.epoch
        );
        assert!(host.with(|s| s.users.contains_key("alice")));
        // Nothing changes: the long poll's empty answer is applied.
        host.wait_for("a heartbeat", Duration::from_secs(20), |s| {
            s.heartbeats >= 1
        });
        assert_eq!(host.with(|s| s.batches), 0);
        agent.stop(&runtime);
    }
}

#[test]
fn a_revoked_host_wipes_its_cache_and_the_agent_ends_revoked() {
    let Some(controller) = Controller::start("agent_revoke") else {
        return;
    };
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::new();
    let agent = start(&runtime, &client, &key, &host, quick());
    host.wait_for("first snapshot", Duration::from_secs(20), |s| {
        s.snapshots == 1
    });
    let out = controller.command(&["hosts", "revoke", "web-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked_at = Instant::now();
    let ended = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), agent.task).await })
        .expect("a revoked host's agent ends")
        .unwrap();
    eprintln!(
        "revoked at the controller → the host wiped: {:?}",
        revoked_at.elapsed()
    );
    assert!(matches!(ended, Err(AgentError::Revoked)), "{ended:?}");
    assert_eq!(host.with(|s| s.revoked), 1);
    assert!(host.with(|s| s.users.is_empty()));
    // Every call says so from now on.
    let hello = runtime.block_on(client.hello()).unwrap_err();
    assert!(matches!(hello, AgentError::Revoked), "{hello:?}");
}

/// An address nobody listens on.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("https://{address}")
}

#[test]
fn a_dead_first_controller_is_passed_over_for_the_next() {
    let Some(controller) = Controller::start("agent_failover") else {
        return;
    };
    let runtime = runtime();
    let (mut enrollment, key) = controller.enroll(&runtime, "web-1");
    let dead = dead_url();
    enrollment.controllers = vec![dead.clone(), controller.url()];
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::new();
    let agent = start(&runtime, &client, &key, &host, quick());
    host.wait_for("first snapshot", Duration::from_secs(20), |s| {
        s.snapshots == 1
    });
    // The one that answered is where requests start now.
    assert_eq!(client.controller(), controller.url());
    controller.create_user("bob");
    host.wait_for("bob", Duration::from_secs(10), |s| {
        s.users.contains_key("bob")
    });
    agent.stop(&runtime);

    // None answering: unreachable, naming each.
    enrollment.controllers = vec![dead.clone(), dead_url()];
    let nobody = Client::new(&enrollment, &key).unwrap();
    let error = runtime.block_on(nobody.hello()).unwrap_err();
    assert!(matches!(error, AgentError::Unreachable(_)), "{error:?}");
    for url in &enrollment.controllers {
        assert!(error.to_string().contains(url.as_str()), "{error}");
    }
}

fn entry(text: &str) -> ReportEntry {
    ReportEntry {
        at: 1_800_000_000,
        kind: ReportKind::LoginResult,
        text: text.to_string(),
    }
}

#[test]
fn reports_are_delivered_once_across_runs() {
    let Some(controller) = Controller::start("agent_reports") else {
        return;
    };
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::new();
    {
        let mut state = host.state.lock().unwrap();
        for id in 1..=3 {
            state
                .pending
                .insert(id, entry(&format!("alice ssh login {id}: success")));
        }
    }
    let agent = start(&runtime, &client, &key, &host, quick());
    host.wait_for("three reports sent", Duration::from_secs(20), |s| {
        s.sent.len() == 3
    });
    agent.stop(&runtime);
    assert_eq!(controller.reports_of(enrollment.host_id).len(), 3);

    // Again: nothing is sent twice; a new entry (one too long for the
    // controller, cut to fit) goes.
    let agent = start(&runtime, &client, &key, &host, quick());
    host.state
        .lock()
        .unwrap()
        .pending
        .insert(4, entry(&"x".repeat(MAX_ENTRY_BYTES + 10)));
    host.wait_for("the fourth sent", Duration::from_secs(20), |s| {
        s.sent.len() == 4
    });
    // A few more rounds: still nothing resent.
    std::thread::sleep(Duration::from_millis(600));
    agent.stop(&runtime);
    assert_eq!(host.with(|s| s.sent.clone()), [1, 2, 3, 4]);
    let kept = controller.reports_of(enrollment.host_id);
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(kept[3].len(), MAX_ENTRY_BYTES);
}

#[test]
fn renewal_switches_the_certificate_and_the_sync_goes_on_with_it() {
    let Some(controller) = Controller::start("agent_renew") else {
        return;
    };
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::new();
    let config = AgentConfig {
        // Due at once, and once only (the floor).
        renew_at: 0.0,
        ..quick()
    };
    let agent = start(&runtime, &client, &key, &host, config);
    host.wait_for("a renewal", Duration::from_secs(20), |s| {
        s.renewed.len() == 1
    });
    host.wait_for("first snapshot", Duration::from_secs(20), |s| {
        s.snapshots == 1
    });
    let (certificate, key_pem) = host.with(|s| s.renewed[0].clone());
    assert_ne!(certificate, enrollment.certificate_pem);
    assert_ne!(key_pem, key.pem(), "a new key for the new certificate");
    assert_eq!(client.certificate_pem(), certificate);

    controller.create_user("carol");
    host.wait_for("carol", Duration::from_secs(15), |s| {
        s.users.contains_key("carol")
    });
    assert_eq!(host.with(|s| s.renewed.len()), 1, "renewed once only");
    agent.stop(&runtime);

    // The old certificate was replaced; the new one, with the new key, works.
    let old = Client::new(&enrollment, &key).unwrap();
    let refused = runtime.block_on(old.hello()).unwrap_err();
    assert!(
        matches!(
            refused,
            AgentError::Refused {
                code: ErrorCode::Unauthenticated,
                ..
            }
        ),
        "{refused:?}"
    );
    let mut renewed = enrollment.clone();
    renewed.certificate_pem = certificate;
    let new_key = HostKey::from_pem(key_pem).unwrap();
    let fresh = Client::new(&renewed, &new_key).unwrap();
    assert_eq!(
        runtime.block_on(fresh.hello()).unwrap().body.hostname,
        "web-1"
    );
    let (not_before, not_after) = fresh.certificate_validity().unwrap();
    assert!(not_after.duration_since(not_before).unwrap() > Duration::from_secs(29 * 24 * 3600));
}

#[test]
fn a_replayed_answer_an_older_controller_and_a_lost_answer_are_each_told_apart() {
    let Some(controller) = Controller::start("agent_fake") else {
        return;
    };
    let runtime = runtime();
    let (mut enrollment, key) = controller.enroll(&runtime, "web-1");
    let epoch = enrollment.epoch.clone();

    // Within the host's epoch, an answer older than its cursor: refused,
    // nothing applied, the failure told to the host.
    let replaying = {
        let epoch = epoch.clone();
        fake_controller(&runtime, &controller, move |line| {
            line.starts_with("GET /v1/sync").then(|| {
                raw_response(
                    200,
                    PROTOCOL_VERSION,
                    &format!(
                        r#"{{"protocol":{PROTOCOL_VERSION},"time":1800000000,"body":{{"epoch":"{epoch}","cursor":50,"changes":[]}}}}"#
                    ),
                )
            })
        })
    };
    enrollment.controllers = vec![replaying];
    let client = Client::new(&enrollment, &key).unwrap();
    let host = MemoryHost::at(Position {
        epoch: epoch.clone(),
        cursor: 100,
    });
    let agent = start(&runtime, &client, &key, &host, quick());
    host.wait_for("a refused replay", Duration::from_secs(10), |s| {
        s.errors.iter().any(|e| e.contains("replayed answer"))
    });
    agent.stop(&runtime);
    assert_eq!(
        host.with(|s| (s.position.clone().unwrap().cursor, s.heartbeats, s.batches)),
        (100, 0, 0)
    );

    // A controller one version older than this host: refused, whatever
    // it answers.
    let older = fake_controller(&runtime, &controller, |_| {
        Some(raw_response(
            200,
            PROTOCOL_VERSION - 1,
            &format!(
                r#"{{"protocol":{},"time":1800000000,"body":{{"hostname":"web-1","environment":"default","epoch":"e","head":1}}}}"#,
                PROTOCOL_VERSION - 1
            ),
        ))
    });
    enrollment.controllers = vec![older];
    let client = Client::new(&enrollment, &key).unwrap();
    let error = runtime.block_on(client.hello()).unwrap_err();
    assert!(
        matches!(
            error,
            AgentError::ControllerTooOld {
                controller,
                host: PROTOCOL_VERSION
            } if controller == PROTOCOL_VERSION - 1
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("upgrade the controllers"),
        "{error}"
    );

    // The request went out and the connection closed: no answer, which
    // is not "unreachable" (the change may have been made).
    let silent = fake_controller(&runtime, &controller, |_| None);
    enrollment.controllers = vec![silent];
    let client = Client::new(&enrollment, &key).unwrap();
    let error = runtime.block_on(client.hello()).unwrap_err();
    assert!(matches!(error, AgentError::NoAnswer(_)), "{error:?}");
}

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// A figure for the host simulator (issue 18), not a check: N agents in
/// this process (each its own client, TLS configuration and loops; one
/// enrollment shared, which the controller doesn't mind), the time until
/// every one applied its snapshot, and the memory they hold.
/// `AGENTS=1000 cargo test -p roster-fleet-agent --test agent -- --ignored many_agents --nocapture`
#[test]
#[ignore = "a measurement, run by hand"]
fn many_agents_in_one_process() {
    let Some(controller) = Controller::start("agent_many") else {
        return;
    };
    let count: usize = std::env::var("AGENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let runtime = runtime();
    let (enrollment, key) = controller.enroll(&runtime, "web-1");
    let before = rss_kib();
    let started = Instant::now();
    let agents: Vec<(Arc<MemoryHost>, Running)> = (0..count)
        .map(|_| {
            let client = Client::new(&enrollment, &key).unwrap();
            let host = MemoryHost::new();
            let running = start(&runtime, &client, &key, &host, AgentConfig::default());
            (host, running)
        })
        .collect();
    for (host, _) in &agents {
        host.wait_for("a snapshot", Duration::from_secs(120), |s| s.snapshots >= 1);
    }
    eprintln!(
        "{count} agents: every snapshot applied after {:?}; memory {} KiB more ({} KiB an agent)",
        started.elapsed(),
        rss_kib().saturating_sub(before),
        rss_kib().saturating_sub(before) / count as u64
    );
    let committed = Instant::now();
    controller.create_user("bob");
    for (host, _) in &agents {
        host.wait_for("bob", Duration::from_secs(60), |s| {
            s.users.contains_key("bob")
        });
    }
    eprintln!(
        "{count} agents: a new user applied by all after {:?}",
        committed.elapsed()
    );
    for (_, running) in agents {
        running.stop(&runtime);
    }
}
