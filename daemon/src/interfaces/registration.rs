//! `org.roster.Roster1.Registration`: a pending user finishes registering
//! with the code an admin handed out. Anyone may call: the code is the
//! authority, and core counts a wrong one against its user.

use crate::daemon::{Daemon, Result, check_secret_length};
use crate::errors::to_bus;
use crate::interfaces::users::carry_out;
use roster_core::Secret;
use roster_core::flows::PasswordRequest;
use std::sync::Arc;
use zbus::message::Header;

pub struct Registration {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Registration")]
impl Registration {
    async fn register(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        code: String,
        new_password: String,
    ) -> Result<String> {
        let (code, new) = (Secret::new(code), Secret::new(new_password));
        self.d
            .audited(&hdr, "users.register", "", async |call| {
                let request =
                    PasswordRequest::register(code.clone(), new.clone()).map_err(to_bus)?;
                check_secret_length("registration code", &code)?;
                // Before the code is looked at: guesses are rate-limited.
                self.d.limit(call)?;
                check_secret_length("new password", &new)?;
                if self.d.forwards() {
                    return self.d.fleet_register(call, code, new).await;
                }
                // The code first: it names the user the policy needs, and a
                // wrong one (counted toward its owner's lockout) costs no hash.
                let plan = self
                    .d
                    .acting_by_uid(call, move |r, a| r.plan_password_change(a, request))
                    .await?;
                call.detail("user", plan.user().to_owned());
                // Checks the code again and uses it up with the password
                // stored, in one transaction.
                let user = carry_out(&self.d, call, plan, false, |_| {}).await?;
                Ok(user.name)
            })
            .await
    }
}
