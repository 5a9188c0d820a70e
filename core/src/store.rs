//! The store behind two narrow traits: [`Backend`] (open a transaction,
//! the schema version, a second reader) and [`Transaction`] (every typed
//! operation on the data, no SQL). The rules live in [`crate::roster`] and
//! see only these traits; nothing here decides what is allowed.
//!
//! Today's backend is SQLite ([`sqlite::SqliteStore`], the one place with
//! SQL); a second one (the fleet's PostgreSQL, a crate of its own)
//! implements the same two traits and hands a `Box<dyn Backend>` to
//! [`crate::Roster::with_backend`]. [`crate::conformance`] runs core's
//! rule tests against any backend.
//!
//! ## The commit mark: where the NSS snapshot refresh comes from
//!
//! The methods that change what the NSS snapshot shows (users' names,
//! uids, profiles, states and roles; grants; an environment's removal
//! with its grants) flag their transaction; when such a transaction
//! commits the backend sets its [`CommitMark`]. A rolled-back transaction
//! marks nothing, and neither does anything a login touches (lockout
//! counters, last login, sessions, tokens, codes, password hashes) nor SSH
//! keys (sshd asks rosterd for them live: they are not in the snapshot).
//! rosterd drains the mark after each store call and asks for a snapshot
//! write when it was set; no handler refreshes the snapshot by hand.

pub mod sqlite;

pub use sqlite::{SqliteStore, SqliteTx};

use crate::Result;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::level::Level;
use crate::lockout::Counter;
use crate::model::{Environment, NewSession, Session, Token, User, UserState};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The name the rules use for an open transaction: `fn f(tx: &Tx<'_>)`.
pub type Tx<'a> = dyn Transaction + 'a;

/// A stored registration code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRow {
    pub uid: u32,
    pub public_id: String,
    pub hash: Vec<u8>,
    pub created: Timestamp,
    pub expires: Timestamp,
}

/// A stored token, with what the listing doesn't show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub token: Token,
    pub hash: Vec<u8>,
    pub revoked: Option<Timestamp>,
}

/// A stored SSH key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub key_type: String,
    pub blob: Vec<u8>,
    pub comment: String,
    pub fingerprint: String,
    pub added: Timestamp,
}

/// Who owns a stored secret: a user (by uid: its secrets go with it) or
/// an environment (by name: its `admin` holders manage them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretOwnerRow {
    User(u32),
    Environment(String),
}

/// A stored secret's metadata (its content is in its revisions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRow {
    /// `secret:` + 20 lowercase base32 characters.
    pub id: String,
    pub owner: SecretOwnerRow,
    pub name: String,
    pub description: String,
    pub rotation: crate::secrets::Rotation,
    /// When the managers are next told to rotate (None: never).
    pub next_rotation: Option<Timestamp>,
    /// The newest revision (revisions count from 1).
    pub latest: u32,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// One immutable revision of a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRevisionRow {
    pub revision: u32,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    /// The keyed checksum of the plaintext ([`crate::secrets::crypto`]),
    /// under key `checksum_key`.
    pub checksum: Vec<u8>,
    pub checksum_key: String,
}

/// One value of a revision, sealed: never plaintext in the store.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The value's key name (`password`, `api-key`): not secret.
    pub key: String,
    /// The id of the key that sealed it.
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue")
            .field("key", &self.key)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A user a secret is shared with, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretGrantRow {
    pub uid: u32,
    pub role: crate::secrets::SecretRole,
}

/// Set when a committed transaction changed what the NSS snapshot shows;
/// shared between the backend (which sets it at commit) and whoever
/// writes the snapshot (which drains it with [`CommitMark::take`]).
/// Clones share one mark.
#[derive(Clone, Debug, Default)]
pub struct CommitMark(Arc<AtomicBool>);

impl CommitMark {
    /// For a backend: a transaction that flagged a snapshot-visible change
    /// has committed.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a snapshot-visible change committed since the last take;
    /// clears the mark.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }

    /// Whether the mark is set, leaving it as it is.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One open transaction: every operation on the stored data, typed.
///
/// An implementation flags the transaction in the methods marked
/// "**NSS-visible**" (whether or not a row matched: a flag too many costs
/// one snapshot write, a flag too few a stale NSS) and sets the backend's
/// [`CommitMark`] when a flagged transaction commits. Enum columns hold a
/// value this build doesn't know → an error (the data was edited by hand
/// or by a newer build), never a default.
pub trait Transaction {
    // ---- users -------------------------------------------------------

