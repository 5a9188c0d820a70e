//! The public NSS snapshot: rebuilt from `Roster::nss_view` and written
//! atomically to `nss_cache` at start and after every change that affects
//! it, before that change is acknowledged.
//!
//! Changes arriving together share one write: each caller takes a
//! generation number after its commit ([`SnapshotWriter::request`]) and
//! waits until a write that started after that number is finished
//! ([`SnapshotWriter::wait`]). The writer task always writes the newest
//! state, so one write covers every request made before it began.

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

    /// The writer task: runs until the daemon stops.
    pub async fn run(self: Arc<Self>, roster: Arc<Mutex<Roster>>, config: Arc<Config>) {
        loop {
            self.wake.notified().await;
            let target = self.wanted.load(Ordering::SeqCst);
            let (r, c, generation) = (roster.clone(), config.clone(), self.base + target);
            let outcome = tokio::task::spawn_blocking(move || write(&r, &c, generation)).await;
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
    let (users, groups) = contents(&view, config);
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
