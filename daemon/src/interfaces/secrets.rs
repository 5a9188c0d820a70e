//! `org.roster.Secrets1`: secrets (DESIGN.md "Secrets"), authorized per
//! call by core like every other interface, plus the signals.
//!
//! The key ring ([`SecretKeys`]) is loaded once at start: with secrets
//! stored and the key file missing or wrong, every call here answers
//! `Unavailable` naming the file, while every other interface keeps
//! working. Lock order: the store's lock, then the key ring's.
//!
//! On an enrolled host every call but `Watch` and `Rekey` is made at the
//! controller ([`crate::fleet::secrets`]); those two are refused there.
//!
//! Signals go only to connections that called `Watch` and may see the
//! secret at the moment of sending (each one addressed to that connection:
//! unicast, never a broadcast another listener could match):
//! `SecretChanged` to viewers on a new revision, `SecretRotate` to
//! managers while a rotation is due (again every 5 minutes until a new
//! revision), `SecretExpired` to managers, `SecretRemoved` to managers
//! for a pruned or removed revision and to every viewer for the whole
//! secret.

use crate::caller::Peer;
use crate::daemon::{Daemon, Result};
use roster_client::{
    RosterError, SecretEntry, SecretGrant, SecretInfo, SecretRequest, SecretRevision,
    SecretUpdated, SecretValue,
};
use roster_core::authz::SecretReach;
use roster_core::secrets::{
    self as core_secrets, Expiry, NewSecret, Reveal, Rotation, SecretChanges, SecretContent,
    SecretFilter, SecretKeys, SecretRole,
};
use roster_core::{Caller, Roster};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use zbus::message::Header;
use zeroize::Zeroizing;

/// The most connections watching at once (each costs a check per signal).
const MAX_WATCHERS: usize = 4096;
/// How often due rotations and expiries are looked for.
const TICK: Duration = Duration::from_secs(10);

/// A connection that asked for signals.
struct Watcher {
    /// Its unique bus name: where its signals are addressed.
    name: String,
    peer: Arc<Peer>,
}

/// What the secrets interface keeps between calls.
pub struct SecretsState {
    keys: Mutex<SecretKeys>,
    watchers: Mutex<Vec<Watcher>>,
    /// Secret id → when its `SecretRotate` was last sent.
    rotate_sent: Mutex<HashMap<String, i64>>,
}

impl SecretsState {
    /// Load the key ring for `roster` (never creating a key: the first
    /// add does, while no secret exists); a refusal is logged naming the
    /// file, and rosterd serves everything else.
    pub fn load(roster: &mut Roster) -> SecretsState {
        let keys = SecretKeys::load(roster);
        if let Some(why) = keys.refused() {
            eprintln!("rosterd: secrets: {why}");
        }
        SecretsState {
            keys: Mutex::new(keys),
            watchers: Mutex::new(Vec::new()),
            rotate_sent: Mutex::new(HashMap::new()),
        }
    }
}

pub struct Secrets {
    pub d: Arc<Daemon>,
    pub s: Arc<SecretsState>,
}

fn info(i: &core_secrets::SecretInfo) -> SecretInfo {
    SecretInfo {
        id: i.id.clone(),
        name: i.name.clone(),
        owner_kind: i.owner.kind().to_string(),
        owner: i.owner.name().to_string(),
        description: i.description.clone(),
        rotation: i.rotation.as_str().to_string(),
        next_rotation: i.next_rotation.unwrap_or(0),
        latest: i.latest,
        created: i.created,
        updated: i.updated,
        manages: i.manages,
        tracking: i.tracking.unwrap_or(0),
        revisions: i
            .revisions
            .iter()
            .map(|r| SecretRevision {
                revision: r.revision,
                created: r.created,
                expires: r.expires.unwrap_or(0),
                readers: r.readers,
            })
            .collect(),
        grants: i
            .grants
            .iter()
            .map(|(user, role)| SecretGrant {
                user: user.clone(),
                role: role.as_str().to_string(),
            })
            .collect(),
    }
}

