//! `roster hosts join | status | leave` on rosterd's side.
//!
//! Joining: core checks the caller (root) and the host (not enrolled; no
//! users of its own unless the admin said what becomes of them); the
//! keys a controller decides must be absent from `rosterd.toml`; rosterd
//! makes its key (it never leaves the host), enrolls with the join token
//! over TLS verified against the CA pin (sending its own users to adopt
//! or discard: the controller takes them in the transaction that enrolls
//! the host, or refuses the whole join), stores the enrollment, takes the
//! first full sync (answering once NSS shows it: the adopted users come
//! back as the controller holds them, the discarded ones go) and starts
//! the agent.
//! Leaving: the agent stops, the enrollment goes, and the cache stays as
//! the host's own store.

use super::local_ids::local_ids;
use crate::daemon::{Call, Daemon, Result};
use roster_client::{FleetStatus, Joined, RosterError};
use roster_core::Secret;
use roster_core::host_cache::JoinMode;
use roster_core::id_ranges::HostFiles;
use roster_fleet_agent::{AgentError, Client, ErrorCode, HostKey, JoinRequest};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

fn join_mode(word: &str) -> Result<JoinMode> {
    match word {
        "" => Ok(JoinMode::Plain),
        "adopt" => Ok(JoinMode::Adopt),
        "discard" => Ok(JoinMode::Discard),
        other => Err(RosterError::InvalidArgument(format!(
            "unknown join mode {other:?}: none, \"adopt\" or \"discard\""
        ))),
    }
}

/// A failure talking to a controller, as the CLI shows it.
pub fn agent_error(error: AgentError) -> RosterError {
    let message = error.to_string();
    match error {
        AgentError::Unreachable(_)
        | AgentError::NoAnswer(_)
        | AgentError::FailingOver(_)
        | AgentError::Gone { .. } => RosterError::Unavailable(message),
        AgentError::Refused { code, .. } => match code {
            ErrorCode::Unauthenticated | ErrorCode::Forbidden | ErrorCode::Revoked => {
                RosterError::PermissionDenied(message)
            }
            ErrorCode::NotFound => RosterError::NotFound(message),
            ErrorCode::Conflict => RosterError::Conflict(message),
            ErrorCode::BadRequest | ErrorCode::TooLarge | ErrorCode::ProtocolUnsupported => {
                RosterError::InvalidArgument(message)
            }
            ErrorCode::CursorTooOld
            | ErrorCode::EpochChanged
            | ErrorCode::TooManyRequests
            | ErrorCode::FailingOver
            | ErrorCode::Unavailable
            | ErrorCode::Internal => RosterError::Unavailable(message),
        },
        AgentError::Revoked | AgentError::CaMismatch(_) => RosterError::PermissionDenied(message),
        AgentError::Tls(_) | AgentError::Replay { .. } | AgentError::Host(_) => {
            RosterError::Unavailable(message)
        }
        AgentError::ProtocolUnsupported(_)
        | AgentError::ControllerTooOld { .. }
        | AgentError::Bad(_) => RosterError::InvalidArgument(message),
    }
}

fn machine_hostname() -> Result<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most len bytes into our buffer.
    let r = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if r != 0 {
        return Err(RosterError::Unavailable(
            "can't read this machine's hostname: join with --name".into(),
        ));
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    Ok(String::from_utf8_lossy(&buffer[..end]).into_owned())
}

