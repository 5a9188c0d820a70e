//! The fleet against the real HA store tier (3 etcd, 3 Patroni-managed
//! PostgreSQL 15, synchronous_mode_strict: store-postgres's `TestTier`),
//! with real `roster-controller` replicas and in-process agents (the
//! agent code rosterd runs, over an in-memory host):
//!
//! - (c) SIGKILL of the PostgreSQL leader under a stream of writes from
//!   several writers through the controller's API: every acknowledged
//!   write is in the store afterwards, writes are accepted again within
//!   45 s, and every host gets every change exactly once; then SIGKILL of
//!   one of two controllers: the hosts move to the other, nothing lost or
//!   applied twice.
//! - (d) `roster-controller restore` on a store restored from a
//!   `pg_basebackup`: a new epoch, and every host resyncs to the restored
//!   state.
//!
//! Figures are printed (`--nocapture`); the bounds are generous.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Controller, runtime};
use roster_fleet_agent::protocol::{Credential, HostUser, Op};
use roster_fleet_agent::{
    AgentConfig, AgentError, Client, Enrollment, Host, HostError, HostKey, OpsAnswer, OpsRequest,
    Position, ReportEntry, SnapshotAnswer, SyncAnswer, run,
};
use roster_store_postgres::test_server::{TestServer, connect};
use roster_store_postgres::test_tier::TestTier;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const ADMIN: &str = "alice";
const ADMIN_PASSWORD: &str = "a long password";
/// How long a writer keeps sending one change with its request id (as
/// rosterd does, DESIGN.md "Writes and failures").
const WRITER_RETRY_FOR: Duration = Duration::from_secs(60);

fn quick() -> AgentConfig {
    AgentConfig {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        report_every: Duration::from_secs(1),
        report_first: Duration::from_millis(200),
        ..AgentConfig::default()
    }
}

/// What a host's agent did, with what the checks need: how often each
/// user's row arrived in a batch (a change applied twice shows as 2), the
/// full resyncs, the epochs.
#[derive(Debug, Default)]
struct Seen {
    position: Option<Position>,
    users: BTreeMap<String, HostUser>,
    /// Per user name, the batch changes that carried it.
    deliveries: BTreeMap<String, usize>,
    snapshots: usize,
    epochs: Vec<String>,
    /// A batch whose cursor went backwards (a replay applied).
    backwards: usize,
}

#[derive(Debug, Default)]
struct RecordingHost {
    seen: Mutex<Seen>,
}

impl RecordingHost {
    fn with<T>(&self, look: impl FnOnce(&Seen) -> T) -> T {
        look(&self.seen.lock().unwrap())
    }
}

impl Host for RecordingHost {
    fn position(&self) -> Result<Option<Position>, HostError> {
        Ok(self.seen.lock().unwrap().position.clone())
    }

    fn apply_changes(&self, answer: &SyncAnswer, _time: i64) -> Result<(), HostError> {
        use roster_fleet_agent::protocol::HostChange;
        let mut seen = self.seen.lock().unwrap();
        if let Some(position) = &seen.position
            && answer.cursor < position.cursor
        {
            seen.backwards += 1;
        }
        for change in &answer.changes {
            match change {
                HostChange::User(user) => {
                    *seen.deliveries.entry(user.name.clone()).or_default() += 1;
                    seen.users.insert(user.name.clone(), user.clone());
                }
                HostChange::UserDeleted { uid } => seen.users.retain(|_, u| u.uid != *uid),
                HostChange::Environment(_) | HostChange::Revoked => {}
            }
        }
        seen.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        Ok(())
    }

    fn apply_snapshot(&self, answer: &SnapshotAnswer, _time: i64) -> Result<(), HostError> {
        let mut seen = self.seen.lock().unwrap();
        seen.snapshots += 1;
        if seen.epochs.last() != Some(&answer.epoch) {
            seen.epochs.push(answer.epoch.clone());
        }
        seen.users = answer
            .users
            .iter()
            .map(|user| (user.name.clone(), user.clone()))
            .collect();
        seen.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        Ok(())
    }

