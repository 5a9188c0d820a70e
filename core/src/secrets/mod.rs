//! Secrets, Juju's model for the people Roster manages (DESIGN.md
//! "Secrets"): owners, grants, immutable revisions, tracking, rotation,
//! expiry; content sealed at rest ([`crypto`]).
//!
//! The rules live here once, as methods of [`Roster`] over the store
//! trait (so any backend keeps secrets) and [`crate::authz`]'s table
//! (`ViewSecret`, `ManageSecret`, …). Core never holds the key file's
//! state: the caller (rosterd) loads it once ([`SecretKeys::load`]) and
//! hands the ring to each call that seals or opens.
//!
//! Decisions recorded here:
//! - `update` with content replaces the whole content (a revision is a
//!   complete set of keys, as `juju update-secret`); content identical to
//!   the latest revision (same keyed checksum) makes no revision;
//! - root and active role admins manage every secret (a role admin is
//!   "everything, everywhere" and sudo on every host anyway);
//! - root tracks nothing (it is no Roster user): its reads are peeks;
//! - a revision somebody tracks, or the latest, can't be removed
//!   (`Conflict`), so no reader's pin ever points at nothing;
//! - an expired revision still reads: expiry tells the managers to
//!   retire it (`SecretExpired`), it does not lock readers out.

pub mod crypto;

use crate::Result;
use crate::authz::{
    Actor, Operation, SecretAccess, SecretReach, authorize, secret_reach, secret_visible,
};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::roster::Roster;
use crate::rules;
use crate::store::{SealedValue, SecretGrantRow, SecretOwnerRow, SecretRevisionRow, SecretRow, Tx};
use crate::validate::{self, shown};
use crypto::{Keyring, SecretKey};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Obsolete revisions (not the latest, tracked by nobody) kept beyond
/// which the oldest are pruned.
pub const KEEP_REVISIONS: usize = 3;
/// The most value bytes one revision holds.
pub const MAX_REVISION_BYTES: usize = 1 << 20;
/// The most keys one revision holds.
pub const MAX_KEYS: usize = 256;
/// The longest key name and secret name.
pub const MAX_KEY_NAME_BYTES: usize = 64;
/// The longest description.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// How often a due rotation is said again until a new revision lands.
pub const ROTATE_REMIND_EVERY: i64 = 5 * 60;

/// A secret's content: key → value bytes, wiped when dropped.
pub type SecretContent = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// When the managers are told to rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    Never,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl Rotation {
    pub const ALL: [Rotation; 7] = [
        Rotation::Never,
        Rotation::Hourly,
        Rotation::Daily,
        Rotation::Weekly,
        Rotation::Monthly,
        Rotation::Quarterly,
        Rotation::Yearly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Never => "never",
            Rotation::Hourly => "hourly",
            Rotation::Daily => "daily",
            Rotation::Weekly => "weekly",
            Rotation::Monthly => "monthly",
            Rotation::Quarterly => "quarterly",
            Rotation::Yearly => "yearly",
        }
    }

    pub fn parse(text: &str) -> Option<Rotation> {
        Rotation::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// A policy from a caller: an unknown one names the known ones.
    pub fn from_arg(text: &str) -> Result<Rotation> {
        Rotation::parse(text).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown rotation policy {}: use one of {}",
                shown(text),
                Rotation::ALL.map(Rotation::as_str).join(", ")
            ))
        })
    }

    /// Seconds between rotations (a month is 30 days, a quarter 91, a
    /// year 365); None for never.
    pub fn period(self) -> Option<i64> {
        const DAY: i64 = 86_400;
        match self {
            Rotation::Never => None,
            Rotation::Hourly => Some(3_600),
            Rotation::Daily => Some(DAY),
            Rotation::Weekly => Some(7 * DAY),
            Rotation::Monthly => Some(30 * DAY),
            Rotation::Quarterly => Some(91 * DAY),
            Rotation::Yearly => Some(365 * DAY),
        }
    }

    fn next_from(self, now: Timestamp) -> Option<Timestamp> {
        self.period().map(|p| now.saturating_add(p))
    }
}

/// How a secret is shared with a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretRole {
    View,
    Manage,
}

impl SecretRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretRole::View => "view",
            SecretRole::Manage => "manage",
        }
    }

    pub fn parse(text: &str) -> Option<SecretRole> {
        match text {
            "view" => Some(SecretRole::View),
            "manage" => Some(SecretRole::Manage),
            _ => None,
        }
    }

    pub fn from_arg(text: &str) -> Result<SecretRole> {
        SecretRole::parse(text).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown secret role {}: use view or manage",
                shown(text)
            ))
        })
    }
}

/// Who owns a secret, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretOwner {
    User(String),
    Environment(String),
}

