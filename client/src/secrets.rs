//! `org.roster.Secrets1`: the wire types and proxy of secrets (DESIGN.md
//! "Secrets"), on rosterd's object `/org/roster/Roster1`.
//!
//! Values travel as bytes (`ay`), only in [`SecretValue`] (the answer to
//! `Get`) and in the requests that set them; every other answer is
//! metadata. Signals are sent to each watching connection that may see
//! the secret (unicast), never broadcast: a connection that did not call
//! `Watch` hears nothing.

use crate::errors::RosterError;
use serde::{Deserialize, Serialize};
use zbus::{Type, proxy};
use zeroize::Zeroize;

type Result<T> = std::result::Result<T, RosterError>;

/// The interface name (on [`crate::OBJECT_PATH`]).
pub const SECRETS_INTERFACE: &str = "org.roster.Secrets1";

/// One revision, as a manager sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretRevision {
    pub revision: u32,
    pub created: i64,
    /// 0 = never.
    pub expires: i64,
    /// How many readers track it.
    pub readers: u32,
}

/// A user a secret is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretGrant {
    pub user: String,
    /// `view` or `manage`.
    pub role: String,
}

/// A secret's metadata: never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretInfo {
    /// `secret:` + 20 lowercase base32 characters.
    pub id: String,
    pub name: String,
    /// `user` or `environment`.
    pub owner_kind: String,
    pub owner: String,
    pub description: String,
    /// `never`, `hourly`, … `yearly`.
    pub rotation: String,
    /// 0 = never.
    pub next_rotation: i64,
    pub latest: u32,
    pub created: i64,
    pub updated: i64,
    /// Whether the caller manages it (else it only views it).
    pub manages: bool,
    /// The revision the caller tracks; 0 = none yet.
    pub tracking: u32,
    /// Managers only (empty for a viewer).
    pub revisions: Vec<SecretRevision>,
    /// Managers only.
    pub grants: Vec<SecretGrant>,
}

/// One key's value. Wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretEntry {
    pub key: String,
    pub value: Vec<u8>,
}

impl Drop for SecretEntry {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl std::fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretEntry {{ key: {:?}, value: <redacted> }}",
            self.key
        )
    }
}

/// What `Add` and `Update` set. Empty strings and `false` flags leave a
/// field as it is (for `Add`: the defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretRequest {
    /// `Add`: the new secret's name.
    pub name: String,
    /// `Add`: an environment's secret; empty = the caller's own.
    pub environment: String,
    pub description: String,
    pub set_description: bool,
    /// Empty = unchanged (`Add`: never).
    pub rotation: String,
    /// A duration (`30d`) or an RFC 3339 UTC time; empty = none.
    pub expire: String,
    /// The whole content of a new revision (`Update`: only with
    /// `set_content`).
    pub content: Vec<SecretEntry>,
    pub set_content: bool,
}

/// What `Update` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretUpdated {
    pub info: SecretInfo,
    /// The revision made; 0 = none (identical content, or none given).
    pub new_revision: u32,
}

/// The answer to `Get`: a revision's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct SecretValue {
    pub info: SecretInfo,
    pub revision: u32,
    pub content: Vec<SecretEntry>,
}

#[proxy(
    interface = "org.roster.Secrets1",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Secrets {
    async fn add(&self, request: &SecretRequest) -> Result<SecretInfo>;
    /// `address`: `NAME` (your own), `OWNER/NAME` or the id.
    async fn update(&self, address: &str, request: &SecretRequest) -> Result<SecretUpdated>;
    /// `revision` 0 = the whole secret.
    async fn remove(&self, address: &str, revision: u32) -> Result<SecretInfo>;
    /// `role`: `view` or `manage` (empty = view).
    async fn grant(&self, address: &str, user: &str, role: &str) -> Result<SecretInfo>;
    async fn revoke(&self, address: &str, user: &str) -> Result<SecretInfo>;
    /// `owner` (a user) or `environment` narrows the list; empty = all you see.
    async fn list(&self, owner: &str, environment: &str) -> Result<Vec<SecretInfo>>;
    async fn show(&self, address: &str) -> Result<SecretInfo>;
    /// `mode`: empty (the revision you track; the first read pins the
    /// latest), `peek` or `refresh`; `revision` > 0 reads that one
    /// (managers).
    async fn get(&self, address: &str, mode: &str, revision: u32) -> Result<SecretValue>;
    /// Send this connection the signals of the secrets it may see, until
    /// it closes.
    async fn watch(&self) -> Result<()>;
    /// Re-wrap every secret under a new key (root). Answers the new key's
    /// id and how many values were re-wrapped.
    async fn rekey(&self) -> Result<(String, u64)>;

    /// A new revision of a secret the receiver views.
    #[zbus(signal)]
    fn secret_changed(&self, id: String, revision: u32) -> zbus::Result<()>;
    /// A secret the receiver manages is due for rotation (repeated every
    /// 5 minutes until a new revision lands).
    #[zbus(signal)]
    fn secret_rotate(&self, id: String, revision: u32) -> zbus::Result<()>;
    /// A revision of a secret the receiver manages has expired.
    #[zbus(signal)]
    fn secret_expired(&self, id: String, revision: u32) -> zbus::Result<()>;
    /// A revision (or, with 0, the whole secret) was removed.
    #[zbus(signal)]
    fn secret_removed(&self, id: String, revision: u32) -> zbus::Result<()>;
}
