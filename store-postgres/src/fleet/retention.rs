//! Dropping what is older than `report_retention`: audit entries, hosts'
//! reports and request ids (a retry comes within a minute; a request id
//! kept as long as the audit costs nothing and answers late repeats).
//! The change log is pruned apart ([`PgTx::prune_changes`]): its rows go
//! by sequence, below what every controller's window has passed, not by
//! `report_retention`.

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

/// The application name a controller's feed connection carries, followed
/// by its window's floor: the seq at or below which that replica needs no
/// change-log row any more (its window holds everything above it; a
/// cursor below it gets a snapshot). Published on the session, not in a
/// table: a replica that stops or loses the store drops out by itself,
/// and a replica starting reads from its own floor on (rows pruned below
/// it only move that floor up: its hosts further behind get a snapshot,
/// never a silent hole).
pub const FEED_APPLICATION_PREFIX: &str = "roster-feed floor=";

/// The advisory lock one pruning pass holds (beside the write lock every
/// write transaction takes, which it doesn't replace): with several
/// replicas, one prunes at a time and the others pass at once instead
/// of queueing for the same rows.
const PRUNE_LOCK: i64 = 0x726f_7374_6572_0002;

impl PgTx<'_> {
    /// Says on this session (beyond this transaction) that its feed's
    /// window floor is `floor`.
    pub fn publish_feed_floor(&self, floor: i64) -> Result<()> {
        self.query_one(
            "SELECT set_config('application_name', $1, false)",
            &[&format!("{FEED_APPLICATION_PREFIX}{floor}")],
        )?;
        Ok(())
    }

    /// The lowest floor a feed connected to this database now publishes
    /// ([`PgTx::publish_feed_floor`]); `None` when none does.
    pub fn lowest_feed_floor(&self) -> Result<Option<i64>> {
        let row = self.query_one(
            "SELECT min(substr(application_name, length($1::text) + 1)::BIGINT) \
             FROM pg_stat_activity \
             WHERE datname = current_database() \
               AND application_name ~ ('^' || $1::text || '[0-9]{1,18}$')",
            &[&FEED_APPLICATION_PREFIX],
        )?;
        crate::tx::get(&row, 0)
    }

    /// Deletes the oldest change-log rows, at most `limit` of them: those
    /// at or below `floor` that came before `before`, as a prefix (up to
    /// the first row at or after `before`, so the log keeps no hole).
    /// How many went; `None` when another transaction is pruning now (it
    /// holds the lock; this one leaves it be). A bounded pass keeps the
    /// write lock the caller's transaction holds short: call again while
    /// a pass removes `limit` rows.
    pub fn prune_changes(&self, floor: i64, before: Timestamp, limit: u32) -> Result<Option<u64>> {
        let locked: bool = crate::tx::get(
            &self.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])?,
            0,
        )?;
        if !locked {
            return Ok(None);
        }
        let Some(oldest) = self.oldest_change()? else {
            return Ok(Some(0));
        };
        let cap = floor.min(oldest.saturating_add(i64::from(limit)) - 1);
        // Within the capped range only (the primary key's order), never a
        // scan of the whole log.
        let first_recent: Option<i64> = crate::tx::get(
            &self.query_one(
                "SELECT min(seq) FROM change_log WHERE seq <= $1 AND at >= $2",
                &[&cap, &before],
            )?,
            0,
        )?;
        let up_to = first_recent.map_or(cap, |seq| cap.min(seq - 1));
        Ok(Some(self.execute(
            "DELETE FROM change_log WHERE seq <= $1",
            &[&up_to],
        )?))
    }

    /// The oldest change-log row kept (`None` when the log is empty).
    pub fn oldest_change(&self) -> Result<Option<i64>> {
        crate::tx::get(&self.query_one("SELECT min(seq) FROM change_log", &[])?, 0)
    }
}