impl SecretOwner {
    pub fn kind(&self) -> &'static str {
        match self {
            SecretOwner::User(_) => "user",
            SecretOwner::Environment(_) => "environment",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            SecretOwner::User(name) | SecretOwner::Environment(name) => name,
        }
    }
}

/// When a revision expires, as given: after a duration or at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    In(Duration),
    At(Timestamp),
}

impl Expiry {
    /// `30d`, `12h` (a duration from now) or `2027-01-31T12:00:00Z` (UTC).
    pub fn parse(text: &str) -> Result<Expiry> {
        if let Ok(d) = crate::config::parse_duration(text) {
            return Ok(Expiry::In(d));
        }
        roster_hostconfig::calendar::parse_utc(text)
            .map(Expiry::At)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the expiry {} is neither a duration (30d, 12h) nor an RFC 3339 UTC time (2027-01-31T12:00:00Z)",
                    shown(text)
                ))
            })
    }

    fn at(self, now: Timestamp) -> Result<Timestamp> {
        let at = match self {
            Expiry::In(d) => now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)),
            Expiry::At(t) => t,
        };
        if at <= now {
            return Err(Error::InvalidArgument(
                "the expiry is not in the future".into(),
            ));
        }
        Ok(at)
    }
}

/// One revision, as a manager sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionInfo {
    pub revision: u32,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    /// How many readers track it.
    pub readers: u32,
}

/// A secret's metadata, as the asking actor may see it (never content).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    pub id: String,
    pub name: String,
    pub owner: SecretOwner,
    pub description: String,
    pub rotation: Rotation,
    pub next_rotation: Option<Timestamp>,
    pub latest: u32,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Whether the actor manages (true) or only views it.
    pub manages: bool,
    /// The revision the actor tracks, if it read the secret before.
    pub tracking: Option<u32>,
    /// Every revision (managers only; empty for a viewer).
    pub revisions: Vec<RevisionInfo>,
    /// Who it is shared with (managers only).
    pub grants: Vec<(String, SecretRole)>,
}

/// A new secret.
#[derive(Debug)]
pub struct NewSecret {
    pub name: String,
    /// An environment's secret; None: the actor's own.
    pub environment: Option<String>,
    pub description: String,
    pub content: SecretContent,
    pub rotation: Rotation,
    pub expire: Option<Expiry>,
}

/// What `update` changes; None leaves it.
#[derive(Debug, Default)]
pub struct SecretChanges {
    pub description: Option<String>,
    /// The whole content of a new revision.
    pub content: Option<SecretContent>,
    pub rotation: Option<Rotation>,
    /// The expiry of the new revision (or, without content, the latest).
    pub expire: Option<Expiry>,
}

/// What a change did, for the caller's answer and its signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretChanged {
    pub info: SecretInfo,
    /// The revision made (None: the content was identical, or not given).
    pub new_revision: Option<u32>,
    /// Obsolete revisions pruned.
    pub pruned: Vec<u32>,
}

/// Which revision a read answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reveal {
    /// The one the reader tracks (its first read pins the latest).
    Tracked,
    /// The latest, without moving the reader's pin.
    Peek,
    /// The latest, moving the reader's pin to it.
    Refresh,
    /// One given revision (managers).
    Revision(u32),
}

/// A read's answer: which revision and its content.
#[derive(Debug)]
pub struct Revealed {
    pub info: SecretInfo,
    pub revision: u32,
    pub content: SecretContent,
    /// Obsolete revisions pruned because the reader moved on.
    pub pruned: Vec<u32>,
}

/// Which secrets a list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretFilter {
    #[default]
    All,
    Owner(String),
    Environment(String),
}

/// A rotation due or a revision expired, for the managers' signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretDue {
    pub id: String,
    pub revision: u32,
    /// Rotation due since, or expired at.
    pub at: Timestamp,
}

/// Where the key ring stands for rosterd.
#[derive(Debug)]
enum KeyState {
    Ready(Keyring),
    /// No key file and no secret: the first `add` creates the file.
    NotYet,
    /// Secrets are stored and the key file is missing or wrong: every
    /// secret operation is refused with this sentence (naming the file).
    Refused(String),
}

/// The secrets key as rosterd holds it: loaded once at start, created at
/// the first add while no secret exists, replaced by a rekey.
#[derive(Debug)]
pub struct SecretKeys {
    path: PathBuf,
    state: KeyState,
}

impl SecretKeys {
    /// Read the key file the config names (or the default beside the
    /// database) and check it holds every key the stored secrets need.
    /// Never creates anything (see [`SecretKeys::ring_for_add`]).
    pub fn load(roster: &mut Roster) -> SecretKeys {
        Self::load_as(roster, " and rosterd restarted")
    }

