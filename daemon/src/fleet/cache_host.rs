//! The agent's [`Host`]: rosterd's own store as the fleet's cache. Every
//! batch goes through core ([`roster_core::host_cache`]) under the
//! store's lock, like any call; a change NSS shows asks for a snapshot
//! write from the commit mark, as every handler's does; and what the
//! batch asks for afterwards (sessions to end, a restart for another
//! environment, a revoked host's state) happens here.

use super::Fleet;
use crate::daemon::Daemon;
use roster_core::Roster;
use roster_core::host_cache::{Applied, QueuedReport};
use roster_fleet_agent::protocol::{ReportKind, SnapshotAnswer, SyncAnswer};
use roster_fleet_agent::{AgentError, Host, HostError, HostKey, Position, ReportEntry};
use std::sync::Arc;

pub struct CacheHost {
    pub d: Arc<Daemon>,
    pub runtime: tokio::runtime::Handle,
}

impl CacheHost {
    fn fleet(&self) -> &Fleet {
        &self.d.fleet
    }

    /// `f` on the store, as a call's work: under its lock, with the
    /// snapshot write asked for when the commit changed what NSS shows.
    fn on_store<T>(
        &self,
        f: impl FnOnce(&mut Roster) -> roster_core::Result<T>,
    ) -> Result<T, HostError> {
        let mut guard = self.d.roster.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(&mut guard);
        if guard.commit_mark().take() {
            self.d.snapshot.request();
        }
        result.map_err(|e| HostError(e.to_string()))
    }

    fn act_on(&self, applied: Applied) {
        self.fleet().answered();
        for uid in applied.end_sessions_of {
            let d = self.d.clone();
            self.runtime.spawn(async move {
                let ended = d.end_user_processes(uid).await;
                let rows = d
                    .store_unattended(move |r| {
                        let ids: Vec<i64> = r
                            .live_sessions()?
                            .into_iter()
                            .filter(|s| s.uid == uid)
                            .map(|s| s.id)
                            .collect();
                        r.end_sessions(&ids)?;
                        Ok(ids.len())
                    })
                    .await;
                match rows {
                    Ok(sessions) if sessions > 0 || ended > 0 => eprintln!(
                        "rosterd: the fleet says uid {uid} may no longer log in here: ended {sessions} session(s), {ended} process(es)"
                    ),
                    Ok(_) => {}
                    Err(e) => eprintln!("rosterd: ending the sessions of uid {uid}: {e}"),
                }
            });
        }
        if applied.revoked {
            self.fleet().mark_revoked();
        }
        if applied.environment_moved {
            self.fleet()
                .restart_because("the controller moved this host to another environment");
        }
    }
}

impl Host for CacheHost {
    fn position(&self) -> Result<Option<Position>, HostError> {
        Ok(self.on_store(|r| r.fleet_state())?.map(|s| Position {
            epoch: s.epoch,
            cursor: s.cursor,
        }))
    }

    fn apply_changes(&self, answer: &SyncAnswer, controller_time: i64) -> Result<(), HostError> {
        let applied = self.on_store(|r| r.apply_fleet_changes(answer, controller_time))?;
        self.act_on(applied);
        Ok(())
    }

    fn apply_snapshot(
        &self,
        answer: &SnapshotAnswer,
        controller_time: i64,
    ) -> Result<(), HostError> {
        let before = self.position().ok().flatten();
        let applied = self.on_store(|r| r.apply_fleet_snapshot(answer, controller_time))?;
        self.act_on(applied);
        if let Some(before) = before.filter(|before| before.epoch != answer.epoch) {
            // `roster-controller restore`: the store went back to a backup.
            eprintln!(
                "rosterd: the controller's store has a new epoch ({}, was {}): it was restored from a backup. \
                 This host dropped its cursor and resynced in full ({} users, cursor {}); changes made after the backup are undone here too",
                answer.epoch,
                before.epoch,
                answer.users.len(),
                answer.cursor
            );
        }
        Ok(())
    }

    fn revoked(&self) -> Result<(), HostError> {
        self.on_store(|r| r.wipe_fleet_credentials())?;
        self.fleet().mark_revoked();
        eprintln!(
            "rosterd: the controller says this host is revoked: every cached password hash, SSH key, \
             code and token is wiped; NSS keeps resolving names. `roster hosts leave`, then join again to come back"
        );
        Ok(())
    }

    fn pending_reports(&self, max: usize) -> Result<Vec<(i64, ReportEntry)>, HostError> {
        let queued = self.on_store(|r| r.queued_fleet_reports(max))?;
        Ok(queued
            .into_iter()
            .map(|(id, report)| (id, entry(report)))
            .collect())
    }

    fn reports_sent(&self, ids: &[i64]) -> Result<(), HostError> {
        self.on_store(|r| r.fleet_reports_sent(ids))
    }

    fn certificate_renewed(
        &self,
        certificate_pem: &str,
        ca_bundle_pem: &str,
        key: &HostKey,
    ) -> Result<(), HostError> {
        self.fleet()
            .certificate_renewed(certificate_pem, ca_bundle_pem, key)
            .map_err(HostError)
    }

    fn unreachable(&self, error: &AgentError) {
        self.fleet().failed(error);
    }
}

fn entry(report: QueuedReport) -> ReportEntry {
    let kind = match report.kind.as_str() {
        "session" => ReportKind::Session,
        "login_result" => ReportKind::LoginResult,
        "live_sessions" => ReportKind::LiveSessions,
        _ => ReportKind::Audit,
    };
    ReportEntry {
        at: report.at,
        kind,
        text: report.text,
    }
}
