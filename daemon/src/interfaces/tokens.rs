//! `org.roster.Roster1.Tokens`: API tokens (MAAS-style), and binding one
//! to the caller's bus connection with `Present`.

use crate::convert::given;
use crate::daemon::{Daemon, Result};
use crate::errors::to_bus;
use roster_client::{RosterError, TokenCreated, TokenInfo};
use roster_core::{Scope, Secret, Token};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use zbus::message::Header;

pub struct Tokens {
    pub d: Arc<Daemon>,
}

fn info(t: &Token) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        user: t.user.clone(),
        name: t.name.clone(),
        scope: t.scope.as_str().to_owned(),
        created: t.created,
        last_used: t.last_used.unwrap_or(0),
        expires: t.expires.unwrap_or(0),
    }
}

#[zbus::interface(name = "org.roster.Roster1.Tokens")]
impl Tokens {
    async fn create(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        scope: String,
        expires_in: u64,
    ) -> Result<TokenCreated> {
        let call = self.d.begin(&hdr, "tokens.create", &name).await?;
        call.detail("scope", scope.clone());
        let r = async {
            let scope = Scope::from_str(&scope).map_err(to_bus)?;
            let name = given(&name);
            let expires = (expires_in > 0).then(|| Duration::from_secs(expires_in));
            let (token, secret) = self
                .d
                .acting(&call, move |r, a| {
                    r.create_token(a, name.as_deref(), scope, expires)
                })
                .await?;
            call.detail("id", token.id.clone());
            Ok(TokenCreated {
                info: info(&token),
                token: secret.expose().to_owned(),
            })
        }
        .await;
        self.d.finish(&call, r)
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>, user: String) -> Result<Vec<TokenInfo>> {
        let call = self.d.begin_read(&hdr, "tokens.list").await?;
        let owner = given(&user);
        let tokens = self
            .d
            .acting(&call, move |r, a| r.list_tokens(a, owner.as_deref()))
            .await?;
        Ok(tokens.iter().map(info).collect())
    }

    async fn rename(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        id: String,
        name: String,
    ) -> Result<TokenInfo> {
        let call = self.d.begin(&hdr, "tokens.rename", &id).await?;
        let r = self
            .d
            .acting(&call, move |r, a| r.rename_token(a, &id, &name))
            .await
            .map(|t| info(&t));
        self.d.finish(&call, r)
    }

    async fn delete(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        id: String,
        user: String,
    ) -> Result<()> {
        let call = self.d.begin(&hdr, "tokens.delete", &id).await?;
        let r = async {
            let token = self
                .d
                .acting(&call, move |r, a| {
                    // `--user` names whose token the caller means: a token
                    // of someone else is "not found", never deleted.
                    if !user.is_empty()
                        && let Some(t) = r
                            .list_tokens(a, Some(&user))?
                            .into_iter()
                            .find(|t| t.id == id)
                    {
                        return r.delete_token(a, &t.id);
                    }
                    if !user.is_empty() {
                        return Err(roster_core::Error::NotFound(format!(
                            "user {user:?} has no token {}",
                            roster_core::validate::shown(&id)
                        )));
                    }
                    r.delete_token(a, &id)
                })
                .await?;
            call.detail("owner", token.user);
            Ok(())
        }
        .await;
        self.d.finish(&call, r)
    }

    async fn present(&self, #[zbus(header)] hdr: Header<'_>, token: String) -> Result<TokenInfo> {
        let token = Secret::new(token);
        let call = self.d.begin(&hdr, "tokens.present", "").await?;
        let r = async {
            // No rate limit: a token is 128 random bits checked by SHA-256
            // outside the argon2 queue, so guessing is hopeless and cheap
            // to refuse, and every command run with a token presents one.
            crate::daemon::check_secret_length("token", &token)?;
            if call.peer.token()?.is_some() {
                return Err(RosterError::Conflict(
                    "this connection presented a token already: open a new one".into(),
                ));
            }
            let t = self.d.store(move |r| r.present_token(&token)).await?;
            call.peer.bind_token(t.id.clone())?;
            call.detail("owner", t.user.clone());
            Ok(info(&t))
        }
        .await;
        self.d.finish(&call, r)
    }
}
