//! The public NSS snapshot: rebuilt from `Roster::nss_view` and written
//! atomically to `nss_cache` at start and after every change that affects
//! it, before that change is acknowledged.
//!
//! Which changes affect it is the store's to say: a commit that changed
//! what NSS shows sets core's `CommitMark`, which `Daemon::store` drains
//! after each store call, taking a generation number for the call
//! ([`SnapshotWriter::request`]); `Daemon::finish` waits until a write
//! that started after that number is finished ([`SnapshotWriter::wait`])
//! before answering. No handler asks for a write by hand, and a login
//! (lockout counters, sessions, last login) asks for none.
//!
//! Changes arriving together share one write. The writer task always
//! writes the newest state, so one write covers every request made before
//! it began: a burst of changes costs at most two writes (the one running
//! when it arrived, and one after).
//!
//! The writer reads its view on a connection of its own
//! ([`roster_core::roster::NssReader`], read-only): building a snapshot of
//! 10,000 users never holds the store's lock, so calls keep being served
//! while it is read, encoded and written. Under WAL a read started after a
//! commit contains it, which is all the acknowledgement needs.
//!
//! A write that fails (a full or read-only cache folder) is not an
//! acknowledgement: each caller whose change it should have shown gets
//! [`SnapshotStale`] ("the change is made, but NSS doesn't show it yet"),
//! after any work that must still follow the change. The writer then
//! tries again on its own ([`Retry`]: 100 ms doubling to 30 s, and at once
//! on a new change) until a write succeeds, and keeps a [`StaleMark`]
//! beside the database meanwhile for `roster doctor`.

use roster_client::RosterError;
use roster_core::roster::NssReader;
use roster_core::{Config, Roster};
use roster_snapshot::{GroupFields, UserFields};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// A change is committed but the write that should have shown it in NSS
/// failed: the caller must hear both halves (DESIGN.md: a write finishes
/// before the change is acknowledged), and must not repeat the change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the change is made, but NSS doesn't show it yet: rosterd couldn't write the NSS snapshot {path} \
     and retries until it can; check the free space and permissions of {folder} and rosterd's log"
)]
pub struct SnapshotStale {
    path: String,
    folder: String,
}

impl SnapshotStale {
    fn of(path: &Path) -> SnapshotStale {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        SnapshotStale {
            path: path.display().to_string(),
            folder: folder.display().to_string(),
        }
    }

    /// For a change whose answer carries a registration code: an error
    /// can't carry it, so say how to get another once NSS is current.
    pub fn losing_code(self, user: &str) -> RosterError {
        RosterError::SnapshotStale(format!(
            "{self}. The registration code can't be shown with an error: once the snapshot is \
             written again, make a new one with `roster users password {user} --reset`"
        ))
    }
}

impl From<SnapshotStale> for RosterError {
    fn from(stale: SnapshotStale) -> RosterError {
        RosterError::SnapshotStale(stale.to_string())
    }
}

/// How often a failed write is tried again without a new change: `first`
/// after the failure, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            first: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// A file in the database's folder that exists while the snapshot is
/// older than the database: created when a write fails, removed when one
/// succeeds. `roster doctor` reads it (so it also tells after rosterd has
/// stopped). It lives beside the database, not the snapshot: the cache
/// folder is the one that can't be written, and a change that got
/// committed proves the database's folder can.
///
/// `StaleMark::default()` keeps none (unit tests).
#[derive(Debug, Clone, Default)]
pub struct StaleMark(Option<PathBuf>);

impl StaleMark {
    /// The mark for the database at `database`: `<database>.snapshot-stale`.
    pub fn beside(database: &Path) -> StaleMark {
        let mut name = database.as_os_str().to_owned();
        name.push(".snapshot-stale");
        StaleMark(Some(PathBuf::from(name)))
    }

    /// Since when (seconds since the epoch) and why, one line each.
    fn set(&self, since: u64, why: &str) {
        let why = why.replace(['\n', '\r'], " ");
        if let Some(path) = &self.0
            && let Err(e) = std::fs::write(path, format!("{since}\n{why}\n"))
        {
            eprintln!(
                "rosterd: can't write {} (roster doctor reads it): {e}",
                path.display()
            );
        }
    }

    fn clear(&self) {
        if let Some(path) = &self.0 {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => eprintln!("rosterd: can't remove {}: {e}", path.display()),
            }
        }
    }
}

/// What the writer task has done, as waiters see it.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// The newest request number a finished write (failed or not) read.
    done: u64,
    /// The newest request number a successful write covered: every change
    /// numbered up to it is in the file.
    published: u64,
}

/// A run of failed writes, from the first failure to the next success.
struct Streak {
    started: Instant,
    attempts: u32,
    delay: Duration,
}

