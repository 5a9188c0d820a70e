//! The Users and Grants calls on an enrolled host: the same D-Bus methods
//! and answers, made at the controller ([`super::forward`]). A change's
//! effects here (sessions ended, NSS) arrive with the feed, within
//! seconds, like on every other host: the answers say so rather than
//! count sessions this call didn't end.

use super::forward::{unexpected, user_of};
use crate::convert::{self, Current};
use crate::daemon::{Call, Daemon, Result};
use roster_client::{CreateUser, Created, Ended, Level, RosterError, UserInfo};
use roster_core::Secret;
use roster_fleet_agent::protocol::{Credential, Op, OpsAnswer};

fn no_profile_here(request: &CreateUser) -> Result<()> {
    if !request.home.is_empty() || !request.shell.is_empty() {
        return Err(RosterError::InvalidArgument(
            "a fleet user's home and shell are the controller's defaults: create the user \
             without --home/--shell, then `roster users edit` it; nothing changed"
                .into(),
        ));
    }
    Ok(())
}

impl Daemon {
    pub async fn fleet_create(
        &self,
        call: &Call,
        request: CreateUser,
        password: Secret,
    ) -> Result<Created> {
        no_profile_here(&request)?;
        let credential = self.fleet_credential(call).await?;
        let op = Op::CreateUser {
            name: request.name.clone(),
            display_name: convert::given(&request.display_name),
            role: request
                .role
                .as_ref()
                .map(|role| convert::role_from_wire(*role).as_str().to_owned()),
            password: (!request.register).then(|| password.expose().to_owned()),
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::User { user } => Ok(Created {
                user: convert::user(&user_of(&user)?),
                registration_code: String::new(),
                code_expires: 0,
            }),
            OpsAnswer::Code {
                user,
                code,
                expires,
            } => {
                call.answers_code(&user.name);
                Ok(Created {
                    user: convert::user(&user_of(&user)?),
                    registration_code: code,
                    code_expires: expires,
                })
            }
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    /// A change answered with the user as the controller shows it after.
    pub async fn fleet_user_change(&self, call: &Call, name: String, op: Op) -> Result<UserInfo> {
        let credential = self.fleet_credential(call).await?;
        self.forward(call, credential.clone(), op).await?;
        self.fleet_show(call, credential, name).await
    }

    async fn fleet_show(
        &self,
        call: &Call,
        credential: Credential,
        name: String,
    ) -> Result<UserInfo> {
        match self
            .forward(call, credential, Op::ShowUser { name })
            .await?
        {
            OpsAnswer::User { user } => Ok(convert::user(&user_of(&user)?)),
            other => Err(unexpected(&other)),
        }
    }

    /// Suspend or delete: the host's sessions of the user end as the
    /// change arrives through the feed (every host's do).
    pub async fn fleet_ending(&self, call: &Call, op: Op) -> Result<Ended> {
        let credential = self.fleet_credential(call).await?;
        match self.forward(call, credential, op).await? {
            // A repeat the earlier attempt made: done all the same.
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(Ended::default()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_reset(&self, call: &Call, name: String) -> Result<Created> {
        let credential = self.fleet_credential(call).await?;
        match self
            .forward(call, credential, Op::ResetPassword { name })
            .await?
        {
            OpsAnswer::Code {
                user,
                code,
                expires,
            } => {
                call.answers_code(&user.name);
                Ok(Created {
                    user: convert::user(&user_of(&user)?),
                    registration_code: code,
                    code_expires: expires,
                })
            }
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    /// A user's own password (their current one is the credential) or
    /// anyone's for an admin (their token or session).
    pub async fn fleet_set_password(
        &self,
        call: &Call,
        name: String,
        current: Current,
        new: Secret,
    ) -> Result<()> {
        let credential = match current {
            Current::Given(current) => Credential::Password {
                user: name.clone(),
                password: current.expose().to_owned(),
            },
            Current::SetByAdmin => self.fleet_credential(call).await?,
        };
        let op = Op::SetPassword {
            name,
            new_password: new.expose().to_owned(),
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `passwd` through PAM on an enrolled host: the user's own change,
    /// their current password (or a pending user's registration code) the
    /// credential. Root's `passwd USER` sets nothing at the controller:
    /// root on a host is nobody there.
    pub async fn fleet_pam_password(
        &self,
        call: &Call,
        name: String,
        current: Current,
        new: Secret,
    ) -> Result<()> {
        let Current::Given(current) = current else {
            // login's or sshd's password step after a registration code
            // the controller accepted at this login: the code registers.
            if call.requester() == crate::queue::Requester::Root
                && let Some(code) = self.fleet.accepted_codes.take(&name)
            {
                call.detail("by", "registration-code");
                let op = Op::Register {
                    new_password: new.expose().to_owned(),
                };
                let credential = Credential::Code {
                    code: code.expose().trim().to_owned(),
                };
                return match self.forward(call, credential, op).await? {
                    OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
                    other => Err(unexpected(&other)),
                };
            }
            // Root's `passwd USER`: only where the environment makes this
            // host's root an admin of it (the controller decides whose
            // password that reaches).
            if call.requester() == crate::queue::Requester::Root
                && self.host_root_is_admin(call).await
            {
                call.detail("as", "host-root");
                let op = Op::SetPassword {
                    name,
                    new_password: new.expose().to_owned(),
                };
                return match self.forward(call, Credential::HostRoot, op).await? {
                    OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
                    other => Err(unexpected(&other)),
                };
            }
            return Err(RosterError::PermissionDenied(
                "this host is enrolled with a controller: root can't set a Roster user's password \
                 here; an admin does it with `roster login` then `roster users password`"
                    .into(),
            ));
        };
        let looked_up = name.clone();
        let pending = self
            .store(call, move |r| r.user_by_name(&looked_up))
            .await?
            .is_some_and(|u| u.state == roster_core::UserState::Pending);
        let (credential, op) = if pending {
            (
                Credential::Code {
                    code: current.expose().trim().to_owned(),
                },
                Op::Register {
                    new_password: new.expose().to_owned(),
                },
            )
        } else {
            (
                Credential::Password {
                    user: name.clone(),
                    password: current.expose().to_owned(),
                },
                Op::SetPassword {
                    name,
                    new_password: new.expose().to_owned(),
                },
            )
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_edit(
        &self,
        call: &Call,
        name: String,
        changes: roster_core::UserChanges,
    ) -> Result<UserInfo> {
        let credential = self.fleet_credential(call).await?;
        let op = Op::EditUser {
            name,
            display_name: changes.display_name,
            role: changes.role.map(|role| role.as_str().to_owned()),
            home: changes.home,
            shell: changes.shell,
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::User { user } => Ok(convert::user(&user_of(&user)?)),
            other => Err(unexpected(&other)),
        }
    }

    /// Grant: answers the level held afterwards, as the controller shows it.
    pub async fn fleet_grant(
        &self,
        call: &Call,
        name: String,
        level: Level,
        environment: Option<String>,
    ) -> Result<Level> {
        let credential = self.fleet_credential(call).await?;
        let environment = environment.unwrap_or_else(|| self.environment());
        let op = Op::Grant {
            name: name.clone(),
            environment: environment.clone(),
            level: convert::level_from_wire(level).as_str().to_owned(),
        };
        self.forward(call, credential.clone(), op).await?;
        let shown = self.fleet_show(call, credential, name).await?;
        shown
            .grants
            .iter()
            .find(|g| g.environment == environment)
            .map(|g| g.level)
            .ok_or_else(|| {
                RosterError::Unavailable(
                    "the controller made the grant but doesn't show it: check with `roster users show`"
                        .into(),
                )
            })
    }

    /// Revoke: answers what is left in the environment afterwards.
    pub async fn fleet_revoke(
        &self,
        call: &Call,
        name: String,
        level: Option<Level>,
        environment: Option<String>,
    ) -> Result<Option<Level>> {
        let credential = self.fleet_credential(call).await?;
        let environment = environment.unwrap_or_else(|| self.environment());
        let op = Op::Revoke {
            name: name.clone(),
            environment: environment.clone(),
            level: level.map(|l| convert::level_from_wire(l).as_str().to_owned()),
        };
        self.forward(call, credential.clone(), op).await?;
        let shown = self.fleet_show(call, credential, name).await?;
        Ok(shown
            .grants
            .iter()
            .find(|g| g.environment == environment)
            .map(|g| g.level))
    }

    /// This host's environment: rosterd.toml's, or on an enrolled host
    /// the one its controller decided.
    pub fn environment(&self) -> String {
        self.roster
            .lock()
            .map(|r| r.config().environment.clone())
            .unwrap_or_default()
    }
}
