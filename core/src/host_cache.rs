//! A fleet host's side of DESIGN.md's "Fleet mode": what rosterd keeps of
//! what its controller sends, and what it decides from it on its own.
//!
//! The controller decides what a host receives ([`crate::fleet`]); the
//! host's database becomes a cache of it, written over the tables a
//! standalone host uses, so PAM, NSS, the snapshot and every read keep
//! working unchanged. Each batch of changes and its cursor commit in one
//! transaction (changes carry whole rows: applying one twice is
//! harmless). The host decides three things alone: which cached hash it
//! keeps when none is sent (a role admin's, verified online and cached,
//! until its "password changed" mark moves), whose sessions end after a
//! batch, and whether logins from the cache may go on (the offline
//! grace).

use crate::Result;
use crate::authz::{Actor, Operation, authorize};
use crate::clock::{BootTime, Timestamp};
use crate::error::Error;
use crate::fleet::{self, EnvironmentPolicy, LastAnswer};
use crate::level::Level;
use crate::model::{Role, User, UserState};
use crate::roster::Roster;
use crate::rules;
use crate::store::{KeyRow, SqliteStore, SqliteTx};
use base64ct::{Base64, Encoding};
use roster_fleet_protocol::{
    AdoptedKey, AdoptedUser, EnvironmentView, HostChange, HostUser, MAX_ADOPTED_USERS, RetiredUid,
    SnapshotAnswer, Standalone, SyncAnswer,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How stale the kept "latest wall time seen" may get, in seconds.
const WALL_SEEN_EVERY: Timestamp = 60;

/// Where a host's feed stands and what its environment's policy is (one
/// row, written with every batch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetState {
    pub epoch: String,
    pub cursor: i64,
    /// The host's environment, as its controller's row of it says.
    pub environment: String,
    pub policy: EnvironmentPolicy,
    pub last_answer: LastAnswer,
    /// The controller's clock minus the host's at the last answer, in
    /// seconds (`roster doctor` warns past 60).
    pub controller_offset: i64,
}

/// A report waiting in the cache until the controller has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedReport {
    pub at: Timestamp,
    /// `session`, `login_result`, `audit` or `live_sessions` (the host's
    /// whole list of live sessions, JSON).
    pub kind: String,
    pub text: String,
}

/// What applying a batch or a snapshot asks of rosterd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Users who may no longer log in here (suspended, deleted, revoked
    /// below the login level): their sessions end.
    pub end_sessions_of: Vec<u32>,
    /// The controller moved this host to another environment: rosterd
    /// restarts to serve it (the NSS snapshot's admin group follows it).
    pub environment_moved: bool,
    /// The controller says this host is revoked: its credentials are
    /// wiped already.
    pub revoked: bool,
}

/// How long the host has been without an answer, against its grace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offline {
    pub last_answer: Timestamp,
    pub offline_for: Duration,
    pub grace: Duration,
    /// Whether logins from the cache may go on.
    pub within_grace: bool,
}

impl Offline {
    /// When the grace ended (or ends), on the wall clock.
    pub fn grace_ends(&self) -> Timestamp {
        let grace = if self.grace.is_zero() {
            fleet::NO_GRACE_ANSWER_AGE
        } else {
            self.grace
        };
        self.last_answer
            .saturating_add(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX / 4))
    }
}

fn no_cache() -> Error {
    Error::Store("this store is a controller's, not a host's cache".into())
}

fn bad_change(what: &str, value: &str) -> Error {
    Error::InvalidArgument(format!(
        "the controller sent an unknown {what} {value:?}: is it newer than this rosterd?"
    ))
}

/// The environment's policy as the controller's view says.
pub fn policy_of(view: &EnvironmentView) -> Result<EnvironmentPolicy> {
    Ok(EnvironmentPolicy {
        login_level: view
            .login_level
            .parse::<Level>()
            .map_err(|_| bad_change("login level", &view.login_level))?,
        offline_grace: Duration::from_secs(view.offline_grace_secs),
        host_root_is_admin: view.host_root_is_admin,
    })
}

/// A sent user as the cache's row: its grant in `environment` only.
fn cached_user(sent: &HostUser, environment: &str, now: Timestamp) -> Result<User> {
    let mut grants = BTreeMap::new();
    if let Some(level) = &sent.level {
        let level = level
            .parse::<Level>()
            .map_err(|_| bad_change("level", level))?;
        grants.insert(environment.to_string(), level);
    }
    Ok(User {
        name: sent.name.clone(),
        display_name: sent.display_name.clone(),
        role: sent
            .role
            .parse::<Role>()
            .map_err(|_| bad_change("role", &sent.role))?,
        state: sent
            .state
            .parse::<UserState>()
            .map_err(|_| bad_change("state", &sent.state))?,
        uid: sent.uid,
        home: sent.home.clone(),
        shell: sent.shell.clone(),
        created: now,
        last_login: None,
        password_changed: sent.password.changed,
        locked_until: None,
        grants,
    })
}

