//! [`Roster`]: the one entry point rosterd calls for every request.
//!
//! Each method authorizes the actor through [`crate::authz::authorize`],
//! validates its input, applies the model's rules and commits in one
//! store transaction; on any error nothing changed (the one exception:
//! a wrong registration code is counted toward the lockout even though
//! the call fails, or the lockout would count nothing). Methods that need
//! a password hash take the finished PHC string: rosterd computes it with
//! [`crate::password::Hasher`] in its bounded queue, off the async threads.
//! The flows around that hash (a login, every password change) are
//! [`crate::flows`]: they plan, rosterd verifies and hashes, they commit.

use crate::Result;
use crate::authz::{ActingUser, Actor, Operation, authorize, visible_user};
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::credential;
use crate::error::Error;
use crate::level::Level;
use crate::local_files;
use crate::lockout::{ALL_REMOTE_HOSTS, LOCAL};
use crate::model::*;
use crate::password::check_phc;
use crate::rules;
use crate::secret::Secret;
use crate::ssh_key::PublicKey;
use crate::store::{Backend, CodeRow, CommitMark, KeyRow, SqliteStore, Tx};
use crate::validate;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// How a new user gets in.
#[derive(Debug)]
pub enum InitialCredential {
    /// An argon2id PHC string (policy already checked by the caller).
    PasswordHash(String),
    /// Pending, with a registration code.
    Register,
}

/// A registration code, shown once.
#[derive(Debug)]
pub struct IssuedCode {
    pub code: Secret,
    pub expires: Timestamp,
}

/// Who changes a password, which decides the authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PasswordChange {
    /// The user, after rosterd verified the current password against
    /// `verified_against` (the hash the plan read; none: the dummy).
    Own { verified_against: Option<String> },
    /// Root or a role admin, without the current password.
    ByAdmin,
}

/// What the NSS snapshot shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NssView {
    /// Every user, whatever its state (pending and suspended resolve).
    pub users: Vec<User>,
    /// `admin_group`'s members: active `admin` holders of this host's
    /// environment and active role admins, sorted. Suspended and pending
    /// users are left out (a kept session must not sudo).
    pub admin_members: Vec<String>,
}

/// The rules over a store. The store is a `Box<dyn Backend>` rather than a
/// type parameter: rosterd keeps one `Roster` behind a mutex in types that
/// never name the engine, and the cost (a virtual call per store
/// operation) is nothing beside the SQL it runs.
pub struct Roster {
    pub(crate) config: Config,
    clock: Arc<dyn Clock>,
    pub(crate) store: Box<dyn Backend>,
    /// This store is an enrolled host's cache: kept in memory so a
    /// standalone host's logins read nothing more for fleet mode.
    pub(crate) fleet_host: bool,
}

/// Whether `store` is an enrolled host's cache (a fleet state is kept).
fn is_fleet_host(store: &mut dyn Backend) -> Result<bool> {
    match store.host_cache() {
        Some(cache) => Ok(cache.read(|tx| tx.fleet_state())?.is_some()),
        None => Ok(false),
    }
}

impl std::fmt::Debug for Roster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roster")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// A session leader's start time is stored as SQLite's signed 64-bit
/// integer: a larger one (no kernel gives one: it counts clock ticks
/// since boot) is refused rather than stored as another value.
fn leader_start_fits(leader_start: u64) -> Result<()> {
    if i64::try_from(leader_start).is_err() {
        return Err(Error::InvalidArgument(format!(
            "the session leader's start time {leader_start} is past {} \
             (it is /proc/PID/stat's clock ticks since boot)",
            i64::MAX
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("user {} not found", validate::shown(name)))
}

fn acting(user: &User) -> ActingUser {
    ActingUser {
        name: user.name.clone(),
        uid: user.uid,
        role: user.role,
        state: user.state,
        grants: user.grants.clone(),
    }
}

/// Enough for every device a person owns; a bound on what one user stores.
const MAX_KEYS_PER_USER: usize = 100;

/// `e` with "line N: " before its message, for a refused line of a list.
fn at_line(n: usize, e: Error) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("line {n}: {m}")),
        Error::AlreadyExists(m) => Error::AlreadyExists(format!("line {n}: {m}")),
        other => other,
    }
}

fn ssh_key(user: &str, key: &PublicKey, added: Timestamp) -> SshKey {
    SshKey {
        user: user.to_string(),
        key_type: key.key_type().name().to_string(),
        fingerprint: key.fingerprint().to_string(),
        comment: key.comment().to_string(),
        bits: key.bits(),
        added,
        line: key.line(),
    }
}

/// The user's keys, each re-checked as it is read back (a row edited by
/// hand that no longer parses is reported, not served to sshd).
fn stored_keys(tx: &Tx<'_>, owner: &User) -> Result<Vec<SshKey>> {
    tx.keys_of(owner.uid)?
        .into_iter()
        .map(|row| {
            let key =
                PublicKey::from_blob(&row.key_type, &row.blob, &row.comment).map_err(|e| {
                    Error::Store(format!(
                        "the stored key {} of {:?} is damaged: {e}",
                        row.fingerprint, owner.name
                    ))
                })?;
            Ok(ssh_key(&owner.name, &key, row.added))
        })
        .collect()
}

/// The longest lifetime a token may be given.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86400);

fn token_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 64 {
        return Err(Error::InvalidArgument(
            "a token name must have 1–64 bytes".into(),
        ));
    }
    validate::field(name, "token name")
}

