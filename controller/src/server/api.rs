//! The hosts' API (`/v1/…`, JSON over HTTPS with mutual TLS): the
//! router, the version check every request passes, the envelope every
//! answer carries, and the one mapping from failures to HTTP.

pub mod enroll;
pub mod ops;
pub mod report;
pub mod secrets;
pub mod snapshot;
pub mod standalone;
pub mod sync;

use super::Shared;
use super::hosts::HostInfo;
use crate::tls::PeerHost;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_core::clock::{Clock, SystemClock};
use roster_fleet_protocol::{
    Answer, ErrorAnswer, ErrorCode, MAX_BODY_BYTES, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The response header with the controller's clock (seconds since the
/// epoch), on every answer, errors included.
pub const TIME_HEADER: &str = "roster-time";

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/hello", get(sync::hello))
        .route("/v1/sync", get(sync::sync))
        .route("/v1/snapshot", get(snapshot::snapshot))
        .route("/v1/ops", post(ops::ops))
        .route("/v1/report", post(report::report))
        .route("/v1/renew", post(report::renew))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            throttled,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            versioned,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint in /v1",
    )
}

/// A failure as the host reads it: status, code and a sentence.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorAnswer {
                code: self.code,
                message: self.message,
            }),
        )
            .into_response()
    }
}

impl From<roster_core::Error> for ApiError {
    fn from(error: roster_core::Error) -> ApiError {
        use roster_core::Error as E;
        let (status, code) = match &error {
            E::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            E::PermissionDenied(_) | E::AuthFailed(_) | E::TokenRevoked(_) | E::TokenExpired(_) => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden)
            }
            E::InvalidArgument(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            E::AlreadyExists(_) | E::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            E::Locked { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests),
            // The store failing over: the host sends the same request
            // (its request id makes that safe) until it is back.
            E::Store(_) if roster_store_postgres::failing_over(&error) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::FailingOver)
            }
            E::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// A success in the envelope: protocol version, the controller's time,
/// the body.
pub fn answer<T: Serialize>(body: T) -> Response {
    Json(Answer {
        protocol: PROTOCOL_VERSION,
        time: SystemClock.now(),
        body,
    })
    .into_response()
}

/// The version the request says it speaks (checked by [`versioned`]).
pub fn protocol_of(headers: &HeaderMap) -> Option<u32> {
    headers
        .get(PROTOCOL_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Every request names a protocol version this controller serves (its
/// own or the one before); every answer, errors included, carries the
/// controller's version and time, and a refusal is counted.
async fn versioned(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let mut response = match protocol_of(request.headers()) {
        Some(version) if roster_fleet_protocol::serves(version) => next.run(request).await,
        Some(version) if version > PROTOCOL_VERSION => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ProtocolUnsupported,
            format!(
                "this host speaks protocol {version}, newer than this controller's {PROTOCOL_VERSION}: upgrade the controllers first"
            ),
        )
        .into_response(),
        Some(version) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ProtocolUnsupported,
            format!(
                "this host speaks protocol {version}; this controller serves {} and {PROTOCOL_VERSION}: upgrade rosterd on the host",
                roster_fleet_protocol::OLDEST_SERVED
            ),
        )
        .into_response(),
        None => ApiError::bad_request(format!(
            "the request has no {PROTOCOL_HEADER} header naming its protocol version"
        ))
        .into_response(),
    };
    if response.status().is_client_error() {
        shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
    }
    let headers = response.headers_mut();
    headers.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    headers.insert(TIME_HEADER, HeaderValue::from(SystemClock.now()));
    response
}

/// Each host's requests through its own token bucket (`host_rate`,
/// `host_burst`): a host over it gets 429 with `Retry-After` and the
/// others are served as before. A long poll over it is first slowed
/// down (it waits for the token it will earn, up to [`SYNC_PACE_MAX`]:
/// its answer then carries more changes) and refused only past that.
/// Keyed by the host id of the verified client certificate, before any
/// store read; requests without one (enrollment) are bounded by the
/// accept limiter and the join tokens.
async fn throttled(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(host) = request
        .extensions()
        .get::<PeerHost>()
        .and_then(|peer| peer.0.as_ref())
        .map(|identity| identity.id)
    else {
        return next.run(request).await;
    };
    let admitted = if request.uri().path() == "/v1/sync" {
        match shared.host_limiter.acquire_paced(host, SYNC_PACE_MAX) {
            Some(wait) if !wait.is_zero() => {
                shared.metrics.host_paced.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                true
            }
            Some(_) => true,
            None => false,
        }
    } else {
        shared.host_limiter.try_acquire(host)
    };
    if admitted {
        return next.run(request).await;
    }
    shared
        .metrics
        .host_throttled
        .fetch_add(1, Ordering::Relaxed);
    let wait = shared.host_limiter.retry_after_secs();
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyRequests,
        format!(
            "this host sent more than {} requests in a burst ({} a second): retry after {wait} s",
            shared.config.limits.host_burst, shared.config.limits.host_rate
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// The longest a long poll over its host's rate is held back before it
/// is refused instead.
pub const SYNC_PACE_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// A JSON body read strictly: over the size limit → 413, not JSON, a
/// wrong type or an unknown field → 400 naming it, never a default.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Said too large up front: no need to read it to refuse it.
        let announced = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        if announced.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request(format!("the body can't be read: {rejection}"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the body is not the JSON expected: {e}")))
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::TooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// The host the client certificate names, as its row says now: no
/// certificate → 401; an id with no row → 401; revoked → 403 `revoked`.
pub async fn authenticated(shared: &Shared, peer: Option<&PeerHost>) -> Result<HostInfo, ApiError> {
    authenticated_as(shared, peer, false).await
}

/// [`authenticated`], also taking the certificate the last renewal
/// replaced when `renewing` (a host that lost the renewal's answer).
pub async fn authenticated_as(
    shared: &Shared,
    peer: Option<&PeerHost>,
    renewing: bool,
) -> Result<HostInfo, ApiError> {
    let Some(identity) = peer.and_then(|peer| peer.0.as_ref()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "this endpoint needs the host's client certificate: enroll first (`roster hosts join`)",
        ));
    };
    // The handshake checked expiry, but a kept-alive connection can
    // outlive its certificate: checked again on every request.
    if identity.not_after <= std::time::SystemTime::now() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "the host's certificate has expired: enroll again (`roster hosts join`)",
        ));
    }
    let host = shared
        .hosts
        .resolve(&shared.store, identity.id, &identity.serial)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "the certificate names a host this store doesn't know (another fleet, or a restored store): enroll again",
            )
        })?;
    if host.revoked {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Revoked,
            format!(
                "the host {:?} was revoked: wipe cached credentials",
                host.name
            ),
        ));
    }
    let current = host.cert_serial == identity.serial;
    let replaced =
        renewing && !host.prev_cert_serial.is_empty() && host.prev_cert_serial == identity.serial;
    if !current && !replaced {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "this certificate was replaced (renewed, or the store restored): use the current one or enroll again",
        ));
    }
    Ok(host)
}
