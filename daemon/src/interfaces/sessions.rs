//! `org.roster.Roster1.Sessions`: the PAM sessions the caller may see.

use crate::convert::{self, given};
use crate::daemon::{Daemon, Result};
use roster_client::SessionInfo;
use std::sync::Arc;
use zbus::message::Header;

pub struct Sessions {
    pub d: Arc<Daemon>,
}

#[zbus::interface(name = "org.roster.Roster1.Sessions")]
impl Sessions {
    async fn list(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        all: bool,
    ) -> Result<Vec<SessionInfo>> {
        let call = self.d.begin_read(&hdr, "sessions.list").await?;
        // A list never shows a session whose leader is gone.
        if let Err(e) = self.d.reap().await {
            eprintln!("rosterd: reaping sessions: {e}");
        }
        let user = given(&user);
        let sessions = self
            .d
            .acting(&call, move |r, a| r.list_sessions(a, user.as_deref(), all))
            .await?;
        Ok(sessions.iter().map(convert::session).collect())
    }
}
