//! core's model ↔ the wire types of roster-client, in one place (public
//! fields only: nothing here can see a hash, since core's `User` holds
//! none).
//!
//! Core keeps its own enums (it doesn't link the client crate) and the
//! client has its own (it doesn't link core); the matches below are the
//! only translation between them, and each is exhaustive, so a variant
//! added on either side fails to compile here until it is mapped. zbus has
//! already parsed the wire words into the client's enums by the time a
//! handler runs.

use roster_client as wire;
use roster_client::{AccountReply, AuthReply, EnvironmentInfo, GrantInfo, SessionInfo, UserInfo};
use roster_core::flows::LoginOutcome;
use roster_core::{AccountStatus, Environment, Session, User};
use std::collections::BTreeMap;

pub fn role(role: roster_core::Role) -> wire::Role {
    match role {
        roster_core::Role::Admin => wire::Role::Admin,
        roster_core::Role::User => wire::Role::User,
    }
}

pub fn role_from_wire(role: wire::Role) -> roster_core::Role {
    match role {
        wire::Role::Admin => roster_core::Role::Admin,
        wire::Role::User => roster_core::Role::User,
    }
}

pub fn state(state: roster_core::UserState) -> wire::UserState {
    match state {
        roster_core::UserState::Active => wire::UserState::Active,
        roster_core::UserState::Suspended => wire::UserState::Suspended,
        roster_core::UserState::Pending => wire::UserState::Pending,
    }
}

pub fn level(level: roster_core::Level) -> wire::Level {
    match level {
        roster_core::Level::Status => wire::Level::Status,
        roster_core::Level::Read => wire::Level::Read,
        roster_core::Level::Write => wire::Level::Write,
        roster_core::Level::Admin => wire::Level::Admin,
    }
}

pub fn level_from_wire(level: wire::Level) -> roster_core::Level {
    match level {
        wire::Level::Status => roster_core::Level::Status,
        wire::Level::Read => roster_core::Level::Read,
        wire::Level::Write => roster_core::Level::Write,
        wire::Level::Admin => roster_core::Level::Admin,
    }
}

pub fn scope(scope: roster_core::Scope) -> wire::Scope {
    match scope {
        roster_core::Scope::ReadOnly => wire::Scope::ReadOnly,
        roster_core::Scope::Full => wire::Scope::Full,
    }
}

pub fn scope_from_wire(scope: wire::Scope) -> roster_core::Scope {
    match scope {
        wire::Scope::ReadOnly => roster_core::Scope::ReadOnly,
        wire::Scope::Full => roster_core::Scope::Full,
    }
}

/// What a PAM account check answers, with the sentence for the person.
pub fn account_reply(status: AccountStatus) -> AccountReply {
    let (outcome, uid, message) = match status {
        AccountStatus::Ok { uid } => (wire::AccountOutcome::Ok, uid, String::new()),
        AccountStatus::Suspended => (
            wire::AccountOutcome::Suspended,
            0,
            "account suspended".into(),
        ),
        AccountStatus::Pending => (
            wire::AccountOutcome::Pending,
            0,
            "registration pending: a new password is required".into(),
        ),
        AccountStatus::Denied { environment, level } => (
            wire::AccountOutcome::Denied,
            0,
            format!(
                "access denied: logging in to environment {environment:?} needs the {level} level"
            ),
        ),
        AccountStatus::Offline { since } => (
            wire::AccountOutcome::Denied,
            0,
            format!(
                "access denied: this host has had no answer from its controller for longer than \
                 its offline grace (logins from the cache ended at {}): ask an admin to restore \
                 its network",
                roster_core::calendar::timestamp(since)
            ),
        ),
        AccountStatus::Unknown => (wire::AccountOutcome::Unknown, 0, String::new()),
    };
    AccountReply {
        outcome,
        uid,
        message,
    }
}

