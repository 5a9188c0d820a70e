//! A joining host's own users (`roster hosts join --adopt | --discard`,
//! DESIGN.md "Enrollment"), taken in the transaction that burns the join
//! token and adds the host: a refusal leaves the store, the token and the
//! host as they were.
//!
//! Adopting moves each user with its uid, hash, keys and its grant in the
//! environment the host served, which becomes a grant in the environment
//! it joins. A uid or name the fleet has already (a user, the retired
//! list, a local account another host reported) refuses the whole join,
//! naming every clash. The join token speaks for one environment, so a
//! host can't bring what reaches beyond it: a role admin arrives as an
//! `admin` holder of the joined environment, and grants in other
//! environments stay behind; each said in the answer, never silently.
//!
//! Discarding retires every uid the host used (its users' and the ones
//! it retired itself): nobody in the fleet inherits their files there. A
//! uid a fleet user holds already refuses the join: that user would.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roster_core::clock::Timestamp;
use roster_core::error::Error;
use roster_core::level::Level;
use roster_core::model::{Role, User, UserState};
use roster_core::ssh_key::PublicKey;
use roster_core::store::{KeyRow, Transaction};
use roster_core::{password, validate};
use roster_fleet_protocol::{AdoptedUser, MAX_ADOPTED_USERS, RetiredUid, Standalone};
use roster_store_postgres::PgTx;
use roster_store_postgres::fleet::AuditRow;
use std::collections::{BTreeMap, BTreeSet};

/// Where the users go: the host joining, the environment its token is
/// for, the fleet's uid range.
pub struct Joining<'a> {
    pub host: &'a str,
    pub environment: &'a str,
    pub person: &'a str,
    pub uid_min: u32,
    pub uid_max: u32,
    pub now: Timestamp,
}

/// Checks the host's count before any work: [`MAX_ADOPTED_USERS`].
pub fn check_size(standalone: &Standalone) -> roster_core::Result<()> {
    let users = match standalone {
        Standalone::Adopt { users, .. } => users.len(),
        Standalone::Discard { uids } => uids.len(),
    };
    if users > MAX_ADOPTED_USERS {
        return Err(Error::InvalidArgument(format!(
            "the host has {users} users of its own; at most {MAX_ADOPTED_USERS} move in one join: \
             delete some, or keep the host standalone"
        )));
    }
    Ok(())
}

/// Adopts or discards `standalone` for `joining`: the answer's sentences
/// (what moved, what was retired, what stayed behind and why).
pub fn take(
    tx: &PgTx<'_>,
    standalone: &Standalone,
    joining: &Joining<'_>,
) -> roster_core::Result<Vec<String>> {
    check_size(standalone)?;
    match standalone {
        Standalone::Adopt {
            environment,
            users,
            retired,
        } => adopt(tx, environment, users, retired, joining),
        Standalone::Discard { uids } => discard(tx, uids, joining),
    }
}

/// One adopted user, checked, as the store will hold it.
struct Planned {
    user: User,
    hash: Option<String>,
    keys: Vec<KeyRow>,
}