    fn revoked(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn pending_reports(&self, _max: usize) -> Result<Vec<(i64, ReportEntry)>, HostError> {
        Ok(vec![])
    }

    fn reports_sent(&self, _ids: &[i64]) -> Result<(), HostError> {
        Ok(())
    }

    fn certificate_renewed(&self, _: &str, _: &str, _: &HostKey) -> Result<(), HostError> {
        Ok(())
    }

    fn unreachable(&self, _error: &AgentError) {}
}

/// An agent running on `runtime` for a host enrolled through `via`, its
/// controller list `controllers`.
struct Agent {
    host: Arc<RecordingHost>,
    shutdown: CancellationToken,
}

fn enroll(
    runtime: &tokio::runtime::Runtime,
    via: &Controller,
    name: &str,
    controllers: &[String],
) -> (Enrollment, HostKey) {
    let (mut enrollment, key) = via.enroll(runtime, name);
    enrollment.controllers = controllers.to_vec();
    (enrollment, key)
}

fn start_agent(
    runtime: &tokio::runtime::Runtime,
    via: &Controller,
    name: &str,
    controllers: &[String],
) -> Agent {
    let (enrollment, key) = enroll(runtime, via, name, controllers);
    let host = Arc::new(RecordingHost::default());
    let shutdown = CancellationToken::new();
    let _guard = runtime.enter();
    let client = Client::new(&enrollment, &key).unwrap();
    runtime.spawn(run(
        client,
        key,
        Arc::clone(&host) as Arc<dyn Host>,
        quick(),
        shutdown.clone(),
    ));
    Agent { host, shutdown }
}

/// A request id as rosterd makes one.
fn request_id() -> String {
    format!(
        "{:016x}{:016x}",
        getrandom::u64().unwrap(),
        getrandom::u64().unwrap()
    )
}

/// What the writers saw.
#[derive(Debug, Default)]
struct Writes {
    /// Acknowledged user names, with when the answer came.
    acked: Vec<(String, Instant)>,
    /// Acknowledged by "done by your earlier attempt": a retry whose
    /// first attempt had committed (its answer lost).
    replayed: usize,
    /// Sends of a change again with its request id.
    retries: usize,
    /// "failing over" answers among those.
    failing_over: usize,
    /// Changes whose outcome stayed unknown, or that were refused.
    failed: Vec<String>,
    /// The longest a change took from its first send to its answer.
    slowest: Duration,
}

/// Creates users `{prefix}{n}` through the controllers, one at a time,
/// each sent again with its request id while the answer is lost or says
/// "failing over", until `stop`.
async fn writer(client: Client, prefix: String, stop: Arc<AtomicBool>, writes: Arc<Mutex<Writes>>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("{prefix}{n}");
        n += 1;
        let request = OpsRequest {
            request_id: request_id(),
            credential: Credential::Password {
                user: ADMIN.into(),
                password: ADMIN_PASSWORD.into(),
            },
            op: Op::CreateUser {
                name: name.clone(),
                display_name: None,
                role: None,
                password: Some("a long user password".into()),
            },
        };
        let started = Instant::now();
        loop {
            match client.ops(&request).await {
                Ok(answer) => {
                    {
                        let mut writes = writes.lock().unwrap();
                        if matches!(answer.body, OpsAnswer::AlreadyDone { .. }) {
                            writes.replayed += 1;
                        }
                        writes.acked.push((name, Instant::now()));
                        writes.slowest = writes.slowest.max(started.elapsed());
                    }
                    break;
                }
                Err(
                    error @ (AgentError::FailingOver(_)
                    | AgentError::NoAnswer(_)
                    | AgentError::Unreachable(_)),
                ) if started.elapsed() < WRITER_RETRY_FOR => {
                    {
                        let mut writes = writes.lock().unwrap();
                        writes.retries += 1;
                        if matches!(error, AgentError::FailingOver(_)) {
                            writes.failing_over += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => {
                    {
                        writes
                            .lock()
                            .unwrap()
                            .failed
                            .push(format!("{name}: {error}"));
                    }
                    break;
                }
            }
        }
    }
}

struct Writers {
    stop: Arc<AtomicBool>,
    writes: Arc<Mutex<Writes>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_writers(runtime: &tokio::runtime::Runtime, clients: &[Client], round: &str) -> Writers {
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Writes::default()));
    let tasks = clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            runtime.spawn(writer(
                client.clone(),
                format!("{round}w{i}n"),
                Arc::clone(&stop),
                Arc::clone(&writes),
            ))
        })
        .collect();
    Writers {
        stop,
        writes,
        tasks,
    }
}