    /// [`SecretKeys::load`] for a service that loads the key for every
    /// secret call (the fleet's controller, whose replicas share the
    /// store): a fixed file is used from the next call, no restart.
    pub fn load_for_this_call(roster: &mut Roster) -> SecretKeys {
        Self::load_as(roster, "")
    }

    fn load_as(roster: &mut Roster, then: &str) -> SecretKeys {
        let path = crypto::key_file_path(roster.config());
        let state = match Self::check(roster, &path, then) {
            Ok(state) => state,
            Err(message) => KeyState::Refused(message),
        };
        SecretKeys { path, state }
    }

    fn check(
        roster: &mut Roster,
        path: &std::path::Path,
        then: &str,
    ) -> std::result::Result<KeyState, String> {
        let refused =
            |why: String| format!("{why}; secret operations are refused until it is fixed{then}");
        let (count, ids) = roster
            .store
            .read(|tx| Ok((tx.secret_count()?, tx.secret_key_ids()?)))
            .map_err(|e| refused(format!("can't count the stored secrets: {e}")))?;
        if std::fs::symlink_metadata(path).is_err() {
            if count == 0 {
                return Ok(KeyState::NotYet);
            }
            return Err(refused(format!(
                "{count} secret(s) are stored but the secrets key file {} is missing: restore it from its backup (no new key is made while secrets exist)",
                path.display()
            )));
        }
        let ring = crypto::read_key_file(path).map_err(|e| refused(e.to_string()))?;
        if let Some(missing) = ids.iter().find(|id| !ring.holds(id)) {
            return Err(refused(format!(
                "the secrets key file {} does not hold key {missing}, which sealed stored secrets: it is the wrong file; restore the one that belongs to this database",
                path.display()
            )));
        }
        Ok(KeyState::Ready(ring))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Why secret operations are refused (a missing or wrong key file
    /// while secrets are stored), if they are.
    pub fn refused(&self) -> Option<&str> {
        match &self.state {
            KeyState::Refused(message) => Some(message),
            KeyState::Ready(_) | KeyState::NotYet => None,
        }
    }

    /// The ring, or the sentence saying why secrets are refused.
    pub fn ring(&self) -> std::result::Result<&Keyring, String> {
        match &self.state {
            KeyState::Ready(ring) => Ok(ring),
            KeyState::NotYet => Err(format!(
                "no secret is stored yet, so there is nothing to read (the key file {} is made by the first `roster secrets add`)",
                self.path.display()
            )),
            KeyState::Refused(message) => Err(message.clone()),
        }
    }

    /// The ring for sealing a new secret: created (0600) now if there is
    /// no key file and no secret exists yet.
    pub fn ring_for_add(&mut self, roster: &mut Roster) -> std::result::Result<&Keyring, String> {
        if matches!(self.state, KeyState::NotYet) {
            let count = roster
                .store
                .read(|tx| tx.secret_count())
                .map_err(|e| format!("can't count the stored secrets: {e}"))?;
            if count > 0 {
                return Err(format!(
                    "secrets appeared without the key file {} (added elsewhere meanwhile): restart rosterd, or retry at the controller",
                    self.path.display()
                ));
            }
            let ring = SecretKey::generate()
                .and_then(|key| Keyring::new(vec![key], &self.path))
                .and_then(|ring| crypto::write_key_file(&ring, true).map(|()| ring))
                .map_err(|e| e.to_string())?;
            self.state = KeyState::Ready(ring);
        }
        self.ring()
    }

    /// `roster secrets rekey`: a new key seals everything, in one
    /// transaction. The key file first holds the new key and the old
    /// ones, then (after the commit) the new one only: a `kill -9` at any
    /// point leaves a file that opens every stored value.
    pub fn rekey(&mut self, roster: &mut Roster, actor: &Actor) -> Result<(String, u64)> {
        authorize(actor, &Operation::RekeySecrets)?;
        let state = std::mem::replace(&mut self.state, KeyState::NotYet);
        let ring = match state {
            KeyState::Ready(ring) => ring,
            KeyState::NotYet => {
                return Err(Error::Conflict(
                    "no secret is stored yet: there is nothing to re-key".into(),
                ));
            }
            KeyState::Refused(message) => {
                self.state = KeyState::Refused(message.clone());
                return Err(Error::Conflict(message));
            }
        };
        let ring = ring.with_new_key(SecretKey::generate()?);
        let rewrapped =
            crypto::write_key_file(&ring, false).and_then(|()| roster.reseal_all(&ring));
        match rewrapped {
            Ok(count) => {
                // Committed: the old keys open nothing any more. Should
                // this write fail, the file still holds the new key.
                let ring = ring.current_only();
                let written = crypto::write_key_file(&ring, false);
                let id = ring.current().id().to_string();
                self.state = KeyState::Ready(ring);
                written.map(|()| (id, count))
            }
            Err(e) => {
                // Rolled back: the ring (new key first, old ones after)
                // still opens every value.
                self.state = KeyState::Ready(ring);
                Err(e)
            }
        }
    }
}

fn random_id() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Store(format!("no randomness from the kernel: {e}")))?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
        .collect();
    Ok(format!("secret:{chars}"))
}

