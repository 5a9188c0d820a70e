//! The things Roster stores: users, environments, grants, sessions,
//! tokens, registration codes and SSH keys.

use crate::clock::Timestamp;
use crate::level::Level;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Exactly one per user, controller-wide. Nothing becomes `Admin` by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    #[default]
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(crate::Error::InvalidArgument(format!(
                "unknown role {other:?}: use admin or user"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserState {
    Active,
    Suspended,
    /// Created with `--register`; waits for its registration code.
    Pending,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Suspended => "suspended",
            UserState::Pending => "pending",
        }
    }
}

impl fmt::Display for UserState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as stored, with its grants. The password hash stays in the
/// store: it is fetched only by the credential flows, to be verified
/// ([`crate::Roster::begin_login`], [`crate::Roster::plan_password_change`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub state: UserState,
    pub uid: u32,
    pub home: String,
    pub shell: String,
    pub created: Timestamp,
    pub last_login: Option<Timestamp>,
    pub password_changed: Option<Timestamp>,
    /// The latest end of a live lockout (any remote host), if any.
    pub locked_until: Option<Timestamp>,
    /// Environment name → the one level held there.
    pub grants: BTreeMap<String, Level>,
}

impl User {
    /// The user's private group id: always the uid.
    pub fn gid(&self) -> u32 {
        self.uid
    }

    pub fn level_in(&self, environment: &str) -> Option<Level> {
        self.grants.get(environment).copied()
    }

    /// Whether NSS lists the user in the admin group of a host serving
    /// `environment`.
    pub fn in_admin_group(&self, environment: &str) -> bool {
        in_admin_group(self.state, self.role, self.level_in(environment))
    }
}

/// The admin group's rule, once: an active user with the admin role or
/// an `admin` grant in the host's environment (`level`).
pub fn in_admin_group(state: UserState, role: Role, level: Option<Level>) -> bool {
    state == UserState::Active && (role == Role::Admin || level == Some(Level::Admin))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub created: Timestamp,
    pub grants: u32,
}

/// One PAM session (open → close).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user: String,
    pub uid: u32,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub leader_pid: u32,
    /// Clock ticks since boot (`/proc/PID/stat` field 22).
    pub leader_start: u64,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
}

/// What `open_session` records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewSession {
    pub user: String,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub leader_pid: u32,
    pub leader_start: u64,
}

impl NewSession {
    /// The live session a backend stored for this request as row `id`.
    pub fn stored(&self, id: i64, uid: u32, started: Timestamp) -> Session {
        Session {
            id,
            user: self.user.clone(),
            uid,
            service: self.service.clone(),
            tty: self.tty.clone(),
            remote_host: self.remote_host.clone(),
            leader_pid: self.leader_pid,
            leader_start: self.leader_start,
            started,
            ended: None,
        }
    }
}

/// What `users create` asks for; `None` means the configured default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub home: Option<String>,
    pub shell: Option<String>,
}

/// What `users edit` changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub home: Option<String>,
    pub shell: Option<String>,
}

/// The result of a revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeOutcome {
    pub before: Option<Level>,
    pub after: Option<Level>,
}

impl RevokeOutcome {
    pub fn admin_removed(&self) -> bool {
        self.before == Some(Level::Admin) && self.after != Some(Level::Admin)
    }
}

/// What the account check (PAM) decides for a user on this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Ok {
        uid: u32,
    },
    Suspended,
    /// A new password must be set (registration pending).
    Pending,
    /// Below `login_level` here and not a role admin.
    Denied {
        environment: String,
        level: Level,
    },
    /// A fleet host that has had no answer from its controller for
    /// longer than its environment's offline grace: logins from the cache
    /// ended at `since`.
    Offline {
        since: Timestamp,
    },
    Unknown,
}

/// A token's scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only operations that change nothing (the default).
    #[default]
    ReadOnly,
    /// Everything its user may do.
    Full,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadOnly => "read-only",
            Scope::Full => "full",
        }
    }

    /// The scope [`Scope::as_str`] names, and nothing else (a stored
    /// word: no default for an empty one, as input has).
    pub fn from_word(word: &str) -> Option<Scope> {
        match word {
            "read-only" => Some(Scope::ReadOnly),
            "full" => Some(Scope::Full),
            _ => None,
        }
    }
}

impl FromStr for Scope {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Ok(Scope::ReadOnly);
        }
        Scope::from_word(s).ok_or_else(|| {
            crate::Error::InvalidArgument(format!(
                "unknown token scope {s:?}: use read-only or full"
            ))
        })
    }
}

/// Who is calling, as the daemon learned it from the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The peer's uid from the bus credentials.
    pub uid: u32,
    /// The public id of a token bound to the caller's connection, if any.
    pub token_id: Option<String>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserState {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(UserState::Active),
            "suspended" => Ok(UserState::Suspended),
            "pending" => Ok(UserState::Pending),
            other => Err(crate::Error::InvalidArgument(format!(
                "unknown state {other:?}: use active, suspended or pending"
            ))),
        }
    }
}

/// An API token as listed: never the secret (only its hash is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The public id (also the prefix of the token string).
    pub id: String,
    pub user: String,
    pub uid: u32,
    pub name: String,
    pub scope: Scope,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
    pub expires: Option<Timestamp>,
}

/// An SSH public key of a user, as listed (`keys list`) and as sshd reads
/// it (`line`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshKey {
    pub user: String,
    /// `ssh-ed25519`, `ssh-rsa`, …
    pub key_type: String,
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub comment: String,
    /// As `ssh-keygen -l` prints it.
    pub bits: u32,
    pub added: Timestamp,
    /// The canonical `TYPE BASE64[ COMMENT]` line.
    pub line: String,
}