fn sent_keys(sent: &HostUser) -> Result<Vec<KeyRow>> {
    sent.keys
        .iter()
        .map(|key| {
            Ok(KeyRow {
                key_type: key.key_type.clone(),
                blob: Base64::decode_vec(&key.blob).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "the controller sent {}'s key {} in bad base64",
                        sent.name, key.fingerprint
                    ))
                })?,
                comment: key.comment.clone(),
                fingerprint: key.fingerprint.clone(),
                added: key.added,
            })
        })
        .collect()
}

/// Writes one sent user. A hash the controller didn't send is kept only
/// when it was cached after an online login (a role admin's) and the
/// user's "password changed" mark hasn't moved since, and the user may
/// still log in here; anything else drops it.
fn put_user(
    tx: &SqliteTx<'_>,
    sent: &HostUser,
    environment: &str,
    policy: &EnvironmentPolicy,
    now: Timestamp,
) -> Result<()> {
    let user = cached_user(sent, environment, now)?;
    if let Some(hash) = &sent.password.hash {
        return tx.put_cached_user(&user, Some(hash), &sent_keys(sent)?);
    }
    let before = tx.user_by_uid(user.uid, now)?;
    let keeps = before.as_ref().is_some_and(|b| {
        b.password_changed == user.password_changed
            && rules::may_log_in_here(&user, environment, policy.login_level)
    });
    if keeps {
        let hash = tx.password_hash(user.uid)?;
        let keys = tx.keys_of(user.uid)?;
        tx.put_cached_user(&user, hash.as_deref(), &keys)
    } else {
        tx.put_cached_user(&user, None, &[])
    }
}

/// The uids of the cache's users who may log in here now.
fn may_log_in(
    tx: &SqliteTx<'_>,
    environment: &str,
    login_level: Level,
    now: Timestamp,
) -> Result<BTreeSet<u32>> {
    Ok(tx
        .users(now)?
        .into_iter()
        .filter(|u| u.state != UserState::Suspended)
        .filter(|u| rules::may_log_in_here(u, environment, login_level))
        .map(|u| u.uid)
        .collect())
}

/// What a host with Roster users of its own does with them when it joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinMode {
    /// Only a host without users of its own may join.
    Plain,
    /// The users move to the controller, with their hashes.
    Adopt,
    /// The users go; their uids join the fleet's retired list.
    Discard,
}

/// Of `uids`, those whose cached user may log in here now.
fn may_log_in_of(
    tx: &SqliteTx<'_>,
    uids: &BTreeSet<u32>,
    environment: &str,
    login_level: Level,
    now: Timestamp,
) -> Result<BTreeSet<u32>> {
    let mut allowed = BTreeSet::new();
    for uid in uids {
        if let Some(user) = tx.user_by_uid(*uid, now)?
            && user.state != UserState::Suspended
            && rules::may_log_in_here(&user, environment, login_level)
        {
            allowed.insert(*uid);
        }
    }
    Ok(allowed)
}

impl Roster {
    /// Whether this host may join a controller now: root asks, it isn't
    /// enrolled already, and a host with users of its own says what
    /// becomes of them (nothing is lost silently).
    pub fn check_join(&mut self, actor: &Actor, mode: JoinMode) -> Result<()> {
        authorize(actor, &Operation::EnrollHost)?;
        if let Some(state) = self.fleet_state()? {
            return Err(Error::AlreadyExists(format!(
                "this host is enrolled already (environment {:?}): `roster hosts leave` first",
                state.environment
            )));
        }
        let now = self.now();
        let users = self.store.read(|tx| tx.users(now))?;
        if users.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = users.iter().take(5).map(|u| u.name.as_str()).collect();
        let more = if users.len() > names.len() {
            ", …"
        } else {
            ""
        };
        match mode {
            JoinMode::Plain => Err(Error::Conflict(format!(
                "this host has {} Roster user(s) of its own ({}{more}): join with --adopt to move \
                 them to the controller, or --discard to drop them (their uids are never handed out again)",
                users.len(),
                names.join(", ")
            ))),
            JoinMode::Adopt | JoinMode::Discard => Ok(()),
        }
    }

