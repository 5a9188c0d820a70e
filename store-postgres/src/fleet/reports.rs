//! What hosts report about themselves (`POST /v1/report`: sessions,
//! login results, audit lines), kept `report_retention`.

use crate::PgTx;
use crate::tx::{Result, get};
use roster_core::clock::Timestamp;

/// One stored report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub host_id: i64,
    pub at: Timestamp,
    /// What it is about (e.g. `session`, `login`, `audit`).
    pub kind: String,
    /// As the host sent it (the controller checked and shaped it).
    pub body: String,
}

impl PgTx<'_> {
    /// Store a report from the host `host_id` (a missing host is an
    /// [`Error::Store`](roster_core::error::Error::Store)).
    pub fn insert_report(&self, host_id: i64, at: Timestamp, kind: &str, body: &str) -> Result<()> {
        self.execute(
            "INSERT INTO host_reports (host_id, at, kind, body) VALUES ($1, $2, $3, $4)",
            &[&host_id, &at, &kind, &body],
        )?;
        Ok(())
    }

    /// The reports of one host (or of all) at or after `since`, oldest
    /// first.
    pub fn reports(&self, host_id: Option<i64>, since: Timestamp) -> Result<Vec<ReportRow>> {
        self.query(
            "SELECT host_id, at, kind, body FROM host_reports \
             WHERE ($1::BIGINT IS NULL OR host_id = $1) AND at >= $2 ORDER BY at, id",
            &[&host_id, &since],
        )?
        .iter()
        .map(|row| {
            Ok(ReportRow {
                host_id: get(row, 0)?,
                at: get(row, 1)?,
                kind: get(row, 2)?,
                body: get(row, 3)?,
            })
        })
        .collect()
    }
}

/// The latest report of one kind from a live host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestReport {
    pub host: String,
    pub environment: String,
    pub at: Timestamp,
    pub body: String,
}

impl PgTx<'_> {
    /// Each live (not revoked) host's latest report of `kind` (a host
    /// that sends its whole state under one kind: the latest stands).
    pub fn latest_reports(&self, kind: &str) -> Result<Vec<LatestReport>> {
        self.query(
            "SELECT DISTINCT ON (r.host_id) h.name, h.environment, r.at, r.body \
             FROM host_reports r JOIN hosts h ON h.id = r.host_id \
             WHERE r.kind = $1 AND h.revoked IS NULL \
             ORDER BY r.host_id, r.at DESC, r.id DESC",
            &[&kind],
        )?
        .iter()
        .map(|row| {
            Ok(LatestReport {
                host: get(row, 0)?,
                environment: get(row, 1)?,
                at: get(row, 2)?,
                body: get(row, 3)?,
            })
        })
        .collect()
    }
}
