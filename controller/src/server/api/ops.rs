//! `POST /v1/ops`: a call made for a person. The host's certificate says
//! which host asks (its environment and its lockout key); the person's
//! credential, checked here, says who acts; core's rules decide the rest
//! exactly as on a standalone host (the controller's core runs with the
//! asking host's environment as "this host's").
//!
//! Passwords are checked under the controller's own lockout (core's, per
//! user and reporting host plus a bound per user over all hosts: the
//! reporting host is the lockout's remote host) and an argon2 quota per
//! host, so no host can guess without limit or starve the others.
//!
//! A write's request id is stored with its change (in the change's own
//! transaction) and a repeat gets the first answer; an answer that showed
//! a secret is not shown again.

mod directory;
mod fleet;

use super::{ApiError, JsonBody, answer, authenticated};
use crate::server::Shared;
use crate::server::hosts::HostInfo;
use crate::store::{CallTag, CallTags};
use crate::tls::PeerHost;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::fleet::{is_session, project_after_online_login, session_name, token_usable_from};
use roster_core::flows::{Channel, LoginOutcome, PasswordRequest};
use roster_core::level::Level;
use roster_core::model::{Caller, NewUser, Role, Scope, User};
use roster_core::password::Hasher;
use roster_core::{Actor, Error, Roster, Secret};
use roster_fleet_protocol::ops::valid_request_id;
use roster_fleet_protocol::{Credential, ErrorCode, Op, OpsAnswer, OpsRequest, UserView};
use roster_store_postgres::claimed_before;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long one request retries a write that failed because the store is
/// failing over before it answers 503 `failing_over` (the host then
/// sends it again with the same request id, saying "store failing over,
/// retrying" to the person who asked): under the hosts' 30 s request
/// timeout, and long enough for a PostgreSQL that Patroni restarts in
/// place. A leader lost for good takes Patroni's ttl (20 s) and the
/// election: two or three slices, within the 45 s the hosts wait.
pub const FAILOVER_SLICE: Duration = Duration::from_secs(10);
/// Between two attempts of such a write.
const FAILOVER_PAUSE: Duration = Duration::from_millis(500);

/// How long a `roster login` session lasts unless asked otherwise, and
/// the most it may.
const SESSION_HOURS: u32 = 8;
const SESSION_HOURS_MAX: u32 = 24;

/// The argon2 work each host may have running here at once.
#[derive(Debug)]
pub struct Argon2Quota {
    per_host: usize,
    hosts: Mutex<HashMap<i64, Arc<Semaphore>>>,
    /// Over every host: argon2's memory times this many at once at most,
    /// however many hosts ask (a host's turn waits here, not refused).
    all: Arc<Semaphore>,
    hasher: Arc<Hasher>,
}

impl Argon2Quota {
    pub fn new(per_host: usize, hasher: Hasher) -> Argon2Quota {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Argon2Quota {
            per_host: per_host.max(1),
            hosts: Mutex::default(),
            all: Arc::new(Semaphore::new(cpus)),
            hasher: Arc::new(hasher),
        }
    }

    /// A slot for `host`, or 429 when it has its quota running already:
    /// that host waits, the others go on.
    fn slot(&self, host: &HostInfo) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = Arc::clone(
            self.hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(host.id)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host))),
        );
        semaphore.try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                format!(
                    "{:?} has {} password checks running at the controller already: retry in a moment",
                    host.name, self.per_host
                ),
            )
        })
    }

    /// Run argon2 (verify or hash) off the executor, in the host's quota.
    async fn run<T: Send + 'static>(
        &self,
        host: &HostInfo,
        work: impl FnOnce(&Hasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self.slot(host)?;
        let turn = Arc::clone(&self.all)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::from(Error::Store("the controller is stopping".into())))?;
        let hasher = Arc::clone(&self.hasher);
        let answer = tokio::task::spawn_blocking(move || {
            let _held = (slot, turn);
            work(&hasher)
        })
        .await
        .map_err(|e| {
            ApiError::from(Error::Store(format!(
                "a password check ended abnormally: {e}"
            )))
        })?;
        Ok(answer)
    }
}

