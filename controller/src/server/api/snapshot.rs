//! `GET /v1/snapshot`: the host's environment's full state, for a cursor
//! older than the window or a new epoch. Built once per environment and
//! cached (every host of an environment gets the same bytes); builds
//! queue behind a limiter so a thousand hosts asking at once are served
//! in turn with bounded memory, and the ones that waited find the cache
//! filled.

use super::{ApiError, authenticated};
use crate::server::Shared;
use crate::tls::PeerHost;
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use roster_core::clock::{Clock, SystemClock};
use roster_core::fleet::{EnvironmentPolicy, project_user};
use roster_core::store::Transaction;
use roster_fleet_protocol::{PROTOCOL_VERSION, SnapshotAnswer};
use roster_store_postgres::PgStore;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A cached snapshot older than this is rebuilt (hosts then catch up
/// less from the window).
const FRESH_FOR: Duration = Duration::from_secs(60);

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
}

#[derive(Debug)]
pub struct SnapshotCache {
    cached: Mutex<HashMap<String, Arc<Cached>>>,
    /// One build per environment at a time; the others wait for it.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    limiter: Semaphore,
}

impl SnapshotCache {
    pub fn new(at_once: usize) -> SnapshotCache {
        SnapshotCache {
            cached: Mutex::default(),
            building: Mutex::default(),
            limiter: Semaphore::new(at_once.max(1)),
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

    /// The environment's snapshot: cached, or built now (in turn).
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
        let _slot = match self.limiter.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                shared
                    .metrics
                    .snapshot_queued
                    .fetch_add(1, Ordering::Relaxed);
                self.limiter.acquire().await.map_err(|_| {
                    ApiError::from(roster_core::Error::Store(
                        "the controller is stopping".into(),
                    ))
                })?
            }
        };
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
    Ok(Cached {
        cursor: answer.cursor,
        epoch: answer.epoch,
        policy,
        built: Instant::now(),
        json: Bytes::from(json),
    })
}

pub async fn snapshot(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
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
    let parts = [
        Bytes::from(head),
        cached.json.clone(),
        Bytes::from_static(b"}"),
    ];
    let body = Body::from_stream(futures_util::stream::iter(
        parts.map(Ok::<Bytes, std::convert::Infallible>),
    ));
    Response::builder()
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| {
            ApiError::from(roster_core::Error::Store(format!(
                "building the answer: {e}"
            )))
        })
}
