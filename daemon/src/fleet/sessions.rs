//! What `roster users sessions --fleet` shows of this host: each time a
//! session opens or ends here, the whole list of live sessions goes up as
//! one report of the kind `live_sessions`; the controller shows each
//! host's latest. Queued in the cache like every report, so an outage
//! delays it and loses nothing.

use crate::daemon::Daemon;
use roster_core::host_cache::QueuedReport;
use roster_core::model::Session;
use roster_fleet_agent::protocol::SessionView;
use roster_fleet_agent::protocol::report::MAX_ENTRY_BYTES;

/// The live sessions as one report's text: as many as fit in an entry
/// (the oldest first; a host with more shows the first that fit).
pub fn live_sessions_text(sessions: &[Session]) -> String {
    let mut views: Vec<SessionView> = sessions
        .iter()
        .map(|s| SessionView {
            host: String::new(),
            id: s.id,
            user: s.user.clone(),
            uid: s.uid,
            service: s.service.clone(),
            tty: s.tty.clone(),
            remote_host: s.remote_host.clone(),
            started: s.started,
            reported: 0,
        })
        .collect();
    loop {
        let text = serde_json::to_string(&views).unwrap_or_else(|_| "[]".into());
        if text.len() <= MAX_ENTRY_BYTES || views.is_empty() {
            return text;
        }
        views.pop();
    }
}

impl Daemon {
    /// Queues this host's live sessions for the controller (enrolled
    /// hosts only), off the caller's path.
    pub fn report_live_sessions(&self) {
        if !self.fleet.enrolled() {
            return;
        }
        let roster = self.roster.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = roster.lock().unwrap_or_else(|p| p.into_inner());
            let queued = guard.live_sessions().and_then(|sessions| {
                guard.queue_fleet_report(&QueuedReport {
                    at: super::now(),
                    kind: "live_sessions".into(),
                    text: live_sessions_text(&sessions),
                })
            });
            if let Err(e) = queued {
                eprintln!("rosterd: can't keep the live sessions for the controller: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: i64) -> Session {
        Session {
            id,
            user: "carol".into(),
            uid: 70_000,
            service: "sshd".into(),
            tty: "pts/1".into(),
            remote_host: "10.0.0.5".into(),
            leader_pid: 42,
            leader_start: 7,
            started: 1_800_000_000,
            ended: None,
        }
    }

    #[test]
    fn the_report_is_the_list_and_always_fits_an_entry() {
        let text = live_sessions_text(&[session(1)]);
        let back: Vec<SessionView> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].user, "carol");
        let many: Vec<Session> = (0..500).map(session).collect();
        let text = live_sessions_text(&many);
        assert!(text.len() <= MAX_ENTRY_BYTES);
        let back: Vec<SessionView> = serde_json::from_str(&text).unwrap();
        assert!(!back.is_empty() && back.len() < 500);
        assert_eq!(live_sessions_text(&[]), "[]");
    }
}
