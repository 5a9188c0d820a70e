//! `org.roster.Roster1.Grants`: grant and revoke levels in environments.

use crate::convert::given;
use crate::daemon::{Daemon, Result};
use crate::errors::to_bus;
use crate::interfaces::users::end_everything;
use roster_client::{Ended, Revoked};
use roster_core::Level;
use std::str::FromStr;
use std::sync::Arc;
use zbus::message::Header;

pub struct Grants {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Grants")]
impl Grants {
    async fn grant(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        level: String,
        environment: String,
    ) -> Result<String> {
        let call = self.d.begin(&hdr, "users.grant", &user).await?;
        call.detail("level", level.clone());
        call.detail("environment", environment.clone());
        let r = async {
            let level = Level::from_str(&level).map_err(to_bus)?;
            let environment = given(&environment);
            let held = self
                .d
                .acting(&call, move |r, a| {
                    r.grant(a, &user, environment.as_deref(), level)
                })
                .await?;
            // An admin grant on this host's environment joins the admin group.
            self.d.snapshot.refresh().await?;
            Ok(held.as_str().to_owned())
        }
        .await;
        self.d.finish(&call, r)
    }

    async fn revoke(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        level: String,
        environment: String,
        end_sessions: bool,
    ) -> Result<Revoked> {
        let call = self.d.begin(&hdr, "users.revoke", &user).await?;
        call.detail("level", if level.is_empty() { "all" } else { &level });
        call.detail("environment", environment.clone());
        let r = async {
            let level = match level.as_str() {
                "" => None,
                text => Some(Level::from_str(text).map_err(to_bus)?),
            };
            let environment = given(&environment);
            let name = user.clone();
            let (outcome, uid) = self
                .d
                .acting(&call, move |r, a| {
                    let outcome = r.revoke(a, &name, environment.as_deref(), level)?;
                    let uid = r.user_by_name(&name)?.map(|u| u.uid);
                    Ok((outcome, uid))
                })
                .await?;
            // Sessions end even when NSS can't show the revoke yet.
            let published = self.d.snapshot.refresh().await;
            let live_sessions = match uid {
                Some(uid) => self.d.live_session_count(uid).await?,
                None => 0,
            };
            let mut ended = Ended::default();
            if end_sessions && let Some(uid) = uid {
                ended.sessions = live_sessions;
                ended.processes = end_everything(&self.d, &call, uid, false).await;
            }
            published?;
            Ok(Revoked {
                remaining: outcome
                    .after
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                admin_removed: outcome.admin_removed(),
                live_sessions,
                ended,
            })
        }
        .await;
        self.d.finish(&call, r)
    }
}