/// What a PAM authentication answers: core decided the outcome and its
/// sentence; this is only their wire form.
pub fn auth_reply(outcome: LoginOutcome) -> AuthReply {
    let message = outcome.message().to_owned();
    let (outcome, locked_until) = match outcome {
        LoginOutcome::Success => (wire::AuthOutcome::Success, 0),
        LoginOutcome::CodeAccepted => (wire::AuthOutcome::CodeAccepted, 0),
        LoginOutcome::Failed => (wire::AuthOutcome::Failed, 0),
        LoginOutcome::Locked { until, .. } => (wire::AuthOutcome::Locked, until),
        LoginOutcome::Unknown => (wire::AuthOutcome::Unknown, 0),
    };
    AuthReply {
        outcome,
        locked_until,
        message,
    }
}

pub fn grants(grants: &BTreeMap<String, roster_core::Level>) -> Vec<GrantInfo> {
    grants
        .iter()
        .map(|(environment, held)| GrantInfo {
            environment: environment.clone(),
            level: level(*held),
        })
        .collect()
}

pub fn user(u: &User) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        display_name: u.display_name.clone(),
        role: role(u.role),
        state: state(u.state),
        uid: u.uid,
        home: u.home.clone(),
        shell: u.shell.clone(),
        created: u.created,
        last_login: u.last_login.unwrap_or(0),
        password_changed: u.password_changed.unwrap_or(0),
        locked_until: u.locked_until.unwrap_or(0),
        grants: grants(&u.grants),
    }
}

pub fn token(t: &roster_core::Token) -> wire::TokenInfo {
    wire::TokenInfo {
        id: t.id.clone(),
        user: t.user.clone(),
        name: t.name.clone(),
        scope: scope(t.scope),
        created: t.created,
        last_used: t.last_used.unwrap_or(0),
        expires: t.expires.unwrap_or(0),
    }
}

pub fn session(s: &Session) -> SessionInfo {
    SessionInfo {
        id: s.id,
        user: s.user.clone(),
        uid: s.uid,
        service: s.service.clone(),
        tty: s.tty.clone(),
        remote_host: s.remote_host.clone(),
        leader_pid: s.leader_pid,
        leader_start: s.leader_start,
        started: s.started,
        ended: s.ended.unwrap_or(0),
    }
}

pub fn environment(e: &Environment, this_host: &str) -> EnvironmentInfo {
    EnvironmentInfo {
        name: e.name.clone(),
        created: e.created,
        grants: e.grants,
        this_host: e.name == this_host,
    }
}

/// A password change's footing, with the given password as core's secret
/// (the client's copy is wiped as it drops).
pub enum Current {
    SetByAdmin,
    Given(roster_core::Secret),
}

pub fn current(current: wire::CurrentPassword) -> Current {
    match current {
        wire::CurrentPassword::SetByAdmin => Current::SetByAdmin,
        wire::CurrentPassword::Given(secret) => {
            Current::Given(roster_core::Secret::new(secret.expose().to_owned()))
        }
    }
}

/// D-Bus has no "optional": an empty string means "not given".
pub fn given(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each side's word for each member is the other side's: the wire
    /// format is the one core always wrote.
    #[test]
    fn every_core_enum_maps_to_the_client_word_and_back() {
        for r in [roster_core::Role::Admin, roster_core::Role::User] {
            assert_eq!(role(r).as_str(), r.as_str());
            assert_eq!(role_from_wire(role(r)), r);
        }
        for s in [
            roster_core::UserState::Active,
            roster_core::UserState::Suspended,
            roster_core::UserState::Pending,
        ] {
            assert_eq!(state(s).as_str(), s.as_str());
        }
        for l in roster_core::Level::ALL {
            assert_eq!(level(l).as_str(), l.as_str());
            assert_eq!(level_from_wire(level(l)), l);
        }
        for s in [roster_core::Scope::ReadOnly, roster_core::Scope::Full] {
            assert_eq!(scope(s).as_str(), s.as_str());
            assert_eq!(scope_from_wire(scope(s)), s);
        }
        assert_eq!(wire::Role::ALL.len(), 2);
        assert_eq!(wire::UserState::ALL.len(), 3);
        assert_eq!(wire::Level::ALL.len(), roster_core::Level::ALL.len());
        assert_eq!(wire::Scope::ALL.len(), 2);
    }
}