/// When the user `uid` is locked out from `host` (a lockout key) at
/// `now`: its own counter, and for a remote host the user's counter over
/// all remote hosts too.
pub(crate) fn locked_from(
    tx: &Tx<'_>,
    uid: u32,
    host: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let here = tx.lockout(uid, host)?.locked_at(now);
    if host == LOCAL {
        return Ok(here);
    }
    let anywhere_remote = tx.lockout(uid, ALL_REMOTE_HOSTS)?.locked_at(now);
    Ok(here.max(anywhere_remote))
}

/// `Locked` when `user` is locked out from `host` at `now`.
pub(crate) fn refuse_if_locked(tx: &Tx<'_>, user: &User, host: &str, now: Timestamp) -> Result<()> {
    match locked_from(tx, user.uid, host, now)? {
        Some(until) => Err(crate::lockout::locked_error(until, now)),
        None => Ok(()),
    }
}

pub(crate) fn need_user(tx: &Tx<'_>, name: &str, now: Timestamp) -> Result<User> {
    tx.user(name, now)?.ok_or_else(|| not_found(name))
}

fn need_environment(tx: &Tx<'_>, name: &str) -> Result<()> {
    if tx.environment(name)?.is_none() {
        return Err(Error::NotFound(
            if validate::environment_name(name).is_ok() {
                format!(
                    "environment {name:?} not found: add it with `roster environments add {name}`"
                )
            } else {
                format!("environment {} not found", validate::shown(name))
            },
        ));
    }
    Ok(())
}

/// A new registration code for `uid`, replacing any earlier one.
pub(crate) fn issue_code(
    tx: &Tx<'_>,
    uid: u32,
    now: Timestamp,
    ttl: Duration,
) -> Result<IssuedCode> {
    let issued = credential::issue()?;
    let expires = now.saturating_add(secs(ttl));
    tx.set_code(&CodeRow {
        uid,
        public_id: issued.id.clone(),
        hash: issued.hash.clone(),
        created: now,
        expires,
    })?;
    Ok(IssuedCode {
        code: issued.full,
        expires,
    })
}

