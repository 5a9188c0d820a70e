//! The `secret_*` ops of `POST /v1/ops` (DESIGN.md "Secrets": in fleet
//! mode secrets live on the controller, in its store, and every call
//! comes online with the person's credential; hosts cache none). The
//! credential, the request id and the first-answer rule are `ops`'s, as
//! for every op; this runs core's secret rules over the store with the
//! controller's own key file (`secrets_key_file`, default `secrets.key`
//! in the CA's folder).
//!
//! The key is loaded for each call ([`SecretKeys::load_for_this_call`]):
//! replicas share one store, so a secret another replica added, a rekey
//! or a restored key file is seen at the next call, and a missing or
//! wrong file refuses secret calls by name (503, never retried by the
//! host) while every other op goes on.
//!
//! Values: only in a `secret_get`'s answer and in the requests that set
//! them, never logged, never kept for a repeat (a get is a read: a
//! repeat reads again; a change's kept answer is metadata). Every reveal
//! writes an audit row — who, through which host, which secret and
//! revision — before the value is answered; no row, no value.

use super::ApiError;
use crate::server::Shared;
use crate::server::hosts::HostInfo;
use crate::store::CallTags;
use axum::http::StatusCode;
use roster_core::clock::{Clock, SystemClock};
use roster_core::secrets::{
    Expiry, NewSecret, Reveal, Rotation, SecretChanges, SecretContent, SecretFilter, SecretInfo,
    SecretKeys, SecretRole,
};
use roster_core::{Actor, Error, Roster};
use roster_fleet_protocol::{
    ErrorCode, Op, OpsAnswer, SecretEntry, SecretGrantView, SecretRead, SecretRevisionView,
    SecretView,
};
use roster_store_postgres::fleet::AuditRow;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What a call's work answers: the op's answer, or the key file's
/// refusal (naming the file).
type Keyed<T> = roster_core::Result<Result<T, String>>;

/// One secret op for `actor`, asked through `host`.
pub async fn run(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    actor: Actor,
    op: Op,
) -> Result<OpsAnswer, ApiError> {
    match op {
        Op::SecretAdd {
            name,
            environment,
            description,
            content,
            rotation,
            expire,
        } => {
            let new = NewSecret {
                name,
                environment,
                description,
                content: content_of(content)?,
                rotation: rotation_of(rotation.as_deref())?.unwrap_or(Rotation::Never),
                expire: expiry_of(expire.as_deref())?,
            };
            let added = keyed(shared, host, tag, actor, move |roster, actor, keys| {
                Ok(match keys.ring_for_add(roster) {
                    Ok(ring) => Ok(roster.add_secret(actor, ring, new)?),
                    Err(why) => Err(why),
                })
            })
            .await?;
            Ok(OpsAnswer::Secret {
                secret: view(&added),
            })
        }
        Op::SecretUpdate {
            address,
            description,
            content,
            rotation,
            expire,
        } => {
            let changes = SecretChanges {
                description,
                content: content.map(content_of).transpose()?,
                rotation: rotation_of(rotation.as_deref())?,
                expire: expiry_of(expire.as_deref())?,
            };
            let changed = keyed(shared, host, tag, actor, move |roster, actor, keys| {
                Ok(match keys.ring() {
                    Ok(ring) => Ok(roster.update_secret(actor, ring, &address, changes)?),
                    Err(why) => Err(why),
                })
            })
            .await?;
            Ok(OpsAnswer::SecretUpdated {
                secret: view(&changed.info),
                new_revision: changed.new_revision,
            })
        }
        Op::SecretRemove { address, revision } => {
            let removed = usable(shared, host, tag, actor, move |roster, actor| {
                roster.remove_secret(actor, &address, revision)
            })
            .await?;
            Ok(OpsAnswer::Secret {
                secret: view(&removed),
            })
        }
        Op::SecretGrant {
            address,
            user,
            role,
        } => {
            let role = match role.as_deref() {
                None | Some("") => SecretRole::View,
                Some(role) => SecretRole::from_arg(role)?,
            };
            let granted = usable(shared, host, tag, actor, move |roster, actor| {
                roster.grant_secret(actor, &address, &user, role)
            })
            .await?;
            Ok(OpsAnswer::Secret {
                secret: view(&granted),
            })
        }
        Op::SecretRevoke { address, user } => {
            let revoked = usable(shared, host, tag, actor, move |roster, actor| {
                roster.revoke_secret(actor, &address, &user)
            })
            .await?;
            Ok(OpsAnswer::Secret {
                secret: view(&revoked),
            })
        }
        Op::SecretList { owner, environment } => {
            let filter = match (owner, environment) {
                (None, None) => SecretFilter::All,
                (Some(owner), None) => SecretFilter::Owner(owner),
                (None, Some(environment)) => SecretFilter::Environment(environment),
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(
                        "give --owner or --environment, not both",
                    ));
                }
            };
            let listed = usable(shared, host, tag, actor, move |roster, actor| {
                roster.list_secrets(actor, &filter)
            })
            .await?;
            Ok(OpsAnswer::Secrets {
                secrets: listed.iter().map(view).collect(),
            })
        }
        Op::SecretShow { address } => {
            let shown = usable(shared, host, tag, actor, move |roster, actor| {
                roster.show_secret(actor, &address)
            })
            .await?;
            Ok(OpsAnswer::Secret {
                secret: view(&shown),
            })
        }
        Op::SecretGet { address, read } => get(shared, host, actor, address, read).await,
        other => Err(ApiError::bad_request(format!(
            "{} is not a secret op",
            other.name()
        ))),
    }
}