    /// What a joining host sends of its own users ([`JoinMode::Adopt`]:
    /// each with its hash, grants and keys; [`JoinMode::Discard`]: the
    /// uids), every uid it retired too, and what stays behind that the
    /// controller can't see (API tokens), a sentence each. None for a
    /// plain join ([`Roster::check_join`] made sure there is nothing).
    pub fn standalone_for_join(
        &mut self,
        mode: JoinMode,
    ) -> Result<(Option<Standalone>, Vec<String>)> {
        if mode == JoinMode::Plain {
            return Ok((None, Vec::new()));
        }
        let now = self.now();
        let environment = self.config.environment.clone();
        self.cache()?.read(|tx| {
            let users = tx.users(now)?;
            let mut retired: Vec<RetiredUid> = tx
                .retired_uids_named()?
                .into_iter()
                .map(|(uid, name)| RetiredUid { uid, name })
                .collect();
            let tokens = tx.token_count()?;
            let notes = if tokens > 0 {
                vec![format!(
                    "{tokens} API token(s) of this host's users stay behind (in a fleet the controller \
                     checks tokens): make new ones with `roster tokens create` once logged in"
                )]
            } else {
                Vec::new()
            };
            let standalone = match mode {
                JoinMode::Plain => None,
                JoinMode::Discard => {
                    retired.extend(users.iter().map(|u| RetiredUid {
                        uid: u.uid,
                        name: u.name.clone(),
                    }));
                    retired.sort_by_key(|r| r.uid);
                    Some(Standalone::Discard { uids: retired })
                }
                JoinMode::Adopt => {
                    let mut adopted = Vec::with_capacity(users.len());
                    for user in &users {
                        adopted.push(AdoptedUser {
                            uid: user.uid,
                            name: user.name.clone(),
                            display_name: user.display_name.clone(),
                            role: user.role.as_str().to_owned(),
                            state: user.state.as_str().to_owned(),
                            home: user.home.clone(),
                            shell: user.shell.clone(),
                            created: user.created,
                            password_hash: tx.password_hash(user.uid)?,
                            password_changed: user.password_changed,
                            grants: user
                                .grants
                                .iter()
                                .map(|(env, level)| (env.clone(), level.as_str().to_owned()))
                                .collect(),
                            keys: tx
                                .keys_of(user.uid)?
                                .into_iter()
                                .map(|key| AdoptedKey {
                                    key_type: key.key_type,
                                    blob: Base64::encode_string(&key.blob),
                                    comment: key.comment,
                                    added: key.added,
                                })
                                .collect(),
                        });
                    }
                    Some(Standalone::Adopt {
                        environment: environment.clone(),
                        users: adopted,
                        retired,
                    })
                }
            };
            if let Some(Standalone::Adopt { users, .. }) = &standalone
                && users.len() > MAX_ADOPTED_USERS
            {
                return Err(Error::Conflict(format!(
                    "this host has {} Roster users of its own; at most {MAX_ADOPTED_USERS} move in one join: \
                     delete some, or keep the host standalone",
                    users.len()
                )));
            }
            Ok((standalone, notes))
        })
    }

    /// After a join with `--adopt` or `--discard`: the registration codes
    /// and API tokens the host kept for its own users go (they stayed
    /// behind, as the join said; a fleet checks both at the controller).
    pub fn drop_standalone_secrets(&mut self) -> Result<()> {
        self.cache()?.write(|tx| tx.drop_codes_and_tokens())
    }

    /// Whether `actor` may take this host back to standalone (root).
    pub fn check_leave(&mut self, actor: &Actor) -> Result<()> {
        authorize(actor, &Operation::EnrollHost)
    }

    /// Back to standalone ([`Roster::leave_fleet`]), serving the
    /// environment and login level of `standalone` (rosterd.toml's) again.
    pub fn leave_fleet_for(&mut self, standalone: &crate::config::Config) -> Result<()> {
        self.leave_fleet()?;
        self.config.environment = standalone.environment.clone();
        self.config.login_level = standalone.login_level;
        Ok(())
    }

    fn cache(&mut self) -> Result<&mut SqliteStore> {
        self.store.host_cache().ok_or_else(no_cache)
    }

    /// Where the feed stands, when this host is enrolled.
    pub fn fleet_state(&mut self) -> Result<Option<FleetState>> {
        self.cache()?.read(|tx| tx.fleet_state())
    }

