//! The Keys, Tokens, Environments and Registration changes on an enrolled
//! host: the same D-Bus methods and answers, made at the controller
//! ([`super::forward`]) with the person's credential. What they change
//! that hosts hold (keys of users who may log in here) comes back with
//! the feed, like every other change.

use super::forward::{parse, unexpected};
use crate::daemon::{Call, Daemon, Result};
use roster_client::{EnvironmentInfo, KeyInfo, RosterError, TokenCreated, TokenInfo};
use roster_core::Secret;
use roster_fleet_agent::protocol::{Credential, KeyView, Op, OpsAnswer, TokenView};

/// The key lines of an `authorized_keys`-style text, as core reads them
/// (blank lines and `#` comments skipped), for the answer's `line`.
fn key_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn key_info(view: KeyView, line: Option<&String>) -> KeyInfo {
    KeyInfo {
        key_type: view.key_type,
        fingerprint: view.fingerprint,
        comment: view.comment,
        bits: view.bits,
        added: view.added,
        line: line.cloned().unwrap_or_default(),
    }
}

fn token_info(view: TokenView) -> Result<TokenInfo> {
    Ok(TokenInfo {
        scope: parse("scope", &view.scope)?,
        id: view.id,
        user: view.user,
        name: view.name,
        created: view.created,
        last_used: view.last_used.unwrap_or(0),
        expires: view.expires.unwrap_or(0),
    })
}

