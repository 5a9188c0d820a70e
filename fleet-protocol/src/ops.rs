//! `POST /v1/ops`: a call a host makes for a person, read or write. The
//! host's certificate says which host asks (its environment, its lockout
//! key); the person's own credential, checked by the controller itself,
//! says who acts. Root on one host is nobody at the controller.
//!
//! Every call carries a request id the CLI makes once per change and
//! keeps across its retries: the controller stores it with the change
//! and answers a repeat with the first answer (a secret shown once is not
//! shown again: the repeat says the earlier attempt did it).

use crate::secrets::{SecretEntry, SecretRead, SecretView};
use crate::sync::HostUser;
use serde::{Deserialize, Serialize};

/// The shortest and longest request id: enough randomness not to collide
/// across a fleet, short enough to log.
pub const REQUEST_ID_CHARS: std::ops::RangeInclusive<usize> = 16..=64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsRequest {
    /// Letters, digits, `-` and `_`; [`REQUEST_ID_CHARS`] long.
    pub request_id: String,
    pub credential: Credential,
    pub op: Op,
}

/// Who acts, proven to the controller.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// An API token or a `roster login` session (`ID-SECRET`).
    Token { token: String },
    /// The person's Roster name and current password (an own password
    /// change, `passwd` through PAM, `roster login`).
    Password { user: String, password: String },
    /// A registration code (only to register: set the first password).
    Code { code: String },
    /// uid 0 on the asking host, with nothing but the host's certificate:
    /// accepted only where the host's environment sets
    /// `host_root_is_admin`, and then with the rights of an `admin`
    /// holder of that environment, never a role admin's.
    HostRoot,
}

impl std::fmt::Debug for Credential {
    // Never the secret, whichever kind.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token { .. } => f.write_str("Token(<redacted>)"),
            Credential::Password { user, .. } => write!(f, "Password({user:?}, <redacted>)"),
            Credential::Code { .. } => f.write_str("Code(<redacted>)"),
            Credential::HostRoot => f.write_str("HostRoot"),
        }
    }
}

/// What to do. Names follow the CLI's commands.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// `roster login`: a session for the credential's user (a password),
    /// valid `hours` (default 8), bound to the asking host.
    Login {
        hours: Option<u32>,
    },
    /// A login on the asking host checked online (a role admin's first
    /// login there, or any login with no cached hash): the answer carries
    /// the user as that host sees it, with the hash to cache.
    Authenticate,
    ShowUser {
        name: String,
    },
    ListUsers {
        all: bool,
    },
    CreateUser {
        name: String,
        display_name: Option<String>,
        /// "admin" or "user" (default).
        role: Option<String>,
        /// None: pending, with a registration code shown once.
        password: Option<String>,
    },
    SetPassword {
        name: String,
        new_password: String,
    },
    /// With a [`Credential::Code`]: the first password.
    Register {
        new_password: String,
    },
    ResetPassword {
        name: String,
    },
    SuspendUser {
        name: String,
    },
    EnableUser {
        name: String,
    },
    DeleteUser {
        name: String,
    },
    UnlockUser {
        name: String,
    },
    Grant {
        name: String,
        environment: String,
        level: String,
    },
    Revoke {
        name: String,
        environment: String,
        /// None removes every level there.
        level: Option<String>,
    },
    EditUser {
        name: String,
        display_name: Option<String>,
        role: Option<String>,
        home: Option<String>,
        shell: Option<String>,
    },
    AddEnvironment {
        name: String,
    },
    RemoveEnvironment {
        name: String,
        force: bool,
    },
    ListEnvironments,
    CreateToken {
        name: Option<String>,
        /// "read-only" (default) or "full".
        scope: Option<String>,
        expires_hours: Option<u32>,
    },
    /// None: the credential's own user's (everyone's for nobody: a user).
    ListTokens {
        owner: Option<String>,
    },
    DeleteToken {
        id: String,
    },
    RenameToken {
        id: String,
        name: String,
    },
    AddKey {
        name: String,
        line: String,
    },
    /// Several keys (an `authorized_keys` text), all or none.
    AddKeys {
        name: String,
        lines: Vec<String>,
    },
    ListKeys {
        name: String,
    },
    RemoveKey {
        name: String,
        fingerprint: String,
    },
    /// The fleet's admin surface (role admins).
    HostsList {
        environment: Option<String>,
    },
    HostsRevoke {
        host: String,
    },
    JoinTokenCreate {
        environment: String,
        /// 1h, 2d … (at most 7d; default 1h).
        expires: Option<String>,
    },
    JoinTokenList,
    JoinTokenDelete {
        id: String,
    },
    /// `login_level=…`, `offline_grace=…`, `host_root_is_admin=…`.
    EnvironmentsSet {
        environment: String,
        settings: Vec<String>,
    },
    /// `roster users sessions --fleet`: the live sessions every host last
    /// reported, as far as the person may see them (`user`: one user's).
    ListSessions {
        user: Option<String>,
    },
    /// `roster secrets add`: owned by the person, or by `environment`.
    SecretAdd {
        name: String,
        environment: Option<String>,
        description: String,
        content: Vec<SecretEntry>,
        /// `never` (default), `hourly`, … `yearly`.
        rotation: Option<String>,
        /// A duration from now or an RFC 3339 time.
        expire: Option<String>,
    },
    /// `roster secrets update`: None leaves a part as it is; content is
    /// the whole of a new revision.
    SecretUpdate {
        address: String,
        description: Option<String>,
        content: Option<Vec<SecretEntry>>,
        rotation: Option<String>,
        expire: Option<String>,
    },
    /// The whole secret, or one revision.
    SecretRemove {
        address: String,
        revision: Option<u32>,
    },
    SecretGrant {
        address: String,
        user: String,
        /// `view` (default) or `manage`.
        role: Option<String>,
    },
    SecretRevoke {
        address: String,
        user: String,
    },
    /// At most one of `owner` and `environment`.
    SecretList {
        owner: Option<String>,
        environment: Option<String>,
    },
    SecretShow {
        address: String,
    },
    /// A read of content (pinning is the reader's bookkeeping, so it is a
    /// read: a repeat reads again, and its answer is never kept).
    SecretGet {
        address: String,
        read: SecretRead,
    },
}

