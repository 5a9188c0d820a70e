//! core's model → the wire types of roster-client (public fields only:
//! nothing here can see a hash, since core's `User` holds none).

use roster_client::{EnvironmentInfo, GrantInfo, SessionInfo, UserInfo};
use roster_core::{Environment, Level, Session, User};
use std::collections::BTreeMap;

pub fn grants(grants: &BTreeMap<String, Level>) -> Vec<GrantInfo> {
    grants
        .iter()
        .map(|(environment, level)| GrantInfo {
            environment: environment.clone(),
            level: level.as_str().to_owned(),
        })
        .collect()
}

pub fn user(u: &User) -> UserInfo {
    UserInfo {
        name: u.name.clone(),
        display_name: u.display_name.clone(),
        role: u.role.as_str().to_owned(),
        state: u.state.as_str().to_owned(),
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

/// D-Bus has no "optional": an empty string means "not given".
pub fn given(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_owned())
    }
}
