//! The feed: one thread per replica reads the store's change log after
//! its cursor (one query per batch, whatever the number of hosts), loads
//! the current state of what each row names in the same snapshot, and
//! appends it to the [`Window`]; waiting long polls wake on the head's
//! watch. LISTEN/NOTIFY is only the doorbell: notifications are lost
//! across a reconnect or a failover, so the feed also re-reads every
//! second whatever it heard.

use super::hosts::HostDirectory;
use super::metrics::Metrics;
use super::window::{Entry, FleetChange, Window};
use crate::store::Store;
use roster_core::clock::{Clock, SystemClock};
use roster_core::fleet::EnvironmentPolicy;
use roster_store_postgres::PgStore;
use roster_store_postgres::fleet::bulk::UserState;
use roster_store_postgres::fleet::{ChangeKind, ChangeRow};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Rows read per query: a large backlog is read in several batches.
const BATCH: u32 = 2_000;
/// The re-read that covers a lost doorbell.
const REREAD: Duration = Duration::from_secs(1);
/// Waits between reconnects to a store that is down (capped).
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What every request handler reads: the window, the head (watched by
/// long polls), the store's epoch and each environment's settings.
pub struct Feed {
    capacity: usize,
    /// The store's head when this replica started (the window fills up
    /// to it from the log): `hello` never answers less.
    started_at: std::sync::atomic::AtomicI64,
    /// The seq of each environment's last settings change: a snapshot
    /// older than it was projected under other settings.
    settings_changed: RwLock<HashMap<String, i64>>,
    window: RwLock<Window>,
    head: watch::Sender<i64>,
    epoch: RwLock<String>,
    policies: RwLock<HashMap<String, EnvironmentPolicy>>,
}

impl Feed {
    /// Start empty at the store's current head and epoch.
    pub fn new(
        capacity: usize,
        floor: i64,
        head: i64,
        epoch: String,
        policies: HashMap<String, EnvironmentPolicy>,
    ) -> Arc<Feed> {
        let (sender, _) = watch::channel(floor);
        Arc::new(Feed {
            capacity,
            started_at: std::sync::atomic::AtomicI64::new(head),
            settings_changed: RwLock::default(),
            window: RwLock::new(Window::new(capacity, floor)),
            head: sender,
            epoch: RwLock::new(epoch),
            policies: RwLock::new(policies),
        })
    }

    pub fn window(&self) -> std::sync::RwLockReadGuard<'_, Window> {
        self.window.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    pub fn epoch(&self) -> String {
        self.epoch
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest change this replica knows of: the window's head, or the
    /// store's head at start while the window fills.
    pub fn known_head(&self) -> i64 {
        self.window()
            .head()
            .max(self.started_at.load(Ordering::Relaxed))
    }

    /// The seq of `environment`'s last settings change this replica saw.
    pub fn settings_changed_at(&self, environment: &str) -> i64 {
        self.settings_changed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(environment)
            .copied()
            .unwrap_or(0)
    }

    /// The settings of `environment` (the defaults for one never set).
    pub fn policy(&self, environment: &str) -> EnvironmentPolicy {
        self.policies
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(environment)
            .cloned()
            .unwrap_or_default()
    }

    /// A new epoch (a restore): the store's sequence went back with the
    /// backup, so nothing in the window stands; start again at its head.
    /// Every cursor of the old epoch is refused from now on.
    fn restart(&self, epoch: String, head: i64, capacity: usize) {
        *self.epoch.write().unwrap_or_else(PoisonError::into_inner) = epoch;
        *self.window.write().unwrap_or_else(PoisonError::into_inner) = Window::new(capacity, head);
        // The sequence went back with the backup: the old epoch's marks go.
        self.started_at.store(head, Ordering::Relaxed);
        self.settings_changed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.head.send_replace(head);
    }

    fn apply(&self, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        {
            let mut policies = self
                .policies
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mut changed = self
                .settings_changed
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for entry in &entries {
                if let FleetChange::Environment { name, policy } = &entry.change {
                    changed.insert(name.clone(), entry.seq);
                    match policy {
                        Some(policy) => policies.insert(name.clone(), policy.clone()),
                        None => policies.remove(name),
                    };
                }
            }
        }
        let head = {
            let mut window = self.window.write().unwrap_or_else(PoisonError::into_inner);
            for entry in entries {
                window.push(entry);
            }
            window.head()
        };
        self.head.send_replace(head);
    }
}

/// Run the feed on its own thread until the process ends.
pub fn spawn(
    store: Arc<Store>,
    feed: Arc<Feed>,
    hosts: Arc<HostDirectory>,
    metrics: Arc<Metrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("roster-feed".into())
        .spawn(move || run(&store, &feed, &hosts, &metrics))
}

fn run(store: &Store, feed: &Feed, hosts: &HostDirectory, metrics: &Metrics) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let began = std::time::Instant::now();
        match follow(store, feed, hosts, metrics) {
            Ok(()) => return,
            Err(e) => {
                metrics.feed_errors.fetch_add(1, Ordering::Relaxed);
                // A connection that served a while starts the backoff over.
                if began.elapsed() > BACKOFF_MAX * 2 {
                    backoff = Duration::from_millis(100);
                }
                eprintln!(
                    "roster-controller: the change feed lost the store ({e}); reconnecting in {backoff:?}"
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Read on one connection until it fails.
fn follow(
    store: &Store,
    feed: &Feed,
    hosts: &HostDirectory,
    metrics: &Metrics,
) -> roster_core::Result<()> {
    let mut connection = store.connect()?;
    connection.listen_changes()?;
    // The floor this connection told the store (pruning keeps every row
    // above the lowest floor a connected feed says).
    let mut published = None;
    loop {
        let floor = feed.window().floor();
        if published != Some(floor) {
            connection.fleet_read(|tx| tx.publish_feed_floor(floor))?;
            published = Some(floor);
        }
        let cursor = feed.window().head();
        let Batch {
            epoch,
            head,
            entries,
        } = read_after(&mut connection, cursor)?;
        if epoch != feed.epoch() {
            eprintln!(
                "roster-controller: the store has a new epoch ({epoch}): every host resyncs in full"
            );
            feed.restart(epoch, head, feed.capacity);
            hosts.forget_all();
            continue;
        }
        let full = entries.len() >= BATCH as usize;
        for entry in &entries {
            if let FleetChange::Host { id, revoked } = entry.change {
                hosts.changed(id, revoked);
            }
        }
        if let Some(newest) = entries.last() {
            let lag = SystemClock.now().saturating_sub(newest.at).max(0);
            metrics.feed_lag_seconds.store(lag, Ordering::Relaxed);
        }
        feed.apply(entries);
        metrics
            .feed_head
            .store(feed.window().head(), Ordering::Relaxed);
        if !full {
            connection.wait_doorbell(REREAD)?;
        }
    }
}

/// One read of the log.
pub struct Batch {
    pub epoch: String,
    /// The store's head when read.
    pub head: i64,
    pub entries: Vec<Entry>,
}

/// The epoch, the head and every change after `cursor` (one batch), each
/// with the current state of what it names, read in one snapshot.
pub fn read_after(connection: &mut PgStore, cursor: i64) -> roster_core::Result<Batch> {
    connection.fleet_read(|tx| {
        let epoch = tx.epoch()?.unwrap_or_default();
        let head = tx.change_head()?;
        let now = SystemClock.now();
        let rows = tx.changes_after(cursor, BATCH)?;
        // Each user named in the batch is loaded once, in four queries for
        // the batch: a bulk create names thousands of users.
        let mut uids: Vec<u32> = rows
            .iter()
            .filter(|row| row.kind == ChangeKind::User)
            .filter_map(|row| row.uid)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        let users = tx.users_by_uid(&uids, now)?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let change = load(tx, row, &users)?;
            entries.push(Entry {
                seq: row.seq,
                at: row.at,
                change,
            });
        }
        Ok(Batch {
            epoch,
            head,
            entries,
        })
    })
}

fn load(
    tx: &roster_store_postgres::PgTx<'_>,
    row: &ChangeRow,
    users: &HashMap<u32, UserState>,
) -> roster_core::Result<FleetChange> {
    Ok(match (row.kind, row.uid, &row.environment, row.host_id) {
        (ChangeKind::User, Some(uid), _, _) => match users.get(&uid) {
            Some(state) => FleetChange::User {
                user: state.user.clone(),
                hash: state.hash.clone(),
                keys: state.keys.clone(),
            },
            None => FleetChange::UserDeleted { uid },
        },
        (ChangeKind::Environment, _, Some(name), _) => FleetChange::Environment {
            name: name.clone(),
            policy: tx.environment_settings(name)?,
        },
        (ChangeKind::Host, _, _, Some(id)) => FleetChange::Host {
            id,
            revoked: tx.host(id)?.is_none_or(|host| host.revoked.is_some()),
        },
        _ => FleetChange::Unseen,
    })
}