    /// The user named `name`, with grants; `locked_until` as of `now`.
    fn user(&self, name: &str, now: Timestamp) -> Result<Option<User>>;
    fn user_by_uid(&self, uid: u32, now: Timestamp) -> Result<Option<User>>;
    /// Every user, sorted by name, with grants.
    fn users(&self, now: Timestamp) -> Result<Vec<User>>;
    /// **NSS-visible.** The user and its grants.
    fn insert_user(&self, user: &User, password_hash: Option<&str>) -> Result<()>;
    /// **NSS-visible.** Display name, role, home and shell.
    fn update_profile(&self, user: &User) -> Result<()>;
    /// **NSS-visible** (the admin group holds active users only).
    fn set_state(&self, uid: u32, state: UserState) -> Result<()>;
    /// Store a hash (or none: pending) and when it changed.
    fn set_password(&self, uid: u32, hash: Option<&str>, changed: Option<Timestamp>) -> Result<()>;
    fn password_hash(&self, uid: u32) -> Result<Option<String>>;
    fn set_last_login(&self, uid: u32, at: Timestamp) -> Result<()>;
    /// **NSS-visible.** Delete the user (grants, lockouts, code and keys go
    /// with it) and retire its uid for good.
    fn delete_user(&self, uid: u32, name: &str, now: Timestamp) -> Result<()>;
    /// Users with role admin and state active.
    fn active_admins(&self) -> Result<u32>;
    /// The uids in `min..=max` held by a user or retired, ascending (the
    /// fleet's store adds the ids its enrolled hosts use locally).
    fn taken_uids(&self, min: u32, max: u32) -> Result<Vec<u32>>;
    fn is_retired(&self, uid: u32) -> Result<bool>;

    // ---- grants and environments -------------------------------------

    fn grants_of(&self, uid: u32) -> Result<BTreeMap<String, Level>>;
    /// uid → (environment → level), for listing everyone at once.
    fn all_grants(&self) -> Result<BTreeMap<u32, BTreeMap<String, Level>>>;
    /// **NSS-visible.** Set the one level `uid` holds in `environment`.
    fn set_grant(&self, uid: u32, environment: &str, level: Level) -> Result<()>;
    /// **NSS-visible.**
    fn delete_grant(&self, uid: u32, environment: &str) -> Result<()>;
    /// The names of the users holding `level` in `environment`, sorted.
    fn holders(&self, environment: &str, level: Level) -> Result<Vec<String>>;
    fn environment(&self, name: &str) -> Result<Option<Environment>>;
    fn environments(&self) -> Result<Vec<Environment>>;
    /// A new environment holds no grant: not NSS-visible.
    fn insert_environment(&self, name: &str, now: Timestamp) -> Result<()>;
    /// Remove `name` and every grant naming it; answers how many grants
    /// went. **NSS-visible** when that is more than none.
    fn delete_environment(&self, name: &str) -> Result<u32>;

    // ---- SSH keys (served to sshd live, not in the snapshot) ----------

    fn insert_key(&self, uid: u32, key: &KeyRow) -> Result<()>;
    /// Oldest first.
    fn keys_of(&self, uid: u32) -> Result<Vec<KeyRow>>;
    /// False when the user has no key with that fingerprint.
    fn delete_key(&self, uid: u32, fingerprint: &str) -> Result<bool>;

    // ---- lockouts: one counter per (user, remote host); "" is local ---

    fn lockout(&self, uid: u32, remote_host: &str) -> Result<Counter>;
    /// The uid of `name` when a counter exists for (`name`, host).
    fn counted_uid(&self, name: &str, remote_host: &str) -> Result<Option<u32>>;
    fn save_lockout(&self, uid: u32, remote_host: &str, counter: &Counter) -> Result<()>;
    /// Forget one (user, host) counter.
    fn clear_lockout(&self, uid: u32, remote_host: &str) -> Result<()>;
    /// Forget every counter of the user (unlock, password change).
    fn clear_lockouts(&self, uid: u32) -> Result<()>;

