//! The simulated host: what a host's cache keeps, in memory and small
//! (thousands live in one process): its position, and per user the
//! name, state, a digest of the whole entry as received, the cursor of
//! the answer that brought it and when it arrived.

use roster_fleet_agent::protocol::{HostChange, HostUser};
use roster_fleet_agent::{
    AgentError, Host, HostError, HostKey, Position, ReportEntry, SnapshotAnswer, SyncAnswer,
};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A user's state as the host received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachedState {
    Active,
    Suspended,
    Pending,
    /// A state this simulator doesn't know (a newer controller's).
    Other,
}

impl CachedState {
    pub fn of(state: &str) -> CachedState {
        match state {
            "active" => CachedState::Active,
            "suspended" => CachedState::Suspended,
            "pending" => CachedState::Pending,
            _ => CachedState::Other,
        }
    }
}

/// One user in a host's cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedUser {
    pub name: Box<str>,
    pub state: CachedState,
    /// A digest of the whole entry (every field, hash and keys
    /// included): two hosts holding the same digest hold the same entry.
    pub digest: u64,
    /// The cursor of the answer this entry came in.
    pub cursor: i64,
    /// When this entry (this digest) first arrived; an identical entry
    /// applied again (a replayed batch) keeps the first arrival.
    pub arrived: Instant,
}

/// What a host holds and what happened to it.
#[derive(Debug, Default)]
pub struct HostState {
    pub position: Option<Position>,
    /// By uid.
    pub users: HashMap<u32, CachedUser>,
    /// Full snapshots applied (the first sync is one; any other is a
    /// full resync).
    pub snapshots: u32,
    pub batches: u32,
    pub heartbeats: u32,
    /// Failures the agent retried (no controller, a refusal, …).
    pub failures: u32,
    /// The last of them.
    pub last_failure: Option<Box<str>>,
    /// When the first snapshot was applied.
    pub first_synced: Option<Instant>,
    /// When the last answer (snapshot, batch or heartbeat) was applied.
    pub last_answer: Option<Instant>,
    pub revoked: bool,
}

impl HostState {
    /// The entry of the user named `name`, if the host has it.
    pub fn user(&self, name: &str) -> Option<&CachedUser> {
        self.users.values().find(|user| &*user.name == name)
    }

    fn keep(&mut self, user: &HostUser, cursor: i64, now: Instant) {
        let digest = digest(user);
        if let Some(cached) = self.users.get(&user.uid)
            && cached.digest == digest
        {
            return;
        }
        self.users.insert(
            user.uid,
            CachedUser {
                name: user.name.as_str().into(),
                state: CachedState::of(&user.state),
                digest,
                cursor,
                arrived: now,
            },
        );
    }
}

/// A digest of the whole entry: its JSON (every field) hashed.
pub fn digest(user: &HostUser) -> u64 {
    let mut hasher = DefaultHasher::new();
    match serde_json::to_vec(user) {
        Ok(bytes) => hasher.write(&bytes),
        // Never seen (plain strings and numbers): the name alone.
        Err(_) => hasher.write(user.name.as_bytes()),
    }
    hasher.finish()
}

/// An in-memory host for one agent.
#[derive(Debug, Default)]
pub struct SimHost {
    state: Mutex<HostState>,
}

impl SimHost {
    pub fn new() -> std::sync::Arc<SimHost> {
        std::sync::Arc::new(SimHost::default())
    }

