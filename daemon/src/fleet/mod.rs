//! Fleet mode on a host (DESIGN.md "Fleet mode"): the enrollment on disk
//! ([`files`]), the sync agent (`roster-fleet-agent`) running over
//! rosterd's store as its cache ([`cache_host`]), and joining, leaving and
//! the status `roster hosts` shows ([`membership`]). A standalone host has
//! no enrollment: none of this runs and nothing here is on its paths.

pub mod admin;
pub mod cache_host;
pub mod directory;
pub mod files;
pub mod forward;
pub mod local_ids;
pub mod membership;
pub mod online;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod users;

use crate::daemon::Daemon;
use files::FleetFiles;
use roster_core::host_cache::QueuedReport;
use roster_fleet_agent::{AgentConfig, AgentError, Client, Enrollment, HostKey};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The report an audited call leaves for the controller: its audit line,
/// kind by action (a login's result, a session, anything else).
pub fn report_of(entry: &crate::audit::Entry, at: i64) -> QueuedReport {
    let kind = match entry.action {
        "pam.authenticate" => "login_result",
        "pam.open_session" | "pam.close_session" => "session",
        _ => "audit",
    };
    QueuedReport {
        at,
        kind: kind.into(),
        text: entry.format(),
    }
}

/// What the agent last said, for `roster hosts status` and the doctor.
#[derive(Debug, Default)]
struct Link {
    /// The last failure since the last answer, with its time.
    last_error: Option<(i64, String)>,
    /// When the controller said this host is revoked (kept in the fleet
    /// files too: a restart remembers it).
    revoked: Option<i64>,
    /// A controller answered since the agent started, and nothing has
    /// failed since: the client's current controller is the one that
    /// answers now.
    answering: bool,
}

pub struct Fleet {
    pub files: FleetFiles,
    /// Whether the agent runs (an enrolled host): calls queue their
    /// audit lines as reports then.
    running: AtomicBool,
    /// The agent's client (clones share its connections and certificate),
    /// for the checks a host asks online.
    client: Mutex<Option<Client>>,
    agent: Mutex<Option<CancellationToken>>,
    link: Mutex<Link>,
    restart: Notify,
    /// Why rosterd exits for a restart, said in its last line.
    restart_reason: Mutex<String>,
    /// Join and leave one at a time.
    pub membership: tokio::sync::Mutex<()>,
    /// Registration codes the controller accepted at a login here, by
    /// user, for the password step that follows (login's and sshd's
    /// `chauthtok` runs as root, without the code): see
    /// [`online::AcceptedCodes`].
    pub accepted_codes: online::AcceptedCodes,
}