pub struct SnapshotWriter {
    wanted: AtomicU64,
    wake: Notify,
    progress: watch::Sender<Progress>,
    /// Added to the counter for the file's generation, so generations keep
    /// growing across restarts (seconds at start × 1e6).
    base: u64,
    path: PathBuf,
    retry: Retry,
    mark: StaleMark,
}

impl SnapshotWriter {
    /// The writer of the snapshot at `path` (named in errors), retrying a
    /// failed write on `retry`'s schedule, keeping `mark` while it fails.
    pub fn new(path: &Path, retry: Retry, mark: StaleMark) -> Arc<SnapshotWriter> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Arc::new(SnapshotWriter {
            wanted: AtomicU64::new(0),
            wake: Notify::new(),
            progress: watch::channel(Progress::default()).0,
            base: secs.saturating_mul(1_000_000),
            path: path.to_path_buf(),
            retry,
            mark,
        })
    }

    /// Call after committing a change NSS shows: the number to
    /// [`Self::wait`] for.
    pub fn request(&self) -> u64 {
        let generation = self.wanted.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        generation
    }

    /// Returns once a write that read `generation`'s change has finished:
    /// `Ok` when the file holds it (that write, or a later one, succeeded),
    /// else the error saying the change is made but not yet in NSS.
    pub async fn wait(&self, generation: u64) -> Result<(), SnapshotStale> {
        let mut rx = self.progress.subscribe();
        let progress = match rx.wait_for(|p| p.done >= generation).await {
            Ok(p) => *p,
            // The sender lives in `self`: it can't be gone while we are.
            Err(_) => return Err(SnapshotStale::of(&self.path)),
        };
        if progress.published >= generation {
            Ok(())
        } else {
            Err(SnapshotStale::of(&self.path))
        }
    }

    /// Request and wait, for the tests: rosterd requests in
    /// `Daemon::store` (when core's commit mark is set) and waits in
    /// `Daemon::finish`.
    #[cfg(test)]
    pub async fn refresh(&self) -> Result<(), SnapshotStale> {
        let generation = self.request();
        self.wait(generation).await
    }

    /// Writes the current state now (at start, before serving). A success
    /// clears a mark left by an earlier run.
    pub fn write_now(&self, roster: &Mutex<Roster>, config: &Config) -> Result<(), String> {
        write(roster, config, self.base)?;
        self.mark.clear();
        Ok(())
    }

    /// The writer task: runs until the daemon stops. `write` builds and
    /// writes the snapshot numbered by its argument (see [`file_writer`]).
    ///
    /// After a failure it tries again on the [`Retry`] schedule with no
    /// new change needed, and at once when a change arrives; it logs the
    /// first failure of a streak and the recovery, not every attempt.
    pub async fn run(self: Arc<Self>, write: WriteFn) {
        let mut streak: Option<Streak> = None;
        loop {
            match streak.as_mut() {
                None => self.wake.notified().await,
                Some(s) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(s.delay) => {
                            s.delay = s.delay.saturating_mul(2).min(self.retry.max);
                        }
                    }
                }
            }
            // Every request made so far: one write covers them all.
            let target = self.wanted.load(Ordering::SeqCst);
            let (w, generation) = (write.clone(), self.base + target);
            let outcome = match tokio::task::spawn_blocking(move || w(generation)).await {
                Ok(outcome) => outcome,
                Err(e) => Err(format!("the writer task failed: {e}")),
            };
            match outcome {
                Ok(()) => {
                    if let Some(s) = streak.take() {
                        eprintln!(
                            "rosterd: the NSS snapshot {} is written again, after {} failed {} over {:.1} s: NSS shows every change",
                            self.path.display(),
                            s.attempts,
                            if s.attempts == 1 {
                                "attempt"
                            } else {
                                "attempts"
                            },
                            s.started.elapsed().as_secs_f64()
                        );
                        self.with_mark(StaleMark::clear).await;
                    }
                    self.progress.send_modify(|p| {
                        p.done = target;
                        p.published = target;
                    });
                }
                Err(e) => {
                    match streak.as_mut() {
                        Some(s) => s.attempts += 1,
                        None => {
                            eprintln!(
                                "rosterd: can't write the NSS snapshot: {e}. The changes are saved, \
                                 but NSS shows the state before them until a write succeeds: \
                                 retrying after {:?}, doubling up to every {:?}",
                                self.retry.first, self.retry.max
                            );
                            let since = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map(|d| d.as_secs())
                                .unwrap_or(0);
                            self.with_mark(move |m| m.set(since, &e)).await;
                            streak = Some(Streak {
                                started: Instant::now(),
                                attempts: 1,
                                delay: self.retry.first,
                            });
                        }
                    }
                    self.progress.send_modify(|p| p.done = target);
                }
            }
        }
    }

    /// Runs `f` on the mark off the async threads (it touches a file).
    async fn with_mark(&self, f: impl FnOnce(&StaleMark) + Send + 'static) {
        let mark = self.mark.clone();
        let _ = tokio::task::spawn_blocking(move || f(&mark)).await;
    }
}