impl std::fmt::Debug for Op {
    // Ops carry passwords: print the op's name only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Op {
    /// The op's wire name, for audit lines and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Login { .. } => "login",
            Op::Authenticate => "authenticate",
            Op::ShowUser { .. } => "show_user",
            Op::ListUsers { .. } => "list_users",
            Op::CreateUser { .. } => "create_user",
            Op::SetPassword { .. } => "set_password",
            Op::Register { .. } => "register",
            Op::ResetPassword { .. } => "reset_password",
            Op::SuspendUser { .. } => "suspend_user",
            Op::EnableUser { .. } => "enable_user",
            Op::DeleteUser { .. } => "delete_user",
            Op::UnlockUser { .. } => "unlock_user",
            Op::Grant { .. } => "grant",
            Op::Revoke { .. } => "revoke",
            Op::EditUser { .. } => "edit_user",
            Op::AddEnvironment { .. } => "add_environment",
            Op::RemoveEnvironment { .. } => "remove_environment",
            Op::ListEnvironments => "list_environments",
            Op::CreateToken { .. } => "create_token",
            Op::ListTokens { .. } => "list_tokens",
            Op::DeleteToken { .. } => "delete_token",
            Op::RenameToken { .. } => "rename_token",
            Op::AddKeys { .. } => "add_keys",
            Op::ListSessions { .. } => "list_sessions",
            Op::AddKey { .. } => "add_key",
            Op::ListKeys { .. } => "list_keys",
            Op::RemoveKey { .. } => "remove_key",
            Op::HostsList { .. } => "hosts_list",
            Op::HostsRevoke { .. } => "hosts_revoke",
            Op::JoinTokenCreate { .. } => "join_token_create",
            Op::JoinTokenList => "join_token_list",
            Op::JoinTokenDelete { .. } => "join_token_delete",
            Op::EnvironmentsSet { .. } => "environments_set",
            Op::SecretAdd { .. } => "secret_add",
            Op::SecretUpdate { .. } => "secret_update",
            Op::SecretRemove { .. } => "secret_remove",
            Op::SecretGrant { .. } => "secret_grant",
            Op::SecretRevoke { .. } => "secret_revoke",
            Op::SecretList { .. } => "secret_list",
            Op::SecretShow { .. } => "secret_show",
            Op::SecretGet { .. } => "secret_get",
        }
    }

    /// What the op acts on, for the audit line ('' when it is the
    /// credential's own user).
    pub fn target(&self) -> &str {
        match self {
            Op::ShowUser { name }
            | Op::CreateUser { name, .. }
            | Op::SetPassword { name, .. }
            | Op::ResetPassword { name }
            | Op::SuspendUser { name }
            | Op::EnableUser { name }
            | Op::DeleteUser { name }
            | Op::UnlockUser { name }
            | Op::Grant { name, .. }
            | Op::Revoke { name, .. }
            | Op::EditUser { name, .. }
            | Op::AddEnvironment { name }
            | Op::RemoveEnvironment { name, .. }
            | Op::AddKey { name, .. }
            | Op::AddKeys { name, .. }
            | Op::ListKeys { name }
            | Op::RemoveKey { name, .. } => name,
            Op::DeleteToken { id } | Op::RenameToken { id, .. } | Op::JoinTokenDelete { id } => id,
            Op::HostsRevoke { host } => host,
            Op::SecretAdd { name, .. } => name,
            Op::SecretUpdate { address, .. }
            | Op::SecretRemove { address, .. }
            | Op::SecretGrant { address, .. }
            | Op::SecretRevoke { address, .. }
            | Op::SecretShow { address }
            | Op::SecretGet { address, .. } => address,
            Op::SecretList { .. } => "",
            Op::JoinTokenCreate { environment, .. } | Op::EnvironmentsSet { environment, .. } => {
                environment
            }
            Op::Login { .. }
            | Op::Authenticate
            | Op::ListUsers { .. }
            | Op::Register { .. }
            | Op::ListEnvironments
            | Op::CreateToken { .. }
            | Op::ListTokens { .. }
            | Op::HostsList { .. }
            | Op::JoinTokenList => "",
            Op::ListSessions { user } => user.as_deref().unwrap_or(""),
        }
    }

    /// Whether the op changes the store (and so is kept by request id).
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Op::ShowUser { .. }
                | Op::ListUsers { .. }
                | Op::Authenticate
                | Op::ListEnvironments
                | Op::ListTokens { .. }
                | Op::ListKeys { .. }
                | Op::HostsList { .. }
                | Op::JoinTokenList
                | Op::ListSessions { .. }
                | Op::SecretList { .. }
                | Op::SecretShow { .. }
                | Op::SecretGet { .. }
        )
    }

    /// Whether the op is about secrets (the controller's secrets key).
    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            Op::SecretAdd { .. }
                | Op::SecretUpdate { .. }
                | Op::SecretRemove { .. }
                | Op::SecretGrant { .. }
                | Op::SecretRevoke { .. }
                | Op::SecretList { .. }
                | Op::SecretShow { .. }
                | Op::SecretGet { .. }
        )
    }
}

