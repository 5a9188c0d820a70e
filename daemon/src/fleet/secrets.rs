//! `org.roster.Secrets1` on an enrolled host (DESIGN.md "Secrets": in
//! fleet mode secrets live on the controller and every call goes online
//! with the person's credential; hosts cache none). Each call is one op
//! at the controller ([`super::forward`]: the person's token or `roster
//! login` session, a request id, retried as every change is); the answer
//! is handed to the caller and nothing of it is kept here — not in the
//! cache database, not in a log line (the audit line names the secret and
//! revision, never content).
//!
//! Decided here: `Watch` is refused on an enrolled host (the feed carries
//! nothing about secrets and a host keeps no person's credential to ask
//! with later, so it could only send signals it can't vouch for), and so
//! is `rekey` (the key is the controller's: `roster-controller secrets
//! rekey` on the controller machine).

use super::forward::unexpected;
use crate::daemon::{Call, Daemon, Result};
use roster_client::{
    RosterError, SecretEntry, SecretGrant, SecretInfo, SecretRequest, SecretRevision,
    SecretUpdated, SecretValue,
};
use roster_core::secrets::{SecretContent, check_content};
use roster_fleet_agent::protocol::{self as wire, Op, OpsAnswer, SecretRead};
use zeroize::Zeroizing;

/// `Watch` on an enrolled host.
pub fn watch_refused() -> RosterError {
    RosterError::Unavailable(
        "this host is enrolled with a controller: secrets live there and this host hears nothing \
         of their changes, so it sends no secret signals; poll with `roster secrets show NAME` \
         (or `get --peek`) instead"
            .into(),
    )
}

/// `Rekey` on an enrolled host.
pub fn rekey_refused() -> RosterError {
    RosterError::InvalidArgument(
        "this host is enrolled with a controller: secrets are sealed with the controller's key, \
         re-keyed there with `roster-controller secrets rekey`; nothing changed"
            .into(),
    )
}

/// The wire's content from the D-Bus request, checked as core checks it
/// (names, sizes, a key given twice) before anything is sent.
fn entries(request: &[SecretEntry]) -> Result<Vec<wire::SecretEntry>> {
    let mut content = SecretContent::new();
    for entry in request {
        let value = Zeroizing::new(entry.value.clone());
        if content.insert(entry.key.clone(), value).is_some() {
            return Err(RosterError::InvalidArgument(format!(
                "the key {} is given twice",
                roster_core::validate::shown(&entry.key)
            )));
        }
    }
    check_content(&content).map_err(crate::errors::to_bus)?;
    Ok(request
        .iter()
        .map(|entry| wire::SecretEntry {
            key: entry.key.clone(),
            value: entry.value.clone(),
        })
        .collect())
}