pub async fn ops(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
    JsonBody(request): JsonBody<OpsRequest>,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
    if !valid_request_id(&request.request_id) {
        return Err(ApiError::bad_request(
            "request_id must be 16–64 letters, digits, '-' or '_', made once per change",
        ));
    }
    let writes = request.op.writes();
    let id = request.request_id.clone();
    // A write the store's failover failed is made again with the same
    // request id (its claim, in the change's own transaction, makes a
    // retry after a commit whose answer was lost answer the first
    // outcome instead of acting twice), for up to FAILOVER_SLICE; then
    // the host hears 503 `failing_over` and sends it again.
    let started = Instant::now();
    let mut said = false;
    let outcome = loop {
        let outcome = act(&shared, &host, request.clone()).await;
        match &outcome {
            Err(failed)
                if writes
                    && failed.error.code == ErrorCode::FailingOver
                    && started.elapsed() < FAILOVER_SLICE =>
            {
                if !said {
                    eprintln!(
                        "roster-controller: request {id} from {:?}: store failing over, retrying",
                        host.name
                    );
                    said = true;
                }
                tokio::time::sleep(FAILOVER_PAUSE).await;
            }
            _ => break outcome,
        }
    };
    if said && outcome.is_ok() {
        eprintln!(
            "roster-controller: request {id}: done after the store's failover ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    shared
        .metrics
        .ops_answered
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match outcome {
        Ok(Acted::Replayed(first)) => Ok(answer(first)),
        Ok(Acted::Answered { answer: done, .. }) => {
            if writes {
                keep_answer(&shared, id, &done).await;
            }
            Ok(answer(done))
        }
        Err(Failed {
            error,
            person,
            claimed,
        }) => {
            if let Some(person) = person {
                if error.message == claimed_before(&id).to_string() {
                    // A repeat that raced its first attempt: the first
                    // one's change stands, and so does its answer.
                    if let Some(first) = first_answer(&shared, &id, &person, &host.name).await? {
                        return Ok(answer(first));
                    }
                } else if claimed
                    && error.code != ErrorCode::Unavailable
                    && error.code != ErrorCode::FailingOver
                {
                    // This call's own write claimed the id and the call
                    // then failed (a wrong password counted, a code used up
                    // meanwhile): nothing it asked for changed, so the id
                    // stays free. Never when the outcome is unknown (the
                    // store failed: the change may have committed).
                    release(&shared, id, person, host.name.clone()).await;
                }
            }
            Err(error)
        }
    }
}

/// What [`act`] did.
enum Acted {
    /// The op ran now.
    Answered { answer: OpsAnswer },
    /// The request id was carried out before, by the same person through
    /// the same host: its first answer.
    Replayed(OpsAnswer),
}

/// A failed call, with the person its credential proved (if it got that
/// far), to match a raced repeat's first answer.
struct Failed {
    error: ApiError,
    person: Option<String>,
    /// A write of this call took its tag (and so may have claimed the id).
    claimed: bool,
}

impl<E: Into<ApiError>> From<E> for Failed {
    fn from(error: E) -> Failed {
        Failed {
            error: error.into(),
            person: None,
            claimed: false,
        }
    }
}

/// Forget a request id whose call failed after its own write claimed it
/// (and the audit row that write wrote).
async fn release(shared: &Arc<Shared>, id: String, person: String, host: String) {
    let released = shared
        .store
        .run(move |s| s.fleet_write(|tx| tx.release_request(&id, &person, &host)))
        .await;
    if let Err(e) = released {
        eprintln!("roster-controller: releasing a failed request's id: {e}");
    }
}

/// The answer stored for a request id carried out before, if any — only
/// to the same person through the same host (anyone else learns nothing
/// from an id, not even that it exists).
async fn first_answer(
    shared: &Arc<Shared>,
    id: &str,
    person: &str,
    host: &str,
) -> Result<Option<OpsAnswer>, ApiError> {
    let id = id.to_string();
    let row = shared
        .store
        .run(move |s| s.fleet_read(|tx| tx.request(&id)))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.person != person || row.host != host {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "this request id was used by another call: make a new one for each change",
        ));
    }
    Ok(Some(
        row.answer
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_else(|| OpsAnswer::AlreadyDone {
                message: "done by your earlier attempt (its answer was not kept): check with `roster users show`".into(),
            }),
    ))
}