impl Roster {
    /// Open (or create and migrate) the database the config names, and
    /// make sure `default` and this host's environment exist.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Roster> {
        config.validate()?;
        let store = SqliteStore::open(&config.database)?;
        Roster::with_backend(config, clock, Box::new(store))
    }

    /// As [`Roster::open`], on any backend (opened and migrated by its
    /// own crate; `config.database` is not looked at).
    pub fn with_backend(
        config: Config,
        clock: Arc<dyn Clock>,
        mut store: Box<dyn Backend>,
    ) -> Result<Roster> {
        config.validate()?;
        let now = clock.now();
        let environments = ["default".to_string(), config.environment.clone()];
        store.write(|tx| {
            for name in &environments {
                if tx.environment(name)?.is_none() {
                    tx.insert_environment(name, now)?;
                }
            }
            Ok(())
        })?;
        let fleet_host = is_fleet_host(store.as_mut())?;
        Ok(Roster {
            config,
            clock,
            store,
            fleet_host,
        })
    }

    /// As [`Roster::with_backend`] on a store known to be set up (its
    /// environments made by whoever opened it first): no write, for a
    /// caller that opens one per call (the fleet's controller).
    pub fn over(
        config: Config,
        clock: Arc<dyn Clock>,
        mut store: Box<dyn Backend>,
    ) -> Result<Roster> {
        config.validate()?;
        let fleet_host = is_fleet_host(store.as_mut())?;
        Ok(Roster {
            config,
            clock,
            store,
            fleet_host,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The store's schema version (for `roster doctor`).
    pub fn schema_version(&self) -> Result<u32> {
        self.store.schema_version()
    }

    /// The mark the store sets when a committed change alters what the NSS
    /// snapshot shows: whoever writes the snapshot drains it with
    /// [`CommitMark::take`] after each call.
    pub fn commit_mark(&self) -> CommitMark {
        self.store.commit_mark()
    }

    /// Resolve a bus caller: a bound token → Token (errors `TokenRevoked` /
    /// `TokenExpired`, marks it used), whatever the uid — the caller asked
    /// to act as the token's user; else uid 0 → Root; a Roster user's
    /// uid → User; else Stranger.
    pub fn actor(&mut self, caller: &Caller) -> Result<Actor> {
        let now = self.now();
        if let Some(id) = &caller.token_id {
            return self.store.write(|tx| {
                let (token, user) = live_token(tx, id, now)?;
                tx.touch_token(&token.id, now)?;
                Ok(Actor::Token {
                    user: acting(&user),
                    scope: token.scope,
                    token_id: token.id,
                })
            });
        }
        if caller.uid == 0 {
            return Ok(Actor::Root);
        }
        let user = self.store.read(|tx| tx.user_by_uid(caller.uid, now))?;
        Ok(match user {
            Some(user) => Actor::User(acting(&user)),
            None => Actor::Stranger { uid: caller.uid },
        })
    }

    // ---- users -------------------------------------------------------

    pub fn create_user(
        &mut self,
        actor: &Actor,
        new: NewUser,
        credential: InitialCredential,
    ) -> Result<(User, Option<IssuedCode>)> {
        authorize(actor, &Operation::CreateUser)?;
        validate::new_user_name(&new.name, &self.config)?;
        let display_name = new.display_name.unwrap_or_default();
        validate::display_name(&display_name)?;
        let home = match new.home {
            Some(home) => home,
            // Through components, so a `home_base` spelled "/home/" or
            // "/srv//homes" still gives a normalised home.
            None => self
                .config
                .home_base
                .join(&new.name)
                .components()
                .collect::<std::path::PathBuf>()
                .to_string_lossy()
                .into_owned(),
        };
        validate::home(&home)?;
        let shell = new
            .shell
            .unwrap_or_else(|| self.config.shell.to_string_lossy().into_owned());
        validate::shell(&shell)?;
        let hash = match &credential {
            InitialCredential::PasswordHash(phc) => {
                check_phc(phc)?;
                Some(phc.as_str())
            }
            InitialCredential::Register => None,
        };
        let local_ids = self.local_ids()?;
        let now = self.now();
        let (uid_min, uid_max, ttl) = (
            self.config.uid_min,
            self.config.uid_max,
            self.config.registration.ttl,
        );
        self.store.write(|tx| {
            if tx.user(&new.name, now)?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "user {:?} exists already",
                    new.name
                )));
            }
            let taken = tx.taken_uids(uid_min, uid_max)?;
            let uid = rules::allocate_uid(uid_min, uid_max, &taken, &local_ids)?;
            let user = User {
                name: new.name.clone(),
                display_name,
                // Nothing ever becomes admin by default.
                role: new.role.unwrap_or(Role::User),
                state: if hash.is_some() {
                    UserState::Active
                } else {
                    UserState::Pending
                },
                uid,
                home,
                shell,
                created: now,
                last_login: None,
                password_changed: hash.map(|_| now),
                locked_until: None,
                grants: Default::default(),
            };
            tx.insert_user(&user, hash)?;
            let code = match hash {
                Some(_) => None,
                None => Some(issue_code(tx, uid, now, ttl)?),
            };
            Ok((user, code))
        })
    }

    /// Every uid and gid the host's own files use: never handed out.
    fn local_ids(&self) -> Result<BTreeSet<u32>> {
        let mut ids = BTreeSet::new();
        for entry in local_files::passwd(&self.config.passwd_file)? {
            ids.extend(entry.id);
            ids.extend(entry.gid);
        }
        for entry in local_files::group(&self.config.group_file)? {
            ids.extend(entry.id);
        }
        Ok(ids)
    }

    pub fn edit_user(&mut self, actor: &Actor, name: &str, changes: UserChanges) -> Result<User> {
        authorize(actor, &Operation::EditUser { target: name })?;
        if let Some(v) = &changes.display_name {
            validate::display_name(v)?;
        }
        if let Some(v) = &changes.home {
            validate::home(v)?;
        }
        if let Some(v) = &changes.shell {
            validate::shell(v)?;
        }
        let now = self.now();
        self.store.write(|tx| {
            let mut user = need_user(tx, name, now)?;
            if let Some(role) = changes.role
                && role != user.role
            {
                rules::not_self(actor, name, "change the role of")?;
                if role == Role::User {
                    rules::not_last_admin(&user, tx.active_admins()?, "demote")?;
                }
                user.role = role;
            }
            if let Some(v) = changes.display_name {
                user.display_name = v;
            }
            if let Some(v) = changes.home {
                user.home = v;
            }
            if let Some(v) = changes.shell {
                user.shell = v;
            }
            tx.update_profile(&user)?;
            Ok(user)
        })
    }

    /// Store a new password hash; voids tokens and registration code,
    /// clears lockouts, makes a pending user active. An own change is
    /// refused (`Locked`) while the user is locked out locally: the lock
    /// may have come while its current password was being verified, and a
    /// right password must never lift a lockout.
    pub(crate) fn set_password_hash(
        &mut self,
        actor: &Actor,
        name: &str,
        change: PasswordChange,
        phc: String,
    ) -> Result<User> {
        let op = match change {
            PasswordChange::Own { .. } => Operation::ChangeOwnPassword { target: name },
            PasswordChange::ByAdmin => Operation::SetOthersPassword { target: name },
        };
        authorize(actor, &op)?;
        check_phc(&phc)?;
        let now = self.now();
        self.store.write(|tx| {
            let user = need_user(tx, name, now)?;
            if let PasswordChange::Own { verified_against } = &change {
                refuse_if_locked(tx, &user, LOCAL, now)?;
                // The current password was verified against this hash: a
                // reset or another change since (while the new one was
                // hashed) stands, and the old password can't undo it.
                if tx.password_hash(user.uid)? != *verified_against {
                    return Err(Error::Conflict(format!(
                        "the password of {name:?} changed while the new one was being set: nothing was changed, try again"
                    )));
                }
            }
            set_password(tx, &user, &phc, now)?;
            need_user(tx, name, now)
        })
    }

    /// Back to pending with a new code; voids the old code, the password and tokens.
    pub fn reset_password(&mut self, actor: &Actor, name: &str) -> Result<(User, IssuedCode)> {
        authorize(actor, &Operation::ResetPassword { target: name })?;
        let now = self.now();
        let ttl = self.config.registration.ttl;
        self.store.write(|tx| {
            let user = need_user(tx, name, now)?;
            // Pending can't log in: for these rules it is like a suspend.
            rules::not_self(actor, name, "reset the password of")?;
            rules::not_last_admin(&user, tx.active_admins()?, "reset the password of")?;
            tx.set_password(user.uid, None, None)?;
            if user.state == UserState::Active {
                tx.set_state(user.uid, UserState::Pending)?;
            }
            tx.revoke_tokens(user.uid, now)?;
            tx.clear_lockouts(user.uid)?;
            let code = issue_code(tx, user.uid, now, ttl)?;
            Ok((need_user(tx, name, now)?, code))
        })
    }

    /// Delete; answers the user as it was (its uid is never reused).
    pub fn delete_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        authorize(actor, &Operation::DeleteUser { target: name })?;
        let now = self.now();
        self.store.write(|tx| {
            let user = need_user(tx, name, now)?;
            rules::not_self(actor, name, "delete")?;
            rules::not_last_admin(&user, tx.active_admins()?, "delete")?;
            tx.revoke_tokens(user.uid, now)?;
            tx.delete_user(user.uid, &user.name, now)?;
            Ok(user)
        })
    }

    /// Suspend; voids its tokens. The daemon ends its processes.
    pub fn suspend_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        authorize(actor, &Operation::SuspendUser { target: name })?;
        let now = self.now();
        self.store.write(|tx| {
            let mut user = need_user(tx, name, now)?;
            rules::not_self(actor, name, "suspend")?;
            rules::not_last_admin(&user, tx.active_admins()?, "suspend")?;
            tx.revoke_tokens(user.uid, now)?;
            tx.set_state(user.uid, UserState::Suspended)?;
            user.state = UserState::Suspended;
            Ok(user)
        })
    }

    /// Back from suspended: active, or pending when it never set a
    /// password (its registration code, if still valid, works again).
    pub fn enable_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        authorize(actor, &Operation::EnableUser { target: name })?;
        let now = self.now();
        self.store.write(|tx| {
            let mut user = need_user(tx, name, now)?;
            if user.state == UserState::Suspended {
                let state = if tx.password_hash(user.uid)?.is_some() {
                    UserState::Active
                } else {
                    UserState::Pending
                };
                tx.set_state(user.uid, state)?;
                user.state = state;
            }
            Ok(user)
        })
    }

    /// Clear every lockout of the user (all remote hosts).
    pub fn unlock_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        authorize(actor, &Operation::UnlockUser { target: name })?;
        let now = self.now();
        self.store.write(|tx| {
            let user = need_user(tx, name, now)?;
            tx.clear_lockouts(user.uid)?;
            need_user(tx, name, now)
        })
    }

    /// The users `actor` may see; suspended ones only with `all`.
    pub fn list_users(&mut self, actor: &Actor, all: bool) -> Result<Vec<User>> {
        authorize(actor, &Operation::ListUsers)?;
        let now = self.now();
        let users = self.store.read(|tx| tx.users(now))?;
        Ok(users
            .into_iter()
            .filter(|u| all || u.state != UserState::Suspended)
            .filter(|u| visible_user(actor, &u.name, &u.grants))
            .collect())
    }

    pub fn show_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        let now = self.now();
        // User names are public (the NSS snapshot lists them), so "not
        // found" before "not allowed" leaks nothing.
        let user = self.store.read(|tx| need_user(tx, name, now))?;
        authorize(
            actor,
            &Operation::ShowUser {
                target: name,
                target_grants: &user.grants,
            },
        )?;
        Ok(user)
    }

    /// A Roster user by uid (no authorization: the daemon uses it to
    /// resolve callers and sweep processes).
    pub fn user_by_uid(&mut self, uid: u32) -> Result<Option<User>> {
        let now = self.now();
        self.store.read(|tx| tx.user_by_uid(uid, now))
    }

    /// A Roster user by name (no authorization: for the daemon's own
    /// needs, such as the PAM module's "is this user pending").
    pub fn user_by_name(&mut self, name: &str) -> Result<Option<User>> {
        let now = self.now();
        self.store.read(|tx| tx.user(name, now))
    }

    /// A user with the hash and keys a fleet host may cache, read in one
    /// transaction; what actually goes is decided by [`crate::fleet`].
    pub fn fleet_view(
        &mut self,
        name: &str,
    ) -> Result<(User, Option<String>, Vec<crate::store::KeyRow>)> {
        let now = self.now();
        self.store.read(|tx| {
            let user = need_user(tx, name, now)?;
            let hash = tx.password_hash(user.uid)?;
            let keys = tx.keys_of(user.uid)?;
            Ok((user, hash, keys))
        })
    }

    // ---- grants and environments -------------------------------------

    /// `environment` None = this host's. Answers the level held afterwards.
    pub fn grant(
        &mut self,
        actor: &Actor,
        user: &str,
        environment: Option<&str>,
        level: Level,
    ) -> Result<Level> {
        let environment = environment.unwrap_or(&self.config.environment).to_string();
        validate::environment_name(&environment)?;
        authorize(
            actor,
            &Operation::Grant {
                target: user,
                environment: &environment,
                level,
            },
        )?;
        let now = self.now();
        self.store.write(|tx| {
            let target = need_user(tx, user, now)?;
            need_environment(tx, &environment)?;
            rules::not_self(actor, user, "change the grants of")?;
            let held = target.level_in(&environment);
            let after = rules::after_grant(held, level);
            if held != Some(after) {
                tx.set_grant(target.uid, &environment, after)?;
            }
            Ok(after)
        })
    }

    /// `level` None removes everything in the environment.
    pub fn revoke(
        &mut self,
        actor: &Actor,
        user: &str,
        environment: Option<&str>,
        level: Option<Level>,
    ) -> Result<RevokeOutcome> {
        let environment = environment.unwrap_or(&self.config.environment).to_string();
        validate::environment_name(&environment)?;
        authorize(
            actor,
            &Operation::Revoke {
                target: user,
                environment: &environment,
            },
        )?;
        let now = self.now();
        self.store.write(|tx| {
            let target = need_user(tx, user, now)?;
            need_environment(tx, &environment)?;
            rules::not_self(actor, user, "change the grants of")?;
            let before = target.level_in(&environment);
            let after = rules::after_revoke(before, level);
            if before != after {
                match after {
                    Some(level) => tx.set_grant(target.uid, &environment, level)?,
                    None => tx.delete_grant(target.uid, &environment)?,
                }
            }
            Ok(RevokeOutcome { before, after })
        })
    }

    pub fn add_environment(&mut self, actor: &Actor, name: &str) -> Result<Environment> {
        authorize(actor, &Operation::AddEnvironment)?;
        validate::environment_name(name)?;
        let now = self.now();
        self.store.write(|tx| {
            if tx.environment(name)?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "environment {name:?} exists already"
                )));
            }
            tx.insert_environment(name, now)?;
            tx.environment(name)?
                .ok_or_else(|| Error::Store(format!("environment {name:?} vanished")))
        })
    }

    pub fn list_environments(&mut self, actor: &Actor) -> Result<Vec<Environment>> {
        authorize(actor, &Operation::ListEnvironments)?;
        self.store.read(|tx| tx.environments())
    }

    /// Refused while grants exist unless `force`; answers how many grants
    /// were dropped. `default` can't be removed, nor this host's own
    /// environment (the config names it; rosterd would add it back).
    pub fn remove_environment(&mut self, actor: &Actor, name: &str, force: bool) -> Result<u32> {
        authorize(actor, &Operation::RemoveEnvironment)?;
        validate::environment_name(name)?;
        if name == "default" {
            return Err(Error::Conflict(
                "the environment \"default\" always exists and can't be removed".into(),
            ));
        }
        if name == self.config.environment {
            return Err(Error::Conflict(format!(
                "environment {name:?} is this host's (`environment` in the config): change the config first"
            )));
        }
        self.store.write(|tx| {
            let env = tx.environment(name)?.ok_or_else(|| {
                Error::NotFound(format!("environment {} not found", validate::shown(name)))
            })?;
            if env.grants > 0 && !force {
                return Err(Error::Conflict(format!(
                    "environment {name:?} still has {} grant(s): revoke them first, or remove it with --force",
                    env.grants
                )));
            }
            tx.delete_environment(name)
        })
    }

    // ---- PAM ---------------------------------------------------------

    pub fn check_account(&mut self, actor: &Actor, name: &str) -> Result<AccountStatus> {
        authorize(actor, &Operation::CheckAccount { target: name })?;
        let now = self.now();
        let user = self.store.read(|tx| tx.user(name, now))?;
        // A fleet host past its offline grace fails closed for every
        // Roster user (DESIGN.md "Offline"); NSS keeps resolving them.
        let offline = if self.fleet_host {
            self.fleet_offline()?.filter(|o| !o.within_grace)
        } else {
            None
        };
        let environment = &self.config.environment;
        let login_level = self.config.login_level;
        Ok(match user {
            None => AccountStatus::Unknown,
            Some(_) if offline.is_some() => AccountStatus::Offline {
                since: offline.as_ref().map_or(0, |o| o.grace_ends()),
            },
            Some(u) if u.state == UserState::Suspended => AccountStatus::Suspended,
            Some(u) if u.state == UserState::Pending => AccountStatus::Pending,
            Some(u) if rules::may_log_in_here(&u, environment, login_level) => {
                AccountStatus::Ok { uid: u.uid }
            }
            Some(_) => AccountStatus::Denied {
                environment: environment.clone(),
                level: login_level,
            },
        })
    }

    /// Record a session; sets last login. Answers the session and whether
    /// it is the user's first.
    pub fn open_session(&mut self, actor: &Actor, session: NewSession) -> Result<(Session, bool)> {
        authorize(actor, &Operation::OpenSession)?;
        validate::field(&session.service, "PAM service")?;
        validate::field(&session.tty, "tty")?;
        validate::field(&session.remote_host, "remote host")?;
        if session.leader_pid == 0 {
            return Err(Error::InvalidArgument(
                "the session's leader pid is 0".into(),
            ));
        }
        leader_start_fits(session.leader_start)?;
        let now = self.now();
        self.store.write(|tx| {
            let user = need_user(tx, &session.user, now)?;
            let first = tx.session_count(user.uid)? == 0;
            let recorded = tx.insert_session(&session, user.uid, now)?;
            tx.set_last_login(user.uid, now)?;
            Ok((recorded, first))
        })
    }

    pub fn close_session(
        &mut self,
        actor: &Actor,
        user: &str,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<()> {
        authorize(actor, &Operation::CloseSession)?;
        leader_start_fits(leader_start)?;
        let now = self.now();
        self.store.write(|tx| {
            let target = need_user(tx, user, now)?;
            if tx.end_session(target.uid, leader_pid, leader_start, now)? {
                Ok(())
            } else {
                Err(Error::NotFound(format!(
                    "no live session of {user:?} led by pid {leader_pid}"
                )))
            }
        })
    }

    /// `user` None = everyone the actor may see; `all` adds ended ones.
    pub fn list_sessions(
        &mut self,
        actor: &Actor,
        user: Option<&str>,
        all: bool,
    ) -> Result<Vec<Session>> {
        let environment = self.config.environment.clone();
        authorize(
            actor,
            &Operation::ListSessions {
                environment: &environment,
                target: user,
            },
        )?;
        let now = self.now();
        let sees_all = crate::authz::sees_all_sessions(actor, &environment);
        let own = rules::actor_name(actor).map(str::to_string);
        self.store.read(|tx| {
            let uid = match user {
                Some(name) => Some(need_user(tx, name, now)?.uid),
                None => None,
            };
            let sessions = tx.sessions(uid, all)?;
            Ok(sessions
                .into_iter()
                .filter(|s| sees_all || own.as_deref() == Some(s.user.as_str()))
                .collect())
        })
    }

    /// Live sessions (no authorization: for the daemon's reaper).
    pub fn live_sessions(&mut self) -> Result<Vec<Session>> {
        self.store.read(|tx| tx.sessions(None, false))
    }

    /// Mark sessions ended (reaped or swept).
    pub fn end_sessions(&mut self, ids: &[i64]) -> Result<()> {
        let now = self.now();
        self.store.write(|tx| tx.end_sessions(ids, now))
    }

    // ---- registration codes ------------------------------------------

    /// Finish a pending user's registration with the code an admin handed
    /// out: stores `phc` (policy checked by the caller, with the code
    /// passed as `old` so a password equal to the code is refused), makes
    /// the user active, uses up the code, voids tokens, clears lockouts.
    /// Anyone may call it: the code is the authority. A wrong code for a
    /// known id counts toward that user's local lockout (and that count is
    /// kept although the call fails). Checking the code, storing the
    /// password and using the code up are one transaction.
    pub(crate) fn register(&mut self, code: &Secret, phc: String) -> Result<User> {
        check_phc(&phc)?;
        let (id, secret) = credential::parse(code).ok_or_else(invalid_code)?;
        let now = self.now();
        let lockout = self.config.lockout.clone();
        let registered = self.store.write(|tx| {
            let Some(user) = live_code_owner(tx, &id, &secret, now, &lockout)? else {
                return Ok(None);
            };
            set_password(tx, &user, &phc, now)?;
            Ok(Some(need_user(tx, &user.name, now)?))
        })?;
        registered.ok_or_else(invalid_code)
    }

    // ---- API tokens ---------------------------------------------------

    /// A token for the actor's own user; the secret is answered once and
    /// only its hash is stored. `expires_in` None = never.
    pub fn create_token(
        &mut self,
        actor: &Actor,
        name: Option<&str>,
        scope: Scope,
        expires_in: Option<Duration>,
    ) -> Result<(Token, Secret)> {
        authorize(actor, &Operation::CreateToken)?;
        let Some(owner) = rules::actor_name(actor).map(str::to_string) else {
            return Err(Error::InvalidArgument(
                "root is not a Roster user, and tokens belong to Roster users: create the token as that user".into(),
            ));
        };
        let name = name.unwrap_or("token");
        token_name(name)?;
        if let Some(d) = expires_in
            && (d.is_zero() || d > MAX_TOKEN_LIFETIME)
        {
            return Err(Error::InvalidArgument(
                "a token's lifetime must be between 1s and 10 years (or none)".into(),
            ));
        }
        let now = self.now();
        self.store.write(|tx| {
            let user = need_user(tx, &owner, now)?;
            let issued = credential::issue()?;
            let token = Token {
                id: issued.id.clone(),
                user: user.name.clone(),
                uid: user.uid,
                name: name.to_string(),
                scope,
                created: now,
                last_used: None,
                expires: expires_in.map(|d| now.saturating_add(secs(d))),
            };
            tx.insert_token(&token, &issued.hash)?;
            Ok((token, issued.full))
        })
    }

    /// Check a presented token string: the daemon binds the answered
    /// token's id to the connection and passes it in `Caller::token_id`.
    /// Marks it used.
    pub fn present_token(&mut self, token: &Secret) -> Result<Token> {
        let invalid = || {
            Error::PermissionDenied(
                "this is not a valid Roster token: check it, or create one with `roster tokens create`"
                    .into(),
            )
        };
        let (id, secret) = credential::parse(token).ok_or_else(invalid)?;
        let now = self.now();
        self.store.write(|tx| {
            let row = tx.token(&id)?.ok_or_else(invalid)?;
            // The secret first: nobody learns a token's state without it.
            if !credential::matches(&secret, &row.hash) {
                return Err(invalid());
            }
            let (token, _) = live_token(tx, &id, now)?;
            tx.touch_token(&id, now)?;
            Ok(Token {
                last_used: Some(now),
                ..token
            })
        })
    }

    /// `owner` None = the actor's own (for root: everyone's).
    pub fn list_tokens(&mut self, actor: &Actor, owner: Option<&str>) -> Result<Vec<Token>> {
        let owner = owner.or(rules::actor_name(actor)).map(str::to_string);
        authorize(
            actor,
            &Operation::ListTokens {
                owner: owner.as_deref().unwrap_or(""),
            },
        )?;
        let now = self.now();
        self.store.read(|tx| {
            let uid = match &owner {
                Some(name) => Some(need_user(tx, name, now)?.uid),
                None => None,
            };
            tx.tokens(uid)
        })
    }

    pub fn rename_token(&mut self, actor: &Actor, id: &str, name: &str) -> Result<Token> {
        token_name(name)?;
        let token = self.find_token(id)?;
        authorize(actor, &Operation::RenameToken { owner: &token.user })?;
        self.store.write(|tx| tx.rename_token(id, name))?;
        Ok(Token {
            name: name.to_string(),
            ..token
        })
    }

    /// Delete a token for good; answers it as it was.
    pub fn delete_token(&mut self, actor: &Actor, id: &str) -> Result<Token> {
        let token = self.find_token(id)?;
        authorize(actor, &Operation::DeleteToken { owner: &token.user })?;
        self.store.write(|tx| tx.delete_token(id))?;
        Ok(token)
    }

    fn find_token(&mut self, id: &str) -> Result<Token> {
        let not_found = || Error::NotFound(format!("token {} not found", validate::shown(id)));
        if id.len() > 64 {
            return Err(not_found());
        }
        let row = self.store.read(|tx| tx.token(id))?.ok_or_else(not_found)?;
        if row.revoked.is_some() {
            return Err(not_found());
        }
        Ok(row.token)
    }

    // ---- SSH keys ----------------------------------------------------

    /// Add one `authorized_keys` line (validated by [`PublicKey::parse`]:
    /// no options, known types, strict base64) to `user`'s keys.
    pub fn add_key(&mut self, actor: &Actor, user: &str, line: &str) -> Result<SshKey> {
        self.add_keys(actor, user, &[line])?
            .pop()
            .ok_or_else(|| Error::InvalidArgument("no key given".into()))
    }

    /// Add every key of an `authorized_keys`-style list (one entry per
    /// line of the file; blank lines and `#` comments skipped) to
    /// `user`'s keys, all or nothing (DESIGN.md: bad input changes
    /// nothing): every line is parsed first, then all are inserted in one
    /// transaction. A bad line, a key the user already has, or one given
    /// twice refuses the whole list; with more than one line, the error
    /// names the line (1-based).
    pub fn add_keys(&mut self, actor: &Actor, user: &str, lines: &[&str]) -> Result<Vec<SshKey>> {
        authorize(actor, &Operation::AddKey { target: user })?;
        let numbered = lines.len() > 1;
        let at = |n: usize, e: Error| {
            if numbered { at_line(n, e) } else { e }
        };
        let entries: Vec<(usize, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if entries.is_empty() {
            return Err(Error::InvalidArgument("no key given".into()));
        }
        // Checked before parsing, so a huge list costs nothing.
        if entries.len() > MAX_KEYS_PER_USER {
            return Err(Error::Conflict(format!(
                "{} keys given: a user has at most {MAX_KEYS_PER_USER}",
                entries.len()
            )));
        }
        let mut keys: Vec<(usize, PublicKey)> = Vec::with_capacity(entries.len());
        for (n, line) in entries {
            let key = PublicKey::parse(line).map_err(|e| at(n, e))?;
            if let Some((first, _)) = keys
                .iter()
                .find(|(_, k)| k.fingerprint() == key.fingerprint())
            {
                return Err(at(
                    n,
                    Error::AlreadyExists(format!(
                        "the key {} is given twice (line {first} too)",
                        key.fingerprint()
                    )),
                ));
            }
            keys.push((n, key));
        }
        let now = self.now();
        self.store.write(|tx| {
            let owner = need_user(tx, user, now)?;
            let existing = tx.keys_of(owner.uid)?;
            for (n, key) in &keys {
                if existing.iter().any(|k| k.fingerprint == key.fingerprint()) {
                    return Err(at(
                        *n,
                        Error::AlreadyExists(format!(
                            "{user:?} already has the key {}",
                            key.fingerprint()
                        )),
                    ));
                }
            }
            if existing.len() + keys.len() > MAX_KEYS_PER_USER {
                return Err(Error::Conflict(if keys.len() == 1 {
                    format!("{user:?} has {MAX_KEYS_PER_USER} keys already: remove one first")
                } else {
                    format!(
                        "{user:?} has {} keys; {} more would pass the limit of {MAX_KEYS_PER_USER}",
                        existing.len(),
                        keys.len()
                    )
                }));
            }
            let mut added = Vec::with_capacity(keys.len());
            for (_, key) in &keys {
                let row = KeyRow {
                    key_type: key.key_type().name().to_string(),
                    blob: key.blob().to_vec(),
                    comment: key.comment().to_string(),
                    fingerprint: key.fingerprint().to_string(),
                    added: now,
                };
                tx.insert_key(owner.uid, &row)?;
                added.push(ssh_key(user, key, now));
            }
            Ok(added)
        })
    }

    pub fn list_keys(&mut self, actor: &Actor, user: &str) -> Result<Vec<SshKey>> {
        authorize(actor, &Operation::ListKeys { target: user })?;
        let now = self.now();
        self.store.read(|tx| {
            let owner = need_user(tx, user, now)?;
            stored_keys(tx, &owner)
        })
    }

    /// Remove the key with `fingerprint` (`SHA256:` optional); answers it.
    pub fn remove_key(&mut self, actor: &Actor, user: &str, fingerprint: &str) -> Result<SshKey> {
        authorize(actor, &Operation::RemoveKey { target: user })?;
        let fingerprint = crate::ssh_key::parse_fingerprint(fingerprint)?;
        let now = self.now();
        self.store.write(|tx| {
            let owner = need_user(tx, user, now)?;
            let row = tx
                .keys_of(owner.uid)?
                .into_iter()
                .find(|k| k.fingerprint == fingerprint)
                .ok_or_else(|| Error::NotFound(format!("{user:?} has no key {fingerprint}")))?;
            // A stored key that no longer parses (edited by hand, or one a
            // newer check refuses) can still be removed by its fingerprint:
            // the way out of a "damaged" key.
            let key = match PublicKey::from_blob(&row.key_type, &row.blob, &row.comment) {
                Ok(key) => ssh_key(&owner.name, &key, row.added),
                Err(_) => SshKey {
                    user: owner.name.clone(),
                    key_type: row.key_type.clone(),
                    fingerprint: row.fingerprint.clone(),
                    comment: row.comment.clone(),
                    bits: 0,
                    added: row.added,
                    line: String::new(),
                },
            };
            tx.delete_key(owner.uid, &fingerprint)?;
            Ok(key)
        })
    }

    /// The key lines sshd may accept for `user` here: those of an active
    /// user at or above `login_level` in this host's environment (or a role
    /// admin); nothing for anyone else, unknown names included.
    pub fn authorized_keys(&mut self, actor: &Actor, user: &str) -> Result<Vec<String>> {
        authorize(actor, &Operation::AuthorizedKeys)?;
        let now = self.now();
        let environment = self.config.environment.clone();
        let login_level = self.config.login_level;
        self.store.read(|tx| {
            let Some(owner) = tx.user(user, now)? else {
                return Ok(Vec::new());
            };
            if !rules::may_log_in_here(&owner, &environment, login_level) {
                return Ok(Vec::new());
            }
            Ok(stored_keys(tx, &owner)?
                .into_iter()
                .map(|k| k.line)
                .collect())
        })
    }

    // ---- NSS ---------------------------------------------------------

    pub fn nss_view(&mut self) -> Result<NssView> {
        let now = self.now();
        nss_view(self.store.as_mut(), now, &self.config.environment)
    }

    /// A reader of [`NssView`]s on a connection of its own (read-only), so
    /// rosterd builds the snapshot without holding the store's lock. A
    /// view read after a commit contains it.
    pub fn nss_reader(&self) -> Result<NssReader> {
        Ok(NssReader {
            store: self.store.open_reader()?,
            clock: self.clock.clone(),
            environment: self.config.environment.clone(),
        })
    }
}

/// See [`Roster::nss_reader`].
pub struct NssReader {
    store: Box<dyn Backend>,
    clock: Arc<dyn Clock>,
    environment: String,
}

impl std::fmt::Debug for NssReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NssReader")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl NssReader {
    /// What [`Roster::nss_view`] answers, as of now.
    pub fn view(&mut self) -> Result<NssView> {
        let now = self.clock.now();
        // A fleet host's environment is its controller's word, and may
        // have come after this reader opened (a join).
        let fleet_environment = match self.store.host_cache() {
            Some(cache) => cache
                .read(|tx| tx.fleet_state())?
                .map(|state| state.environment),
            None => None,
        };
        let environment = fleet_environment.as_deref().unwrap_or(&self.environment);
        nss_view(self.store.as_mut(), now, environment)
    }
}