/// Whether `text` is a secret id (`secret:` + 20 lowercase base32).
pub fn is_secret_id(text: &str) -> bool {
    text.strip_prefix("secret:").is_some_and(|rest| {
        rest.len() == 20
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

/// A secret's name: `^[a-z][a-z0-9-]{0,63}$` (typed on command lines,
/// used in `OWNER/NAME`).
pub fn secret_name(name: &str) -> Result<()> {
    if is_lowercase_word(name, 1) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "the secret name {} is not valid: use a lowercase letter, then lowercase letters, digits or '-', at most {MAX_KEY_NAME_BYTES} in all",
            shown(name)
        )))
    }
}

/// A content key: `^[a-z][a-z0-9-]{2,}$`, at most 64 bytes.
pub fn key_name(key: &str) -> Result<()> {
    if is_lowercase_word(key, 3) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "the key {} is not valid: keys are a lowercase letter, then at least two lowercase letters, digits or '-' (at most {MAX_KEY_NAME_BYTES} in all), e.g. password, api-key",
            shown(key)
        )))
    }
}

/// A lowercase letter, then lowercase letters, digits or '-': at least
/// `min_len` and at most [`MAX_KEY_NAME_BYTES`] bytes in all.
fn is_lowercase_word(word: &str, min_len: usize) -> bool {
    (min_len..=MAX_KEY_NAME_BYTES).contains(&word.len())
        && word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The limits of one revision's content.
pub fn check_content(content: &SecretContent) -> Result<()> {
    if content.is_empty() {
        return Err(Error::InvalidArgument(
            "a secret needs at least one key=value".into(),
        ));
    }
    if content.len() > MAX_KEYS {
        return Err(Error::InvalidArgument(format!(
            "a revision holds at most {MAX_KEYS} keys, not {}",
            content.len()
        )));
    }
    let mut total: usize = 0;
    for (key, value) in content {
        key_name(key)?;
        total = total.saturating_add(value.len());
    }
    if total > MAX_REVISION_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the values add up to {total} bytes: a revision holds at most {MAX_REVISION_BYTES} bytes (1 MiB)"
        )));
    }
    Ok(())
}

fn description(text: &str) -> Result<()> {
    if text.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the description is {} bytes long: at most {MAX_DESCRIPTION_BYTES} are allowed",
            text.len()
        )));
    }
    if text.is_empty() {
        return Ok(());
    }
    validate::field(&text.replace(['\n', '\t'], " "), "description")
        .or_else(|_| validate::field(text, "description"))
}

fn not_found(address: &str) -> Error {
    Error::NotFound(format!("secret {} not found", shown(address)))
}

/// The acting Roster user's uid, if the actor is one.
fn acting_uid(actor: &Actor) -> Option<u32> {
    match actor {
        Actor::User(user) | Actor::Token { user, .. } => Some(user.uid),
        Actor::Root | Actor::Stranger { .. } => None,
    }
}

/// The secret `address` names, from `actor`'s point of view: an id, an
/// `OWNER/NAME` (a user's, else an environment's) or the actor's own
/// `NAME`. Existence is not told here (the table's not-found is).
fn find(tx: &Tx<'_>, actor: &Actor, address: &str) -> Result<SecretRow> {
    if address.len() > 200 || address.chars().any(char::is_control) {
        return Err(not_found(address));
    }
    let found = if is_secret_id(address) {
        tx.secret(address)?
    } else if let Some((owner, name)) = address.split_once('/') {
        if secret_name(name).is_err() {
            return Err(not_found(address));
        }
        let by_user = match tx.user(owner, 0)? {
            Some(user) => tx.secret_named(&SecretOwnerRow::User(user.uid), name)?,
            None => None,
        };
        match by_user {
            Some(row) => Some(row),
            None => tx.secret_named(&SecretOwnerRow::Environment(owner.to_string()), name)?,
        }
    } else {
        let Some(uid) = acting_uid(actor) else {
            return Err(Error::InvalidArgument(format!(
                "root owns no secrets: name {} as OWNER/NAME or by its id",
                shown(address)
            )));
        };
        if secret_name(address).is_err() {
            return Err(not_found(address));
        }
        tx.secret_named(&SecretOwnerRow::User(uid), address)?
    };
    found.ok_or_else(|| not_found(address))
}

