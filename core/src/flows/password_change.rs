//! Every way a password is set, in one shape around rosterd's argon2
//! work: [`Roster::plan_password_change`] (authorization, the lockout, the
//! target, what must be verified) → rosterd verifies what
//! [`PasswordPlan::to_verify`] names → [`PasswordPlan::password_to_hash`]
//! (the policy and the code rule, after the current password was checked,
//! so a wrong one is counted whatever the new one is) → rosterd hashes →
//! [`Roster::commit_password_change`] (the lock re-checked and the write,
//! in one transaction; or a wrong current password counted).

use super::code::{is_live_code, refuse_the_code};
use super::login::count_failure;
use crate::Result;
use crate::authz::{Actor, Operation, authorize};
use crate::clock::Timestamp;
use crate::config::PasswordConfig;
use crate::credential;
use crate::error::Error;
use crate::lockout::LOCAL;
use crate::model::{NewUser, User, UserState};
use crate::password::check_policy;
use crate::roster::{
    InitialCredential, PasswordChange, Roster, invalid_code, live_code_owner, need_user,
    refuse_if_locked,
};
use crate::secret::Secret;
use crate::store::CodeRow;
use crate::validate;

/// Where an own change (with the current password) comes from, which
/// decides its authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// pam_roster's chauthtok: by the caller's uid alone (root, or the
    /// user themselves); a token never counts.
    Pam,
    /// `users password` with the current password, by the user or
    /// through a token with scope full.
    Api,
}

/// A request to set a password, checked for its shape as it is made (an
/// empty new password is refused first, before anything else is looked
/// at or any rate is taken).
#[derive(Debug)]
pub struct PasswordRequest(pub(crate) Request);

#[derive(Debug)]
pub(crate) enum Request {
    /// A new user with a password (`users create`).
    Create { user: NewUser, new: Secret },
    /// An own change with the current password (a pending user's current
    /// password is their registration code).
    Own {
        name: String,
        current: Secret,
        new: Secret,
        channel: Channel,
    },
    /// An admin's or root's change, without the current password.
    ByAdmin { name: String, new: Secret },
    /// A pending user finishing registration with the code.
    Register { code: Secret, new: Secret },
}

fn new_password_given(new: &Secret) -> Result<()> {
    if new.is_empty() {
        return Err(Error::InvalidArgument("the new password is empty".into()));
    }
    Ok(())
}

impl PasswordRequest {
    /// `users create NAME` with a password.
    pub fn create(user: NewUser, password: Secret) -> Result<PasswordRequest> {
        if password.is_empty() {
            return Err(Error::InvalidArgument(
                "a password is needed: give one, or create the user with --register".into(),
            ));
        }
        Ok(PasswordRequest(Request::Create {
            user,
            new: password,
        }))
    }

    /// An own change with the current password (an empty one is only a
    /// wrong one, checked like any other).
    pub fn own(
        name: &str,
        current: Secret,
        new: Secret,
        channel: Channel,
    ) -> Result<PasswordRequest> {
        new_password_given(&new)?;
        Ok(PasswordRequest(Request::Own {
            name: name.to_owned(),
            current,
            new,
            channel,
        }))
    }

    /// A change by an admin or root, without the current password.
    pub fn by_admin(name: &str, new: Secret) -> Result<PasswordRequest> {
        new_password_given(&new)?;
        Ok(PasswordRequest(Request::ByAdmin {
            name: name.to_owned(),
            new,
        }))
    }

    /// `roster register`: the code an admin handed out, and a new password.
    pub fn register(code: Secret, new: Secret) -> Result<PasswordRequest> {
        if code.is_empty() || new.is_empty() {
            return Err(Error::InvalidArgument(
                "both the registration code and a new password are needed".into(),
            ));
        }
        Ok(PasswordRequest(Request::Register { code, new }))
    }

    /// Whether this is a change without the current password.
    pub fn is_by_admin(&self) -> bool {
        matches!(self.0, Request::ByAdmin { .. })
    }
}

/// What [`Roster::plan_password_change`] decided and read: what rosterd
/// must verify, then hash, and what the commit writes.
pub struct PasswordPlan {
    actor: Actor,
    policy: PasswordConfig,
    now: Timestamp,
    step: Step,
}

