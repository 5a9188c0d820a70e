//! `GET /v1/snapshot`: the host's environment's full state, for a cursor
//! older than the window or a new epoch. Built once per environment and
//! cached (every host of an environment gets the same bytes: nothing in
//! the answer depends on the host itself, only on its environment), and
//! served through a limiter so a thousand hosts asking at once are
//! served in turn with bounded memory:
//!
//! - at most `snapshots_at_once` answers are built or being sent at once
//!   (a send holds its turn until its last byte is written, or until
//!   `snapshot_send_timeout`, so a host reading slowly can't keep it);
//! - up to `snapshot_queue` more wait for a turn, each at most
//!   `snapshot_queue_wait`;
//! - beyond that, or after that wait, the answer is `429` with
//!   `Retry-After`: the host tries again after its backoff (full jitter,
//!   growing), so the refused spread out instead of coming back together.
//!
//! The answer is also kept gzip'd (compressed once per build): a host
//! that sends `Accept-Encoding: gzip` gets it so, ~8 times smaller, in
//! gzip members (the envelope's own with this answer's time, then the
//! shared body's), which a gzip reader takes as one stream.
//!
//! A cached snapshot stays usable while hosts can catch up from it
//! through the window (its cursor at or above the window's floor), the
//! environment's settings haven't changed since, the epoch is the same
//! and it is younger than [`FRESH_FOR`]: a busy store doesn't make every
//! request a rebuild, and a host that takes it syncs on from its cursor.

use super::{ApiError, authenticated};
use crate::server::Shared;
use crate::tls::PeerHost;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use roster_core::clock::{Clock, SystemClock};
use roster_core::fleet::{EnvironmentPolicy, project_user};
use roster_core::store::Transaction;
use roster_fleet_protocol::{ErrorCode, PROTOCOL_VERSION, SnapshotAnswer};
use roster_store_postgres::PgStore;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A cached snapshot older than this is rebuilt (hosts then catch up
/// less from the window).
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The answer is written in slices of this size: hyper copies each
/// slice it is given into the connection's buffer (TLS streams don't
/// take vectored writes), so a slice, never the whole answer, is what
/// one connection holds beyond the shared bytes.
const SLICE_BYTES: usize = 64 << 10;

/// One environment's snapshot, serialized once.
#[derive(Debug)]
pub struct Cached {
    pub cursor: i64,
    pub epoch: String,
    /// The settings it was projected under: a change (a new login level)
    /// voids it.
    policy: EnvironmentPolicy,
    built: Instant,
    /// Shared by every answer: cloning it copies nothing.
    json: Bytes,
    /// `json` as one gzip member.
    gzip: Bytes,
}

/// How the snapshot limiter is sized (`[limits]` in controller.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// Answers built or being sent at once.
    pub at_once: usize,
    /// Requests waiting for a turn; beyond, 429.
    pub queue: usize,
    /// The longest a request waits for its turn before its 429.
    pub queue_wait: Duration,
    /// The longest one answer may take to send.
    pub send_timeout: Duration,
}

#[derive(Debug)]
pub struct SnapshotCache {
    cached: Mutex<HashMap<String, Arc<Cached>>>,
    /// One build per environment at a time; the others wait for it.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// A turn to build or send an answer.
    turns: Arc<Semaphore>,
    /// Requests waiting for a turn now.
    waiting: AtomicUsize,
    limits: SnapshotLimits,
}

/// Why a request got no turn.
enum NoTurn {
    QueueFull,
    Waited,
    Closed,
}

