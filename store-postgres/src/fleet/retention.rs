//! Dropping what is older than `report_retention`: audit entries, hosts'
//! reports and request ids (a retry comes within a minute; a request id
//! kept as long as the audit costs nothing and answers late repeats).
//! The change log is not purged here: hosts behind the controllers'
//! window resync from a snapshot anyway.

use crate::PgTx;
use crate::tx::Result;
use roster_core::clock::Timestamp;

/// How many rows [`PgTx::purge_before`] removed from each table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub audit: u64,
    pub reports: u64,
    pub requests: u64,
}

impl PgTx<'_> {
    /// Remove audit entries, reports and request ids from before `cutoff`
    /// (strictly older; a row at `cutoff` stays).
    pub fn purge_before(&self, cutoff: Timestamp) -> Result<PurgeCounts> {
        Ok(PurgeCounts {
            audit: self.execute("DELETE FROM audit WHERE at < $1", &[&cutoff])?,
            reports: self.execute("DELETE FROM host_reports WHERE at < $1", &[&cutoff])?,
            requests: self.execute("DELETE FROM request_ids WHERE at < $1", &[&cutoff])?,
        })
    }
}