enum Step {
    Create {
        user: NewUser,
        new: Secret,
    },
    Own {
        name: String,
        pending: bool,
        current: Secret,
        new: Secret,
        /// The hash to verify `current` against (None: the dummy).
        hash: Option<String>,
        /// The pending user's code row.
        code: Option<CodeRow>,
    },
    ByAdmin {
        name: String,
        new: Secret,
        /// The target's code row when it is pending.
        code: Option<CodeRow>,
    },
    Register {
        code: Secret,
        owner: String,
        row: CodeRow,
        new: Secret,
    },
}

impl std::fmt::Debug for PasswordPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = match &self.step {
            Step::Create { .. } => "create",
            Step::Own { .. } => "own",
            Step::ByAdmin { .. } => "by-admin",
            Step::Register { .. } => "register",
        };
        f.debug_struct("PasswordPlan")
            .field("step", &step)
            .field("user", &self.user())
            .finish_non_exhaustive()
    }
}

impl PasswordPlan {
    /// Who planned the change (the commit authorizes whoever the caller
    /// is by then).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The user whose password is set (a registration's: the code's owner).
    pub fn user(&self) -> &str {
        match &self.step {
            Step::Create { user, .. } => &user.name,
            Step::Own { name, .. } | Step::ByAdmin { name, .. } => name,
            Step::Register { owner, .. } => owner,
        }
    }

    /// What rosterd verifies before anything is hashed: the current
    /// password and the hash to verify it against (None: the dummy hash,
    /// at the same cost; a pending user's current password is checked as
    /// their code as well). None when nothing needs verifying.
    pub fn to_verify(&self) -> Option<(Secret, Option<String>)> {
        match &self.step {
            Step::Own { current, hash, .. } => Some((current.clone(), hash.clone())),
            _ => None,
        }
    }

    /// The current password was the pending user's registration code
    /// (checked in memory against the code row the plan read).
    pub fn by_code(&self) -> bool {
        match &self.step {
            Step::Own {
                pending: true,
                current,
                code: Some(row),
                ..
            } => is_live_code(current, row, self.now),
            _ => false,
        }
    }

    /// Whether the change may go on, given rosterd's verify of
    /// [`PasswordPlan::to_verify`] (ignored when nothing was to verify).
    fn accepted(&self, verified: bool) -> bool {
        match &self.step {
            Step::Own { .. } => verified || self.by_code(),
            _ => true,
        }
    }

    /// After the verify: the new password rosterd must hash, once the
    /// policy and the code rule passed; None when the current password was
    /// wrong (then [`Roster::commit_password_change`] counts it and
    /// answers why, without a hash). The code counts as the old password
    /// (a new one equal to it is refused by the policy), and a pending
    /// user's code in any other spelling by [`refuse_the_code`].
    pub fn password_to_hash(&self, verified: bool) -> Result<Option<Secret>> {
        if !self.accepted(verified) {
            return Ok(None);
        }
        let (new, old, code) = match &self.step {
            Step::Create { new, .. } => (new, None, None),
            Step::Own {
                current, new, code, ..
            } => (new, Some(current), code.as_ref()),
            Step::ByAdmin { new, code, .. } => (new, None, code.as_ref()),
            Step::Register { code, row, new, .. } => (new, Some(code), Some(row)),
        };
        check_policy(&self.policy, self.user(), new, old)?;
        refuse_the_code(new, code, self.now)?;
        Ok(Some(new.clone()))
    }
}