/// The secret `address` names, if `actor` may manage it (else not-found
/// or denied, as [`authorize`] says).
fn find_managed(tx: &Tx<'_>, actor: &Actor, address: &str) -> Result<SecretRow> {
    let row = find(tx, actor, address)?;
    let access = access_of(tx, actor, &row)?;
    authorize(
        actor,
        &Operation::ManageSecret {
            secret: address,
            access,
        },
    )?;
    Ok(row)
}

/// What `actor` holds on `row`.
fn access_of(tx: &Tx<'_>, actor: &Actor, row: &SecretRow) -> Result<SecretAccess> {
    let user = match actor {
        Actor::User(user) | Actor::Token { user, .. } => user,
        Actor::Root | Actor::Stranger { .. } => return Ok(SecretAccess::default()),
    };
    let grant = tx
        .secret_grants(&row.id)?
        .into_iter()
        .find(|g| g.uid == user.uid)
        .map(|g| g.role);
    Ok(SecretAccess {
        owner: row.owner == SecretOwnerRow::User(user.uid),
        grant,
        environment_level: match &row.owner {
            SecretOwnerRow::Environment(env) => user.grants.get(env).copied(),
            SecretOwnerRow::User(_) => None,
        },
    })
}

fn owner_of(tx: &Tx<'_>, row: &SecretRow) -> Result<SecretOwner> {
    Ok(match &row.owner {
        SecretOwnerRow::User(uid) => SecretOwner::User(
            tx.user_by_uid(*uid, 0)?
                .map(|u| u.name)
                .unwrap_or_else(|| format!("uid {uid}")),
        ),
        SecretOwnerRow::Environment(env) => SecretOwner::Environment(env.clone()),
    })
}

