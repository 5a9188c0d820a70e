//! `org.roster.Roster1.Users`: create, edit, passwords, delete, suspend,
//! enable, unlock, list, show, who-am-I.

use crate::convert::{self, Current, given};
use crate::daemon::{Call, Daemon, Result};
use crate::errors::to_bus;
use roster_client::{
    CreateUser, Created, CurrentPassword, EditUser, Ended, RosterError, UserInfo, WhoAmI,
};
use roster_core::flows::{Channel, PasswordPlan, PasswordRequest};
use roster_core::roster::InitialCredential;
use roster_core::{Actor, NewUser, Roster, Secret, User, UserChanges};
use roster_fleet_agent::protocol::Op;
use std::sync::Arc;
use zbus::message::Header;

pub struct Users {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Users")]
impl Users {
    async fn create(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request: CreateUser,
        password: String,
    ) -> Result<Created> {
        let password = Secret::new(password);
        let target = request.name.clone();
        self.d
            .audited(&hdr, "users.create", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_create(call, request, password).await;
                }
                self.create_inner(call, request, password).await
            })
            .await
    }

    async fn edit(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        changes: EditUser,
    ) -> Result<UserInfo> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.edit", &target, async |call| {
                let changes = UserChanges {
                    display_name: given(&changes.display_name),
                    role: changes.role.map(convert::role_from_wire),
                    home: given(&changes.home),
                    shell: given(&changes.shell),
                };
                if let Some(role) = changes.role {
                    call.detail("role", role.as_str());
                }
                if self.d.forwards() {
                    return self.d.fleet_edit(call, name, changes).await;
                }
                let user = self
                    .d
                    .acting(call, move |r, a| r.edit_user(a, &name, changes))
                    .await?;
                Ok(convert::user(&user))
            })
            .await
    }

    async fn set_password(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        current: CurrentPassword,
        new: String,
    ) -> Result<()> {
        let (current, new) = (convert::current(current), Secret::new(new));
        let target = name.clone();
        self.d
            .audited(&hdr, "users.password", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_set_password(call, name, current, new).await;
                }
                self.set_password_inner(call, name, current, new).await
            })
            .await
    }

    async fn reset_password(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
    ) -> Result<Created> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.password-reset", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_reset(call, name).await;
                }
                let (user, code) = self
                    .d
                    .acting(call, move |r, a| r.reset_password(a, &name))
                    .await?;
                call.answers_code(&user.name);
                Ok(Created {
                    user: convert::user(&user),
                    registration_code: code.code.expose().to_owned(),
                    code_expires: code.expires,
                })
            })
            .await
    }

    async fn delete(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        keep_sessions: bool,
    ) -> Result<Ended> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.delete", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_ending(call, Op::DeleteUser { name }).await;
                }
                // Counted before the delete: the user's sessions go with it.
                let looked_up = name.clone();
                let before = self
                    .d
                    .store(call, move |r| r.user_by_name(&looked_up))
                    .await?
                    .map(|u| u.uid);
                let sessions = match before {
                    Some(uid) => self.d.live_session_count(call, uid).await?,
                    None => 0,
                };
                let user = self
                    .d
                    .acting(call, move |r, a| r.delete_user(a, &name))
                    .await?;
                // Sessions end even when NSS can't show the delete yet:
                // `finish` waits for the snapshot after this.
                let processes = self.end(call, user.uid, keep_sessions).await;
                Ok(Ended {
                    sessions,
                    processes,
                })
            })
            .await
    }

    async fn suspend(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        keep_sessions: bool,
    ) -> Result<Ended> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.suspend", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_ending(call, Op::SuspendUser { name }).await;
                }
                let user = self
                    .d
                    .acting(call, move |r, a| r.suspend_user(a, &name))
                    .await?;
                // Sessions end even when NSS can't show the suspend yet (a
                // suspended user leaves the admin group): `finish` waits for
                // the snapshot after this.
                let sessions = self.d.live_session_count(call, user.uid).await?;
                let processes = self.end(call, user.uid, keep_sessions).await;
                Ok(Ended {
                    sessions,
                    processes,
                })
            })
            .await
    }

    async fn enable(&self, #[zbus(header)] hdr: Header<'_>, name: String) -> Result<UserInfo> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.enable", &target, async |call| {
                if self.d.forwards() {
                    let op = Op::EnableUser { name: name.clone() };
                    return self.d.fleet_user_change(call, name, op).await;
                }
                let user = self
                    .d
                    .acting(call, move |r, a| r.enable_user(a, &name))
                    .await?;
                Ok(convert::user(&user))
            })
            .await
    }

    async fn unlock(&self, #[zbus(header)] hdr: Header<'_>, name: String) -> Result<UserInfo> {
        let target = name.clone();
        self.d
            .audited(&hdr, "users.unlock", &target, async |call| {
                if self.d.forwards() {
                    let op = Op::UnlockUser { name: name.clone() };
                    return self.d.fleet_user_change(call, name, op).await;
                }
                self.d
                    .acting(call, move |r, a| r.unlock_user(a, &name))
                    .await
                    .map(|u| convert::user(&u))
            })
            .await
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>, all: bool) -> Result<Vec<UserInfo>> {
        let call = self.d.begin_read(&hdr, "users.list").await?;
        let users = self
            .d
            .acting(&call, move |r, a| r.list_users(a, all))
            .await?;
        Ok(users.iter().map(convert::user).collect())
    }

    async fn show(&self, #[zbus(header)] hdr: Header<'_>, name: String) -> Result<UserInfo> {
        let call = self.d.begin_read(&hdr, "users.show").await?;
        let user = self
            .d
            .acting(&call, move |r, a| r.show_user(a, &name))
            .await?;
        Ok(convert::user(&user))
    }

    async fn who_am_i(&self, #[zbus(header)] hdr: Header<'_>) -> Result<WhoAmI> {
        let call = self.d.begin_read(&hdr, "users.whoami").await?;
        let actor = self.d.acting(&call, |_, a| Ok(a.clone())).await?;
        let (uid, login_uid) = (call.peer.uid, call.peer.login_uid().unwrap_or(u32::MAX));
        let environment = self.d.environment();
        let mut me = WhoAmI {
            uid,
            login_uid,
            user: String::new(),
            role: None.into(),
            is_root: false,
            token_id: String::new(),
            token_scope: None.into(),
            environment,
            grants: Vec::new(),
        };
        match actor {
            Actor::Root => me.is_root = true,
            Actor::User(u) => {
                me.user = u.name;
                me.role = Some(convert::role(u.role)).into();
                me.grants = convert::grants(&u.grants);
            }
            Actor::Token {
                user,
                scope,
                token_id,
            } => {
                me.user = user.name;
                me.role = Some(convert::role(user.role)).into();
                me.grants = convert::grants(&user.grants);
                me.token_id = token_id;
                me.token_scope = Some(convert::scope(scope)).into();
            }
            Actor::Stranger { .. } => {}
        }
        Ok(me)
    }
}

