//! The rule tests written before the flows (lockout per host, codes,
//! registration) kept their bodies: each single step they call is here,
//! made of the flows' phases as rosterd runs them, so the same assertions
//! now hold the flows to those rules.

use crate::clock::Timestamp;
use crate::flows::LoginPlan;
use crate::flows::password_change::{Channel, PasswordRequest, Request};
use crate::{Actor, Result, Roster, Secret, User};

/// What [`Roster::begin_login`]'s plan tells about the user.
#[derive(Debug)]
pub struct LoginCheck {
    pub hash: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub pending: bool,
    pub known: bool,
}

impl From<&LoginPlan> for LoginCheck {
    fn from(plan: &LoginPlan) -> LoginCheck {
        LoginCheck {
            hash: plan.hash_to_verify(),
            locked_until: plan.locked_until(),
            pending: plan.is_pending(),
            known: plan.is_known(),
        }
    }
}

/// A new password every policy takes.
pub const FINE_NEW: &str = "a fine new password";

impl Roster {
    /// [`Roster::begin_login`], as the plan's view.
    pub fn login_check(
        &mut self,
        actor: &Actor,
        name: &str,
        remote_host: Option<&str>,
    ) -> Result<LoginCheck> {
        Ok(LoginCheck::from(&self.begin_login(
            actor,
            name,
            remote_host,
        )?))
    }

    /// A whole login by root whose verify answered `success`: begin, then
    /// finish. The lockout's end when it answers Locked.
    pub fn record_login_result(
        &mut self,
        name: &str,
        remote_host: Option<&str>,
        success: bool,
    ) -> Result<Option<Timestamp>> {
        let plan = self.begin_login(&Actor::Root, name, remote_host)?;
        Ok(self
            .finish_login(plan, &Secret::new(""), success)?
            .locked_until())
    }

    /// Whether `code` is `name`'s live registration code, as the login
    /// plan checks it in memory.
    pub fn verify_code(&mut self, actor: &Actor, name: &str, code: &Secret) -> Result<bool> {
        let plan = self.begin_login(actor, name, None)?;
        Ok(plan.accepts_code(code, self.now()))
    }

    /// The hash an own change (`users password` with the current
    /// password) verifies against, as its plan names it.
    pub fn current_hash(&mut self, actor: &Actor, name: &str) -> Result<Option<String>> {
        let request = PasswordRequest(Request::Own {
            name: name.to_owned(),
            current: Secret::new(""),
            new: Secret::new(FINE_NEW),
            channel: Channel::Api,
        });
        let plan = self.plan_password_change(actor, request)?;
        Ok(plan.to_verify().and_then(|(_, hash)| hash))
    }

    /// The owner of a registration code, as the registration's plan finds
    /// it (a wrong code counted), without using it up.
    pub fn code_owner(&mut self, code: &Secret) -> Result<User> {
        let request = PasswordRequest(Request::Register {
            code: code.clone(),
            new: Secret::new(FINE_NEW),
        });
        let plan = self.plan_password_change(&Actor::Root, request)?;
        let name = plan.user().to_owned();
        self.user_by_name(&name)?
            .ok_or_else(|| crate::Error::NotFound(format!("user {name:?} not found")))
    }
}
