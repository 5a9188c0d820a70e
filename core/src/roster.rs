//! [`Roster`]: the one entry point rosterd calls for every request.
//!
//! Each method authorizes the actor through [`crate::authz::authorize`],
//! validates its input, applies the model's rules and commits in one
//! store transaction; on any error nothing changed. Methods that need a
//! password hash take the finished PHC string: rosterd computes it with
//! [`crate::password::Hasher`] in its bounded queue, off the async threads.

use crate::authz::Actor;
use crate::clock::{Clock, Timestamp};
use crate::config::Config;
use crate::level::Level;
use crate::model::*;
use crate::secret::Secret;
use crate::Result;
use std::sync::Arc;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordChange {
    /// The user, after rosterd verified the current password.
    Own,
    /// Root or a role admin, without the current password.
    ByAdmin,
}

/// What PAM authentication needs before running argon2.
#[derive(Debug)]
pub struct LoginCheck {
    /// The stored hash; `None` for an unknown or pending user, in which
    /// case the daemon verifies against the dummy hash anyway.
    pub hash: Option<String>,
    /// Set when this user is locked out from this remote host.
    pub locked_until: Option<Timestamp>,
    /// The user is pending: the secret may be a registration code.
    pub pending: bool,
    /// rosterd knows the user.
    pub known: bool,
}

/// What the NSS snapshot shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NssView {
    /// Every user, whatever its state (pending and suspended resolve).
    pub users: Vec<User>,
    /// `admin_group`'s members: `admin` holders of this host's environment
    /// and role admins, sorted.
    pub admin_members: Vec<String>,
}

pub struct Roster {
    config: Config,
    clock: Arc<dyn Clock>,
    // store: crate::store::Store,
}

#[allow(unused_variables)]
impl Roster {
    /// Open (or create and migrate) the database the config names, and
    /// make sure `default` and this host's environment exist.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Roster> {
        let _ = (&config, &clock);
        todo!("core engineer")
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Resolve a bus caller: uid 0 → Root; a Roster user's uid → User; a
    /// bound token → Token (errors `TokenRevoked` / `TokenExpired`, marks
    /// it used); else Stranger.
    pub fn actor(&mut self, caller: &Caller) -> Result<Actor> {
        todo!()
    }

    // ---- users -------------------------------------------------------

    pub fn create_user(
        &mut self,
        actor: &Actor,
        new: NewUser,
        credential: InitialCredential,
    ) -> Result<(User, Option<IssuedCode>)> {
        todo!()
    }

    pub fn edit_user(&mut self, actor: &Actor, name: &str, changes: UserChanges) -> Result<User> {
        todo!()
    }

    /// Store a new password hash; voids tokens and registration code,
    /// clears lockouts, makes a pending user active.
    pub fn set_password_hash(
        &mut self,
        actor: &Actor,
        name: &str,
        change: PasswordChange,
        phc: String,
    ) -> Result<User> {
        todo!()
    }

    /// The stored hash for verifying a user's *current* password (own
    /// change), after authorizing `ChangeOwnPassword`.
    pub fn current_hash(&mut self, actor: &Actor, name: &str) -> Result<Option<String>> {
        todo!()
    }

    /// Back to pending with a new code; voids the old code, the password and tokens.
    pub fn reset_password(&mut self, actor: &Actor, name: &str) -> Result<(User, IssuedCode)> {
        todo!()
    }

    /// Delete; answers the user as it was (its uid is never reused).
    pub fn delete_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        todo!()
    }

    /// Suspend; voids its tokens. The daemon ends its processes.
    pub fn suspend_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        todo!()
    }

    pub fn enable_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        todo!()
    }

    pub fn unlock_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        todo!()
    }

    /// The users `actor` may see; suspended ones only with `all`.
    pub fn list_users(&mut self, actor: &Actor, all: bool) -> Result<Vec<User>> {
        todo!()
    }

    pub fn show_user(&mut self, actor: &Actor, name: &str) -> Result<User> {
        todo!()
    }

    /// A Roster user by uid (no authorization: the daemon uses it to
    /// resolve callers and sweep processes).
    pub fn user_by_uid(&mut self, uid: u32) -> Result<Option<User>> {
        todo!()
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
        todo!()
    }

    /// `level` None removes everything in the environment.
    pub fn revoke(
        &mut self,
        actor: &Actor,
        user: &str,
        environment: Option<&str>,
        level: Option<Level>,
    ) -> Result<RevokeOutcome> {
        todo!()
    }

    pub fn add_environment(&mut self, actor: &Actor, name: &str) -> Result<Environment> {
        todo!()
    }

    pub fn list_environments(&mut self, actor: &Actor) -> Result<Vec<Environment>> {
        todo!()
    }

    /// Refused while grants exist unless `force`; answers how many grants
    /// were dropped. `default` can't be removed.
    pub fn remove_environment(&mut self, actor: &Actor, name: &str, force: bool) -> Result<u32> {
        todo!()
    }

    // ---- PAM ---------------------------------------------------------

    /// Before argon2: the hash to verify against and whether the user is
    /// locked out from `remote_host` (None = local).
    pub fn login_check(
        &mut self,
        actor: &Actor,
        name: &str,
        remote_host: Option<&str>,
    ) -> Result<LoginCheck> {
        todo!()
    }

    /// After argon2 (or a code check): count a failure toward the lockout
    /// of (user, remote host), or clear the counter on success. Answers
    /// the lockout's end when this failure locked the user.
    pub fn record_login_result(
        &mut self,
        name: &str,
        remote_host: Option<&str>,
        success: bool,
    ) -> Result<Option<Timestamp>> {
        todo!()
    }

    pub fn check_account(&mut self, actor: &Actor, name: &str) -> Result<AccountStatus> {
        todo!()
    }

    /// Record a session; sets last login. Answers the session and whether
    /// it is the user's first.
    pub fn open_session(&mut self, actor: &Actor, session: NewSession) -> Result<(Session, bool)> {
        todo!()
    }

    pub fn close_session(
        &mut self,
        actor: &Actor,
        user: &str,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<()> {
        todo!()
    }

    /// `user` None = everyone the actor may see; `all` adds ended ones.
    pub fn list_sessions(
        &mut self,
        actor: &Actor,
        user: Option<&str>,
        all: bool,
    ) -> Result<Vec<Session>> {
        todo!()
    }

    /// Live sessions (no authorization: for the daemon's reaper).
    pub fn live_sessions(&mut self) -> Result<Vec<Session>> {
        todo!()
    }

    /// Mark sessions ended (reaped or swept).
    pub fn end_sessions(&mut self, ids: &[i64]) -> Result<()> {
        todo!()
    }

    // ---- NSS ---------------------------------------------------------

    pub fn nss_view(&mut self) -> Result<NssView> {
        todo!()
    }
}
