//! `org.roster.Roster1.Pam`: what pam_roster asks. Authorized by the
//! caller's uid alone (root; a non-root caller for its own account,
//! rate-limited); a bound token never counts here.
//!
//! Timing: every authentication that reaches the hash runs exactly one
//! argon2 verify (against a dummy hash when there is none to check: an
//! unknown or pending user), so a wrong password, an unknown user and a
//! pending user's attempt take the same time.

use crate::convert::Current;
use crate::daemon::{Call, Daemon, Result, leader_alive};
use crate::errors::to_bus;
use crate::home::HomeState;
use crate::interfaces::users::carry_out;
use crate::queue::Requester;
use roster_client::*;
use roster_core::authz::{Operation, authorize};
use roster_core::flows::{Channel, PasswordRequest};
use roster_core::{AccountStatus, NewSession, Secret};
use std::sync::Arc;
use zbus::message::Header;

pub struct Pam {
    pub d: Arc<Daemon>,
}

/// The remote host a check names (None = local), once it is shown to be
/// a host name or address (`InvalidArgument` otherwise, before anything
/// is counted, stored or logged). Whose counter it lands in is core's
/// decision ([`roster_core::Roster::begin_login`]).
fn named_remote_host(call: &Call, host: &str) -> Result<Option<String>> {
    let key = roster_core::lockout::remote_host_key(Some(host)).map_err(to_bus)?;
    call.detail("rhost", if key.is_empty() { "local" } else { key });
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

#[zbus::interface(name = "org.roster.Roster1.Pam")]
impl Pam {
    async fn authenticate(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        secret: String,
        remote_host: String,
        requester_uid: u32,
    ) -> Result<AuthReply> {
        let secret = Secret::new(secret);
        let target = user.clone();
        self.d
            .audited(&hdr, "pam.authenticate", &target, async |call| {
                call.requested_by(requester_uid);
                let remote = named_remote_host(call, &remote_host)?;
                let reply = self.authenticate_inner(call, user, secret, remote).await?;
                call.outcome(match reply.outcome {
                    AuthOutcome::Unknown => "unknown-user",
                    known => known.as_str(),
                });
                Ok(reply)
            })
            .await
    }

    async fn check_account(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
    ) -> Result<AccountReply> {
        let target = user.clone();
        self.d
            .audited(&hdr, "pam.account", &target, async |call| {
                self.limit(call)?;
                let status = self
                    .d
                    .acting_by_uid(call, move |r, a| r.check_account(a, &user))
                    .await?;
                let reply = crate::convert::account_reply(status);
                call.outcome(match reply.outcome {
                    AccountOutcome::Unknown => "unknown-user",
                    known => known.as_str(),
                });
                Ok(reply)
            })
            .await
    }

    async fn open_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request: OpenSession,
    ) -> Result<SessionOpened> {
        let target = request.user.clone();
        self.d
            .audited(&hdr, "pam.open_session", &target, async |call| {
                call.detail("service", request.service.clone());
                call.detail("pid", request.leader_pid.to_string());
                self.open_session_inner(call, request).await
            })
            .await
    }

    async fn close_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<()> {
        let target = user.clone();
        self.d
            .audited(&hdr, "pam.close_session", &target, async |call| {
                call.detail("pid", leader_pid.to_string());
                self.d
                    .acting_by_uid(call, move |r, a| {
                        r.close_session(a, &user, leader_pid, leader_start)
                    })
                    .await
            })
            .await
    }

    async fn change_password(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        current: CurrentPassword,
        new: String,
        requester_uid: u32,
    ) -> Result<()> {
        let (current, new) = (crate::convert::current(current), Secret::new(new));
        let target = user.clone();
        self.d
            .audited(&hdr, "pam.chauthtok", &target, async |call| {
                call.requested_by(requester_uid);
                if self.d.forwards() {
                    self.limit(call)?;
                    return self.d.fleet_pam_password(call, user, current, new).await;
                }
                self.change_password_inner(call, user, current, new).await
            })
            .await
    }

    async fn is_pending(&self, #[zbus(header)] hdr: Header<'_>, user: String) -> Result<bool> {
        let call = self.d.begin_read(&hdr, "pam.is_pending").await?;
        let status = self
            .d
            .acting_by_uid(&call, move |r, a| r.check_account(a, &user))
            .await?;
        Ok(status == AccountStatus::Pending)
    }
}

