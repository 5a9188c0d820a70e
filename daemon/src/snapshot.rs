//! The public NSS snapshot: rebuilt from `Roster::nss_view` and written
//! atomically to `nss_cache` at start and after every change that affects
//! it, before that change is acknowledged.
//!
//! Changes arriving together share one write: each caller takes a
//! generation number after its commit ([`SnapshotWriter::request`]) and
//! waits until a write that started after that number is finished
//! ([`SnapshotWriter::wait`]). The writer task always writes the newest
//! state, so one write covers every request made before it began: a
//! burst of changes costs at most two writes (the one running when it
//! arrived, and one after).
//!
//! The writer reads its view on a connection of its own
//! ([`roster_core::roster::NssReader`], read-only): building a snapshot of
//! 10,000 users never holds the store's lock, so calls keep being served
//! while it is read, encoded and written. Under WAL a read started after a
//! commit contains it, which is all the acknowledgement needs.

use roster_core::roster::NssReader;
use roster_core::{Config, Roster};
use roster_snapshot::{SnapshotGroup, SnapshotUser};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

pub struct SnapshotWriter {
    wanted: AtomicU64,
    wake: Notify,
    written: watch::Sender<u64>,
    /// Added to the counter for the file's generation, so generations keep
    /// growing across restarts (seconds at start × 1e6).
    base: u64,
}

impl SnapshotWriter {
    pub fn new() -> Arc<SnapshotWriter> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Arc::new(SnapshotWriter {
            wanted: AtomicU64::new(0),
            wake: Notify::new(),
            written: watch::channel(0).0,
            base: secs.saturating_mul(1_000_000),
        })
    }

    /// Call after committing a change: the number to [`Self::wait`] for.
    pub fn request(&self) -> u64 {
        let generation = self.wanted.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        generation
    }

    /// Returns once a write that includes `generation` has finished.
    pub async fn wait(&self, generation: u64) {
        let mut rx = self.written.subscribe();
        let _ = rx.wait_for(|done| *done >= generation).await;
    }

    /// Request and wait: what a call that changed the snapshot's content
    /// does before it answers.
    pub async fn refresh(&self) {
        let generation = self.request();
        self.wait(generation).await;
    }

    /// Writes the current state now (at start, before serving).
    pub fn write_now(&self, roster: &Mutex<Roster>, config: &Config) -> Result<(), String> {
        write(roster, config, self.base)
    }

    /// The writer task: runs until the daemon stops. `write` builds and
    /// writes the snapshot numbered by its argument (see [`file_writer`]).
    pub async fn run(self: Arc<Self>, write: WriteFn) {
        loop {
            self.wake.notified().await;
            // Every request made so far: one write covers them all.
            let target = self.wanted.load(Ordering::SeqCst);
            let (w, generation) = (write.clone(), self.base + target);
            let outcome = tokio::task::spawn_blocking(move || w(generation)).await;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("rosterd: the NSS snapshot was not updated: {e}"),
                Err(e) => eprintln!("rosterd: the NSS snapshot writer failed: {e}"),
            }
            // Waiters go on even after a failure: the change itself is
            // committed, and the next change (or restart) writes again.
            self.written.send_replace(target);
        }
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

/// Users, their private groups and the admin group, as NSS shows them.
pub fn contents(
    view: &roster_core::roster::NssView,
    config: &Config,
) -> (Vec<SnapshotUser>, Vec<SnapshotGroup>) {
    let mut users = Vec::with_capacity(view.users.len());
    let mut groups = Vec::with_capacity(view.users.len() + 1);
    for u in &view.users {
        users.push(SnapshotUser {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid(),
            gecos: u.display_name.clone(),
            home: u.home.clone(),
            shell: u.shell.clone(),
        });
        groups.push(SnapshotGroup {
            name: u.name.clone(),
            gid: u.gid(),
            members: Vec::new(),
        });
    }
    groups.push(SnapshotGroup {
        name: config.admin_group.clone(),
        gid: config.admin_gid,
        members: view.admin_members.clone(),
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
    let bytes = roster_snapshot::encode(generation, &users, &groups)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_arriving_together_share_one_write() {
        let writer = SnapshotWriter::new();
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
            c.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let n = writes.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n} writes for 50 changes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_during_a_write_waits_for_the_next_one() {
        let writer = SnapshotWriter::new();
        let (write, writes) = counting(Duration::from_millis(200));
        tokio::spawn(writer.clone().run(write));
        let first = {
            let w = writer.clone();
            tokio::spawn(async move { w.refresh().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The first write is under way: it may not contain this change,
        // so this one is acknowledged only after a second write.
        writer.refresh().await;
        assert_eq!(writes.load(Ordering::SeqCst), 2);
        first.await.unwrap_or_else(|e| panic!("{e}"));
        // Nothing pending: no further write.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(writes.load(Ordering::SeqCst), 2);
    }
}