impl Writers {
    fn acked(&self) -> usize {
        self.writes.lock().unwrap().acked.len()
    }

    fn finish(self, runtime: &tokio::runtime::Runtime) -> Writes {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            runtime.block_on(task).unwrap();
        }
        Arc::try_unwrap(self.writes).unwrap().into_inner().unwrap()
    }
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "no {what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// The user names in the store.
fn store_users(conninfo: &str) -> Vec<String> {
    let mut client = connect(conninfo);
    client
        .query("SELECT name FROM users ORDER BY name", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Every acknowledged write in the store; every host holds every one,
/// each delivered exactly once in a batch, with no full resync and no
/// cursor going backwards.
fn check_nothing_lost(conninfo: &str, writes: &Writes, agents: &[Agent], round: &str) {
    let in_store = store_users(conninfo);
    let lost: Vec<&String> = writes
        .acked
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !in_store.contains(name))
        .collect();
    eprintln!(
        "{round}: {} writes acknowledged ({} by a replay of a lost answer), {} sends again with the same id ({} answered \"failing over\"), slowest {:?}; acknowledged writes lost: {}",
        writes.acked.len(),
        writes.replayed,
        writes.retries,
        writes.failing_over,
        writes.slowest,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        writes.failed.is_empty(),
        "changes refused or of unknown outcome: {:?}",
        writes.failed
    );
    let names: Vec<&String> = writes.acked.iter().map(|(name, _)| name).collect();
    let took = wait_until(
        "every change on every host",
        Duration::from_secs(60),
        || {
            agents.iter().all(|agent| {
                agent
                    .host
                    .with(|seen| names.iter().all(|name| seen.users.contains_key(*name)))
            })
        },
    );
    eprintln!(
        "{round}: every host has every acknowledged change {took:?} after the writers stopped"
    );
    for (i, agent) in agents.iter().enumerate() {
        agent.host.with(|seen| {
            let twice: Vec<_> = names
                .iter()
                .filter(|name| seen.deliveries.get(**name).copied().unwrap_or(0) != 1)
                .collect();
            assert!(
                twice.is_empty(),
                "host {i}: changes not delivered exactly once: {:?}",
                twice
                    .iter()
                    .map(|name| (name, seen.deliveries.get(**name)))
                    .collect::<Vec<_>>()
            );
            assert_eq!(seen.snapshots, 1, "host {i} resynced in full");
            assert_eq!(seen.backwards, 0, "host {i} applied a replay");
        });
    }
}

#[test]
fn scenario_c_the_leader_killed_under_writes_then_a_controller_killed() {
    let test_started = Instant::now();
    let Some(tier) = TestTier::start() else {
        return;
    };
    let conninfo = tier.conninfo_for("scenario_c");
    let mut first = Controller::start_on(conninfo.clone(), true);
    let second = first.replica();
    let controllers = vec![first.url(), second.url()];
    let runtime = runtime();
    let agents: Vec<Agent> = (0..3)
        .map(|i| start_agent(&runtime, &first, &format!("host-{i}"), &controllers))
        .collect();
    let writer_clients: Vec<Client> = (0..4)
        .map(|i| {
            let (enrollment, key) = enroll(&runtime, &first, &format!("writer-{i}"), &controllers);
            let _guard = runtime.enter();
            Client::new(&enrollment, &key).unwrap()
        })
        .collect();
    wait_until(
        "every host's first snapshot",
        Duration::from_secs(30),
        || {
            agents
                .iter()
                .all(|a| a.host.with(|seen| seen.snapshots == 1))
        },
    );

    // The leader killed with writes in flight.
    let writers = start_writers(&runtime, &writer_clients, "c");
    wait_until("writes before the kill", Duration::from_secs(30), || {
        writers.acked() >= 20
    });
    let killed = tier.kill_leader();
    let killed_at = Instant::now();
    let before = writers.acked();
    let back = wait_until(
        "a write accepted after the leader's SIGKILL",
        Duration::from_secs(90),
        || {
            writers
                .writes
                .lock()
                .unwrap()
                .acked
                .iter()
                .skip(before)
                .any(|(_, at)| *at > killed_at)
        },
    );
    eprintln!(
        "scenario c: PostgreSQL leader (node {killed}) SIGKILLed after {before} acknowledged writes; writes accepted again after {back:?}"
    );
    assert!(
        back <= Duration::from_secs(45),
        "writes took {back:?} to come back after the leader's SIGKILL (the bar is 45 s)"
    );
    // Writes go on a little on the new leader.
    let after = writers.acked();
    wait_until("writes on the new leader", Duration::from_secs(30), || {
        writers.acked() >= after + 20
    });
    let writes = writers.finish(&runtime);
    check_nothing_lost(&conninfo, &writes, &agents, "scenario c (leader killed)");
    // A change sent again with its request id after the failover (its
    // answer lost, say) gets its first answer, not a second change nor
    // "exists already": the claimed id came through the failover.
    let probe = OpsRequest {
        request_id: request_id(),
        credential: Credential::Password {
            user: ADMIN.into(),
            password: ADMIN_PASSWORD.into(),
        },
        op: Op::CreateUser {
            name: "probe".into(),
            display_name: None,
            role: None,
            password: Some("a long user password".into()),
        },
    };
    let first_answer = runtime
        .block_on(writer_clients[0].ops(&probe))
        .unwrap()
        .body;
    let again = runtime.block_on(writer_clients[1].ops(&probe));
    // Another host with the same id learns nothing of it (409).
    assert!(again.is_err(), "{again:?}");
    let again = runtime
        .block_on(writer_clients[0].ops(&probe))
        .unwrap()
        .body;
    assert_eq!(again, first_answer, "a repeat answers the first answer");
    assert_eq!(
        store_users(&conninfo)
            .iter()
            .filter(|n| *n == "probe")
            .count(),
        1
    );
    tier.start_node(killed);

    // One of the two controllers killed: the hosts move to the other.
    first.kill();
    let killed_at = Instant::now();
    let writers = start_writers(&runtime, &writer_clients, "c2");
    wait_until(
        "writes through the other controller",
        Duration::from_secs(60),
        || writers.acked() >= 20,
    );
    let writes_after = writers.finish(&runtime);
    let mut all = writes;
    all.acked.extend(writes_after.acked);
    all.replayed += writes_after.replayed;
    all.retries += writes_after.retries;
    all.failing_over += writes_after.failing_over;
    all.failed.extend(writes_after.failed);
    all.slowest = all.slowest.max(writes_after.slowest);
    check_nothing_lost(&conninfo, &all, &agents, "scenario c (controller killed)");
    eprintln!(
        "scenario c: after the controller's SIGKILL, the hosts had every change {:?} later",
        killed_at.elapsed()
    );
    for agent in &agents {
        agent.shutdown.cancel();
    }
    drop(second);
    eprintln!("scenario c took {:?}", test_started.elapsed());
}

#[test]
fn scenario_d_restore_from_a_basebackup_makes_every_host_resync() {
    let test_started = Instant::now();
    let Some(tier) = TestTier::start() else {
        return;
    };
    let conninfo = tier.conninfo_for("scenario_d");
    let mut controller = Controller::start_on(conninfo.clone(), true);
    let controllers = vec![controller.url()];
    let runtime = runtime();
    let agents: Vec<Agent> = (0..2)
        .map(|i| start_agent(&runtime, &controller, &format!("host-{i}"), &controllers))
        .collect();
    let (enrollment, key) = enroll(&runtime, &controller, "admin-host", &controllers);
    let admin = {
        let _guard = runtime.enter();
        Client::new(&enrollment, &key).unwrap()
    };
    let op = |op: Op| {
        let request = OpsRequest {
            request_id: request_id(),
            credential: Credential::Password {
                user: ADMIN.into(),
                password: ADMIN_PASSWORD.into(),
            },
            op,
        };
        runtime.block_on(admin.ops(&request)).unwrap();
    };
    let create = |name: &str| Op::CreateUser {
        name: name.into(),
        display_name: None,
        role: None,
        password: Some("a long user password".into()),
    };
    op(create("kept"));
    op(create("suspended-after"));
    let state_of = |agent: &Agent, name: &str| {
        agent
            .host
            .with(|seen| seen.users.get(name).map(|user| user.state.clone()))
    };
    wait_until(
        "the first users on every host",
        Duration::from_secs(30),
        || {
            agents
                .iter()
                .all(|a| state_of(a, "suspended-after").is_some())
        },
    );

    // The backup, then changes it won't hold.
    let backup_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let backups = tempfile::Builder::new()
        .prefix("roster-backup-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        backups.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let backup = backups.path().join("data");
    let started = Instant::now();
    tier.basebackup(&backup);
    eprintln!(
        "scenario d: pg_basebackup of the leader took {:?}",
        started.elapsed()
    );
    // One second on, so the audit's whole-second times fall after it.
    std::thread::sleep(Duration::from_millis(1100));
    op(create("made-after"));
    op(Op::SuspendUser {
        name: "suspended-after".into(),
    });
    wait_until(
        "the later changes on every host",
        Duration::from_secs(30),
        || {
            agents.iter().all(|a| {
                state_of(a, "made-after").is_some()
                    && state_of(a, "suspended-after").as_deref() == Some("suspended")
            })
        },
    );
    let old_epoch = agents[0]
        .host
        .with(|seen| seen.position.clone().unwrap().epoch);

    // The store restored from the backup (a new data folder started from
    // it), the controller pointed at it, `restore` run.
    controller.kill();
    let restored = TestServer::start_from(|data| std::fs::rename(&backup, data).unwrap()).unwrap();
    let database = conninfo
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("dbname="))
        .unwrap();
    let restored_conninfo = format!(
        "host={} user=postgres dbname={database}",
        restored.socket_dir().display()
    );
    controller.set_conninfo(restored_conninfo.clone());
    // The old store (the tier, still up) named in a file: an unreadable
    // one is refused before anything changes.
    let previous = backups.path().join("previous-store");
    std::fs::write(
        &previous,
        "# the store before the restore\nhost=/nonexistent dbname=roster\n",
    )
    .unwrap();
    let backup_time = backup_time.to_string();
    let restore_args = [
        "restore",
        "--backup-time",
        backup_time.as_str(),
        "--previous-store",
        previous.to_str().unwrap(),
    ];
    let out = controller.command(&restore_args);
    assert!(!out.status.success());
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        refused.contains("--previous-store") && refused.contains("nothing changed"),
        "{refused}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("New epoch"));
    std::fs::write(&previous, format!("{conninfo}\n")).unwrap();
    let out = controller.command(&restore_args);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("scenario d: restore printed:\n{printed}");
    assert!(printed.contains("New epoch"), "{printed}");
    // What the restore undid, from the old store's audit: the user made
    // after the backup and the suspension, and nothing the backup holds.
    assert!(
        printed.contains("2 changes in the previous store"),
        "{printed}"
    );
    assert!(printed.contains("create_user made-after"), "{printed}");
    assert!(
        printed.contains("suspend_user suspended-after"),
        "{printed}"
    );
    assert!(!printed.contains(" kept"), "{printed}");
    let resync_started = Instant::now();
    controller.serve();

    // Every host resyncs in full to the restored state: the user made
    // after the backup gone, the suspension undone, on a new epoch.
    let took = wait_until(
        "every host resynced to the restored store",
        Duration::from_secs(60),
        || {
            agents.iter().all(|a| {
                a.host.with(|seen| {
                    seen.epochs.len() == 2
                        && seen.position.as_ref().is_some_and(|p| p.epoch != old_epoch)
                }) && state_of(a, "made-after").is_none()
                    && state_of(a, "suspended-after").as_deref() == Some("active")
                    && state_of(a, "kept").as_deref() == Some("active")
            })
        },
    );
    for agent in &agents {
        agent
            .host
            .with(|seen| assert_eq!(seen.snapshots, 2, "one full resync"));
    }
    eprintln!(
        "scenario d: every host resynced to the restored store's new epoch {took:?} after serve (restore to resync {:?})",
        resync_started.elapsed()
    );
    // The store itself agrees.
    let users = store_users(&restored_conninfo);
    assert!(!users.contains(&"made-after".to_string()), "{users:?}");
    for agent in &agents {
        agent.shutdown.cancel();
    }
    drop(controller);
    drop(restored);
    eprintln!("scenario d took {:?}", test_started.elapsed());
}
