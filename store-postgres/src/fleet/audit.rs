//! Who changed what: one row per change made at the controller, with the
//! person, the host it came through and the request id. `restore`
//! prints the rows since the backup's time so they can be re-applied.

use crate::PgTx;
use crate::tx::{Result, get};
use roster_core::clock::Timestamp;

/// One audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub at: Timestamp,
    /// Who acted (a Roster name, or `root` on the controller machine).
    pub person: String,
    /// The host the request came through; '' = the controller machine.
    pub host: String,
    pub request_id: Option<String>,
    /// What was done (e.g. `users.suspend`).
    pub action: String,
    /// To what (a user, an environment, a host).
    pub target: String,
    /// The rest, readable (never a secret).
    pub detail: String,
}

impl PgTx<'_> {
    pub fn append_audit(&self, entry: &AuditRow) -> Result<()> {
        self.execute(
            "INSERT INTO audit (at, person, host, request_id, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &entry.at,
                &entry.person,
                &entry.host,
                &entry.request_id,
                &entry.action,
                &entry.target,
                &entry.detail,
            ],
        )?;
        Ok(())
    }

    /// Every entry at or after `since`, oldest first (ties in the order
    /// they were appended).
    pub fn audit_since(&self, since: Timestamp) -> Result<Vec<AuditRow>> {
        self.query(
            "SELECT at, person, host, request_id, action, target, detail FROM audit \
             WHERE at >= $1 ORDER BY at, id",
            &[&since],
        )?
        .iter()
        .map(|row| {
            Ok(AuditRow {
                at: get(row, 0)?,
                person: get(row, 1)?,
                host: get(row, 2)?,
                request_id: get(row, 3)?,
                action: get(row, 4)?,
                target: get(row, 5)?,
                detail: get(row, 6)?,
            })
        })
        .collect()
    }
}
