//! Checks a fleet host can't make from its cache, asked of the controller
//! with the person's own credential: a login of an active user whose hash
//! this host doesn't hold (a role admin's first login here; a hash
//! dropped by "password changed"). The answer carries the user as this
//! host sees it, hash included, which is cached; the login then runs
//! locally as any other (one local verify, the local lockout).

use crate::daemon::{Call, Daemon};
use roster_core::Secret;
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