    /// A look at the state (under its lock: keep it short).
    pub fn with<T>(&self, look: impl FnOnce(&HostState) -> T) -> T {
        look(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Host for SimHost {
    fn position(&self) -> Result<Option<Position>, HostError> {
        Ok(self.lock().position.clone())
    }

    fn apply_changes(&self, answer: &SyncAnswer, _controller_time: i64) -> Result<(), HostError> {
        let now = Instant::now();
        let mut state = self.lock();
        if answer.changes.is_empty() {
            state.heartbeats += 1;
        } else {
            state.batches += 1;
        }
        for change in &answer.changes {
            match change {
                HostChange::User(user) => state.keep(user, answer.cursor, now),
                HostChange::UserDeleted { uid } => {
                    state.users.remove(uid);
                }
                HostChange::Environment(_) | HostChange::Revoked => {}
            }
        }
        state.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        state.last_answer = Some(now);
        Ok(())
    }

    fn apply_snapshot(
        &self,
        answer: &SnapshotAnswer,
        _controller_time: i64,
    ) -> Result<(), HostError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.snapshots += 1;
        // Swapped in whole: entries the snapshot repeats keep their
        // arrival, the others go.
        let mut previous = std::mem::take(&mut state.users);
        for user in &answer.users {
            if let Some(kept) = previous.remove(&user.uid) {
                state.users.insert(user.uid, kept);
            }
            state.keep(user, answer.cursor, now);
        }
        state.position = Some(Position {
            epoch: answer.epoch.clone(),
            cursor: answer.cursor,
        });
        state.first_synced.get_or_insert(now);
        state.last_answer = Some(now);
        Ok(())
    }

    fn revoked(&self) -> Result<(), HostError> {
        let mut state = self.lock();
        state.revoked = true;
        state.users.clear();
        Ok(())
    }

    fn pending_reports(&self, _max: usize) -> Result<Vec<(i64, ReportEntry)>, HostError> {
        // A simulated host has no sessions or logins to report.
        Ok(Vec::new())
    }

    fn reports_sent(&self, _ids: &[i64]) -> Result<(), HostError> {
        Ok(())
    }

    fn certificate_renewed(
        &self,
        _certificate_pem: &str,
        _ca_bundle_pem: &str,
        _key: &HostKey,
    ) -> Result<(), HostError> {
        // The agent already presents the new certificate; a simulated
        // host keeps nothing on disk.
        Ok(())
    }

    fn unreachable(&self, error: &AgentError) {
        let mut state = self.lock();
        state.failures += 1;
        state.last_failure = Some(error.to_string().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_fleet_agent::protocol::{EnvironmentView, PasswordView};

    fn user(uid: u32, name: &str, state: &str) -> HostUser {
        HostUser {
            uid,
            name: name.into(),
            display_name: String::new(),
            role: "user".into(),
            state: state.into(),
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
            level: Some("login".into()),
            password: PasswordView {
                changed: None,
                hash: None,
            },
            keys: Vec::new(),
        }
    }

    fn snapshot(cursor: i64, users: Vec<HostUser>) -> SnapshotAnswer {
        SnapshotAnswer {
            epoch: "e1".into(),
            cursor,
            environment: EnvironmentView {
                name: "default".into(),
                login_level: "login".into(),
                offline_grace_secs: 86400,
                host_root_is_admin: false,
            },
            users,
            retired_uids: Vec::new(),
        }
    }

    fn batch(cursor: i64, changes: Vec<HostChange>) -> SyncAnswer {
        SyncAnswer {
            epoch: "e1".into(),
            cursor,
            changes,
        }
    }

    #[test]
    fn changes_are_kept_with_their_first_arrival_and_cursor() {
        let host = SimHost::new();
        assert_eq!(host.position().unwrap(), None);
        host.apply_snapshot(&snapshot(5, vec![user(1000, "ann", "active")]), 0)
            .unwrap();
        let first = host.with(|s| s.user("ann").unwrap().clone());
        assert_eq!((first.state, first.cursor), (CachedState::Active, 5));
        // The same entry again (a replayed batch): the first arrival stays.
        host.apply_changes(
            &batch(6, vec![HostChange::User(user(1000, "ann", "active"))]),
            0,
        )
        .unwrap();
        assert_eq!(host.with(|s| s.user("ann").unwrap().clone()), first);
        host.apply_changes(
            &batch(7, vec![HostChange::User(user(1000, "ann", "suspended"))]),
            0,
        )
        .unwrap();
        let suspended = host.with(|s| s.user("ann").unwrap().clone());
        assert_eq!(
            (suspended.state, suspended.cursor),
            (CachedState::Suspended, 7)
        );
        assert!(suspended.arrived >= first.arrived);
        assert_ne!(suspended.digest, first.digest);
        host.apply_changes(&batch(8, Vec::new()), 0).unwrap();
        host.apply_changes(&batch(9, vec![HostChange::UserDeleted { uid: 1000 }]), 0)
            .unwrap();
        host.with(|s| {
            assert!(s.users.is_empty());
            assert_eq!((s.snapshots, s.batches, s.heartbeats), (1, 3, 1));
            assert_eq!(s.position.as_ref().unwrap().cursor, 9);
        });
    }

    #[test]
    fn a_snapshot_replaces_the_cache_and_counts_as_a_resync() {
        let host = SimHost::new();
        host.apply_snapshot(
            &snapshot(
                5,
                vec![user(1000, "ann", "active"), user(1001, "bob", "active")],
            ),
            0,
        )
        .unwrap();
        let ann = host.with(|s| s.user("ann").unwrap().clone());
        host.apply_snapshot(&snapshot(9, vec![user(1000, "ann", "active")]), 0)
            .unwrap();
        host.with(|s| {
            assert_eq!(s.snapshots, 2);
            assert!(s.user("bob").is_none(), "a user the snapshot lacks goes");
            assert_eq!(
                s.user("ann").unwrap(),
                &ann,
                "a repeated entry keeps its arrival"
            );
        });
        host.unreachable(&AgentError::Unreachable("down".into()));
        host.revoked().unwrap();
        host.with(|s| {
            assert!(s.revoked && s.users.is_empty());
            assert_eq!(s.failures, 1);
            assert!(s.last_failure.as_deref().unwrap().contains("down"));
        });
    }
}