fn nss_view(store: &mut dyn Backend, now: Timestamp, environment: &str) -> Result<NssView> {
    let users = store.read(|tx| tx.users(now))?;
    let admin_members = users
        .iter()
        .filter(|u| u.in_admin_group(environment))
        .map(|u| u.name.clone())
        .collect();
    Ok(NssView {
        users,
        admin_members,
    })
}

pub(crate) fn invalid_code() -> Error {
    Error::AuthFailed(
        "this registration code is not valid: check it, or ask an admin for a new one (`roster users password NAME --reset`)"
            .into(),
    )
}

/// The pending user whose live code has public id `id` and secret
/// `secret`. `Ok(None)` for a wrong secret, counted toward the user's
/// local lockout (the caller commits that count and answers
/// [`invalid_code`]).
pub(crate) fn live_code_owner(
    tx: &Tx<'_>,
    id: &str,
    secret: &Secret,
    now: Timestamp,
    lockout: &crate::config::LockoutConfig,
) -> Result<Option<User>> {
    let row = tx.code_by_id(id)?.ok_or_else(invalid_code)?;
    let user = tx.user_by_uid(row.uid, now)?.ok_or_else(invalid_code)?;
    let mut counter = tx.lockout(user.uid, LOCAL)?;
    if let Some(until) = counter.locked_at(now) {
        return Err(crate::lockout::locked_error(until, now));
    }
    if !credential::matches(secret, &row.hash) {
        counter.fail(lockout, now);
        tx.save_lockout(user.uid, LOCAL, &counter)?;
        return Ok(None);
    }
    if row.expires <= now {
        return Err(Error::AuthFailed(format!(
            "this registration code expired: ask an admin for a new one (`roster users password {} --reset`)",
            user.name
        )));
    }
    match user.state {
        UserState::Pending => Ok(Some(user)),
        UserState::Suspended => Err(Error::PermissionDenied(format!(
            "the account {:?} is suspended: ask a Roster admin to enable it",
            user.name
        ))),
        UserState::Active => Err(invalid_code()),
    }
}