impl SnapshotCache {
    pub fn new(limits: SnapshotLimits) -> SnapshotCache {
        let limits = SnapshotLimits {
            at_once: limits.at_once.max(1),
            ..limits
        };
        SnapshotCache {
            cached: Mutex::default(),
            building: Mutex::default(),
            turns: Arc::new(Semaphore::new(limits.at_once)),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    fn usable(&self, shared: &Shared, environment: &str) -> Option<Arc<Cached>> {
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(environment)
            .cloned()?;
        let floor = shared.feed.window().floor();
        (cached.cursor >= floor
            && cached.cursor >= shared.feed.settings_changed_at(environment)
            && cached.epoch == shared.feed.epoch()
            && cached.policy == shared.feed.policy(environment)
            && cached.built.elapsed() < FRESH_FOR)
            .then_some(cached)
    }

    /// A turn at once, or after waiting in the bounded queue.
    async fn turn(&self, shared: &Shared) -> Result<OwnedSemaphorePermit, NoTurn> {
        if let Ok(turn) = Arc::clone(&self.turns).try_acquire_owned() {
            return Ok(turn);
        }
        // Counted in before the check, so two requests can't both take
        // the last place.
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if ahead >= self.limits.queue {
            return Err(NoTurn::QueueFull);
        }
        shared
            .metrics
            .snapshot_queued
            .fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(
            self.limits.queue_wait,
            Arc::clone(&self.turns).acquire_owned(),
        )
        .await
        {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) => Err(NoTurn::Closed),
            Err(_) => Err(NoTurn::Waited),
        }
    }

    /// The environment's snapshot: cached, or built now (one build per
    /// environment at a time; the others find it cached).
    pub async fn get(
        &self,
        shared: &Arc<Shared>,
        environment: &str,
    ) -> Result<Arc<Cached>, ApiError> {
        if let Some(cached) = self.usable(shared, environment) {
            return Ok(cached);
        }
        let gate = Arc::clone(
            self.building
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(environment.to_string())
                .or_default(),
        );
        let _one_build = gate.lock().await;
        if let Some(cached) = self.usable(shared, environment) {
            return Ok(cached);
        }
        let name = environment.to_string();
        let policy = shared.feed.policy(environment);
        let built = shared
            .store
            .run(move |store| build(store, &name, &policy))
            .await?;
        shared
            .metrics
            .snapshots_built
            .fetch_add(1, Ordering::Relaxed);
        let built = Arc::new(built);
        self.cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(environment.to_string(), Arc::clone(&built));
        Ok(built)
    }

    /// The answer for a host refused a turn: 429, with when to come back.
    fn retry_later(&self, shared: &Shared, why: NoTurn) -> Response {
        shared
            .metrics
            .snapshot_refused
            .fetch_add(1, Ordering::Relaxed);
        let (status, code, message) = match why {
            NoTurn::QueueFull => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                format!(
                    "{} snapshot requests are waiting already: retry later (after {} s or more)",
                    self.limits.queue,
                    self.retry_after_secs()
                ),
            ),
            NoTurn::Waited => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyRequests,
                format!(
                    "no turn to send the snapshot within {:?}: retry later (after {} s or more)",
                    self.limits.queue_wait,
                    self.retry_after_secs()
                ),
            ),
            NoTurn::Closed => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the controller is stopping: ask another".to_string(),
            ),
        };
        let mut response = ApiError::new(status, code, message).into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, self.retry_after_secs().into());
        response
    }

    /// What `Retry-After` says: about the time the queue takes to drain.
    fn retry_after_secs(&self) -> u64 {
        self.limits.queue_wait.as_secs().clamp(1, 60)
    }
}

/// Leaves the queue when dropped (served, refused or gone).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Read and project the whole environment in one snapshot of the store.
pub fn build(
    store: &mut PgStore,
    environment: &str,
    policy: &EnvironmentPolicy,
) -> roster_core::Result<Cached> {
    let (answer, policy) = store.fleet_read(|tx| {
        let now = SystemClock.now();
        let epoch = tx.epoch()?.unwrap_or_default();
        let cursor = tx.change_head()?;
        let policy = tx
            .environment_settings(environment)?
            .unwrap_or_else(|| policy.clone());
        let users = tx.users(now)?;
        let mut hashes = tx.all_password_hashes()?;
        let mut keys = tx.all_keys()?;
        let projected: Vec<_> = users
            .iter()
            .map(|user| {
                let hash = hashes.remove(&user.uid);
                let keys = keys.remove(&user.uid).unwrap_or_default();
                project_user(user, environment, &policy, hash.as_deref(), &keys)
            })
            .collect();
        let retired_uids = tx.retired_uids()?;
        Ok((
            SnapshotAnswer {
                epoch,
                cursor,
                environment: policy.view(environment),
                users: projected,
                retired_uids,
            },
            policy,
        ))
    })?;
    let json = serde_json::to_vec(&answer)
        .map_err(|e| roster_core::Error::Store(format!("serializing a snapshot: {e}")))?;
    let gzip = gzip_member(&json)
        .map_err(|e| roster_core::Error::Store(format!("compressing a snapshot: {e}")))?;
    Ok(Cached {
        cursor: answer.cursor,
        epoch: answer.epoch,
        policy,
        built: Instant::now(),
        json: Bytes::from(json),
        gzip: Bytes::from(gzip),
    })
}

/// `bytes` as one gzip member.
fn gzip_member(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6 + 64),
        flate2::Compression::default(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Whether the request takes a gzip'd answer (`Accept-Encoding` names
/// gzip without `q=0`).
fn takes_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts
                .next()
                .is_some_and(|name| name.eq_ignore_ascii_case("gzip"))
                && !parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                })
        })
}