/// Keep the answer for repeats; a secret shown once is replaced by
/// "done by your earlier attempt".
async fn keep_answer(shared: &Arc<Shared>, id: String, done: &OpsAnswer) {
    let kept = match done {
        OpsAnswer::Session { .. } => OpsAnswer::AlreadyDone {
            message: "logged in by your earlier attempt; its session was shown once: run `roster login` again for another".into(),
        },
        OpsAnswer::Code { user, .. } => OpsAnswer::AlreadyDone {
            message: format!(
                "done by your earlier attempt; the registration code was shown once: `roster users password {} --reset` makes a new one",
                user.name
            ),
        },
        OpsAnswer::ApiToken { view, .. } => OpsAnswer::AlreadyDone {
            message: format!(
                "done by your earlier attempt; the token {} was shown once: delete it and create another",
                view.id
            ),
        },
        OpsAnswer::JoinToken { view, .. } => OpsAnswer::AlreadyDone {
            message: format!(
                "done by your earlier attempt; the join token {} was shown once: delete it and create another",
                view.id
            ),
        },
        other => other.clone(),
    };
    let Ok(json) = serde_json::to_string(&kept) else {
        return;
    };
    let stored = shared
        .store
        .run(move |s| s.fleet_write(|tx| tx.store_answer(&id, &json)))
        .await;
    if let Err(e) = stored {
        // The change stands; a repeat hears "done by your earlier attempt".
        eprintln!("roster-controller: keeping a request's answer: {e}");
    }
}

/// Who the credential proves, as core's actor.
enum Proven {
    Actor {
        actor: Actor,
        via: Via,
    },
    /// A registration code: only `register` takes it.
    Code(Secret),
    /// A pending user's name with its registration code typed where the
    /// password goes (a login on a host): good for `authenticate` only.
    PendingCode {
        user: String,
    },
}

/// How a person proved who they are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Password,
    ApiToken,
    /// A `roster login` session: good for acting, not for making further
    /// credentials (a session must not outlive itself as a token).
    Session,
    /// uid 0 on a host whose environment sets `host_root_is_admin`: an
    /// `admin` holder of that environment, nobody else.
    HostRoot,
}

async fn act(shared: &Arc<Shared>, host: &HostInfo, request: OpsRequest) -> Result<Acted, Failed> {
    let OpsRequest {
        request_id,
        credential,
        op,
    } = request;
    // An own password change with the current password: the password is
    // proved like a login (the asking host's lockout, its argon2 quota)
    // and the change then commits as proved.
    let own_current = match (&credential, &op) {
        (Credential::Password { user, password }, Op::SetPassword { name, .. }) if user == name => {
            Some((user.clone(), Secret::new(password.clone())))
        }
        _ => None,
    };
    // Its retry after success carries the old password, which would now
    // fail (and count): the same person's request id through the same host
    // gets the first answer before any proof. The id is the CLI's secret.
    if let Some((user, _)) = &own_current
        && let Some(first) = first_answer(shared, &request_id, user, &host.name).await?
    {
        return Ok(Acted::Replayed(first));
    }
    let (proven, verified_hash) = prove(shared, host, credential).await?;
    let person = match &proven {
        Proven::Actor { actor, .. } => roster_core::rules::actor_name(actor)
            .unwrap_or("root")
            .to_string(),
        Proven::Code(_) => "registration-code".to_string(),
        Proven::PendingCode { user } => user.clone(),
    };
    let unclaimed = |error: ApiError| Failed {
        error,
        person: Some(person.clone()),
        claimed: false,
    };
    if op.writes()
        && let Some(first) = first_answer(shared, &request_id, &person, &host.name)
            .await
            .map_err(unclaimed)?
    {
        return Ok(Acted::Replayed(first));
    }
    let tags = op.writes().then(|| {
        CallTags::with(CallTag {
            request_id: request_id.clone(),
            person: person.clone(),
            host: host.name.clone(),
            action: op.name().to_string(),
            target: op.target().to_string(),
        })
    });
    let failed = |error: ApiError| Failed {
        error,
        person: Some(person.clone()),
        claimed: tags.as_ref().is_some_and(CallTags::was_taken),
    };
    if let (
        Some((_, current)),
        Op::SetPassword { name, new_password },
        Proven::Actor { actor, .. },
    ) = (own_current, &op, &proven)
    {
        let request = PasswordRequest::own(
            name,
            current,
            Secret::new(new_password.clone()),
            Channel::Api,
        )
        .map_err(|e| unclaimed(e.into()))?;
        let user = change_password(
            shared,
            host,
            tags.clone(),
            actor.clone(),
            request,
            Some(verified_hash),
        )
        .await
        .map_err(failed)?;
        return Ok(Acted::Answered {
            answer: OpsAnswer::Done {
                user: None,
                message: format!("the password of {:?} is changed", user.name),
            },
        });
    }
    let answer = run_op(shared, host, tags.clone(), proven, op)
        .await
        .map_err(failed)?;
    Ok(Acted::Answered { answer })
}

