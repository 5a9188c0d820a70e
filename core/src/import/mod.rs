//! Adopting a standalone host's own accounts (`roster users import`,
//! DESIGN.md "Adopting existing accounts"): the Roster side of it.
//!
//! The CLI, as root, reads the host's files (or a CSV/JSON list), chooses
//! the human accounts and edits the local files; rosterd hands each batch
//! here. Each record is checked by the model's own rules (name, display
//! name, home, shell, the hash: argon2id or an adopted crypt hash, see
//! [`crate::legacy_hash`]); then each user is committed in a transaction
//! of its own (a refused record skipped), so an interruption leaves whole
//! users. The batch's commits are synced once, at its end, before the
//! answer ([`crate::store::Backend::defer_sync`]): an fsync per commit
//! (~4.5 ms here) made 10,000 users take ~58 s; and the CLI removes a
//! user's local entries only after that answer. Core's local-files rule is checked
//! against the host's files without the batch's own local entries
//! ([`ImportBatch::leaving`]: they are removed by the CLI once the user is
//! committed). A record whose user exists already with the same crypt hash
//! (or, without one, the same home) is the same account imported by an
//! earlier, interrupted run: answered [`ImportOutcome::AlreadyImported`],
//! so a re-run completes without duplicates.
//!
//! Not here: reading or writing `/etc` (rosterd can't under its unit),
//! the NSS snapshot (one write per batch: the commit mark is drained after
//! the whole call), verifying crypt hashes (rosterd's libcrypt).

use crate::Result;
use crate::authz::{Actor, Operation, authorize};
use crate::error::Error;
use crate::legacy_hash::{HashKind, LegacyKind, check_stored_hash};
use crate::level::Level;
use crate::local_files;
use crate::model::{Role, User, UserState};
use crate::roster::{IssuedCode, Roster, issue_code};
use crate::rules;
use crate::ssh_key::PublicKey;
use crate::store::{KeyRow, Tx};
use crate::validate;
use std::collections::{BTreeMap, BTreeSet};

/// The most records one call takes: the CLI sends a big import in
/// batches, each committed user by user (a batch is one snapshot write).
pub const MAX_BATCH: usize = 1000;

/// One local account to adopt, as the CLI read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRecord {
    /// Its Roster name (after any `--rename`).
    pub name: String,
    pub display_name: String,
    pub home: String,
    pub shell: String,
    /// The crypt (or argon2id) hash, without a lock's `!`; None for `*`
    /// or an empty field: the user is pending.
    pub hash: Option<String>,
    /// The entry was locked (`!` before the hash): imported suspended.
    pub locked: bool,
    /// The level given in this host's environment.
    pub level: Level,
    /// `authorized_keys` lines; a line Roster refuses is skipped, with
    /// the reason in [`ImportOutcome::Imported`]'s `key_problems`.
    pub ssh_keys: Vec<String>,
}

/// A batch of records and how to take them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportBatch {
    pub records: Vec<ImportRecord>,
    /// Names of local users and groups the CLI removes with this import
    /// (the whole run's, not only this batch's): core's local-files rule
    /// doesn't count them.
    pub leaving: Vec<String>,
    /// Issue a registration code to each user imported pending (else they
    /// wait for `roster users password USER --reset`).
    pub issue_codes: bool,
}

/// What became of one record.
#[derive(Debug)]
pub enum ImportOutcome {
    Imported {
        user: User,
        code: Option<IssuedCode>,
        keys: u32,
        key_problems: Vec<String>,
        /// What `--undo` compares to decide the user is unchanged.
        fingerprint: String,
    },
    /// Imported by an earlier run (an interrupted one): nothing done.
    AlreadyImported {
        user: User,
        fingerprint: String,
    },
    Refused {
        reason: String,
    },
}

/// One imported user `--undo` asks to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedUser {
    pub name: String,
    pub uid: u32,
    pub fingerprint: String,
}

/// What `--undo` did with one imported user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoOutcome {
    Deleted {
        uid: u32,
    },
    /// Changed since the import (or gone): kept, with the reason.
    Kept {
        reason: String,
    },
}

/// What `--undo` compares: everything an admin or the user could have
/// changed since the import but the hash (a login's argon2id upgrade is
/// no change: the old password still opens the restored local entry).
pub fn fingerprint(user: &User) -> String {
    format!(
        "{:?}",
        (
            user.uid,
            &user.display_name,
            &user.home,
            &user.shell,
            user.state.as_str(),
            user.role.as_str(),
            &user.grants,
            user.password_changed,
        )
    )
}

