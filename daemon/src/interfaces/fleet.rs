//! `org.roster.Roster1.Fleet`: join this host to a controller, see where
//! it stands, leave. Joining and leaving are root's (core's
//! `EnrollHost`); the status is anyone's (it holds nothing secret).

use crate::daemon::{Daemon, Result};
use roster_client::{FleetStatus, Joined};
use roster_core::Secret;
use std::sync::Arc;
use zbus::message::Header;

pub struct Fleet {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Fleet")]
impl Fleet {
    async fn join(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        url: String,
        ca_fingerprint: String,
        join_token: String,
        name: String,
        mode: String,
    ) -> Result<Joined> {
        let join_token = Secret::new(join_token);
        let target = url.clone();
        self.d
            .audited(&hdr, "hosts.join", &target, async |call| {
                self.d
                    .join_fleet(call, url, ca_fingerprint, join_token, name, mode)
                    .await
            })
            .await
    }

    async fn status(&self, #[zbus(header)] hdr: Header<'_>) -> Result<FleetStatus> {
        let call = self.d.begin_read(&hdr, "hosts.status").await?;
        self.d.fleet_status(&call).await
    }

    /// `roster login`: a session from the controller for `user`, bound
    /// to this host; answers the token (shown once) and its expiry.
    async fn login(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        password: String,
        hours: u32,
    ) -> Result<(String, i64)> {
        let password = Secret::new(password);
        let target = user.clone();
        self.d
            .audited(&hdr, "hosts.login", &target, async |call| {
                if !self.d.forwards() {
                    return Err(roster_client::RosterError::Conflict(
                        "this host is standalone: `roster login` is for hosts enrolled with a controller".into(),
                    ));
                }
                self.d.limit(call)?;
                let hours = (hours != 0).then_some(hours);
                self.d.fleet_login(call, user, password, hours).await
            })
            .await
    }

    /// `roster logout`: the session (presented on this connection) is
    /// deleted at the controller.
    async fn logout(&self, #[zbus(header)] hdr: Header<'_>) -> Result<()> {
        self.d
            .audited(&hdr, "hosts.logout", "", async |call| {
                self.d.fleet_logout(call).await
            })
            .await
    }

    async fn leave(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(String, String)> {
        self.d
            .audited(&hdr, "hosts.leave", "", async |call| {
                self.d.leave_fleet(call).await
            })
            .await
    }
}
