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
use crate::queue::Requester;
use roster_client::*;
use roster_core::authz::{Operation, authorize};
use roster_core::lockout::lock_message;
use roster_core::password::check_policy;
use roster_core::roster::PasswordChange;
use roster_core::{AccountStatus, NewSession, Secret};
use std::sync::Arc;
use zbus::message::Header;

pub struct Pam {
    pub d: Arc<Daemon>,
}

/// The remote host a check is counted against (None = local), once it is
/// shown to be a host name or address (`InvalidArgument` otherwise,
/// before anything is counted, stored or logged). A non-root caller (a
/// screen locker checking its own account) is on this machine whatever
/// it says: counted as local, so it can neither spray the user's
/// all-remote-hosts bound nor add rows to the lockouts table.
fn counted_remote_host(call: &Call, host: &str) -> Result<Option<String>> {
    let key = roster_core::lockout::remote_host_key(Some(host)).map_err(to_bus)?;
    call.detail("rhost", if key.is_empty() { "local" } else { key });
    if key.is_empty() {
        return Ok(None);
    }
    if call.peer.uid != 0 {
        call.detail("counted", "local");
        return Ok(None);
    }
    Ok(Some(key.to_owned()))
}

/// A pending user's new password is their registration code.
pub fn code_as_password() -> RosterError {
    RosterError::InvalidArgument("the new password must not be the registration code".into())
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
        let call = self.d.begin(&hdr, "pam.authenticate", &user).await?;
        call.requested_by(requester_uid);
        let r = match counted_remote_host(&call, &remote_host) {
            Ok(remote) => self.authenticate_inner(&call, user, secret, remote).await,
            Err(e) => Err(e),
        };
        if let Ok(reply) = &r {
            call.outcome(match reply.outcome {
                AuthOutcome::Unknown => "unknown-user",
                known => known.as_str(),
            });
        }
        self.d.finish(&call, r).await
    }

    async fn check_account(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
    ) -> Result<AccountReply> {
        let call = self.d.begin(&hdr, "pam.account", &user).await?;
        let r = async {
            self.limit(&call)?;
            let status = self
                .d
                .acting_by_uid(&call, move |r, a| r.check_account(a, &user))
                .await?;
            let reply = crate::convert::account_reply(status);
            call.outcome(match reply.outcome {
                AccountOutcome::Unknown => "unknown-user",
                known => known.as_str(),
            });
            Ok(reply)
        }
        .await;
        self.d.finish(&call, r).await
    }

    async fn open_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request: OpenSession,
    ) -> Result<SessionOpened> {
        let call = self
            .d
            .begin(&hdr, "pam.open_session", &request.user)
            .await?;
        call.detail("service", request.service.clone());
        call.detail("pid", request.leader_pid.to_string());
        let r = self.open_session_inner(&call, request).await;
        self.d.finish(&call, r).await
    }

    async fn close_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<()> {
        let call = self.d.begin(&hdr, "pam.close_session", &user).await?;
        call.detail("pid", leader_pid.to_string());
        let r = self
            .d
            .acting_by_uid(&call, move |r, a| {
                r.close_session(a, &user, leader_pid, leader_start)
            })
            .await;
        self.d.finish(&call, r).await
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
        let call = self.d.begin(&hdr, "pam.chauthtok", &user).await?;
        call.requested_by(requester_uid);
        let r = self.change_password_inner(&call, user, current, new).await;
        self.d.finish(&call, r).await
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

    async fn authenticate_inner(
        &self,
        call: &Call,
        user: String,
        secret: Secret,
        remote: Option<String>,
    ) -> Result<AuthReply> {
        self.limit(call)?;
        let (name, host) = (user.clone(), remote.clone());
        let (check, now) = self
            .d
            .acting_by_uid(call, move |r, a| {
                Ok((r.login_check(a, &name, host.as_deref())?, r.now()))
            })
            .await?;
        if let Some(until) = check.locked_until {
            return Ok(AuthReply {
                outcome: AuthOutcome::Locked,
                locked_until: until,
                message: lock_message(until, now),
            });
        }
        // The one argon2 verify every attempt pays (dummy when None).
        let right = self.d.verify(call, secret.clone(), check.hash).await?;
        if !check.known {
            return Ok(AuthReply {
                outcome: AuthOutcome::Unknown,
                locked_until: 0,
                message: String::new(),
            });
        }
        let code_right = if check.pending {
            let (name, code) = (user.clone(), secret);
            self.d
                .acting_by_uid(call, move |r, a| r.verify_code(a, &name, &code))
                .await?
        } else {
            false
        };
        let success = right || code_right;
        let (name, host) = (user.clone(), remote);
        let locked = self
            .d
            .store(call, move |r| {
                r.record_login_result(&name, host.as_deref(), success)
            })
            .await?;
        Ok(match (success, code_right, locked) {
            // Locked while the hash ran: even the right secret is refused.
            (_, _, Some(until)) => AuthReply {
                outcome: AuthOutcome::Locked,
                locked_until: until,
                message: lock_message(until, now),
            },
            (true, true, None) => AuthReply {
                outcome: AuthOutcome::CodeAccepted,
                locked_until: 0,
                message: "registration code accepted: choose a password".into(),
            },
            (true, false, None) => AuthReply {
                outcome: AuthOutcome::Success,
                locked_until: 0,
                message: String::new(),
            },
            (false, _, None) => AuthReply {
                outcome: AuthOutcome::Failed,
                locked_until: 0,
                message: String::new(),
            },
        })
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
        if new.is_empty() {
            return Err(RosterError::InvalidArgument(
                "the new password is empty".into(),
            ));
        }
        self.limit(call)?;
        let policy = self.d.config.password.clone();
        // An empty given password is only a wrong one, checked below.
        let current = match current {
            Current::Given(current) => current,
            Current::SetByAdmin => {
                return self.set_by_root(call, user, new, policy).await;
            }
        };
        let name = user.clone();
        let (check, now) = self
            .d
            .acting_by_uid(call, move |r, a| {
                Ok((r.login_check(a, &name, None)?, r.now()))
            })
            .await?;
        if let Some(until) = check.locked_until {
            return Err(RosterError::Locked(lock_message(until, now)));
        }
        if !check.known {
            return Err(RosterError::NotFound(format!("user {user:?} not found")));
        }
        let right = self.d.verify(call, current.clone(), check.hash).await?;
        let code_right = if check.pending && !right {
            let (name, code) = (user.clone(), current.clone());
            self.d
                .acting_by_uid(call, move |r, a| r.verify_code(a, &name, &code))
                .await?
        } else {
            false
        };
        if !right && !code_right {
            let name = user.clone();
            self.d
                .store(call, move |r| r.record_login_result(&name, None, false))
                .await?;
            return Err(RosterError::AuthFailed(
                if check.pending {
                    "the registration code is wrong or expired"
                } else {
                    "the current password is wrong"
                }
                .into(),
            ));
        }
        // The code counts as the old password: a new one equal to it is refused.
        check_policy(&policy, &user, &new, Some(&current)).map_err(to_bus)?;
        // Also in another spelling (case, o/0, i/l/1) of the code.
        if check.pending {
            self.refuse_the_code(call, &user, &new).await?;
        }
        let phc = self.d.hash(call, new).await?;
        if code_right {
            call.detail("by", "registration-code");
            self.d
                .store(call, move |r| r.register(&current, phc))
                .await?;
        } else {
            call.detail("by", "self");
            // Own, also from root (a setuid `passwd`, sshd's expired-password
            // step): the current password was checked, so the lockout is
            // checked again as the change commits, and a right guess made
            // while a lock arrived never lifts it.
            self.d
                .acting_by_uid(call, move |r, a| {
                    r.set_password_hash(a, &user, PasswordChange::Own, phc)
                })
                .await?;
        }
        Ok(())
    }

    /// A pending user's registration code (in any spelling) must not
    /// become the password.
    async fn refuse_the_code(&self, call: &Call, user: &str, new: &Secret) -> Result<()> {
        let (name, candidate) = (user.to_owned(), new.clone());
        let is_code = self
            .d
            .acting_by_uid(call, move |r, a| r.verify_code(a, &name, &candidate))
            .await?;
        if is_code {
            return Err(code_as_password());
        }
        Ok(())
    }

    /// `passwd USER` run by root, login's and sshd's chauthtok: the new
    /// password without the current one.
    async fn set_by_root(
        &self,
        call: &Call,
        user: String,
        new: Secret,
        policy: roster_core::config::PasswordConfig,
    ) -> Result<()> {
        // Root's own `passwd USER` only: a setuid `passwd` run by a
        // user is uid 0 on the bus, but the module passed that user's
        // real uid, and rosterd doesn't take the module's word for it.
        if call.peer.uid != 0 || matches!(call.requester(), Requester::Uid(_)) {
            return Err(RosterError::PermissionDenied(
                "the current password is needed to change it".into(),
            ));
        }
        call.detail("by", "root");
        let target = user.clone();
        self.d
            .acting_by_uid(call, move |_, a| {
                authorize(a, &Operation::SetOthersPassword { target: &target })
            })
            .await?;
        check_policy(&policy, &user, &new, None).map_err(to_bus)?;
        // In the one-handle login flow (login, sshd) the module can't
        // compare the new password with the code: only rosterd knows it.
        self.refuse_the_code(call, &user, &new).await?;
        let phc = self.d.hash(call, new).await?;
        self.d
            .acting_by_uid(call, move |r, a| {
                r.set_password_hash(a, &user, PasswordChange::ByAdmin, phc)
            })
            .await?;
        Ok(())
    }
}