/// Hands out the lowest free uids of a batch in turn, from one read of
/// the taken ones ([`rules::allocate_uid`]'s rule, without its read).
struct UidCursor {
    taken: BTreeSet<u32>,
    next: u32,
    min: u32,
    max: u32,
}

impl UidCursor {
    fn next_free(&mut self, local_ids: &BTreeSet<u32>) -> Result<u32> {
        let mut candidate = self.next;
        loop {
            if !self.taken.contains(&candidate) && !local_ids.contains(&candidate) {
                self.taken.insert(candidate);
                self.next = candidate.saturating_add(1);
                return Ok(candidate);
            }
            if candidate >= self.max {
                return Err(Error::Conflict(format!(
                    "no free uid left up to {} (uids are never reused after a delete): widen `uid_max` in the config",
                    self.max
                )));
            }
            candidate += 1;
        }
    }
}

/// The host's local user and group names without `leaving`.
fn local_names(roster: &Roster, leaving: &BTreeSet<&str>) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in local_files::passwd(&roster.config.passwd_file)? {
        names.insert(entry.name);
    }
    for entry in local_files::group(&roster.config.group_file)? {
        names.insert(entry.name);
    }
    Ok(names
        .into_iter()
        .filter(|n| !leaving.contains(n.as_str()))
        .collect())
}

impl Roster {
    /// What kind of password hash `name` has, for `roster users show`
    /// (None: no password, a pending user). Authorized as showing the user.
    pub fn password_kind(&mut self, actor: &Actor, name: &str) -> Result<Option<HashKind>> {
        let user = self.show_user(actor, name)?;
        let hash = self.store.read(|tx| tx.password_hash(user.uid))?;
        Ok(hash.as_deref().and_then(HashKind::of))
    }

    /// One stored adopted crypt hash of the kind most adopted hashes have,
    /// if any remains: rosterd makes its dummy of the same kind from it.
    pub fn legacy_hash_sample(&mut self) -> Result<Option<String>> {
        let now = self.now();
        self.store.read(|tx| {
            let mut by_kind: BTreeMap<LegacyKind, (usize, String)> = BTreeMap::new();
            for user in tx.users(now)? {
                if let Some(hash) = tx.password_hash(user.uid)?
                    && let Some(kind) = LegacyKind::of(&hash)
                {
                    by_kind.entry(kind).or_insert((0, hash)).0 += 1;
                }
            }
            Ok(by_kind
                .into_values()
                .max_by_key(|(count, _)| *count)
                .map(|(_, hash)| hash))
        })
    }

