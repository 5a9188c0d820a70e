//! `org.roster.Roster1.Import`: `roster users import` and its `--undo`
//! (root only), and the kind of a user's password hash for `users show`.
//! The CLI (root) edits the host's local files; rosterd does the Roster
//! side through these calls.

use crate::enums::{Level, UserState};
use crate::errors::RosterError;
use serde::{Deserialize, Serialize};
use zbus::{Type, proxy};

type Result<T> = std::result::Result<T, RosterError>;

/// One local account to adopt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ImportUserRecord {
    /// Its Roster name (after any `--rename`).
    pub name: String,
    pub display_name: String,
    pub home: String,
    pub shell: String,
    /// The crypt hash, without a lock's `!`; empty: none (pending).
    pub hash: String,
    /// A locked entry (`!`): imported suspended.
    pub locked: bool,
    /// The level given in this host's environment.
    pub level: Level,
    /// `authorized_keys` lines.
    pub ssh_keys: Vec<String>,
}

/// A batch: at most 1000 records, each committed on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ImportRequest {
    pub records: Vec<ImportUserRecord>,
    /// Local user and group names this import removes from the host's
    /// files: core's local-files rule doesn't count them.
    pub leaving: Vec<String>,
    /// A registration code for each user imported pending.
    pub issue_codes: bool,
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ImportUserResult {
    pub name: String,
    /// `imported`, `already-imported` (by an earlier run) or `refused`.
    pub outcome: String,
    /// Why it was refused; empty otherwise.
    pub reason: String,
    /// The Roster uid (0 when refused).
    pub uid: u32,
    pub state: UserState,
    /// Shown once; empty unless the user was imported pending with a code.
    pub registration_code: String,
    pub code_expires: i64,
    pub keys: u32,
    pub key_problems: Vec<String>,
    /// What `--undo` sends back to find the user unchanged.
    pub fingerprint: String,
}

/// An imported user `--undo` asks rosterd to delete when unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ImportedUserRef {
    pub name: String,
    pub uid: u32,
    pub fingerprint: String,
}

/// What `--undo` did with one user: `deleted`, or `kept` with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UndoResult {
    pub name: String,
    pub outcome: String,
    pub reason: String,
}

#[proxy(
    interface = "org.roster.Roster1.Import",
    default_service = "org.roster.Roster1",
    default_path = "/org/roster/Roster1"
)]
pub trait Import {
    /// Adopt a batch (root only, standalone hosts only).
    async fn import_users(&self, request: &ImportRequest) -> Result<Vec<ImportUserResult>>;
    /// Delete imported users unchanged since (root only).
    async fn undo_import(&self, users: &[ImportedUserRef]) -> Result<Vec<UndoResult>>;
    /// "argon2id", "legacy hash (yescrypt), upgraded at next login", or
    /// empty (no password); authorized as `users show`.
    async fn password_kind(&self, name: &str) -> Result<String>;
}
