//! The rest of the CLI's calls through `/v1/ops` (profiles, environments,
//! API tokens, SSH keys): each one core call, as rosterd makes it.

use super::super::ApiError;
use super::{RosterWork, view};
use roster_core::model::{Role, Scope, SshKey, Token, UserChanges};
use roster_fleet_protocol::{EnvironmentInfo, KeyView, Op, OpsAnswer, TokenView};
use std::future::Future;
use std::time::Duration;

pub async fn run<F, Fut>(on: F, op: Op) -> Result<OpsAnswer, ApiError>
where
    F: Fn(RosterWork) -> Fut,
    Fut: Future<Output = Result<OpsAnswer, ApiError>>,
{
    let work: RosterWork = match op {
        Op::EditUser {
            name,
            display_name,
            role,
            home,
            shell,
        } => {
            let role = role
                .map(|role| role.parse::<Role>())
                .transpose()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let changes = UserChanges {
                display_name,
                role,
                home,
                shell,
            };
            Box::new(move |roster, actor| {
                Ok(OpsAnswer::User {
                    user: view(&roster.edit_user(actor, &name, changes)?),
                })
            })
        }
        Op::AddEnvironment { name } => Box::new(move |roster, actor| {
            roster.add_environment(actor, &name)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the environment {name:?} is added"),
            })
        }),
        Op::RemoveEnvironment { name, force } => Box::new(move |roster, actor| {
            let grants = roster.remove_environment(actor, &name, force)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the environment {name:?} is removed, with {grants} grants"),
            })
        }),
        Op::ListEnvironments => Box::new(|roster, actor| {
            Ok(OpsAnswer::Environments {
                environments: roster
                    .list_environments(actor)?
                    .into_iter()
                    .map(|environment| EnvironmentInfo {
                        name: environment.name,
                        created: environment.created,
                        grants: environment.grants,
                    })
                    .collect(),
            })
        }),
        Op::CreateToken {
            name,
            scope,
            expires_hours,
        } => {
            let scope: Scope = scope
                .as_deref()
                .unwrap_or("")
                .parse()
                .map_err(ApiError::from)?;
            let expires = expires_hours.map(|hours| Duration::from_secs(u64::from(hours) * 3600));
            Box::new(move |roster, actor| {
                let (token, secret) =
                    roster.create_token(actor, name.as_deref(), scope, expires)?;
                Ok(OpsAnswer::ApiToken {
                    token: secret.expose().to_string(),
                    view: token_view(&token),
                })
            })
        }
        Op::ListTokens { owner } => Box::new(move |roster, actor| {
            Ok(OpsAnswer::Tokens {
                tokens: roster
                    .list_tokens(actor, owner.as_deref())?
                    .iter()
                    .map(token_view)
                    .collect(),
            })
        }),
        Op::DeleteToken { id } => Box::new(move |roster, actor| {
            let token = roster.delete_token(actor, &id)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the token {} ({:?}) is deleted", token.id, token.name),
            })
        }),
        Op::RenameToken { id, name } => Box::new(move |roster, actor| {
            Ok(OpsAnswer::Tokens {
                tokens: vec![token_view(&roster.rename_token(actor, &id, &name)?)],
            })
        }),
        Op::AddKeys { name, lines } => Box::new(move |roster, actor| {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            Ok(OpsAnswer::Keys {
                keys: roster
                    .add_keys(actor, &name, &lines)?
                    .iter()
                    .map(key_view)
                    .collect(),
            })
        }),
        Op::AddKey { name, line } => Box::new(move |roster, actor| {
            Ok(OpsAnswer::Keys {
                keys: vec![key_view(&roster.add_key(actor, &name, &line)?)],
            })
        }),
        Op::ListKeys { name } => Box::new(move |roster, actor| {
            Ok(OpsAnswer::Keys {
                keys: roster
                    .list_keys(actor, &name)?
                    .iter()
                    .map(key_view)
                    .collect(),
            })
        }),
        Op::RemoveKey { name, fingerprint } => Box::new(move |roster, actor| {
            let key = roster.remove_key(actor, &name, &fingerprint)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the key {} of {name:?} is removed", key.fingerprint),
            })
        }),
        other => {
            return Err(ApiError::bad_request(format!(
                "{} is answered elsewhere",
                other.name()
            )));
        }
    };
    on(work).await
}

fn token_view(token: &Token) -> TokenView {
    TokenView {
        id: token.id.clone(),
        user: token.user.clone(),
        name: token.name.clone(),
        scope: token.scope.to_string(),
        created: token.created,
        last_used: token.last_used,
        expires: token.expires,
    }
}

fn key_view(key: &SshKey) -> KeyView {
    KeyView {
        key_type: key.key_type.clone(),
        fingerprint: key.fingerprint.clone(),
        comment: key.comment.clone(),
        bits: key.bits,
        added: key.added,
    }
}