async fn run_op(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    proven: Proven,
    op: Op,
) -> Result<OpsAnswer, ApiError> {
    match (proven, op) {
        (Proven::Code(code), Op::Register { new_password }) => {
            let request = PasswordRequest::register(code, Secret::new(new_password))?;
            let user = change_password(shared, host, tag, Actor::Root, request, None).await?;
            Ok(OpsAnswer::Done {
                message: format!("{:?} is registered and may log in", user.name),
                user: Some(user.name),
            })
        }
        (Proven::Code(_), _) => Err(ApiError::from(Error::PermissionDenied(
            "a registration code only sets the first password (register)".into(),
        ))),
        (Proven::PendingCode { user }, Op::Authenticate) => Ok(OpsAnswer::CodeAccepted { user }),
        (Proven::PendingCode { user }, _) => Err(ApiError::from(Error::PermissionDenied(format!(
            "the account {user:?} is pending: finish registration with its code first (`roster register`)"
        )))),
        (Proven::Actor { .. }, Op::Register { .. }) => Err(ApiError::bad_request(
            "register takes the registration code as its credential",
        )),
        (
            Proven::Actor {
                actor,
                via: Via::Session,
            },
            op,
        ) if makes_a_credential(&actor, &op) => Err(ApiError::from(Error::PermissionDenied(
            "a `roster login` session makes no lasting credential (a token, a join token, your own key or password): give your password instead".into(),
        ))),
        (
            Proven::Actor {
                via: Via::HostRoot, ..
            },
            Op::SetPassword { name, new_password },
        ) => host_root_sets_password(shared, host, tag, name, new_password).await,
        (
            Proven::Actor {
                via: Via::HostRoot, ..
            },
            op,
        ) if matches!(
            op,
            Op::Login { .. }
                | Op::Authenticate
                | Op::CreateToken { .. }
                | Op::JoinTokenCreate { .. }
        ) =>
        {
            Err(ApiError::from(Error::PermissionDenied(format!(
                "root on {:?} has an environment admin's rights only (host_root_is_admin), and no account: it can't {}; an admin runs `roster login` for that",
                host.name,
                op.name()
            ))))
        }
        (
            Proven::Actor {
                via: Via::HostRoot, ..
            },
            op,
        ) if op.is_secret() => Err(ApiError::from(Error::PermissionDenied(format!(
            "root on {:?} is nobody's secrets (host_root_is_admin gives no access to them): run `roster login` first",
            host.name
        )))),
        (Proven::Actor { actor, .. }, op) if op.is_secret() => {
            super::secrets::run(shared, host, tag, actor, op).await
        }
        (Proven::Actor { actor, .. }, Op::ListSessions { user }) => {
            fleet_sessions(shared, &actor, user).await
        }
        (Proven::Actor { actor, .. }, op) => as_actor(shared, host, tag, actor, op).await,
    }
}

/// Whether `op` would leave the actor a credential that outlives a
/// session (DESIGN.md: root on a host where an admin holds a session acts
/// as that admin until the session ends, not after): an API token, a join
/// token, another session, their own SSH key or password.
fn makes_a_credential(actor: &Actor, op: &Op) -> bool {
    let own = |name: &str| roster_core::rules::actor_name(actor) == Some(name);
    match op {
        Op::CreateToken { .. } | Op::Login { .. } | Op::JoinTokenCreate { .. } => true,
        Op::AddKey { name, .. } | Op::AddKeys { name, .. } | Op::SetPassword { name, .. } => {
            own(name)
        }
        _ => false,
    }
}

/// One op's work on core's rules, run on a blocking thread.
type RosterWork = Box<dyn FnOnce(&mut Roster, &Actor) -> roster_core::Result<OpsAnswer> + Send>;

