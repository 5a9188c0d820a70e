//! `org.roster.Roster1.Tokens`: API tokens (MAAS-style), and binding one
//! to the caller's bus connection with `Present`.

use crate::convert::{self, given};
use crate::daemon::{Daemon, Result};
use roster_client::{Optional, RosterError, Scope, TokenCreated, TokenInfo};
use roster_core::{Secret, Token};
use std::sync::Arc;
use std::time::Duration;
use zbus::message::Header;

pub struct Tokens {
    pub d: Arc<Daemon>,
}

fn info(t: &Token) -> TokenInfo {
    convert::token(t)
}

#[zbus::interface(name = "org.roster.Roster1.Tokens")]
impl Tokens {
    async fn create(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        name: String,
        scope: Optional<Scope>,
        expires_in: u64,
    ) -> Result<TokenCreated> {
        let target = name.clone();
        self.d
            .audited(&hdr, "tokens.create", &target, async |call| {
                // None (an empty string) is the default, read-only.
                let scope = scope.unwrap_or(Scope::ReadOnly);
                call.detail("scope", scope.as_str());
                let scope = convert::scope_from_wire(scope);
                let name = given(&name);
                if self.d.forwards() {
                    return self
                        .d
                        .fleet_create_token(call, name, scope, expires_in)
                        .await;
                }
                let expires = (expires_in > 0).then(|| Duration::from_secs(expires_in));
                let (token, secret) = self
                    .d
                    .acting(call, move |r, a| {
                        r.create_token(a, name.as_deref(), scope, expires)
                    })
                    .await?;
                call.detail("id", token.id.clone());
                Ok(TokenCreated {
                    info: info(&token),
                    token: secret.expose().to_owned(),
                })
            })
            .await
    }

    async fn list(&self, #[zbus(header)] hdr: Header<'_>, user: String) -> Result<Vec<TokenInfo>> {
        let call = self.d.begin_read(&hdr, "tokens.list").await?;
        let owner = given(&user);
        if self.d.forwards() {
            return self.d.fleet_list_tokens(&call, owner).await;
        }
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
        let target = id.clone();
        self.d
            .audited(&hdr, "tokens.rename", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_rename_token(call, id, name).await;
                }
                self.d
                    .acting(call, move |r, a| r.rename_token(a, &id, &name))
                    .await
                    .map(|t| info(&t))
            })
            .await
    }

    async fn delete(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        id: String,
        user: String,
    ) -> Result<()> {
        let target = id.clone();
        self.d
            .audited(&hdr, "tokens.delete", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_delete_token(call, id, user).await;
                }
                let token = self
                    .d
                    .acting(call, move |r, a| {
                        // `--user` names whose token the caller means: a
                        // token of someone else is "not found", never
                        // deleted.
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
            })
            .await
    }

    async fn present(&self, #[zbus(header)] hdr: Header<'_>, token: String) -> Result<TokenInfo> {
        let token = Secret::new(token);
        self.d
            .audited(&hdr, "tokens.present", "", async |call| {
                // No rate limit: a token is 128 random bits checked by
                // SHA-256 outside the argon2 queue, so guessing is hopeless
                // and cheap to refuse, and every command run with a token
                // presents one.
                crate::daemon::check_secret_length("token", &token)?;
                if call.peer.token()?.is_some() {
                    return Err(RosterError::Conflict(
                        "this connection presented a token already: open a new one".into(),
                    ));
                }
                if self.d.forwards() {
                    return self.d.fleet_present(call, token).await;
                }
                let t = self.d.store(call, move |r| r.present_token(&token)).await?;
                call.peer.bind_token(t.id.clone())?;
                call.detail("owner", t.user.clone());
                Ok(info(&t))
            })
            .await
    }
}