impl Daemon {
    /// Refuses the keys a controller decides while they are set in
    /// `rosterd.toml`, naming each.
    pub fn check_no_fleet_decided_keys(&self) -> std::result::Result<(), String> {
        let text = std::fs::read_to_string(&self.config_path)
            .map_err(|e| format!("can't read {}: {e}", self.config_path.display()))?;
        let set = roster_core::config::fleet_decided_keys_set(&text).map_err(|e| e.to_string())?;
        if set.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} sets {}: in fleet mode the controller decides {}; remove {} from the file",
            self.config_path.display(),
            set.join(", "),
            if set.len() == 1 { "it" } else { "them" },
            if set.len() == 1 { "it" } else { "them" },
        ))
    }

    pub async fn join_fleet(
        self: &Arc<Self>,
        call: &Call,
        url: String,
        ca_fingerprint: String,
        join_token: Secret,
        name: String,
        mode: String,
    ) -> Result<Joined> {
        let mode = join_mode(&mode)?;
        let _one_at_a_time = self.fleet.membership.lock().await;
        // The host's own users, read with the check: what moves (or is
        // retired) is decided by the controller in the transaction that
        // enrolls the host, so a refusal changes nothing anywhere.
        let (standalone, mut notes) = self
            .acting(call, move |r, a| {
                r.check_join(a, mode)?;
                r.standalone_for_join(mode)
            })
            .await?;
        self.check_no_fleet_decided_keys()
            .map_err(RosterError::InvalidArgument)?;
        let config = self.config.clone();
        let local = tokio::task::spawn_blocking(move || {
            let files = HostFiles::read(&config, |p| p.to_path_buf()).map_err(|e| e.to_string())?;
            local_ids(&config, &files)
        })
        .await
        .map_err(|e| crate::errors::internal(&format!("reading the local ids: {e}")))?
        .map_err(RosterError::InvalidArgument)?;
        let hostname = if name.is_empty() {
            machine_hostname()?
        } else {
            name
        };
        call.detail("controller", url.clone());
        call.detail("host", hostname.clone());
        let key = HostKey::generate().map_err(agent_error)?;
        let request = JoinRequest {
            url,
            ca_fingerprint,
            join_token: zeroize::Zeroizing::new(join_token.expose().to_owned()),
            hostname,
            local,
            standalone,
        };
        let (enrollment, mut moved) = roster_fleet_agent::enroll_reporting(&request, &key)
            .await
            .map_err(agent_error)?;
        moved.append(&mut notes);
        let notes = moved;
        self.fleet
            .files
            .save(&enrollment, &key)
            .map_err(|e| crate::errors::internal(&e))?;
        self.fleet.clear_revoked();
        eprintln!(
            "rosterd: enrolled as {} in environment {} with {}",
            enrollment.hostname,
            enrollment.environment,
            enrollment.controllers.join(", ")
        );
        let client = Client::new(&enrollment, &key).map_err(agent_error)?;
        let first = client.snapshot().await;
        let controller = client.controller().to_owned();
        self.fleet
            .start(self, &enrollment, key)
            .map_err(agent_error)?;
        let snapshot = first.map_err(|e| {
            RosterError::Unavailable(format!(
                "joined as {}, but the first sync failed ({e}); rosterd keeps trying: see `roster hosts status`",
                enrollment.hostname
            ))
        })?;
        let users = u32::try_from(snapshot.body.users.len()).unwrap_or(u32::MAX);
        let cursor = snapshot.body.cursor;
        let time = snapshot.time;
        self.store(call, move |r| {
            r.apply_fleet_snapshot(&snapshot.body, time)?;
            if mode != JoinMode::Plain {
                r.drop_standalone_secrets()?;
            }
            Ok(())
        })
        .await?;
        self.fleet.answered();
        let restart_for = enrollment
            .fleet
            .as_ref()
            .map(|fleet| super::settings::restart_needed(&self.config, fleet))
            .unwrap_or_default();
        let restart = if restart_for.is_empty() {
            String::new()
        } else {
            let why = format!("the fleet uses {}", restart_for.join(" and "));
            eprintln!("rosterd: {why}: restarting to take them");
            let fleet = Arc::clone(self);
            let reason = why.clone();
            // After this call's answer has gone out.
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                fleet.fleet.restart_because(&reason);
            });
            why
        };
        Ok(Joined {
            hostname: enrollment.hostname,
            environment: enrollment.environment,
            controller,
            users,
            cursor,
            standalone: notes,
            restart,
        })
    }

    /// Answers the environment served in the fleet and the one served
    /// now, rosterd.toml's.
    pub async fn leave_fleet(self: &Arc<Self>, call: &Call) -> Result<(String, String)> {
        let _one_at_a_time = self.fleet.membership.lock().await;
        // Checked (root, enrolled) before anything stops.
        self.acting(call, |r, a| r.check_leave(a)).await?;
        if !self.fleet.files.enrolled() {
            return Err(RosterError::NotFound(
                "this host is not enrolled with a controller".into(),
            ));
        }
        let fleet_settings = self
            .fleet
            .files
            .load()
            .ok()
            .flatten()
            .and_then(|(enrollment, _)| enrollment.fleet);
        self.fleet.stop();
        self.fleet
            .files
            .remove()
            .map_err(|e| crate::errors::internal(&e))?;
        self.fleet.clear_revoked();
        let standalone = self.config.clone();
        let served = self
            .store(call, move |r| {
                let served = r.fleet_state()?.map(|s| s.environment).unwrap_or_default();
                r.leave_fleet_for(&standalone)?;
                Ok(served)
            })
            .await?;
        let now = self.config.environment.clone();
        if let Some(fleet) = fleet_settings {
            // rosterd.toml couldn't set them while enrolled: from the next
            // start it would bring its own (the defaults) back.
            eprintln!(
                "rosterd: left the fleet: to keep its users' ids and admin group after a restart, set \
                 uid_min = {}, uid_max = {}, admin_group = {:?}, admin_gid = {} in rosterd.toml",
                fleet.uid_min, fleet.uid_max, fleet.admin_group, fleet.admin_gid
            );
        }
        eprintln!(
            "rosterd: left the fleet: standalone again in environment {now} (rosterd.toml), the cache kept as this host's store"
        );
        Ok((served, now))
    }

    pub async fn fleet_status(&self, call: &Call) -> Result<FleetStatus> {
        let Some((enrollment, _)) = self.fleet.files.load().map_err(RosterError::Unavailable)?
        else {
            return Ok(FleetStatus::default());
        };
        let (state, offline, backlog) = self
            .store(call, |r| {
                let offline = r.fleet_offline()?;
                let state = r.fleet_state()?;
                let backlog = r.fleet_report_backlog()?;
                Ok((state, offline, backlog))
            })
            .await?;
        let not_after = roster_fleet_agent::certificate_validity(&enrollment.certificate_pem)
            .ok()
            .and_then(|(_, end)| end.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let (last_error_at, last_error) = self.fleet.last_error().unwrap_or_default();
        let controller = self.fleet.answering_controller().unwrap_or_default();
        let certificate_subject =
            roster_fleet_agent::certificate_subject(&enrollment.certificate_pem)
                .unwrap_or_default();
        let mut status = FleetStatus {
            enrolled: true,
            hostname: enrollment.hostname,
            environment: enrollment.environment,
            controllers: enrollment.controllers,
            ca_fingerprint: enrollment.ca_fingerprint,
            certificate_not_after: not_after,
            last_error,
            last_error_at,
            reports_waiting: backlog.0,
            revoked: self.fleet.revoked(),
            revoked_at: self.fleet.revoked_since().unwrap_or(0),
            controller,
            certificate_subject,
            ..FleetStatus::default()
        };
        if let Some(state) = state {
            status.environment = state.environment;
            status.epoch = state.epoch;
            status.cursor = state.cursor;
            status.login_level = state.policy.login_level.as_str().to_owned();
            status.offline_grace_secs = state.policy.offline_grace.as_secs();
            status.clock_offset = state.controller_offset;
        }
        if let Some(offline) = offline {
            status.last_answer = offline.last_answer;
            status.offline_for_secs = offline.offline_for.as_secs();
            status.within_grace = offline.within_grace;
            status.grace_ends = offline.grace_ends();
        }
        Ok(status)
    }
}
