//! `POST /v1/enroll`: a host presents a join token, its name, a CSR and
//! its local ids, and gets its certificate. The one endpoint that needs
//! no client certificate.
//!
//! Only the CSR's public key is used: the certificate's name,
//! environment and id come from the host's row (the name from the
//! request, checked and unique; the environment from the token). The
//! token is burnt in the transaction that adds the host, so two hosts
//! racing on one token can't both join, and a refused request (a bad
//! CSR, a name taken) leaves the token usable. A host with users of its
//! own adopts or discards them in that same transaction ([`standalone`]).

use super::{ApiError, JsonBody, answer, protocol_of, standalone};
use crate::pki::HostSubject;
use crate::server::Shared;
use crate::server::hosts::HostInfo;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::clock::{Clock, SystemClock};
use roster_core::error::Error;
use roster_core::{Secret, credential};
use roster_fleet_protocol::{
    EnrollAnswer, EnrollRequest, ErrorCode, FleetSettings, IdKind, MAX_REPORTED_IDS, RangeKind,
};
use roster_store_postgres::fleet::{
    AuditRow, HostRange, IdKind as StoredIdKind, NewHost, RangeKind as StoredRangeKind, ReportedId,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

pub async fn enroll(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<EnrollRequest>,
) -> Result<Response, ApiError> {
    let outcome = admit(&shared, &headers, request).await;
    let counter = match outcome {
        Ok(_) => &shared.metrics.enroll_ok,
        Err(_) => &shared.metrics.enroll_refused,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    outcome.map(answer)
}

async fn admit(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    request: EnrollRequest,
) -> Result<EnrollAnswer, ApiError> {
    let protocol = protocol_of(headers).unwrap_or(0);
    hostname(&request.hostname)?;
    if request.local.entries() > MAX_REPORTED_IDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!(
                "the host reported {} local ids and ranges; at most {MAX_REPORTED_IDS} are taken",
                request.local.entries()
            ),
        ));
    }
    if let Some(standalone) = &request.standalone {
        standalone::check_size(standalone)?;
    }
    let Some((token_id, secret)) = credential::parse(&Secret::new(request.join_token.clone()))
    else {
        return Err(not_a_token());
    };
    let reported: Vec<ReportedId> = request
        .local
        .used
        .iter()
        .map(|used| ReportedId {
            kind: match used.kind {
                IdKind::User => StoredIdKind::User,
                IdKind::Group => StoredIdKind::Group,
            },
            name: used.name.clone(),
            id: used.id,
        })
        .collect();
    let ranges: Vec<HostRange> = request
        .local
        .ranges
        .iter()
        .map(|range| HostRange {
            kind: match range.kind {
                RangeKind::Uid => StoredRangeKind::Uid,
                RangeKind::Gid => StoredRangeKind::Gid,
                RangeKind::Subuid => StoredRangeKind::Subuid,
                RangeKind::Subgid => StoredRangeKind::Subgid,
                RangeKind::LoginDefsUid => StoredRangeKind::LoginDefsUid,
                RangeKind::LoginDefsGid => StoredRangeKind::LoginDefsGid,
                RangeKind::LoginDefsSysUid => StoredRangeKind::LoginDefsSysUid,
                RangeKind::LoginDefsSysGid => StoredRangeKind::LoginDefsSysGid,
            },
            first: u64::from(range.first),
            count: u64::from(range.count),
        })
        .collect();
    // The token checked first in a read, taking no lock: a stranger
    // without one can't queue the store's writers behind it. The write
    // below checks again (the token may be burnt meanwhile).
    {
        let (id, secret) = (token_id.clone(), secret.clone());
        let token = shared
            .store
            .run(move |s| s.fleet_read(|tx| tx.join_token(&id)))
            .await?
            .filter(|token| credential::matches(&secret, &token.hash))
            .ok_or_else(not_a_token)?;
        if token.used.is_some() {
            return Err(ApiError::from(Error::Conflict(USED.into())));
        }
        if token.expires <= SystemClock.now() {
            return Err(ApiError::from(Error::PermissionDenied(EXPIRED.into())));
        }
    }
    // Checked once the token is: a stranger learns nothing of the fleet.
    let rules = &shared.config;
    if let Some(range) =
        roster_core::fleet::overlapping_range(rules.uid_min, rules.uid_max, &request.local.ranges)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "the host's {:?} range {}+{} overlaps the fleet's uids {}–{}: move one of them before joining",
                range.kind, range.first, range.count, rules.uid_min, rules.uid_max
            ),
        ));
    }
    let store = Arc::clone(&shared.store);
    let signer = Arc::clone(&shared.ca);
    let controllers = shared.config.listen.public_urls.clone();
    let name = request.hostname.clone();
    let csr = request.csr_pem;
    let own_users = request.standalone;
    let (uid_min, uid_max) = (rules.uid_min, rules.uid_max);
    let fleet = FleetSettings {
        uid_min,
        uid_max,
        admin_group: rules.admin_group.clone(),
        admin_gid: rules.admin_gid,
    };
    let (answer, info) = store
        .run(move |s| {
            s.fleet_write(|tx| {
                use roster_core::store::Transaction;
                let now = SystemClock.now();
                let token = tx
                    .join_token(&token_id)?
                    .filter(|token| credential::matches(&secret, &token.hash))
                    .ok_or_else(|| Error::PermissionDenied(not_a_token().message))?;
                if token.used.is_some() {
                    return Err(Error::Conflict(USED.into()));
                }
                if token.expires <= now {
                    return Err(Error::PermissionDenied(EXPIRED.into()));
                }
                // A revoked host's name may enroll again (the machine
                // reinstalled): the old row stays, revoked, so the old
                // machine is still told so at its next request.
                if let Some(live) = tx.host_by_name(&name)?
                    && live.revoked.is_none()
                {
                    return Err(Error::Conflict(format!(
                        "a host named {name:?} is enrolled already: revoke it first (`roster-controller hosts revoke {name}`) or pick another name"
                    )));
                }
                if tx.environment(&token.environment)?.is_none() {
                    return Err(Error::NotFound(format!(
                        "the token's environment {:?} was removed",
                        token.environment
                    )));
                }
                let epoch = tx.epoch()?.ok_or_else(|| {
                    Error::Store("the store has no epoch: run `roster-controller init`".into())
                })?;
                // Before the host's own row: its users are checked against
                // the ids other hosts reported, never its own.
                let standalone = match &own_users {
                    Some(own) => standalone::take(
                        tx,
                        own,
                        &standalone::Joining {
                            host: &name,
                            environment: &token.environment,
                            person: &format!("join-token:{}", token.public_id),
                            uid_min,
                            uid_max,
                            now,
                        },
                    )?,
                    None => Vec::new(),
                };
                let host = tx.insert_host(&NewHost {
                    name: name.clone(),
                    environment: token.environment.clone(),
                    public_key: Vec::new(),
                    cert_serial: String::new(),
                    cert_expires: now,
                    enrolled: now,
                    protocol,
                    reported_ids: reported,
                    ranges,
                })?;
                let issued = signer
                    .signing
                    .sign_host_csr(
                        &csr,
                        &HostSubject {
                            id: host.id,
                            name: name.clone(),
                            environment: token.environment.clone(),
                        },
                        UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)),
                    )
                    .map_err(|e| Error::InvalidArgument(format!("the certificate request: {e}")))?;
                let expires = issued
                    .not_after
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                tx.set_host_certificate(host.id, &issued.public_key_der, &issued.serial, expires)?;
                if !tx.burn_join_token(&token.public_id, host.id, now)? {
                    return Err(Error::Conflict(USED.into()));
                }
                tx.append_audit(&AuditRow {
                    at: now,
                    person: format!("join-token:{}", token.public_id),
                    host: name.clone(),
                    request_id: None,
                    action: "hosts join".into(),
                    target: name.clone(),
                    detail: format!("environment={}", token.environment),
                })?;
                Ok((
                    EnrollAnswer {
                        host_id: host.id,
                        hostname: name.clone(),
                        environment: token.environment.clone(),
                        certificate_pem: issued.cert_pem,
                        ca_bundle_pem: signer.bundle_pem(),
                        controllers: controllers.clone(),
                        epoch,
                        cursor: 0,
                        standalone,
                        fleet: Some(fleet.clone()),
                    },
                    HostInfo {
                        id: host.id,
                        name: name.clone(),
                        environment: token.environment,
                        revoked: false,
                        cert_serial: issued.serial.clone(),
                        prev_cert_serial: String::new(),
                    },
                ))
            })
        })
        .await?;
    shared.hosts.remember(info);
    Ok(answer)
}

const USED: &str =
    "this join token was used already: make another (`roster-controller token create`)";
const EXPIRED: &str =
    "this join token has expired: make another (`roster-controller token create`)";

fn not_a_token() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "the join token is not valid: check it was copied whole, or make another (`roster-controller token create`)",
    )
}

/// A host name: 1–253 bytes of lowercase letters, digits, `-` and `.`,
/// starting with a letter or digit (what `hostname` allows, lowercased:
/// two hosts never differ by case alone).
fn hostname(name: &str) -> Result<(), ApiError> {
    let fits = (1..=253).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if fits {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the host name {name:?} is not one: 1–253 lowercase letters, digits, '-' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names_are_lowercase_dns_labels() {
        for good in ["web-1", "db.prod.example", "0a"] {
            assert!(super::hostname(good).is_ok(), "{good}");
        }
        for bad in ["", "Web", "-x", "a b", "a/b", &"x".repeat(254)] {
            assert!(super::hostname(bad).is_err(), "{bad}");
        }
    }
}