/// The metadata `actor` may see of `row` (whose reach is `reach`).
fn info(tx: &Tx<'_>, actor: &Actor, row: &SecretRow, reach: SecretReach) -> Result<SecretInfo> {
    let manages = reach == SecretReach::Manage;
    let tracking = match acting_uid(actor) {
        Some(uid) => tx.secret_pin(&row.id, uid)?,
        None => None,
    };
    let (revisions, grants) = if manages {
        let pins = tx.secret_pins(&row.id)?;
        let revisions = tx
            .secret_revisions(&row.id)?
            .into_iter()
            .map(|r| RevisionInfo {
                revision: r.revision,
                created: r.created,
                expires: r.expires,
                readers: u32::try_from(pins.iter().filter(|(_, rev)| *rev == r.revision).count())
                    .unwrap_or(u32::MAX),
            })
            .collect();
        let mut grants = Vec::new();
        for grant in tx.secret_grants(&row.id)? {
            if let Some(user) = tx.user_by_uid(grant.uid, 0)? {
                grants.push((user.name, grant.role));
            }
        }
        (revisions, grants)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(SecretInfo {
        id: row.id.clone(),
        name: row.name.clone(),
        owner: owner_of(tx, row)?,
        description: row.description.clone(),
        rotation: row.rotation,
        next_rotation: row.next_rotation,
        latest: row.latest,
        created: row.created,
        updated: row.updated,
        manages,
        tracking,
        revisions,
        grants,
    })
}

/// Seal `content` as `revision` of `id` and store it.
fn store_revision(
    tx: &Tx<'_>,
    ring: &Keyring,
    id: &str,
    revision: u32,
    content: &SecretContent,
    now: Timestamp,
    expires: Option<Timestamp>,
) -> Result<()> {
    let values = content
        .iter()
        .map(|(key, value)| ring.seal(id, revision, key, value))
        .collect::<Result<Vec<SealedValue>>>()?;
    let checksum_key = ring.current().id().to_string();
    let checksum = ring.checksum(&checksum_key, id, plain(content))?;
    tx.insert_secret_revision(
        id,
        &SecretRevisionRow {
            revision,
            created: now,
            expires,
            checksum,
            checksum_key,
        },
        &values,
    )
}

fn plain(content: &SecretContent) -> impl Iterator<Item = (&str, &[u8])> {
    content.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
}

/// Remove obsolete revisions (not the latest, tracked by nobody) beyond
/// the newest [`KEEP_REVISIONS`]; answers the removed ones.
fn prune(tx: &Tx<'_>, row: &SecretRow) -> Result<Vec<u32>> {
    let pins = tx.secret_pins(&row.id)?;
    let mut obsolete: Vec<u32> = tx
        .secret_revisions(&row.id)?
        .into_iter()
        .map(|r| r.revision)
        .filter(|rev| *rev != row.latest && !pins.iter().any(|(_, p)| p == rev))
        .collect();
    obsolete.sort_unstable_by(|a, b| b.cmp(a));
    let doomed: Vec<u32> = obsolete.into_iter().skip(KEEP_REVISIONS).collect();
    for revision in &doomed {
        tx.delete_secret_revision(&row.id, *revision)?;
    }
    Ok(doomed)
}

fn open_revision(tx: &Tx<'_>, ring: &Keyring, id: &str, revision: u32) -> Result<SecretContent> {
    let mut content = SecretContent::new();
    for value in tx.sealed_values(id, revision)? {
        let plaintext = ring.open(id, revision, &value)?;
        content.insert(value.key.clone(), plaintext);
    }
    Ok(content)
}

impl Roster {
    /// Add a secret (revision 1) owned by the actor or by `environment`.
    pub fn add_secret(
        &mut self,
        actor: &Actor,
        ring: &Keyring,
        new: NewSecret,
    ) -> Result<SecretInfo> {
        authorize(
            actor,
            &Operation::CreateSecret {
                environment: new.environment.as_deref(),
            },
        )?;
        secret_name(&new.name)?;
        description(&new.description)?;
        check_content(&new.content)?;
        let now = self.now();
        let expires = new.expire.map(|e| e.at(now)).transpose()?;
        let owner_name = rules::actor_name(actor).map(str::to_string);
        self.store.write(|tx| {
            let owner = match &new.environment {
                Some(env) => {
                    if tx.environment(env)?.is_none() {
                        return Err(Error::NotFound(format!(
                            "environment {} not found",
                            shown(env)
                        )));
                    }
                    SecretOwnerRow::Environment(env.clone())
                }
                None => {
                    let Some(name) = &owner_name else {
                        return Err(Error::InvalidArgument(
                            "root is not a Roster user and owns no secrets: add it as a user, or give --environment".into(),
                        ));
                    };
                    let user = crate::roster::need_user(tx, name, now)?;
                    SecretOwnerRow::User(user.uid)
                }
            };
            if tx.secret_named(&owner, &new.name)?.is_some() {
                return Err(Error::AlreadyExists(format!(
                    "a secret named {:?} exists already for this owner: update it with `roster secrets update {}`",
                    new.name, new.name
                )));
            }
            let row = SecretRow {
                id: random_id()?,
                owner,
                name: new.name.clone(),
                description: new.description.clone(),
                rotation: new.rotation,
                next_rotation: new.rotation.next_from(now),
                latest: 1,
                created: now,
                updated: now,
            };
            tx.insert_secret(&row)?;
            store_revision(tx, ring, &row.id, 1, &new.content, now, expires)?;
            info(tx, actor, &row, SecretReach::Manage)
        })
    }

    /// Change a secret: new content makes a revision (unless identical to
    /// the latest), the rest changes its metadata.
    pub fn update_secret(
        &mut self,
        actor: &Actor,
        ring: &Keyring,
        address: &str,
        changes: SecretChanges,
    ) -> Result<SecretChanged> {
        if let Some(d) = &changes.description {
            description(d)?;
        }
        if let Some(content) = &changes.content {
            check_content(content)?;
        }
        let now = self.now();
        let expires = changes.expire.map(|e| e.at(now)).transpose()?;
        self.store.write(|tx| {
            let mut row = find_managed(tx, actor, address)?;
            let mut new_revision = None;
            if let Some(content) = &changes.content {
                let latest = tx
                    .secret_revisions(&row.id)?
                    .into_iter()
                    .find(|r| r.revision == row.latest);
                let identical = match latest {
                    Some(latest) => {
                        let sum = ring.checksum(&latest.checksum_key, &row.id, plain(content))?;
                        subtle::ConstantTimeEq::ct_eq(sum.as_slice(), latest.checksum.as_slice())
                            .into()
                    }
                    None => false,
                };
                if !identical {
                    let revision = row.latest.checked_add(1).ok_or_else(|| {
                        Error::Conflict("this secret has no revision numbers left".into())
                    })?;
                    store_revision(tx, ring, &row.id, revision, content, now, expires)?;
                    row.latest = revision;
                    row.next_rotation = row.rotation.next_from(now);
                    new_revision = Some(revision);
                }
            }
            if new_revision.is_none()
                && let Some(expires) = expires
            {
                tx.set_secret_expiry(&row.id, row.latest, Some(expires))?;
            }
            if let Some(d) = &changes.description {
                row.description = d.clone();
            }
            if let Some(rotation) = changes.rotation
                && rotation != row.rotation
            {
                row.rotation = rotation;
                row.next_rotation = rotation.next_from(now);
            }
            row.updated = now;
            tx.update_secret(&row)?;
            let pruned = if new_revision.is_some() {
                prune(tx, &row)?
            } else {
                Vec::new()
            };
            Ok(SecretChanged {
                info: info(tx, actor, &row, SecretReach::Manage)?,
                new_revision,
                pruned,
            })
        })
    }

    /// Remove a whole secret, or one revision (never the latest nor one
    /// somebody tracks). Answers what it was.
    pub fn remove_secret(
        &mut self,
        actor: &Actor,
        address: &str,
        revision: Option<u32>,
    ) -> Result<SecretInfo> {
        let now = self.now();
        self.store.write(|tx| {
            let mut row = find_managed(tx, actor, address)?;
            let before = info(tx, actor, &row, SecretReach::Manage)?;
            match revision {
                None => {
                    tx.delete_secret(&row.id)?;
                }
                Some(revision) => {
                    if revision == row.latest {
                        return Err(Error::Conflict(format!(
                            "revision {revision} is the latest of {}: publish a new one first, or remove the whole secret",
                            shown(address)
                        )));
                    }
                    let readers = tx
                        .secret_pins(&row.id)?
                        .iter()
                        .filter(|(_, r)| *r == revision)
                        .count();
                    if readers > 0 {
                        return Err(Error::Conflict(format!(
                            "{readers} reader(s) track revision {revision} of {}: it goes once they move on (`roster secrets get --refresh`)",
                            shown(address)
                        )));
                    }
                    if !tx.delete_secret_revision(&row.id, revision)? {
                        return Err(Error::NotFound(format!(
                            "secret {} has no revision {revision}",
                            shown(address)
                        )));
                    }
                    row.updated = now;
                    tx.update_secret(&row)?;
                }
            }
            Ok(before)
        })
    }

    /// Share a secret with `user` (`view` or `manage`); a second grant
    /// sets the role.
    pub fn grant_secret(
        &mut self,
        actor: &Actor,
        address: &str,
        user: &str,
        role: SecretRole,
    ) -> Result<SecretInfo> {
        let now = self.now();
        self.store.write(|tx| {
            let row = find_managed(tx, actor, address)?;
            let grantee = crate::roster::need_user(tx, user, now)?;
            if row.owner == SecretOwnerRow::User(grantee.uid) {
                return Err(Error::Conflict(format!(
                    "{user:?} owns {}: an owner manages it already",
                    shown(address)
                )));
            }
            tx.set_secret_grant(
                &row.id,
                &SecretGrantRow {
                    uid: grantee.uid,
                    role,
                },
            )?;
            info(tx, actor, &row, SecretReach::Manage)
        })
    }

    /// Take a grant away, at once; the user's pin goes with it.
    pub fn revoke_secret(
        &mut self,
        actor: &Actor,
        address: &str,
        user: &str,
    ) -> Result<SecretInfo> {
        let now = self.now();
        self.store.write(|tx| {
            let row = find_managed(tx, actor, address)?;
            let grantee = crate::roster::need_user(tx, user, now)?;
            if !tx.delete_secret_grant(&row.id, grantee.uid)? {
                return Err(Error::NotFound(format!(
                    "{} is not shared with {user:?}",
                    shown(address)
                )));
            }
            tx.delete_secret_pin(&row.id, grantee.uid)?;
            info(tx, actor, &row, SecretReach::Manage)
        })
    }

    /// The secrets `actor` may see, by owner then name.
    pub fn list_secrets(
        &mut self,
        actor: &Actor,
        filter: &SecretFilter,
    ) -> Result<Vec<SecretInfo>> {
        authorize(actor, &Operation::ListSecrets)?;
        let mut out = self.store.read(|tx| {
            let mut out = Vec::new();
            for row in tx.secrets()? {
                let access = access_of(tx, actor, &row)?;
                if !secret_visible(actor, &access) {
                    continue;
                }
                let reach = secret_reach(actor, &access);
                let info = info(tx, actor, &row, reach)?;
                let keep = match filter {
                    SecretFilter::All => true,
                    SecretFilter::Owner(user) => info.owner == SecretOwner::User(user.clone()),
                    SecretFilter::Environment(env) => {
                        info.owner == SecretOwner::Environment(env.clone())
                    }
                };
                if keep {
                    out.push(info);
                }
            }
            Ok(out)
        })?;
        // Users' secrets first, then environments'; by owner, then name.
        let key = |s: &SecretInfo| {
            (
                matches!(s.owner, SecretOwner::Environment(_)),
                s.owner.name().to_string(),
                s.name.clone(),
            )
        };
        out.sort_by_key(key);
        Ok(out)
    }

    /// A secret's metadata (revisions and grants for managers).
    pub fn show_secret(&mut self, actor: &Actor, address: &str) -> Result<SecretInfo> {
        self.store.read(|tx| {
            let row = find(tx, actor, address)?;
            let access = access_of(tx, actor, &row)?;
            authorize(
                actor,
                &Operation::ViewSecret {
                    secret: address,
                    access,
                },
            )?;
            info(tx, actor, &row, secret_reach(actor, &access))
        })
    }

    /// A revision's content: the tracked one (pinning the latest at the
    /// first read), the latest (`Peek`, `Refresh`), or a given one
    /// (managers). The caller audits the reveal.
    pub fn reveal_secret(
        &mut self,
        actor: &Actor,
        ring: &Keyring,
        address: &str,
        how: Reveal,
    ) -> Result<Revealed> {
        self.store.write(|tx| {
            let row = find(tx, actor, address)?;
            let access = access_of(tx, actor, &row)?;
            let operation = match how {
                Reveal::Revision(_) => Operation::ManageSecret {
                    secret: address,
                    access,
                },
                _ => Operation::ViewSecret {
                    secret: address,
                    access,
                },
            };
            authorize(actor, &operation)?;
            let uid = acting_uid(actor);
            let exists = |rev: u32| -> Result<bool> {
                Ok(tx
                    .secret_revisions(&row.id)?
                    .iter()
                    .any(|r| r.revision == rev))
            };
            let mut pruned = Vec::new();
            let revision = match (how, uid) {
                (Reveal::Revision(rev), _) => {
                    if !exists(rev)? {
                        return Err(Error::NotFound(format!(
                            "secret {} has no revision {rev}",
                            shown(address)
                        )));
                    }
                    rev
                }
                (Reveal::Peek, _) | (_, None) => row.latest,
                (Reveal::Refresh, Some(uid)) => {
                    tx.set_secret_pin(&row.id, uid, row.latest)?;
                    pruned = prune(tx, &row)?;
                    row.latest
                }
                (Reveal::Tracked, Some(uid)) => match tx.secret_pin(&row.id, uid)? {
                    Some(pinned) if exists(pinned)? => pinned,
                    _ => {
                        tx.set_secret_pin(&row.id, uid, row.latest)?;
                        row.latest
                    }
                },
            };
            let content = open_revision(tx, ring, &row.id, revision)?;
            Ok(Revealed {
                info: info(tx, actor, &row, secret_reach(actor, &access))?,
                revision,
                content,
                pruned,
            })
        })
    }

    /// How far `actor` reaches into secret `id` (None when it is gone):
    /// whom a signal about it may reach.
    pub fn secret_reach_of(&mut self, actor: &Actor, id: &str) -> Result<SecretReach> {
        self.store.read(|tx| {
            Ok(match tx.secret(id)? {
                Some(row) => secret_reach(actor, &access_of(tx, actor, &row)?),
                None => SecretReach::None,
            })
        })
    }

    /// The id of the secret `address` names for `actor`, if it sees it.
    pub fn secret_id_of(&mut self, actor: &Actor, address: &str) -> Result<String> {
        self.show_secret(actor, address).map(|i| i.id)
    }

    /// Rotations due at `now` (the managers are told until a new revision
    /// moves `next_rotation`) and revisions whose expiry lies in
    /// `(since, now]`.
    pub fn secrets_due(
        &mut self,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<(Vec<SecretDue>, Vec<SecretDue>)> {
        self.store.read(|tx| {
            let mut rotate = Vec::new();
            let mut expired = Vec::new();
            for row in tx.secrets()? {
                if let Some(due) = row.next_rotation
                    && due <= now
                {
                    rotate.push(SecretDue {
                        id: row.id.clone(),
                        revision: row.latest,
                        at: due,
                    });
                }
                for revision in tx.secret_revisions(&row.id)? {
                    if let Some(at) = revision.expires
                        && at > since
                        && at <= now
                    {
                        expired.push(SecretDue {
                            id: row.id.clone(),
                            revision: revision.revision,
                            at,
                        });
                    }
                }
            }
            Ok((rotate, expired))
        })
    }

    /// Re-seal every value and checksum under `ring`'s current key, in one
    /// transaction; answers how many values.
    pub(crate) fn reseal_all(&mut self, ring: &Keyring) -> Result<u64> {
        self.store.write(|tx| {
            let mut count: u64 = 0;
            let current = ring.current().id().to_string();
            for row in tx.secrets()? {
                for revision in tx.secret_revisions(&row.id)? {
                    let content = open_revision(tx, ring, &row.id, revision.revision)?;
                    for (key, value) in &content {
                        let sealed = ring.seal(&row.id, revision.revision, key, value)?;
                        tx.reseal_value(&row.id, revision.revision, &sealed)?;
                        count += 1;
                    }
                    let checksum = ring.checksum(&current, &row.id, plain(&content))?;
                    tx.set_secret_checksum(&row.id, revision.revision, &checksum, &current)?;
                }
            }
            Ok(count)
        })
    }
}