/// Store a new password: active (from pending), code and tokens voided,
/// lockouts cleared. Suspended users stay suspended.
fn set_password(tx: &Tx<'_>, user: &User, phc: &str, now: Timestamp) -> Result<()> {
    tx.set_password(user.uid, Some(phc), Some(now))?;
    if user.state == UserState::Pending {
        tx.set_state(user.uid, UserState::Active)?;
    }
    tx.delete_code(user.uid)?;
    tx.revoke_tokens(user.uid, now)?;
    tx.clear_lockouts(user.uid)?;
    Ok(())
}

/// A token usable at `now`, with its user.
fn live_token(tx: &Tx<'_>, id: &str, now: Timestamp) -> Result<(Token, User)> {
    let revoked = || {
        Error::TokenRevoked(format!(
            "token {id} was revoked or deleted: create a new one"
        ))
    };
    let row = tx.token(id)?.ok_or_else(revoked)?;
    if row.revoked.is_some() {
        return Err(revoked());
    }
    if row.token.expires.is_some_and(|e| e <= now) {
        return Err(Error::TokenExpired(format!(
            "token {id} expired: create a new one"
        )));
    }
    let user = tx.user_by_uid(row.token.uid, now)?.ok_or_else(revoked)?;
    if user.state != UserState::Active {
        return Err(revoked());
    }
    Ok((row.token, user))
}
