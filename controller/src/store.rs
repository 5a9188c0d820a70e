//! The controller's connections to its PostgreSQL store: a small pool of
//! [`PgStore`]s (the `postgres` crate is synchronous and runs its own
//! runtime, so async handlers reach it through
//! [`tokio::task::spawn_blocking`], never on an executor thread), and the
//! core [`Roster`] the model's rules run on.

use roster_core::clock::SystemClock;
use roster_core::error::Error;
use roster_core::store::Backend;
use roster_core::{Config, Roster};
pub use roster_store_postgres::{CallTag, CallTags};
use roster_store_postgres::{PgStore, StoreConninfo};
use std::sync::{Arc, Mutex, PoisonError};

/// At most this many idle connections are kept; more are opened on
/// demand and closed after use.
const IDLE_MAX: usize = 8;

pub struct Store {
    /// Parsed once: with sslmode=verify-full its CA file is read at open,
    /// not at every connection.
    conninfo: StoreConninfo,
    rules: Config,
    idle: Mutex<Vec<PgStore>>,
    calls: Gate,
}

/// Calls running core's rules at once, each on a connection of its own.
pub const CALLS_AT_ONCE: usize = 32;

/// A counting gate: at most `limit` inside; the others wait (on a
/// blocking thread, where these calls run).
#[derive(Debug)]
struct Gate {
    inside: Mutex<usize>,
    freed: std::sync::Condvar,
    limit: usize,
}

struct Turn<'a>(&'a Gate);

impl Gate {
    fn new(limit: usize) -> Gate {
        Gate {
            inside: Mutex::new(0),
            freed: std::sync::Condvar::new(),
            limit,
        }
    }

    fn enter(&self) -> Turn<'_> {
        let mut inside = self.inside.lock().unwrap_or_else(PoisonError::into_inner);
        while *inside >= self.limit {
            inside = self
                .freed
                .wait(inside)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *inside += 1;
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut inside = self.0.inside.lock().unwrap_or_else(PoisonError::into_inner);
        *inside = inside.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

impl std::fmt::Debug for Store {
    // The connection string may hold a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Drop for Store {
    /// A postgres client closes its connection by blocking on its own
    /// runtime, which panics on an executor thread: when the last handle
    /// goes there (at shutdown), the connections are closed on a thread
    /// of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        if idle.is_empty() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = std::thread::spawn(move || drop(idle));
            let _ = closing.join();
        }
    }
}

impl Store {
    /// Connect once (which migrates the schema) and keep the connection.
    pub fn open(conninfo: &str, rules: Config) -> roster_core::Result<Arc<Store>> {
        let conninfo = StoreConninfo::parse(conninfo).map_err(|e| Error::Config(e.to_string()))?;
        let first = PgStore::open_with(&conninfo)?;
        Ok(Arc::new(Store {
            conninfo,
            rules,
            idle: Mutex::new(vec![first]),
            calls: Gate::new(CALLS_AT_ONCE),
        }))
    }

    /// A connection of its own, outside the pool (the feed's LISTEN, a
    /// call's rules): the schema was migrated at [`Store::open`].
    pub fn connect(&self) -> roster_core::Result<PgStore> {
        PgStore::attach_with(&self.conninfo)
    }

    /// Run `work` on a pooled connection, here (blocking). A connection
    /// whose work failed is dropped rather than pooled: after a lost
    /// connection or a failover the next call opens a fresh one.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut PgStore) -> roster_core::Result<T>,
    ) -> roster_core::Result<T> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut store = match pooled {
            Some(store) => store,
            None => self.connect()?,
        };
        let answer = work(&mut store);
        if answer.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < IDLE_MAX {
                idle.push(store);
            }
        }
        answer
    }

    /// Run the model's rules on a pooled connection (core's [`Roster`]
    /// over this store), here (blocking).
    pub fn with_roster<T>(
        &self,
        work: impl FnOnce(&mut Roster) -> roster_core::Result<T>,
    ) -> roster_core::Result<T> {
        let store = self.connect()?;
        let mut roster = Roster::with_backend(
            self.rules.clone(),
            Arc::new(SystemClock),
            Box::new(store) as Box<dyn Backend>,
        )?;
        work(&mut roster)
    }

    /// Core's rules for a call made from a host of `environment` (which
    /// is "this host's environment" to them), on a connection of its own
    /// (at most [`CALLS_AT_ONCE`] at a time: PostgreSQL's connections are
    /// counted). With tags, the call's first write claims its request id
    /// and writes its audit row in the change's own transaction.
    pub fn with_roster_in<T>(
        &self,
        environment: &str,
        tags: Option<CallTags>,
        work: impl FnOnce(&mut Roster) -> roster_core::Result<T>,
    ) -> roster_core::Result<T> {
        let _turn = self.calls.enter();
        let mut store = self.connect()?;
        if let Some(tags) = tags {
            store.share_call_tags(tags);
        }
        let rules = Config {
            environment: environment.to_string(),
            ..self.rules.clone()
        };
        let mut roster = Roster::over(
            rules,
            Arc::new(SystemClock),
            Box::new(store) as Box<dyn Backend>,
        )?;
        work(&mut roster)
    }

    /// [`Store::with`] from async code, off the executor's threads.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut PgStore) -> roster_core::Result<T> + Send + 'static,
    ) -> roster_core::Result<T> {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.with(work))
            .await
            .map_err(|e| Error::Store(format!("a store task ended abnormally: {e}")))?
    }
}
