//! `org.roster.Roster1.Environments`: add, list, remove.

use crate::convert;
use crate::daemon::{Daemon, Result};
use roster_client::EnvironmentInfo;
use std::sync::Arc;
use zbus::message::Header;

pub struct Environments {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Environments")]
impl Environments {
    async fn add(&self, #[zbus(header)] hdr: Header<'_>, name: String) -> Result<EnvironmentInfo> {
        let target = name.clone();
        self.d
            .audited(&hdr, "environments.add", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_add_environment(call, name).await;
                }
                let here = self.d.environment();
                self.d
                    .acting(call, move |r, a| r.add_environment(a, &name))
                    .await
                    .map(|e| convert::environment(&e, &here))
            })
            .await
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<EnvironmentInfo>> {
        let call = self.d.begin_read(&hdr, "environments.list").await?;
        let here = self.d.environment();
        let envs = self.d.acting(&call, |r, a| r.list_environments(a)).await?;
        Ok(envs
            .iter()
            .map(|e| convert::environment(e, &here))
            .collect())
    }

    async fn remove(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        force: bool,
    ) -> Result<u32> {
        let target = name.clone();
        self.d
            .audited(&hdr, "environments.remove", &target, async |call| {
                if force {
                    call.detail("force", "yes");
                }
                if self.d.forwards() {
                    return self.d.fleet_remove_environment(call, name, force).await;
                }
                let dropped = self
                    .d
                    .acting(call, move |r, a| r.remove_environment(a, &name, force))
                    .await?;
                if dropped > 0 {
                    call.detail("grants_dropped", dropped.to_string());
                }
                Ok(dropped)
            })
            .await
    }
}