/// The request's content, checked for a key given twice.
fn content(entries: &[SecretEntry]) -> Result<SecretContent> {
    let mut out = SecretContent::new();
    for entry in entries {
        let value = Zeroizing::new(entry.value.clone());
        if out.insert(entry.key.clone(), value).is_some() {
            return Err(RosterError::InvalidArgument(format!(
                "the key {} is given twice",
                roster_core::validate::shown(&entry.key)
            )));
        }
    }
    Ok(out)
}

fn invalid(e: roster_core::Error) -> RosterError {
    crate::errors::to_bus(e)
}

fn rotation(text: &str) -> Result<Option<Rotation>> {
    if text.is_empty() {
        return Ok(None);
    }
    Rotation::from_arg(text).map(Some).map_err(invalid)
}

fn expiry(text: &str) -> Result<Option<Expiry>> {
    if text.is_empty() {
        return Ok(None);
    }
    Expiry::parse(text).map(Some).map_err(invalid)
}

impl SecretsState {
    /// Every secret operation is refused while the key file is missing or
    /// wrong (metadata included: secrets are one thing, usable or not).
    fn usable(&self) -> Result<()> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        match keys.refused() {
            Some(why) => Err(RosterError::Unavailable(why.to_string())),
            None => Ok(()),
        }
    }
}

/// The key ring's refusal (naming the file) as the caller hears it.
fn key_refused(why: String) -> RosterError {
    RosterError::Unavailable(why)
}

/// How far each watcher reaches into secret `id`, now.
fn reaches(r: &mut Roster, watchers: &[(String, Caller)], id: &str) -> Vec<(String, SecretReach)> {
    watchers
        .iter()
        .filter_map(|(name, caller)| {
            let actor = r.actor(caller).ok()?;
            let reach = r.secret_reach_of(&actor, id).ok()?;
            Some((name.clone(), reach))
        })
        .collect()
}

/// A signal to send: to the watchers whose reach is at least `needed`.
struct Signal {
    member: &'static str,
    id: String,
    revision: u32,
    needed: SecretReach,
}

impl Secrets {
    /// The live watchers with the callers core resolves them as.
    fn watchers(&self) -> Vec<(String, Caller)> {
        let mut watchers = self
            .s
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        watchers.retain(|w| !w.peer.gone.load(std::sync::atomic::Ordering::SeqCst));
        watchers
            .iter()
            .filter_map(|w| Some((w.name.clone(), w.peer.caller(true).ok()?)))
            .collect()
    }

    /// Sends `signals`, each to the watchers `reach` entitles.
    async fn send(&self, signals: Vec<(Signal, Vec<(String, SecretReach)>)>) {
        for (signal, reach) in signals {
            for (name, reach) in reach {
                if reach < signal.needed || reach == SecretReach::None {
                    continue;
                }
                let sent = self
                    .d
                    .conn
                    .emit_signal(
                        Some(name.as_str()),
                        roster_client::OBJECT_PATH,
                        roster_client::SECRETS_INTERFACE,
                        signal.member,
                        &(signal.id.as_str(), signal.revision),
                    )
                    .await;
                if let Err(e) = sent {
                    eprintln!("rosterd: can't send {} to {name}: {e}", signal.member);
                }
            }
        }
    }

