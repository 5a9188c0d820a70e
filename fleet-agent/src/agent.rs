//! The agent: what an enrolled host runs until it is shut down or
//! revoked. Three loops over one [`Client`]: the long poll (snapshots
//! when needed), reports, and certificate renewal. Every retry waits an
//! exponential backoff with full jitter; everything is per agent.

use crate::{AgentError, Client, HostError, HostKey};
use roster_fleet_protocol::report::{MAX_ENTRY_BYTES, MAX_REPORT_ENTRIES};
use roster_fleet_protocol::{HostChange, ReportEntry, ReportRequest, SnapshotAnswer, SyncAnswer};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// Where the host's cache stands in the controller's change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub epoch: String,
    pub cursor: i64,
}

/// What the agent drives: rosterd's SQLite cache, the simulator's
/// memory. The methods block: the agent calls them on tokio's blocking
/// threads, one at a time per agent (never two at once), and
/// [`Host::revoked`] after any call in flight has returned.
pub trait Host: Send + Sync + 'static {
    /// The cache's epoch and cursor; `None` when it never synced (the
    /// agent then takes a full snapshot).
    fn position(&self) -> Result<Option<Position>, HostError>;
    /// One long poll's answer: its changes and new cursor in one
    /// transaction. An empty answer (the heartbeat) is applied too: it
    /// is the last answer, which the offline grace counts from.
    /// `controller_time`: the controller's clock (seconds since the epoch).
    fn apply_changes(&self, answer: &SyncAnswer, controller_time: i64) -> Result<(), HostError>;
    /// A full snapshot, swapped in whole (a new epoch, or a cursor older
    /// than the controller keeps).
    fn apply_snapshot(
        &self,
        answer: &SnapshotAnswer,
        controller_time: i64,
    ) -> Result<(), HostError>;
    /// The controller says this host is revoked: wipe cached hashes and
    /// keys now.
    fn revoked(&self) -> Result<(), HostError>;
    /// Up to `max` reports not yet sent, oldest first, each with the
    /// host's own id for it.
    fn pending_reports(&self, max: usize) -> Result<Vec<(i64, ReportEntry)>, HostError>;
    /// The controller kept these reports: never send them again.
    fn reports_sent(&self, ids: &[i64]) -> Result<(), HostError>;
    /// A renewed certificate, the CA bundle that came with it and the key
    /// it certifies: store them (the agent already uses them).
    fn certificate_renewed(
        &self,
        certificate_pem: &str,
        ca_bundle_pem: &str,
        key: &HostKey,
    ) -> Result<(), HostError>;
    /// A failure the agent will retry (no controller answered, an answer
    /// refused, the cache failing): for logs and `roster doctor`.
    fn unreachable(&self, _error: &AgentError) {}
}

/// How the agent paces itself.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The first retry waits up to this (full jitter: anything from 0).
    pub backoff_min: Duration,
    /// No retry waits longer than this.
    pub backoff_max: Duration,
    /// Reports pending are sent this often.
    pub report_every: Duration,
    /// The first reports go within this of the start (a random moment,
    /// so hosts started together don't report together).
    pub report_first: Duration,
    /// The fraction of a certificate's life at which it is renewed.
    pub renew_at: f64,
    /// Renewal comes up to this fraction of `renew_at` earlier, at
    /// random (hosts enrolled together don't renew together).
    pub renew_jitter: f64,
    /// Two renewals are at least this far apart (a certificate issued
    /// short, or a tiny `renew_at`, can't make a renewal loop).
    pub renew_floor: Duration,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            report_every: Duration::from_secs(10),
            report_first: Duration::from_secs(2),
            renew_at: 2.0 / 3.0,
            renew_jitter: 0.05,
            renew_floor: Duration::from_secs(3600),
        }
    }
}

/// Exponential backoff with full jitter: a delay drawn from `random`
/// between zero and `min · 2^attempt`, capped at `max`.
pub fn backoff_delay(min: Duration, max: Duration, attempt: u32, random: u64) -> Duration {
    let ceiling = min
        .checked_mul(2u32.saturating_pow(attempt.min(31)))
        .unwrap_or(max)
        .min(max);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(random % nanos.saturating_add(1))
}

fn random() -> u64 {
    // Without the kernel's randomness (never seen), no jitter: the ceiling.
    getrandom::u64().unwrap_or(u64::MAX)
}

