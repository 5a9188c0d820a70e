//! `org.roster.Roster1.Registration`: a pending user finishes registering
//! with the code an admin handed out. Anyone may call: the code is the
//! authority, and core counts a wrong one against its user.

use crate::daemon::{Daemon, Result, check_secret_length};
use crate::errors::to_bus;
use crate::interfaces::pam::code_as_password;
use roster_client::RosterError;
use roster_core::Secret;
use roster_core::credential;
use roster_core::password::check_policy;
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
        let call = self.d.begin(&hdr, "users.register", "").await?;
        let r = async {
            if code.is_empty() || new.is_empty() {
                return Err(RosterError::InvalidArgument(
                    "both the registration code and a new password are needed".into(),
                ));
            }
            check_secret_length("registration code", &code)?;
            // Before the code is looked at: guesses are rate-limited.
            self.d.limit(&call)?;
            check_secret_length("new password", &new)?;
            // The code first: it names the user the policy needs, and a
            // wrong one (counted toward its owner's lockout) costs no hash.
            let owner_code = code.clone();
            let owner = self
                .d
                .store(&call, move |r| r.code_owner(&owner_code))
                .await?;
            call.detail("user", owner.name.clone());
            check_policy(&self.d.config.password, &owner.name, &new, Some(&code))
                .map_err(to_bus)?;
            if same_code(&code, &new) {
                return Err(code_as_password());
            }
            let phc = self.d.hash(&call, new).await?;
            // Checks the code again and uses it up with the password stored,
            // in one transaction.
            let user = self.d.store(&call, move |r| r.register(&code, phc)).await?;
            Ok(user.name)
        }
        .await;
        self.d.finish(&call, r).await
    }
}

/// Whether `new` is `code` in another spelling (case, o/0, i/l/1).
fn same_code(code: &Secret, new: &Secret) -> bool {
    match (credential::parse(code), credential::parse(new)) {
        (Some((a, x)), Some((b, y))) => a == b && x.expose() == y.expose(),
        _ => false,
    }
}