impl Pam {
    /// Non-root callers (and `su` run by a user) may check only their own
    /// account, a few times.
    fn limit(&self, call: &Call) -> Result<()> {
        self.d.limit(call)
    }

    /// One read to begin, the one argon2 verify every attempt pays
    /// (dummy when the plan has no hash), one transaction to finish: core
    /// decides the outcome and its message.
    async fn authenticate_inner(
        &self,
        call: &Call,
        user: String,
        secret: Secret,
        remote: Option<String>,
    ) -> Result<AuthReply> {
        self.limit(call)?;
        let (name, host) = (user.clone(), remote.clone());
        let pending_name = user.clone();
        let mut plan = self
            .d
            .acting_by_uid(call, move |r, a| r.begin_login(a, &user, remote.as_deref()))
            .await?;
        // A fleet host without this user's hash asks its controller; a
        // yes caches the hash, and the login begins again from the cache.
        if plan.needs_online_check() && self.d.check_online(call, &name, &secret).await {
            plan = self
                .d
                .acting_by_uid(call, move |r, a| r.begin_login(a, &name, host.as_deref()))
                .await?;
        }
        // A pending user's code on a fleet host: the controller holds it.
        if self.d.forwards() && plan.pending_without_code() {
            let outcome = self
                .d
                .check_code_online(call, &pending_name, &secret)
                .await?;
            return Ok(crate::convert::auth_reply(outcome));
        }
        if plan.counted_as_local() {
            call.detail("counted", "local");
        }
        if let Some(refused) = plan.refused() {
            return Ok(crate::convert::auth_reply(refused));
        }
        // An adopted crypt hash is verified through libcrypt and, when
        // right, rehashed with argon2id in the same queue turn: the login's
        // transaction stores it.
        let legacy = plan.legacy_kind();
        let verified = self
            .d
            .verify_upgrading(
                call,
                secret.clone(),
                plan.hash_to_verify(),
                legacy.is_some(),
            )
            .await?;
        if let (Some(kind), true) = (legacy, verified.right) {
            call.detail("hash_upgraded_from", kind.as_str());
        }
        let outcome = self
            .d
            .store(call, move |r| {
                r.finish_login_upgrading(plan, &secret, verified.right, verified.upgrade)
            })
            .await?;
        Ok(crate::convert::auth_reply(outcome))
    }

