//! `org.roster.Roster1.Keys`: users' SSH public keys, and the lines sshd's
//! AuthorizedKeysCommand gets.

use crate::daemon::{Daemon, Result};
use roster_client::{KeyInfo, RosterError};
use std::sync::Arc;
use zbus::message::Header;

pub struct Keys {
    pub d: Arc<Daemon>,
}

fn not_yet() -> RosterError {
    RosterError::Unavailable("SSH keys are not served by this rosterd yet".into())
}

#[zbus::interface(name = "org.roster.Roster1.Keys")]
impl Keys {
    async fn add(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        key_line: String,
    ) -> Result<KeyInfo> {
        let _ = (&self.d, hdr, user, key_line);
        Err(not_yet())
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>, user: String) -> Result<Vec<KeyInfo>> {
        let _ = (hdr, user);
        Err(not_yet())
    }

    async fn remove(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        fingerprint: String,
    ) -> Result<()> {
        let _ = (hdr, user, fingerprint);
        Err(not_yet())
    }

    async fn authorized_keys(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
    ) -> Result<Vec<String>> {
        let _ = (hdr, user);
        Err(not_yet())
    }
}
