//! Changes made from an enrolled host (DESIGN.md "Writes and failures"):
//! the host's database is the fleet's cache, so a change goes to the
//! controller, made there by core's rules for the person whose credential
//! comes with it (the token or `roster login` session this connection
//! presented; root on a host is nobody at the controller). The change
//! comes back through the feed like any other.
//!
//! Each change carries a request id made once and kept across retries: a
//! request that went out without an answer is sent again with the same
//! id for up to [`RETRY_FOR`] ("store failing over, retrying" when the
//! controller says so), then "outcome unknown". Nothing sent at all is
//! "controller unreachable: nothing changed". Never queued for later.

use super::online::request_id;
use crate::daemon::{Call, Daemon, Result};
use roster_client::RosterError;
use roster_core::Secret;
use roster_core::level::Level;
use roster_core::model::{Role, User, UserState};
use roster_fleet_agent::protocol::{Credential, Op, OpsAnswer, OpsRequest, UserView};
use roster_fleet_agent::{AgentError, ErrorCode};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a sent change without an answer is retried.
pub const RETRY_FOR: Duration = Duration::from_secs(60);

/// The D-Bus actions that change the fleet's data: on an enrolled host
/// each goes to the controller, or is refused when it isn't forwarded
/// (never made in the cache, where the next batch would undo it).
pub const FLEET_CHANGES: &[&str] = &[
    "users.create",
    "users.edit",
    "users.password",
    "users.password-reset",
    "users.delete",
    "users.suspend",
    "users.enable",
    "users.unlock",
    "users.grant",
    "users.revoke",
    "users.register",
    "environments.add",
    "environments.remove",
    "tokens.create",
    "tokens.rename",
    "tokens.delete",
    "keys.add",
    "keys.remove",
    "pam.chauthtok",
];

/// The changes an enrolled host sends to its controller (any other of
/// [`FLEET_CHANGES`] would be refused there).
pub const FORWARDED: &[&str] = &[
    "users.register",
    "environments.add",
    "environments.remove",
    "tokens.create",
    "tokens.rename",
    "tokens.delete",
    "keys.add",
    "keys.remove",
    "users.create",
    "users.edit",
    "pam.chauthtok",
    "users.password",
    "users.password-reset",
    "users.delete",
    "users.suspend",
    "users.enable",
    "users.unlock",
    "users.grant",
    "users.revoke",
];

/// The refusal for a change this version doesn't yet make through the
/// controller.
pub fn not_forwarded(action: &str) -> RosterError {
    RosterError::Conflict(format!(
        "this host is enrolled with a controller and this version can't yet send {action} to it: \
         make the change from a host that can, or at the controller's store; nothing changed"
    ))
}

fn refused(code: ErrorCode, message: String) -> RosterError {
    match code {
        ErrorCode::NotFound => RosterError::NotFound(message),
        ErrorCode::Forbidden | ErrorCode::Unauthenticated | ErrorCode::Revoked => {
            RosterError::PermissionDenied(message)
        }
        ErrorCode::Conflict => RosterError::Conflict(message),
        ErrorCode::BadRequest | ErrorCode::TooLarge | ErrorCode::ProtocolUnsupported => {
            RosterError::InvalidArgument(message)
        }
        ErrorCode::TooManyRequests => RosterError::Locked(message),
        ErrorCode::CursorTooOld
        | ErrorCode::EpochChanged
        | ErrorCode::FailingOver
        | ErrorCode::Unavailable
        | ErrorCode::Internal => RosterError::Unavailable(message),
    }
}

pub fn parse<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
    value.parse().map_err(|_| {
        RosterError::Unavailable(format!(
            "the controller answered an unknown {what} {value:?}: is it newer than this rosterd?"
        ))
    })
}

/// A user as the controller showed it, in core's terms.
pub fn user_of(view: &UserView) -> Result<User> {
    let mut grants = BTreeMap::new();
    for (environment, level) in &view.grants {
        grants.insert(environment.clone(), parse::<Level>("level", level)?);
    }
    Ok(User {
        name: view.name.clone(),
        display_name: view.display_name.clone(),
        role: parse::<Role>("role", &view.role)?,
        state: parse::<UserState>("state", &view.state)?,
        uid: view.uid,
        home: view.home.clone(),
        shell: view.shell.clone(),
        created: view.created,
        last_login: view.last_login,
        password_changed: view.password_changed,
        locked_until: view.locked_until,
        grants,
    })
}

impl Daemon {
    /// Whether this call's change goes to the controller.
    pub fn forwards(&self) -> bool {
        self.fleet.enrolled()
    }

    /// The person acting, for the controller: the password, token or
    /// session this connection presented; with none, root's own call on a
    /// host whose environment sets `host_root_is_admin` (an `admin`
    /// holder of that environment there, checked by the controller).
    pub async fn fleet_credential(&self, call: &Call) -> Result<Credential> {
        if let Some((user, password)) = call.peer.fleet_password()? {
            return Ok(Credential::Password {
                user,
                password: password.expose().to_owned(),
            });
        }
        if let Some(token) = call.peer.fleet_token()? {
            return Ok(Credential::Token {
                token: token.expose().to_owned(),
            });
        }
        if call.requester() == crate::queue::Requester::Root && self.host_root_is_admin(call).await
        {
            call.detail("as", "host-root");
            return Ok(Credential::HostRoot);
        }
        Err(RosterError::PermissionDenied(
            "this host is enrolled with a controller: changes are made there, as a person. \
             Run `roster login` first (or present an API token); nothing changed"
                .into(),
        ))
    }