    // ---- sessions ----------------------------------------------------

    fn insert_session(&self, new: &NewSession, uid: u32, now: Timestamp) -> Result<Session>;
    /// How many sessions `uid` ever had (0 before its first).
    fn session_count(&self, uid: u32) -> Result<i64>;
    /// End the live session of `uid` led by (pid, start); false if none.
    fn end_session(
        &self,
        uid: u32,
        leader_pid: u32,
        leader_start: u64,
        now: Timestamp,
    ) -> Result<bool>;
    fn end_sessions(&self, ids: &[i64], now: Timestamp) -> Result<()>;
    /// Sessions, newest first; only live ones unless `ended` too.
    fn sessions(&self, uid: Option<u32>, ended: bool) -> Result<Vec<Session>>;

    // ---- registration codes and API tokens ---------------------------

    /// Store the user's one code, voiding any earlier one.
    fn set_code(&self, code: &CodeRow) -> Result<()>;
    fn code_by_id(&self, public_id: &str) -> Result<Option<CodeRow>>;
    fn code_of(&self, uid: u32) -> Result<Option<CodeRow>>;
    fn delete_code(&self, uid: u32) -> Result<()>;
    fn insert_token(&self, token: &Token, hash: &[u8]) -> Result<()>;
    fn token(&self, public_id: &str) -> Result<Option<TokenRow>>;
    /// Tokens that aren't revoked, of one user or (None) everyone's,
    /// oldest first.
    fn tokens(&self, uid: Option<u32>) -> Result<Vec<Token>>;
    fn rename_token(&self, public_id: &str, name: &str) -> Result<()>;
    fn delete_token(&self, public_id: &str) -> Result<()>;
    fn touch_token(&self, public_id: &str, now: Timestamp) -> Result<()>;
    /// Void every live token of the user (password change, suspend,
    /// delete); they stay, revoked, so using one says "revoked".
    fn revoke_tokens(&self, uid: u32, now: Timestamp) -> Result<u32>;

    // ---- secrets (DESIGN.md "Secrets"; content sealed by core) ---------
    //
    // Not NSS-visible.

    /// How many secrets are stored (the key file may be created only
    /// while there are none).
    fn secret_count(&self) -> Result<u64>;
    fn insert_secret(&self, secret: &SecretRow) -> Result<()>;
    /// Description, rotation, next rotation, latest and updated.
    fn update_secret(&self, secret: &SecretRow) -> Result<()>;
    /// The secret with its revisions, values, grants and pins.
    fn delete_secret(&self, id: &str) -> Result<bool>;
    fn secret(&self, id: &str) -> Result<Option<SecretRow>>;
    fn secret_named(&self, owner: &SecretOwnerRow, name: &str) -> Result<Option<SecretRow>>;
    /// Every secret, by id.
    fn secrets(&self) -> Result<Vec<SecretRow>>;
    fn insert_secret_revision(
        &self,
        id: &str,
        revision: &SecretRevisionRow,
        values: &[SealedValue],
    ) -> Result<()>;
    /// Oldest first.
    fn secret_revisions(&self, id: &str) -> Result<Vec<SecretRevisionRow>>;
    /// The revision, its values and the pins on it.
    fn delete_secret_revision(&self, id: &str, revision: u32) -> Result<bool>;
    /// A revision's values, by key name.
    fn sealed_values(&self, id: &str, revision: u32) -> Result<Vec<SealedValue>>;
    /// Replace one sealed value (same key name) and the revision's
    /// checksum: a rekey's re-wrap.
    fn reseal_value(&self, id: &str, revision: u32, value: &SealedValue) -> Result<()>;
    /// A revision's expiry (metadata, not content: it may change).
    fn set_secret_expiry(&self, id: &str, revision: u32, expires: Option<Timestamp>) -> Result<()>;
    fn set_secret_checksum(
        &self,
        id: &str,
        revision: u32,
        checksum: &[u8],
        checksum_key: &str,
    ) -> Result<()>;
    /// The distinct ids of the keys that sealed the stored values and
    /// checksums.
    fn secret_key_ids(&self) -> Result<Vec<String>>;
    /// By uid.
    fn secret_grants(&self, id: &str) -> Result<Vec<SecretGrantRow>>;
    fn set_secret_grant(&self, id: &str, grant: &SecretGrantRow) -> Result<()>;
    fn delete_secret_grant(&self, id: &str, uid: u32) -> Result<bool>;
    /// The revision `uid` tracks, if it read the secret before.
    fn secret_pin(&self, id: &str, uid: u32) -> Result<Option<u32>>;
    fn set_secret_pin(&self, id: &str, uid: u32, revision: u32) -> Result<()>;
    fn delete_secret_pin(&self, id: &str, uid: u32) -> Result<()>;
    /// (uid, revision) of every reader tracking the secret.
    fn secret_pins(&self, id: &str) -> Result<Vec<(u32, u32)>>;
}

/// A change or a query run inside one transaction (see [`Backend`]).
pub type TxFn<'f> = dyn FnMut(&Tx<'_>) -> Result<()> + 'f;