impl Users {
    async fn create_inner(
        &self,
        call: &Call,
        request: CreateUser,
        password: Secret,
    ) -> Result<Created> {
        let new = NewUser {
            name: request.name.clone(),
            display_name: given(&request.display_name),
            role: request.role.map(convert::role_from_wire),
            home: given(&request.home),
            shell: given(&request.shell),
        };
        call.detail("role", new.role.unwrap_or_default().as_str());
        let (user, code) = if request.register {
            if !password.is_empty() {
                return Err(RosterError::InvalidArgument(
                    "give either a password or --register, not both".into(),
                ));
            }
            call.detail("register", "yes");
            self.d
                .acting(call, move |r, a| {
                    r.create_user(a, new, InitialCredential::Register)
                })
                .await?
        } else {
            // Authorized and validated before a hash is spent on it.
            let request = PasswordRequest::create(new, password).map_err(to_bus)?;
            let plan = self
                .d
                .acting(call, move |r, a| r.plan_password_change(a, request))
                .await?;
            (carry_out(&self.d, call, plan, true, |_| {}).await?, None)
        };
        if code.is_some() {
            call.answers_code(&user.name);
        }
        Ok(Created {
            user: convert::user(&user),
            registration_code: code
                .as_ref()
                .map(|c| c.code.expose().to_owned())
                .unwrap_or_default(),
            code_expires: code.map(|c| c.expires).unwrap_or(0),
        })
    }

    async fn set_password_inner(
        &self,
        call: &Call,
        name: String,
        current: Current,
        new: Secret,
    ) -> Result<()> {
        let request = match current {
            Current::SetByAdmin => {
                let request = PasswordRequest::by_admin(&name, new).map_err(to_bus)?;
                call.detail("by", "admin");
                request
            }
            // An empty given password is only a wrong one.
            Current::Given(current) => {
                let request =
                    PasswordRequest::own(&name, current, new, Channel::Api).map_err(to_bus)?;
                call.detail("by", "self");
                request
            }
        };
        let plan = self
            .d
            .acting(call, move |r, a| r.plan_password_change(a, request))
            .await?;
        carry_out(&self.d, call, plan, true, |_| {}).await?;
        Ok(())
    }

    /// Ends the user's processes and sessions unless asked to keep them.
    pub async fn end(&self, call: &Call, uid: u32, keep_sessions: bool) -> u32 {
        end_everything(&self.d, call, uid, keep_sessions).await
    }
}

/// What every password change does once core planned it (see
/// `roster_core::flows`): the one verify the plan names (rate-limited
/// there), the hash of the new password core accepts, and core's commit.
/// `accepted` runs once the new password passed core's checks and was
/// hashed, before the commit (what the audit line says about the
/// change's footing).
pub async fn carry_out(
    d: &Daemon,
    call: &Call,
    plan: PasswordPlan,
    tokens_count: bool,
    accepted: impl FnOnce(&PasswordPlan),
) -> Result<User> {
    let verified = match plan.to_verify() {
        Some((current, hash)) => d.verify(call, current, hash).await?,
        None => false,
    };
    let phc = match plan.password_to_hash(verified).map_err(to_bus)? {
        Some(new) => {
            let phc = d.hash(call, new).await?;
            accepted(&plan);
            Some(phc)
        }
        None => None,
    };
    let commit = move |r: &mut Roster, a: &Actor| r.commit_password_change(a, plan, verified, phc);
    // Who the caller is now, resolved as the plan was: a token revoked or
    // an admin demoted while the hash ran is no longer authorized.
    if tokens_count {
        d.acting(call, commit).await
    } else {
        d.acting_by_uid(call, commit).await
    }
}

/// What suspend, delete and `revoke --end-sessions` share: the sweep, then
/// the sessions marked ended. Answers how many processes were ended.
pub async fn end_everything(d: &Daemon, call: &Call, uid: u32, keep_sessions: bool) -> u32 {
    if keep_sessions {
        call.detail("sessions", "kept");
        return 0;
    }
    let processes = d.end_user_processes(uid).await;
    if let Err(e) = d.end_sessions_of(call, uid).await {
        eprintln!("rosterd: marking the sessions of uid {uid} ended: {e}");
    }
    call.detail("processes", processes.to_string());
    processes
}
