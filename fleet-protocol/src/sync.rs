//! The change feed: `GET /v1/sync?after=SEQ&epoch=E` (a long poll) and
//! `GET /v1/snapshot` (the full state, for a cursor older than the
//! controller's window or a new epoch).
//!
//! Changes carry full row state (a user's whole entry as this host sees
//! it, never a difference), so applying one twice is harmless and a host
//! can apply a batch it half-applied before.

use serde::{Deserialize, Serialize};

/// One long poll's answer. No change (an empty `changes`) is the
/// heartbeat: it still counts as an answer for the offline grace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAnswer {
    pub epoch: String,
    /// Apply `changes`, then store this as the cursor (one transaction).
    pub cursor: i64,
    pub changes: Vec<HostChange>,
}

/// The host's environment's full state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotAnswer {
    pub epoch: String,
    /// Sync on from here.
    pub cursor: i64,
    pub environment: EnvironmentView,
    /// Every user, sorted by name.
    pub users: Vec<HostUser>,
    /// Every uid ever handed out and since deleted, ascending.
    pub retired_uids: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostChange {
    /// A user's whole entry as this host sees it (new or changed).
    User(HostUser),
    /// A user deleted: its uid is retired for good.
    UserDeleted { uid: u32 },
    /// The host's own environment's settings.
    Environment(EnvironmentView),
    /// This host was revoked: wipe cached hashes and keys now.
    Revoked,
}

/// What a host knows of one user: the public directory entry, state and
/// role of everyone (NSS and the account check need them), the grant in
/// the host's own environment only, and a hash and keys only when the
/// user may log in there with a cached credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostUser {
    pub uid: u32,
    pub name: String,
    pub display_name: String,
    /// "admin" or "user".
    pub role: String,
    /// "active", "suspended" or "pending".
    pub state: String,
    pub home: String,
    pub shell: String,
    /// The level held in the host's environment: "status" … "admin".
    pub level: Option<String>,
    pub password: PasswordView,
    /// Empty unless the password's hash is sent.
    pub keys: Vec<HostKey>,
}

/// The "password changed" mark every visible user carries, with the hash
/// only for users whose credentials this host may cache. A changed
/// `changed` drops any hash the host cached (an admin's, verified online
/// and cached at first login).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordView {
    /// Seconds since the Unix epoch; none for a user who never set one.
    pub changed: Option<i64>,
    /// The PHC string (argon2id) or a legacy crypt hash not yet
    /// upgraded; none when not sent or not set.
    pub hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostKey {
    /// e.g. "ssh-ed25519".
    pub key_type: String,
    /// The key blob, standard base64 (as in authorized_keys).
    pub blob: String,
    pub comment: String,
    /// "SHA256:…".
    pub fingerprint: String,
    /// Seconds since the Unix epoch.
    pub added: i64,
}

/// The settings of the host's environment that the controller decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentView {
    pub name: String,
    /// The level that may log in: "status" … "admin".
    pub login_level: String,
    /// Seconds of offline logins after the last answer; 0 = none.
    pub offline_grace_secs: u64,
    pub host_root_is_admin: bool,
}

/// `GET /v1/hello`: who the controller takes this host for, where its feed
/// stands, and (in the envelope) its clock: what `roster doctor` checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAnswer {
    pub hostname: String,
    pub environment: String,
    pub epoch: String,
    /// The newest change this controller's window holds.
    pub head: i64,
}