impl Roster {
    /// A password change's first phase: authorization, the lockout and
    /// the target, in at most one transaction, before any hash is spent.
    /// - create: `CreateUser` and the new name's checks;
    /// - own: `ChangeOwnPassword` ([`Channel::Api`]; a token acts as its
    ///   user) or PAM's `VerifyPassword` ([`Channel::Pam`]); the user must
    ///   exist and not be locked out locally (this is a local way to guess
    ///   the password: no hash is handed out to verify then);
    /// - by an admin: `SetOthersPassword`;
    /// - registration: the code is the authority (nobody else's rights
    ///   count): its owner, checked as the commit checks it (wrong, used
    ///   or expired → `AuthFailed`; `Locked`; `PermissionDenied` when
    ///   suspended), and a wrong code is counted toward its owner's local
    ///   lockout, committed although the call fails, and costs no hash.
    pub fn plan_password_change(
        &mut self,
        actor: &Actor,
        request: PasswordRequest,
    ) -> Result<PasswordPlan> {
        let now = self.now();
        let step = match request.0 {
            Request::Create { user, new } => {
                authorize(actor, &Operation::CreateUser)?;
                validate::new_user_name(&user.name, &self.config)?;
                Step::Create { user, new }
            }
            Request::Own {
                name,
                current,
                new,
                channel,
            } => {
                let op = match channel {
                    Channel::Pam => Operation::VerifyPassword { target: &name },
                    Channel::Api => Operation::ChangeOwnPassword { target: &name },
                };
                authorize(actor, &op)?;
                let (pending, hash, code) = self.store.read(|tx| {
                    let user = need_user(tx, &name, now)?;
                    refuse_if_locked(tx, &user, LOCAL, now)?;
                    if user.state == UserState::Pending {
                        Ok((true, None, tx.code_of(user.uid)?))
                    } else {
                        Ok((false, tx.password_hash(user.uid)?, None))
                    }
                })?;
                Step::Own {
                    name,
                    pending,
                    current,
                    new,
                    hash,
                    code,
                }
            }
            Request::ByAdmin { name, new } => {
                authorize(actor, &Operation::SetOthersPassword { target: &name })?;
                // An unknown user is refused by the commit, as before the
                // policy was looked at; only a pending one has a code.
                let code = self.store.read(|tx| match tx.user(&name, now)? {
                    Some(user) if user.state == UserState::Pending => tx.code_of(user.uid),
                    _ => Ok(None),
                })?;
                Step::ByAdmin { name, new, code }
            }
            Request::Register { code, new } => {
                let (id, secret) = credential::parse(&code).ok_or_else(invalid_code)?;
                let lockout = self.config.lockout.clone();
                let found = self.store.write(|tx| {
                    let Some(owner) = live_code_owner(tx, &id, &secret, now, &lockout)? else {
                        return Ok(None);
                    };
                    let row = tx.code_of(owner.uid)?.ok_or_else(invalid_code)?;
                    Ok(Some((owner, row)))
                })?;
                let (owner, row) = found.ok_or_else(invalid_code)?;
                Step::Register {
                    code,
                    owner: owner.name,
                    row,
                    new,
                }
            }
        };
        Ok(PasswordPlan {
            actor: actor.clone(),
            policy: self.config.password.clone(),
            now,
            step,
        })
    }

    /// A password change's second phase, after rosterd verified what the
    /// plan named (`verified`) and hashed what
    /// [`PasswordPlan::password_to_hash`] answered (`new_phc`). `actor` is
    /// who the caller is now, resolved again at the commit: a token
    /// revoked or an admin demoted or suspended while the hash ran is
    /// authorized no longer.
    /// A wrong current password is counted like a failed local login (it
    /// is a way to guess the password too) and answered `AuthFailed`.
    /// Otherwise one transaction re-checks and writes: the new user; an
    /// own change refused (`Locked`) while the user is locked out locally
    /// (the lock may have come while the current password was verified,
    /// and a right password never lifts a lockout); a code checked again
    /// and used up with the password stored. Every stored password voids
    /// the code and tokens, clears lockouts and makes a pending user
    /// active.
    pub fn commit_password_change(
        &mut self,
        actor: &Actor,
        plan: PasswordPlan,
        verified: bool,
        new_phc: Option<String>,
    ) -> Result<User> {
        let accepted = plan.accepted(verified);
        let by_code = plan.by_code();
        let PasswordPlan { step, .. } = plan;
        if let Step::Own { name, pending, .. } = &step
            && !accepted
        {
            let now = self.now();
            let config = self.config.lockout.clone();
            self.store.write(|tx| {
                let Some(user) = tx.user(name, now)? else {
                    return Ok(None);
                };
                count_failure(tx, user.uid, LOCAL, &config, now)
            })?;
            return Err(Error::AuthFailed(
                if *pending {
                    "the registration code is wrong or expired"
                } else {
                    "the current password is wrong"
                }
                .into(),
            ));
        }
        let phc = new_phc.ok_or_else(|| {
            Error::InvalidArgument(
                "no new password hash was given: hash the password the plan answers first".into(),
            )
        })?;
        match step {
            Step::Create { user, .. } => Ok(self
                .create_user(actor, user, InitialCredential::PasswordHash(phc))?
                .0),
            Step::Own { current, .. } if by_code => self.register(&current, phc),
            Step::Own { name, hash, .. } => self.set_password_hash(
                actor,
                &name,
                PasswordChange::Own {
                    verified_against: hash,
                },
                phc,
            ),
            Step::ByAdmin { name, .. } => {
                self.set_password_hash(actor, &name, PasswordChange::ByAdmin, phc)
            }
            Step::Register { code, .. } => self.register(&code, phc),
        }
    }
}
