//! The argon2 queue: at most `max_concurrent` hashes run at once, on
//! blocking threads (never on the async threads that serve other calls),
//! at most `queue_max` more wait per class, each for at most `queue_wait`,
//! and a request whose caller has left the bus is dropped before it costs
//! a hash.
//!
//! Why bounded: an argon2id hash takes ~19 MiB and ~20 ms; a login flood
//! with an unbounded queue would exhaust memory or make every answer late
//! past the PAM module's 3 s timeout. Refusing early (`Full`, `TimedOut`)
//! lets the module answer "try again" while there is still time.
//!
//! Why two classes: one user's own work (a password change, a check of
//! their own password, a registration, anything done with a token, `su`
//! run by them) must never take the capacity root's logins need (sshd,
//! login). Jobs of [`Requester::Root`] form the login class: they have
//! `queue_max` waiting places of their own, always get the next free turn
//! before any other job, and one turn (of two or more) is never given to
//! the other class; likewise, with two or more turns the shared class
//! always gets one while it has work waiting, so a flood of remote logins
//! can't starve a user's `sudo`. Within that shared class, turns go round the
//! requesters in order, and one requester holds at most a quarter of the
//! class's places (running or waiting).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    /// `queue_max` jobs of its class were waiting already, or its
    /// requester held its whole share.
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

/// Whose work a job is: its class, and whose share it counts in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Requester {
    /// root with no token, for itself or for someone else (sshd, login,
    /// root's admin tools): the login class.
    Root,
    /// A uid's own share: a non-root caller, or the real uid of a setuid
    /// program (`su`, `passwd`) that root's PAM module passed on.
    Uid(u32),
    /// A token presented on a root connection (on any other connection
    /// the connection's uid is the requester).
    Token(String),
}

pub struct HashQueue {
    /// How many jobs may run at once.
    max: usize,
    queue_max: usize,
    queue_wait: Duration,
    state: Arc<Mutex<State>>,
}

/// The turns and the waiting jobs, behind one lock.
struct State {
    max: usize,
    /// The most turns the shared class holds at once: `max` − 1, so one is
    /// always left for logins, but at least 1 (with one turn in all, a
    /// login waits for at most the one job running).
    shared_max: usize,
    /// The most one shared requester holds, running and waiting.
    share_max: usize,
    running: usize,
    running_shared: usize,
    next_id: u64,
    logins: VecDeque<Waiter>,
    shared: HashMap<Requester, VecDeque<Waiter>>,
    /// Requesters with waiting jobs, in the order their turns come.
    rotation: VecDeque<Requester>,
    shared_waiting: usize,
    held: HashMap<Requester, usize>,
}

struct Waiter {
    id: u64,
    granted: oneshot::Sender<()>,
}

/// A waiting place: its id, and where its turn is announced.
type Place = (u64, oneshot::Receiver<()>);