/// Builds and writes the snapshot with the given generation.
pub type WriteFn = Arc<dyn Fn(u64) -> Result<(), String> + Send + Sync>;

/// The daemon's [`WriteFn`]: the view from `reader` (not the store's
/// lock), encoded and written atomically to `nss_cache`.
pub fn file_writer(reader: NssReader, config: Arc<Config>) -> WriteFn {
    let reader = Mutex::new(reader);
    Arc::new(move |generation| {
        let view = {
            let mut r = reader
                .lock()
                .map_err(|_| "the snapshot reader's lock is poisoned".to_string())?;
            r.view().map_err(|e| e.to_string())?
        };
        write_view(&view, &config, generation)
    })
}

/// Users, their private groups and the admin group, as NSS shows them:
/// borrowed from the view, so a 100,000-user snapshot copies no string
/// before it is encoded.
pub fn contents<'v>(
    view: &'v roster_core::roster::NssView,
    config: &'v Config,
) -> (Vec<UserFields<'v>>, Vec<GroupFields<'v>>) {
    let mut users = Vec::with_capacity(view.users.len());
    let mut groups = Vec::with_capacity(view.users.len() + 1);
    for u in &view.users {
        users.push(UserFields {
            name: &u.name,
            uid: u.uid,
            gid: u.gid(),
            gecos: &u.display_name,
            home: &u.home,
            shell: &u.shell,
        });
        groups.push(GroupFields {
            name: &u.name,
            gid: u.gid(),
            members: &[],
        });
    }
    groups.push(GroupFields {
        name: &config.admin_group,
        gid: config.admin_gid,
        members: &view.admin_members,
    });
    (users, groups)
}

fn write(roster: &Mutex<Roster>, config: &Config, generation: u64) -> Result<(), String> {
    let view = {
        let mut r = roster
            .lock()
            .map_err(|_| "the store lock is poisoned".to_string())?;
        r.nss_view().map_err(|e| e.to_string())?
    };
    write_view(&view, config, generation)
}