async fn as_actor(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    actor: Actor,
    op: Op,
) -> Result<OpsAnswer, ApiError> {
    let environment = host.environment.clone();
    let on = |work: RosterWork| {
        let store = Arc::clone(&shared.store);
        let environment = environment.clone();
        let tag = tag.clone();
        let actor = actor.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                store.with_roster_in(&environment, tag, |roster| work(roster, &actor))
            })
            .await
            .map_err(|e| {
                ApiError::from(Error::Store(format!("a store task ended abnormally: {e}")))
            })?
            .map_err(ApiError::from)
        }
    };
    match op {
        Op::Login { hours } => {
            let hours = hours.unwrap_or(SESSION_HOURS);
            if hours == 0 || hours > SESSION_HOURS_MAX {
                return Err(ApiError::bad_request(format!(
                    "a session lasts 1–{SESSION_HOURS_MAX} hours"
                )));
            }
            if matches!(actor, Actor::Token { .. }) {
                return Err(ApiError::from(Error::PermissionDenied(
                    "`roster login` takes your Roster name and password, not a token".into(),
                )));
            }
            let name = session_name(&host.name, host.id);
            on(Box::new(move |roster, actor| {
                let (token, secret) = roster.create_token(
                    actor,
                    Some(&name),
                    Scope::Full,
                    Some(Duration::from_secs(u64::from(hours) * 3600)),
                )?;
                Ok(OpsAnswer::Session {
                    token: secret.expose().to_string(),
                    expires: token.expires.unwrap_or_default(),
                })
            }))
            .await
        }
        Op::Authenticate => {
            let Actor::User(_) = &actor else {
                return Err(ApiError::bad_request(
                    "authenticate takes the person's name and password",
                ));
            };
            let policy = shared.feed.policy(&host.environment);
            let environment = host.environment.clone();
            on(Box::new(move |roster, actor| {
                let name = roster_core::rules::actor_name(actor)
                    .unwrap_or_default()
                    .to_string();
                let (user, hash, keys) = roster.fleet_view(&name)?;
                Ok(OpsAnswer::Authenticated {
                    user: project_after_online_login(
                        &user,
                        &environment,
                        &policy,
                        hash.as_deref(),
                        &keys,
                    ),
                })
            }))
            .await
        }
        Op::ShowUser { name } => {
            on(Box::new(move |roster, actor| {
                Ok(OpsAnswer::User {
                    user: view(&roster.show_user(actor, &name)?),
                })
            }))
            .await
        }
        Op::ListUsers { all } => {
            on(Box::new(move |roster, actor| {
                Ok(OpsAnswer::Users {
                    users: roster.list_users(actor, all)?.iter().map(view).collect(),
                })
            }))
            .await
        }
        Op::CreateUser {
            name,
            display_name,
            role,
            password,
        } => {
            let role = role
                .map(|role| role.parse::<Role>())
                .transpose()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let new = NewUser {
                name,
                display_name,
                role,
                home: None,
                shell: None,
            };
            match password {
                Some(password) => {
                    let request = PasswordRequest::create(new, Secret::new(password))?;
                    let user = change_password(shared, host, tag, actor, request, None).await?;
                    Ok(OpsAnswer::User { user: view(&user) })
                }
                None => {
                    on(Box::new(move |roster, actor| {
                        let (user, code) = roster.create_user(
                            actor,
                            new,
                            roster_core::roster::InitialCredential::Register,
                        )?;
                        let code = code.ok_or_else(|| {
                            Error::Store("a pending user was created without a code".into())
                        })?;
                        Ok(OpsAnswer::Code {
                            user: view(&user),
                            code: code.code.expose().to_string(),
                            expires: code.expires,
                        })
                    }))
                    .await
                }
            }
        }
        Op::SetPassword { name, new_password } => {
            let request = PasswordRequest::by_admin(&name, Secret::new(new_password))?;
            let user = change_password(shared, host, tag, actor, request, None).await?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the password of {:?} is changed", user.name),
            })
        }
        Op::ResetPassword { name } => {
            on(Box::new(move |roster, actor| {
                let (user, code) = roster.reset_password(actor, &name)?;
                Ok(OpsAnswer::Code {
                    user: view(&user),
                    code: code.code.expose().to_string(),
                    expires: code.expires,
                })
            }))
            .await
        }
        Op::SuspendUser { name } => {
            on(Box::new(move |r, a| {
                Ok(user_done("suspended", &r.suspend_user(a, &name)?))
            }))
            .await
        }
        Op::EnableUser { name } => {
            on(Box::new(move |r, a| {
                Ok(user_done("enabled", &r.enable_user(a, &name)?))
            }))
            .await
        }
        Op::DeleteUser { name } => {
            on(Box::new(move |r, a| {
                Ok(user_done("deleted", &r.delete_user(a, &name)?))
            }))
            .await
        }
        Op::UnlockUser { name } => {
            on(Box::new(move |r, a| {
                Ok(user_done("unlocked", &r.unlock_user(a, &name)?))
            }))
            .await
        }
        Op::Grant {
            name,
            environment,
            level,
        } => {
            let level = parse_level(&level)?;
            on(Box::new(move |roster, actor| {
                let after = roster.grant(actor, &name, Some(&environment), level)?;
                Ok(OpsAnswer::Done {
                    user: None,
                    message: format!("{name:?} holds {} in {environment:?}", after.as_str()),
                })
            }))
            .await
        }
        Op::Revoke {
            name,
            environment,
            level,
        } => {
            let level = level.as_deref().map(parse_level).transpose()?;
            on(Box::new(move |roster, actor| {
                let outcome = roster.revoke(actor, &name, Some(&environment), level)?;
                Ok(OpsAnswer::Done {
                    user: None,
                    message: match outcome.after {
                        Some(level) => {
                            format!("{name:?} holds {} in {environment:?}", level.as_str())
                        }
                        None => format!("{name:?} holds nothing in {environment:?}"),
                    },
                })
            }))
            .await
        }
        Op::Register { .. } => Err(ApiError::bad_request(
            "register takes the registration code as its credential",
        )),
        Op::HostsList { .. }
        | Op::HostsRevoke { .. }
        | Op::JoinTokenCreate { .. }
        | Op::JoinTokenList
        | Op::JoinTokenDelete { .. }
        | Op::EnvironmentsSet { .. } => fleet::run(shared, tag, &actor, op).await,
        op => directory::run(on, op).await,
    }
}