/// The lock, also after a panic elsewhere: every change under it is a few
/// counters and queue entries, left consistent between statements, and a
/// lost turn would shrink the queue for good.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Takes a turn now (None) or a waiting place.
    fn admit(&mut self, who: &Requester, queue_max: usize) -> Result<Option<Place>, QueueError> {
        let free = self.running < self.max;
        if *who == Requester::Root {
            if free && self.logins.is_empty() {
                self.running += 1;
                return Ok(None);
            }
            if self.logins.len() >= queue_max {
                return Err(QueueError::Full);
            }
            let (id, tx, rx) = self.waiter();
            self.logins.push_back(Waiter { id, granted: tx });
            return Ok(Some((id, rx)));
        }
        let held = self.held.get(who).copied().unwrap_or(0);
        if held >= self.share_max {
            return Err(QueueError::Full);
        }
        if free
            && self.running_shared < self.shared_max
            && self.logins.is_empty()
            && self.shared_waiting == 0
        {
            self.running += 1;
            self.running_shared += 1;
            *self.held.entry(who.clone()).or_insert(0) += 1;
            return Ok(None);
        }
        if self.shared_waiting >= queue_max {
            return Err(QueueError::Full);
        }
        let (id, tx, rx) = self.waiter();
        let waiting = self.shared.entry(who.clone()).or_default();
        if waiting.is_empty() {
            self.rotation.push_back(who.clone());
        }
        waiting.push_back(Waiter { id, granted: tx });
        self.shared_waiting += 1;
        *self.held.entry(who.clone()).or_insert(0) += 1;
        Ok(Some((id, rx)))
    }

    fn waiter(&mut self) -> (u64, oneshot::Sender<()>, oneshot::Receiver<()>) {
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        (self.next_id, tx, rx)
    }

    /// Hands free turns out: waiting logins first, then the shared class
    /// in rotation. A waiter popped here holds its turn whether or not it
    /// still listens: whoever gave up on it releases it (see [`Pending`]).
    fn dispatch(&mut self) {
        while self.running < self.max {
            // With two or more turns, the shared class is never left with
            // none while it waits: a flood of remote logins (sshd asks as
            // root) must not starve a user's `sudo` or screen unlock, as
            // the user's work must not starve logins. With one turn in
            // all, logins keep going first.
            let shared_starved =
                self.max >= 2 && self.running_shared == 0 && self.shared_waiting > 0;
            if !shared_starved && let Some(w) = self.logins.pop_front() {
                self.running += 1;
                let _ = w.granted.send(());
                continue;
            }
            if self.running_shared >= self.shared_max {
                break;
            }
            let Some(who) = self.rotation.pop_front() else {
                break;
            };
            let Some(waiting) = self.shared.get_mut(&who) else {
                continue;
            };
            let Some(w) = waiting.pop_front() else {
                self.shared.remove(&who);
                continue;
            };
            if waiting.is_empty() {
                self.shared.remove(&who);
            } else {
                self.rotation.push_back(who);
            }
            self.shared_waiting -= 1;
            self.running += 1;
            self.running_shared += 1;
            let _ = w.granted.send(());
        }
    }

    /// A turn of `who`'s ends.
    fn release(&mut self, who: &Requester) {
        self.running = self.running.saturating_sub(1);
        if *who != Requester::Root {
            self.running_shared = self.running_shared.saturating_sub(1);
            self.unhold(who);
        }
        self.dispatch();
    }

    fn unhold(&mut self, who: &Requester) {
        if let Some(n) = self.held.get_mut(who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.held.remove(who);
            }
        }
    }

    /// Takes waiter `id` out of the queue; false when it was given its
    /// turn already.
    fn cancel(&mut self, who: &Requester, id: u64) -> bool {
        if *who == Requester::Root {
            return match self.logins.iter().position(|w| w.id == id) {
                Some(at) => {
                    self.logins.remove(at);
                    true
                }
                None => false,
            };
        }
        let Some(waiting) = self.shared.get_mut(who) else {
            return false;
        };
        let Some(at) = waiting.iter().position(|w| w.id == id) else {
            return false;
        };
        waiting.remove(at);
        if waiting.is_empty() {
            self.shared.remove(who);
            self.rotation.retain(|r| r != who);
        }
        self.shared_waiting -= 1;
        self.unhold(who);
        true
    }
}

/// A turn held: released (and the next one handed out) when dropped.
struct Turn {
    state: Arc<Mutex<State>>,
    who: Requester,
}

impl Drop for Turn {
    fn drop(&mut self) {
        lock(&self.state).release(&self.who);
    }
}