impl Daemon {
    /// `keys add` (one line) or `keys add --file` (every line, all or
    /// none).
    pub async fn fleet_add_keys(
        &self,
        call: &Call,
        user: String,
        text: String,
        many: bool,
    ) -> Result<Vec<KeyInfo>> {
        let credential = self.fleet_credential(call).await?;
        let lines = if many {
            key_lines(&text)
        } else {
            vec![text.trim().to_owned()]
        };
        let op = if many {
            Op::AddKeys {
                name: user,
                lines: lines.clone(),
            }
        } else {
            Op::AddKey {
                name: user,
                line: text,
            }
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::Keys { keys } => Ok(keys
                .into_iter()
                .enumerate()
                .map(|(n, view)| key_info(view, lines.get(n)))
                .collect()),
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_remove_key(
        &self,
        call: &Call,
        user: String,
        fingerprint: String,
    ) -> Result<()> {
        let credential = self.fleet_credential(call).await?;
        let op = Op::RemoveKey {
            name: user,
            fingerprint,
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_create_token(
        &self,
        call: &Call,
        name: Option<String>,
        scope: roster_core::Scope,
        expires_secs: u64,
    ) -> Result<TokenCreated> {
        let credential = self.fleet_credential(call).await?;
        // The controller counts in hours: a shorter expiry is an hour.
        let expires_hours = (expires_secs > 0)
            .then(|| u32::try_from(expires_secs.div_ceil(3600)).unwrap_or(u32::MAX));
        let op = Op::CreateToken {
            name,
            scope: Some(scope.to_string()),
            expires_hours,
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::ApiToken { token, view } => {
                call.detail("id", view.id.clone());
                Ok(TokenCreated {
                    info: token_info(view)?,
                    token,
                })
            }
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_rename_token(
        &self,
        call: &Call,
        id: String,
        name: String,
    ) -> Result<TokenInfo> {
        let credential = self.fleet_credential(call).await?;
        match self
            .forward(call, credential, Op::RenameToken { id, name })
            .await?
        {
            OpsAnswer::Tokens { tokens } => tokens
                .into_iter()
                .next()
                .ok_or_else(|| unexpected(&OpsAnswer::Tokens { tokens: Vec::new() }))
                .and_then(token_info),
            other => Err(unexpected(&other)),
        }
    }

    /// `tokens list [--user U]`: tokens never leave the controller (DESIGN.md
    /// "What a host receives"), so the list is read there, with the
    /// person's credential.
    pub async fn fleet_list_tokens(
        &self,
        call: &Call,
        owner: Option<String>,
    ) -> Result<Vec<TokenInfo>> {
        let credential = self.fleet_credential(call).await?;
        match self
            .forward(call, credential, Op::ListTokens { owner })
            .await?
        {
            OpsAnswer::Tokens { tokens } => tokens.into_iter().map(token_info).collect(),
            other => Err(unexpected(&other)),
        }
    }

    /// `tokens delete ID [--user U]`: a token of someone other than `U`
    /// is "not found", never deleted (as on a standalone host).
    pub async fn fleet_delete_token(&self, call: &Call, id: String, user: String) -> Result<()> {
        let credential = self.fleet_credential(call).await?;
        if !user.is_empty() {
            let listed = match self
                .forward(
                    call,
                    credential.clone(),
                    Op::ListTokens {
                        owner: Some(user.clone()),
                    },
                )
                .await?
            {
                OpsAnswer::Tokens { tokens } => tokens,
                other => return Err(unexpected(&other)),
            };
            if !listed.iter().any(|t| t.id == id) {
                return Err(RosterError::NotFound(format!(
                    "user {user:?} has no token {}",
                    roster_core::validate::shown(&id)
                )));
            }
        }
        match self
            .forward(call, credential, Op::DeleteToken { id })
            .await?
        {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_add_environment(
        &self,
        call: &Call,
        name: String,
    ) -> Result<EnvironmentInfo> {
        let credential = self.fleet_credential(call).await?;
        match self
            .forward(call, credential, Op::AddEnvironment { name: name.clone() })
            .await?
        {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(EnvironmentInfo {
                this_host: name == self.environment(),
                name,
                created: super::now(),
                grants: 0,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Answers how many grants went with it (read before: the
    /// controller's answer is a sentence).
    pub async fn fleet_remove_environment(
        &self,
        call: &Call,
        name: String,
        force: bool,
    ) -> Result<u32> {
        let credential = self.fleet_credential(call).await?;
        let grants = if force {
            match self
                .forward(call, credential.clone(), Op::ListEnvironments)
                .await?
            {
                OpsAnswer::Environments { environments } => environments
                    .iter()
                    .find(|e| e.name == name)
                    .map_or(0, |e| e.grants),
                other => return Err(unexpected(&other)),
            }
        } else {
            0
        };
        match self
            .forward(call, credential, Op::RemoveEnvironment { name, force })
            .await?
        {
            OpsAnswer::Done { .. } | OpsAnswer::AlreadyDone { .. } => Ok(grants),
            other => Err(unexpected(&other)),
        }
    }

    /// `roster register`: the code is the credential; the controller
    /// burns it with the first password and says whose account it was.
    pub async fn fleet_register(&self, call: &Call, code: Secret, new: Secret) -> Result<String> {
        let credential = Credential::Code {
            code: code.expose().trim().to_owned(),
        };
        let op = Op::Register {
            new_password: new.expose().to_owned(),
        };
        match self.forward(call, credential, op).await? {
            OpsAnswer::Done {
                user: Some(user), ..
            } => {
                call.detail("user", user.clone());
                Ok(user)
            }
            OpsAnswer::Done { user: None, .. } => Err(RosterError::Unavailable(
                "registered, but the controller didn't say whose account it was: is it an older version?"
                    .into(),
            )),
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    /// `Fleet.PresentPassword`: a Roster name and current password this
    /// connection's later changes carry (the changes a session can't
    /// make: an API token, one's own SSH key). Checked by the controller
    /// at each change; nothing is kept beyond the connection.
    pub fn fleet_present_password(
        &self,
        call: &Call,
        user: String,
        password: Secret,
    ) -> Result<()> {
        if user.is_empty() || password.expose().is_empty() {
            return Err(RosterError::InvalidArgument(
                "a name and a password are needed".into(),
            ));
        }
        call.detail("user", user.clone());
        call.peer.bind_fleet_password(user, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_skip_blanks_and_comments() {
        let text = "# mine\n\n ssh-ed25519 AAAA x \n#old\nssh-rsa BBBB y\n";
        assert_eq!(
            key_lines(text),
            vec!["ssh-ed25519 AAAA x", "ssh-rsa BBBB y"]
        );
    }
}