/// The wall clock, seconds since the epoch (audit times, report times).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Fleet {
    pub fn new(files: FleetFiles) -> Fleet {
        let link = Link {
            revoked: files.revoked_since(),
            ..Link::default()
        };
        Fleet {
            files,
            running: AtomicBool::new(false),
            client: Mutex::new(None),
            agent: Mutex::new(None),
            link: Mutex::new(link),
            restart: Notify::new(),
            restart_reason: Mutex::new(String::new()),
            membership: tokio::sync::Mutex::new(()),
            accepted_codes: online::AcceptedCodes::default(),
        }
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A controller answered: whatever failed before is over.
    pub fn answered(&self) {
        let mut link = self.link();
        link.answering = true;
        if let Some((since, error)) = link.last_error.take() {
            eprintln!(
                "rosterd: the controller answers again (failing since {}: {error})",
                roster_core::calendar::timestamp(since)
            );
        }
    }

    /// The agent will retry after `error`: logged when it differs from
    /// the last one, so an outage is one line, not one per retry.
    pub fn failed(&self, error: &AgentError) {
        let message = error.to_string();
        let mut link = self.link();
        link.answering = false;
        let repeated = link
            .last_error
            .as_ref()
            .is_some_and(|(_, last)| *last == message);
        if !repeated {
            eprintln!("rosterd: fleet sync: {message} (retrying)");
            link.last_error = Some((now(), message));
        }
    }

    /// The controller says this host is revoked: kept in memory and in
    /// the fleet files (`roster hosts status` and the doctor say so after
    /// a restart too, controller or not).
    pub fn mark_revoked(&self) {
        let at = now();
        let mut link = self.link();
        if link.revoked.is_none() {
            link.revoked = Some(at);
        }
        if let Err(e) = self.files.mark_revoked(at) {
            eprintln!("rosterd: can't keep the revocation in the fleet files: {e}");
        }
    }

    /// Since when this host is revoked; none: it isn't.
    pub fn revoked_since(&self) -> Option<i64> {
        self.link().revoked
    }

    pub fn revoked(&self) -> bool {
        self.revoked_since().is_some()
    }

    /// A new enrollment, or none (a join, a leave): nothing revoked any
    /// more.
    pub fn clear_revoked(&self) {
        self.link().revoked = None;
    }

    pub fn last_error(&self) -> Option<(i64, String)> {
        self.link().last_error.clone()
    }

    /// The controller that answers now: the one the agent's last request
    /// reached, when it answered and nothing failed since; none before the
    /// first answer (a restart) and while failing.
    pub fn answering_controller(&self) -> Option<String> {
        if !self.link().answering {
            return None;
        }
        self.client().map(|client| client.controller().to_owned())
    }

    /// The controller moved this host to another environment: rosterd
    /// exits for its service manager to start it on the new one (the NSS
    /// snapshot's admin group, the session sweep and every check follow
    /// the environment from the start).
    /// rosterd exits so that systemd starts it again (`Restart=` in the
    /// unit), serving what `why` names.
    pub fn restart_because(&self, why: &str) {
        *self
            .restart_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = why.to_owned();
        self.restart.notify_one();
    }

    /// Waits for [`Fleet::restart_because`]; answers its reason.
    pub async fn restart_wanted(&self) -> String {
        self.restart.notified().await;
        self.restart_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn certificate_renewed(
        &self,
        certificate_pem: &str,
        ca_bundle_pem: &str,
        key: &HostKey,
    ) -> Result<(), String> {
        let Some((mut enrollment, _)) = self.files.load()? else {
            return Err("the enrollment is gone (left meanwhile?)".into());
        };
        enrollment.certificate_pem = certificate_pem.to_owned();
        enrollment.ca_bundle_pem = ca_bundle_pem.to_owned();
        self.files.save(&enrollment, key)
    }

    /// Starts the agent over `d`'s store (stopping one already running).
    pub fn start(
        &self,
        d: &Arc<Daemon>,
        enrollment: &Enrollment,
        key: HostKey,
    ) -> Result<(), AgentError> {
        let client = Client::new(enrollment, &key)?;
        let host = Arc::new(cache_host::CacheHost {
            d: d.clone(),
            runtime: tokio::runtime::Handle::current(),
        });
        let shutdown = CancellationToken::new();
        if let Some(old) = self
            .agent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(shutdown.clone())
        {
            old.cancel();
        }
        self.running.store(true, Ordering::SeqCst);
        // A new client: nothing has answered it yet.
        self.link().answering = false;
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        tokio::spawn(async move {
            match roster_fleet_agent::run(client, key, host, AgentConfig::default(), shutdown).await
            {
                Ok(()) => {}
                Err(AgentError::Revoked) => {
                    eprintln!("rosterd: fleet sync stopped: this host is revoked");
                }
                Err(e) => eprintln!("rosterd: fleet sync stopped: {e}"),
            }
        });
        Ok(())
    }

    /// The running agent's client (none on a standalone host).
    pub fn client(&self) -> Option<Client> {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this host runs in fleet mode now.
    pub fn enrolled(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.running.store(false, Ordering::SeqCst);
        self.link().answering = false;
        self.client.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(agent) = self.agent.lock().unwrap_or_else(|p| p.into_inner()).take() {
            agent.cancel();
        }
    }
}
