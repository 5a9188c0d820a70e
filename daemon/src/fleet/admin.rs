//! The fleet's admin surface from an enrolled host (`roster hosts token
//! create|list|delete`, `roster hosts list|revoke`, `roster environments
//! set`) and `roster users sessions --fleet`: each one call to the
//! controller with the person's credential; the controller's core
//! decides who may (`ViewFleet`, `ManageFleet`, the sessions table).

use super::forward::unexpected;
use crate::daemon::{Call, Daemon, Result};
use roster_client::{FleetHostInfo, FleetSessionInfo, JoinTokenInfo, RosterError};
use roster_fleet_agent::protocol::{JoinTokenView, Op, OpsAnswer};

fn join_token_info(view: JoinTokenView) -> JoinTokenInfo {
    JoinTokenInfo {
        id: view.id,
        environment: view.environment,
        created: view.created,
        expires: view.expires,
        created_by: view.created_by,
        used: view.used.unwrap_or(0),
    }
}

/// What a standalone host answers: there is no fleet to ask.
pub fn standalone() -> RosterError {
    RosterError::Conflict(
        "this host is standalone: fleet commands are for hosts enrolled with a controller \
         (`roster hosts join`), or `roster-controller` on the controller machine"
            .into(),
    )
}

impl Daemon {
    /// `op` at the controller as the caller; refused on a standalone host.
    async fn fleet_admin(&self, call: &Call, op: Op) -> Result<OpsAnswer> {
        if !self.forwards() {
            return Err(standalone());
        }
        let credential = self.fleet_credential(call).await?;
        self.forward(call, credential, op).await
    }

    pub async fn fleet_join_token_create(
        &self,
        call: &Call,
        environment: String,
        expires: String,
    ) -> Result<(String, JoinTokenInfo)> {
        let op = Op::JoinTokenCreate {
            environment,
            expires: crate::convert::given(&expires),
        };
        match self.fleet_admin(call, op).await? {
            OpsAnswer::JoinToken { token, view } => {
                call.detail("id", view.id.clone());
                Ok((token, join_token_info(view)))
            }
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_join_token_list(&self, call: &Call) -> Result<Vec<JoinTokenInfo>> {
        match self.fleet_admin(call, Op::JoinTokenList).await? {
            OpsAnswer::JoinTokens { tokens } => {
                Ok(tokens.into_iter().map(join_token_info).collect())
            }
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_join_token_delete(&self, call: &Call, id: String) -> Result<()> {
        match self.fleet_admin(call, Op::JoinTokenDelete { id }).await? {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_hosts_list(
        &self,
        call: &Call,
        environment: String,
    ) -> Result<Vec<FleetHostInfo>> {
        let op = Op::HostsList {
            environment: crate::convert::given(&environment),
        };
        match self.fleet_admin(call, op).await? {
            OpsAnswer::Hosts { hosts } => Ok(hosts
                .into_iter()
                .map(|h| FleetHostInfo {
                    name: h.name,
                    environment: h.environment,
                    enrolled: h.enrolled,
                    last_seen: h.last_seen.unwrap_or(0),
                    lag: h.lag,
                    certificate_expires: h.certificate_expires,
                    revoked: h.revoked.unwrap_or(0),
                })
                .collect()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_hosts_revoke(&self, call: &Call, host: String) -> Result<()> {
        match self.fleet_admin(call, Op::HostsRevoke { host }).await? {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Answers the controller's sentence with the settings after.
    pub async fn fleet_environments_set(
        &self,
        call: &Call,
        environment: String,
        settings: Vec<String>,
    ) -> Result<String> {
        if settings.is_empty() {
            return Err(RosterError::InvalidArgument(
                "nothing to set: give login_level=…, offline_grace=… or host_root_is_admin=…"
                    .into(),
            ));
        }
        for setting in &settings {
            call.detail("set", setting.clone());
        }
        let op = Op::EnvironmentsSet {
            environment,
            settings,
        };
        match self.fleet_admin(call, op).await? {
            OpsAnswer::Done { message, .. } | OpsAnswer::AlreadyDone { message } => Ok(message),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_sessions(&self, call: &Call, user: String) -> Result<Vec<FleetSessionInfo>> {
        let op = Op::ListSessions {
            user: crate::convert::given(&user),
        };
        match self.fleet_admin(call, op).await? {
            OpsAnswer::Sessions { sessions } => Ok(sessions
                .into_iter()
                .map(|s| FleetSessionInfo {
                    host: s.host,
                    id: s.id,
                    user: s.user,
                    uid: s.uid,
                    service: s.service,
                    tty: s.tty,
                    remote_host: s.remote_host,
                    started: s.started,
                    reported: s.reported,
                })
                .collect()),
            other => Err(unexpected(&other)),
        }
    }
}