    /// Serve as the fleet says: the environment and login level come from
    /// the controller (rosterd calls this at start, and the appliers below
    /// keep it so). Answers the state when enrolled.
    pub fn follow_fleet(&mut self) -> Result<Option<FleetState>> {
        let state = self.fleet_state()?;
        if let Some(state) = &state {
            self.config.environment = state.environment.clone();
            self.config.login_level = state.policy.login_level;
        }
        Ok(state)
    }

    /// Applies one long poll's answer and its cursor in one transaction
    /// (an empty one is the heartbeat: it moves the last answer only).
    /// Refused: another epoch (the caller resyncs in full) and, within
    /// the epoch, an answer older than the cursor (a replay).
    pub fn apply_fleet_changes(
        &mut self,
        answer: &SyncAnswer,
        controller_time: Timestamp,
    ) -> Result<Applied> {
        let now = self.now();
        let boot = self.boot_time();
        let outcome = self.cache()?.write(|tx| {
            let mut state = tx.fleet_state()?.ok_or_else(|| {
                Error::Conflict("this host is not enrolled: there is no feed to apply".into())
            })?;
            if answer.epoch != state.epoch {
                return Err(Error::Conflict(format!(
                    "the controller's store has a new epoch ({} → {}): resync in full",
                    state.epoch, answer.epoch
                )));
            }
            if answer.cursor < state.cursor {
                return Err(Error::Conflict(format!(
                    "an answer older than this host's cursor ({} < {}): refused as a replay",
                    answer.cursor, state.cursor
                )));
            }
            let mut applied = Applied::default();
            let environment = state.environment.clone();
            // Whose logins a batch can end: the users it names, or everyone
            // when the environment's policy moves. A heartbeat looks at no
            // one (100,000 users are not read twice per answer).
            let policy_moves = answer
                .changes
                .iter()
                .any(|c| matches!(c, HostChange::Environment(_)));
            let named: BTreeSet<u32> = answer
                .changes
                .iter()
                .filter_map(|c| match c {
                    HostChange::User(sent) => Some(sent.uid),
                    HostChange::UserDeleted { uid } => Some(*uid),
                    HostChange::Environment(_) | HostChange::Revoked => None,
                })
                .collect();
            let level_before = state.policy.login_level;
            let before = if policy_moves {
                may_log_in(tx, &environment, level_before, now)?
            } else {
                may_log_in_of(tx, &named, &environment, level_before, now)?
            };
            for change in &answer.changes {
                match change {
                    HostChange::User(sent) => {
                        put_user(tx, sent, &environment, &state.policy, now)?;
                    }
                    HostChange::UserDeleted { uid } => match tx.user_by_uid(*uid, now)? {
                        Some(user) => tx.delete_user(*uid, &user.name, now)?,
                        None => tx.retire_uid(*uid, "", now)?,
                    },
                    HostChange::Environment(view) => {
                        state.policy = policy_of(view)?;
                        if view.name != environment {
                            state.environment = view.name.clone();
                            applied.environment_moved = true;
                        }
                    }
                    HostChange::Revoked => {
                        tx.wipe_credentials()?;
                        applied.revoked = true;
                    }
                }
            }
            let after = if policy_moves {
                may_log_in(tx, &environment, state.policy.login_level, now)?
            } else {
                may_log_in_of(tx, &named, &environment, state.policy.login_level, now)?
            };
            applied.end_sessions_of = before.difference(&after).copied().collect();
            state.cursor = answer.cursor;
            state.last_answer = LastAnswer {
                wall: now,
                boot: boot.clone(),
                wall_seen: now.max(state.last_answer.wall_seen),
            };
            state.controller_offset = controller_time.saturating_sub(now);
            tx.set_fleet_state(&state)?;
            Ok((applied, state))
        })?;
        let (applied, state) = outcome;
        self.config.login_level = state.policy.login_level;
        Ok(applied)
    }