/// A waiting place: when given up (the wait ran out, the call was
/// dropped) it leaves the queue, or releases the turn it was given.
struct Pending {
    state: Arc<Mutex<State>>,
    who: Requester,
    id: u64,
    /// Set once the turn is taken over by a [`Turn`].
    taken: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut state = lock(&self.state);
        if !state.cancel(&self.who, self.id) {
            state.release(&self.who);
        }
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
        let shared_max = max.saturating_sub(1).max(1);
        HashQueue {
            max,
            queue_max,
            queue_wait,
            state: Arc::new(Mutex::new(State {
                max,
                shared_max,
                share_max: ((queue_max + shared_max) / 4).max(1),
                running: 0,
                running_shared: 0,
                next_id: 0,
                logins: VecDeque::new(),
                shared: HashMap::new(),
                rotation: VecDeque::new(),
                shared_waiting: 0,
                held: HashMap::new(),
            })),
        }
    }

    /// How many jobs may run at once (`max_concurrent`, resolved).
    pub fn max_concurrent(&self) -> usize {
        self.max
    }

    /// How many jobs wait for a turn right now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        let state = lock(&self.state);
        state.logins.len() + state.shared_waiting
    }

    /// Runs `job` for `who` on a blocking thread when a turn comes, unless
    /// the queue is full, the wait runs out, or `caller_gone` is set by then.
    pub async fn run<T, F>(
        &self,
        who: &Requester,
        caller_gone: &AtomicBool,
        job: F,
    ) -> Result<T, QueueError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let turn = self.turn(who, caller_gone).await?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
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
        who: &Requester,
        caller_gone: &AtomicBool,
        job: F,
    ) -> Result<T, QueueError>
    where
        F: FnOnce(oneshot::Sender<T>) + Send + 'static,
        T: Send + 'static,
    {
        let turn = self.turn(who, caller_gone).await?;
        let (tx, rx) = oneshot::channel();
        // Not awaited: the answer comes through `rx`; a job that panics
        // drops `tx` unsent, which `rx` reports.
        drop(tokio::task::spawn_blocking(move || {
            let _turn = turn;
            job(tx)
        }));
        rx.await.map_err(|_| QueueError::Failed)
    }

    /// Waits for a turn (see [`HashQueue::run`]).
    async fn turn(&self, who: &Requester, caller_gone: &AtomicBool) -> Result<Turn, QueueError> {
        let admitted = lock(&self.state).admit(who, self.queue_max)?;
        if let Some((id, granted)) = admitted {
            let mut pending = Pending {
                state: self.state.clone(),
                who: who.clone(),
                id,
                taken: false,
            };
            // On an error `pending`, dropped, leaves the queue or gives
            // back the turn it was handed meanwhile.
            match tokio::time::timeout(self.queue_wait, granted).await {
                Ok(Ok(())) => pending.taken = true,
                Ok(Err(_)) => return Err(QueueError::Failed),
                Err(_elapsed) => return Err(QueueError::TimedOut),
            }
        }
        let turn = Turn {
            state: self.state.clone(),
            who: who.clone(),
        };
        // Checked after the wait, right before the cost: a caller that
        // gave up (a PAM timeout, a killed client) gets nothing from it.
        if caller_gone.load(Ordering::SeqCst) {
            return Err(QueueError::CallerGone);
        }
        Ok(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    const ROOT: Requester = Requester::Root;

    type Order = Arc<Mutex<Vec<&'static str>>>;

    /// A job that waits until `open` is sent to or dropped, then records
    /// `label`.
    fn gated(
        open: std::sync::mpsc::Receiver<()>,
        order: Order,
        label: &'static str,
    ) -> impl FnOnce() -> u32 + Send + 'static {
        move || {
            let _ = open.recv();
            order.lock().unwrap().push(label);
            7
        }
    }

    fn recorded(order: Order, label: &'static str) -> impl FnOnce() -> u32 + Send + 'static {
        move || {
            order.lock().unwrap().push(label);
            7
        }
    }

    impl HashQueue {
        fn running(&self) -> usize {
            lock(&self.state).running
        }
    }

    /// Waits (without a deadline of its own) until the queue holds
    /// `running` running and `waiting` waiting jobs.
    async fn until(queue: &HashQueue, running: usize, waiting: usize) {
        while queue.running() != running || queue.waiting() != waiting {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Spawns `job` for `who` on `queue`.
    fn spawn_job(
        queue: &Arc<HashQueue>,
        who: Requester,
        job: impl FnOnce() -> u32 + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<u32, QueueError>> {
        let queue = queue.clone();
        tokio::spawn(async move { queue.run(&who, &AtomicBool::new(false), job).await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_other_requesters_never_takes_the_turn_kept_for_logins() {
        let queue = Arc::new(HashQueue::new(2, 8, Duration::from_secs(30)));
        let order = Order::default();
        let mut gates = Vec::new();
        let mut flood = Vec::new();
        for uid in 0..6 {
            let (open, gate) = std::sync::mpsc::channel();
            gates.push(open);
            flood.push(spawn_job(
                &queue,
                Requester::Uid(1000 + uid),
                gated(gate, order.clone(), "user"),
            ));
        }
        // One of two turns runs a user's job; the other five wait.
        until(&queue, 1, 5).await;
        // The login runs now, in the turn kept for logins (the deadline
        // only keeps a starved login from hanging the test).
        let login = tokio::time::timeout(
            Duration::from_secs(20),
            queue.run(
                &ROOT,
                &AtomicBool::new(false),
                recorded(order.clone(), "login"),
            ),
        )
        .await;
        assert_eq!(login, Ok(Ok(7)), "the login waited behind the flood");
        assert_eq!(*order.lock().unwrap(), vec!["login"]);
        drop(gates);
        for job in flood {
            assert_eq!(job.await.unwrap(), Ok(7));
        }
        assert_eq!((queue.running(), queue.waiting()), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_logins_never_takes_every_turn_from_waiting_user_work() {
        let queue = Arc::new(HashQueue::new(2, 8, Duration::from_secs(30)));
        let order = Order::default();
        // Logins hold both turns, and more logins wait.
        let (open_first, gate_first) = std::sync::mpsc::channel();
        let (open_second, gate_second) = std::sync::mpsc::channel();
        let running = [
            spawn_job(&queue, ROOT, gated(gate_first, order.clone(), "login")),
            spawn_job(&queue, ROOT, gated(gate_second, order.clone(), "login")),
        ];
        until(&queue, 2, 0).await;
        let user = spawn_job(
            &queue,
            Requester::Uid(1000),
            recorded(order.clone(), "user"),
        );
        until(&queue, 2, 1).await;
        let waiting_logins: Vec<_> = (0..3)
            .map(|_| spawn_job(&queue, ROOT, recorded(order.clone(), "waiting login")))
            .collect();
        until(&queue, 2, 4).await;
        // The first turn freed goes to the user's job, ahead of the logins
        // that waited after it; the other login still runs meanwhile.
        drop(open_first);
        assert_eq!(user.await.unwrap(), Ok(7));
        assert_eq!(order.lock().unwrap()[..2], ["login", "user"]);
        drop(open_second);
        for job in running.into_iter().chain(waiting_logins) {
            assert_eq!(job.await.unwrap(), Ok(7));
        }
        assert_eq!((queue.running(), queue.waiting()), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_login_gets_the_next_turn_before_waiting_user_work() {
        let queue = Arc::new(HashQueue::new(1, 8, Duration::from_secs(30)));
        let order = Order::default();
        let (open, gate) = std::sync::mpsc::channel();
        let first = spawn_job(
            &queue,
            Requester::Uid(1),
            gated(gate, order.clone(), "first"),
        );
        until(&queue, 1, 0).await;
        let users = [
            spawn_job(&queue, Requester::Uid(2), recorded(order.clone(), "user")),
            spawn_job(&queue, Requester::Uid(3), recorded(order.clone(), "user")),
        ];
        until(&queue, 1, 2).await;
        let login = spawn_job(&queue, ROOT, recorded(order.clone(), "login"));
        until(&queue, 1, 3).await;
        drop(open);
        assert_eq!(first.await.unwrap(), Ok(7));
        assert_eq!(login.await.unwrap(), Ok(7));
        for user in users {
            assert_eq!(user.await.unwrap(), Ok(7));
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec!["first", "login", "user", "user"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_requester_holds_at_most_its_share_and_others_still_get_places() {
        // One turn, 8 places: a requester holds at most (8 + 1) / 4 = 2.
        let queue = Arc::new(HashQueue::new(1, 8, Duration::from_secs(30)));
        let order = Order::default();
        let flooder = Requester::Uid(1000);
        let (open, gate) = std::sync::mpsc::channel();
        let running = spawn_job(&queue, flooder.clone(), gated(gate, order.clone(), "a"));
        until(&queue, 1, 0).await;
        let waiting = spawn_job(&queue, flooder.clone(), recorded(order.clone(), "a"));
        until(&queue, 1, 1).await;
        // Its third is refused at once, though places are free...
        let third = queue
            .run(
                &flooder,
                &AtomicBool::new(false),
                recorded(order.clone(), "x"),
            )
            .await;
        assert_eq!(third, Err(QueueError::Full));
        // ...which another requester still gets.
        let other = spawn_job(&queue, Requester::Uid(1001), recorded(order.clone(), "b"));
        until(&queue, 1, 2).await;
        drop(open);
        for job in [running, waiting, other] {
            assert_eq!(job.await.unwrap(), Ok(7));
        }
        assert_eq!(*order.lock().unwrap(), vec!["a", "a", "b"]);
        // Its share is back once its jobs ended.
        let again = queue
            .run(
                &flooder,
                &AtomicBool::new(false),
                recorded(order.clone(), "a"),
            )
            .await;
        assert_eq!(again, Ok(7));
        assert!(lock(&queue.state).held.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_go_round_the_requesters_and_a_timed_out_place_is_given_back() {
        let queue = Arc::new(HashQueue::new(1, 16, Duration::from_secs(30)));
        let order = Order::default();
        let (open, gate) = std::sync::mpsc::channel();
        let login = spawn_job(&queue, ROOT, gated(gate, order.clone(), "login"));
        until(&queue, 1, 0).await;
        let mut jobs = Vec::new();
        for (n, (uid, label)) in [(1, "a1"), (1, "a2"), (2, "b1"), (2, "b2")]
            .into_iter()
            .enumerate()
        {
            jobs.push(spawn_job(
                &queue,
                Requester::Uid(uid),
                recorded(order.clone(), label),
            ));
            until(&queue, 1, n + 1).await;
        }
        drop(open);
        assert_eq!(login.await.unwrap(), Ok(7));
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(7));
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec!["login", "a1", "b1", "a2", "b2"]
        );

        // A waiter whose wait runs out leaves no trace behind.
        let short = Arc::new(HashQueue::new(1, 4, Duration::from_millis(50)));
        let (open, gate) = std::sync::mpsc::channel();
        let blocker = spawn_job(&short, ROOT, gated(gate, order.clone(), "blocker"));
        until(&short, 1, 0).await;
        let late = short
            .run(&Requester::Uid(5), &AtomicBool::new(false), || 1)
            .await;
        assert_eq!(late, Err(QueueError::TimedOut));
        assert_eq!(short.waiting(), 0);
        assert!(lock(&short.state).held.is_empty());
        drop(open);
        assert_eq!(blocker.await.unwrap(), Ok(7));
        assert_eq!(short.running(), 0);
    }

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
                q.run(&ROOT, &g, slow_job(r, p, n, 400)).await
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
                q.run(&ROOT, &g, slow_job(r, p, n, 50)).await
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
            tokio::spawn(async move { q.run(&ROOT, &g, slow_job(r, p, n, 200)).await })
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
            tokio::spawn(async move { q.run(&ROOT, &g, slow_job(r, p, n, 200)).await })
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
        let r: Result<(), _> = queue.run(&ROOT, &gone, || panic!("boom")).await;
        assert_eq!(r, Err(QueueError::Failed));
        assert_eq!(queue.run(&ROOT, &gone, || 1).await, Ok(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_comes_before_the_job_ends_and_its_turn_is_held_till_then() {
        let queue = Arc::new(HashQueue::new(1, 4, Duration::from_secs(5)));
        let gone = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let answered = queue
            .run_answering(&ROOT, &gone, |tx| {
                let _ = tx.send(7);
                // Work after the answer (a wipe), still holding the turn.
                std::thread::sleep(Duration::from_millis(300));
            })
            .await;
        assert_eq!(answered, Ok(7));
        assert!(started.elapsed() < Duration::from_millis(250));
        // The turn is still held: the next job waits for the first to end.
        assert_eq!(queue.run(&ROOT, &gone, || 8).await, Ok(8));
        assert!(started.elapsed() >= Duration::from_millis(300));
        // A job that panics before answering fails, and frees its turn.
        let r: Result<u32, _> = queue
            .run_answering(&ROOT, &gone, |_tx| panic!("boom"))
            .await;
        assert_eq!(r, Err(QueueError::Failed));
        assert_eq!(queue.run(&ROOT, &gone, || 9).await, Ok(9));
    }
}