pub async fn snapshot(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
    let turn = match shared.snapshots.turn(&shared).await {
        Ok(turn) => turn,
        Err(why) => return Ok(shared.snapshots.retry_later(&shared, why)),
    };
    let cached = shared.snapshots.get(&shared, &host.environment).await?;
    shared
        .metrics
        .snapshots_served
        .fetch_add(1, Ordering::Relaxed);
    // The envelope around bytes serialized once for every host, sent
    // without copying them (a thousand hosts asking at once share one).
    let head = format!(
        "{{\"protocol\":{PROTOCOL_VERSION},\"time\":{},\"body\":",
        SystemClock.now()
    );
    let gzip = takes_gzip(&headers);
    let (head, body, tail) = if gzip {
        let member = |bytes: &[u8]| {
            gzip_member(bytes).map(Bytes::from).map_err(|e| {
                ApiError::from(roster_core::Error::Store(format!(
                    "compressing the answer: {e}"
                )))
            })
        };
        (member(head.as_bytes())?, &cached.gzip, member(b"}")?)
    } else {
        (Bytes::from(head), &cached.json, Bytes::from_static(b"}"))
    };
    let length = head.len() + body.len() + tail.len();
    let parts = slices(head, body, tail);
    let sending = Sending::start(
        parts,
        Turn {
            _turn: turn,
            _cached: Arc::clone(&cached),
        },
        shared.snapshots.limits.send_timeout,
        Arc::clone(&shared),
    );
    let mut response = Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, length)
        .header(axum::http::header::VARY, "accept-encoding");
    if gzip {
        response = response.header(axum::http::header::CONTENT_ENCODING, "gzip");
    }
    response
        .body(Body::from_stream(sending.into_stream()))
        .map_err(|e| {
            ApiError::from(roster_core::Error::Store(format!(
                "building the answer: {e}"
            )))
        })
}

/// The envelope's head, the shared answer cut in [`SLICE_BYTES`] slices
/// (each a view of the same bytes), the envelope's tail.
fn slices(head: Bytes, json: &Bytes, tail: Bytes) -> std::collections::VecDeque<Bytes> {
    let mut parts = std::collections::VecDeque::with_capacity(json.len() / SLICE_BYTES + 3);
    parts.push_back(head);
    let mut start = 0;
    while start < json.len() {
        let end = (start + SLICE_BYTES).min(json.len());
        parts.push_back(json.slice(start..end));
        start = end;
    }
    parts.push_back(tail);
    parts
}

/// What an answer holds while it is sent: its turn and the snapshot.
struct Turn {
    _turn: OwnedSemaphorePermit,
    _cached: Arc<Cached>,
}

enum Progress {
    Sending {
        parts: std::collections::VecDeque<Bytes>,
        _turn: Turn,
    },
    Done,
    TimedOut,
}

/// One answer being sent. It holds its turn (and the snapshot it sends)
/// until its last slice is taken, the host goes away (the body dropped),
/// or the send timeout: then a timer takes both back even if hyper is
/// stuck writing to a host that stopped reading, and the next poll fails
/// (hyper closes the connection).
struct Sending {
    progress: Arc<Mutex<Progress>>,
}

impl Sending {
    fn start(
        parts: std::collections::VecDeque<Bytes>,
        turn: Turn,
        timeout: Duration,
        shared: Arc<Shared>,
    ) -> Sending {
        let progress = Arc::new(Mutex::new(Progress::Sending { parts, _turn: turn }));
        let watched = Arc::downgrade(&progress);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(progress) = watched.upgrade() else {
                return;
            };
            let mut progress = progress.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*progress, Progress::Sending { .. }) {
                *progress = Progress::TimedOut;
                shared
                    .metrics
                    .snapshot_send_timeouts
                    .fetch_add(1, Ordering::Relaxed);
            }
        });
        Sending { progress }
    }

    fn next(&self) -> Option<Result<Bytes, std::io::Error>> {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *progress {
            Progress::Sending { parts, .. } => {
                let part = parts.pop_front();
                if parts.is_empty() {
                    // The last slice given: the turn goes back now.
                    *progress = Progress::Done;
                }
                part.map(Ok)
            }
            Progress::Done => None,
            Progress::TimedOut => {
                *progress = Progress::Done;
                Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the snapshot took longer than snapshot_send_timeout to send",
                )))
            }
        }
    }

    fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures_util::stream::unfold(self, |sending| async move {
            let next = sending.next()?;
            Some((next, sending))
        })
    }
}
