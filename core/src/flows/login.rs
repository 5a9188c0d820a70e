//! A PAM login in two phases around rosterd's one argon2 verify:
//! [`Roster::begin_login`] reads once, [`Roster::finish_login`] records
//! the result in one transaction and decides the [`LoginOutcome`].

use super::code::is_live_code;
use crate::Result;
use crate::authz::{Actor, Operation, authorize};
use crate::clock::Timestamp;
use crate::config::LockoutConfig;
use crate::lockout::{ALL_REMOTE_HOSTS, LOCAL, lock_message, remote_host_key};
use crate::model::UserState;
use crate::roster::{Roster, locked_from};
use crate::secret::Secret;
use crate::store::{CodeRow, Tx};

/// What a pending user is told when the secret typed at the password
/// prompt was their registration code.
pub const CODE_ACCEPTED: &str = "registration code accepted: choose a password";

/// How a login ended, with what the person is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The right password.
    Success,
    /// A pending user's registration code: PAM asks for a new password.
    CodeAccepted,
    /// A wrong password or code (counted toward the lockout).
    Failed,
    /// Locked out from there until `until` (before the verify, or by this
    /// failure, or while the hash ran: a right secret lifts nothing).
    Locked { until: Timestamp, message: String },
    /// rosterd doesn't know the user (the module passes on to the next).
    Unknown,
}

impl LoginOutcome {
    /// The sentence for the person (empty when there is none).
    pub fn message(&self) -> &str {
        match self {
            LoginOutcome::CodeAccepted => CODE_ACCEPTED,
            LoginOutcome::Locked { message, .. } => message,
            LoginOutcome::Success | LoginOutcome::Failed | LoginOutcome::Unknown => "",
        }
    }

