//! `org.roster.Roster1.Fleet`: join this host to a controller, see where
//! it stands, leave. Joining and leaving are root's (core's
//! `EnrollHost`); the status is anyone's (it holds nothing secret).

use crate::daemon::{Daemon, Result};
use roster_client::{FleetHostInfo, FleetSessionInfo, FleetStatus, JoinTokenInfo, Joined};
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

    /// The person's Roster name and current password for this
    /// connection's later changes (those a `roster login` session may not
    /// make: an API token, one's own SSH key). Enrolled hosts only.
    async fn present_password(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        password: String,
    ) -> Result<()> {
        let password = Secret::new(password);
        let target = user.clone();
        self.d
            .audited(&hdr, "hosts.present-password", &target, async |call| {
                if !self.d.forwards() {
                    return Err(roster_client::RosterError::Conflict(
                        "this host is standalone: a password is presented to a controller only"
                            .into(),
                    ));
                }
                crate::daemon::check_secret_length("password", &password)?;
                self.d.fleet_present_password(call, user, password)
            })
            .await
    }

    async fn join_token_create(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        environment: String,
        expires: String,
    ) -> Result<(String, JoinTokenInfo)> {
        let target = environment.clone();
        self.d
            .audited(&hdr, "hosts.token-create", &target, async |call| {
                self.d
                    .fleet_join_token_create(call, environment, expires)
                    .await
            })
            .await
    }

    async fn join_token_list(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<JoinTokenInfo>> {
        let call = self.d.begin_read(&hdr, "hosts.token-list").await?;
        self.d.fleet_join_token_list(&call).await
    }

    async fn join_token_delete(&self, #[zbus(header)] hdr: Header<'_>, id: String) -> Result<()> {
        let target = id.clone();
        self.d
            .audited(&hdr, "hosts.token-delete", &target, async |call| {
                self.d.fleet_join_token_delete(call, id).await
            })
            .await
    }

    async fn hosts_list(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        environment: String,
    ) -> Result<Vec<FleetHostInfo>> {
        let call = self.d.begin_read(&hdr, "hosts.list").await?;
        self.d.fleet_hosts_list(&call, environment).await
    }

    async fn hosts_revoke(&self, #[zbus(header)] hdr: Header<'_>, host: String) -> Result<()> {
        let target = host.clone();
        self.d
            .audited(&hdr, "hosts.revoke", &target, async |call| {
                self.d.fleet_hosts_revoke(call, host).await
            })
            .await
    }

    async fn environments_set(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        environment: String,
        settings: Vec<String>,
    ) -> Result<String> {
        let target = environment.clone();
        self.d
            .audited(&hdr, "environments.set", &target, async |call| {
                self.d
                    .fleet_environments_set(call, environment, settings)
                    .await
            })
            .await
    }

    async fn sessions(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
    ) -> Result<Vec<FleetSessionInfo>> {
        let call = self.d.begin_read(&hdr, "sessions.fleet").await?;
        self.d.fleet_sessions(&call, user).await
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