/// A read of content: core's tracking rules, then the audit row, then
/// the value (never without its row).
async fn get(
    shared: &Arc<Shared>,
    host: &HostInfo,
    actor: Actor,
    address: String,
    read: SecretRead,
) -> Result<OpsAnswer, ApiError> {
    let (how, mode) = match read {
        SecretRead::Tracked => (Reveal::Tracked, "tracked"),
        SecretRead::Peek => (Reveal::Peek, "peek"),
        SecretRead::Refresh => (Reveal::Refresh, "refresh"),
        SecretRead::Revision { revision } if revision > 0 => {
            (Reveal::Revision(revision), "revision")
        }
        SecretRead::Revision { .. } => {
            return Err(ApiError::bad_request("revisions are numbered from 1"));
        }
    };
    let person = roster_core::rules::actor_name(&actor)
        .unwrap_or("root")
        .to_string();
    let revealed = keyed(shared, host, None, actor, move |roster, actor, keys| {
        Ok(match keys.ring() {
            Ok(ring) => Ok(roster.reveal_secret(actor, ring, &address, how)?),
            Err(why) => Err(why),
        })
    })
    .await?;
    // Who, through which host, which secret and revision: never content.
    let entry = AuditRow {
        at: SystemClock.now(),
        person,
        host: host.name.clone(),
        request_id: None,
        action: "secret_get".into(),
        target: revealed.info.id.clone(),
        detail: format!("revision {} ({mode})", revealed.revision),
    };
    shared
        .store
        .run(move |s| s.fleet_write(|tx| tx.append_audit(&entry)))
        .await
        .map_err(|e| {
            ApiError::from(Error::Store(format!(
                "the read can't be audited, so its value is not shown: {e}"
            )))
        })?;
    Ok(OpsAnswer::SecretValue {
        secret: view(&revealed.info),
        revision: revealed.revision,
        content: revealed
            .content
            .iter()
            .map(|(key, value)| SecretEntry {
                key: key.clone(),
                value: value.to_vec(),
            })
            .collect(),
    })
}

/// `work` on core's rules with the key ring as it stands for this call.
async fn keyed<T: Send + 'static>(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    actor: Actor,
    work: impl FnOnce(&mut Roster, &Actor, &mut SecretKeys) -> Keyed<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&shared.store);
    let environment = host.environment.clone();
    let answer = tokio::task::spawn_blocking(move || {
        store.with_roster_in(&environment, tag, |roster| {
            let mut keys = SecretKeys::load_for_this_call(roster);
            work(roster, &actor, &mut keys)
        })
    })
    .await
    .map_err(|e| ApiError::from(Error::Store(format!("a store task ended abnormally: {e}"))))??;
    answer.map_err(key_refused)
}

/// `work` that needs no key, refused all the same while the key file is
/// missing or wrong (secrets are one thing, usable or not).
async fn usable<T: Send + 'static>(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    actor: Actor,
    work: impl FnOnce(&mut Roster, &Actor) -> roster_core::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    keyed(shared, host, tag, actor, move |roster, actor, keys| {
        Ok(match keys.refused() {
            Some(why) => Err(why.to_string()),
            None => Ok(work(roster, actor)?),
        })
    })
    .await
}

/// The key file's refusal: 503 naming the file (the host says it and
/// doesn't retry; nothing changed).
fn key_refused(why: String) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        format!("at the controller: {why}"),
    )
}

/// The request's content, checked for a key given twice (core checks
/// names, sizes and counts).
fn content_of(entries: Vec<SecretEntry>) -> Result<SecretContent, ApiError> {
    let mut content = SecretContent::new();
    for entry in &entries {
        let value = Zeroizing::new(entry.value.clone());
        if content.insert(entry.key.clone(), value).is_some() {
            return Err(ApiError::bad_request(format!(
                "the key {} is given twice",
                roster_core::validate::shown(&entry.key)
            )));
        }
    }
    Ok(content)
}

fn rotation_of(text: Option<&str>) -> Result<Option<Rotation>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(Rotation::from_arg(text)?)),
    }
}

fn expiry_of(text: Option<&str>) -> Result<Option<Expiry>, ApiError> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(Expiry::parse(text)?)),
    }
}

/// Core's metadata on the wire (never content).
pub fn view(info: &SecretInfo) -> SecretView {
    SecretView {
        id: info.id.clone(),
        name: info.name.clone(),
        owner_kind: info.owner.kind().to_string(),
        owner: info.owner.name().to_string(),
        description: info.description.clone(),
        rotation: info.rotation.as_str().to_string(),
        next_rotation: info.next_rotation,
        latest: info.latest,
        created: info.created,
        updated: info.updated,
        manages: info.manages,
        tracking: info.tracking,
        revisions: info
            .revisions
            .iter()
            .map(|r| SecretRevisionView {
                revision: r.revision,
                created: r.created,
                expires: r.expires,
                readers: r.readers,
            })
            .collect(),
        grants: info
            .grants
            .iter()
            .map(|(user, role)| SecretGrantView {
                user: user.clone(),
                role: role.as_str().to_string(),
            })
            .collect(),
    }
}
