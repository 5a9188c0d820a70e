//! `org.roster.Roster1.Grants`: grant and revoke levels in environments.

use crate::convert::{self, given};
use crate::daemon::{Daemon, Result};
use crate::interfaces::users::end_everything;
use roster_client::{Ended, Level, Optional, Revoked};
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
        level: Level,
        environment: String,
    ) -> Result<Level> {
        let target = user.clone();
        self.d
            .audited(&hdr, "users.grant", &target, async |call| {
                call.detail("level", level.as_str());
                call.detail("environment", environment.clone());
                if self.d.forwards() {
                    return self
                        .d
                        .fleet_grant(call, user, level, given(&environment))
                        .await;
                }
                let level = convert::level_from_wire(level);
                let environment = given(&environment);
                let held = self
                    .d
                    .acting(call, move |r, a| {
                        r.grant(a, &user, environment.as_deref(), level)
                    })
                    .await?;
                Ok(convert::level(held))
            })
            .await
    }

    async fn revoke(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        level: Optional<Level>,
        environment: String,
        end_sessions: bool,
    ) -> Result<Revoked> {
        let target = user.clone();
        self.d
            .audited(&hdr, "users.revoke", &target, async |call| {
                call.detail("level", level.map_or("all", Level::as_str));
                call.detail("environment", environment.clone());
                if self.d.forwards() {
                    let remaining = self
                        .d
                        .fleet_revoke(call, user, level.into(), given(&environment))
                        .await?;
                    // Sessions end as the change reaches each host.
                    return Ok(Revoked {
                        admin_removed: false,
                        remaining: remaining.into(),
                        live_sessions: 0,
                        ended: Ended::default(),
                    });
                }
                let level = level.map(convert::level_from_wire);
                let environment = given(&environment);
                let (outcome, uid) = self
                    .d
                    .acting(call, move |r, a| {
                        let outcome = r.revoke(a, &user, environment.as_deref(), level)?;
                        let uid = r.user_by_name(&user)?.map(|u| u.uid);
                        Ok((outcome, uid))
                    })
                    .await?;
                // Sessions end even when NSS can't show the revoke yet:
                // `finish` waits for the snapshot after this.
                let live_sessions = match uid {
                    Some(uid) => self.d.live_session_count(call, uid).await?,
                    None => 0,
                };
                let mut ended = Ended::default();
                if end_sessions && let Some(uid) = uid {
                    ended.sessions = live_sessions;
                    ended.processes = end_everything(&self.d, call, uid, false).await;
                }
                Ok(Revoked {
                    remaining: outcome.after.map(convert::level).into(),
                    admin_removed: outcome.admin_removed(),
                    live_sessions,
                    ended,
                })
            })
            .await
    }
}
