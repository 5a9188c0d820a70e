//! The structures that travel between rosterd and its callers.
//!
//! D-Bus has no "optional": an absent time is `0`, an absent string is
//! empty. Times are seconds since the Unix epoch (UTC).

use crate::enums::{AccountOutcome, AuthOutcome, Level, Role, Scope, UserState};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use zbus::{Optional, Type};

/// One user as rosterd shows it: public fields only, never a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UserInfo {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub state: UserState,
    pub uid: u32,
    pub home: String,
    pub shell: String,
    pub created: i64,
    /// 0 = never logged in.
    pub last_login: i64,
    /// 0 = no password set (pending users).
    pub password_changed: i64,
    /// 0 = not locked out anywhere; else the latest lockout's end.
    pub locked_until: i64,
    pub grants: Vec<GrantInfo>,
}

/// A user's level in one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct GrantInfo {
    pub environment: String,
    pub level: Level,
}

/// What `users create` asks for. Empty strings mean "the default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct CreateUser {
    pub name: String,
    pub display_name: String,
    /// None (empty on the wire) = `user`, the default.
    pub role: Optional<Role>,
    pub home: String,
    pub shell: String,
    /// Create the user `pending` with a registration code instead of a password.
    pub register: bool,
}

/// The reply to a create or a `password --reset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Created {
    pub user: UserInfo,
    /// The registration code, shown once; empty unless the user is pending.
    pub registration_code: String,
    /// When the code stops working (0 when there is no code).
    pub code_expires: i64,
}

/// What `users edit` changes. Empty strings mean "leave as it is".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct EditUser {
    pub display_name: String,
    pub role: Optional<Role>,
    pub home: String,
    pub shell: String,
}

/// How many processes an operation ended (suspend, delete, revoke).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Ended {
    /// Live sessions the user had when the call was made.
    pub sessions: u32,
    /// Processes signalled and gone.
    pub processes: u32,
}

/// The reply to a revoke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Revoked {
    /// The level left in the environment; none (empty) when none is left.
    pub remaining: Optional<Level>,
    /// True when the revoke took `admin` away.
    pub admin_removed: bool,
    /// The user's live sessions (they keep the sudo group until they end).
    pub live_sessions: u32,
    /// What `--end-sessions` ended.
    pub ended: Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct EnvironmentInfo {
    pub name: String,
    pub created: i64,
    /// How many grants name it.
    pub grants: u32,
    /// True for the environment this host belongs to.
    pub this_host: bool,
}

/// One PAM session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SessionInfo {
    pub id: i64,
    pub user: String,
    pub uid: u32,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub leader_pid: u32,
    /// The leader's start time in clock ticks since boot (`/proc/PID/stat`
    /// field 22), so a recycled pid is never mistaken for it.
    pub leader_start: u64,
    pub started: i64,
    /// 0 while the session is live.
    pub ended: i64,
}

/// Who the daemon thinks the caller is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WhoAmI {
    pub uid: u32,
    /// The caller's login uid from `/proc/PID/loginuid`; `u32::MAX` if unset.
    pub login_uid: u32,
    /// The Roster user the caller acts as; empty for root or a stranger.
    pub user: String,
    /// None (empty) for root or a stranger.
    pub role: Optional<Role>,
    pub is_root: bool,
    /// The token the caller presented (its public id), or empty.
    pub token_id: String,
    /// None (empty) without a token.
    pub token_scope: Optional<Scope>,
    /// The environment this host belongs to.
    pub environment: String,
    pub grants: Vec<GrantInfo>,
}

/// The answer to a PAM authentication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AuthReply {
    pub outcome: AuthOutcome,
    /// For [`AuthOutcome::Locked`]: when the lockout ends.
    pub locked_until: i64,
    /// A sentence to show the person at the prompt, or empty.
    pub message: String,
}