    /// Replaces the cache with the environment's full state (the first
    /// sync, a cursor too old, a new epoch), swapped in in one
    /// transaction. Users the snapshot lacks were deleted fleet-wide:
    /// their uids retire. Enters fleet mode when the host wasn't in it.
    pub fn apply_fleet_snapshot(
        &mut self,
        answer: &SnapshotAnswer,
        controller_time: Timestamp,
    ) -> Result<Applied> {
        let now = self.now();
        let boot = self.boot_time();
        let policy = policy_of(&answer.environment)?;
        let environment = answer.environment.name.clone();
        let previous_environment = self.config.environment.clone();
        let previous_level = self.config.login_level;
        let applied = self.cache()?.write(|tx| {
            let known = tx.fleet_state()?;
            let before = may_log_in(tx, &previous_environment, previous_level, now)?;
            let sent: BTreeSet<u32> = answer.users.iter().map(|u| u.uid).collect();
            for uid in tx.cached_uids()? {
                if !sent.contains(&uid)
                    && let Some(user) = tx.user_by_uid(uid, now)?
                {
                    tx.delete_user(uid, &user.name, now)?;
                }
            }
            for user in &answer.users {
                put_user(tx, user, &environment, &policy, now)?;
            }
            for uid in &answer.retired_uids {
                tx.retire_uid(*uid, "", now)?;
            }
            let after = may_log_in(tx, &environment, policy.login_level, now)?;
            tx.set_fleet_state(&FleetState {
                epoch: answer.epoch.clone(),
                cursor: answer.cursor,
                environment: environment.clone(),
                policy: policy.clone(),
                last_answer: LastAnswer {
                    wall: now,
                    boot: boot.clone(),
                    wall_seen: known
                        .as_ref()
                        .map_or(now, |k| k.last_answer.wall_seen.max(now)),
                },
                controller_offset: controller_time.saturating_sub(now),
            })?;
            Ok(Applied {
                end_sessions_of: before.difference(&after).copied().collect(),
                environment_moved: known.is_some_and(|k| k.environment != environment),
                revoked: false,
            })
        })?;
        self.config.environment = environment;
        self.config.login_level = policy.login_level;
        self.fleet_host = true;
        Ok(applied)
    }

    /// Caches a user as an online login's answer sent it (its hash
    /// included, a role admin's too: kept until "password changed").
    pub fn cache_authenticated(&mut self, sent: &HostUser) -> Result<()> {
        let now = self.now();
        let environment = self.config.environment.clone();
        self.cache()?.write(|tx| {
            let user = cached_user(sent, &environment, now)?;
            let keys = sent_keys(sent)?;
            tx.put_cached_user(&user, sent.password.hash.as_deref(), &keys)
        })
    }

    /// The controller says this host is revoked: every cached hash, key,
    /// code and token goes now.
    pub fn wipe_fleet_credentials(&mut self) -> Result<()> {
        self.cache()?.write(|tx| tx.wipe_credentials())
    }

    /// Back to standalone: the feed's state and the undelivered reports
    /// go; the cached users stay as the host's own.
    pub fn leave_fleet(&mut self) -> Result<()> {
        self.cache()?.write(|tx| tx.clear_fleet_state())?;
        self.fleet_host = false;
        Ok(())
    }

    /// How long this host has been without an answer (none: not
    /// enrolled). Also keeps the latest wall time seen, so a clock set
    /// back across a reboot extends nothing.
    pub fn fleet_offline(&mut self) -> Result<Option<Offline>> {
        let now = self.now();
        let boot = self.boot_time();
        let Some(state) = self.fleet_state()? else {
            return Ok(None);
        };
        // At most one write a minute (every answer moves it too): an
        // account check must not pay a synchronous commit, and losing less
        // than a minute of "seen" across a reboot extends nothing much.
        if now > state.last_answer.wall_seen.saturating_add(WALL_SEEN_EVERY) {
            self.cache()?.write(|tx| tx.see_wall_time(now))?;
        }
        Ok(Some(offline(&state, now, &boot)))
    }

    pub fn queue_fleet_report(&mut self, report: &QueuedReport) -> Result<()> {
        self.cache()?.write(|tx| {
            if tx.fleet_state()?.is_some() {
                tx.queue_report(report)?;
            }
            Ok(())
        })
    }

    pub fn queued_fleet_reports(&mut self, max: usize) -> Result<Vec<(i64, QueuedReport)>> {
        self.cache()?.read(|tx| tx.queued_reports(max))
    }

    pub fn fleet_reports_sent(&mut self, ids: &[i64]) -> Result<()> {
        self.cache()?.write(|tx| tx.drop_reports(ids))
    }

    /// How many reports wait to go up, and since when.
    pub fn fleet_report_backlog(&mut self) -> Result<(u64, Option<Timestamp>)> {
        self.cache()?.read(|tx| tx.report_backlog())
    }

    pub(crate) fn boot_time(&self) -> BootTime {
        self.clock().boot_time()
    }
}

/// The offline verdict for `state` as of `now`.
pub fn offline(state: &FleetState, now: Timestamp, boot: &BootTime) -> Offline {
    let offline_for = fleet::offline_for(&state.last_answer, now, boot);
    Offline {
        last_answer: state.last_answer.wall,
        offline_for,
        grace: state.policy.offline_grace,
        within_grace: fleet::within_offline_grace(state.policy.offline_grace, offline_for),
    }
}