/// Where the data lives. Object-safe, so [`crate::Roster`] holds a
/// `Box<dyn Backend>` and the rules never name an engine; callers use the
/// generic [`write`](#method.write) and [`read`](#method.read) on
/// `dyn Backend`, which answer any type.
pub trait Backend: Send + std::fmt::Debug {
    /// Run `change` in one write transaction: committed when it answers
    /// `Ok` (and then, if it flagged an NSS-visible change, the
    /// [`CommitMark`] set), rolled back (nothing changed, nothing marked)
    /// when it answers `Err`. The whole transaction is serialized against
    /// other writers, so a read-then-write can't fail halfway.
    fn write_with(&mut self, change: &mut TxFn<'_>) -> Result<()>;

    /// Run `query` in one read transaction (a consistent view).
    fn read_with(&mut self, query: &mut TxFn<'_>) -> Result<()>;

    /// The schema version this store is at.
    fn schema_version(&self) -> Result<u32>;

    /// A second, read-only handle on the same data: long reads (the NSS
    /// snapshot's every-user view) run on it without holding up the
    /// handle that serves calls. A read begun after a commit sees it.
    fn open_reader(&self) -> Result<Box<dyn Backend>>;

    /// The mark this backend sets when an NSS-visible change commits.
    fn commit_mark(&self) -> CommitMark;

    /// `true`: commits from here on are no longer synced one by one;
    /// `false`: one sync makes every commit since durable, and commits
    /// are synced one by one again. For a long run of small transactions
    /// made under one hold of the store (an import's users, each its own
    /// transaction): a crash may lose the run's tail, never half a
    /// transaction, and the caller answers only after the sync, so nothing
    /// acknowledged is lost. A backend whose every commit is durable does
    /// nothing.
    fn defer_sync(&mut self, deferred: bool) -> Result<()>;

    /// The store as a fleet host's cache ([`crate::host_cache`]): the
    /// SQLite store a host keeps. A controller's store is the fleet's own
    /// and no host's cache: none.
    fn host_cache(&mut self) -> Option<&mut SqliteStore> {
        None
    }
}

impl dyn Backend + '_ {
    /// [`Backend::write_with`] answering what `change` answers.
    pub fn write<T>(&mut self, change: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut run = Once::new(change);
        self.write_with(&mut |tx| run.call(tx))?;
        run.answer()
    }

    /// [`Backend::read_with`] answering what `query` answers.
    pub fn read<T>(&mut self, query: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut run = Once::new(query);
        self.read_with(&mut |tx| run.call(tx))?;
        run.answer()
    }
}

/// A `FnOnce` behind the `FnMut` the object-safe trait takes, keeping its
/// answer for the generic caller.
struct Once<F, T> {
    f: Option<F>,
    answer: Option<T>,
}

impl<F: FnOnce(&Tx<'_>) -> Result<T>, T> Once<F, T> {
    fn new(f: F) -> Self {
        Once {
            f: Some(f),
            answer: None,
        }
    }

    fn call(&mut self, tx: &Tx<'_>) -> Result<()> {
        let f = self.f.take().ok_or_else(|| {
            Error::Store("the store ran one transaction's work twice (a backend bug)".into())
        })?;
        self.answer = Some(f(tx)?);
        Ok(())
    }

    fn answer(self) -> Result<T> {
        self.answer.ok_or_else(|| {
            Error::Store(
                "the store committed without running the transaction's work (a backend bug)".into(),
            )
        })
    }
}
