//! `org.roster.Roster1.Keys`: users' SSH public keys, and the lines sshd's
//! AuthorizedKeysCommand gets (`roster ssh-authorized-keys USER`).

use crate::daemon::{Daemon, Result};
use roster_client::KeyInfo;
use roster_core::SshKey;
use std::sync::Arc;
use zbus::message::Header;

pub struct Keys {
    pub d: Arc<Daemon>,
}

fn info(k: &SshKey) -> KeyInfo {
    KeyInfo {
        key_type: k.key_type.clone(),
        fingerprint: k.fingerprint.clone(),
        comment: k.comment.clone(),
        bits: k.bits,
        added: k.added,
        line: k.line.clone(),
    }
}

#[zbus::interface(name = "org.roster.Roster1.Keys")]
impl Keys {
    async fn add(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        key_line: String,
    ) -> Result<KeyInfo> {
        let target = user.clone();
        self.d
            .audited(&hdr, "keys.add", &target, async |call| {
                if self.d.forwards() {
                    let keys = self.d.fleet_add_keys(call, user, key_line, false).await?;
                    for key in &keys {
                        call.detail("fingerprint", key.fingerprint.clone());
                    }
                    return keys.into_iter().next().ok_or_else(|| {
                        roster_client::RosterError::Unavailable(
                            "the controller added no key and said no error: check with `roster users keys list`".into(),
                        )
                    });
                }
                let key = self
                    .d
                    .acting(call, move |r, a| r.add_key(a, &user, &key_line))
                    .await?;
                call.detail("fingerprint", key.fingerprint.clone());
                Ok(info(&key))
            })
            .await
    }

    /// Every key of `key_text` (an `authorized_keys`-style file: one key a
    /// line, blank lines and `#` comments skipped), all or none: a bad
    /// line refuses the whole text, naming the line.
    async fn add_many(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        key_text: String,
    ) -> Result<Vec<KeyInfo>> {
        let target = user.clone();
        self.d
            .audited(&hdr, "keys.add", &target, async |call| {
                if self.d.forwards() {
                    let keys = self.d.fleet_add_keys(call, user, key_text, true).await?;
                    for key in &keys {
                        call.detail("fingerprint", key.fingerprint.clone());
                    }
                    return Ok(keys);
                }
                let keys = self
                    .d
                    .acting(call, move |r, a| {
                        let lines: Vec<&str> = key_text.lines().collect();
                        r.add_keys(a, &user, &lines)
                    })
                    .await?;
                for key in &keys {
                    call.detail("fingerprint", key.fingerprint.clone());
                }
                Ok(keys.iter().map(info).collect())
            })
            .await
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>, user: String) -> Result<Vec<KeyInfo>> {
        let call = self.d.begin_read(&hdr, "keys.list").await?;
        let keys = self
            .d
            .acting(&call, move |r, a| r.list_keys(a, &user))
            .await?;
        Ok(keys.iter().map(info).collect())
    }

    async fn remove(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
        fingerprint: String,
    ) -> Result<()> {
        let target = user.clone();
        self.d
            .audited(&hdr, "keys.remove", &target, async |call| {
                if self.d.forwards() {
                    call.detail("fingerprint", fingerprint.clone());
                    return self.d.fleet_remove_key(call, user, fingerprint).await;
                }
                let key = self
                    .d
                    .acting(call, move |r, a| r.remove_key(a, &user, &fingerprint))
                    .await?;
                call.detail("fingerprint", key.fingerprint);
                Ok(())
            })
            .await
    }

    /// Public by design (DESIGN.md): keys are public, and only users who
    /// may log in here get any lines. Not audited: sshd asks at every
    /// public-key login attempt, and PAM's account step audits the login.
    async fn authorized_keys(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: String,
    ) -> Result<Vec<String>> {
        let call = self.d.begin_read(&hdr, "keys.authorized").await?;
        self.d
            .acting(&call, move |r, a| r.authorized_keys(a, &user))
            .await
    }
}
