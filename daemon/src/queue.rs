//! The argon2 queue: at most `max_concurrent` hashes run at once, on
//! blocking threads (never on the async threads that serve other calls),
//! at most `queue_max` more wait, each for at most `queue_wait`, and a
//! request whose caller has left the bus is dropped before it costs a hash.
//!
//! Why bounded: an argon2id hash takes ~19 MiB and ~20 ms; a login flood
//! with an unbounded queue would exhaust memory or make every answer late
//! past the PAM module's 3 s timeout. Refusing early (`Full`, `TimedOut`)
//! lets the module answer "try again" while there is still time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, oneshot};

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// `queue_max` jobs were waiting already.
    #[error("rosterd is busy checking passwords: try again in a moment")]
    Full,
    /// The job waited `queue_wait` without getting a turn.
    #[error("rosterd is busy checking passwords: the wait ran out, try again")]
    TimedOut,
    /// The caller left the bus while the job waited.
    #[error("the caller went away")]
    CallerGone,
    /// The blocking task died (a panic inside the job).
    #[error("the password task failed")]
    Failed,
}

pub struct HashQueue {
    /// How many jobs may run at once.
    max: usize,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_max: usize,
    queue_wait: Duration,
}

/// Counts a waiting job out of the queue whatever way it leaves.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashQueue {
    /// `max_concurrent` 0 means one per CPU.
    pub fn new(max_concurrent: usize, queue_max: usize, queue_wait: Duration) -> HashQueue {
        let max = if max_concurrent == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            max_concurrent
        };
        HashQueue {
            max,
            permits: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            queue_max,
            queue_wait,
        }
    }

    /// How many jobs may run at once (`max_concurrent`, resolved).
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// How many jobs wait for a turn right now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs `job` on a blocking thread when a turn comes, unless the queue
    /// is full, the wait runs out, or `caller_gone` is set by then.
    pub async fn run<T, F>(&self, caller_gone: &AtomicBool, job: F) -> Result<T, QueueError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.turn(caller_gone).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|_| QueueError::Failed)
    }

    /// As [`HashQueue::run`], but the answer is what `job` sends, as soon
    /// as it sends it: the job may go on working after that (a verify
    /// wipes its 19 MiB buffer) with its turn still held, so the cap on
    /// concurrent jobs, and on their memory, still holds.
    pub async fn run_answering<T, F>(
        &self,
        caller_gone: &AtomicBool,
        job: F,
    ) -> Result<T, QueueError>
    where
        F: FnOnce(oneshot::Sender<T>) + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.turn(caller_gone).await?;
        let (tx, rx) = oneshot::channel();
        // Not awaited: the answer comes through `rx`; a job that panics
        // drops `tx` unsent, which `rx` reports.
        drop(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(tx)
        }));
        rx.await.map_err(|_| QueueError::Failed)
    }

    /// Waits for a turn (see [`HashQueue::run`]).
    async fn turn(&self, caller_gone: &AtomicBool) -> Result<OwnedSemaphorePermit, QueueError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(QueueError::Failed),
            Err(TryAcquireError::NoPermits) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue_max {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(QueueError::Full);
                }
                let _waiting = Waiting(&self.waiting);
                match tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_closed)) => return Err(QueueError::Failed),
                    Err(_elapsed) => return Err(QueueError::TimedOut),
                }
            }
        };
        // Checked after the wait, right before the cost: a caller that
        // gave up (a PAM timeout, a killed client) gets nothing from it.
        if caller_gone.load(Ordering::SeqCst) {
            return Err(QueueError::CallerGone);
        }
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A job that sleeps and records how many ran at once.
    fn slow_job(
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        ran: Arc<AtomicUsize>,
        ms: u64,
    ) -> impl FnOnce() -> u32 + Send + 'static {
        move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(ms));
            running.fetch_sub(1, Ordering::SeqCst);
            ran.fetch_add(1, Ordering::SeqCst);
            7
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn caps_concurrency_queue_length_and_wait() {
        let queue = Arc::new(HashQueue::new(2, 2, Duration::from_millis(150)));
        let (running, peak, ran) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let gone = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (q, r, p, n, g) = (
                queue.clone(),
                running.clone(),
                peak.clone(),
                ran.clone(),
                gone.clone(),
            );
            tasks.push(tokio::spawn(async move {
                q.run(&g, slow_job(r, p, n, 400)).await
            }));
            // Let each job reach the queue in order.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap_or(Err(QueueError::Failed)));
        }
        assert_eq!(results[0], Ok(7));
        assert_eq!(results[1], Ok(7));
        // Two waited (queue_max = 2) past queue_wait: 150 ms < 400 ms.
        assert_eq!(results[2], Err(QueueError::TimedOut));
        assert_eq!(results[3], Err(QueueError::TimedOut));
        // The queue was full for the last two.
        assert_eq!(results[4], Err(QueueError::Full));
        assert_eq!(results[5], Err(QueueError::Full));
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(queue.waiting(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_job_runs_when_a_turn_comes_in_time() {
        let queue = Arc::new(HashQueue::new(1, 4, Duration::from_secs(5)));
        let (running, peak, ran) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let gone = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (q, r, p, n, g) = (
                queue.clone(),
                running.clone(),
                peak.clone(),
                ran.clone(),
                gone.clone(),
            );
            tasks.push(tokio::spawn(async move {
                q.run(&g, slow_job(r, p, n, 50)).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap_or(Err(QueueError::Failed)), Ok(7));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gone_caller_is_dropped_before_hashing() {
        let queue = Arc::new(HashQueue::new(1, 4, Duration::from_secs(5)));
        let (running, peak, ran) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let stays = Arc::new(AtomicBool::new(false));
        let leaves = Arc::new(AtomicBool::new(false));
        let first = {
            let (q, r, p, n, g) = (
                queue.clone(),
                running.clone(),
                peak.clone(),
                ran.clone(),
                stays.clone(),
            );
            tokio::spawn(async move { q.run(&g, slow_job(r, p, n, 200)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = {
            let (q, r, p, n, g) = (
                queue.clone(),
                running.clone(),
                peak.clone(),
                ran.clone(),
                leaves.clone(),
            );
            tokio::spawn(async move { q.run(&g, slow_job(r, p, n, 200)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leaves.store(true, Ordering::SeqCst);
        assert_eq!(first.await.unwrap_or(Err(QueueError::Failed)), Ok(7));
        assert_eq!(
            second.await.unwrap_or(Err(QueueError::Failed)),
            Err(QueueError::CallerGone)
        );
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_fails_without_leaking_its_turn() {
        let queue = HashQueue::new(1, 0, Duration::from_millis(10));
        let gone = AtomicBool::new(false);
        let r: Result<(), _> = queue.run(&gone, || panic!("boom")).await;
        assert_eq!(r, Err(QueueError::Failed));
        assert_eq!(queue.run(&gone, || 1).await, Ok(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_comes_before_the_job_ends_and_its_turn_is_held_till_then() {
        let queue = Arc::new(HashQueue::new(1, 4, Duration::from_secs(5)));
        let gone = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let answered = queue
            .run_answering(&gone, |tx| {
                let _ = tx.send(7);
                // Work after the answer (a wipe), still holding the turn.
                std::thread::sleep(Duration::from_millis(300));
            })
            .await;
        assert_eq!(answered, Ok(7));
        assert!(started.elapsed() < Duration::from_millis(250));
        // The turn is still held: the next job waits for the first to end.
        assert_eq!(queue.run(&gone, || 8).await, Ok(8));
        assert!(started.elapsed() >= Duration::from_millis(300));
        // A job that panics before answering fails, and frees its turn.
        let r: Result<u32, _> = queue.run_answering(&gone, |_tx| panic!("boom")).await;
        assert_eq!(r, Err(QueueError::Failed));
        assert_eq!(queue.run(&gone, || 9).await, Ok(9));
    }
}