fn write_view(
    view: &roster_core::roster::NssView,
    config: &Config,
    generation: u64,
) -> Result<(), String> {
    let (users, groups) = contents(view, config);
    let bytes = roster_snapshot::encode_fields(generation, &users, &groups)
        .map_err(|e| format!("can't encode: {e:?}"))?;
    if let Some(dir) = config.nss_cache.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    roster_snapshot::write_atomically(&config.nss_cache, &bytes)
        .map_err(|e| format!("{}: {e}", config.nss_cache.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A writer that counts its writes and takes `cost` each.
    fn counting(cost: Duration) -> (WriteFn, Arc<AtomicUsize>) {
        let writes = Arc::new(AtomicUsize::new(0));
        let w = writes.clone();
        let write: WriteFn = Arc::new(move |_| {
            std::thread::sleep(cost);
            w.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        (write, writes)
    }

    fn writer() -> Arc<SnapshotWriter> {
        SnapshotWriter::new(
            Path::new("/var/cache/roster/nss.cache"),
            Retry::default(),
            StaleMark::default(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_arriving_together_share_one_write() {
        let writer = writer();
        let (write, writes) = counting(Duration::from_millis(100));
        tokio::spawn(writer.clone().run(write));
        // 50 changes at once, while writes are slow.
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let w = writer.clone();
                tokio::spawn(async move { w.refresh().await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
        }
        let n = writes.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n} writes for 50 changes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_during_a_write_waits_for_the_next_one() {
        let writer = writer();
        let (write, writes) = counting(Duration::from_millis(200));
        tokio::spawn(writer.clone().run(write));
        let first = {
            let w = writer.clone();
            tokio::spawn(async move { w.refresh().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The first write is under way: it may not contain this change,
        // so this one is acknowledged only after a second write.
        assert_eq!(writer.refresh().await, Ok(()));
        assert_eq!(writes.load(Ordering::SeqCst), 2);
        assert_eq!(first.await.unwrap_or_else(|e| panic!("{e}")), Ok(()));
        // Nothing pending: no further write.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(writes.load(Ordering::SeqCst), 2);
    }

    /// A writer that fails while `failing` is set, counting its attempts.
    fn failing_while(failing: Arc<std::sync::atomic::AtomicBool>) -> (WriteFn, Arc<AtomicUsize>) {
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        let write: WriteFn = Arc::new(move |_| {
            a.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                Err("/cache/nss.cache: No space left on device (os error 28)".into())
            } else {
                Ok(())
            }
        });
        (write, attempts)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_is_reported_and_retried_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let database = dir.path().join("roster.db");
        let mark = StaleMark::beside(&database);
        let mark_path = dir.path().join("roster.db.snapshot-stale");
        let writer = SnapshotWriter::new(
            Path::new("/cache/nss.cache"),
            Retry {
                first: Duration::from_millis(20),
                max: Duration::from_millis(80),
            },
            mark,
        );
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (write, attempts) = failing_while(failing.clone());
        tokio::spawn(writer.clone().run(write));

        // The change's write failed: the caller hears it, with the sentence.
        let stale = writer.refresh().await.expect_err("the write failed");
        let said = RosterError::from(stale).to_string();
        assert!(
            said.contains("the change is made, but NSS doesn't show it yet"),
            "{said}"
        );
        assert!(
            said.contains("/cache/nss.cache") && said.contains("rosterd's log"),
            "{said}"
        );
        // The mark tells roster doctor since when and why.
        let marked = std::fs::read_to_string(&mark_path).unwrap_or_default();
        assert!(marked.contains("No space left on device"), "{marked:?}");

        // Retried with no new change: attempts keep coming while it fails.
        let before = attempts.load(Ordering::SeqCst);
        wait_until(|| attempts.load(Ordering::SeqCst) >= before + 3).await;
        // A change during the streak is tried at once and fails too.
        assert!(writer.refresh().await.is_err());

        // The cause goes away: a retry succeeds on its own, the mark goes.
        failing.store(false, Ordering::SeqCst);
        wait_until(|| !mark_path.exists()).await;
        let published = writer.progress.borrow().published;
        assert_eq!(published, writer.wanted.load(Ordering::SeqCst));
        // Once it has succeeded, retries stop and changes are acknowledged.
        assert_eq!(writer.refresh().await, Ok(()));
        let settled = attempts.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), settled);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_later_successful_write_covers_an_earlier_failed_one() {
        let writer = writer();
        let progress = writer.progress.clone();
        // Request 1 failed, request 2's write (which read the newest state,
        // 1 included) succeeded: a waiter for 1 is answered Ok.
        progress.send_replace(Progress {
            done: 2,
            published: 2,
        });
        assert_eq!(writer.wait(1).await, Ok(()));
        // Request 3 written, 4's write failed: 3 is in the file, 4 isn't.
        progress.send_replace(Progress {
            done: 4,
            published: 3,
        });
        assert_eq!(writer.wait(3).await, Ok(()));
        assert!(writer.wait(4).await.is_err());
    }

    #[test]
    fn a_lost_registration_code_is_said_with_how_to_get_another() {
        let stale = SnapshotStale::of(Path::new("/var/cache/roster/nss.cache"));
        let said = stale.losing_code("carol").to_string();
        assert!(said.contains("the change is made"), "{said}");
        assert!(
            said.contains("roster users password carol --reset"),
            "{said}"
        );
        assert!(
            said.contains("/var/cache/roster and rosterd's log"),
            "{said}"
        );
    }

    /// Polls `done` for up to 10 s (a loaded host is slow; the test
    /// asserts what happens, never how fast).
    async fn wait_until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never happened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Each write stores the "superseded" mark in the file it replaces
    /// (through `write_atomically`, before its rename), which is how the
    /// NSS module notices a new snapshot without a system call per
    /// lookup; the new file is unmarked.
    #[test]
    fn a_write_marks_the_snapshot_it_replaces() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = Config {
            nss_cache: dir.path().join("nss.cache"),
            ..Config::default()
        };
        let view = roster_core::roster::NssView {
            users: Vec::new(),
            admin_members: Vec::new(),
        };
        write_view(&view, &config, 1).unwrap_or_else(|e| panic!("{e}"));
        let first = std::fs::File::open(&config.nss_cache).unwrap_or_else(|e| panic!("{e}"));
        let word = |file: &std::fs::File| {
            let mut word = [0u8; 8];
            file.read_exact_at(&mut word, roster_snapshot::SUPERSEDED_OFFSET as u64)
                .unwrap_or_else(|e| panic!("{e}"));
            u64::from_le_bytes(word)
        };
        assert_eq!(word(&first), 0);
        write_view(&view, &config, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(word(&first), roster_snapshot::SUPERSEDED);
        let second = std::fs::File::open(&config.nss_cache).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(word(&second), 0);
        let bytes = std::fs::read(&config.nss_cache).unwrap_or_else(|e| panic!("{e}"));
        let snapshot = roster_snapshot::Snapshot::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (snapshot.version(), snapshot.generation()),
            (roster_snapshot::FORMAT_VERSION, 2)
        );
    }
}