    /// Computes each signal's audience now, then sends.
    async fn notify(&self, signals: Vec<Signal>) {
        if signals.is_empty() {
            return;
        }
        let watchers = self.watchers();
        if watchers.is_empty() {
            return;
        }
        let planned = self
            .d
            .store_unattended(move |r| {
                Ok(signals
                    .into_iter()
                    .map(|s| {
                        let reach = reaches(r, &watchers, &s.id);
                        (s, reach)
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        match planned {
            Ok(planned) => self.send(planned).await,
            Err(e) => eprintln!("rosterd: can't work out who hears a secret's signal: {e}"),
        }
    }

    /// One look for due rotations and expiries (the ticker's body).
    pub async fn tick(&self, since: i64) -> i64 {
        let due = self
            .d
            .store_unattended(move |r| {
                let now = r.now();
                r.secrets_due(since, now).map(|due| (now, due))
            })
            .await;
        let (now, (rotate, expired)) = match due {
            Ok(due) => due,
            Err(e) => {
                eprintln!("rosterd: can't look for due secret rotations: {e}");
                return since;
            }
        };
        let mut signals = Vec::new();
        {
            let mut sent = self
                .s
                .rotate_sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            sent.retain(|id, _| rotate.iter().any(|d| &d.id == id));
            for due in rotate {
                let last = sent.get(&due.id).copied();
                if last.is_none_or(|t| now - t >= core_secrets::ROTATE_REMIND_EVERY) {
                    sent.insert(due.id.clone(), now);
                    signals.push(Signal {
                        member: "SecretRotate",
                        id: due.id,
                        revision: due.revision,
                        needed: SecretReach::Manage,
                    });
                }
            }
        }
        for due in expired {
            signals.push(Signal {
                member: "SecretExpired",
                id: due.id,
                revision: due.revision,
                needed: SecretReach::Manage,
            });
        }
        self.notify(signals).await;
        now
    }
}

/// Looks for due rotations and expiries every [`TICK`].
pub async fn ticker(secrets: Arc<Secrets>) {
    let mut tick = tokio::time::interval(TICK);
    let mut since = roster_core::Clock::now(&roster_core::SystemClock);
    loop {
        tick.tick().await;
        since = secrets.tick(since).await;
    }
}

#[zbus::interface(name = "org.roster.Secrets1")]
impl Secrets {
    async fn add(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request: SecretRequest,
    ) -> Result<SecretInfo> {
        let target = request.name.clone();
        self.d
            .audited(&hdr, "secrets.add", &target, async |call| {
                if self.d.forwards() {
                    return self.d.fleet_secret_add(call, request).await;
                }
                self.s.usable()?;
                let new = NewSecret {
                    name: request.name.clone(),
                    environment: (!request.environment.is_empty())
                        .then(|| request.environment.clone()),
                    description: request.description.clone(),
                    content: content(&request.content)?,
                    rotation: rotation(&request.rotation)?.unwrap_or(Rotation::Never),
                    expire: expiry(&request.expire)?,
                };
                if let Some(env) = &new.environment {
                    call.detail("environment", env.clone());
                }
                let s = self.s.clone();
                let added = self
                    .d
                    .acting(call, move |r, a| {
                        let mut keys = s.keys.lock().unwrap_or_else(PoisonError::into_inner);
                        let ring = match keys.ring_for_add(r) {
                            Ok(ring) => ring,
                            Err(why) => return Ok(Err(why)),
                        };
                        r.add_secret(a, ring, new).map(Ok)
                    })
                    .await?
                    .map_err(key_refused)?;
                call.detail("id", added.id.clone());
                Ok(info(&added))
            })
            .await
    }

    async fn update(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        address: String,
        request: SecretRequest,
    ) -> Result<SecretUpdated> {
        let target = address.clone();
        if self.d.forwards() {
            return self
                .d
                .audited(&hdr, "secrets.update", &target, async |call| {
                    self.d.fleet_secret_update(call, address, request).await
                })
                .await;
        }
        let changed = self
            .d
            .audited(&hdr, "secrets.update", &target, async |call| {
                self.s.usable()?;
                let changes = SecretChanges {
                    description: request.set_description.then(|| request.description.clone()),
                    content: if request.set_content {
                        Some(content(&request.content)?)
                    } else {
                        None
                    },
                    rotation: rotation(&request.rotation)?,
                    expire: expiry(&request.expire)?,
                };
                let s = self.s.clone();
                let changed = self
                    .d
                    .acting(call, move |r, a| {
                        let keys = s.keys.lock().unwrap_or_else(PoisonError::into_inner);
                        let ring = match keys.ring() {
                            Ok(ring) => ring,
                            Err(why) => return Ok(Err(why)),
                        };
                        r.update_secret(a, ring, &address, changes).map(Ok)
                    })
                    .await?
                    .map_err(key_refused)?;
                call.detail("id", changed.info.id.clone());
                if let Some(revision) = changed.new_revision {
                    call.detail("revision", revision.to_string());
                }
                Ok(changed)
            })
            .await?;
        let mut signals = Vec::new();
        if let Some(revision) = changed.new_revision {
            signals.push(Signal {
                member: "SecretChanged",
                id: changed.info.id.clone(),
                revision,
                needed: SecretReach::View,
            });
        }
        for revision in &changed.pruned {
            signals.push(Signal {
                member: "SecretRemoved",
                id: changed.info.id.clone(),
                revision: *revision,
                needed: SecretReach::Manage,
            });
        }
        self.notify(signals).await;
        Ok(SecretUpdated {
            info: info(&changed.info),
            new_revision: changed.new_revision.unwrap_or(0),
        })
    }

    async fn remove(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        address: String,
        revision: u32,
    ) -> Result<SecretInfo> {
        let target = address.clone();
        if self.d.forwards() {
            return self
                .d
                .audited(&hdr, "secrets.remove", &target, async |call| {
                    if revision > 0 {
                        call.detail("revision", revision.to_string());
                    }
                    self.d.fleet_secret_remove(call, address, revision).await
                })
                .await;
        }
        let watchers = self.watchers();
        let (removed, audience) = self
            .d
            .audited(&hdr, "secrets.remove", &target, async |call| {
                self.s.usable()?;
                if revision > 0 {
                    call.detail("revision", revision.to_string());
                }
                let (removed, audience) = self
                    .d
                    .acting(call, move |r, a| {
                        // Who hears it is decided before it is gone.
                        let audience = match r.secret_id_of(a, &address) {
                            Ok(id) => reaches(r, &watchers, &id),
                            Err(_) => Vec::new(),
                        };
                        let removed =
                            r.remove_secret(a, &address, (revision > 0).then_some(revision))?;
                        Ok((removed, audience))
                    })
                    .await?;
                call.detail("id", removed.id.clone());
                Ok((removed, audience))
            })
            .await?;
        let signal = Signal {
            member: "SecretRemoved",
            id: removed.id.clone(),
            revision,
            needed: if revision > 0 {
                SecretReach::Manage
            } else {
                SecretReach::View
            },
        };
        self.send(vec![(signal, audience)]).await;
        Ok(info(&removed))
    }

    async fn grant(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        address: String,
        user: String,
        role: String,
    ) -> Result<SecretInfo> {
        let target = address.clone();
        self.d
            .audited(&hdr, "secrets.grant", &target, async |call| {
                if self.d.forwards() {
                    call.detail("user", user.clone());
                    return self.d.fleet_secret_grant(call, address, user, role).await;
                }
                self.s.usable()?;
                let role = if role.is_empty() {
                    SecretRole::View
                } else {
                    SecretRole::from_arg(&role).map_err(invalid)?
                };
                call.detail("user", user.clone());
                call.detail("role", role.as_str());
                let granted = self
                    .d
                    .acting(call, move |r, a| r.grant_secret(a, &address, &user, role))
                    .await?;
                call.detail("id", granted.id.clone());
                Ok(info(&granted))
            })
            .await
    }

    async fn revoke(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        address: String,
        user: String,
    ) -> Result<SecretInfo> {
        let target = address.clone();
        self.d
            .audited(&hdr, "secrets.revoke", &target, async |call| {
                if self.d.forwards() {
                    call.detail("user", user.clone());
                    return self.d.fleet_secret_revoke(call, address, user).await;
                }
                self.s.usable()?;
                call.detail("user", user.clone());
                let revoked = self
                    .d
                    .acting(call, move |r, a| r.revoke_secret(a, &address, &user))
                    .await?;
                call.detail("id", revoked.id.clone());
                Ok(info(&revoked))
            })
            .await
    }

    async fn list(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        owner: String,
        environment: String,
    ) -> Result<Vec<SecretInfo>> {
        let call = self.d.begin_read(&hdr, "secrets.list").await?;
        if self.d.forwards() {
            return self.d.fleet_secret_list(&call, owner, environment).await;
        }
        self.s.usable()?;
        let filter = match (owner.is_empty(), environment.is_empty()) {
            (true, true) => SecretFilter::All,
            (false, true) => SecretFilter::Owner(owner),
            (true, false) => SecretFilter::Environment(environment),
            (false, false) => {
                return Err(RosterError::InvalidArgument(
                    "give --owner or --environment, not both".into(),
                ));
            }
        };
        let list = self
            .d
            .acting(&call, move |r, a| r.list_secrets(a, &filter))
            .await?;
        Ok(list.iter().map(info).collect())
    }

    async fn show(&self, #[zbus(header)] hdr: Header<'_>, address: String) -> Result<SecretInfo> {
        let call = self.d.begin_read(&hdr, "secrets.show").await?;
        if self.d.forwards() {
            return self.d.fleet_secret_show(&call, address).await;
        }
        self.s.usable()?;
        let shown = self
            .d
            .acting(&call, move |r, a| r.show_secret(a, &address))
            .await?;
        Ok(info(&shown))
    }

    async fn get(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        address: String,
        mode: String,
        revision: u32,
    ) -> Result<SecretValue> {
        let target = address.clone();
        if self.d.forwards() {
            return self
                .d
                .audited(&hdr, "secrets.get", &target, async |call| {
                    if !mode.is_empty() {
                        call.detail("mode", mode.clone());
                    }
                    self.d
                        .fleet_secret_get(call, address, &mode, revision)
                        .await
                })
                .await;
        }
        let revealed = self
            .d
            .audited(&hdr, "secrets.get", &target, async |call| {
                self.s.usable()?;
                let how = match (mode.as_str(), revision) {
                    ("", 0) => Reveal::Tracked,
                    ("peek", 0) => Reveal::Peek,
                    ("refresh", 0) => Reveal::Refresh,
                    ("", n) => Reveal::Revision(n),
                    _ => {
                        return Err(RosterError::InvalidArgument(format!(
                            "unknown read mode {} (use peek or refresh, or a revision alone)",
                            roster_core::validate::shown(&mode)
                        )));
                    }
                };
                if !mode.is_empty() {
                    call.detail("mode", mode.clone());
                }
                let s = self.s.clone();
                let revealed = self
                    .d
                    .acting(call, move |r, a| {
                        let keys = s.keys.lock().unwrap_or_else(PoisonError::into_inner);
                        let ring = match keys.ring() {
                            Ok(ring) => ring,
                            Err(why) => return Ok(Err(why)),
                        };
                        r.reveal_secret(a, ring, &address, how).map(Ok)
                    })
                    .await?
                    .map_err(key_refused)?;
                // Who, which secret, which revision: never content.
                call.detail("id", revealed.info.id.clone());
                call.detail("revision", revealed.revision.to_string());
                Ok(revealed)
            })
            .await?;
        if !revealed.pruned.is_empty() {
            let signals = revealed
                .pruned
                .iter()
                .map(|revision| Signal {
                    member: "SecretRemoved",
                    id: revealed.info.id.clone(),
                    revision: *revision,
                    needed: SecretReach::Manage,
                })
                .collect();
            self.notify(signals).await;
        }
        Ok(SecretValue {
            info: info(&revealed.info),
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

    async fn watch(&self, #[zbus(header)] hdr: Header<'_>) -> Result<()> {
        let call = self.d.begin_read(&hdr, "secrets.watch").await?;
        if self.d.forwards() {
            return Err(crate::fleet::secrets::watch_refused());
        }
        let name = hdr
            .sender()
            .map(|s| s.to_string())
            .ok_or_else(|| RosterError::PermissionDenied("the call carries no sender".into()))?;
        let mut watchers = self
            .s
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        watchers.retain(|w| !w.peer.gone.load(std::sync::atomic::Ordering::SeqCst));
        if watchers.iter().any(|w| w.name == name) {
            return Ok(());
        }
        if watchers.len() >= MAX_WATCHERS {
            return Err(RosterError::Unavailable(format!(
                "{MAX_WATCHERS} connections watch secrets already: try again later"
            )));
        }
        watchers.push(Watcher {
            name,
            peer: call.peer.clone(),
        });
        Ok(())
    }

    async fn rekey(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(String, u64)> {
        self.d
            .audited(&hdr, "secrets.rekey", "", async |call| {
                if self.d.forwards() {
                    return Err(crate::fleet::secrets::rekey_refused());
                }
                self.s.usable()?;
                let s = self.s.clone();
                let (id, count) = self
                    .d
                    .acting(call, move |r, a| {
                        let mut keys = s.keys.lock().unwrap_or_else(PoisonError::into_inner);
                        keys.rekey(r, a)
                    })
                    .await?;
                call.detail("key", id.clone());
                call.detail("values", count.to_string());
                Ok((id, count))
            })
            .await
    }
}
