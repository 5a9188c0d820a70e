//! `GET /v1/sync?after=SEQ&epoch=E`: the long poll. Answered from the
//! replica's window in memory (no query per host): the changes after the
//! cursor as this host receives them, at once when there are any, else
//! when one commits, else empty after the long-poll time (the heartbeat).

use super::{ApiError, answer, authenticated, protocol_of};
use crate::server::Shared;
use crate::server::hosts::Activity;
use crate::server::window::{Collected, Reader};
use crate::tls::PeerHost;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::clock::{Clock, SystemClock};
use roster_fleet_protocol::{ErrorCode, HelloAnswer, SyncAnswer};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::time::Instant;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    pub after: i64,
    pub epoch: String,
}

pub async fn sync(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
    headers: HeaderMap,
    query: Result<Query<SyncQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("the query must be ?after=SEQ&epoch=EPOCH: {e}"))
    })?;
    let protocol = protocol_of(&headers).unwrap_or(0);
    let _waiting = Waiting::new(&shared);
    let deadline = Instant::now() + shared.config.limits.long_poll;
    let mut head = shared.feed.subscribe();
    let mut cursor = query.after;
    let changes = loop {
        head.borrow_and_update();
        if query.epoch != shared.feed.epoch() {
            return Err(ApiError::new(
                StatusCode::GONE,
                ErrorCode::EpochChanged,
                "the store's epoch changed (a restore): drop the cursor and fetch /v1/snapshot",
            ));
        }
        let policy = shared.feed.policy(&host.environment);
        let collected = shared.feed.window().collect(
            cursor,
            Reader {
                host_id: host.id,
                environment: &host.environment,
                policy: &policy,
            },
        );
        // A restore between the epoch's check and the window's read: the
        // window may be the new epoch's already.
        if query.epoch != shared.feed.epoch() {
            continue;
        }
        match collected {
            Collected::TooOld => {
                shared.metrics.sync_too_old.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::new(
                    StatusCode::GONE,
                    ErrorCode::CursorTooOld,
                    "the cursor is older than this controller's window: fetch /v1/snapshot",
                ));
            }
            Collected::Changes {
                cursor: next,
                changes,
            } => {
                cursor = next;
                if !changes.is_empty() {
                    break changes;
                }
            }
        }
        match tokio::time::timeout_at(deadline, head.changed()).await {
            Ok(Ok(())) => continue,
            // The long-poll time is up, or the feed ended: the heartbeat.
            Ok(Err(_)) | Err(_) => break Vec::new(),
        }
    };
    shared.hosts.seen(
        host.id,
        Activity {
            at: SystemClock.now(),
            cursor: query.after,
            protocol,
        },
    );
    shared.metrics.sync_answers.fetch_add(1, Ordering::Relaxed);
    Ok(answer(SyncAnswer {
        epoch: query.epoch,
        cursor,
        changes,
    }))
}

pub async fn hello(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
    Ok(answer(HelloAnswer {
        hostname: host.name,
        environment: host.environment,
        epoch: shared.feed.epoch(),
        head: shared.feed.known_head(),
    }))
}

/// Counts a long poll as waiting while it lives.
struct Waiting<'a>(&'a Shared);

impl<'a> Waiting<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.metrics.long_polls.fetch_add(1, Ordering::Relaxed);
        Waiting(shared)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.metrics.long_polls.fetch_sub(1, Ordering::Relaxed);
    }
}