    /// Adopt a batch of local accounts: each record checked, then each
    /// user committed in a transaction of its own, the batch synced once
    /// at its end (see the module's comment).
    /// Root only, standalone hosts only.
    pub fn import_users(
        &mut self,
        actor: &Actor,
        batch: ImportBatch,
    ) -> Result<Vec<ImportOutcome>> {
        authorize(actor, &Operation::ImportUsers)?;
        if self.fleet_host {
            return Err(Error::Conflict(
                "this host is enrolled in a fleet: adopt its local accounts with \
                 `roster hosts join --adopt` instead of `roster users import`"
                    .into(),
            ));
        }
        if batch.records.is_empty() {
            // The CLI's question "may this host import?", asked before it
            // backs up or touches a file: answered above, nothing written.
            return Ok(Vec::new());
        }
        if batch.records.len() > MAX_BATCH {
            return Err(Error::InvalidArgument(format!(
                "{} records in one call: send at most {MAX_BATCH} at a time",
                batch.records.len()
            )));
        }
        let leaving: BTreeSet<&str> = batch.leaving.iter().map(String::as_str).collect();
        let local = local_names(self, &leaving)?;
        let local_ids = {
            let mut ids = BTreeSet::new();
            for entry in local_files::passwd(&self.config.passwd_file)? {
                ids.extend(entry.id);
                ids.extend(entry.gid);
            }
            for entry in local_files::group(&self.config.group_file)? {
                ids.extend(entry.id);
            }
            ids
        };
        // The batch's uids come from one read of the taken ones (a read
        // per user is O(users²) at 10,000); each user's transaction still
        // checks its uid is free.
        let (uid_min, uid_max) = (self.config.uid_min, self.config.uid_max);
        let taken = self.store.read(|tx| tx.taken_uids(uid_min, uid_max))?;
        let mut uids = UidCursor {
            taken: taken.into_iter().collect(),
            next: uid_min,
            min: uid_min,
            max: uid_max,
        };
        // Each record checked before any transaction; then each user in
        // a transaction of its own, synced together at the end.
        let checked: Vec<_> = batch
            .records
            .into_iter()
            .map(|record| {
                let keys = self.check_record(&record, &local);
                (record, keys)
            })
            .collect();
        let now = self.now();
        let environment = self.config.environment.clone();
        let ttl = self.config.registration.ttl;
        let issue_codes = batch.issue_codes;
        self.store.defer_sync(true)?;
        let mut outcomes = Vec::with_capacity(checked.len());
        let mut failed = None;
        for (record, keys) in checked {
            let outcome = match keys {
                Err(e) => Ok(ImportOutcome::Refused {
                    reason: e.to_string(),
                }),
                Ok(keys) => self.store.write(|tx| {
                    import_one(
                        tx,
                        record,
                        keys,
                        &local_ids,
                        &mut uids,
                        (&environment, now, ttl, issue_codes),
                    )
                }),
            };
            match outcome {
                Ok(outcome) => outcomes.push(outcome),
                // The users before it are committed; the CLI learns the
                // batch failed and leaves their local entries, which a
                // re-run finds "already imported" and removes.
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let synced = self.store.defer_sync(false);
        if let Some(e) = failed {
            return Err(e);
        }
        synced?;
        Ok(outcomes)
    }

    /// The model's rules for one record, before any transaction; answers
    /// its keys parsed (the ones Roster refuses, as sentences).
    fn check_record(
        &self,
        record: &ImportRecord,
        local: &BTreeSet<String>,
    ) -> Result<(Vec<PublicKey>, Vec<String>)> {
        validate::user_name_syntax(&record.name)?;
        if validate::RESERVED_NAMES.contains(&record.name.as_str())
            || record.name == self.config.admin_group
        {
            return Err(Error::InvalidArgument(format!(
                "the name {:?} is reserved (root, admin, wheel, sudo and the admin group {:?} are): \
                 import it under another name with --rename {}=NEW",
                record.name, self.config.admin_group, record.name
            )));
        }
        if local.contains(&record.name) {
            return Err(Error::InvalidArgument(format!(
                "{:?} stays a local user or group name after this import (a group with other \
                 members, or an account not imported): import it under another name with \
                 --rename {}=NEW",
                record.name, record.name
            )));
        }
        validate::display_name(&record.display_name)?;
        validate::home(&record.home)?;
        validate::shell(&record.shell)?;
        if let Some(hash) = &record.hash {
            check_stored_hash(hash)?;
        }
        let (mut keys, mut problems) = (Vec::new(), Vec::new());
        for (n, line) in record.ssh_keys.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match PublicKey::parse(line) {
                Ok(key)
                    if keys
                        .iter()
                        .any(|k: &PublicKey| k.fingerprint() == key.fingerprint()) => {}
                Ok(key) => keys.push(key),
                Err(e) => problems.push(format!("key line {}: {e}", n + 1)),
            }
        }
        Ok((keys, problems))
    }

    /// `--undo`: delete each imported user that is unchanged since the
    /// import (same [`fingerprint`]); keep, with the reason, the others.
    /// Root only.
    pub fn remove_imported(
        &mut self,
        actor: &Actor,
        users: Vec<ImportedUser>,
    ) -> Result<Vec<(String, UndoOutcome)>> {
        authorize(actor, &Operation::ImportUsers)?;
        let now = self.now();
        let mut out = Vec::with_capacity(users.len());
        for imported in users {
            let outcome = self.store.write(|tx| {
                let Some(user) = tx.user(&imported.name, now)? else {
                    return Ok(UndoOutcome::Kept {
                        reason: "no longer in Roster".into(),
                    });
                };
                if user.uid != imported.uid {
                    return Ok(UndoOutcome::Kept {
                        reason: format!(
                            "the Roster user of that name now has uid {}, not the imported {}",
                            user.uid, imported.uid
                        ),
                    });
                }
                if fingerprint(&user) != imported.fingerprint {
                    return Ok(UndoOutcome::Kept {
                        reason:
                            "changed since the import (profile, state, role, grants or password)"
                                .into(),
                    });
                }
                if let Err(e) = rules::not_last_admin(&user, tx.active_admins()?, "delete") {
                    return Ok(UndoOutcome::Kept {
                        reason: e.to_string(),
                    });
                }
                tx.revoke_tokens(user.uid, now)?;
                tx.delete_user(user.uid, &user.name, now)?;
                Ok(UndoOutcome::Deleted { uid: user.uid })
            })?;
            out.push((imported.name, outcome));
        }
        Ok(out)
    }
}

/// One checked record in its own transaction: a refusal (the name taken
/// by another account, no uid left) is an outcome; a store error rolls
/// the user back and fails the batch from there.
fn import_one(
    tx: &Tx<'_>,
    record: ImportRecord,
    (keys, key_problems): (Vec<PublicKey>, Vec<String>),
    local_ids: &BTreeSet<u32>,
    uids: &mut UidCursor,
    (environment, now, ttl, issue_codes): (
        &str,
        crate::clock::Timestamp,
        std::time::Duration,
        bool,
    ),
) -> Result<ImportOutcome> {
    let refused = |e: Error| ImportOutcome::Refused {
        reason: e.to_string(),
    };
    if let Some(existing) = tx.user(&record.name, now)? {
        return Ok(already_imported(tx, existing, &record).unwrap_or_else(refused));
    }
    let candidate = match uids.next_free(local_ids) {
        Ok(uid) => uid,
        Err(e) => return Ok(refused(e)),
    };
    // Taken since the batch's read (another writer): the full rule.
    let uid = if tx.user_by_uid(candidate, now)?.is_none() && !tx.is_retired(candidate)? {
        candidate
    } else {
        let taken = tx.taken_uids(uids.min, uids.max)?;
        match rules::allocate_uid(uids.min, uids.max, &taken, local_ids) {
            Ok(uid) => uid,
            Err(e) => return Ok(refused(e)),
        }
    };
    let state = match (&record.hash, record.locked) {
        (_, true) => UserState::Suspended,
        (Some(_), false) => UserState::Active,
        (None, false) => UserState::Pending,
    };
    let mut user = User {
        name: record.name.clone(),
        display_name: record.display_name.clone(),
        role: Role::User,
        state,
        uid,
        home: record.home.clone(),
        shell: record.shell.clone(),
        created: now,
        last_login: None,
        password_changed: record.hash.as_ref().map(|_| now),
        locked_until: None,
        grants: Default::default(),
    };
    tx.insert_user(&user, record.hash.as_deref())?;
    tx.set_grant(uid, environment, record.level)?;
    user.grants.insert(environment.to_owned(), record.level);
    let code = match (state, issue_codes) {
        (UserState::Pending, true) => Some(issue_code(tx, uid, now, ttl)?),
        _ => None,
    };
    for key in &keys {
        tx.insert_key(
            uid,
            &KeyRow {
                key_type: key.key_type().name().to_string(),
                blob: key.blob().to_vec(),
                comment: key.comment().to_string(),
                fingerprint: key.fingerprint().to_string(),
                added: now,
            },
        )?;
    }
    let fingerprint = fingerprint(&user);
    Ok(ImportOutcome::Imported {
        user,
        code,
        keys: u32::try_from(keys.len()).unwrap_or(u32::MAX),
        key_problems,
        fingerprint,
    })
}

/// A record whose name exists in Roster already: the same account from an
/// earlier run (its crypt hash, salt and all, still stored; or, without a
/// hash, the same home and shell), or a refusal.
fn already_imported(tx: &Tx<'_>, existing: User, record: &ImportRecord) -> Result<ImportOutcome> {
    let same = match &record.hash {
        Some(hash) => tx.password_hash(existing.uid)?.as_deref() == Some(hash.as_str()),
        None => {
            existing.state != UserState::Active
                && existing.home == record.home
                && existing.shell == record.shell
        }
    };
    if same {
        let fingerprint = fingerprint(&existing);
        return Ok(ImportOutcome::AlreadyImported {
            user: existing,
            fingerprint,
        });
    }
    Err(Error::AlreadyExists(format!(
        "a Roster user {:?} exists already (not this account): import it under another name \
         with --rename {}=NEW",
        record.name, record.name
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