    async fn open_session_inner(&self, call: &Call, request: OpenSession) -> Result<SessionOpened> {
        // Root only: authorized before anything else is looked at.
        self.d
            .acting_by_uid(call, |_, a| authorize(a, &Operation::OpenSession))
            .await?;
        // A start time that doesn't match the pid's means the module sent
        // someone else's pid: refuse rather than track the wrong process.
        if let Some((_, actual)) = self.d.proc.state_and_start(request.leader_pid)
            && actual != request.leader_start
        {
            return Err(RosterError::InvalidArgument(format!(
                "pid {} started at {actual}, not at {}: is it the session's leader?",
                request.leader_pid, request.leader_start
            )));
        }
        let new = NewSession {
            user: request.user,
            service: request.service,
            tty: request.tty,
            remote_host: request.remote_host,
            leader_pid: request.leader_pid,
            leader_start: request.leader_start,
        };
        let (session, home) = self
            .d
            .acting_by_uid(call, move |r, a| {
                let (session, _first) = r.open_session(a, new)?;
                let home = r.user_by_uid(session.uid)?.map(|u| u.home);
                Ok((session, home))
            })
            .await?;
        let (mut home_created, mut message) = (false, String::new());
        if let Some(home) = home {
            let (skel, uid, create) = (self.d.skel.clone(), session.uid, self.d.config.create_home);
            let path = std::path::PathBuf::from(&home);
            let prepared = tokio::task::spawn_blocking(move || {
                crate::home::prepare_home(&path, &skel, uid, uid, create)
            })
            .await;
            match prepared {
                Ok(Ok(state)) => {
                    if let Some(word) = state.audit_word() {
                        call.detail("home", word);
                    }
                    match state {
                        HomeState::Created => home_created = true,
                        // The session still opens (refusing it would lock
                        // the user out over a folder they can't fix), but
                        // nothing there is adopted, and the user, the log
                        // and the audit line are told why.
                        HomeState::Foreign(why) => {
                            call.detail("home_problem", why.clone());
                            message = format!(
                                "your home {home} was not set up by Roster and is not yours ({why}): \
                                 don't trust its files, and ask an administrator to check it"
                            );
                            eprintln!(
                                "rosterd: refusing the home {home} of uid {uid}: {why}; \
                                 remove or fix it (chown it to the user if it is theirs)"
                            );
                        }
                        HomeState::Theirs | HomeState::Missing => {}
                    }
                }
                Ok(Err(e)) => eprintln!("rosterd: preparing the home {home}: {e}"),
                Err(e) => eprintln!("rosterd: preparing the home {home}: {e}"),
            }
        }
        // Not tracked if its leader is already gone (a very short session).
        if !leader_alive(&self.d.proc, session.leader_pid, session.leader_start) {
            let _ = self.d.reap().await;
        }
        Ok(SessionOpened {
            id: session.id,
            home_created,
            message,
        })
    }

    async fn change_password_inner(
        &self,
        call: &Call,
        user: String,
        current: Current,
        new: Secret,
    ) -> Result<()> {
        // An empty given password is only a wrong one, checked below.
        let request = match current {
            Current::Given(current) => PasswordRequest::own(&user, current, new, Channel::Pam),
            Current::SetByAdmin => PasswordRequest::by_admin(&user, new),
        }
        .map_err(to_bus)?;
        self.limit(call)?;
        if request.is_by_admin() {
            return self.set_by_root(call, request).await;
        }
        let plan = self
            .d
            .acting_by_uid(call, move |r, a| r.plan_password_change(a, request))
            .await?;
        // Own, also from root (a setuid `passwd`, sshd's expired-password
        // step): the current password is checked, so the lockout is
        // checked again as the change commits, and a right guess made
        // while a lock arrived never lifts it.
        carry_out(&self.d, call, plan, false, |plan| {
            call.detail(
                "by",
                if plan.by_code() {
                    "registration-code"
                } else {
                    "self"
                },
            );
        })
        .await?;
        Ok(())
    }

    /// `passwd USER` run by root, login's and sshd's chauthtok: the new
    /// password without the current one. In the one-handle login flow
    /// (login, sshd) the module can't compare the new password with the
    /// code: only rosterd knows it, and core refuses it.
    async fn set_by_root(&self, call: &Call, request: PasswordRequest) -> Result<()> {
        // Root's own `passwd USER` only: a setuid `passwd` run by a
        // user is uid 0 on the bus, but the module passed that user's
        // real uid, and rosterd doesn't take the module's word for it.
        if call.peer.uid != 0 || matches!(call.requester(), Requester::Uid(_)) {
            return Err(RosterError::PermissionDenied(
                "the current password is needed to change it".into(),
            ));
        }
        call.detail("by", "root");
        let plan = self
            .d
            .acting_by_uid(call, move |r, a| r.plan_password_change(a, request))
            .await?;
        carry_out(&self.d, call, plan, false, |_| {}).await?;
        Ok(())
    }
}