/// The longest password, registration code or current password rosterd
/// takes, in bytes (`roster_core::password::MAX_PASSWORD_BYTES`): no
/// password Roster stores is longer (the policy refuses one), so a longer
/// guess can't be right, and refusing it before hashing keeps a 10 MB
/// "password" from costing rosterd memory. Above Linux-PAM's
/// `PAM_MAX_RESP_SIZE` (512), so every answer a PAM conversation gives fits.
pub const MAX_SECRET_BYTES: usize = 1024;

/// The answer to a PAM account check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AccountReply {
    pub outcome: AccountOutcome,
    pub uid: u32,
    pub message: String,
}

/// What `pam_sm_open_session` tells rosterd.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct OpenSession {
    pub user: String,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub leader_pid: u32,
    pub leader_start: u64,
}

/// The reply to opening a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SessionOpened {
    pub id: i64,
    /// True when rosterd created the home for this first session.
    pub home_created: bool,
    /// A sentence to show the person (a home rosterd refused to use), or
    /// empty.
    pub message: String,
}

/// An API token as listed: never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct TokenInfo {
    /// The public id (also the secret's prefix).
    pub id: String,
    pub user: String,
    pub name: String,
    pub scope: Scope,
    pub created: i64,
    /// 0 = never used.
    pub last_used: i64,
    /// 0 = never expires.
    pub expires: i64,
}

/// The reply to `tokens create`: the token itself, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct TokenCreated {
    pub info: TokenInfo,
    pub token: String,
}

/// An SSH public key as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct KeyInfo {
    /// `ssh-ed25519`, `ssh-rsa`, …
    pub key_type: String,
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub comment: String,
    /// Key size in bits, as `ssh-keygen -l` prints it.
    pub bits: u32,
    pub added: i64,
    /// The whole `type base64 [comment]` line.
    pub line: String,
}

/// The answer to `roster hosts join`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Joined {
    /// The name the controller enrolled this host under.
    pub hostname: String,
    pub environment: String,
    /// The controller that answered.
    pub controller: String,
    /// Users the first sync brought.
    pub users: u32,
    pub cursor: i64,
    /// What became of the host's own users (`--adopt`, `--discard`), a
    /// sentence each; empty when it had none.
    pub standalone: Vec<String>,
    /// Why rosterd restarts now (the fleet's uid range or admin group
    /// differ from the ones it runs with); empty when it doesn't.
    pub restart: String,
}

/// `roster hosts status`: where this host stands with its controller.
/// Times are 0 when unknown; a standalone host answers `enrolled` false
/// and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct FleetStatus {
    pub enrolled: bool,
    pub hostname: String,
    pub environment: String,
    /// Every controller URL, in the order tried.
    pub controllers: Vec<String>,
    pub ca_fingerprint: String,
    pub epoch: String,
    pub cursor: i64,
    /// The login level the controller set for this environment.
    pub login_level: String,
    /// The last answer from a controller (heartbeats count).
    pub last_answer: i64,
    pub offline_for_secs: u64,
    /// 0: no offline logins (an answer from the last minute is needed).
    pub offline_grace_secs: u64,
    pub within_grace: bool,
    /// When logins from the cache end (or ended) with no new answer.
    pub grace_ends: i64,
    pub certificate_not_after: i64,
    /// The controller's clock minus this host's, in seconds.
    pub clock_offset: i64,
    /// The agent's last failure (empty: none since the last answer).
    pub last_error: String,
    pub last_error_at: i64,
    pub reports_waiting: u64,
    /// The controller said this host is revoked: its credentials are wiped.
    pub revoked: bool,
    /// When it said so (0: not revoked, or the time is unknown).
    pub revoked_at: i64,
    /// The controller that answers now (the last request reached it and
    /// nothing failed since); empty: none does.
    pub controller: String,
    /// The host's certificate's subject, as the controller issued it
    /// (`CN=…`): who this host is to the fleet.
    pub certificate_subject: String,
}