/// What an op answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpsAnswer {
    /// A change made; a sentence for the person. `user`: whose account
    /// it was, where the request didn't name it (a registration, whose
    /// code names the user).
    Done {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// A `roster login` session: shown once.
    Session {
        token: String,
        expires: i64,
    },
    /// A registration code: shown once.
    Code {
        user: UserView,
        code: String,
        expires: i64,
    },
    User {
        user: UserView,
    },
    Users {
        users: Vec<UserView>,
    },
    /// An online login's answer: the user as the asking host sees it.
    Authenticated {
        user: HostUser,
    },
    /// An online login of a pending user with its registration code: the
    /// code is right (not used up: the first password does that).
    CodeAccepted {
        user: String,
    },
    /// A repeat of a request id whose first answer held a secret (or was
    /// lost): the change was made by the earlier attempt.
    AlreadyDone {
        message: String,
    },
    Environments {
        environments: Vec<EnvironmentInfo>,
    },
    /// A new API token: shown once.
    ApiToken {
        token: String,
        view: TokenView,
    },
    Tokens {
        tokens: Vec<TokenView>,
    },
    Keys {
        keys: Vec<KeyView>,
    },
    Hosts {
        hosts: Vec<HostView>,
    },
    /// A join token: shown once.
    JoinToken {
        token: String,
        view: JoinTokenView,
    },
    JoinTokens {
        tokens: Vec<JoinTokenView>,
    },
    Sessions {
        sessions: Vec<SessionView>,
    },
    /// A secret's metadata after a change or a `show` (never content).
    Secret {
        secret: SecretView,
    },
    /// An update's answer: the revision made, if the content was new.
    SecretUpdated {
        secret: SecretView,
        new_revision: Option<u32>,
    },
    Secrets {
        secrets: Vec<SecretView>,
    },
    /// A `secret_get`'s answer: the revision read and its content. Never
    /// kept for a repeat (a get is a read).
    SecretValue {
        secret: SecretView,
        revision: u32,
        content: Vec<SecretEntry>,
    },
}