/// The failures in a row of one loop, and the wait before its next try.
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { attempt: 0 }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    async fn wait(&mut self, config: &AgentConfig) {
        let delay = backoff_delay(
            config.backoff_min,
            config.backoff_max,
            self.attempt,
            random(),
        );
        self.attempt = self.attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

/// Runs the agent until `shutdown` is cancelled (`Ok`) or the controller
/// says this host is revoked: then `host.revoked()` is called and the
/// answer is `Err(AgentError::Revoked)` (or the wipe's own error if it
/// failed). Every other failure is retried, reported to
/// [`Host::unreachable`].
pub async fn run(
    client: Client,
    key: HostKey,
    host: Arc<dyn Host>,
    config: AgentConfig,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let agent = Agent {
        client,
        host,
        config,
        host_calls: Arc::new(tokio::sync::Mutex::new(())),
    };
    let revoked = tokio::select! {
        () = shutdown.cancelled() => None,
        revoked = agent.sync_loop() => Some(revoked),
        revoked = agent.report_loop() => Some(revoked),
        revoked = agent.renew_loop(key) => Some(revoked),
    };
    // The loops are dropped, but a host call they started on a blocking
    // thread runs on: wait for it, so nothing lands after the wipe (a
    // batch of hashes) or after `run` returned.
    drop(agent.host_calls.lock().await);
    let Some(Revoked) = revoked else {
        return Ok(());
    };
    agent.blocking(|host| host.revoked()).await.map_err(|e| {
        AgentError::Host(HostError(format!(
            "this host was revoked, but wiping its cached credentials failed: {e}"
        )))
    })?;
    Err(AgentError::Revoked)
}

/// What ends a loop: the controller said this host is revoked.
struct Revoked;

struct Agent {
    client: Client,
    host: Arc<dyn Host>,
    config: AgentConfig,
    /// Held by every host call while it runs (one at a time per agent).
    host_calls: Arc<tokio::sync::Mutex<()>>,
}

impl Agent {
    /// A host method on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Host) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, HostError> {
        let host = Arc::clone(&self.host);
        let running = Arc::clone(&self.host_calls).lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let result = call(host.as_ref());
            drop(running);
            result
        })
        .await
        .map_err(|e| HostError(format!("the host's call panicked or was cancelled: {e}")))?
    }

    /// A failure to retry: told to the host, then the backoff's wait.
    async fn retry_after(&self, error: &AgentError, backoff: &mut Backoff) {
        self.host.unreachable(error);
        backoff.wait(&self.config).await;
    }

    async fn sync_loop(&self) -> Revoked {
        let mut backoff = Backoff::new();
        loop {
            match self.sync_once().await {
                Ok(()) => backoff.reset(),
                Err(AgentError::Revoked) => return Revoked,
                Err(error) => self.retry_after(&error, &mut backoff).await,
            }
        }
    }

    /// One long poll (or a snapshot) applied.
    async fn sync_once(&self) -> Result<(), AgentError> {
        let position = self.blocking(|host| host.position()).await?;
        let Some(position) = position else {
            return self.resync(None).await;
        };
        let answer = match self.client.sync(&position.epoch, position.cursor).await {
            Ok(answer) => answer,
            Err(AgentError::Gone { .. }) => return self.resync(Some(&position)).await,
            Err(error) => return Err(error),
        };
        if answer.body.epoch != position.epoch {
            // A new epoch is a new history: only a full state is sound.
            return self.resync(None).await;
        }
        if answer.body.cursor < position.cursor {
            return Err(AgentError::Replay {
                answer: answer.body.cursor,
                host: position.cursor,
            });
        }
        if answer
            .body
            .changes
            .iter()
            .any(|change| matches!(change, HostChange::Revoked))
        {
            return Err(AgentError::Revoked);
        }
        let time = answer.time;
        self.blocking(move |host| host.apply_changes(&answer.body, time))
            .await?;
        Ok(())
    }

    /// The full state swapped in; within the position's epoch, one older
    /// than its cursor is refused as a replay.
    async fn resync(&self, position: Option<&Position>) -> Result<(), AgentError> {
        let answer = self.client.snapshot().await?;
        if let Some(position) = position
            && answer.body.epoch == position.epoch
            && answer.body.cursor < position.cursor
        {
            return Err(AgentError::Replay {
                answer: answer.body.cursor,
                host: position.cursor,
            });
        }
        let time = answer.time;
        self.blocking(move |host| host.apply_snapshot(&answer.body, time))
            .await?;
        Ok(())
    }

    async fn report_loop(&self) -> Revoked {
        // Soon after the start, at a random moment within report_first.
        let first = backoff_delay(
            self.config.report_first,
            self.config.report_first,
            0,
            random(),
        );
        tokio::time::sleep(first).await;
        let mut backoff = Backoff::new();
        loop {
            match self.report_once().await {
                Ok(sent) => {
                    backoff.reset();
                    // A full batch: more may wait.
                    if sent < MAX_REPORT_ENTRIES {
                        tokio::time::sleep(self.config.report_every).await;
                    }
                }
                Err(AgentError::Revoked) => return Revoked,
                Err(error) => self.retry_after(&error, &mut backoff).await,
            }
        }
    }

    /// One batch of pending reports sent and marked sent; how many.
    async fn report_once(&self) -> Result<usize, AgentError> {
        let pending = self
            .blocking(|host| host.pending_reports(MAX_REPORT_ENTRIES))
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let pending: Vec<_> = pending.into_iter().take(MAX_REPORT_ENTRIES).collect();
        let ids: Vec<i64> = pending.iter().map(|(id, _)| *id).collect();
        let entries = pending
            .into_iter()
            .map(|(_, mut entry)| {
                // One overlong line must not block the queue for ever.
                truncate(&mut entry.text, MAX_ENTRY_BYTES);
                entry
            })
            .collect();
        let request = ReportRequest {
            host: self.client.hostname().to_owned(),
            entries,
        };
        self.client.report(&request).await?;
        let count = ids.len();
        self.blocking(move |host| host.reports_sent(&ids)).await?;
        Ok(count)
    }

    async fn renew_loop(&self, key: HostKey) -> Revoked {
        let mut key = key;
        let mut last_renewal: Option<tokio::time::Instant> = None;
        let mut backoff = Backoff::new();
        loop {
            let due = match self.renewal_due(last_renewal) {
                Ok(due) => due,
                Err(error) => {
                    // An unreadable certificate: nothing to renew by; the
                    // long poll says whether it still works.
                    self.host.unreachable(&error);
                    tokio::time::sleep(self.config.backoff_max).await;
                    continue;
                }
            };
            // Slept in steps of an hour at most: a suspend or a clock
            // change moves the wall-clock target.
            let mut left = due;
            while !left.is_zero() {
                let step = left.min(Duration::from_secs(3600));
                tokio::time::sleep(step).await;
                left = left.saturating_sub(step);
            }
            match self.renew_once(&mut key).await {
                Ok(()) => {
                    backoff.reset();
                    last_renewal = Some(tokio::time::Instant::now());
                }
                Err(AgentError::Revoked) => return Revoked,
                Err(error) => self.retry_after(&error, &mut backoff).await,
            }
        }
    }

    /// How long until the current certificate is due for renewal: at
    /// `renew_at` of its life, up to `renew_jitter` of that earlier, and
    /// never sooner than `renew_floor` after the last renewal.
    fn renewal_due(
        &self,
        last_renewal: Option<tokio::time::Instant>,
    ) -> Result<Duration, AgentError> {
        let (not_before, not_after) = self.client.certificate_validity()?;
        let life = not_after.duration_since(not_before).unwrap_or_default();
        let fraction = self.config.renew_at.clamp(0.0, 1.0)
            * (1.0 - self.config.renew_jitter.clamp(0.0, 1.0) * unit_random());
        let target = not_before + life.mul_f64(fraction);
        let until_target = target.duration_since(SystemTime::now()).unwrap_or_default();
        let until_floor = last_renewal.map_or(Duration::ZERO, |at| {
            (at + self.config.renew_floor).saturating_duration_since(tokio::time::Instant::now())
        });
        Ok(until_target.max(until_floor))
    }

    /// A new key, its certificate, the client switched to it, and the
    /// host told (retried until it has stored them: the client already
    /// presents the new certificate, which replaced the old one).
    async fn renew_once(&self, key: &mut HostKey) -> Result<(), AgentError> {
        let fresh = HostKey::generate()?;
        let answer = self.client.renew(&fresh).await?.body;
        self.client
            .switch_certificate(&answer.certificate_pem, &answer.ca_bundle_pem, &fresh)?;
        *key = fresh;
        let mut backoff = Backoff::new();
        loop {
            let (certificate, bundle, stored) = (
                answer.certificate_pem.clone(),
                answer.ca_bundle_pem.clone(),
                key.clone(),
            );
            match self
                .blocking(move |host| host.certificate_renewed(&certificate, &bundle, &stored))
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) => {
                    self.retry_after(&AgentError::Host(error), &mut backoff)
                        .await;
                }
            }
        }
    }
}

