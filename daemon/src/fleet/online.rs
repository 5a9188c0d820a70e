//! Checks a fleet host can't make from its cache, asked of the controller
//! with the person's own credential: a login of an active user whose hash
//! this host doesn't hold (a role admin's first login here; a hash
//! dropped by "password changed"). The answer carries the user as this
//! host sees it, hash included, which is cached; the login then runs
//! locally as any other (one local verify, the local lockout).

use crate::daemon::{Call, Daemon};
use roster_core::Secret;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a code the controller accepted at a login stays usable here
/// for that login's password step.
pub const ACCEPTED_CODE_FOR: Duration = Duration::from_secs(10 * 60);

/// Codes the controller accepted at a login on this host, kept in memory
/// only (never on disk), for the password step of the same login: login
/// and sshd run `chauthtok` as root, without the code, and the controller
/// takes the code as the registration's credential. Used once; gone after
/// [`ACCEPTED_CODE_FOR`] or a restart (the person logs in with the code
/// again).
#[derive(Default)]
pub struct AcceptedCodes(Mutex<HashMap<String, (Secret, Instant)>>);

impl AcceptedCodes {
    pub fn remember(&self, user: &str, code: &Secret) {
        let mut codes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, (_, at)| at.elapsed() < ACCEPTED_CODE_FOR);
        codes.insert(user.to_owned(), (code.clone(), Instant::now()));
    }

    /// The code accepted for `user`, taken (used once).
    pub fn take(&self, user: &str) -> Option<Secret> {
        let mut codes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        codes
            .remove(user)
            .filter(|(_, at)| at.elapsed() < ACCEPTED_CODE_FOR)
            .map(|(code, _)| code)
    }
}
use roster_fleet_agent::protocol::{Credential, Op, OpsAnswer, OpsRequest};

/// A request id as the controller wants one: 32 hex digits of the
/// kernel's randomness.
pub fn request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness, an id from the clock and pid: unique enough
        // for one host's requests, and the controller refuses a repeat.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{nanos:032x}{:08x}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Daemon {
    /// Asks the controller to check `user`'s password; on success the
    /// user (with the hash to cache) is in the store. False when the
    /// controller said no or couldn't be asked (the audit line says
    /// which): the login then fails locally, counted as any failure.
    pub async fn check_online(&self, call: &Call, user: &str, secret: &Secret) -> bool {
        let Some(client) = self.fleet.client() else {
            call.detail("online", "no-agent");
            return false;
        };
        let request = OpsRequest {
            request_id: request_id(),
            credential: Credential::Password {
                user: user.to_owned(),
                password: secret.expose().to_owned(),
            },
            op: Op::Authenticate,
        };
        match client.ops(&request).await {
            Ok(answer) => match answer.body {
                OpsAnswer::Authenticated { user } => {
                    let cached = self
                        .store(call, move |r| r.cache_authenticated(&user))
                        .await;
                    match cached {
                        Ok(()) => {
                            call.detail("online", "verified");
                            true
                        }
                        Err(e) => {
                            eprintln!("rosterd: can't cache an online login's answer: {e}");
                            call.detail("online", "not-cached");
                            false
                        }
                    }
                }
                _ => {
                    call.detail("online", "unexpected-answer");
                    false
                }
            },
            Err(e) => {
                call.detail(
                    "online",
                    match e {
                        roster_fleet_agent::AgentError::Refused { .. } => "refused",
                        _ => "unreachable",
                    },
                );
                false
            }
        }
    }
}

impl Daemon {
    /// A pending user's registration code typed at a login on this host:
    /// codes never leave the controller, so it checks it (not using it up:
    /// the first password does that, through `chauthtok`). Unreachable is
    /// said as such, never taken for a wrong code.
    pub async fn check_code_online(
        &self,
        call: &Call,
        user: &str,
        code: &Secret,
    ) -> crate::daemon::Result<roster_core::flows::LoginOutcome> {
        use roster_client::RosterError;
        use roster_core::flows::LoginOutcome;
        let Some(client) = self.fleet.client() else {
            return Err(RosterError::Unavailable(
                "controller unreachable: a registration code is checked by the controller (the fleet sync isn't running here)".into(),
            ));
        };
        let request = OpsRequest {
            request_id: request_id(),
            credential: Credential::Password {
                user: user.to_owned(),
                password: code.expose().trim().to_owned(),
            },
            op: Op::Authenticate,
        };
        call.detail("online", "code");
        match client.ops(&request).await {
            Ok(answer) => match answer.body {
                OpsAnswer::CodeAccepted { .. } => {
                    self.fleet.accepted_codes.remember(user, code);
                    Ok(LoginOutcome::CodeAccepted)
                }
                _ => Ok(LoginOutcome::Failed),
            },
            Err(roster_fleet_agent::AgentError::Refused { code, message }) => {
                call.detail("refused", message);
                match code {
                    roster_fleet_agent::ErrorCode::TooManyRequests => Err(RosterError::Locked(
                        "too many wrong attempts at the controller: try again later".into(),
                    )),
                    _ => Ok(LoginOutcome::Failed),
                }
            }
            Err(e) => Err(RosterError::Unavailable(format!(
                "controller unreachable: a registration code is checked by the controller, which \
                 this host can't reach now ({e}); try again when it is back"
            ))),
        }
    }
}
