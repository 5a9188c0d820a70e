//! Proxies for the interfaces of `org.roster.Roster1`.
//!
//! Every method answers `RosterError` so callers match on what happened
//! (`NotFound`, `PermissionDenied`, …) instead of parsing strings.

use crate::enums::{Level, Scope};
use crate::errors::RosterError;
use crate::wire::*;
use zbus::{Optional, proxy};

type Result<T> = std::result::Result<T, RosterError>;

#[proxy(
    interface = "org.roster.Roster1.Users",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Users {
    /// Create a user. `password` may be empty only with `request.register`.
    async fn create(&self, request: &CreateUser, password: &str) -> Result<Created>;
    /// Change display name, role, home or shell (empty fields unchanged).
    async fn edit(&self, name: &str, changes: &EditUser) -> Result<UserInfo>;
    /// Set a password: a user's own with `current` given, or anyone's as
    /// an admin ([`CurrentPassword::SetByAdmin`]).
    async fn set_password(&self, name: &str, current: &CurrentPassword, new: &str) -> Result<()>;
    /// Make the user pending again with a new registration code.
    async fn reset_password(&self, name: &str) -> Result<Created>;
    async fn delete(&self, name: &str, keep_sessions: bool) -> Result<Ended>;
    async fn suspend(&self, name: &str, keep_sessions: bool) -> Result<Ended>;
    async fn enable(&self, name: &str) -> Result<UserInfo>;
    async fn unlock(&self, name: &str) -> Result<UserInfo>;
    /// Users the caller may see; suspended ones only with `all`.
    async fn list(&self, all: bool) -> Result<Vec<UserInfo>>;
    async fn show(&self, name: &str) -> Result<UserInfo>;
    async fn who_am_i(&self) -> Result<WhoAmI>;
}

#[proxy(
    interface = "org.roster.Roster1.Grants",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Grants {
    /// Raise `user` to `level` in `environment` (empty = this host's);
    /// answers the level held afterwards.
    async fn grant(&self, user: &str, level: Level, environment: &str) -> Result<Level>;
    /// `level` none (empty) removes everything in the environment.
    async fn revoke(
        &self,
        user: &str,
        level: Optional<Level>,
        environment: &str,
        end_sessions: bool,
    ) -> Result<Revoked>;
}

#[proxy(
    interface = "org.roster.Roster1.Environments",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Environments {
    async fn add(&self, name: &str) -> Result<EnvironmentInfo>;
    async fn list(&self) -> Result<Vec<EnvironmentInfo>>;
    /// Refused while grants name it, unless `force` (which drops them).
    async fn remove(&self, name: &str, force: bool) -> Result<u32>;
}

#[proxy(
    interface = "org.roster.Roster1.Sessions",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Sessions {
    /// `user` empty = every user the caller may see; `all` adds ended ones.
    async fn list(&self, user: &str, all: bool) -> Result<Vec<SessionInfo>>;
}

/// What the PAM module asks. Authorized by the caller's uid alone: root,
/// or a non-root caller for its own account (rate-limited). Tokens never
/// count here.
#[proxy(
    interface = "org.roster.Roster1.Pam",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Pam {
    /// Check a password, or a pending user's registration code.
    /// `remote_host` empty = a local login. `requester_uid`: the asking
    /// process's real uid (`getuid()`), which rosterd takes from root only:
    /// a setuid `su` run by a user counts in that user's rate limit and
    /// queue share, not in root's logins'. Other callers are their bus uid.
    async fn authenticate(
        &self,
        user: &str,
        secret: &str,
        remote_host: &str,
        requester_uid: u32,
    ) -> Result<AuthReply>;
    async fn check_account(&self, user: &str) -> Result<AccountReply>;
    async fn open_session(&self, request: &OpenSession) -> Result<SessionOpened>;
    async fn close_session(&self, user: &str, leader_pid: u32, leader_start: u64) -> Result<()>;
    /// Set a new password through PAM: `current` is the old password or a
    /// pending user's code given, or [`CurrentPassword::SetByAdmin`] for
    /// root's own request only. `requester_uid` as for `authenticate` (a
    /// setuid `passwd` run by a user).
    async fn change_password(
        &self,
        user: &str,
        current: &CurrentPassword,
        new: &str,
        requester_uid: u32,
    ) -> Result<()>;
    /// Whether the user waits for a registration code (asked by chauthtok,
    /// which may run in a fresh PAM handle).
    async fn is_pending(&self, user: &str) -> Result<bool>;
}