fn adopt(
    tx: &PgTx<'_>,
    host_environment: &str,
    users: &[AdoptedUser],
    retired: &[RetiredUid],
    joining: &Joining<'_>,
) -> roster_core::Result<Vec<String>> {
    let mut refusals = Vec::new();
    let mut notes = Vec::new();
    let mut planned = Vec::new();
    let mut names = BTreeSet::new();
    let mut uids = BTreeSet::new();
    for sent in users {
        if !names.insert(sent.name.as_str()) || !uids.insert(sent.uid) {
            refusals.push(format!("{}: sent twice", sent.name));
            continue;
        }
        match plan(sent, host_environment, joining, &mut notes) {
            Ok(user) => {
                refusals.extend(clashes(tx, sent, joining)?);
                planned.push(user);
            }
            Err(why) => refusals.push(format!("{}: {why}", sent.name)),
        }
    }
    for gone in retired {
        if let Some(holder) = tx.user_by_uid(gone.uid, joining.now)? {
            refusals.push(inherits(gone, &holder));
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Conflict(format!(
            "this host's users can't move to the fleet, so nothing changed (the join token is still good): {}. \
             Rename or delete them on this host and join again, or join with --discard",
            refusals.join("; ")
        )));
    }
    for Planned { user, hash, keys } in &planned {
        tx.insert_user(user, hash.as_deref())?;
        for key in keys {
            tx.insert_key(user.uid, key)?;
        }
        tx.append_audit(&AuditRow {
            at: joining.now,
            person: joining.person.to_owned(),
            host: joining.host.to_owned(),
            request_id: None,
            action: "users.adopt".into(),
            target: user.name.clone(),
            detail: format!(
                "uid={} state={} keys={} from host {}",
                user.uid,
                user.state,
                keys.len(),
                joining.host
            ),
        })?;
    }
    let retired_count = retire(tx, retired, joining)?;
    if !planned.is_empty() {
        let adopted: Vec<&str> = planned.iter().map(|p| p.user.name.as_str()).collect();
        notes.insert(
            0,
            format!(
                "adopted {} user(s) with their uids, password hashes and keys: {}",
                adopted.len(),
                adopted.join(", ")
            ),
        );
    }
    let pending: Vec<&str> = planned
        .iter()
        .filter(|p| p.user.state == UserState::Pending)
        .map(|p| p.user.name.as_str())
        .collect();
    if !pending.is_empty() {
        notes.push(format!(
            "pending (no password yet), their registration codes stay behind: {}; \
             give each a new code with `roster users password NAME --reset`",
            pending.join(", ")
        ));
    }
    if retired_count > 0 {
        notes.push(format!(
            "{retired_count} uid(s) this host had retired joined the fleet's retired list"
        ));
    }
    Ok(notes)
}

/// `sent` as the fleet will hold it, or why it can't be. Grants in the
/// host's environment move to the joined one; `notes` gets what changes
/// on the way (a role admin, grants elsewhere).
fn plan(
    sent: &AdoptedUser,
    host_environment: &str,
    joining: &Joining<'_>,
    notes: &mut Vec<String>,
) -> Result<Planned, String> {
    let text = |e: Error| e.to_string();
    validate::user_name_syntax(&sent.name).map_err(text)?;
    if validate::RESERVED_NAMES.contains(&sent.name.as_str()) {
        return Err(format!("the name {:?} is reserved", sent.name));
    }
    validate::display_name(&sent.display_name).map_err(text)?;
    validate::home(&sent.home).map_err(text)?;
    validate::shell(&sent.shell).map_err(text)?;
    let role: Role = sent
        .role
        .parse()
        .map_err(|_| format!("unknown role {:?}", sent.role))?;
    let state: UserState = sent
        .state
        .parse()
        .map_err(|_| format!("unknown state {:?}", sent.state))?;
    if let Some(hash) = &sent.password_hash {
        password::check_phc(hash).map_err(text)?;
    }
    if !(joining.uid_min..=joining.uid_max).contains(&sent.uid) {
        return Err(format!(
            "uid {} is outside the fleet's uids {}–{} (other hosts never reported their local ids there)",
            sent.uid, joining.uid_min, joining.uid_max
        ));
    }
    let mut grants = BTreeMap::new();
    let mut left_behind = Vec::new();
    for (environment, level) in &sent.grants {
        let level: Level = level
            .parse()
            .map_err(|_| format!("unknown level {level:?} in {environment}"))?;
        if environment == host_environment {
            grants.insert(joining.environment.to_owned(), level);
        } else {
            left_behind.push(format!("{environment} ({level})"));
        }
    }
    if !left_behind.is_empty() {
        notes.push(format!(
            "{}'s grants in other environments stay behind (a joining host speaks for {:?} only): {}",
            sent.name,
            joining.environment,
            left_behind.join(", ")
        ));
    }
    let role = if role == Role::Admin {
        notes.push(format!(
            "{} was a role admin of this host: it is an `admin` holder of {:?} now, not an admin of the whole fleet \
             (a fleet admin can make it one: `roster users edit {} --set-role admin`)",
            sent.name, joining.environment, sent.name
        ));
        grants.insert(joining.environment.to_owned(), Level::Admin);
        Role::User
    } else {
        role
    };
    let mut keys = Vec::new();
    for key in &sent.keys {
        let blob = STANDARD
            .decode(&key.blob)
            .map_err(|_| format!("a key ({}) is not base64", key.key_type))?;
        let checked = PublicKey::from_blob(&key.key_type, &blob, &key.comment).map_err(text)?;
        keys.push(KeyRow {
            key_type: checked.key_type().name().to_owned(),
            blob,
            comment: checked.comment().to_owned(),
            fingerprint: checked.fingerprint().to_owned(),
            added: key.added,
        });
    }
    Ok(Planned {
        user: User {
            name: sent.name.clone(),
            display_name: sent.display_name.clone(),
            role,
            state,
            uid: sent.uid,
            home: sent.home.clone(),
            shell: sent.shell.clone(),
            created: sent.created,
            last_login: None,
            password_changed: sent.password_changed,
            locked_until: None,
            grants,
        },
        hash: sent.password_hash.clone(),
        keys,
    })
}