/// The report kind a host sends its live sessions under (the whole list
/// each time one opens or ends: the latest one stands).
pub const LIVE_SESSIONS_KIND: &str = "live_sessions";

/// A live session on a host, as that host last reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// Filled in by the controller (a host reports about itself).
    #[serde(default)]
    pub host: String,
    pub id: i64,
    pub user: String,
    pub uid: u32,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub started: i64,
    /// When the host reported it (filled in by the controller).
    #[serde(default)]
    pub reported: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentInfo {
    pub name: String,
    pub created: i64,
    /// How many grants name it.
    pub grants: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub user: String,
    pub name: String,
    pub scope: String,
    pub created: i64,
    pub last_used: Option<i64>,
    pub expires: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub key_type: String,
    pub fingerprint: String,
    pub comment: String,
    pub bits: u32,
    pub added: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    pub environment: String,
    pub enrolled: i64,
    pub last_seen: Option<i64>,
    /// How many changes behind the store's head its cursor is.
    pub lag: i64,
    pub certificate_expires: i64,
    pub revoked: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenView {
    pub id: String,
    pub environment: String,
    pub created: i64,
    pub expires: i64,
    pub created_by: String,
    pub used: Option<i64>,
}

/// A user as `roster users show` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub name: String,
    pub uid: u32,
    pub display_name: String,
    pub role: String,
    pub state: String,
    pub home: String,
    pub shell: String,
    pub created: i64,
    pub last_login: Option<i64>,
    pub password_changed: Option<i64>,
    pub locked_until: Option<i64>,
    /// environment → level.
    pub grants: std::collections::BTreeMap<String, String>,
}

/// Whether a request id has the form [`OpsRequest::request_id`] needs.
pub fn valid_request_id(id: &str) -> bool {
    REQUEST_ID_CHARS.contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let credential = Credential::Password {
            user: "alice".into(),
            password: "hunter22".into(),
        };
        let op = Op::SetPassword {
            name: "alice".into(),
            new_password: "correct horse".into(),
        };
        let printed = format!("{credential:?} {op:?}");
        assert!(
            !printed.contains("hunter22") && !printed.contains("correct horse"),
            "{printed}"
        );
    }

    #[test]
    fn the_wire_form_is_tagged_and_strict() {
        let request: OpsRequest = serde_json::from_str(
            r#"{"request_id":"0123456789abcdef","credential":{"kind":"token","token":"x"},"op":{"op":"suspend_user","name":"bob"}}"#,
        )
        .unwrap();
        assert_eq!(request.op, Op::SuspendUser { name: "bob".into() });
        let unknown = serde_json::from_str::<OpsRequest>(
            r#"{"request_id":"0123456789abcdef","credential":{"kind":"token","token":"x","as":"root"},"op":{"op":"authenticate"}}"#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn secret_reads_are_reads_and_never_kept() {
        let get = Op::SecretGet {
            address: "db".into(),
            read: SecretRead::Peek,
        };
        assert!(!get.writes() && get.is_secret());
        let add = Op::SecretAdd {
            name: "db".into(),
            environment: None,
            description: String::new(),
            content: vec![SecretEntry {
                key: "password".into(),
                value: b"hunter22".to_vec(),
            }],
            rotation: None,
            expire: None,
        };
        assert!(add.writes() && add.is_secret());
        assert!(!format!("{add:?}").contains("hunter22"));
        assert!(!Op::ListEnvironments.is_secret());
    }

    #[test]
    fn an_op_a_controller_does_not_know_is_named_in_its_refusal() {
        // rosterd tells "upgrade the controllers" by this wording.
        let unknown = serde_json::from_str::<Op>(r#"{"op":"secret_later"}"#).unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("unknown variant `secret_later`"),
            "{unknown}"
        );
    }

    #[test]
    fn request_ids_are_long_enough_and_plain() {
        assert!(valid_request_id("0123456789abcdef"));
        assert!(!valid_request_id("short"));
        assert!(!valid_request_id("0123456789abcdef/../"));
    }
}