fn user_done(what: &str, user: &User) -> OpsAnswer {
    OpsAnswer::Done {
        user: None,
        message: format!("{:?} is {what}", user.name),
    }
}

fn parse_level(level: &str) -> Result<Level, ApiError> {
    level
        .parse::<Level>()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

pub fn view(user: &User) -> UserView {
    UserView {
        name: user.name.clone(),
        uid: user.uid,
        display_name: user.display_name.clone(),
        role: user.role.as_str().to_string(),
        state: user.state.as_str().to_string(),
        home: user.home.clone(),
        shell: user.shell.clone(),
        created: user.created,
        last_login: user.last_login,
        password_changed: user.password_changed,
        locked_until: user.locked_until,
        grants: user
            .grants
            .iter()
            .map(|(environment, level)| (environment.clone(), level.as_str().to_string()))
            .collect(),
    }
}

/// Core's password flow: plan, argon2 in the host's quota, commit.
async fn change_password(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    actor: Actor,
    request: PasswordRequest,
    proven_against: Option<Option<String>>,
) -> Result<User, ApiError> {
    let store = Arc::clone(&shared.store);
    let environment = host.environment.clone();
    let planner = actor.clone();
    let plan = tokio::task::spawn_blocking(move || {
        store.with_roster_in(&environment, None, |roster| {
            roster.plan_password_change(&planner, request)
        })
    })
    .await
    .map_err(|e| ApiError::from(Error::Store(format!("a store task ended abnormally: {e}"))))??;
    let verified = match (plan.to_verify(), proven_against) {
        // Proved just now under the asking host's lockout, against the
        // hash the plan read too (else a reset or change came between).
        (Some((_, hash)), Some(proven)) => {
            if hash != proven {
                return Err(ApiError::from(Error::Conflict(
                    "the password changed while this change was made: nothing was changed, try again".into(),
                )));
            }
            true
        }
        (Some((current, hash)), None) => {
            shared
                .argon2
                .run(host, move |hasher| hasher.verify(&current, hash.as_deref()))
                .await?
        }
        (None, _) => false,
    };
    let phc = match plan.password_to_hash(verified)? {
        Some(new) => Some(
            shared
                .argon2
                .run(host, move |hasher| hasher.hash(&new))
                .await??,
        ),
        None => None,
    };
    let store = Arc::clone(&shared.store);
    let environment = host.environment.clone();
    let user = tokio::task::spawn_blocking(move || {
        store.with_roster_in(&environment, tag, |roster| {
            roster.commit_password_change(&actor, plan, verified, phc)
        })
    })
    .await
    .map_err(|e| ApiError::from(Error::Store(format!("a store task ended abnormally: {e}"))))??;
    Ok(user)
}

/// Check the credential here: a token (API or session, bound to its
/// host), a password under the lockout and the host's argon2 quota, or a
/// code (checked when it is used, by the register flow).
async fn prove(
    shared: &Arc<Shared>,
    host: &HostInfo,
    credential: Credential,
) -> Result<(Proven, Option<String>), ApiError> {
    match credential {
        Credential::Code { code } => Ok((Proven::Code(Secret::new(code)), None)),
        Credential::HostRoot => {
            if !shared.feed.policy(&host.environment).host_root_is_admin {
                return Err(ApiError::from(Error::PermissionDenied(format!(
                    "root on a host is nobody at the controller: run `roster login` first (or present an API token); \
                     environment {:?} doesn't set host_root_is_admin",
                    host.environment
                ))));
            }
            Ok((
                Proven::Actor {
                    actor: host_root_actor(host),
                    via: Via::HostRoot,
                },
                None,
            ))
        }
        Credential::Token { token } => {
            let store = Arc::clone(&shared.store);
            let environment = host.environment.clone();
            let (name, id) = (host.name.clone(), host.id);
            let (actor, via) = tokio::task::spawn_blocking(move || {
                store.with_roster_in(&environment, None, |roster| {
                    let token = roster.present_token(&Secret::new(token))?;
                    if !token_usable_from(&token, &name, id) {
                        return Err(Error::PermissionDenied(
                            "this session was made on another host: run `roster login` here".into(),
                        ));
                    }
                    let via = if is_session(&token) {
                        Via::Session
                    } else {
                        Via::ApiToken
                    };
                    let actor = roster.actor(&Caller {
                        uid: token.uid,
                        token_id: Some(token.id),
                    })?;
                    Ok((actor, via))
                })
            })
            .await
            .map_err(|e| {
                ApiError::from(Error::Store(format!("a store task ended abnormally: {e}")))
            })??;
            Ok((Proven::Actor { actor, via }, None))
        }
        Credential::Password { user, password } => {
            let password = Secret::new(password);
            let store = Arc::clone(&shared.store);
            let environment = host.environment.clone();
            let remote = lockout_host(host);
            let name = user.clone();
            let plan = tokio::task::spawn_blocking(move || {
                store.with_roster_in(&environment, None, |roster| {
                    roster.begin_login(&Actor::Root, &name, Some(&remote))
                })
            })
            .await
            .map_err(|e| {
                ApiError::from(Error::Store(format!("a store task ended abnormally: {e}")))
            })??;
            if let Some(LoginOutcome::Locked { message, .. }) = plan.refused() {
                return Err(locked(message));
            }
            let hash = plan.hash_to_verify();
            let verified_against = hash.clone();
            let secret = password.clone();
            let verified = shared
                .argon2
                .run(host, move |hasher| hasher.verify(&secret, hash.as_deref()))
                .await?;
            let store = Arc::clone(&shared.store);
            let environment = host.environment.clone();
            let who = user.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                store.with_roster_in(&environment, None, |roster| {
                    let outcome = roster.finish_login(plan, &password, verified)?;
                    let actor = match &outcome {
                        LoginOutcome::Success => match roster.user_by_name(&user)? {
                            Some(found) => Some(roster.actor(&Caller {
                                uid: found.uid,
                                token_id: None,
                            })?),
                            None => None,
                        },
                        _ => None,
                    };
                    Ok((outcome, actor))
                })
            })
            .await
            .map_err(|e| {
                ApiError::from(Error::Store(format!("a store task ended abnormally: {e}")))
            })??;
            match outcome {
                (LoginOutcome::Success, Some(actor)) => Ok((
                    Proven::Actor {
                        actor,
                        via: Via::Password,
                    },
                    verified_against,
                )),
                (LoginOutcome::Locked { message, .. }, _) => Err(locked(message)),
                (LoginOutcome::CodeAccepted, _) => Ok((Proven::PendingCode { user: who }, None)),
                _ => Err(ApiError::from(Error::AuthFailed(
                    "wrong name or password (a registration code is given as a code credential)"
                        .into(),
                ))),
            }
        }
    }
}