    /// The lockout's end, for [`LoginOutcome::Locked`].
    pub fn locked_until(&self) -> Option<Timestamp> {
        match self {
            LoginOutcome::Locked { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// What [`Roster::begin_login`] read: enough to verify the secret and to
/// finish without another read.
pub struct LoginPlan {
    name: String,
    /// The lockout key the login counts under ([`LOCAL`] for none).
    host: String,
    /// A remote host was named, but the login counts as local.
    counted_as_local: bool,
    /// When the login began: the lock message counts from here.
    began: Timestamp,
    user: Option<Known>,
    /// A fleet host holds no hash for this active user (a role admin's
    /// first login here, or a hash dropped by "password changed"): the
    /// controller checks the password online first (DESIGN.md "What a
    /// host receives").
    online: bool,
}

/// A user rosterd knows, as [`Roster::begin_login`] found them.
struct Known {
    uid: u32,
    pending: bool,
    active: bool,
    /// The stored hash; None for a pending user (or one without a password).
    hash: Option<String>,
    locked_until: Option<Timestamp>,
    /// A counter exists for (user, this host): a success has one to clear.
    counted_here: bool,
    /// A pending user's code row, checked in memory by the finish.
    code: Option<CodeRow>,
}

impl std::fmt::Debug for LoginPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginPlan")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("known", &self.is_known())
            .field("pending", &self.is_pending())
            .field("locked_until", &self.locked_until())
            .finish_non_exhaustive()
    }
}

impl LoginPlan {
    /// The hash rosterd verifies the secret against, always exactly once;
    /// None means the dummy hash (an unknown or pending user), at the same
    /// cost, so a wrong password, an unknown user and a pending user's
    /// attempt take the same time.
    pub fn hash_to_verify(&self) -> Option<String> {
        self.user.as_ref().and_then(|u| u.hash.clone())
    }

    /// Whether rosterd asks the controller first (see the field); after
    /// an online check that cached the hash, the login begins again.
    pub fn needs_online_check(&self) -> bool {
        self.online && self.refused().is_none()
    }

    /// The answer without a verify: locked out from there already.
    pub fn refused(&self) -> Option<LoginOutcome> {
        self.locked_until().map(|until| LoginOutcome::Locked {
            until,
            message: lock_message(until, self.began),
        })
    }

    /// When the user is locked out from this host, as the plan read it.
    pub fn locked_until(&self) -> Option<Timestamp> {
        self.user.as_ref().and_then(|u| u.locked_until)
    }

    /// A remote host was named by a caller other than root: the login
    /// counts as local (see [`Roster::begin_login`]).
    pub fn counted_as_local(&self) -> bool {
        self.counted_as_local
    }

    /// The adopted crypt scheme of the hash to verify, if it is one:
    /// rosterd verifies it through libcrypt and, when it is right, hashes
    /// the secret with argon2id for [`Roster::finish_login_upgrading`].
    pub fn legacy_kind(&self) -> Option<crate::legacy_hash::LegacyKind> {
        self.user
            .as_ref()
            .and_then(|u| u.hash.as_deref())
            .and_then(crate::legacy_hash::LegacyKind::of)
    }

    pub fn is_known(&self) -> bool {
        self.user.is_some()
    }

    pub fn is_pending(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.pending)
    }

    /// Whether `secret` is the pending user's live registration code
    /// (checked in memory against the row the plan read).
    /// A pending user whose registration code this store doesn't hold: a
    /// fleet host's cache (codes never leave the controller), where the
    /// code typed at a login is checked online.
    pub fn pending_without_code(&self) -> bool {
        matches!(
            &self.user,
            Some(Known {
                pending: true,
                code: None,
                ..
            })
        ) && self.refused().is_none()
    }

    pub fn accepts_code(&self, secret: &Secret, now: Timestamp) -> bool {
        match &self.user {
            Some(Known {
                pending: true,
                code: Some(row),
                ..
            }) => is_live_code(secret, row, now),
            _ => false,
        }
    }
}

/// Count a failure toward the lockout of (`uid`, `host`), and for a
/// remote host toward the user's counter over all remote hosts. Answers
/// the lockout's end when the user is locked out from there afterwards.
pub(crate) fn count_failure(
    tx: &Tx<'_>,
    uid: u32,
    host: &str,
    config: &LockoutConfig,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let mut counter = tx.lockout(uid, host)?;
    counter.fail(config, now);
    tx.save_lockout(uid, host, &counter)?;
    if host != LOCAL {
        let mut all = tx.lockout(uid, ALL_REMOTE_HOSTS)?;
        all.fail_remote(config, now);
        tx.save_lockout(uid, ALL_REMOTE_HOSTS, &all)?;
    }
    locked_from(tx, uid, host, now)
}

impl Roster {
    /// A login's first phase, in one read transaction: authorization (PAM:
    /// root, or the user themselves), the user (or none), its lock from
    /// `remote_host` (None = local; a remote host is also locked when all
    /// remote hosts together locked it), the hash to verify, and a pending
    /// user's code row. A remote host that is not a host name or address
    /// is `InvalidArgument`, before anything is read; one named by a
    /// caller other than root counts as local.
    pub fn begin_login(
        &mut self,
        actor: &Actor,
        name: &str,
        remote_host: Option<&str>,
    ) -> Result<LoginPlan> {
        authorize(actor, &Operation::VerifyPassword { target: name })?;
        let named = remote_host_key(remote_host)?;
        // A caller other than root (a screen locker checking its own
        // account) is on this machine whatever it says: counted as local,
        // so it can neither spray the user's all-remote-hosts bound nor
        // add rows to the lockouts table.
        let counted_as_local = named != LOCAL && !matches!(actor, Actor::Root);
        let host = if counted_as_local { LOCAL } else { named }.to_owned();
        let began = self.now();
        let user = self.store.read(|tx| {
            let Some(user) = tx.user(name, began)? else {
                return Ok(None);
            };
            let pending = user.state == UserState::Pending;
            Ok(Some(Known {
                uid: user.uid,
                pending,
                active: user.state == UserState::Active,
                hash: if pending {
                    None
                } else {
                    tx.password_hash(user.uid)?
                },
                locked_until: locked_from(tx, user.uid, &host, began)?,
                counted_here: tx.lockout(user.uid, &host)? != Default::default(),
                code: if pending { tx.code_of(user.uid)? } else { None },
            }))
        })?;
        let online = self.fleet_host && user.as_ref().is_some_and(|u| u.active && u.hash.is_none());
        Ok(LoginPlan {
            name: name.to_owned(),
            host,
            counted_as_local,
            began,
            user,
            online,
        })
    }

    /// A login's second phase, after rosterd verified `secret` against
    /// [`LoginPlan::hash_to_verify`] (`verified`): a pending user's code is
    /// checked in memory; then one transaction records the result and
    /// re-checks the lock, so a lock that came while the hash ran holds
    /// and a right secret lifts nothing (only `unlock`, an admin-set
    /// password or time do), and re-reads what the secret was checked
    /// against: a code used up or a password reset while the hash ran
    /// makes the secret a failure (counted), never a login. A failure counts toward (user, host), and for
    /// a remote host toward the user's counter over all remote hosts; a
    /// success clears the (user, host) counter (never the one over all
    /// remote hosts: a person's own logins must not buy a sprayer more
    /// guesses). The transaction writes only when there is something to
    /// count or clear: a success with nothing to clear only reads, and
    /// goes through while someone else holds the write lock. An unknown
    /// user needs no transaction.
    pub fn finish_login(
        &mut self,
        plan: LoginPlan,
        secret: &Secret,
        verified: bool,
    ) -> Result<LoginOutcome> {
        self.finish_login_upgrading(plan, secret, verified, None)
    }

