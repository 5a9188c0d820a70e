//! The host simulator (issue 18): N enrolled hosts in one process, each
//! the real agent of `roster-fleet-agent` ([`run`]) with its own key,
//! certificate, mutual-TLS [`Client`], cursor and backoff, driving a
//! small in-memory host ([`SimHost`]) that keeps what a host's cache
//! keeps of each user (name, state, a digest of the whole entry) and
//! when each change arrived. Enrollment goes through the controller's
//! real `POST /v1/enroll`, one join token per host.
//!
//! Keys: the agent's own ([`HostKey::generate`], ECDSA P-256 on ring):
//! about 0.1 ms each, cheap enough that nothing is faked.
//!
//! Everything is per agent, as on real hosts: nothing is shared between
//! two agents but the process's runtime.

mod host;

pub use host::{CachedState, CachedUser, HostState, SimHost, digest};

use roster_fleet_agent::{AgentConfig, AgentError, Client, Enrollment, HostKey, JoinRequest, run};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What goes wrong in the simulator itself (an agent's own failures are
/// counted on its [`SimHost`], as a real host logs them).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{failed} of {total} enrollments failed; the first: {first}")]
    Enrollment {
        failed: usize,
        total: usize,
        first: String,
    },
    #[error("host {host}: {error}")]
    Agent { host: String, error: AgentError },
    #[error("waited {waited:?} for {what}: {missing} of {total} hosts still without it")]
    Timeout {
        what: String,
        waited: Duration,
        missing: usize,
        total: usize,
    },
}

/// How the simulator runs its agents.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The runtime's worker threads (the agents' network work).
    pub threads: usize,
    /// The agents' pacing: the product's defaults unless a run says otherwise.
    pub agent: AgentConfig,
    /// Enrollments in flight at once.
    pub enroll_at_once: usize,
    /// Tries per enrollment while the controller refuses connections
    /// (its accept limiter) or is unreachable.
    pub enroll_tries: u32,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            threads: 2,
            agent: AgentConfig::default(),
            enroll_at_once: 32,
            enroll_tries: 20,
        }
    }
}

/// One simulated host: its enrollment, key and in-memory cache, and the
/// agent while it runs.
pub struct SimAgent {
    pub host: Arc<SimHost>,
    pub enrollment: Enrollment,
    key: HostKey,
    running: Option<Running>,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<Result<(), AgentError>>,
    protocol: u32,
}

impl SimAgent {
    /// The host's key (a client of its own for a test).
    pub fn key(&self) -> &HostKey {
        &self.key
    }

    /// The protocol version the agent speaks while running.
    pub fn protocol(&self) -> Option<u32> {
        self.running.as_ref().map(|running| running.protocol)
    }
}

/// N hosts in one process.
pub struct Sim {
    runtime: tokio::runtime::Runtime,
    config: SimConfig,
    agents: Vec<SimAgent>,
}