/// uid 0 on `host` where its environment sets `host_root_is_admin`: an
/// `admin` holder of that environment and nothing more (no role, no
/// grant elsewhere, no account: the name can't be a Roster user's).
fn host_root_actor(host: &HostInfo) -> Actor {
    Actor::User(roster_core::authz::ActingUser {
        name: format!("root@{}", host.name),
        uid: 0,
        role: Role::User,
        state: roster_core::model::UserState::Active,
        grants: [(host.environment.clone(), Level::Admin)]
            .into_iter()
            .collect(),
    })
}

/// Root's `passwd USER` on a host whose environment sets
/// `host_root_is_admin`: the password of a `user`-role user whose every
/// grant is in that environment (whose access the environment's admins
/// decide anyway), never a role admin's or a user's with access elsewhere.
async fn host_root_sets_password(
    shared: &Arc<Shared>,
    host: &HostInfo,
    tag: Option<CallTags>,
    name: String,
    new_password: String,
) -> Result<OpsAnswer, ApiError> {
    let store = Arc::clone(&shared.store);
    let environment = host.environment.clone();
    let looked_up = name.clone();
    let target = tokio::task::spawn_blocking(move || {
        store.with_roster_in(&environment, None, |roster| roster.user_by_name(&looked_up))
    })
    .await
    .map_err(|e| ApiError::from(Error::Store(format!("a store task ended abnormally: {e}"))))??
    .ok_or_else(|| ApiError::from(Error::NotFound(format!("user {name:?} not found"))))?;
    let confined = target.role == Role::User
        && !target.grants.is_empty()
        && target.grants.keys().all(|e| *e == host.environment);
    if !confined {
        return Err(ApiError::from(Error::PermissionDenied(format!(
            "root on {:?} may set the password only of users whose access is all in {:?} (host_root_is_admin): \
             an admin does it with `roster login` then `roster users password {name}`",
            host.name, host.environment
        ))));
    }
    let request = PasswordRequest::by_admin(&name, Secret::new(new_password))?;
    let user = change_password(shared, host, tag, Actor::Root, request, None).await?;
    Ok(OpsAnswer::Done {
        user: None,
        message: format!("the password of {:?} is changed", user.name),
    })
}