#[proxy(
    interface = "org.roster.Roster1.Tokens",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Tokens {
    /// `expires_in` in seconds, 0 = never. `scope` none (empty) is
    /// [`Scope::ReadOnly`], the default.
    async fn create(
        &self,
        name: &str,
        scope: Optional<Scope>,
        expires_in: u64,
    ) -> Result<TokenCreated>;
    /// `user` empty = the caller's own.
    async fn list(&self, user: &str) -> Result<Vec<TokenInfo>>;
    async fn rename(&self, id: &str, name: &str) -> Result<TokenInfo>;
    async fn delete(&self, id: &str, user: &str) -> Result<()>;
    /// Bind a token to this bus connection: every later call on it acts
    /// as the token's user within its scope, until the connection closes.
    async fn present(&self, token: &str) -> Result<TokenInfo>;
}

#[proxy(
    interface = "org.roster.Roster1.Keys",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Keys {
    async fn add(&self, user: &str, key_line: &str) -> Result<KeyInfo>;
    /// Every key of `key_text` (one a line; blank lines and `#` comments
    /// skipped), in one transaction: a bad line adds none of them.
    async fn add_many(&self, user: &str, key_text: &str) -> Result<Vec<KeyInfo>>;
    async fn list(&self, user: &str) -> Result<Vec<KeyInfo>>;
    async fn remove(&self, user: &str, fingerprint: &str) -> Result<()>;
    /// The key lines sshd may accept for `user` on this host: empty unless
    /// the user may log in here.
    async fn authorized_keys(&self, user: &str) -> Result<Vec<String>>;
}

#[proxy(
    interface = "org.roster.Roster1.Registration",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Registration {
    /// Finish a pending user's registration: anyone may call it; the code
    /// names the user. Answers the user's name.
    async fn register(&self, code: &str, new_password: &str) -> Result<String>;
}

#[proxy(
    interface = "org.roster.Roster1.Fleet",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Fleet {
    /// Join the controller at `url`, trusting only a CA whose certificate
    /// has `ca_fingerprint` (`SHA256:…`), with a join token (never on a
    /// command line), under `name` (empty: the machine's hostname).
    /// `mode`: empty, `adopt` or `discard` (what becomes of users this
    /// host has of its own). Root only.
    async fn join(
        &self,
        url: &str,
        ca_fingerprint: &str,
        join_token: &str,
        name: &str,
        mode: &str,
    ) -> Result<Joined>;
    async fn status(&self) -> Result<FleetStatus>;
    /// `roster login`: a session from the controller for `user` (0 hours:
    /// the default, 8); answers the session token (shown once) and its
    /// expiry. Enrolled hosts only.
    async fn login(&self, user: &str, password: &str, hours: u32) -> Result<(String, i64)>;
    /// `roster logout`: deletes the session this connection presented at
    /// the controller.
    async fn logout(&self) -> Result<()>;
    /// A Roster name and current password for this connection's later
    /// changes at the controller (those a `roster login` session may not
    /// make: an API token, one's own SSH key). Enrolled hosts only.
    async fn present_password(&self, user: &str, password: &str) -> Result<()>;
    /// `roster hosts token create`: a join token for `environment`
    /// (`expires` as `1h`, `2d`; empty: the controller's default), shown
    /// once. Fleet admins, through the controller.
    async fn join_token_create(
        &self,
        environment: &str,
        expires: &str,
    ) -> Result<(String, JoinTokenInfo)>;
    async fn join_token_list(&self) -> Result<Vec<JoinTokenInfo>>;
    async fn join_token_delete(&self, id: &str) -> Result<()>;
    /// `environment` empty: every host.
    async fn hosts_list(&self, environment: &str) -> Result<Vec<FleetHostInfo>>;
    async fn hosts_revoke(&self, host: &str) -> Result<()>;
    /// `settings`: `login_level=…`, `offline_grace=…`,
    /// `host_root_is_admin=…`; answers the environment's settings after.
    async fn environments_set(&self, environment: &str, settings: &[&str]) -> Result<String>;
    /// The live sessions every host last reported (`user` empty: every
    /// user the caller may see).
    async fn sessions(&self, user: &str) -> Result<Vec<FleetSessionInfo>>;
    /// Back to standalone, the current cache kept as the host's store.
    /// Root only. Answers the environment this host served in the fleet
    /// and the one it serves now (rosterd.toml's).
    async fn leave(&self) -> Result<(String, String)>;
}