/// A random number in [0, 1).
fn unit_random() -> f64 {
    // 53 bits: every value an f64 in [0, 1) holds exactly.
    (random() >> 11) as f64 / (1u64 << 53) as f64
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_between_zero_and_a_doubling_capped_ceiling() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(30);
        for attempt in 0..40 {
            let ceiling = (min * 2u32.saturating_pow(attempt.min(31))).min(max);
            // The bounds: the smallest and largest draws.
            assert_eq!(backoff_delay(min, max, attempt, 0), Duration::ZERO);
            let top = u64::try_from(ceiling.as_nanos()).unwrap();
            assert_eq!(backoff_delay(min, max, attempt, top), ceiling);
            for _ in 0..200 {
                let delay = backoff_delay(min, max, attempt, random());
                assert!(
                    delay <= ceiling,
                    "attempt {attempt}: {delay:?} > {ceiling:?}"
                );
            }
        }
        assert!(
            backoff_delay(min, max, 0, u64::MAX) <= min,
            "the first retry waits at most backoff_min"
        );
        assert_eq!(
            backoff_delay(min, max, 3, 800_000_000),
            Duration::from_millis(800)
        );
        assert!(backoff_delay(min, max, 1_000, u64::MAX - 1) <= max);
        // Full jitter: the draws spread over the whole range, not near its top.
        let draws: Vec<Duration> = (0..2_000)
            .map(|_| backoff_delay(min, max, 20, random()))
            .collect();
        assert!(draws.iter().any(|d| *d < max / 4));
        assert!(draws.iter().any(|d| *d > max * 3 / 4));
    }

    #[test]
    fn report_text_is_cut_on_a_character_boundary() {
        let mut text = "é".repeat(10);
        truncate(&mut text, 5);
        assert_eq!(text, "éé");
        let mut short = "abc".to_string();
        truncate(&mut short, 5);
        assert_eq!(short, "abc");
    }
}
