//! The model's rules, each in one place: grant and revoke semantics, uid
//! allocation, and the safety rules (nobody acts on themselves where that
//! could lock them out; the last active admin stays).
//!
//! Pure functions over values; [`crate::roster`] calls them inside its
//! transactions with what the store answered.

use crate::authz::Actor;
use crate::error::Error;
use crate::level::Level;
use crate::model::{Role, User, UserState};
use std::collections::BTreeSet;

/// `grant` is additive: at or below the level held changes nothing, a
/// higher one raises it.
pub fn after_grant(held: Option<Level>, level: Level) -> Level {
    held.map_or(level, |held| held.max(level))
}

/// `revoke USER LEVEL` removes LEVEL and everything above it: a holder of
/// LEVEL or more keeps the level just below LEVEL (nothing below
/// `status`); a holder of less keeps what they have. `revoke USER` (no
/// level) removes everything in the environment.
pub fn after_revoke(held: Option<Level>, level: Option<Level>) -> Option<Level> {
    match (held, level) {
        (None, _) | (Some(_), None) => None,
        (Some(held), Some(level)) if held >= level => level.below(),
        (Some(held), Some(_)) => Some(held),
    }
}

/// The name the actor acts as, if it is a Roster user (directly or by
/// token).
pub fn actor_name(actor: &Actor) -> Option<&str> {
    match actor {
        Actor::User(user) | Actor::Token { user, .. } => Some(&user.name),
        Actor::Root | Actor::Stranger { .. } => None,
    }
}

/// Nobody suspends or deletes themselves or changes their own role or
/// grants: one slip would lock them out with nobody to undo it. Root
/// isn't a Roster user, so root may do all of these to anyone.
pub fn not_self(actor: &Actor, target: &str, what: &str) -> crate::Result<()> {
    if actor_name(actor) == Some(target) {
        return Err(Error::Conflict(format!(
            "you can't {what} yourself: ask another admin (or run with sudo)"
        )));
    }
    Ok(())
}

/// The last active admin (role admin, state active) can't be deleted,
/// suspended, demoted or reset to pending: someone must be left to run
/// Roster without root.
pub fn not_last_admin(target: &User, active_admins: u32, what: &str) -> crate::Result<()> {
    if target.role == Role::Admin && target.state == UserState::Active && active_admins <= 1 {
        return Err(Error::Conflict(format!(
            "can't {what} {:?}: they are the last active Roster admin; make another user admin first (`roster users edit NAME --set-role admin`)",
            target.name
        )));
    }
    Ok(())
}

/// "May log in here": an active user who is a role admin or holds at
/// least `login_level` in this host's `environment`. The one answer for
/// PAM's account check and for the SSH keys sshd may accept.
pub fn may_log_in_here(user: &User, environment: &str, login_level: Level) -> bool {
    user.state == UserState::Active
        && (user.role == Role::Admin
            || user
                .level_in(environment)
                .is_some_and(|held| held >= login_level))
}

/// The lowest uid in `min..=max` that no user holds, no deleted user ever
/// held (`taken`, ascending), and no local account uses as a uid or gid
/// (the private group's gid is the uid).
pub fn allocate_uid(
    min: u32,
    max: u32,
    taken: &[u32],
    local_ids: &BTreeSet<u32>,
) -> crate::Result<u32> {
    let taken: BTreeSet<u32> = taken.iter().copied().collect();
    let mut candidate = min;
    loop {
        if !taken.contains(&candidate) && !local_ids.contains(&candidate) {
            return Ok(candidate);
        }
        if candidate >= max {
            return Err(Error::Conflict(format!(
                "no free uid left in {min}–{max} (uids are never reused after a delete): widen `uid_max` in the config"
            )));
        }
        candidate += 1;
    }
}