/// What a password change rests on: the current password (or a pending
/// user's registration code), or an admin's (root's) right to set it
/// without one.
///
/// On D-Bus a `(bs)` pair: `(true, password)` for [`Given`], `(false,
/// "")` for [`SetByAdmin`]. A password sent along with `false` is refused
/// when it arrives, never dropped unseen. An empty given password is just
/// a wrong password: nothing about a string's emptiness means "admin".
///
/// [`Given`]: CurrentPassword::Given
/// [`SetByAdmin`]: CurrentPassword::SetByAdmin
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CurrentPassword {
    /// An admin (or root, through PAM) sets someone's password; rosterd
    /// checks the caller may.
    SetByAdmin,
    /// The current password or code, verified by rosterd.
    Given(Secret),
}

impl Serialize for CurrentPassword {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CurrentPassword::SetByAdmin => (false, "").serialize(serializer),
            CurrentPassword::Given(secret) => (true, secret.expose()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for CurrentPassword {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (given, password) = <(bool, String)>::deserialize(deserializer)?;
        // Wiped on drop from here on, whatever is decided.
        let password = Secret::new(password);
        match (given, password.is_empty()) {
            (true, _) => Ok(CurrentPassword::Given(password)),
            (false, true) => Ok(CurrentPassword::SetByAdmin),
            (false, false) => Err(serde::de::Error::custom(
                "a current password came with set-by-admin: send (true, password) to give it, \
                 or (false, \"\") to set it as an admin",
            )),
        }
    }
}

impl Type for CurrentPassword {
    const SIGNATURE: &'static zbus::Signature = <(bool, String) as Type>::SIGNATURE;
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::wire::{LE, serialized::Context, to_bytes};

    fn encode<T: Serialize + Type>(value: &T) -> Vec<u8> {
        to_bytes(Context::new(LE, 0), value)
            .map(|data| data.bytes().to_vec())
            .unwrap_or_default()
    }

    fn decode(pair: (bool, &str)) -> Result<CurrentPassword, String> {
        let data = to_bytes(Context::new(LE, 0), &pair).map_err(|e| e.to_string())?;
        data.deserialize::<CurrentPassword>()
            .map(|(value, _)| value)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn set_by_admin_and_a_given_password_are_told_apart_on_the_wire() {
        assert_eq!(CurrentPassword::SIGNATURE.to_string(), "(bs)");
        assert_eq!(encode(&CurrentPassword::SetByAdmin), encode(&(false, "")));
        let given = CurrentPassword::Given(Secret::from("hunter2"));
        assert_eq!(encode(&given), encode(&(true, "hunter2")));
        assert_eq!(decode((false, "")), Ok(CurrentPassword::SetByAdmin));
        assert_eq!(decode((true, "hunter2")), Ok(given));
        // An empty given password stays a (wrong) password, not "admin".
        assert_eq!(
            decode((true, "")),
            Ok(CurrentPassword::Given(Secret::default()))
        );
        // A password can't ride along with set-by-admin unseen.
        let refused = decode((false, "hunter2")).err().unwrap_or_default();
        assert!(refused.contains("set-by-admin"), "{refused}");
        assert!(!refused.contains("hunter2"), "{refused}");
        assert_eq!(
            format!("{:?}", CurrentPassword::Given(Secret::from("hunter2"))),
            "Given(<redacted>)"
        );
    }
}

/// A host of the fleet, as `roster hosts list` shows it (times 0 when
/// unknown or not the case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct FleetHostInfo {
    pub name: String,
    pub environment: String,
    pub enrolled: i64,
    pub last_seen: i64,
    /// How many changes behind the store's head its cursor is.
    pub lag: i64,
    pub certificate_expires: i64,
    pub revoked: i64,
}

/// A join token as listed: never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct JoinTokenInfo {
    pub id: String,
    pub environment: String,
    pub created: i64,
    pub expires: i64,
    pub created_by: String,
    /// 0 while unused.
    pub used: i64,
}

/// A live session on some host of the fleet, as that host last reported
/// it (`roster users sessions --fleet`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct FleetSessionInfo {
    pub host: String,
    pub id: i64,
    pub user: String,
    pub uid: u32,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub started: i64,
    /// When the host reported it.
    pub reported: i64,
}