/// `roster users sessions --fleet`: every host's latest report of its
/// live sessions, each host's shown as core's table says for its
/// environment (root, role admins and `status`+ holders see all of it;
/// everyone their own).
async fn fleet_sessions(
    shared: &Arc<Shared>,
    actor: &Actor,
    user: Option<String>,
) -> Result<OpsAnswer, ApiError> {
    let reports = shared
        .store
        .run(|s| s.fleet_read(|tx| tx.latest_reports(roster_fleet_protocol::LIVE_SESSIONS_KIND)))
        .await?;
    let me = roster_core::rules::actor_name(actor).map(str::to_string);
    let mut sessions = Vec::new();
    for report in reports {
        let Ok(listed) =
            serde_json::from_str::<Vec<roster_fleet_protocol::SessionView>>(&report.body)
        else {
            continue;
        };
        let sees_all = roster_core::authz::sees_all_sessions(actor, &report.environment);
        for mut session in listed {
            let own = me.as_deref() == Some(session.user.as_str());
            let wanted = user.as_deref().is_none_or(|u| u == session.user);
            if wanted && (sees_all || own) {
                session.host = report.host.clone();
                session.reported = report.at;
                sessions.push(session);
            }
        }
    }
    sessions.sort_by(|a, b| (&a.host, a.started, a.id).cmp(&(&b.host, b.started, b.id)));
    Ok(OpsAnswer::Sessions { sessions })
}

/// The lockout's "remote host" for a check asked by `host`: its name,
/// so each host has its own counter and the bound over all remote hosts
/// holds across the fleet.
fn lockout_host(host: &HostInfo) -> String {
    format!("fleet:{}", host.name)
}

fn locked(message: String) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyRequests,
        message,
    )
}
