//! `POST /v1/report` and `POST /v1/renew`: what a host may do with its
//! certificate alone, both about itself only.

use super::{ApiError, JsonBody, answer, authenticated, authenticated_as};
use crate::pki::HostSubject;
use crate::server::Shared;
use crate::tls::PeerHost;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::clock::{Clock, SystemClock};
use roster_core::error::Error;
use roster_fleet_protocol::report::{MAX_ENTRY_BYTES, MAX_REPORT_ENTRIES};
use roster_fleet_protocol::{ErrorCode, RenewAnswer, RenewRequest, ReportAnswer, ReportRequest};
use roster_store_postgres::fleet::AuditRow;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

pub async fn report(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
    JsonBody(report): JsonBody<ReportRequest>,
) -> Result<Response, ApiError> {
    let host = authenticated(&shared, peer.as_deref()).await?;
    if report.host != host.name {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "this certificate is {:?}'s: a host reports about itself only, not {:?}",
                host.name, report.host
            ),
        ));
    }
    if report.entries.len() > MAX_REPORT_ENTRIES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("at most {MAX_REPORT_ENTRIES} entries a report: send the rest in another"),
        ));
    }
    if let Some(long) = report
        .entries
        .iter()
        .find(|e| e.text.len() > MAX_ENTRY_BYTES)
    {
        return Err(ApiError::bad_request(format!(
            "an entry of {} bytes: at most {MAX_ENTRY_BYTES}",
            long.text.len()
        )));
    }
    let kept = report.entries.len();
    let id = host.id;
    shared
        .store
        .run(move |s| {
            s.fleet_write(|tx| {
                for entry in &report.entries {
                    tx.insert_report(id, entry.at, entry.kind.as_str(), &entry.text)?;
                }
                Ok(())
            })
        })
        .await?;
    shared
        .metrics
        .reports
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(answer(ReportAnswer { kept }))
}

pub async fn renew(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<PeerHost>>,
    JsonBody(request): JsonBody<RenewRequest>,
) -> Result<Response, ApiError> {
    let host = authenticated_as(&shared, peer.as_deref(), true).await?;
    let signer = Arc::clone(&shared.ca);
    let subject = HostSubject {
        id: host.id,
        name: host.name.clone(),
        environment: host.environment.clone(),
    };
    let (renewed, renewed_serial) = shared
        .store
        .run(move |s| {
            s.fleet_write(|tx| {
                let now = SystemClock.now();
                let issued = signer
                    .signing
                    .sign_host_csr(
                        &request.csr_pem,
                        &subject,
                        UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)),
                    )
                    .map_err(|e| Error::InvalidArgument(format!("the certificate request: {e}")))?;
                let not_after = issued
                    .not_after
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                tx.set_host_certificate(
                    subject.id,
                    &issued.public_key_der,
                    &issued.serial,
                    not_after,
                )?;
                tx.append_audit(&AuditRow {
                    at: now,
                    person: format!("host:{}", subject.name),
                    host: subject.name.clone(),
                    request_id: None,
                    action: "hosts renew".into(),
                    target: subject.name.clone(),
                    detail: format!("serial={}", issued.serial),
                })?;
                Ok((
                    RenewAnswer {
                        certificate_pem: issued.cert_pem,
                        ca_bundle_pem: signer.bundle_pem(),
                        not_after,
                    },
                    issued.serial,
                ))
            })
        })
        .await?;
    // This replica takes the new certificate at once; the others read
    // the row again when it first reaches them.
    shared.hosts.remember(crate::server::hosts::HostInfo {
        prev_cert_serial: host.cert_serial.clone(),
        cert_serial: renewed_serial,
        ..host
    });
    shared
        .metrics
        .renewals
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(answer(renewed))
}