/// What in the fleet `sent`'s name or uid clashes with, a sentence each.
fn clashes(
    tx: &PgTx<'_>,
    sent: &AdoptedUser,
    joining: &Joining<'_>,
) -> roster_core::Result<Vec<String>> {
    let mut found = Vec::new();
    if let Some(holder) = tx.user_by_uid(sent.uid, joining.now)? {
        found.push(format!(
            "{}: uid {} is the fleet user {}'s",
            sent.name, sent.uid, holder.name
        ));
    } else if tx.is_retired(sent.uid)? {
        found.push(format!(
            "{}: uid {} is on the fleet's retired list (a deleted user's files may carry it)",
            sent.name, sent.uid
        ));
    }
    if let Some(holder) = tx.user(&sent.name, joining.now)?
        && holder.uid != sent.uid
    {
        found.push(format!(
            "{}: the name is the fleet user with uid {}",
            sent.name, holder.uid
        ));
    }
    for (host, local) in tx.reported_collisions(&sent.name, sent.uid)? {
        if host != joining.host {
            found.push(format!(
                "{}: host {host} has a local {} {} with id {}",
                sent.name,
                local.kind.as_str(),
                local.name,
                local.id
            ));
        }
    }
    Ok(found)
}

fn inherits(gone: &RetiredUid, holder: &User) -> String {
    format!(
        "uid {} ({} on this host) is the fleet user {}'s: their files here would become {}'s; \
         chown them to another uid first",
        gone.uid, gone.name, holder.name, holder.name
    )
}

/// Adds `uids` to the fleet's retired list (a uid on it already stays as
/// it was): how many were new.
fn retire(tx: &PgTx<'_>, uids: &[RetiredUid], joining: &Joining<'_>) -> roster_core::Result<usize> {
    let mut added = 0;
    for gone in uids {
        if tx.retire_uid(gone.uid, &gone.name, joining.now)? {
            added += 1;
        }
    }
    Ok(added)
}

fn discard(
    tx: &PgTx<'_>,
    uids: &[RetiredUid],
    joining: &Joining<'_>,
) -> roster_core::Result<Vec<String>> {
    let mut refusals = Vec::new();
    for gone in uids {
        if let Some(holder) = tx.user_by_uid(gone.uid, joining.now)? {
            refusals.push(inherits(gone, &holder));
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Conflict(format!(
            "this host's uids can't be retired in the fleet, so nothing changed (the join token is still good): {}",
            refusals.join("; ")
        )));
    }
    retire(tx, uids, joining)?;
    let names: Vec<&str> = uids
        .iter()
        .filter(|gone| !gone.name.is_empty())
        .map(|gone| gone.name.as_str())
        .collect();
    tx.append_audit(&AuditRow {
        at: joining.now,
        person: joining.person.to_owned(),
        host: joining.host.to_owned(),
        request_id: None,
        action: "users.discard".into(),
        target: joining.host.to_owned(),
        detail: format!(
            "retired uids {}",
            uids.iter()
                .map(|gone| gone.uid.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    })?;
    Ok(vec![format!(
        "discarded this host's users ({}): their {} uid(s) joined the fleet's retired list, never handed out again",
        if names.is_empty() {
            "none by name".to_owned()
        } else {
            names.join(", ")
        },
        uids.len()
    )])
}