fn given(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// The controller's metadata as the D-Bus answer has it.
pub fn info(view: &wire::SecretView) -> SecretInfo {
    SecretInfo {
        id: view.id.clone(),
        name: view.name.clone(),
        owner_kind: view.owner_kind.clone(),
        owner: view.owner.clone(),
        description: view.description.clone(),
        rotation: view.rotation.clone(),
        next_rotation: view.next_rotation.unwrap_or(0),
        latest: view.latest,
        created: view.created,
        updated: view.updated,
        manages: view.manages,
        tracking: view.tracking.unwrap_or(0),
        revisions: view
            .revisions
            .iter()
            .map(|r| SecretRevision {
                revision: r.revision,
                created: r.created,
                expires: r.expires.unwrap_or(0),
                readers: r.readers,
            })
            .collect(),
        grants: view
            .grants
            .iter()
            .map(|g| SecretGrant {
                user: g.user.clone(),
                role: g.role.clone(),
            })
            .collect(),
    }
}

/// A change's answer: the secret's metadata after it.
fn changed(call: &Call, answer: OpsAnswer) -> Result<SecretInfo> {
    match answer {
        OpsAnswer::Secret { secret } => {
            call.detail("id", secret.id.clone());
            Ok(info(&secret))
        }
        // A repeat whose first answer wasn't kept: done, but unseen.
        OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
        other => Err(unexpected(&other)),
    }
}

impl Daemon {
    /// `op` at the controller as the person this connection presented.
    async fn secret_op(&self, call: &Call, op: Op) -> Result<OpsAnswer> {
        let credential = self.fleet_credential(call).await.map_err(|e| match e {
            RosterError::PermissionDenied(_) => RosterError::PermissionDenied(
                "this host is enrolled with a controller: secrets live there and are read and \
                 changed as a person. Run `roster login` first (or present an API token); \
                 nothing was sent"
                    .into(),
            ),
            other => other,
        })?;
        match self.forward(call, credential, op).await {
            // A controller from before the secret ops (same protocol
            // version): its strict parser names the op it doesn't know.
            Err(RosterError::InvalidArgument(message))
                if message.contains("unknown variant `secret_") =>
            {
                Err(RosterError::Unavailable(
                    "the controller doesn't carry secrets yet (it is older than this host): \
                     upgrade the controllers; nothing changed"
                        .into(),
                ))
            }
            answer => answer,
        }
    }

    pub async fn fleet_secret_add(
        &self,
        call: &Call,
        request: SecretRequest,
    ) -> Result<SecretInfo> {
        let op = Op::SecretAdd {
            name: request.name.clone(),
            environment: given(&request.environment),
            description: request.description.clone(),
            content: entries(&request.content)?,
            rotation: given(&request.rotation),
            expire: given(&request.expire),
        };
        let answer = self.secret_op(call, op).await?;
        changed(call, answer)
    }

    pub async fn fleet_secret_update(
        &self,
        call: &Call,
        address: String,
        request: SecretRequest,
    ) -> Result<SecretUpdated> {
        let op = Op::SecretUpdate {
            address,
            description: request.set_description.then(|| request.description.clone()),
            content: if request.set_content {
                Some(entries(&request.content)?)
            } else {
                None
            },
            rotation: given(&request.rotation),
            expire: given(&request.expire),
        };
        match self.secret_op(call, op).await? {
            OpsAnswer::SecretUpdated {
                secret,
                new_revision,
            } => {
                call.detail("id", secret.id.clone());
                if let Some(revision) = new_revision {
                    call.detail("revision", revision.to_string());
                }
                Ok(SecretUpdated {
                    info: info(&secret),
                    new_revision: new_revision.unwrap_or(0),
                })
            }
            OpsAnswer::AlreadyDone { message } => Err(RosterError::Conflict(message)),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_secret_remove(
        &self,
        call: &Call,
        address: String,
        revision: u32,
    ) -> Result<SecretInfo> {
        let op = Op::SecretRemove {
            address,
            revision: (revision > 0).then_some(revision),
        };
        let answer = self.secret_op(call, op).await?;
        changed(call, answer)
    }

    pub async fn fleet_secret_grant(
        &self,
        call: &Call,
        address: String,
        user: String,
        role: String,
    ) -> Result<SecretInfo> {
        let op = Op::SecretGrant {
            address,
            user,
            role: given(&role),
        };
        let answer = self.secret_op(call, op).await?;
        changed(call, answer)
    }

    pub async fn fleet_secret_revoke(
        &self,
        call: &Call,
        address: String,
        user: String,
    ) -> Result<SecretInfo> {
        let op = Op::SecretRevoke { address, user };
        let answer = self.secret_op(call, op).await?;
        changed(call, answer)
    }

    pub async fn fleet_secret_list(
        &self,
        call: &Call,
        owner: String,
        environment: String,
    ) -> Result<Vec<SecretInfo>> {
        let op = Op::SecretList {
            owner: given(&owner),
            environment: given(&environment),
        };
        match self.secret_op(call, op).await? {
            OpsAnswer::Secrets { secrets } => Ok(secrets.iter().map(info).collect()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn fleet_secret_show(&self, call: &Call, address: String) -> Result<SecretInfo> {
        match self.secret_op(call, Op::SecretShow { address }).await? {
            OpsAnswer::Secret { secret } => Ok(info(&secret)),
            other => Err(unexpected(&other)),
        }
    }

    /// A read of content; the value passes through to the caller only.
    pub async fn fleet_secret_get(
        &self,
        call: &Call,
        address: String,
        mode: &str,
        revision: u32,
    ) -> Result<SecretValue> {
        let read = match (mode, revision) {
            ("", 0) => SecretRead::Tracked,
            ("peek", 0) => SecretRead::Peek,
            ("refresh", 0) => SecretRead::Refresh,
            ("", n) => SecretRead::Revision { revision: n },
            _ => {
                return Err(RosterError::InvalidArgument(format!(
                    "unknown read mode {} (use peek or refresh, or a revision alone)",
                    roster_core::validate::shown(mode)
                )));
            }
        };
        match self
            .secret_op(call, Op::SecretGet { address, read })
            .await?
        {
            OpsAnswer::SecretValue {
                secret,
                revision,
                content,
            } => {
                // Who, which secret, which revision: never content.
                call.detail("id", secret.id.clone());
                call.detail("revision", revision.to_string());
                Ok(SecretValue {
                    info: info(&secret),
                    revision,
                    content: content
                        .iter()
                        .map(|entry| SecretEntry {
                            key: entry.key.clone(),
                            value: entry.value.clone(),
                        })
                        .collect(),
                })
            }
            other => Err(unexpected(&other)),
        }
    }
}