    /// [`Roster::finish_login`], and for a user whose stored hash is an
    /// adopted crypt hash ([`LoginPlan::legacy_kind`]), `upgrade`: the
    /// argon2id hash rosterd made of the secret it just verified. A
    /// success stores it in the same transaction that records the login
    /// (the password's "changed at" stays as it was); anything else (a
    /// failure, a lock, a suspended user, a hash changed while the verify
    /// ran, a hash that is not argon2id) stores nothing.
    pub fn finish_login_upgrading(
        &mut self,
        plan: LoginPlan,
        secret: &Secret,
        verified: bool,
        upgrade: Option<String>,
    ) -> Result<LoginOutcome> {
        let upgrade = match upgrade {
            Some(phc) if verified && plan.legacy_kind().is_some() => {
                crate::password::check_phc(&phc)?;
                Some(phc)
            }
            _ => None,
        };
        let now = self.now();
        let code_right = plan.accepts_code(secret, now);
        let LoginPlan {
            name,
            host,
            began,
            user,
            ..
        } = plan;
        let Some(user) = user else {
            return Ok(LoginOutcome::Unknown);
        };
        // What the verify (or the code check) vouched for must still be
        // what the store holds as the finish commits: a registration or a
        // reset while the hash ran makes the old secret worth nothing.
        let still_current = |tx: &Tx<'_>| -> Result<bool> {
            let Some(current) = tx.user(&name, now)? else {
                return Ok(false);
            };
            if current.uid != user.uid {
                return Ok(false);
            }
            if code_right {
                let pending = current.state == UserState::Pending;
                let same_code = match (&user.code, tx.code_of(current.uid)?) {
                    (Some(read), Some(now_row)) => {
                        read.public_id == now_row.public_id
                            && read.hash == now_row.hash
                            && is_live_code(secret, &now_row, now)
                    }
                    _ => false,
                };
                return Ok(pending && same_code);
            }
            Ok(tx.password_hash(current.uid)? == user.hash)
        };
        let claimed = verified || code_right;
        let config = self.config.lockout.clone();
        let count = |tx: &Tx<'_>| -> Result<Option<Timestamp>> {
            // Gone while the hash ran: nothing left to count.
            let Some(current) = tx.user(&name, now)? else {
                return Ok(None);
            };
            count_failure(tx, current.uid, &host, &config, now)
        };
        // A code accepted is no password to keep; a suspended user's
        // right password is no login (the account check refuses it): the
        // hash stays as imported until a login that goes through.
        let upgrade = upgrade.filter(|_| !code_right && user.active);
        let writes = user.counted_here || upgrade.is_some();
        let (success, locked) = match (claimed, writes) {
            (false, _) => (false, self.store.write(count)?),
            (true, true) => self.store.write(|tx| {
                if !still_current(tx)? {
                    return Ok((false, count(tx)?));
                }
                if let Some(until) = locked_from(tx, user.uid, &host, now)? {
                    return Ok((true, Some(until)));
                }
                if user.counted_here {
                    tx.clear_lockout(user.uid, &host)?;
                }
                if let Some(phc) = &upgrade {
                    let changed = tx.user(&name, now)?.and_then(|u| u.password_changed);
                    tx.set_password(user.uid, Some(phc), changed)?;
                }
                Ok((true, None))
            })?,
            (true, false) => {
                let (current, locked) = self
                    .store
                    .read(|tx| Ok((still_current(tx)?, locked_from(tx, user.uid, &host, now)?)))?;
                if current {
                    (true, locked)
                } else {
                    // Rare (a change raced the hash): the one extra trip.
                    (false, self.store.write(count)?)
                }
            }
        };
        let code_right = code_right && success;
        Ok(match (locked, success, code_right) {
            (Some(until), _, _) => LoginOutcome::Locked {
                until,
                message: lock_message(until, began),
            },
            (None, true, true) => LoginOutcome::CodeAccepted,
            (None, true, false) => LoginOutcome::Success,
            (None, false, _) => LoginOutcome::Failed,
        })
    }
}