impl Sim {
    pub fn new(config: SimConfig) -> Result<Sim, SimError> {
        raise_open_files_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            // Host calls run on blocking threads, one at a time per
            // agent, and take microseconds: a few threads serve
            // thousands of agents (the default 512 would only cost memory).
            .max_blocking_threads(8)
            .thread_name("fleet-sim")
            .enable_all()
            .build()
            .map_err(SimError::Runtime)?;
        Ok(Sim {
            runtime,
            config,
            agents: Vec::new(),
        })
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    pub fn agents(&self) -> &[SimAgent] {
        &self.agents
    }

    pub fn hosts(&self) -> impl Iterator<Item = &SimHost> {
        self.agents.iter().map(|agent| agent.host.as_ref())
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// Enrolls one host per request through the real endpoint (each
    /// with a key of its own), `enroll_at_once` at a time, each retried
    /// with backoff while no controller answered. The hosts join the
    /// simulator, not yet running; answers how long it took.
    pub fn enroll(&mut self, requests: Vec<JoinRequest>) -> Result<Duration, SimError> {
        let started = Instant::now();
        let total = requests.len();
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.config.enroll_at_once.max(1),
        ));
        let (tries, agent) = (self.config.enroll_tries.max(1), self.config.agent.clone());
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|request| {
                let limit = Arc::clone(&limit);
                let agent = agent.clone();
                self.runtime.spawn(async move {
                    let _turn = limit.acquire_owned().await;
                    enroll_one(&request, tries, &agent).await
                })
            })
            .collect();
        let outcomes = self.runtime.block_on(async {
            let mut outcomes = Vec::with_capacity(tasks.len());
            for task in tasks {
                outcomes.push(task.await);
            }
            outcomes
        });
        let mut failures = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(Ok((enrollment, key))) => self.agents.push(SimAgent {
                    host: SimHost::new(),
                    enrollment,
                    key,
                    running: None,
                }),
                Ok(Err(error)) => failures.push(error.to_string()),
                Err(error) => failures.push(format!("the enrollment's task failed: {error}")),
            }
        }
        if let Some(first) = failures.first() {
            return Err(SimError::Enrollment {
                failed: failures.len(),
                total,
                first: first.clone(),
            });
        }
        Ok(started.elapsed())
    }

    /// Starts every agent not running, speaking `protocol` (this build's
    /// `PROTOCOL_VERSION`, or the one before for an older host).
    pub fn start_all(&mut self, protocol: u32) -> Result<(), SimError> {
        for index in 0..self.agents.len() {
            if self.agents[index].running.is_none() {
                self.start(index, protocol)?;
            }
        }
        Ok(())
    }

    /// Starts agent `index` speaking `protocol`, on the cache it has (an
    /// upgraded host keeps its cursor).
    pub fn start(&mut self, index: usize, protocol: u32) -> Result<(), SimError> {
        let agent = &mut self.agents[index];
        let client =
            Client::speaking(&agent.enrollment, &agent.key, protocol).map_err(|error| {
                SimError::Agent {
                    host: agent.enrollment.hostname.clone(),
                    error,
                }
            })?;
        let stop = CancellationToken::new();
        let host: Arc<dyn roster_fleet_agent::Host> = Arc::clone(&agent.host) as _;
        let task = self.runtime.spawn(run(
            client,
            agent.key.clone(),
            host,
            self.config.agent.clone(),
            stop.clone(),
        ));
        agent.running = Some(Running {
            stop,
            task,
            protocol,
        });
        Ok(())
    }

    /// Stops agent `index` (its connection closes) and waits for it.
    pub fn stop(&mut self, index: usize) {
        if let Some(running) = self.agents[index].running.take() {
            running.stop.cancel();
            let _ = self.runtime.block_on(running.task);
        }
    }

    pub fn stop_all(&mut self) {
        let running: Vec<Running> = self
            .agents
            .iter_mut()
            .filter_map(|agent| agent.running.take())
            .collect();
        for agent in &running {
            agent.stop.cancel();
        }
        self.runtime.block_on(async {
            for agent in running {
                let _ = agent.task.await;
            }
        });
    }

    /// How many hosts meet `condition` now.
    pub fn count(&self, condition: impl Fn(&HostState) -> bool) -> usize {
        self.hosts().filter(|host| host.with(&condition)).count()
    }

    /// Waits up to `within` until every host meets `condition`; answers
    /// how long that took. The hosts record their own arrival times:
    /// this poll's pace doesn't change them.
    pub fn wait_all(
        &self,
        what: &str,
        within: Duration,
        condition: impl Fn(&HostState) -> bool,
    ) -> Result<Duration, SimError> {
        let started = Instant::now();
        // Hosts that have it keep it: only the others are looked at again.
        let mut missing: Vec<&SimHost> = self.hosts().collect();
        loop {
            missing.retain(|host| !host.with(&condition));
            if missing.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= within {
                return Err(SimError::Timeout {
                    what: what.to_owned(),
                    waited: within,
                    missing: missing.len(),
                    total: self.agents.len(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// One enrollment, retried with the agent's backoff while no controller
/// answered (a refused or unanswered connection: the accept limiter, a
/// controller restarting). A refusal (a used token, a name taken) is final.
async fn enroll_one(
    request: &JoinRequest,
    tries: u32,
    config: &AgentConfig,
) -> Result<(Enrollment, HostKey), SimError> {
    let failed = |error| SimError::Agent {
        host: request.hostname.clone(),
        error,
    };
    let key = HostKey::generate().map_err(failed)?;
    let mut attempt = 0;
    loop {
        match roster_fleet_agent::enroll(request, &key).await {
            Ok(enrollment) => return Ok((enrollment, key)),
            Err(AgentError::Unreachable(_)) if attempt + 1 < tries => {
                tokio::time::sleep(roster_fleet_agent::backoff_delay(
                    config.backoff_min,
                    config.backoff_max.min(Duration::from_secs(5)),
                    attempt,
                    getrandom::u64().unwrap_or(u64::MAX),
                ))
                .await;
                attempt += 1;
            }
            Err(error) => return Err(failed(error)),
        }
    }
}

/// p50, p99 and the largest of some durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Spread {
    /// `None` for no durations.
    pub fn of(mut durations: Vec<Duration>) -> Option<Spread> {
        if durations.is_empty() {
            return None;
        }
        durations.sort_unstable();
        let at = |fraction: f64| {
            // Nearest rank: the smallest value with at least `fraction`
            // of the values at or below it.
            let rank = (fraction * durations.len() as f64).ceil() as usize;
            durations[rank.clamp(1, durations.len()) - 1]
        };
        Some(Spread {
            count: durations.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: durations[durations.len() - 1],
        })
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} ms, p99 {} ms, max {} ms ({} hosts)",
            self.p50.as_millis(),
            self.p99.as_millis(),
            self.max.as_millis(),
            self.count
        )
    }
}

/// A process's resident memory (`VmRSS` in /proc/PID/status), in KiB;
/// `None` when it can't be read (the process is gone).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's resident memory in KiB.
pub fn own_rss_kib() -> Option<u64> {
    rss_kib(std::process::id())
}

/// Raises this process's open-files limit to its hard limit (each host
/// holds a socket; controllers started after inherit it) and answers
/// the limit now.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given,
    // which lives across both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The load average over 1, 5 and 15 minutes, as /proc/loadavg says it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_nearest_ranks() {
        assert_eq!(Spread::of(Vec::new()), None);
        let ms = |n: u64| Duration::from_millis(n);
        let spread = Spread::of((1..=100).rev().map(ms).collect()).unwrap();
        assert_eq!(
            (spread.p50, spread.p99, spread.max, spread.count),
            (ms(50), ms(99), ms(100), 100)
        );
        let one = Spread::of(vec![ms(7)]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (ms(7), ms(7), ms(7)));
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(own_rss_kib().unwrap() > 0);
        assert_eq!(rss_kib(u32::MAX), None);
        assert_eq!(load_average().split(' ').count(), 3);
    }
}