    /// Whether this host's environment gives its root an environment
    /// admin's rights, as the last answer from the controller said.
    pub async fn host_root_is_admin(&self, call: &Call) -> bool {
        self.store(call, |r| r.fleet_state())
            .await
            .ok()
            .flatten()
            .is_some_and(|state| state.policy.host_root_is_admin)
    }

    /// `op` at the controller for `credential`, retried as the module
    /// says.
    pub async fn forward(&self, call: &Call, credential: Credential, op: Op) -> Result<OpsAnswer> {
        let client = self.fleet.client().ok_or_else(|| {
            RosterError::Unavailable(
                "controller unreachable: nothing changed (the fleet sync isn't running here)"
                    .into(),
            )
        })?;
        let request = OpsRequest {
            request_id: request_id(),
            credential,
            op,
        };
        call.detail("request_id", request.request_id.clone());
        let started = Instant::now();
        let mut sent = false;
        // Whether the caller heard "store failing over, retrying".
        let mut told = false;
        loop {
            let error = match client.ops(&request).await {
                Ok(answer) => return Ok(answer.body),
                Err(error) => error,
            };
            match error {
                AgentError::Unreachable(why) if !sent => {
                    return Err(RosterError::Unavailable(format!(
                        "controller unreachable: nothing changed ({why})"
                    )));
                }
                AgentError::Refused { code, message } => return Err(refused(code, message)),
                AgentError::NoAnswer(_)
                | AgentError::FailingOver(_)
                | AgentError::Unreachable(_)
                    if started.elapsed() < RETRY_FOR =>
                {
                    sent = true;
                    if matches!(error, AgentError::FailingOver(_)) && !told {
                        eprintln!(
                            "rosterd: request {}: store failing over, retrying",
                            request.request_id
                        );
                        self.tell_retrying(call, &request.request_id).await;
                        told = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                AgentError::NoAnswer(_)
                | AgentError::FailingOver(_)
                | AgentError::Unreachable(_) => {
                    return Err(RosterError::Unavailable(format!(
                        "outcome unknown: no answer from the controller for {}s (request {}): check \
                         with `roster users show …` before trying again",
                        RETRY_FOR.as_secs(),
                        request.request_id
                    )));
                }
                other => return Err(super::membership::agent_error(other)),
            }
        }
    }

    /// Tell the caller (the CLI, waiting for this call's answer) that the
    /// controller's store is failing over and the change is being sent
    /// again: a signal addressed to it alone. A caller that doesn't
    /// listen just waits.
    async fn tell_retrying(&self, call: &Call, request_id: &str) {
        if call.bus_name.is_empty() {
            return;
        }
        let sent = self
            .conn
            .emit_signal(
                Some(call.bus_name.as_str()),
                roster_client::OBJECT_PATH,
                roster_client::FLEET_INTERFACE,
                roster_client::RETRYING_SIGNAL,
                &(request_id,),
            )
            .await;
        if let Err(e) = sent {
            eprintln!(
                "rosterd: can't tell {} the store is failing over: {e}",
                call.bus_name
            );
        }
    }

    /// `Tokens.Present` on an enrolled host: the controller checks the
    /// token (or session) and says whose it is; the connection keeps it
    /// for its changes. Its reads stay the caller's own (the cache holds
    /// no tokens to act as).
    pub async fn fleet_present(
        &self,
        call: &Call,
        token: Secret,
    ) -> Result<roster_client::TokenInfo> {
        let credential = Credential::Token {
            token: token.expose().to_owned(),
        };
        let tokens = match self
            .forward(call, credential, Op::ListTokens { owner: None })
            .await?
        {
            OpsAnswer::Tokens { tokens } => tokens,
            other => return Err(unexpected(&other)),
        };
        let id = token.expose().split('-').next().unwrap_or_default();
        let view = tokens.into_iter().find(|t| t.id == id).ok_or_else(|| {
            RosterError::TokenRevoked("the controller doesn't list this token as live".into())
        })?;
        call.peer.bind_fleet_token(token)?;
        call.detail("owner", view.user.clone());
        Ok(roster_client::TokenInfo {
            id: view.id,
            user: view.user,
            name: view.name,
            scope: parse("scope", &view.scope)?,
            created: view.created,
            last_used: view.last_used.unwrap_or(0),
            expires: view.expires.unwrap_or(0),
        })
    }

    /// `roster logout`: deletes the presented session at the controller.
    pub async fn fleet_logout(&self, call: &Call) -> Result<()> {
        let credential = self.fleet_credential(call).await?;
        let Credential::Token { token } = &credential else {
            return Err(RosterError::PermissionDenied(
                "`roster logout` needs the session presented".into(),
            ));
        };
        let id = token.split('-').next().unwrap_or_default().to_owned();
        match self
            .forward(call, credential, Op::DeleteToken { id })
            .await?
        {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `roster login`: a session for `user` from the controller, bound to
    /// this host; answers the session token and its expiry.
    pub async fn fleet_login(
        &self,
        call: &Call,
        user: String,
        password: Secret,
        hours: Option<u32>,
    ) -> Result<(String, i64)> {
        let credential = Credential::Password {
            user,
            password: password.expose().to_owned(),
        };
        match self.forward(call, credential, Op::Login { hours }).await? {
            OpsAnswer::Session { token, expires } => Ok((token, expires)),
            other => Err(unexpected(&other)),
        }
    }
}

pub fn unexpected(answer: &OpsAnswer) -> RosterError {
    let kind = serde_json::to_value(answer)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default();
    RosterError::Unavailable(format!(
        "the controller answered {kind:?}, not what this call expects: is it another version?"
    ))
}
